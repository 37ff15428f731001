"""6. The fake server itself: start-up plus one 100-item history page, and the memory of a
million-delivery history, against a bare aiohttp server and a 1,000-delivery history.

Goal: milliseconds to start and serve; a million deliveries without a million objects.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import tracemalloc

import aiohttp
from aiohttp import web

from centrepoint_async.testing import Dataset, FakeCentrePoint

from ._common import STUDY, WEBHOOK, table


async def bare_aiohttp() -> float:
    """Start a bare aiohttp server and GET one tiny answer: the floor for any loopback fake."""
    started = time.perf_counter()
    app = web.Application()

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="{}")

    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/") as r:
        await r.read()
    elapsed = time.perf_counter() - started
    await runner.cleanup()
    return elapsed


async def fake_first_page(dataset: Dataset) -> float:
    """Start the fake, get a token, and fetch one 100-item history page."""
    started = time.perf_counter()
    async with FakeCentrePoint(dataset=dataset) as fake, fake.client() as client:
        page = await client.webhooks.history(STUDY, WEBHOOK, max_items=100).collect()
        elapsed = time.perf_counter() - started
    assert len(page) == 100
    return elapsed


def dataset_memory(deliveries: int) -> float:
    tracemalloc.start()
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, deliveries=deliveries)
    dataset.histories[WEBHOOK].slice(deliveries - 100, 100)  # a page from the far end
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


async def main() -> dict[str, float]:
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, deliveries=1_000_000)
    bare = statistics.median([await bare_aiohttp() for _ in range(5)])
    fake = statistics.median([await fake_first_page(dataset) for _ in range(5)])
    small, large = dataset_memory(1_000), dataset_memory(1_000_000)
    table(
        "6. the fake server (median of 5)",
        [
            ("bare aiohttp: start + 1 request", f"{bare * 1e3:.1f} ms"),
            (
                "fake: start + token + 100-item page",
                f"{fake * 1e3:.1f} ms ({fake / bare:.1f}x bare)",
            ),
            ("memory, 1,000-delivery history", f"{small:.0f} KiB"),
            ("memory, 1,000,000-delivery history", f"{large:.0f} KiB ({large / small:.2f}x)"),
        ],
    )
    return {"first_page_ms": fake * 1e3, "memory_ratio": large / small}


if __name__ == "__main__":
    asyncio.run(main())
