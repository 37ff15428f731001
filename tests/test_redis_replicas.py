"""Receiver replicas (real processes, real HTTP) sharing one RedisInbox.

Each replica is this module run as a worker (``python -m tests.test_redis_replicas replica
JSON``): an aiohttp app with a ``WebhookReceiver(inbox=RedisInbox(...))`` whose handler appends
``start``/``done`` lines to a shared log, so the test sees every run of every handler, even in a
replica it killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from centrepoint_async.receiver import InboundEvent, WebhookReceiver
from centrepoint_async.redis import RedisInbox, RedisRateLimit, RedisUnavailableError
from centrepoint_async.testing import RedisServerProcess

from .helpers_receiver import UPLOAD, bearer, line, spawn


@asynccontextmanager
async def replicas(count: int, **args: Any) -> AsyncIterator[list[tuple[Any, str]]]:
    """``count`` replica processes; yields (process, URL) pairs."""
    async with AsyncExitStack() as stack:
        started = []
        for _ in range(count):
            process = await stack.enter_async_context(
                spawn("replica", module="tests.test_redis_replicas", **args)
            )
            started.append(process)
        urls = [f"http://127.0.0.1:{(await line(p))['port']}/hooks" for p in started]
        yield list(zip(started, urls, strict=True))


async def post(session: aiohttp.ClientSession, url: str, delivery_id: str) -> int:
    async with session.post(url, data=UPLOAD, headers=bearer(delivery_id)) as response:
        return response.status


def runs(log: Path, what: str) -> list[tuple[str, str]]:
    """(delivery id, replica pid) of every ``start`` or ``done`` line so far."""
    if not log.exists():
        return []
    found = []
    for text in log.read_text().splitlines():
        kind, delivery_id, pid = text.split()
        if kind == what:
            found.append((delivery_id, pid))
    return found


async def until(log: Path, what: str, ids: set[str], timeout: float = 60) -> None:
    """Wait until every id in ``ids`` has a ``what`` (start or done) line."""
    deadline = time.monotonic() + timeout
    while missing := ids - {d for d, _ in runs(log, what)}:
        assert time.monotonic() < deadline, f"no {what} line for {sorted(missing)}"
        await asyncio.sleep(0.05)


async def test_three_replicas_each_delivery_sent_twice_handled_once(
    redis_server: RedisServerProcess, tmp_path: Path
) -> None:
    """Round robin over 3 replicas, each delivery to two at once: every one handled exactly once."""
    log = tmp_path / "handled.log"
    ids = [f"r-{n}" for n in range(60)]
    args = {"redis": redis_server.url, "log": str(log), "lease": 5.0}
    async with replicas(3, **args) as running, aiohttp.ClientSession() as session:
        urls = [url for _, url in running]
        answers = await asyncio.gather(
            *(
                asyncio.gather(post(session, urls[n % 3], d), post(session, urls[(n + 1) % 3], d))
                for n, d in enumerate(ids)
            )
        )
        # one replica stored it (202), the other found the id claimed (200)
        assert all(sorted(pair) == [200, 202] for pair in answers), answers
        await until(log, "done", set(ids))
        await asyncio.sleep(1.0)  # time for a second run, if there were going to be one
    assert Counter(d for d, _ in runs(log, "start")) == Counter(ids)
    assert Counter(d for d, _ in runs(log, "done")) == Counter(ids)
    assert len({pid for _, pid in runs(log, "done")}) >= 2  # the replicas shared the work


async def test_a_replica_killed_mid_handler_another_handles_it_after_the_lease(
    redis_server: RedisServerProcess, tmp_path: Path
) -> None:
    """kill -9 the replica running a handler: another replica runs it once its lease expires."""
    log, hang, lease = tmp_path / "handled.log", tmp_path / "hang", 1.0
    hang.touch()  # the first handler to run takes this file and hangs
    args = {"redis": redis_server.url, "log": str(log), "lease": lease, "hang": str(hang)}
    async with replicas(2, **args) as [(a, a_url), (_, _)], aiohttp.ClientSession() as session:
        assert await post(session, a_url, "k-1") == 202
        await until(log, "start", {"k-1"})
        await asyncio.sleep(3 * lease)  # the leaseholder renews it: nobody else starts it
        ((_, holder),) = runs(log, "start")
        assert holder == str(a.pid)
        a.send_signal(signal.SIGKILL)
        await a.wait()
        killed = time.monotonic()
        await until(log, "done", {"k-1"}, timeout=lease + 10)
        assert time.monotonic() - killed >= lease * 0.5  # not before the lease ran out
    ((_, runner),) = runs(log, "done")
    assert runner != str(a.pid)


async def test_redis_stopped_mid_run_then_back_nothing_is_lost(tmp_path: Path) -> None:
    """Redis stops: the limiter raises its typed error, replicas answer 503; back: all handled."""
    log = tmp_path / "handled.log"
    first, second = [f"a-{n}" for n in range(10)], [f"b-{n}" for n in range(10)]
    (tmp_path / "redis").mkdir()
    with RedisServerProcess(tmp_path / "redis", persistent=True) as server:
        args = {"redis": server.url, "log": str(log), "lease": 1.0, "work": 0.2}
        async with (
            replicas(2, **args) as running,
            aiohttp.ClientSession() as session,
            RedisRateLimit(server.url, timeout=1.0) as limit,
        ):
            urls = [url for _, url in running]
            stored = [await post(session, urls[n % 2], d) for n, d in enumerate(first)]
            assert stored == [202] * len(first)
            server.stop()  # some of the first are still pending or being handled
            refused = [await post(session, urls[n % 2], d) for n, d in enumerate(second)]
            assert refused == [503] * len(second)  # CentrePoint will send them again
            with pytest.raises(RedisUnavailableError):
                await limit.acquire()
            await asyncio.sleep(0.5)
            server.start()
            resent = [await post(session, urls[n % 2], d) for n, d in enumerate(second)]
            assert resent == [202] * len(second)
            await limit.release(await limit.acquire())
            await until(log, "done", {*first, *second})


# --- the worker ---------------------------------------------------------------------------


async def _replica(args: dict[str, Any]) -> None:
    """One receiver replica on a free port; prints it, then serves until killed."""
    log, pid = Path(args["log"]), os.getpid()
    hang = Path(args["hang"]) if "hang" in args else None
    inbox = RedisInbox(args["redis"], timeout=1.0)
    receiver = WebhookReceiver(
        bearer_token="t",
        inbox=inbox,
        lease_seconds=args["lease"],
        poll_interval=0.1,
        retry_delay=0.1,
    )

    def record(what: str, event: InboundEvent) -> None:
        with log.open("a") as f:  # one short append: whole lines even across processes
            f.write(f"{what} {event.delivery_id} {pid}\n")

    @receiver.on("upload")
    async def handle(event: InboundEvent) -> None:
        record("start", event)
        if hang is not None:
            try:
                hang.unlink()
            except FileNotFoundError:
                pass
            else:
                await asyncio.Event().wait()  # a handler that never returns
        await asyncio.sleep(args.get("work", 0.0))
        record("done", event)

    app = web.Application()
    receiver.mount(app, "/hooks")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_replica(json.loads(sys.argv[2])))
