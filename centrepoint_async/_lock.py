"""One writer per output file: an exclusive ``fcntl.flock`` on ``PATH.lock``, held for a run.

The lock file holds the holder's pid and start time, so a refused export can name it. The
kernel drops a ``flock`` when its process dies, however it dies (``kill -9`` included): the
lock file a dead process leaves behind is stale by construction and is simply taken over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Self

import orjson

__all__ = ["LockHeld", "OutputLock"]


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` describes it ("pid 12, started ...")."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _describe(raw: bytes) -> str:
    """'pid 1234, started 2026-11-28 18:00:00 UTC' from a lock file's content, if readable."""
    try:
        info = orjson.loads(raw)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["started"])))
        return f"pid {int(info['pid'])}, started {started}"
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError):
        return "holder unknown"


class OutputLock:
    """An exclusive lock on ``path`` (through ``path.lock``), for ``with`` blocks.

    ``acquire()`` never waits: if another process holds the lock it raises :class:`LockHeld`
    naming that process. Writing the holder's details also proves,
    before any request is sent, that the output's directory takes new files (an unwritable
    place or a full disk fails here).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockHeld`; OSError if it cannot be written."""
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 4096, 0)  # the holder's one line, far shorter than this
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise LockHeld(_describe(holder)) from None
                raise
            # the holder we raced may have removed the file after we opened it: a lock on an
            # unlinked file protects nothing, so start again on the file now at the path
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            record = orjson.dumps({"pid": os.getpid(), "started": time.time()})
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            os.fsync(fd)
        except OSError:
            self._fd = fd
            self.release()
            raise
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (removing first: see :meth:`acquire`)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None
