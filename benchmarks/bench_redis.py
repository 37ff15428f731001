"""Many processes, one ceiling: RedisRateLimit shared by four processes (time-scaled window).

Four export processes page one history at full speed, each with its own client and its own
``RedisRateLimit`` on one key, against one fake with the 500-a-window limit (3 s for 60 s). The
measure is the one of ``bench_ratelimit``: the share of the ceiling used in whole windows, and
the 429s. Then the price of sharing: one acquire+release against a local Redis, as a ratio to
the in-process ``RateLimit``. Goal: >= 95% of the ceiling, zero 429s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import centrepoint_async as cp
from centrepoint_async.redis import RedisRateLimit
from centrepoint_async.testing import Dataset, FakeCentrePoint, RedisServerProcess

from ._common import STUDY, WEBHOOK, share_of_ceiling, table
from .bench_ratelimit import LIMIT, PERIOD, WINDOWS

PROCESSES = 4
ROUNDS = 2000  # acquire+release pairs timed per limiter
ROOT = Path(__file__).resolve().parent.parent


async def _export(args: dict[str, Any]) -> None:
    """One process: wait for "go" on stdin, then page the history for WINDOWS windows."""
    logging.getLogger("centrepoint_async").setLevel(logging.ERROR)  # the baseline's retries
    shared = RedisRateLimit(args["redis"], max_requests=LIMIT, period=PERIOD)
    # the baseline: a RateLimit of its own in each process, as without Redis
    limit = shared if args["shared"] else cp.RateLimit(LIMIT, PERIOD)
    async with (
        shared,
        cp.CentrePointClient.from_env(
            rate_limit=limit, retry=cp.RetryPolicy(max_delay=60)
        ) as client,
    ):
        await shared.in_use()  # connected before the start
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        pager = client.webhooks.history(STUDY, WEBHOOK, page_size=10, concurrency=16)
        stop_at = time.monotonic() + PERIOD * WINDOWS
        async for _ in pager.pages():
            if time.monotonic() >= stop_at:
                break
        await pager.aclose()
        print(json.dumps({"rate_limited": client.stats.rate_limited}), flush=True)


async def ceiling(redis_url: str, shared: bool) -> tuple[float, int, int]:
    """Share of the ceiling, 429s and the busiest whole window, four processes together."""
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, deliveries=LIMIT * WINDOWS * 10)
    async with FakeCentrePoint(dataset=dataset, rate_limit=LIMIT, rate_period=PERIOD) as fake:
        args = {"redis": redis_url, "shared": shared}
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.bench_redis",
                json.dumps(args),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env={**os.environ, **fake.env()},  # the clients read where the fake is
            )
            for _ in range(PROCESSES)
        ]
        for p in processes:
            assert p.stdout is not None
            assert (await p.stdout.readline()).strip() == b"ready"
        for p in processes:  # all start together
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
        for p in processes:
            await p.communicate()
        times = sorted(r.at for r in fake.requests if r.status != 429)
        share, busiest = share_of_ceiling(times, PERIOD, LIMIT)
        return share, fake.rate_limited, busiest


async def _cost(limit: cp.RateLimit | RedisRateLimit) -> float:
    """Seconds for one acquire+release, on average over ROUNDS sequential pairs."""
    started = time.perf_counter()
    for _ in range(ROUNDS):
        async with limit.slot():
            pass
    return (time.perf_counter() - started) / ROUNDS


def row(share: float, limited: int, busiest: int) -> str:
    return f"{share:.1%} of the ceiling, {limited} x 429, busiest window {busiest}"


async def main() -> dict[str, float]:
    # a limiter's window needs no durability: no append-only file synced on every write (what
    # RedisServerProcess keeps by default, for inboxes), which would time the disk, not Redis
    with RedisServerProcess(persistent=False) as server:
        share, limited, busiest = await ceiling(server.url, shared=True)
        apart = await ceiling(server.url, shared=False)
        big = ROUNDS * 10  # a budget never reached: only the bookkeeping is timed
        local = await _cost(cp.RateLimit(big, 60.0))
        async with RedisRateLimit(server.url, key="bench:cost", max_requests=big) as shared:
            remote = await _cost(shared)
    table(
        f"one ceiling shared by {PROCESSES} processes ({LIMIT} requests per {PERIOD:g} s window, "
        f"{WINDOWS} windows)",
        [
            ("one RedisRateLimit, 4 processes", row(share, limited, busiest)),
            ("a RateLimit in each process", row(*apart)),
            (
                "acquire+release",
                f"RateLimit {local * 1e6:.1f} us, RedisRateLimit {remote * 1e6:.1f} us "
                f"({remote / local:.0f}x)",
            ),
            ("goal", ">= 95% of the ceiling, zero 429s"),
        ],
    )
    return {"share": share, "429s": limited, "cost_ratio": remote / local}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(_export(json.loads(sys.argv[1])))
    else:
        asyncio.run(main())
