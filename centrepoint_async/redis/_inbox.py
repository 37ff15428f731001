"""RedisInbox: the receiver's inbox and dedupe record, shared by every replica.

The states of :mod:`centrepoint_async.receiver._inbox` are sorted sets, each delivery's data a
hash; every operation is one Lua script, so a state change is atomic and two replicas never
see a delivery half moved. Keys (``B`` is ``{prefix}``: the braces keep every key of one inbox
in one Redis Cluster slot)::

    B:pending   id -> when it is due (us)          B:d:<id>  hash: name, webhook_id, body,
    B:leased    id -> when the lease expires (us)            received_at, attempts, last_error,
    B:dead      id -> when it died (us)                      due, owner
    B:done      id -> when it was handled (us)     B:done-bytes  total length of the done ids

A done delivery keeps only its id in ``B:done`` (the dedupe record). Times come from Redis
``TIME``.

A delivery answered 2xx must survive a restart of Redis, so :meth:`RedisInbox.open` (and the
first ``add`` after a start while Redis was away) reads ``CONFIG GET appendonly`` and
``appendfsync`` and refuses a server that would lose it (:func:`durability_problem`), unless
``allow_non_durable=True``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .._exceptions import ConfigurationError, RedisUnavailableError
from .._protocol import safe_url
from ..receiver import DEFAULT_MAX_DEDUPE_BYTES, DEFAULT_RETENTION, StoredDelivery
from ._common import NOW_LUA, US, RedisOwner

__all__ = ["RedisInbox"]

log = logging.getLogger("centrepoint_async.receiver")

# KEYS: pending, leased, dead, done, done-bytes. ARGV[1]: the prefix of the data hashes.
_PRELUDE = (
    NOW_LUA
    + """
local function data(id) return ARGV[1] .. id end
local function held(id, owner)
  local expires = redis.call('ZSCORE', KEYS[2], id)
  return expires and tonumber(expires) > now and redis.call('HGET', data(id), 'owner') == owner
end
"""
)

# ARGV: prefix, id, name, webhook_id ('' for none), body. 1 if stored, 0 if the id is known.
_ADD = """
local id = ARGV[2]
if redis.call('EXISTS', data(id)) == 1 or redis.call('ZSCORE', KEYS[4], id) then
  return 0
end
redis.call('HSET', data(id), 'name', ARGV[3], 'body', ARGV[5], 'received_at', now,
           'attempts', 0, 'due', now)
if ARGV[4] ~= '' then redis.call('HSET', data(id), 'webhook_id', ARGV[4]) end
redis.call('ZADD', KEYS[1], now, id)
return 1
"""

# ARGV: prefix, owner, limit, seconds (us). Expired leases go back to pending first (at their
# old due time, so they come first); then the oldest due, each with its fields.
_LEASE = """
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', data(id), 'owner')
  redis.call('ZADD', KEYS[1], redis.call('HGET', data(id), 'due') or now, id)
end
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  if redis.call('EXISTS', data(id)) == 1 then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), id)
    redis.call('HSET', data(id), 'owner', ARGV[2])
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGETALL', data(id))
  end
end
return out
"""

# ARGV: prefix, id, owner, seconds (us).
_EXTEND = """
if not held(ARGV[2], ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[2])
return 1
"""

# ARGV: prefix, id, retention (us), max bytes. Returns {done, ids forgotten before retention}.
_COMPLETE = """
local id = ARGV[2]
if not (redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id)) then
  return {0, 0}
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('DEL', data(id))
redis.call('ZADD', KEYS[4], now, id)
redis.call('INCRBY', KEYS[5], #id)
local horizon = now - tonumber(ARGV[3])
-- forget ids past retention (a bounded number per call: the next calls take the rest)
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', horizon, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[4], old)
  redis.call('DECRBY', KEYS[5], #old)
end
-- then, only if still over the bound, the oldest first
local early = 0
while tonumber(redis.call('GET', KEYS[5]) or '0') > tonumber(ARGV[4]) do
  local popped = redis.call('ZPOPMIN', KEYS[4])
  if #popped == 0 then break end
  redis.call('DECRBY', KEYS[5], #popped[1])
  if tonumber(popped[2]) > horizon then early = early + 1 end
end
return {1, early}
"""

# ARGV: prefix, id, owner, error, retry_in (us; '' for dead).
_FAIL = """
local id = ARGV[2]
if not held(id, ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[2], id)
redis.call('HINCRBY', data(id), 'attempts', 1)
redis.call('HSET', data(id), 'last_error', ARGV[4])
redis.call('HDEL', data(id), 'owner')
if ARGV[5] == '' then
  redis.call('ZADD', KEYS[3], now, id)
else
  local due = now + tonumber(ARGV[5])
  redis.call('HSET', data(id), 'due', due)
  redis.call('ZADD', KEYS[1], due, id)
end
return 1
"""

# ARGV: prefix, id, owner. Back to pending at its old due time: at once, ahead of newer ones.
_RELEASE = """
local id = ARGV[2]
if not held(id, ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', data(id), 'owner')
redis.call('ZADD', KEYS[1], redis.call('HGET', data(id), 'due') or now, id)
return 1
"""

# ARGV: prefix, limit.
_DEAD_LETTERS = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[2]) - 1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', data(id))
end
return out
"""

# ARGV: prefix, id.
_REDRIVE = """
local id = ARGV[2]
if not redis.call('ZSCORE', KEYS[3], id) then return 0 end
redis.call('ZREM', KEYS[3], id)
redis.call('HSET', data(id), 'attempts', 0, 'due', now)
redis.call('ZADD', KEYS[1], now, id)
return 1
"""


def _stored(delivery_id: bytes, flat: list[bytes]) -> StoredDelivery:
    """A delivery from its id and its hash (``HGETALL``: field, value, field, value...)."""
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    webhook_id = fields.get(b"webhook_id")
    last_error = fields.get(b"last_error")
    return StoredDelivery(
        delivery_id=delivery_id.decode(),
        name=fields.get(b"name", b"").decode(),
        webhook_id=int(webhook_id) if webhook_id is not None else None,
        body=fields.get(b"body", b""),
        received_at=int(float(fields.get(b"received_at", b"0"))) / US,
        attempts=int(fields.get(b"attempts", b"0")),
        last_error=last_error.decode() if last_error is not None else None,
    )


def _deliveries(out: list[Any]) -> list[StoredDelivery]:
    return [_stored(out[i], out[i + 1]) for i in range(0, len(out), 2)]


def _us(seconds: float, name: str) -> int:
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
        raise ConfigurationError(f"{name} must be a non-negative number of seconds")
    return math.ceil(seconds * US)


#: ``appendfsync`` values under which an acknowledged write survives a crash: ``always`` (also
#: a power cut), ``everysec`` (a crash of Redis; at most about a second lost to a power cut).
DURABLE_FSYNC = frozenset({"always", "everysec"})

_OPT_OUT = "pass RedisInbox(..., allow_non_durable=True) to accept that risk"


def durability_problem(url: str, settings: dict[str, str] | None) -> str | None:
    """Why Redis at ``url`` would lose acknowledged deliveries, or ``None`` if it would not.

    ``settings`` are its ``CONFIG GET appendonly`` and ``appendfsync`` answers; ``None`` when
    the server does not allow ``CONFIG`` (managed Redis often renames or forbids it).
    """
    if settings is None:
        return (
            f"Redis at {url} does not allow CONFIG GET (managed Redis often disables it), so "
            "RedisInbox cannot check that it keeps what it acknowledged across a restart. "
            "Make sure persistence is on (the append-only file, appendonly yes, with "
            f"appendfsync everysec or always) in your provider's settings, then {_OPT_OUT}"
        )
    appendonly = settings.get("appendonly", "")
    fsync = settings.get("appendfsync", "")
    if appendonly == "yes" and fsync in DURABLE_FSYNC:
        return None
    return (
        f"Redis at {url} is not durable (appendonly {appendonly or '?'}, appendfsync "
        f"{fsync or '?'}): a restart of Redis would lose deliveries already answered 2xx. "
        "Turn on the append-only file (appendonly yes, appendfsync everysec or always, in "
        f"redis.conf or with CONFIG SET), or {_OPT_OUT}"
    )


async def _persistence(client: aioredis.Redis) -> dict[str, str] | None:
    """``appendonly`` and ``appendfsync`` as Redis reports them; ``None`` if CONFIG is refused."""
    try:
        found = await client.config_get("append*")
    except ResponseError:  # unknown command (renamed away) or NOPERM (an ACL)
        return None
    text = {_str(k): _str(v) for k, v in found.items()}
    return {name: text.get(name, "") for name in ("appendonly", "appendfsync")}


def _str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisInbox(RedisOwner):
    """An inbox (``WebhookReceiver(inbox=...)``) that several receiver replicas share.

    Every replica gives the same ``url`` and ``prefix``: a delivery CentrePoint sends to any of
    them is stored with its id claimed in one atomic script before the 2xx, so a resend that
    lands on another replica is recognised; each stored delivery is leased to one worker of one
    replica at a time, and a lease that is not renewed (its replica died) expires so another
    takes it over. Handled ids are remembered ``retention`` seconds (default 7 days), within
    ``max_dedupe_bytes`` of ids.

    Each Redis call is bounded by ``timeout`` seconds; a Redis that is down or slow raises
    :class:`~centrepoint_async.redis.RedisUnavailableError`, and the receiver answers 503, so
    CentrePoint sends again later. (A store that timed out may still have reached Redis: the
    resend then gets 200, and the delivery is handled once.)

    A delivery is as durable as Redis is configured to be, so the inbox refuses (with a
    ``ConfigurationError`` from :meth:`open`, and the receiver does not start) a Redis without
    the append-only file (``appendonly yes``, ``appendfsync everysec`` or ``always``), or one
    that does not allow ``CONFIG GET`` to check it, unless ``allow_non_durable=True``.
    """

    _SCRIPTS: ClassVar[dict[str, str]] = {
        name: _PRELUDE + lua
        for name, lua in {
            "add": _ADD,
            "lease": _LEASE,
            "extend": _EXTEND,
            "complete": _COMPLETE,
            "fail": _FAIL,
            "release": _RELEASE,
            "dead_letters": _DEAD_LETTERS,
            "redrive": _REDRIVE,
        }.items()
    }

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "centrepoint:inbox",
        retention: float = DEFAULT_RETENTION,
        max_dedupe_bytes: int = DEFAULT_MAX_DEDUPE_BYTES,
        timeout: float = 5.0,
        allow_non_durable: bool = False,
    ) -> None:
        super().__init__(url, timeout)
        if not isinstance(allow_non_durable, bool):
            raise ConfigurationError("allow_non_durable must be True or False")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError("prefix must be a non-empty string")
        if not (isinstance(retention, int | float) and retention > 0):
            raise ConfigurationError(f"retention must be a positive number, got {retention!r}")
        if not isinstance(max_dedupe_bytes, int) or max_dedupe_bytes < 1:
            raise ConfigurationError("max_dedupe_bytes must be a positive integer")
        self.prefix = prefix
        self.retention = float(retention)
        self.max_dedupe_bytes = max_dedupe_bytes
        self.allow_non_durable = allow_non_durable
        self._checked = False  # Redis was found durable (or the check is waived)
        base = "{" + prefix + "}"
        self._keys = [f"{base}:{state}" for state in ("pending", "leased", "dead", "done")]
        self._keys.append(f"{base}:done-bytes")
        self._data = f"{base}:d:"

    def __repr__(self) -> str:
        return f"RedisInbox({safe_url(self.url)!r}, prefix={self.prefix!r})"

    async def _run(self, name: str, *args: Any) -> Any:
        return await self._conn().script(name, self._keys, [self._data, *args])

    async def open(self) -> None:
        """Check that Redis answers and is durable (``ConfigurationError`` if it is not).

        A replica that starts while Redis is away still starts: its deliveries get 503 (so
        CentrePoint sends them again) until Redis is back and found durable, instead of the
        replica failing.
        """
        try:
            await self._check()
        except RedisUnavailableError as exc:
            log.warning("%s; deliveries get 503 until it answers", exc)
        except ConfigurationError:
            await self.aclose()  # refused: nothing is left open
            raise

    async def _check(self) -> None:
        redis = self._conn()
        if self.allow_non_durable:
            await redis.call("ping", redis.client.ping)
        else:
            settings = await redis.call("read its settings", lambda: _persistence(redis.client))
            problem = durability_problem(redis.url, settings)
            if problem is not None:
                raise ConfigurationError(problem)
        self._checked = True

    async def close(self) -> None:
        """Close the connections; every stored delivery stays in Redis."""
        await self.aclose()

    async def add(self, delivery: StoredDelivery) -> bool:
        """Store ``delivery`` as pending and claim its id, in one script; ``False`` if known."""
        if not self._checked:  # Redis was away at open(): nothing is acknowledged unchecked
            await self._check()
        webhook_id = "" if delivery.webhook_id is None else str(delivery.webhook_id)
        stored = await self._run(
            "add", delivery.delivery_id, delivery.name, webhook_id, delivery.body
        )
        return bool(stored)

    async def lease(self, owner: str, *, limit: int, seconds: float) -> Sequence[StoredDelivery]:
        """Up to ``limit`` due pending deliveries, oldest first, leased to ``owner``."""
        if limit < 1:
            return []
        return _deliveries(await self._run("lease", owner, limit, _us(seconds, "seconds")))

    async def extend(self, delivery_id: str, owner: str, *, seconds: float) -> bool:
        """Renew ``owner``'s lease for ``seconds`` from now; ``False`` if it no longer holds it."""
        return bool(await self._run("extend", delivery_id, owner, _us(seconds, "seconds")))

    async def complete(self, delivery_id: str, owner: str) -> bool:
        """Handled: drop the body, keep the id for dedupe; ``False`` if it was not pending."""
        done, early = await self._run(
            "complete", delivery_id, _us(self.retention, "retention"), self.max_dedupe_bytes
        )
        if early:
            log.warning(
                "dedupe record over max_dedupe_bytes=%d: %d id(s) younger than the retention "
                "forgotten; a resend of those would be handled again",
                self.max_dedupe_bytes,
                early,
            )
        return bool(done)

    async def fail(
        self, delivery_id: str, owner: str, *, error: str, retry_in: float | None
    ) -> bool:
        """``attempts + 1``; pending again in ``retry_in`` seconds, or dead when ``None``."""
        retry = "" if retry_in is None else _us(retry_in, "retry_in")
        return bool(await self._run("fail", delivery_id, owner, error, retry))

    async def release(self, delivery_id: str, owner: str) -> bool:
        """Give the lease back untried: pending again at once, ``attempts`` unchanged."""
        return bool(await self._run("release", delivery_id, owner))

    async def dead_letters(self, *, limit: int = 100) -> Sequence[StoredDelivery]:
        """Dead deliveries, oldest first."""
        if limit < 1:
            return []
        return _deliveries(await self._run("dead_letters", limit))

    async def redrive(self, delivery_id: str) -> bool:
        """A dead delivery back to pending with ``attempts = 0``; ``False`` if it is not dead."""
        return bool(await self._run("redrive", delivery_id))
