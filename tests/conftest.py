"""Shared fixtures. Servers are real (FakeCentrePoint on loopback) wherever timing matters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from hypothesis import settings

from centrepoint_async.testing import Dataset, FakeCentrePoint, RedisServerProcess, fast_retry

__all__ = [
    "STUDY",
    "WEBHOOK",
    "Sleeps",
    "bearer_recording_session",
    "busiest_window",
    "fast_retry",
    "one_history",
]  # fast_retry: re-exported

STUDY = 100
WEBHOOK = 1000

# no per-example deadline: CI machines are shared, and a slow example is not a wrong one
settings.register_profile("centrepoint", deadline=None)
settings.load_profile("centrepoint")

# the SDK's fixtures are opt-in, as they are for users (centrepoint_fake, centrepoint_client)
pytest_plugins = ["centrepoint_async.testing.pytest_plugin"]


class Sleeps:
    """An injectable sleep that records waits and yields to the loop without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def one_history(size: int, seed: int = 0) -> Dataset:
    """A dataset with one study (100) holding one webhook (1000) of ``size`` deliveries."""
    return Dataset.generate(
        seed, studies=1, webhooks_per_study=1, deliveries=size, include_seed_example=False
    )


def lines(path: Path) -> list[object]:
    """The JSON values of a JSON Lines file (an export's output), one per line."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCentrePoint]:
    async with FakeCentrePoint() as server:
        yield server


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """Every test ends with no task of its own left running."""
    before = asyncio.all_tasks()
    yield
    for _ in range(3):
        await asyncio.sleep(0)
    leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
    current = asyncio.current_task()
    if current is not None:
        leaked.discard(current)
    assert not leaked, f"tasks left running: {leaked}"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServerProcess]:
    """A fresh, durable redis-server (append-only file, synced on every write) for one test;
    the test fails (never skips) if it cannot start."""
    server = RedisServerProcess(tmp_path, persistent=True)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


class CountingLimiter:
    """A RateLimiter of the user's own: records every slot held and every pause asked for."""

    def __init__(self) -> None:
        self.held = 0
        self.peak = 0
        self.slots = 0
        self.pauses: list[float] = []

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.slots += 1
        self.held += 1
        self.peak = max(self.peak, self.held)
        try:
            yield
        finally:
            self.held -= 1

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def busiest_window(times: list[float], period: float) -> int:
    """The most requests in any window of ``period`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - period:
            start += 1
        best = max(best, end - start + 1)
    return best


@contextlib.asynccontextmanager
async def bearer_recording_session() -> AsyncIterator[tuple[aiohttp.ClientSession, set[str]]]:
    """A caller's session that records every bearer token sent (aiohttp's public tracing)."""
    tokens: set[str] = set()

    async def on_start(
        _: aiohttp.ClientSession, __: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        auth = params.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tokens.add(auth.removeprefix("Bearer "))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session, tokens
