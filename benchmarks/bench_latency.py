"""1. Latency-bound export: 50 ms a request, 20,000 deliveries; SDK at concurrency 8 and 16.

Goals: speedup over the naive sequential loop >= 6x at concurrency 8; SDK / ideal <= 1.1x at
concurrency 8 and <= 1.15x at 16, where ideal is ceil(pages / concurrency) x latency (the time
of the requests alone, in waves, with no gap between them). Medians of REPEATS runs, the
server in its own process, all measured in the same run.

On a busy machine a request takes longer than the server's 50 ms (the server and the client
wait for a core), which no pager can win back; two more rows separate that from the pager:
the mean number of requests in flight over the concurrency (1.0: no connection ever waited for
the pager), and the ratio to the ideal computed with the median request time measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections.abc import AsyncIterator

import centrepoint_async as cp

from ._common import STUDY, WEBHOOK, Server, fake_server, naive_loop, raw_floor_loop, table, timed

LATENCY = 0.05
DELIVERIES = 20_000
CONCURRENCIES = (8, 16)
REPEATS = 5
GOALS = {8: 1.1, 16: 1.15}


class Occupancy:
    """The default RateLimit, measuring how many requests are in flight over time.

    Mean requests in flight / concurrency is the pager's own share of the result: 1.0 means
    no connection ever waited for the pager; the rest of a gap to ideal is the requests
    themselves taking longer than the server's latency (a loaded machine, page transfer).
    """

    def __init__(self) -> None:
        self.inner = cp.RateLimit()
        self.held = 0
        self.area = 0.0  # integral of requests in flight over time
        self.since = time.perf_counter()
        self.durations: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        self.area += self.held * (now - self.since)
        self.since = now

    def reset(self) -> None:
        """Start measuring now."""
        self._tick()
        self.area, self.durations = 0.0, []

    def stop(self) -> None:
        """Account for the time up to now."""
        self._tick()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.inner.slot():
            self._tick()
            self.held += 1
            started = time.perf_counter()
            try:
                yield
            finally:
                self._tick()
                self.held -= 1
                self.durations.append(time.perf_counter() - started)

    async def pause(self, seconds: float) -> None:
        await self.inner.pause(seconds)


async def sdk_run(server: Server, concurrency: int) -> tuple[float, float, float]:
    """One typed export: (seconds, mean requests in flight, median request seconds)."""
    occupancy = Occupancy()
    async with server.client(max_connections=concurrency, rate_limit=occupancy) as client:
        await client.studies.get(STUDY)  # token and a connection, outside the timing
        occupancy.reset()
        pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=concurrency)
        items, seconds = await timed(pager.collect())
        occupancy.stop()
    assert len(items) == DELIVERIES
    return seconds, occupancy.area / seconds, statistics.median(occupancy.durations)


async def main() -> dict[str, float]:
    args = ("--deliveries", str(DELIVERIES), "--latency", str(LATENCY), "--page-cache", "300")
    results: dict[str, float] = {}
    async with fake_server(*args, "--rate-limit", "0") as server:
        await raw_floor_loop(server)  # warm the server's page cache: time the clients only
        runs: dict[int, list[tuple[float, float, float]]] = {c: [] for c in CONCURRENCIES}
        for _ in range(REPEATS):  # interleaved, so a slow moment of the machine hits both
            for concurrency in CONCURRENCIES:
                runs[concurrency].append(await sdk_run(server, concurrency))
        count, naive = await timed(naive_loop(server))
    assert count == DELIVERIES
    pages = math.ceil(DELIVERIES / 100) + 1  # the last, empty page ends the listing
    rows = [("naive sequential loop", f"{naive:.2f} s")]
    for concurrency in CONCURRENCIES:
        sdk = statistics.median(seconds for seconds, _, _ in runs[concurrency])
        in_flight = statistics.median(mean for _, mean, _ in runs[concurrency])
        request = statistics.median(r for _, _, r in runs[concurrency])
        ideal = math.ceil(pages / concurrency) * LATENCY
        rows += [
            (f"SDK, concurrency {concurrency}", f"{sdk:.2f} s"),
            (f"  ideal ceil({pages}/{concurrency}) x latency", f"{ideal:.2f} s"),
            ("  speedup over naive", f"{naive / sdk:.1f}x"),
            (f"  SDK / ideal (goal <= {GOALS[concurrency]}x)", f"{sdk / ideal:.2f}x"),
            ("  mean requests in flight / concurrency", f"{in_flight / concurrency:.2f}"),
            ("  median request (server latency 50 ms)", f"{request * 1000:.0f} ms"),
            (
                "  SDK / ideal at the measured request time",
                f"{sdk / (math.ceil(pages / concurrency) * request):.2f}x",
            ),
        ]
        results[f"occupancy_{concurrency}"] = in_flight / concurrency
        results[f"to_ideal_{concurrency}"] = sdk / ideal
        results[f"speedup_{concurrency}"] = naive / sdk
    table(
        f"1. latency-bound export (50 ms a request, 20,000 deliveries, medians of {REPEATS})",
        rows,
    )
    return results


if __name__ == "__main__":
    asyncio.run(main())
