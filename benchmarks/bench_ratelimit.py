"""3. Rate-limit ceiling: the fake enforces 500 requests a window (time-scaled: 3 s for 60 s).

A many-page export with the default-shaped RateLimit (500 per window): the share of the ceiling
used and the count of 429s, against a leaky bucket (aiolimiter) sized to be just as safe.
Goal: >= 90% of the ceiling, zero 429s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiolimiter import AsyncLimiter

import centrepoint_async as cp
from centrepoint_async.testing import Dataset, FakeCentrePoint

from ._common import STUDY, WEBHOOK, share_of_ceiling, table

PERIOD = 3.0  # 60 s, twenty times faster
LIMIT = 500
WINDOWS = 4
BURST = 400  # a short export: its requests fit in one window


class LeakyBucket(cp.RateLimit):
    """The obvious alternative: aiolimiter, with burst + rate x window kept under the limit."""

    def __init__(self, max_requests: int, period: float, burst: int = 10) -> None:
        super().__init__(max_requests, period)
        rate = (self.budget - burst) / period
        self._bucket = AsyncLimiter(burst, burst / rate)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._bucket.acquire()
        yield


async def run(limit: cp.RateLimit) -> tuple[float, int, int, float]:
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, deliveries=LIMIT * WINDOWS * 10)
    async with FakeCentrePoint(dataset=dataset, rate_limit=LIMIT, rate_period=PERIOD) as fake:
        async with fake.client(rate_limit=limit, retry=cp.RetryPolicy(max_delay=60)) as client:
            pager = client.webhooks.history(STUDY, WEBHOOK, page_size=10, concurrency=16)
            stop_at = asyncio.get_running_loop().time() + PERIOD * WINDOWS
            async for _ in pager.pages():
                if asyncio.get_running_loop().time() >= stop_at:
                    break
            await pager.aclose()
        times = sorted(r.at for r in fake.requests if r.status != 429)
        share, busiest = share_of_ceiling(times, PERIOD, LIMIT)
        burst = times[BURST - 1] - times[0]  # how long the first BURST requests took
        return share, fake.rate_limited, busiest, burst


async def main() -> dict[str, float]:
    ours = await run(cp.RateLimit(LIMIT, PERIOD))
    bucket = await run(LeakyBucket(LIMIT, PERIOD))

    def row(result: tuple[float, int, int, float]) -> str:
        share, limited, busiest, burst = result
        return (
            f"{share:.1%} of the ceiling, {limited} x 429, busiest window {busiest}, "
            f"first {BURST} requests in {burst / PERIOD:.2f} windows"
        )

    table(
        f"3. rate-limit ceiling ({LIMIT} requests per {PERIOD:g} s window, {WINDOWS} windows)",
        [
            ("RateLimit (sliding window)", row(ours)),
            ("aiolimiter leaky bucket", row(bucket)),
            ("goal", ">= 90% of the ceiling, zero 429s"),
        ],
    )
    return {"share": ours[0], "429s": ours[1], "burst_speedup": bucket[3] / ours[3]}


if __name__ == "__main__":
    asyncio.run(main())
