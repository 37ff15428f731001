"""RedisRateLimit against a real redis-server, and real OS processes sharing it.

The multi-process tests run this module as a worker: ``python -m tests.test_redis_ratelimit
MODE JSON`` (see :func:`worker`), each with its own RedisRateLimit on the same key.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import centrepoint_async as cp
from centrepoint_async.redis import RedisRateLimit, RedisUnavailableError
from centrepoint_async.testing import FakeCentrePoint, RedisServerProcess

from .conftest import STUDY, busiest_window, fast_retry
from .helpers_receiver import line, spawn

ROOT = Path(__file__).resolve().parent.parent


# --- one process ------------------------------------------------------------------------


async def test_budget_is_shared_by_two_limiters_on_one_key(
    redis_server: RedisServerProcess,
) -> None:
    """Two limiters on one key (two processes, in effect) share one budget, not one each."""
    async with (
        RedisRateLimit(redis_server.url, max_requests=10, period=60.0) as a,
        RedisRateLimit(redis_server.url, max_requests=10, period=60.0) as b,
    ):
        assert a.budget == 9
        held = [await a.acquire() for _ in range(5)] + [await b.acquire() for _ in range(4)]
        assert await a.in_use() == 9
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.acquire(), 0.2)  # the window is a minute long
        for member in held[:5]:
            await a.release(member)
        for member in held[5:]:
            await b.release(member)
        assert await b.in_use() == 9  # answered: each still holds its place for the window


async def test_other_keys_are_other_ceilings(redis_server: RedisServerProcess) -> None:
    """A limiter on another key (another IP address's ceiling) is not affected."""
    async with (
        RedisRateLimit(redis_server.url, key="a", max_requests=2, margin=0) as a,
        RedisRateLimit(redis_server.url, key="b", max_requests=2, margin=0) as b,
    ):
        await a.acquire()
        await a.acquire()
        await asyncio.wait_for(b.acquire(), 1)
        assert (await a.in_use(), await b.in_use()) == (2, 1)


async def test_a_place_is_held_until_a_window_after_the_answer(
    redis_server: RedisServerProcess,
) -> None:
    """A request in flight keeps its place past the window; it frees a window after its answer."""
    async with RedisRateLimit(
        redis_server.url, max_requests=1, period=0.2, margin=0, lease=0.1
    ) as limit:
        member = await limit.acquire()
        waiter = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0.6)  # three windows, but the request is still in flight (renewed)
        assert not waiter.done()
        released = time.monotonic()
        await limit.release(member)
        await limit.release(await asyncio.wait_for(waiter, 5))
        assert time.monotonic() - released >= 0.15  # the answer's window had to pass


async def test_pause_holds_every_limiter_on_the_key(redis_server: RedisServerProcess) -> None:
    """pause() on one limiter holds the others on that key; a shorter one never shortens it."""
    async with (
        RedisRateLimit(redis_server.url, max_requests=100) as a,
        RedisRateLimit(redis_server.url, max_requests=100) as b,
    ):
        await a.pause(0.5)
        await b.pause(0.01)
        assert 0.3 < a.paused_for <= 0.5
        started = time.monotonic()
        waiter = asyncio.create_task(b.acquire())
        await asyncio.sleep(0.1)
        assert b.paused_for > 0  # seen from Redis, for progress displays
        await b.release(await waiter)
        assert time.monotonic() - started >= 0.4


async def test_redis_down_is_a_typed_error_never_unlimited(
    redis_server: RedisServerProcess,
) -> None:
    """With Redis stopped, taking a place raises RedisUnavailableError (a TransportError)."""
    async with RedisRateLimit(redis_server.url, timeout=1.0) as limit:
        await limit.release(await limit.acquire())
        redis_server.stop()
        with pytest.raises(RedisUnavailableError) as caught:
            await limit.acquire()
        assert isinstance(caught.value, cp.TransportError)
        assert str(redis_server.port) in str(caught.value)
        redis_server.start()  # back (empty): the same limiter works again
        await limit.release(await limit.acquire())


async def test_places_in_flight_come_back_after_redis_lost_them(tmp_path: Path) -> None:
    """Redis restarted empty: the places of requests still in flight are held again."""
    with RedisServerProcess(tmp_path, persistent=False) as redis_server:  # keeps nothing
        async with RedisRateLimit(redis_server.url, period=1.0, lease=0.2) as limit:
            held = [await limit.acquire() for _ in range(3)]
            redis_server.stop()
            redis_server.start()  # empty: nothing persisted
            await asyncio.sleep(0.5)  # a renewal or two
            assert await limit.in_use() == 3
            for member in held:
                await limit.release(member)


async def test_hung_redis_times_out(redis_server: RedisServerProcess) -> None:
    """A Redis that accepts but never answers (SIGSTOP) fails within the timeout, typed."""
    async with RedisRateLimit(redis_server.url, timeout=0.3) as limit:
        await limit.in_use()
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RedisUnavailableError):
                await limit.acquire()
            assert time.monotonic() - started < 5
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        await limit.release(await limit.acquire())


async def test_client_fails_with_the_typed_error_when_redis_is_down(
    redis_server: RedisServerProcess,
) -> None:
    """A client whose shared limiter is unreachable sends nothing and raises the typed error."""
    async with FakeCentrePoint() as fake, RedisRateLimit(redis_server.url, timeout=0.5) as limit:
        async with fake.client(rate_limit=limit, retry=fast_retry(max_attempts=2)) as client:
            await client.studies.get(STUDY)
            sent = len(fake.requests)
            redis_server.stop()
            with pytest.raises(RedisUnavailableError):
                await client.studies.get(STUDY)
            assert len(fake.requests) == sent


def test_bad_arguments_are_configuration_errors() -> None:
    """Bad URLs and shapes are refused before anything connects; the repr hides a password."""
    with pytest.raises(cp.ConfigurationError):
        RedisRateLimit("http://localhost:6379")
    with pytest.raises(cp.ConfigurationError):
        RedisRateLimit("redis://localhost", max_requests=0)
    with pytest.raises(cp.ConfigurationError):
        RedisRateLimit("redis://localhost", lease=0)
    limit = RedisRateLimit("redis://:hunter2@localhost:6379/0")
    assert "hunter2" not in repr(limit)
    assert isinstance(limit, cp.RateLimiter)


# --- many processes -----------------------------------------------------------------------


def spawn_limit(mode: str, **args: Any) -> Any:
    """This module as a worker process (see :func:`worker`)."""
    return spawn(mode, module="tests.test_redis_ratelimit", **args)


async def test_four_processes_stay_under_one_ceiling(redis_server: RedisServerProcess) -> None:
    """Four processes sharing one RedisRateLimit: zero 429s, busiest window within the ceiling."""
    limit, period = 50, 1.0
    async with FakeCentrePoint(rate_limit=limit, rate_period=period) as fake:
        args: dict[str, Any] = {"redis": redis_server.url, "limit": limit, "period": period}
        args["seconds"] = 4 * period
        async with (
            spawn_limit("load", env=fake.env(), **args) as a,
            spawn_limit("load", env=fake.env(), **args) as b,
            spawn_limit("load", env=fake.env(), **args) as c,
            spawn_limit("load", env=fake.env(), **args) as d,
        ):
            for p in (a, b, c, d):
                assert (await line(p))["ready"]
            results = [await line(p) for p in (a, b, c, d)]
    assert fake.rate_limited == 0
    assert sum(r["rate_limited"] for r in results) == 0
    busiest = busiest_window([r.at for r in fake.requests], period)
    assert busiest <= limit
    # each process alone would send far more: the shared ceiling is what held them
    assert busiest >= 0.8 * limit
    assert all(r["requests"] > 0 for r in results)


async def test_a_killed_process_frees_its_places_within_a_window(
    redis_server: RedisServerProcess,
) -> None:
    """SIGKILL a process holding every place: the ceiling is whole again a window later."""
    period = 1.0
    shape: dict[str, Any] = {"redis": redis_server.url, "limit": 20, "period": period}
    async with RedisRateLimit(redis_server.url, max_requests=20, period=period) as survivor:
        async with spawn_limit("hold", **shape) as holder:
            assert (await line(holder))["held"] == survivor.budget
            assert await survivor.in_use() == survivor.budget
            await asyncio.sleep(2 * period)  # its requests are still in flight: renewed
            assert await survivor.in_use() == survivor.budget
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            killed = time.monotonic()
        held = [await asyncio.wait_for(survivor.acquire(), 10) for _ in range(survivor.budget)]
        recovered = time.monotonic() - killed
        # never before the server forgets them (a window), and at most a window and a lease
        assert period * 0.9 <= recovered <= period + survivor.lease + 2.0
        for member in held:
            await survivor.release(member)


async def test_a_429_in_one_process_pauses_the_others(redis_server: RedisServerProcess) -> None:
    """A 429 with Retry-After answered to one process: no process sends until it has passed."""
    retry_after = 2.0
    async with FakeCentrePoint(rate_limit=None) as fake:
        # a high ceiling: only the pause, never the window, can make the processes wait
        args: dict[str, Any] = {"redis": redis_server.url, "limit": 100_000, "period": 1.0}
        args |= {"seconds": 5.0, "gap": 0.02, "concurrency": 2, "env": fake.env()}
        async with (
            spawn_limit("load", **args) as a,
            spawn_limit("load", **args) as b,
            spawn_limit("load", **args) as c,
        ):
            for p in (a, b, c):
                assert (await line(p))["ready"]
            await asyncio.sleep(0.5)
            fake.inject("status", status=429, retry_after=retry_after)
            results = [await line(p) for p in (a, b, c)]
    assert sum(r["rate_limited"] for r in results) == 1
    (hit,) = [r.at for r in fake.requests if r.status == 429]
    answered = [r.at for r in fake.requests]
    # the requests already on their way when the 429 came back are allowed half a second
    assert not [t for t in answered if hit + 0.5 < t < hit + retry_after - 0.1]
    assert [t for t in answered if hit - 0.5 < t < hit]  # they were sending before...
    assert len([t for t in answered if t > hit + retry_after]) > 3 * 10  # ...and all after


# --- the worker ---------------------------------------------------------------------------


async def _load(args: dict[str, Any]) -> None:
    """Requests from ``concurrency`` tasks for ``seconds``; prints ready, then the counts."""
    limit = RedisRateLimit(args["redis"], max_requests=args["limit"], period=args["period"])
    async with (
        limit,
        cp.CentrePointClient.from_env(rate_limit=limit) as client,
    ):
        await client.studies.get(STUDY)
        print(json.dumps({"ready": True}), flush=True)
        stop = time.monotonic() + args["seconds"]

        async def run() -> None:
            while time.monotonic() < stop:
                await client.studies.get(STUDY)
                await asyncio.sleep(args.get("gap", 0))

        await asyncio.gather(*(run() for _ in range(args.get("concurrency", 8))))
        stats = client.stats
    print(json.dumps({"requests": stats.requests, "rate_limited": stats.rate_limited}), flush=True)


async def _hold(args: dict[str, Any]) -> None:
    """Take every place and keep them (requests that never get an answer) until killed."""
    limit = RedisRateLimit(args["redis"], max_requests=args["limit"], period=args["period"])
    for _ in range(limit.budget):
        await limit.acquire()
    print(json.dumps({"held": limit.budget}), flush=True)
    await asyncio.Event().wait()


def worker(mode: str, args: dict[str, Any]) -> None:
    """Run one worker: ``load`` (a client sending requests) or ``hold`` (places kept)."""
    asyncio.run({"load": _load, "hold": _hold}[mode](args))


if __name__ == "__main__":
    worker(sys.argv[1], json.loads(sys.argv[2]))
