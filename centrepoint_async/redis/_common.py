"""What the Redis-backed parts share: a connection per event loop, each call under a timeout."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .._exceptions import ConfigurationError, RedisUnavailableError
from .._protocol import safe_url

T = TypeVar("T")

#: Lua prelude: ``now`` in microseconds by Redis's own clock (``TIME``), so the clocks of the
#: hosts sharing a key never matter.
NOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""
US = 1_000_000  # microseconds a second


class Connection:
    """One ``redis.asyncio`` client and its scripts, each call under a timeout.

    A redis-py connection belongs to the event loop that opened it, so the owner makes one of
    these per loop.
    """

    def __init__(self, url: str, timeout: float, scripts: Mapping[str, str]) -> None:
        self.url = safe_url(url)
        self.timeout = timeout
        # one reconnect per call: a pooled connection may be stale after Redis restarted
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self.scripts = {name: self.client.register_script(lua) for name, lua in scripts.items()}
        self.loop = asyncio.get_running_loop()

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` within the timeout; any failure becomes :class:`RedisUnavailableError`."""
        try:
            async with asyncio.timeout(self.timeout):
                return await fn()
        except (RedisError, OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise RedisUnavailableError(f"Redis at {self.url} failed to {what}: {reason}") from None

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.call(name, lambda: self.scripts[name](keys=keys, args=args))

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisOwner:
    """Keeps one :class:`Connection` per event loop, opened on first use, closed by ``aclose``."""

    _SCRIPTS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, url: str, timeout: float) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigurationError("url must be a redis://, rediss:// or unix:// URL")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError(f"timeout must be a positive number, got {timeout!r}")
        self.url = url
        self.timeout = float(timeout)
        self._redis: Connection | None = None

    def _conn(self) -> Connection:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis.loop is not loop:
            self._redis = Connection(self.url, self.timeout, self._SCRIPTS)
            self._on_new_loop()
        return self._redis

    def _on_new_loop(self) -> None:
        """Reset what belongs to the previous event loop."""

    async def aclose(self) -> None:
        """Close the connections to Redis (they reopen if the object is used again)."""
        redis, self._redis = self._redis, None
        if redis is not None and redis.loop is asyncio.get_running_loop():
            await redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
