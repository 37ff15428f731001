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

from .helpers_receiver import UPLOAD, InboxContract, bearer, nothing, running, stored


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


async def test_each_failed_attempt_is_logged_with_its_traceback_and_told_to_on_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With an inbox, every failed attempt is an ERROR with the traceback, the delivery id and
    what happens next (retry or dead letter), and every on_error hook is told of it."""
    receiver = with_inbox(tmp_path / "inbox.db", max_attempts=2)
    told: list[tuple[str | None, str]] = []
    dead = asyncio.Event()

    @receiver.on("upload")
    async def broken(event: InboundEvent) -> None:
        raise RuntimeError("bug in the handler")

    @receiver.on_error
    async def alert(event: InboundEvent, error: Exception) -> None:
        told.append((event.delivery_id, str(error)))
        if len(told) == 2:
            dead.set()

    with caplog.at_level(logging.ERROR, logger="centrepoint_async.receiver"):
        async with receiver:
            assert (await receiver.process("POST", bearer("f-1"), UPLOAD)).status == 202
            await asyncio.wait_for(dead.wait(), 10)
            for _ in range(400):  # the hook runs just before the inbox records the failure
                if await receiver.dead_letters():
                    break
                await asyncio.sleep(0.025)
    assert told == [("f-1", "bug in the handler")] * 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info is not None for r in errors] == [True, True]
    assert "'f-1' (attempt 1 of 2): retry in" in errors[0].getMessage()
    assert errors[1].getMessage().endswith("'f-1' (attempt 2 of 2): now a dead letter")


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


# --- one process per SQLite inbox file --------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from centrepoint_async.receiver import SQLiteInbox

    async def main():
        inbox = SQLiteInbox(sys.argv[1])
        try:
            await inbox.open()
        except Exception as exc:
            print(f"refused {type(exc).__name__}: {exc}", flush=True)
            sys.exit(2)
        leased = await inbox.lease(f"holder-{sys.argv[2]}", limit=10, seconds=3600)
        print(f"open {len(leased)}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def holder(
    tmp_path: Path, name: str
) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """A process that opens ``tmp_path/inbox.db``, leases everything and holds on to it."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    return running(str(script), str(tmp_path / "inbox.db"), name)


async def said(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()


async def test_a_second_process_on_one_sqlite_inbox_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """One process per inbox file: a second opener gets a ConfigurationError naming the
    holder, and the holder's leases stay its own (nothing runs twice); once the holder is
    killed (-9), the next process opens the file and takes its deliveries over."""
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    await inbox.open()
    for n in range(3):
        await inbox.add(stored(f"d-{n}"))
    await inbox.close()
    async with holder(tmp_path, "a") as first:
        assert await said(first) == "open 3"
        async with holder(tmp_path, "b") as second:
            refusal = await said(second)
            assert await second.wait() == 2
        assert refusal.startswith("refused ConfigurationError: SQLiteInbox")
        assert f"already open (pid {first.pid}, started" in refusal
        assert "one process per inbox file" in refusal
        with contextlib.closing(sqlite3.connect(tmp_path / "inbox.db")) as db:
            owners = db.execute("SELECT DISTINCT owner FROM deliveries").fetchall()
        assert owners == [("holder-a",)]  # the refused opener released nothing
        first.send_signal(signal.SIGKILL)
        await first.wait()
    async with holder(tmp_path, "c") as third:
        assert await said(third) == "open 3"


async def test_two_sqlite_inboxes_on_one_file_in_one_process_are_refused(tmp_path: Path) -> None:
    """The lock holds within one process too; closing the first frees the file."""
    first, second = SQLiteInbox(tmp_path / "x.db"), SQLiteInbox(tmp_path / "x.db")
    await first.open()
    with pytest.raises(cp.ConfigurationError, match=f"already open \\(pid {os.getpid()}"):
        await second.open()
    await first.close()
    await second.open()
    await second.open()  # idempotent
    await second.close()
