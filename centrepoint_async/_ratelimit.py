"""Client-side rate limit: stay under CentrePoint's 500 requests a minute, sliding window.

:class:`RateLimiter` is what the client needs of a limiter (any object with ``slot()`` and
``pause()`` can be passed as ``rate_limit=``); :class:`RateLimit` is the in-process one,
``centrepoint_async.redis.RedisRateLimit`` the one shared by many processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from ._protocol import check_count, check_number

__all__ = ["RateLimit", "RateLimiter", "expected_wait"]


@runtime_checkable
class RateLimiter(Protocol):
    """What ``CentrePointClient(rate_limit=...)`` needs of a rate limiter.

    - ``slot()``: an async context manager held around one request, from the moment it is
      sent until its answer came back (or it failed); it waits while the limit is reached.
    - ``pause(seconds)``: hold every request of this limiter (and of every client sharing it)
      for ``seconds`` from now; the client calls it after a 429 or 503 with ``Retry-After``,
      with ``seconds`` already capped to the retry budget (never longer than the policy's
      ``max_delay``, see :class:`~centrepoint_async.RetryPolicy`). A later, shorter pause must
      not shorten an earlier one.
    """

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold a place for one request: ``async with limiter.slot(): send()``."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold every request of this limiter for ``seconds`` from now."""
        ...


def expected_wait(limiter: RateLimiter) -> tuple[float, str]:
    """The seconds a request asking ``limiter`` now waits at least, and why.

    ``"Retry-After"`` while a pause after a 429 (or 503) holds the limiter, else
    ``"rate limit"``. Limiters that cannot tell (no ``expected_wait`` or ``paused_for``)
    give 0.
    """
    paused = getattr(limiter, "paused_for", 0.0)
    if isinstance(paused, int | float) and paused > 0:
        return float(paused), "Retry-After"
    estimate = getattr(limiter, "expected_wait", None)
    return (float(estimate()) if callable(estimate) else 0.0), "rate limit"


class RateLimit:
    """At most ``max_requests`` in any ``period`` seconds, less a ``margin`` for jitter.

    CentrePoint counts requests in a *sliding* window (more than 500 within a minute are
    answered 429). This limiter mirrors that: a request holds a place in the window from the
    moment it is sent until ``period`` seconds after its answer came back (the server saw it
    somewhere in between), and one more may go as soon as fewer than the budget
    (``max_requests`` less 3%) hold a place. A short export therefore runs at full speed (up to
    the budget at once) and a long one close to the ceiling, with no 429.

    Why not a leaky bucket (aiolimiter): a bucket admits ``burst + rate * period`` in a window,
    so to stay under the server it must trade burst for rate; either short exports crawl or long
    ones use a fraction of the ceiling. ``benchmarks/bench_ratelimit.py`` measures both.

    Share one object between clients that share an IP address. After a 429, :meth:`pause`
    holds every request of this limiter for the server's ``Retry-After``, not only the one that
    got it. Requests are admitted in arrival order.
    """

    def __init__(
        self, max_requests: int = 500, period: float = 60.0, *, margin: float = 0.03
    ) -> None:
        check_count(max_requests, "max_requests")
        check_number(period, "period")
        check_number(margin, "margin", inclusive=True, below=1)
        self.max_requests = max_requests
        self.period = float(period)
        #: Requests allowed to hold a place in the window at once.
        self.budget = max(1, math.floor(max_requests * (1 - margin)))
        self._answered: deque[float] = deque()  # when answered requests came back, in order
        self._in_flight = 0
        self._resume_at = 0.0
        self._turn = asyncio.Lock()  # bound to a loop on first use, not here
        self._freed = asyncio.Event()

    def __repr__(self) -> str:
        return f"RateLimit(max_requests={self.max_requests}, period={self.period})"

    @property
    def paused_for(self) -> float:
        """Seconds left of a pause set by :meth:`pause` (0 when not paused)."""
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    async def pause(self, seconds: float) -> None:
        """Hold every request of this limiter for ``seconds`` from now (never shortens a pause)."""
        resume_at = asyncio.get_running_loop().time() + max(0.0, seconds)
        self._resume_at = max(self._resume_at, resume_at)

    def expected_wait(self) -> float:
        """Seconds a request asking now waits at least (0 when it may go at once)."""
        if (paused := self.paused_for) > 0:
            return paused
        now = asyncio.get_running_loop().time()
        while self._answered and self._answered[0] <= now - self.period:
            self._answered.popleft()
        if len(self._answered) + self._in_flight < self.budget or not self._answered:
            return 0.0
        return max(0.0, self._answered[0] + self.period - now)

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold a place in the window for one request: ``async with limit.slot(): send()``."""
        return _Slot(self)

    async def acquire(self) -> None:
        """Wait until one more request may be sent; pair with :meth:`release` once answered."""
        async with self._turn:  # first come, first served
            loop = asyncio.get_running_loop()
            while True:
                if (wait := self.paused_for) > 0:
                    await asyncio.sleep(wait)
                    continue  # a 429 may have extended the pause meanwhile
                now = loop.time()
                while self._answered and self._answered[0] <= now - self.period:
                    self._answered.popleft()
                if len(self._answered) + self._in_flight < self.budget:
                    self._in_flight += 1
                    return
                self._freed.clear()
                timeout = self._answered[0] + self.period - now if self._answered else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), timeout)

    def release(self) -> None:
        """The request got its answer (or failed): its place frees ``period`` from now."""
        self._in_flight -= 1
        self._answered.append(asyncio.get_running_loop().time())
        self._freed.set()


class _Slot:
    """``RateLimit.slot()``: :meth:`~RateLimit.acquire` on entry, :meth:`~RateLimit.release`
    on exit (a class, not ``@asynccontextmanager``: its generator costs more than the rest)."""

    __slots__ = ("_limit",)

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit

    async def __aenter__(self) -> None:
        await self._limit.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._limit.release()
