"""RedisInbox against a real redis-server: the Inbox rules, and replicas as real processes.

The multi-process tests run this module as a worker: ``python -m tests.test_redis_inbox MODE
JSON`` (see :func:`worker`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import centrepoint_async as cp
from centrepoint_async.receiver import InboundEvent, Inbox, StoredDelivery, WebhookReceiver
from centrepoint_async.redis import RedisInbox, RedisUnavailableError
from centrepoint_async.redis._inbox import durability_problem
from centrepoint_async.testing import RedisServerProcess

from .helpers_receiver import UPLOAD, InboxContract, bearer, line, nothing, spawn


def delivery(n: int, body: bytes = b'{"x": 1}') -> StoredDelivery:
    return StoredDelivery(f"d-{n}", "upload", 1000 + n, body)


# --- the rules, one process ---------------------------------------------------------------


class TestRedisInboxContract(InboxContract):
    """RedisInbox keeps every rule of the receiver's Inbox contract."""

    @pytest.fixture
    async def inbox(self, redis_server: RedisServerProcess) -> AsyncIterator[Inbox]:
        inbox = RedisInbox(redis_server.url)
        await inbox.open()
        yield inbox
        await inbox.close()


async def test_add_stores_once_and_claims_the_id(redis_server: RedisServerProcess) -> None:
    """The first add of an id stores it; any later add of that id stores nothing."""
    async with RedisInbox(redis_server.url) as inbox:
        await inbox.open()
        await inbox.open()  # idempotent
        assert await inbox.add(delivery(1))
        assert not await inbox.add(delivery(1, body=b"other"))
        (got,) = await inbox.lease("w", limit=10, seconds=30)
        assert (got.delivery_id, got.name, got.webhook_id, got.body) == (
            "d-1",
            "upload",
            1001,
            b'{"x": 1}',
        )
        assert got.attempts == 0 and got.last_error is None
        assert abs(got.received_at - time.time()) < 60  # Unix time, by Redis's clock
        assert isinstance(inbox, Inbox)


async def test_two_replicas_adding_the_same_ids_at_once_store_each_once(
    redis_server: RedisServerProcess,
) -> None:
    """Two inboxes on one prefix adding the same 100 ids concurrently: one True per id."""
    async with RedisInbox(redis_server.url) as a, RedisInbox(redis_server.url) as b:
        results = await asyncio.gather(
            *(inbox.add(delivery(n)) for n in range(100) for inbox in (a, b))
        )
        assert sum(results) == 100
        assert all(results[i] != results[i + 1] for i in range(0, 200, 2))
        leased = await a.lease("w", limit=1000, seconds=30)
        assert sorted(d.delivery_id for d in leased) == sorted(f"d-{n}" for n in range(100))


async def test_leases_are_exclusive_oldest_first(redis_server: RedisServerProcess) -> None:
    """Concurrent leases by several owners never hand one delivery to two; oldest first."""
    async with RedisInbox(redis_server.url) as inbox:
        for n in range(30):
            await inbox.add(delivery(n))
        first = await inbox.lease("a", limit=3, seconds=30)
        assert [d.delivery_id for d in first] == ["d-0", "d-1", "d-2"]
        rest = await asyncio.gather(*(inbox.lease(f"o{k}", limit=4, seconds=30) for k in range(9)))
        ids = [d.delivery_id for batch in rest for d in batch]
        assert len(ids) == len(set(ids)) == 27
        assert not await inbox.lease("late", limit=10, seconds=30)


async def test_a_lease_expires_and_the_old_owner_loses_it(redis_server: RedisServerProcess) -> None:
    """A lease not renewed expires: another owner takes it; the first can no longer act."""
    async with RedisInbox(redis_server.url) as inbox:
        await inbox.add(delivery(1))
        await inbox.lease("a", limit=1, seconds=0.3)
        assert not await inbox.lease("b", limit=1, seconds=30)
        assert await inbox.extend("d-1", "a", seconds=0.3)
        assert not await inbox.extend("d-1", "b", seconds=30)  # not b's
        await asyncio.sleep(0.5)
        assert not await inbox.extend("d-1", "a", seconds=30)  # expired
        (taken,) = await inbox.lease("b", limit=1, seconds=30)
        assert taken.delivery_id == "d-1"
        assert not await inbox.fail("d-1", "a", error="late", retry_in=0)
        assert not await inbox.release("d-1", "a")
        assert await inbox.complete("d-1", "a")  # its handlers did succeed: done whoever holds it


async def test_complete_keeps_only_the_id(redis_server: RedisServerProcess) -> None:
    """A handled delivery's body is dropped; its id still dedupes; complete twice is False."""
    async with RedisInbox(redis_server.url, prefix="p") as inbox:
        await inbox.add(delivery(1, body=b"x" * 10_000))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.complete("d-1", "w")
        assert not await inbox.complete("d-1", "w")
        assert not await inbox.add(delivery(1))
        redis = inbox._conn().client
        assert await redis.exists("{p}:d:d-1") == 0
        assert await redis.zscore("{p}:done", "d-1") is not None


async def test_fail_retries_later_then_dead_letters_and_redrive(
    redis_server: RedisServerProcess,
) -> None:
    """fail(retry_in) makes it due later with attempts+1; fail(None) is dead; redrive revives."""
    async with RedisInbox(redis_server.url) as inbox:
        await inbox.add(delivery(1))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.fail("d-1", "w", error="boom", retry_in=0.3)
        assert not await inbox.lease("w", limit=1, seconds=30)  # not due yet
        await asyncio.sleep(0.4)
        (again,) = await inbox.lease("w", limit=1, seconds=30)
        assert (again.attempts, again.last_error) == (1, "boom")
        assert await inbox.fail("d-1", "w", error="boom twice", retry_in=None)
        assert not await inbox.lease("w", limit=1, seconds=30)
        assert not await inbox.add(delivery(1))  # a dead id is known too
        (dead,) = await inbox.dead_letters()
        assert (dead.delivery_id, dead.attempts, dead.last_error) == ("d-1", 2, "boom twice")
        assert dead.body == b'{"x": 1}'
        assert await inbox.redrive("d-1")
        assert not await inbox.redrive("d-1")
        assert not await inbox.dead_letters()
        (revived,) = await inbox.lease("w", limit=1, seconds=30)
        assert revived.attempts == 0


async def test_release_gives_it_back_at_once(redis_server: RedisServerProcess) -> None:
    """release() (shutdown) puts a delivery back, untried, ahead of newer ones."""
    async with RedisInbox(redis_server.url) as inbox:
        await inbox.add(delivery(1))
        await inbox.lease("w", limit=1, seconds=30)
        await inbox.add(delivery(2))
        assert await inbox.release("d-1", "w")
        assert [d.delivery_id for d in await inbox.lease("v", limit=2, seconds=30)] == [
            "d-1",
            "d-2",
        ]


async def test_done_ids_are_forgotten_after_retention(redis_server: RedisServerProcess) -> None:
    """Past ``retention`` a done id is forgotten (a resend is new); before, it is known."""
    async with RedisInbox(redis_server.url, retention=0.3) as inbox:
        for n in (1, 2):
            await inbox.add(delivery(n))
        await inbox.lease("w", limit=2, seconds=30)
        await inbox.complete("d-1", "w")
        assert not await inbox.add(delivery(1))
        await asyncio.sleep(0.4)
        await inbox.complete("d-2", "w")  # completing is when old ids are swept
        assert await inbox.add(delivery(1))
        assert not await inbox.add(delivery(2))
    assert RedisInbox(redis_server.url).retention == 7 * 24 * 3600


async def test_the_dedupe_record_is_bounded_and_says_so(
    redis_server: RedisServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Over ``max_dedupe_bytes`` the oldest ids go first, with a warning; pending ones stay."""
    async with RedisInbox(redis_server.url, max_dedupe_bytes=9) as inbox:  # three "d-N" ids
        for n in range(6):
            await inbox.add(delivery(n))
        await inbox.lease("w", limit=5, seconds=30)
        with caplog.at_level(logging.WARNING, "centrepoint_async.receiver"):
            for n in range(5):
                await inbox.complete(f"d-{n}", "w")
        assert "younger than the retention" in caplog.text
        assert [await inbox.add(delivery(n)) for n in range(6)] == [True, True] + [False] * 4


async def test_redis_down_is_a_typed_error_and_stored_deliveries_survive(
    tmp_path: Path,
) -> None:
    """Redis stopped: add raises RedisUnavailableError; back (with AOF) nothing stored is lost."""
    with RedisServerProcess(tmp_path, persistent=True) as server:
        async with RedisInbox(server.url, timeout=1.0) as inbox:
            await inbox.add(delivery(1))
            server.stop()
            with pytest.raises(RedisUnavailableError) as caught:
                await inbox.add(delivery(2))
            assert isinstance(caught.value, cp.TransportError)
            server.start()
            assert await inbox.add(delivery(2))
            got = await inbox.lease("w", limit=10, seconds=30)
            assert [d.delivery_id for d in got] == ["d-1", "d-2"]


async def test_a_hung_redis_makes_the_receiver_answer_503(
    redis_server: RedisServerProcess,
) -> None:
    """Redis that accepts but never answers (SIGSTOP): 503 within the timeout; none lost."""
    receiver = WebhookReceiver(
        bearer_token="t", inbox=RedisInbox(redis_server.url, timeout=0.3), poll_interval=0.05
    )
    handled: list[str | None] = []

    @receiver.on("upload")
    async def handle(event: InboundEvent) -> None:
        handled.append(event.delivery_id)

    async with receiver:
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            reply = await asyncio.wait_for(receiver.process("POST", bearer("h-1"), UPLOAD), 10)
            assert reply.status == 503
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        # the add may have reached Redis before the timeout: then the resend is a duplicate
        assert (await receiver.process("POST", bearer("h-1"), UPLOAD)).status in (200, 202)
        for _ in range(200):
            if handled:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    assert handled == ["h-1"]


async def test_a_replica_started_while_redis_is_away_answers_503_then_works(
    redis_server: RedisServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Starting with Redis down does not fail: 503 until Redis is back, then 202 and handled."""
    inbox = RedisInbox(redis_server.url, timeout=0.5)
    receiver = WebhookReceiver(bearer_token="t", inbox=inbox, poll_interval=0.05)
    handled = asyncio.Event()

    @receiver.on("upload")
    async def handle(event: InboundEvent) -> None:
        handled.set()

    redis_server.stop()
    with caplog.at_level(logging.WARNING, "centrepoint_async.receiver"):
        async with receiver:
            assert "503 until it answers" in caplog.text
            assert (await receiver.process("POST", bearer("s-1"), UPLOAD)).status == 503
            redis_server.start()
            assert (await receiver.process("POST", bearer("s-1"), UPLOAD)).status == 202
            await asyncio.wait_for(handled.wait(), 10)


# --- durability ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"appendonly": "yes", "appendfsync": "always"}, None),
        ({"appendonly": "yes", "appendfsync": "everysec"}, None),
        ({"appendonly": "yes", "appendfsync": "no"}, "appendonly yes, appendfsync no"),
        ({"appendonly": "no", "appendfsync": "everysec"}, "appendonly no, appendfsync everysec"),
        ({"appendonly": "", "appendfsync": ""}, "appendonly ?, appendfsync ?"),
        (None, "does not allow CONFIG GET"),
    ],
)
def test_durability_rule(settings: dict[str, str] | None, problem: str | None) -> None:
    """Durable: the append-only file, fsynced always or every second; anything else, or a
    server that hides its settings, is a problem that names the opt-out."""
    found = durability_problem("redis://h:6379/0", settings)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert "allow_non_durable=True" in found and "redis://h:6379/0" in found


@pytest.mark.parametrize(
    ("persistent", "args", "reason"),
    [
        (False, [], "is not durable (appendonly no"),
        (True, ["--appendfsync", "no"], "is not durable (appendonly yes, appendfsync no)"),
        (True, ["--rename-command", "CONFIG", ""], "does not allow CONFIG GET"),
    ],
    ids=["no-aof", "fsync-no", "config-disabled"],
)
async def test_a_redis_that_could_lose_deliveries_is_refused_unless_allowed(
    tmp_path: Path, persistent: bool, args: list[str], reason: str
) -> None:
    """Against real servers: no append-only file, one never fsynced, or CONFIG disabled (as
    managed Redis does): open() and so the receiver's start raise a ConfigurationError that
    says why and names the opt-out; with allow_non_durable=True the inbox works."""
    with RedisServerProcess(tmp_path, persistent=persistent, args=args) as server:
        receiver = WebhookReceiver(bearer_token="t", inbox=RedisInbox(server.url))
        receiver.on("upload")(nothing)
        with pytest.raises(cp.ConfigurationError, match="allow_non_durable=True") as refused:
            await receiver.start()
        assert reason in str(refused.value)
        assert (await receiver.process("POST", bearer(), UPLOAD)).status == 503  # never 2xx
        await receiver.close()
        async with RedisInbox(server.url, allow_non_durable=True) as inbox:
            await inbox.open()
            assert await inbox.add(delivery(1))


async def test_a_redis_away_at_open_is_checked_before_the_first_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Started while Redis was down, the inbox checks durability when Redis is back, before
    it acknowledges anything: a non-durable server then gets 503s, never a 202."""
    server = RedisServerProcess(tmp_path, persistent=False)
    receiver = WebhookReceiver(bearer_token="t", inbox=RedisInbox(server.url, timeout=0.5))
    receiver.on("upload")(nothing)
    with caplog.at_level(logging.WARNING, "centrepoint_async.receiver"):
        async with receiver:  # Redis is not running yet: a warning, not a failure
            assert "503 until it answers" in caplog.text
            with server:
                assert (await receiver.process("POST", bearer(), UPLOAD)).status == 503
    assert "is not durable" in caplog.text


async def test_the_durable_test_server_keeps_what_was_stored_across_kill_9(
    redis_server: RedisServerProcess,
) -> None:
    """The fixture's server (accepted as durable) loses nothing acknowledged when Redis itself
    is killed with SIGKILL and restarted."""
    async with RedisInbox(redis_server.url, timeout=1.0) as inbox:
        await inbox.open()
        assert all([await inbox.add(delivery(n)) for n in range(200)])
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGKILL)
        redis_server.process.wait()
        redis_server.start()
        leased = await inbox.lease("w", limit=500, seconds=30)
    assert sorted(d.delivery_id for d in leased) == sorted(f"d-{n}" for n in range(200))


def test_bad_arguments_are_configuration_errors() -> None:
    """Bad URLs and settings are refused at once; the repr hides a password."""
    with pytest.raises(cp.ConfigurationError):
        RedisInbox("postgres://x")
    with pytest.raises(cp.ConfigurationError):
        RedisInbox("redis://x", prefix="")
    with pytest.raises(cp.ConfigurationError):
        RedisInbox("redis://x", retention=0)
    assert "hunter2" not in repr(RedisInbox("redis://:hunter2@x:6379/0"))


# --- replicas as processes, sharing the inbox -----------------------------------------------


async def test_three_processes_handle_each_delivery_exactly_once(
    redis_server: RedisServerProcess,
) -> None:
    """Three worker processes leasing from one inbox: every delivery handled exactly once."""
    async with RedisInbox(redis_server.url) as inbox:
        for n in range(300):
            await inbox.add(delivery(n))
    args = {"redis": redis_server.url, "count": 300, "lease": 5.0}
    async with spawn_inbox("work", **args) as a, spawn_inbox("work", **args) as b:
        async with spawn_inbox("work", **args) as c:
            handled = [(await line(p, 120))["handled"] for p in (a, b, c)]
    ids = [d for batch in handled for d in batch]
    assert sorted(ids) == sorted(f"d-{n}" for n in range(300))
    assert sum(1 for batch in handled if batch) >= 2  # the work was shared


async def test_a_killed_worker_s_delivery_is_taken_over_after_its_lease(
    redis_server: RedisServerProcess,
) -> None:
    """SIGKILL a process mid-handler: no one else runs it while alive; another after the lease."""
    lease = 1.0
    async with RedisInbox(redis_server.url) as inbox:
        await inbox.add(delivery(1))
        async with spawn_inbox("stuck", redis=redis_server.url, lease=lease) as stuck:
            assert (await line(stuck))["leased"] == "d-1"
            await asyncio.sleep(3 * lease)  # its lease is renewed while the handler runs
            assert not await inbox.lease("other", limit=1, seconds=30)
            stuck.send_signal(signal.SIGKILL)
            await stuck.wait()
            killed = time.monotonic()
        while not (taken := await inbox.lease("other", limit=1, seconds=30)):
            assert time.monotonic() - killed < lease + 5
            await asyncio.sleep(0.05)
        assert taken[0].delivery_id == "d-1"
        assert await inbox.complete("d-1", "other")


def spawn_inbox(mode: str, **args: Any) -> Any:
    """This module as a worker process (see :func:`worker`)."""
    return spawn(mode, module="tests.test_redis_inbox", **args)


# --- the worker ---------------------------------------------------------------------------


async def _work(args: dict[str, Any]) -> None:
    """Lease and handle until ``count`` deliveries are done by everyone; print what it handled."""
    owner = f"worker-{os.getpid()}"
    handled: list[str] = []
    async with RedisInbox(args["redis"]) as inbox:
        redis = inbox._conn().client
        while await redis.zcard("{centrepoint:inbox}:done") < args["count"]:
            for d in await inbox.lease(owner, limit=5, seconds=args["lease"]):
                await asyncio.sleep(0.005)  # the handler
                assert await inbox.complete(d.delivery_id, owner)
                handled.append(d.delivery_id)
            await asyncio.sleep(0.001)
    print(json.dumps({"handled": handled}), flush=True)


async def _stuck(args: dict[str, Any]) -> None:
    """Lease one delivery and run a handler that never ends, renewing the lease as it runs."""
    owner = f"worker-{os.getpid()}"
    async with RedisInbox(args["redis"]) as inbox:
        (d,) = await inbox.lease(owner, limit=1, seconds=args["lease"])
        print(json.dumps({"leased": d.delivery_id}), flush=True)
        while True:  # the handler, until killed
            await asyncio.sleep(args["lease"] / 4)
            assert await inbox.extend(d.delivery_id, owner, seconds=args["lease"])


def worker(mode: str, args: dict[str, Any]) -> None:
    """Run one worker: ``work`` (lease and handle) or ``stuck`` (a handler that hangs)."""
    asyncio.run({"work": _work, "stuck": _stuck}[mode](args))


if __name__ == "__main__":
    worker(sys.argv[1], json.loads(sys.argv[2]))
