"""RedisRateLimit: the sliding window of RateLimit, one sorted set in Redis for every process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar, TypeVar

from .._exceptions import ConfigurationError, RedisUnavailableError
from .._protocol import safe_url
from .._ratelimit import RateLimit
from ._common import NOW_LUA, US, Connection, RedisOwner

__all__ = ["RedisRateLimit"]

log = logging.getLogger("centrepoint_async")
T = TypeVar("T")

# --- Lua: each runs atomically inside Redis, on Redis's own clock ---------------------------
# The holds are a sorted set: member = one request's hold, score = when it expires (us).

# KEYS: holds, pause. ARGV: member, budget, period_us, lease_us.
# Returns {0, 0} when the place is taken; {1, us} while paused; {2, us} until one may free.
_ACQUIRE = (
    NOW_LUA
    + """
local resume = tonumber(redis.call('GET', KEYS[2]) or '0')
if resume > now then
  return {1, resume - now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local period, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  -- in flight: expires a window (and a lease) after now, renewed while the request runs
  redis.call('ZADD', KEYS[1], now + period + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil((period + lease) / 1000) + 1000)
  return {0, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {2, tonumber(first[2]) - now}
"""
)

# KEYS: holds. ARGV: period_us, lease_us, member. The answer came: the place frees a window
# from now (the server saw the request at the latest now).
_RELEASE = (
    NOW_LUA
    + """
local period, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + period, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil((period + lease) / 1000) + 1000)
return 0
"""
)

# KEYS: holds. ARGV: period_us, lease_us, members... Holds still in flight are pushed on (GT:
# never brought nearer); one that Redis lost (restarted empty, evicted) is put back.
_RENEW = (
    NOW_LUA
    + """
local period, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'GT', now + period + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil((period + lease) / 1000) + 1000)
return 0
"""
)

# KEYS: pause. ARGV: seconds in us. A later, shorter pause never shortens an earlier one.
_PAUSE = (
    NOW_LUA
    + """
local wait = tonumber(ARGV[1])
local resume = now + wait
if resume > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], resume, 'PX', math.ceil(wait / 1000) + 1)
end
return 0
"""
)

# KEYS: holds. The places held now, by every process.
_INUSE = (
    NOW_LUA
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


class RedisRateLimit(RedisOwner):
    """A :class:`~centrepoint_async.RateLimit` shared by every process that uses the same key.

    ``CentrePointClient(rate_limit=RedisRateLimit("redis://host:6379/0"))`` in each process (or
    host behind one IP address): together they send at most the budget (``max_requests`` less
    ``margin``) in any window of ``period`` seconds. Each request holds a place from the moment
    it is sent until ``period`` after its answer, as with ``RateLimit``; the places are one
    Redis sorted set, taken and given back by one atomic Lua script each, on Redis's clock.

    - A 429 seen by any process (:meth:`pause`, called by the client with ``Retry-After``
      already capped to its retry budget) holds every process until it has passed.
    - A request in flight has its place renewed every ``lease / 2`` seconds; if its process
      dies (even ``kill -9``), the place frees at most ``period + lease`` after the last
      renewal, so a crash never leaks the ceiling. ``lease`` defaults to a tenth of ``period``.
      If Redis restarts empty, renewing puts the places in flight back; those of requests
      answered in the last window are forgotten (the ``margin`` and the 429 pause cover that).
    - Each Redis call is bounded by ``timeout`` seconds. If Redis is down or slow, taking a
      place raises :class:`RedisUnavailableError` (a ``TransportError``, so the client's retry
      policy tries again, then gives up with it): never silently unlimited. Giving a place back
      that fails is only logged: the place then frees by its lease.

    Close it (``async with`` or :meth:`aclose`) when done; clients never close it.
    """

    _SCRIPTS: ClassVar[Mapping[str, str]] = {
        "acquire": _ACQUIRE,
        "release": _RELEASE,
        "renew": _RENEW,
        "pause": _PAUSE,
        "in_use": _INUSE,
    }

    def __init__(
        self,
        url: str,
        *,
        key: str = "centrepoint:ratelimit",
        max_requests: int = 500,
        period: float = 60.0,
        margin: float = 0.03,
        lease: float | None = None,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(url, timeout)
        shape = RateLimit(max_requests, period, margin=margin)  # validates as RateLimit does
        if not isinstance(key, str) or not key:
            raise ConfigurationError("key must be a non-empty string")
        lease = shape.period / 10 if lease is None else lease
        if not (isinstance(lease, int | float) and math.isfinite(lease) and lease > 0):
            raise ConfigurationError(f"lease must be a positive number of seconds, got {lease!r}")
        self.key = key
        self.max_requests = shape.max_requests
        self.period = shape.period
        #: Requests allowed to hold a place in the window at once, all processes together.
        self.budget = shape.budget
        self.lease = float(lease)
        self._keys = [f"{key}:holds", f"{key}:pause"]
        self._us = (round(self.period * US), round(self.lease * US))
        self._ids = (f"{uuid.uuid4().hex}:{n}" for n in itertools.count())
        self._held: set[str] = set()  # this process's places still in flight
        self._turn: asyncio.Lock | None = None
        self._resume_at = 0.0  # loop time when the last pause this process knows of ends
        self._renewer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"RedisRateLimit({safe_url(self.url)!r}, key={self.key!r}, "
            f"max_requests={self.max_requests}, period={self.period})"
        )

    def _on_new_loop(self) -> None:
        self._turn = asyncio.Lock()
        self._renewer = None
        self._held.clear()
        self._resume_at = 0.0

    @property
    def paused_for(self) -> float:
        """Seconds left of the last pause this process knows of (set here or seen in Redis)."""
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    def _paused(self, seconds: float) -> None:
        resume_at = asyncio.get_running_loop().time() + seconds
        self._resume_at = max(self._resume_at, resume_at)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place in the shared window for one request: ``async with limit.slot(): ...``."""
        member = await self.acquire()
        try:
            yield
        finally:
            await self.release(member)

    async def acquire(self) -> str:
        """Wait for a place; returns its id, to give to :meth:`release` once answered.

        Raises :class:`RedisUnavailableError` when Redis cannot be reached.
        """
        redis = self._conn()
        assert self._turn is not None
        member = next(self._ids)
        async with self._turn:  # one waiter per process asks Redis; the others queue here
            while True:
                status, wait_us = await redis.script(
                    "acquire", self._keys, [member, self.budget, *self._us]
                )
                if status == 0:
                    break
                wait = int(wait_us) / US
                if status == 1:
                    self._paused(wait)  # another process's 429, shown by progress displays
                if status == 2:
                    # the first place to free may still be in flight; a release elsewhere can
                    # free one sooner, so look again after half a lease at the latest
                    wait = min(wait, self.lease / 2)
                await asyncio.sleep(max(wait, 0.001))
        self._held.add(member)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(redis), name="RedisRateLimit renew")
        return member

    async def release(self, member: str) -> None:
        """The request holding ``member`` got its answer (or failed): free it a window from now."""
        self._held.discard(member)
        try:
            await self._conn().script("release", self._keys[:1], [*self._us, member])
        except RedisUnavailableError as exc:
            log.warning("rate-limit place not given back (it frees by its lease): %s", exc)
        if not self._held and self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None

    async def _renew(self, redis: Connection) -> None:
        """Push on the expiry of this process's places in flight while they are."""
        while self._held:
            await asyncio.sleep(self.lease / 2)
            try:
                await redis.script("renew", self._keys[:1], [*self._us, *self._held])
            except RedisUnavailableError as exc:
                log.warning("rate-limit places not renewed: %s", exc)

    async def pause(self, seconds: float) -> None:
        """Hold every request of every process sharing this key for ``seconds`` from now."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds)) or seconds <= 0:
            return
        await self._conn().script("pause", self._keys[1:], [math.ceil(seconds * US)])
        self._paused(seconds)

    async def in_use(self) -> int:
        """The places held right now, by every process sharing the key."""
        return int(await self._conn().script("in_use", self._keys[:1], []))

    async def aclose(self) -> None:
        """Stop renewing, and close the connections to Redis."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        await super().aclose()
