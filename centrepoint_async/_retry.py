"""Retries, in one place: :class:`RetryPolicy` wraps tenacity.

What is retried: connection failures and timeouts (:class:`TransportError`), statuses 408, 429,
500, 502, 503 and 504, and 2xx answers whose body cannot be decoded (:class:`DecodeError`, but
not :class:`ResponseTooLargeError`: the same request gets the same answer). Never: 400/401/403/
404 (the request itself is wrong), or cancellation. A request that is not idempotent (a POST
that starts work) is retried only when it surely never reached the server.

There is one retry layer: the client's token request inside an API call is one step of that
call's attempt, not a loop of its own, so ``attempts`` on the final error is the number of
tries made.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import attrs
import tenacity

from ._exceptions import (
    APIError,
    ConnectError,
    DecodeError,
    RateLimitError,
    ResponseTooLargeError,
    TransportError,
)
from ._protocol import RETRYABLE_STATUSES, check_number

__all__ = [
    "RetryPolicy",
    "backoff",
    "is_retryable",
    "never_reached_the_server",
    "reason",
    "set_testing",
    "testing",
]

log = logging.getLogger("centrepoint_async")
T = TypeVar("T")

#: Called before each retry with (the attempt about to start, the wait before it, the error).
OnRetry = Callable[[int, float, BaseException], Awaitable[None]]


def is_retryable(exc: BaseException) -> bool:
    """True if the request that raised ``exc`` may succeed unchanged on another try."""
    if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt: never
        return False
    if isinstance(exc, ResponseTooLargeError):
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


def reason(exc: BaseException | None) -> str:
    """The cause of a failed attempt, for logs and hooks: ``status 503``, ``ConnectError: ...``."""
    if isinstance(exc, APIError):
        return f"status {exc.status}"
    return f"{type(exc).__name__}: {exc}"


class _Testing:
    """The switch of :func:`set_testing` (one flag, read by every wait that backs off)."""

    on = False


def set_testing(on: bool = True) -> None:
    """Turn every backoff of the SDK off (``on=True``) or back on, for a test run.

    As stamina's ``set_testing``: the client's retries, the receiver's handler retries,
    downloads and data retrieval polling then wait 0 seconds instead of backing off, and a
    ``Retry-After`` is not slept either. Retries still happen, as many as configured.
    """
    _Testing.on = bool(on)


def testing() -> bool:
    """True while :func:`set_testing` has turned backoff off."""
    return _Testing.on


class _Attempt:
    """The one field tenacity's wait functions read from a retry state."""

    __slots__ = ("attempt_number",)

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


def backoff(
    attempt: int, *, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): the one backoff of the SDK.

    Exponential with full jitter, as tenacity's ``wait_random_exponential``: a random wait
    between 0 and ``min(maximum, initial * 2**(attempt - 1))``, drawn from ``rng`` (default
    the ``random`` module) so a policy's waits are reproducible. 0 under :func:`set_testing`.
    """
    if _Testing.on:
        return 0.0
    ceiling = tenacity.wait_exponential(multiplier=initial, max=maximum)(
        cast(tenacity.RetryCallState, _Attempt(attempt))
    )
    return (rng or random).uniform(0, ceiling)


def _number(**bounds: Any) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """An attrs validator from :func:`check_number` (the one numeric checker)."""

    def validate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_number(value, f"RetryPolicy.{attribute.name}", **bounds)

    return validate


@attrs.frozen
class RetryPolicy:
    """How a failed request is tried again.

    Exponential backoff with full jitter (a random wait between 0 and
    ``min(max_backoff, initial_backoff * 2**n)``), at most ``max_attempts`` tries and
    ``max_delay`` seconds in all. A ``Retry-After`` the server sent (on any retryable status)
    replaces the backoff; a wait that would pass the ``max_delay`` budget is not started: the
    error is raised at once, carrying ``retry_after``. ``sleep`` and ``rng`` are injectable
    so tests run without waiting; each policy has its own ``rng``.
    """

    max_attempts: int = attrs.field(
        default=5, validator=_number(minimum=1, inclusive=True, integer=True)
    )
    max_delay: float = attrs.field(default=120.0, validator=_number())
    initial_backoff: float = attrs.field(default=0.5, validator=_number())
    max_backoff: float = attrs.field(default=30.0, validator=_number())
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, eq=False, repr=False
    )
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        return backoff(
            attempt, initial=self.initial_backoff, maximum=self.max_backoff, rng=self.rng
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, APIError) and exc.retry_after is not None:
            return 0.0 if _Testing.on else exc.retry_after
        return self.backoff(state.attempt_number)

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        what: str | Callable[[], str],
        retry_if: Callable[[BaseException], bool] = is_retryable,
        on_retry: OnRetry | None = None,
    ) -> T:
        """Await ``fn()`` until it succeeds, fails for good, or the budget is spent.

        ``retry_if`` says which errors are worth another try (:func:`is_retryable`, or
        :func:`never_reached_the_server` for a request that must not be repeated blindly);
        ``on_retry`` is awaited before each wait; ``what`` names the call in the retry log (or
        a function giving the name, called only then). The error that ends the retries is
        raised with ``attempts`` set.
        """
        started = time.monotonic()

        def worth_another_try(exc: BaseException) -> bool:
            return is_retryable(exc) and retry_if(exc)

        # the first try runs bare: most calls succeed, and tenacity's loop costs more CPU
        # than the rest of a call's retry handling (~4% of a request in a profile); only a
        # failure worth another try enters it
        try:
            return await fn()
        except (APIError, TransportError, DecodeError) as exc:
            if not worth_another_try(exc):
                exc.attempts = 1
                raise
            failed = exc
        return await self._retry(fn, failed, started, what, worth_another_try, on_retry)

    def _stop(self, started: float) -> Callable[[tenacity.RetryCallState], bool]:
        """stop_after_attempt | stop_before_delay, the delay counted from the first try."""

        def stop(state: tenacity.RetryCallState) -> bool:
            spent = (state.outcome_timestamp or time.monotonic()) - started
            return (
                state.attempt_number >= self.max_attempts
                or spent + state.upcoming_sleep >= self.max_delay
            )

        return stop

    def _before_sleep(
        self, what: str | Callable[[], str], on_retry: OnRetry | None
    ) -> Callable[[tenacity.RetryCallState], Awaitable[None]]:
        """Log the retry to come (its wait and cause) and tell ``on_retry``."""

        async def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            cause = reason(exc)
            log.warning(
                "retrying %s in %.2f s (attempt %d of %d): %s",
                what if isinstance(what, str) else what(),
                wait,
                state.attempt_number + 1,
                self.max_attempts,
                cause,
                extra={"attempt": state.attempt_number + 1, "wait": wait, "reason": cause},
            )
            if on_retry is not None and exc is not None:
                await on_retry(state.attempt_number + 1, wait, exc)

        return before_sleep

    async def _retry(
        self,
        fn: Callable[[], Awaitable[T]],
        failed: BaseException,
        started: float,
        what: str | Callable[[], str],
        retry_if: Callable[[BaseException], bool],
        on_retry: OnRetry | None,
    ) -> T:
        """:meth:`call` after its first try ``failed`` (begun at ``started``): tenacity's loop.

        Tenacity's first attempt replays that failure (raising it again) so it decides on it as
        it would have; the ``max_delay`` budget counts from ``started``, the first try's start.
        ``retry_if`` is the whole test of an error worth another try.
        """
        replayed = False

        async def again() -> T:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise failed
            return await fn()

        retrying = tenacity.AsyncRetrying(
            stop=self._stop(started),
            wait=self._wait,
            retry=tenacity.retry_if_exception(retry_if),
            sleep=self.sleep,
            before_sleep=self._before_sleep(what, on_retry),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    return await again()
        except (APIError, TransportError, DecodeError) as exc:
            exc.attempts = attempts
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
