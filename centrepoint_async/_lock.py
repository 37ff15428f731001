"""One writer per output file: an exclusive lock on ``PATH.lock``, held for a run.

POSIX locks with ``fcntl.flock``, Windows with ``msvcrt.locking`` (one byte past the holder's
record, so that others can still read who holds it). Each module is imported where the lock
is taken, never at import time: ``import centrepoint_async`` works on every platform.

The lock file holds the holder's pid and start time, so a refused export can name it. The
operating system drops the lock when its process dies, however it dies (``kill -9``
included): the lock file a dead process leaves behind is stale by construction and is simply
taken over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from pathlib import Path
from typing import Self

import orjson

__all__ = ["LockHeld", "OutputLock"]

#: Bytes of the holder's record read back (the record is one short line).
_RECORD_MAX = 4096
#: Where Windows locks its one byte: past any record, so reading the record is never blocked.
_LOCK_BYTE = 1 << 16
#: errno values of a lock another process holds.
_HELD = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK})


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


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting: True if taken, False if another holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt  # Windows only: imported where the lock is taken

            os.lseek(fd, _LOCK_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl  # POSIX only: imported where the lock is taken

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _HELD:
            return False
        raise
    return True


def _read_record(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, _RECORD_MAX)


def _write_record(fd: int, record: bytes) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, record)
    os.fsync(fd)


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
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        while True:
            fd = os.open(self.lock_path, flags, 0o644)
            try:
                taken = _try_lock(fd)
                holder = b"" if taken else _read_record(fd)
            except OSError:
                os.close(fd)
                raise
            if not taken:
                os.close(fd)
                raise LockHeld(_describe(holder))
            # the holder we raced may have removed the file after we opened it: a lock on an
            # unlinked file protects nothing, so start again on the file now at the path
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        try:
            _write_record(fd, orjson.dumps({"pid": os.getpid(), "started": time.time()}))
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        """Remove the lock file and drop the lock.

        POSIX removes first (see :meth:`acquire`); Windows cannot remove an open file, so it
        closes first, and a file another process has opened meanwhile stays (it is theirs).
        """
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform == "win32":
            os.close(fd)
            with contextlib.suppress(FileNotFoundError, PermissionError):
                self.lock_path.unlink()
            return
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        os.close(fd)  # closing drops the flock
