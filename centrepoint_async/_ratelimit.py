"""Client-side rate limit: stay under CentrePoint's 500 requests a minute, sliding window."""

from __future__ import annotations

import asyncio
import math

from aiolimiter import AsyncLimiter

from ._exceptions import ConfigurationError

__all__ = ["RateLimit"]


class RateLimit:
    """At most ``max_requests`` in any ``period`` seconds, with room to spare.

    aiolimiter's leaky bucket lets a full bucket through at once and then drips: in any
    window of length ``period`` it admits ``burst + rate * period``. We size both so that sum
    stays under the server's window (``margin`` of it kept back for network jitter): a small
    burst of at most 10 and a steady rate for the rest. Share one object between clients that
    share an IP address. After a 429, :meth:`pause` holds every request of this limiter for the
    server's ``Retry-After``, not only the one that got it.
    """

    def __init__(
        self, max_requests: int = 500, period: float = 60.0, *, margin: float = 0.03
    ) -> None:
        if not isinstance(max_requests, int) or isinstance(max_requests, bool) or max_requests < 1:
            raise ConfigurationError(
                f"max_requests must be a positive integer, got {max_requests!r}"
            )
        if not (isinstance(period, int | float) and math.isfinite(period) and period > 0):
            raise ConfigurationError(f"period must be a positive number of seconds, got {period!r}")
        if not 0 <= margin < 1:
            raise ConfigurationError(f"margin must be in [0, 1), got {margin!r}")
        self.max_requests = max_requests
        self.period = float(period)
        budget = max(1, math.floor(max_requests * (1 - margin)))
        self.burst = max(1, min(10, budget // 50))
        steady = max(1, budget - self.burst)
        #: Requests per second once the burst is spent.
        self.rate = steady / self.period
        self._limiter = AsyncLimiter(self.burst, self.burst / self.rate)
        self._resume_at = 0.0

    def __repr__(self) -> str:
        return f"RateLimit(max_requests={self.max_requests}, period={self.period})"

    @property
    def paused_for(self) -> float:
        """Seconds left of a pause set by :meth:`pause` (0 when not paused)."""
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    def pause(self, seconds: float) -> None:
        """Hold every request of this limiter for ``seconds`` from now."""
        resume_at = asyncio.get_running_loop().time() + max(0.0, seconds)
        self._resume_at = max(self._resume_at, resume_at)

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""
        await self._wait_pause()
        await self._limiter.acquire()
        await self._wait_pause()  # a 429 may have arrived while we queued

    async def _wait_pause(self) -> None:
        # a pause can be extended while we sleep (another 429), hence the loop
        while (wait := self.paused_for) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
