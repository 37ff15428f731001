"""Shared by the benchmarks: a fake server in its own process, the baselines, a table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import orjson
import psutil

from centrepoint_async.testing import FakeServerProcess, fake_server_process

STUDY = 100
WEBHOOK = 1000

#: The interpreter of another version of the package (an older checkout's venv), which some
#: benchmarks also run, interleaved with this one, for a comparison within one run.
OTHER_PYTHON = os.environ.get("CENTREPOINT_BENCH_OTHER") or None


Server = FakeServerProcess


@asynccontextmanager
async def fake_server(*args: str) -> AsyncIterator[Server]:
    """The fake server, one webhook (unless ARGS say otherwise), in a process of its own."""
    async with fake_server_process("--size", "tiny", *args) as server:
        yield server


async def token(server: Server, session: aiohttp.ClientSession) -> str:
    """A bearer token, the way a hand-written script gets one."""
    form = {
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "grant_type": "client_credentials",
        "scope": "CentrePoint",
    }
    async with session.post(f"{server.url}/connect/token", data=form) as response:
        value: str = (await response.json())["access_token"]
    return value


def history_url(server: Server) -> str:
    return f"{server.url}/centrepoint/v3/Studies/{STUDY}/Webhooks/{WEBHOOK}/history"


async def walk(server: Server, read_page: Callable[[bytes], int], page_size: int) -> int:
    """Sequential offsets over the history, as hand-written scripts page; counts items."""
    count = 0
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await token(server, session)}"}
        offset = 0
        while True:
            params = {"limit": str(page_size), "offset": str(offset)}
            async with session.get(history_url(server), params=params, headers=headers) as r:
                items = read_page(await r.read())
            count += items
            if items < page_size:
                return count
            offset += page_size


def naive_page(body: bytes) -> list[dict[str, Any]]:
    """The page's items as dicts: stdlib json, the JSON inside strings parsed by hand."""
    page = json.loads(body.decode())
    for item in page["items"]:
        request = item["request"]
        request["headers"] = json.loads(request["headers"])
        with contextlib.suppress(ValueError):  # a body that is not JSON stays text
            request["body"] = json.loads(request["body"])
        if item.get("response"):
            item["response"]["headers"] = json.loads(item["response"]["headers"])
    items: list[dict[str, Any]] = page["items"]
    return items


def _floor_page(body: bytes) -> int:
    return len(orjson.loads(body)["items"])


async def naive_loop(server: Server, page_size: int = 100) -> int:
    """What users write by hand: sequential offsets, stdlib json, nested JSON parsed by hand."""
    return await walk(server, lambda body: len(naive_page(body)), page_size)


async def raw_floor_loop(server: Server, page_size: int = 100) -> int:
    """The floor any client pays: aiohttp and orjson on the outer JSON only."""
    return await walk(server, _floor_page, page_size)


T = TypeVar("T")


async def rss_peak_growth(awaitable: Awaitable[T]) -> tuple[T, int]:
    """Await ``awaitable`` while sampling this process's RSS; its result and the peak growth."""
    process = psutil.Process()
    base = peak = process.memory_info().rss
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        result = await awaitable
    finally:
        done.set()
        await sampler
    return result, peak - base


async def timed(coroutine: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await coroutine
    return result, time.perf_counter() - started


def windows(times: list[float], period: float) -> list[int]:
    """Requests in each whole window of ``period`` seconds from the first request."""
    if not times:
        return []
    start = min(times)
    counts = [0] * int((max(times) - start) // period)
    for t in times:
        k = int((t - start) // period)
        if k < len(counts):
            counts[k] += 1
    return counts


def share_of_ceiling(times: list[float], period: float, limit: int) -> tuple[float, int]:
    """The share of the server's ceiling used in whole windows, and the busiest such window."""
    counts = windows(times, period)
    return (sum(counts) / (len(counts) * limit) if counts else 0.0), max(counts, default=0)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column result table."""
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}\n" + "-" * len(title))
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
