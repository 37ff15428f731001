"""Retries, in one place: :class:`RetryPolicy` wraps tenacity.

What is retried: connection failures and timeouts (:class:`TransportError`), statuses 408, 429,
500, 502, 503 and 504, and 2xx answers whose body cannot be decoded (:class:`DecodeError`).
Never: 400/401/403/404 (the request itself is wrong), or cancellation. The client retries only
GET requests and the token request, which are safe to repeat.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from ._exceptions import (
    APIError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    RateLimitError,
    TransportError,
)
from ._protocol import RETRYABLE_STATUSES

__all__ = ["RetryPolicy", "is_retryable", "never_reached_the_server"]

log = logging.getLogger("centrepoint_async")
T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """True if the request that raised ``exc`` may succeed unchanged on another try."""
    if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt: never
        return False
    if isinstance(exc, TransportError | DecodeError):
        return True
    return isinstance(exc, APIError) and exc.status in RETRYABLE_STATUSES


def never_reached_the_server(exc: BaseException) -> bool:
    """True if ``exc`` proves the request was not handled, so even a POST may be sent again.

    A failed connect never sent it; a 429 is refused before it is handled. Anything else (a
    timeout, a reset, a 5xx) may have come after the server acted on it.
    """
    return isinstance(exc, ConnectError | RateLimitError)


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, APIError):
        return f"status {exc.status}"
    return f"{type(exc).__name__}"


def _positive(name: str) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(_: object, __: attrs.Attribute[float], value: float) -> None:
        if not value > 0:
            raise ConfigurationError(f"RetryPolicy.{name} must be > 0, got {value!r}")

    return check


@attrs.frozen
class RetryPolicy:
    """How a failed request is tried again.

    Exponential backoff with full jitter (a random wait between 0 and
    ``min(max_backoff, initial_backoff * 2**n)``), at most ``max_attempts`` tries and
    ``max_delay`` seconds in all (a wait that would pass that budget is not started). A
    ``Retry-After`` the server sent replaces the backoff. ``sleep`` is injectable so tests run
    without waiting.
    """

    max_attempts: int = attrs.field(default=5)
    max_delay: float = attrs.field(default=120.0, validator=_positive("max_delay"))
    initial_backoff: float = attrs.field(default=0.5, validator=_positive("initial_backoff"))
    max_backoff: float = attrs.field(default=30.0, validator=_positive("max_backoff"))
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, eq=False, repr=False
    )
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(f"RetryPolicy.max_attempts must be >= 1, got {value!r}")

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            return exc.retry_after
        return self.backoff(state.attempt_number)

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        what: str,
        retry_if: Callable[[BaseException], bool] = is_retryable,
    ) -> T:
        """Await ``fn()`` until it succeeds, fails for good, or the budget is spent.

        ``retry_if`` says which errors are worth another try (:func:`is_retryable`, or
        :func:`never_reached_the_server` for a request that must not be repeated blindly).
        The error that ends the retries is raised with ``attempts`` set.
        """

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "retrying %s in %.2f s (attempt %d of %d): %s",
                what,
                wait,
                state.attempt_number + 1,
                self.max_attempts,
                _reason(exc),
            )

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_before_delay(self.max_delay),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc) and retry_if(exc)),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    return await fn()
        except (APIError, TransportError, DecodeError) as exc:
            exc.attempts = attempts
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
