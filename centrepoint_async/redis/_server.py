"""A throwaway ``redis-server`` on loopback, for tests and benchmarks (as FakeCentrePoint is)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

__all__ = ["RedisServerProcess"]


class RedisServerProcess:
    """``redis-server`` on a free loopback port, its files in a directory of its own.

    ``with RedisServerProcess() as server: ... server.url``. :meth:`stop` and :meth:`start`
    again (same port, same directory) take Redis away and bring it back, as an outage would.
    Nothing is persisted unless ``persistent=True`` (an append-only file, synced on every
    write, so what was stored survives :meth:`stop` and :meth:`start`). Raises
    ``RuntimeError`` when ``redis-server`` is not installed or does not start.
    """

    def __init__(
        self, directory: Path | None = None, *, port: int = 0, persistent: bool = False
    ) -> None:
        self.persistent = persistent
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
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"RedisServerProcess({self.url!r})"

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it answers ``PING``."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--save", "", "--daemonize", "no", "--loglevel", "warning"]
        aof = ["yes", "--appendfsync", "always"] if self.persistent else ["no"]
        args += ["--appendonly", *aof]
        self.process = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _answers(self) -> bool:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.settimeout(1.0)
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        """Stop the server (its data goes with it). Safe to call twice."""
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
