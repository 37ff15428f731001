"""Policies for tests and demos against a fake: the same settings everywhere they are needed."""

from __future__ import annotations

from typing import Any

from .._retry import RetryPolicy

__all__ = ["fast_retry"]


def fast_retry(**kwargs: Any) -> RetryPolicy:
    """A :class:`RetryPolicy` with millisecond backoff, for a server on loopback.

    The fake's faults are instant, so real backoff would only slow tests down; ``kwargs``
    override any setting (``max_attempts=2``, ...).
    """
    kwargs.setdefault("initial_backoff", 0.001)
    kwargs.setdefault("max_backoff", 0.01)
    return RetryPolicy(**kwargs)
