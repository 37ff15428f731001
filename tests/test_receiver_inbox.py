"""Inboxes: the Inbox contract (reusable for any implementation), SQLiteInbox, and the receiver's
workers: retries, dead letters, redrive, restarts, kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import centrepoint_async as cp
from centrepoint_async.receiver import (
    InboundEvent,
    Inbox,
    SQLiteInbox,
    StoredDelivery,
    WebhookReceiver,
)

from .test_receiver import UPLOAD, bearer, nothing


def stored(delivery_id: str, body: bytes = b"{}") -> StoredDelivery:
    return StoredDelivery(delivery_id, "upload", 15, body)


class InboxContract:
    """The rules of ``receiver/_inbox.py``. Subclass with an ``inbox`` fixture that yields an
    open, empty inbox to check an implementation (``RedisInbox`` does)."""

    async def test_add_claims_an_id_once_in_every_state(self, inbox: Inbox) -> None:
        """A known id (pending, leased, done or dead) is never stored twice."""
        assert await inbox.add(stored("a"))
        assert not await inbox.add(stored("a", b'{"other": 1}'))
        assert await inbox.add(stored("b")) and await inbox.add(stored("c"))
        leased = {d.delivery_id for d in await inbox.lease("w", limit=10, seconds=30)}
        assert leased == {"a", "b", "c"}
        assert not await inbox.add(stored("a"))
        assert await inbox.complete("a", "w")
        assert await inbox.fail("b", "w", error="boom", retry_in=None)
        assert not await inbox.add(stored("a")) and not await inbox.add(stored("b"))

    async def test_concurrent_adds_of_one_id_store_it_once(self, inbox: Inbox) -> None:
        """Twenty replicas adding the same delivery at once: exactly one stores it."""
        results = await asyncio.gather(*(inbox.add(stored("same")) for _ in range(20)))
        assert results.count(True) == 1

    async def test_lease_returns_what_was_stored_oldest_first_within_limit(
        self, inbox: Inbox
    ) -> None:
        """Leased deliveries carry their body, name and webhook id; limit is respected."""
        for i in range(5):
            assert await inbox.add(StoredDelivery(f"d{i}", "upload", i, f"body {i}".encode()))
            await asyncio.sleep(0.002)  # distinct arrival times
        first = await inbox.lease("w", limit=2, seconds=30)
        assert [(d.delivery_id, d.body, d.webhook_id, d.attempts) for d in first] == [
            ("d0", b"body 0", 0, 0),
            ("d1", b"body 1", 1, 0),
        ]
        assert first[0].name == "upload" and first[0].received_at > 0
        rest = await inbox.lease("w", limit=10, seconds=30)
        assert [d.delivery_id for d in rest] == ["d2", "d3", "d4"]

    async def test_a_lease_is_exclusive_until_it_expires(self, inbox: Inbox) -> None:
        """Another worker gets a delivery only after its holder's lease expired."""
        await inbox.add(stored("x"))
        assert len(await inbox.lease("dead-worker", limit=1, seconds=0.2)) == 1
        assert await inbox.lease("other", limit=1, seconds=30) == []
        await asyncio.sleep(0.3)
        taken = await inbox.lease("other", limit=1, seconds=30)
        assert [d.delivery_id for d in taken] == ["x"]
        # the old holder lost it: it can neither extend, fail nor release it
        assert not await inbox.extend("x", "dead-worker", seconds=30)
        assert not await inbox.fail("x", "dead-worker", error="late", retry_in=0)
        assert not await inbox.release("x", "dead-worker")
        assert await inbox.extend("x", "other", seconds=30)

    async def test_extend_keeps_a_lease_alive(self, inbox: Inbox) -> None:
        """A holder that renews keeps the delivery past the first lease's end."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=0.2)
        for _ in range(3):
            await asyncio.sleep(0.1)
            assert await inbox.extend("x", "w", seconds=0.2)
        assert await inbox.lease("other", limit=1, seconds=30) == []

    async def test_complete_removes_it_from_work(self, inbox: Inbox) -> None:
        """A completed delivery is never leased again; a second complete is False."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=0.1)
        assert await inbox.complete("x", "w")
        assert not await inbox.complete("x", "w")
        await asyncio.sleep(0.2)
        assert await inbox.lease("w", limit=1, seconds=30) == []

    async def test_fail_counts_attempts_and_delays_the_retry(self, inbox: Inbox) -> None:
        """A failed attempt is due again after retry_in, with its count and error."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.fail("x", "w", error="RuntimeError: down", retry_in=0.3)
        assert await inbox.lease("w", limit=1, seconds=30) == []
        await asyncio.sleep(0.4)
        (again,) = await inbox.lease("w", limit=1, seconds=30)
        assert (again.attempts, again.last_error) == (1, "RuntimeError: down")

    async def test_dead_letters_are_listed_and_redriven(self, inbox: Inbox) -> None:
        """fail(retry_in=None) is a dead letter: listed with its body, redriven to pending."""
        await inbox.add(stored("x", b'{"k": 1}'))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.fail("x", "w", error="ValueError: bad", retry_in=None)
        assert await inbox.lease("w", limit=1, seconds=30) == []
        (dead,) = await inbox.dead_letters()
        assert (dead.delivery_id, dead.body, dead.attempts) == ("x", b'{"k": 1}', 1)
        assert dead.last_error == "ValueError: bad"
        assert not await inbox.redrive("unknown")
        assert await inbox.redrive("x") and not await inbox.redrive("x")
        assert await inbox.dead_letters() == []
        (back,) = await inbox.lease("w", limit=1, seconds=30)
        assert back.attempts == 0 and back.body == b'{"k": 1}'

    async def test_release_gives_it_back_untried(self, inbox: Inbox) -> None:
        """A released delivery is due at once, its attempts unchanged."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.release("x", "w")
        (again,) = await inbox.lease("other", limit=1, seconds=30)
        assert again.attempts == 0

    async def test_open_twice_is_harmless(self, inbox: Inbox) -> None:
        """open() on an open inbox changes nothing."""
        await inbox.add(stored("x"))
        await inbox.open()
        assert not await inbox.add(stored("x"))


class TestSQLiteInbox(InboxContract):
    """SQLiteInbox keeps every rule of the Inbox contract."""

    @pytest.fixture
    async def inbox(self, tmp_path: Path) -> AsyncIterator[Inbox]:
        inbox = SQLiteInbox(tmp_path / "inbox.db")
        await inbox.open()
        yield inbox
        await inbox.close()


async def test_sqlite_inbox_survives_reopening_and_releases_leftover_leases(
    tmp_path: Path,
) -> None:
    """What was stored is there after close/open; a lease of the previous run is released."""
    first = SQLiteInbox(tmp_path / "inbox.db")
    await first.open()
    await first.add(stored("x", b"kept"))
    await first.lease("previous-run", limit=1, seconds=3600)
    await first.close()
    second = SQLiteInbox(tmp_path / "inbox.db")
    await second.open()
    (again,) = await second.lease("this-run", limit=1, seconds=30)
    assert again.body == b"kept"
    await second.close()
    # closing(): a connection's own `with` only commits; 3.13 warns about one left open
    with contextlib.closing(sqlite3.connect(tmp_path / "inbox.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_sqlite_retention_forgets_old_ids_and_bounds_bytes(tmp_path: Path) -> None:
    """Done ids past retention are forgotten; so are the oldest once over max_dedupe_bytes."""
    inbox = SQLiteInbox(tmp_path / "inbox.db", retention=0.2, prune_interval=0.01)
    await inbox.open()
    await inbox.add(stored("old"))
    await inbox.lease("w", limit=1, seconds=30)
    await inbox.complete("old", "w")
    assert not await inbox.add(stored("old"))
    await asyncio.sleep(0.3)
    assert await inbox.add(stored("old"))  # forgotten: a resend 7 days later would run again
    await inbox.close()

    bounded = SQLiteInbox(tmp_path / "bounded.db", max_dedupe_bytes=20_000, prune_interval=0.01)
    await bounded.open()
    for i in range(200):
        await bounded.add(stored(f"{i:03d}" + "x" * 200))
    await bounded.lease("w", limit=200, seconds=30)
    for i in range(200):
        await bounded.complete(f"{i:03d}" + "x" * 200, "w")
    await asyncio.sleep(0.02)
    await bounded.add(stored("trigger"))
    assert await bounded.add(stored("000" + "x" * 200))  # the oldest went
    assert not await bounded.add(stored("199" + "x" * 200))  # the newest stayed
    await bounded.close()


async def test_sqlite_group_commit_isolates_a_failing_write(tmp_path: Path) -> None:
    """Writes committed together: one that fails raises for its caller only."""
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    await inbox.open()
    unbindable = StoredDelivery("bad", "upload", object(), b"{}")  # type: ignore[arg-type]
    results = await asyncio.gather(
        inbox.add(stored("a")),
        inbox.add(unbindable),
        inbox.add(stored("b")),
        return_exceptions=True,
    )
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], sqlite3.Error)
    leased = await inbox.lease("w", limit=10, seconds=30)
    assert sorted(d.delivery_id for d in leased) == ["a", "b"]
    await inbox.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"retention": 0},
        {"max_dedupe_bytes": 0},
        {"max_dedupe_bytes": 1.5},
        {"synchronous": "OFF"},
        {"prune_interval": -1},
    ],
)
def test_sqlite_inbox_configuration_errors(kwargs: dict[str, Any], tmp_path: Path) -> None:
    """Non-positive bounds or an unsafe synchronous mode are ConfigurationError."""
    with pytest.raises(cp.ConfigurationError):
        SQLiteInbox(tmp_path / "x.db", **kwargs)


# --- the receiver with an inbox ---------------------------------------------------------------


def with_inbox(path: Path, **kwargs: Any) -> WebhookReceiver:
    options: dict[str, Any] = {"retry_delay": 0.01, "max_retry_delay": 0.05, "poll_interval": 0.05}
    return WebhookReceiver(bearer_token="t", inbox=SQLiteInbox(path), **(options | kwargs))


async def test_stored_delivery_is_202_and_handled_in_the_background(tmp_path: Path) -> None:
    """With an inbox a delivery is answered once stored, then handled; a resend runs nothing."""
    receiver = with_inbox(tmp_path / "inbox.db")
    handled = asyncio.Event()
    got: list[InboundEvent[cp.UploadEvent]] = []

    @receiver.on(cp.UploadEvent)
    async def on_upload(event: InboundEvent[cp.UploadEvent]) -> None:
        got.append(event)
        handled.set()

    async with receiver:
        reply = await receiver.process("POST", bearer(), UPLOAD)
        assert (reply.status, reply.body) == (202, b"stored")
        await asyncio.wait_for(handled.wait(), 10)
        assert (await receiver.process("POST", bearer(), UPLOAD)).body == b"duplicate"
    assert got[0].payload.upload_id == 85045 and got[0].delivery_id == "d-1"
    assert got[0].webhook_id == 15 and len(got) == 1


async def test_failures_are_retried_then_dead_lettered_then_redriven(tmp_path: Path) -> None:
    """A handler that keeps failing: retried max_attempts times, a dead letter, redriven."""
    receiver = with_inbox(tmp_path / "inbox.db", max_attempts=3)
    attempts: list[str | None] = []
    fixed = asyncio.Event()
    ran_after_fix = asyncio.Event()

    @receiver.on("upload")
    async def broken(event: InboundEvent) -> None:
        attempts.append(event.delivery_id)
        if not fixed.is_set():
            raise RuntimeError("bug in the handler")
        ran_after_fix.set()

    async with receiver:
        assert (await receiver.process("POST", bearer(), UPLOAD)).status == 202
        for _ in range(400):
            if await receiver.dead_letters():
                break
            await asyncio.sleep(0.025)
        (dead,) = await receiver.dead_letters()
        assert dead.attempts == 3 and dead.last_error == "RuntimeError: bug in the handler"
        assert len(attempts) == 3
        fixed.set()
        assert await receiver.redrive("d-1")
        await asyncio.wait_for(ran_after_fix.wait(), 10)
        assert await receiver.dead_letters() == [] and len(attempts) == 4
        assert not await receiver.redrive("d-1")


async def test_a_hanging_attempt_times_out_and_is_retried(tmp_path: Path) -> None:
    """attempt_timeout bounds one attempt; the next one runs."""
    receiver = with_inbox(tmp_path / "inbox.db", attempt_timeout=0.1)
    runs: list[int] = []
    done = asyncio.Event()

    @receiver.on("upload")
    async def hangs_once(event: InboundEvent) -> None:
        runs.append(1)
        if len(runs) == 1:
            await asyncio.Event().wait()
        done.set()

    async with receiver:
        await receiver.process("POST", bearer(), UPLOAD)
        await asyncio.wait_for(done.wait(), 10)
    assert len(runs) == 2


async def test_an_inbox_that_cannot_store_gets_503(tmp_path: Path) -> None:
    """If the row cannot be committed, the answer is 503: CentrePoint keeps the delivery."""

    class Broken(SQLiteInbox):
        async def add(self, delivery: StoredDelivery) -> bool:
            raise sqlite3.OperationalError("disk I/O error")

    receiver = WebhookReceiver(bearer_token="t", inbox=Broken(tmp_path / "x.db"))
    receiver.on("upload")(nothing)
    async with receiver:
        assert (await receiver.process("POST", bearer(), UPLOAD)).status == 503


async def test_an_inbox_outage_is_logged_once_then_its_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the inbox cannot lease, the traceback is logged once (not at every poll); when it
    answers again that is said, and the delivery stored before the outage is handled."""
    failures = 6

    class Flaky(SQLiteInbox):
        async def lease(
            self, owner: str, *, limit: int, seconds: float
        ) -> Sequence[StoredDelivery]:
            nonlocal failures
            if failures:
                failures -= 1
                raise sqlite3.OperationalError("database is locked")
            return await super().lease(owner, limit=limit, seconds=seconds)

    receiver = WebhookReceiver(bearer_token="t", inbox=Flaky(tmp_path / "x.db"), poll_interval=0.01)
    handled = asyncio.Event()

    @receiver.on("upload")
    async def on_upload(event: InboundEvent) -> None:
        handled.set()

    with caplog.at_level(logging.DEBUG, logger="centrepoint_async"):
        async with receiver:
            assert (await receiver.process("POST", bearer(), UPLOAD)).status == 202
            await asyncio.wait_for(handled.wait(), 10)
    assert failures == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "could not lease" in errors[0].getMessage()
    assert sum("still fails" in r.getMessage() for r in caplog.records) == 5
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_two_thousand_hanging_handlers_with_an_inbox_lose_nothing(tmp_path: Path) -> None:
    """2,000 stored deliveries whose handlers hang: only `workers` run at once, close() returns
    within its timeout, and after a restart every one of the 2,000 is handled."""
    path = tmp_path / "inbox.db"
    receiver = with_inbox(path, workers=16)
    running = 0
    peak = 0
    all_busy = asyncio.Event()

    @receiver.on("upload")
    async def hang(event: InboundEvent) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 16:
            all_busy.set()
        try:
            await asyncio.Event().wait()
        finally:
            running -= 1

    async with receiver:
        for start in range(0, 2000, 200):
            replies = await asyncio.gather(
                *(
                    receiver.process("POST", bearer(f"d-{i}"), UPLOAD)
                    for i in range(start, start + 200)
                )
            )
            assert {r.status for r in replies} == {202}
        await asyncio.wait_for(all_busy.wait(), 60)
        assert len(asyncio.all_tasks()) < 16 + 10
        loop = asyncio.get_running_loop()
        began = loop.time()
        await receiver.close(timeout=0.2)
        assert loop.time() - began < 5.0  # generous bound over the 0.2 s asked
    assert peak == 16 and running == 0 and len(asyncio.all_tasks()) == 1

    again = with_inbox(path, workers=64)
    handled: set[str | None] = set()
    all_done = asyncio.Event()

    @again.on("upload")
    async def finish(event: InboundEvent) -> None:
        handled.add(event.delivery_id)
        if len(handled) == 2000:
            all_done.set()

    async with again:
        await asyncio.wait_for(all_done.wait(), 120)
    assert handled == {f"d-{i}" for i in range(2000)}


# --- kill -9 between the 2xx and the handler's end --------------------------------------------

SERVER = textwrap.dedent(
    """
    import asyncio, socket, sys
    from pathlib import Path
    from aiohttp import web
    from centrepoint_async.receiver import SQLiteInbox, WebhookReceiver

    db, marks, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    receiver = WebhookReceiver(bearer_token="t", inbox=SQLiteInbox(db), poll_interval=0.05)

    @receiver.on("upload")
    async def handler(event):
        with marks.open("a") as f:
            f.write(f"{mode} {event.delivery_id}\\n")
        if mode == "hang":
            await asyncio.Event().wait()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    print(sock.getsockname()[1], flush=True)
    app = web.Application()
    receiver.mount(app, "/hooks")
    web.run_app(app, sock=sock, print=None)
    """
)


async def start_server(tmp_path: Path, mode: str) -> tuple[asyncio.subprocess.Process, int]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(tmp_path / "inbox.db"),
        str(tmp_path / "marks.txt"),
        mode,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip().isdigit(), f"server did not start: {line!r}"
    return process, int(line)


async def wait_for_mark(path: Path, mark: str) -> None:
    for _ in range(600):
        if path.exists() and mark in path.read_text().splitlines():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{mark!r} never appeared in {path}")


async def test_kill_9_after_the_2xx_and_the_handler_still_runs(tmp_path: Path) -> None:
    """A real process stores a delivery (202), is killed with SIGKILL mid-handler; restarted
    on the same SQLite file, it runs the handler to its end."""
    process, port = await start_server(tmp_path, "hang")
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/hooks"
            async with session.post(url, data=UPLOAD, headers=bearer("k-1")) as response:
                assert response.status == 202
        await wait_for_mark(tmp_path / "marks.txt", "hang k-1")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    restarted, _ = await start_server(tmp_path, "finish")
    try:
        await wait_for_mark(tmp_path / "marks.txt", "finish k-1")
    finally:
        restarted.kill()
        await restarted.wait()
