"""RedisServerProcess: the throwaway redis-server the Redis tests and benchmarks start."""

from __future__ import annotations

import socket

import pytest

from centrepoint_async.redis import RedisServerProcess


def _pong(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16)


def test_starts_answers_and_cleans_up_its_directory() -> None:
    """``with RedisServerProcess()`` serves on loopback, then stops and removes its files."""
    with RedisServerProcess() as server:
        assert _pong(server.port).startswith(b"+PONG")
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        directory = server.directory
        assert directory.is_dir()
    assert server.process is None
    assert not directory.exists()
    server.stop()  # twice is harmless


def test_a_missing_redis_server_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-server on PATH, starting raises (so the tests that need it fail)."""
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match="not installed"), RedisServerProcess():
        pass
