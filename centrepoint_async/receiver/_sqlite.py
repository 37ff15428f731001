"""SQLiteInbox: the embedded :class:`~centrepoint_async.receiver.Inbox` for one process.

Standard-library ``sqlite3`` on one thread of its own (calls are serialised there and awaited
from the event loop), WAL journal, every change committed before the call returns: a delivery
answered 2xx is on disk, and survives ``kill -9``. With ``synchronous="FULL"`` (the default) it
also survives a power cut; ``"NORMAL"`` is faster and still survives the process dying.

One process per file, enforced: :meth:`~SQLiteInbox.open` takes an exclusive lock on
``PATH.lock`` (an ``flock``, which the kernel drops when its process dies, ``kill -9``
included), and a second opener, in another process or this one, gets a ``ConfigurationError``
naming the holder before it touches anything. So on open every lease left over is released at
once (its holder was this program before it stopped), and pending deliveries run again on
start. Several replicas need a shared inbox: ``centrepoint_async.redis.RedisInbox``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from os import PathLike, fspath
from pathlib import Path
from typing import Any, Literal, TypeVar

from .._exceptions import ConfigurationError
from .._lock import LockHeld, OutputLock
from .._protocol import check_count, check_number
from ._inbox import DEFAULT_MAX_DEDUPE_BYTES, DEFAULT_RETENTION, StoredDelivery

__all__ = ["SQLiteInbox"]

log = logging.getLogger("centrepoint_async.receiver")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    webhook_id INTEGER,
    body BLOB,                      -- NULL once done: only the id is kept, for dedupe
    received_at REAL NOT NULL,
    state TEXT NOT NULL,            -- 'pending' (leased when lease_until > now), 'done', 'dead'
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    due_at REAL NOT NULL,           -- a pending delivery is not leased before this
    owner TEXT,
    lease_until REAL,
    done_at REAL,
    size INTEGER NOT NULL           -- bytes a done record counts against max_dedupe_bytes
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due_at);
CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (done_at) WHERE state = 'done';
"""
_RECORD_OVERHEAD = 100  # a done row's bytes beyond its id: other columns, index entries
# the columns a StoredDelivery is read from, in the order _record() unpacks them
_COLUMNS = "delivery_id, name, webhook_id, body, received_at, attempts, last_error"


class SQLiteInbox:
    """Deliveries in a SQLite file at ``path``, kept until handled (see the module docstring).

    ``retention`` (seconds, default 7 days) and ``max_dedupe_bytes`` bound the ids of handled
    deliveries kept for dedupe, enforced on an ``add`` at most every ``prune_interval``
    seconds; pending and dead deliveries are never dropped.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        retention: float = DEFAULT_RETENTION,
        max_dedupe_bytes: int = DEFAULT_MAX_DEDUPE_BYTES,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        prune_interval: float = 60.0,
    ) -> None:
        check_number(retention, "retention")
        check_number(prune_interval, "prune_interval")
        check_count(max_dedupe_bytes, "max_dedupe_bytes")
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = path
        self.retention = float(retention)
        self.max_dedupe_bytes = max_dedupe_bytes
        self.synchronous = synchronous
        self.prune_interval = float(prune_interval)
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._lock: OutputLock | None = None  # held while open: one process per file
        self._done_bytes = 0
        self._pruned = 0.0
        self._queue: list[tuple[Callable[[sqlite3.Connection, float], Any], asyncio.Future[Any]]]
        self._queue = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SQLiteInbox({str(self.path)!r})"

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None or self._thread is None:
            raise ConfigurationError("this SQLiteInbox is not open")
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, db)

    async def open(self) -> None:
        """Lock the file, create it and its table if needed, release leftover leases.

        Idempotent. ``ConfigurationError`` when another process (or another ``SQLiteInbox``
        of this one) has the file open.
        """
        if self._db is not None:
            return
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-inbox")
        try:
            db = await asyncio.get_running_loop().run_in_executor(thread, self._connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        self._db, self._thread = db, thread

    def _connect(self) -> sqlite3.Connection:
        name = fspath(self.path)
        with contextlib.ExitStack() as undo:  # what is done so far, undone if a step fails
            if name not in ("", ":memory:"):  # a file, not a database in memory
                self._lock = _take_lock(Path(name))
                undo.callback(self._unlock)
            db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
            undo.callback(db.close)
            self._setup(db)
            undo.pop_all()
        return db

    def _unlock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _setup(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.executescript(_SCHEMA)
        with _transaction(db):
            db.execute("UPDATE deliveries SET owner = NULL, lease_until = NULL")
            (total,) = db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM deliveries WHERE state = 'done'"
            ).fetchone()
        self._done_bytes = int(total)

    async def close(self) -> None:
        """Close the file; everything stored stays stored."""
        if self._db is None or self._thread is None:
            return
        if self._flusher is not None:
            await self._flusher  # writes under way are committed (or fail) first
        db, thread = self._db, self._thread
        self._db = self._thread = None

        def disconnect() -> None:
            try:
                db.close()
            finally:
                self._unlock()

        await asyncio.get_running_loop().run_in_executor(thread, disconnect)
        thread.shutdown(wait=True)

    async def _write(self, op: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``op(db, now)`` in a transaction committed before this returns.

        Writes that arrive while a commit is under way share the next one (group commit: one
        fsync for many deliveries); each runs in a savepoint, so one failing leaves the
        others be.
        """
        if self._db is None:
            raise ConfigurationError("this SQLiteInbox is not open")
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((op, waiter))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        result: T = await waiter
        return result

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            ops = [op for op, _ in batch]
            try:
                outcomes = await self._run(functools.partial(self._apply, ops=ops))
            except Exception as exc:  # the commit failed: nothing of the batch is stored
                outcomes = [(False, exc)] * len(batch)
            for (_, waiter), (ok, value) in zip(batch, outcomes, strict=True):
                if waiter.done():  # a caller that gave up: what it asked is done anyway
                    continue
                if ok:
                    waiter.set_result(value)
                else:
                    waiter.set_exception(value)

    def _apply(
        self, db: sqlite3.Connection, ops: list[Callable[[sqlite3.Connection, float], Any]]
    ) -> list[tuple[bool, Any]]:
        now = time.time()
        outcomes: list[tuple[bool, Any]] = []
        with _transaction(db):
            if now - self._pruned > self.prune_interval:
                self._prune(db, now)
            for op in ops:
                db.execute("SAVEPOINT op")
                try:
                    outcomes.append((True, op(db, now)))
                except Exception as exc:
                    db.execute("ROLLBACK TO op")
                    outcomes.append((False, exc))
                db.execute("RELEASE op")
        return outcomes

    async def add(self, delivery: StoredDelivery) -> bool:
        """Store ``delivery`` as pending, committed; ``False`` if its id is already known."""

        def add(db: sqlite3.Connection, now: float) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO deliveries (delivery_id, name, webhook_id, body,"
                " received_at, state, attempts, due_at, size)"
                " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                (
                    delivery.delivery_id,
                    delivery.name,
                    delivery.webhook_id,
                    delivery.body,
                    now,
                    now,
                    sys.getsizeof(delivery.delivery_id) + _RECORD_OVERHEAD,
                ),
            )
            return cursor.rowcount == 1

        return await self._write(add)

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        """Forget done ids past retention, then the oldest while over the byte bound."""
        self._pruned = now
        for (size,) in db.execute(
            "DELETE FROM deliveries WHERE state = 'done' AND done_at < ? RETURNING size",
            (now - self.retention,),
        ).fetchall():
            self._done_bytes -= size
        forgot_young = False
        while self._done_bytes > self.max_dedupe_bytes:
            oldest = db.execute(
                "SELECT delivery_id, size, done_at FROM deliveries WHERE state = 'done'"
                " ORDER BY done_at LIMIT 1000"  # a batch: the excess is usually far smaller
            ).fetchall()
            if not oldest:
                break
            excess, doomed = self._done_bytes - self.max_dedupe_bytes, []
            for delivery_id, size, done_at in oldest:
                doomed.append((delivery_id,))
                excess -= size
                self._done_bytes -= size
                forgot_young |= now - done_at < self.retention
                if excess <= 0:
                    break
            db.executemany("DELETE FROM deliveries WHERE delivery_id = ?", doomed)
        if forgot_young:
            log.warning("SQLiteInbox over max_dedupe_bytes: forgot handled ids within retention")

    async def lease(self, owner: str, *, limit: int, seconds: float) -> Sequence[StoredDelivery]:
        """Up to ``limit`` due pending deliveries, oldest due first, leased to ``owner``."""

        def lease(db: sqlite3.Connection, now: float) -> list[StoredDelivery]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM deliveries"  # noqa: S608 (_COLUMNS is a constant)
                " WHERE state = 'pending' AND due_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?",
                (now, now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE deliveries SET owner = ?, lease_until = ? WHERE delivery_id = ?",
                [(owner, now + seconds, row[0]) for row in rows],
            )
            return [_record(row) for row in rows]

        return await self._write(lease)

    async def extend(self, delivery_id: str, owner: str, *, seconds: float) -> bool:
        """Renew ``owner``'s lease; ``False`` if it no longer holds it."""
        return await self._update(
            "UPDATE deliveries SET lease_until = :now + :seconds WHERE delivery_id = :id"
            " AND state = 'pending' AND owner = :owner AND lease_until > :now",
            id=delivery_id,
            owner=owner,
            seconds=seconds,
        )

    async def complete(self, delivery_id: str, owner: str) -> bool:
        """Handled: the body goes, the id stays for dedupe."""

        def complete(db: sqlite3.Connection, now: float) -> bool:
            row = db.execute(
                "UPDATE deliveries SET state = 'done', body = NULL, owner = NULL,"
                " lease_until = NULL, done_at = ? WHERE delivery_id = ? AND state = 'pending'"
                " RETURNING size",
                (now, delivery_id),
            ).fetchone()
            if row is not None:
                self._done_bytes += row[0]
            return row is not None

        return await self._write(complete)

    async def fail(
        self, delivery_id: str, owner: str, *, error: str, retry_in: float | None
    ) -> bool:
        """One more failed attempt: pending again in ``retry_in`` seconds, or dead."""
        return await self._update(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = :error,"
            " owner = NULL, lease_until = NULL,"
            " state = CASE WHEN :retry_in IS NULL THEN 'dead' ELSE 'pending' END,"
            " due_at = :now + COALESCE(:retry_in, 0) WHERE delivery_id = :id"
            " AND state = 'pending' AND owner = :owner AND lease_until > :now",
            id=delivery_id,
            owner=owner,
            error=error,
            retry_in=retry_in,
        )

    async def release(self, delivery_id: str, owner: str) -> bool:
        """Give the lease back untried: pending again at once."""
        return await self._update(
            "UPDATE deliveries SET owner = NULL, lease_until = NULL, due_at = MIN(due_at, :now)"
            " WHERE delivery_id = :id AND state = 'pending' AND owner = :owner"
            " AND lease_until > :now",
            id=delivery_id,
            owner=owner,
        )

    async def dead_letters(self, *, limit: int = 100) -> Sequence[StoredDelivery]:
        """Dead deliveries, oldest first."""

        def dead(db: sqlite3.Connection) -> list[StoredDelivery]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM deliveries"  # noqa: S608 (_COLUMNS is a constant)
                " WHERE state = 'dead' ORDER BY received_at LIMIT ?",
                (limit,),
            ).fetchall()
            return [_record(row) for row in rows]

        return await self._run(dead)

    async def redrive(self, delivery_id: str) -> bool:
        """A dead delivery back to pending, attempts from zero."""
        return await self._update(
            "UPDATE deliveries SET state = 'pending', attempts = 0, due_at = :now"
            " WHERE delivery_id = :id AND state = 'dead'",
            id=delivery_id,
        )

    async def _update(self, sql: str, **params: object) -> bool:
        def update(db: sqlite3.Connection, now: float) -> bool:
            return db.execute(sql, {"now": now, **params}).rowcount == 1

        return await self._write(update)


def _take_lock(path: Path) -> OutputLock:
    lock = OutputLock(path)
    try:
        lock.acquire()
    except LockHeld as held:
        raise ConfigurationError(
            f"SQLiteInbox {str(path)!r} is already open ({held.holder}): one process per inbox "
            "file (replicas share a centrepoint_async.redis.RedisInbox)"
        ) from None
    return lock


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on an error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _record(row: tuple[object, ...]) -> StoredDelivery:
    # one row of _COLUMNS
    delivery_id, name, webhook_id, body, received_at, attempts, last_error = row
    return StoredDelivery(
        delivery_id=str(delivery_id),
        name=str(name),
        webhook_id=webhook_id if isinstance(webhook_id, int) else None,
        body=bytes(body) if isinstance(body, bytes | bytearray | memoryview) else b"",
        received_at=float(received_at) if isinstance(received_at, int | float) else 0.0,
        attempts=int(attempts) if isinstance(attempts, int) else 0,
        last_error=last_error if isinstance(last_error, str) else None,
    )
