"""1. Latency-bound export: 50 ms a request, 20,000 deliveries; SDK (concurrency 8) vs naive.

Goal: speedup >= 6x, and within 1.3x of the ideal ceil(pages / 8) x latency.
"""

from __future__ import annotations

import asyncio
import math

from ._common import STUDY, WEBHOOK, fake_server, naive_loop, raw_floor_loop, table, timed

LATENCY = 0.05
DELIVERIES = 20_000
CONCURRENCY = 8


async def main() -> dict[str, float]:
    args = ("--deliveries", str(DELIVERIES), "--latency", str(LATENCY), "--page-cache", "300")
    async with fake_server(*args, "--rate-limit", "0") as server:
        await raw_floor_loop(server)  # warm the server's page cache: time the clients only
        async with server.client() as client:
            await client.studies.get(STUDY)  # token and connection, outside the timing
            pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=CONCURRENCY)
            items, sdk = await timed(pager.collect())
            requests = client.stats.requests - 2
        count, naive = await timed(naive_loop(server))
    assert len(items) == count == DELIVERIES
    pages = math.ceil(DELIVERIES / 100) + 1  # the last, empty page ends the listing
    ideal = math.ceil(pages / CONCURRENCY) * LATENCY
    table(
        "1. latency-bound export (50 ms a request, 20,000 deliveries)",
        [
            ("naive sequential loop", f"{naive:.2f} s"),
            (f"SDK, concurrency {CONCURRENCY}", f"{sdk:.2f} s ({requests} requests)"),
            ("ideal ceil(pages/8) x latency", f"{ideal:.2f} s"),
            ("speedup (goal >= 6x)", f"{naive / sdk:.1f}x"),
            ("SDK / ideal (goal <= 1.3x)", f"{sdk / ideal:.2f}x"),
        ],
    )
    return {"speedup": naive / sdk, "to_ideal": sdk / ideal}


if __name__ == "__main__":
    asyncio.run(main())
