"""Helpers for tests and demos against a fake: one retry policy, one loopback app runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from .._retry import RetryPolicy

__all__ = ["fast_retry", "serve_app"]


def fast_retry(**kwargs: Any) -> RetryPolicy:
    """A :class:`RetryPolicy` with millisecond backoff, for a server on loopback.

    The fake's faults are instant, so real backoff would only slow tests down; ``kwargs``
    override any setting (``max_attempts=2``, ...).
    """
    kwargs.setdefault("initial_backoff", 0.001)
    kwargs.setdefault("max_backoff", 0.01)
    return RetryPolicy(**kwargs)


@asynccontextmanager
async def serve_app(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run an aiohttp ``app`` on a free loopback port for the block; yields its base URL.

    For the receiving side of a loop with the fake (``fake.send_webhooks_to(url + path)``).
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, 0).start()
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
