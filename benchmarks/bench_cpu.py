"""2. CPU-bound export on loopback: no latency, 50,000 deliveries.

SDK items/s (typed deliveries; and with every payload typed too) against the naive hand-parsing
loop, and against the floor (aiohttp + orjson on the outer JSON only).
Goal: the SDK with full typing at least as fast as the naive loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ._common import STUDY, WEBHOOK, fake_server, naive_loop, raw_floor_loop, table, timed

DELIVERIES = 50_000


async def sdk(server: Any, *, payloads: bool) -> int:
    count = 0
    async with server.client(rate_limit=None) as client:
        async for delivery in client.webhooks.history(STUDY, WEBHOOK, concurrency=4):
            if payloads:
                delivery.request.payload  # noqa: B018 (typing the payload is the point)
            count += 1
    return count


async def main() -> dict[str, float]:
    args = ("--deliveries", str(DELIVERIES), "--page-cache", "600", "--rate-limit", "0")
    async with fake_server(*args) as server:
        await raw_floor_loop(server)  # warm the server's page cache
        best: dict[str, float] = {}
        runs: dict[str, Callable[[], Awaitable[int]]] = {
            "floor: aiohttp + orjson, outer JSON only": lambda: raw_floor_loop(server),
            "naive loop: stdlib json, nested by hand": lambda: naive_loop(server),
            "SDK: typed deliveries": lambda: sdk(server, payloads=False),
            "SDK: typed deliveries and payloads": lambda: sdk(server, payloads=True),
        }
        for _ in range(3):  # best of three, interleaved: the machine is shared
            for name, run in runs.items():
                count, seconds = await timed(run())
                assert count == DELIVERIES, (name, count)
                best[name] = min(best.get(name, float("inf")), seconds)
    rate = {name: DELIVERIES / seconds for name, seconds in best.items()}
    naive = rate["naive loop: stdlib json, nested by hand"]
    floor = rate["floor: aiohttp + orjson, outer JSON only"]
    rows = [
        (name, f"{r:,.0f} items/s ({r / naive:.2f}x naive, {r / floor:.2f}x floor)")
        for name, r in rate.items()
    ]
    table("2. CPU-bound export on loopback (50,000 deliveries, best of 3)", rows)
    return {
        "typed_vs_naive": rate["SDK: typed deliveries"] / naive,
        "payloads_vs_naive": rate["SDK: typed deliveries and payloads"] / naive,
    }


if __name__ == "__main__":
    asyncio.run(main())
