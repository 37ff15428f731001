"""What the receiver and Redis test modules share: deliveries, servers, worker processes, and
the Inbox contract (a test class any inbox implementation subclasses)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

from centrepoint_async.receiver import InboundEvent, Inbox, StoredDelivery

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).parent / "samples" / "events"
UPLOAD = (SAMPLES / "upload_completed.json").read_bytes()


# --- deliveries ---------------------------------------------------------------------------------


def independent_signature(body: bytes, secret: str) -> str:
    """Computed here with hmac + base64 only, not with the SDK."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def basic(user: str, password: str) -> str:
    """An ``Authorization`` header value for Basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def delivery_headers(event: str = "upload", delivery: str = "d-1", **extra: str) -> dict[str, str]:
    """The headers CentrePoint sends with a delivery (names in its mixed case)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "ActiGraph-Hookshot/1.0",
        "x-actigraph-webhook-id": "15",
        "x-actigraph-event": event,
        "x-actigraph-delivery": delivery,
        "X-Client-Cert-Used": "false",
        **extra,
    }


def bearer(delivery: str = "d-1", event: str = "upload") -> dict[str, str]:
    """Delivery headers with the Bearer token ``t``."""
    return delivery_headers(event, delivery, Authorization="Bearer t")


async def nothing(event: InboundEvent) -> None:
    """A handler that does nothing and succeeds."""


def stored(delivery_id: str, body: bytes = b"{}") -> StoredDelivery:
    """A stored upload delivery of webhook 15."""
    return StoredDelivery(delivery_id, "upload", 15, body)


# --- servers ------------------------------------------------------------------------------------


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port (not listening yet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[int]:
    """Serve an ASGI app with a real uvicorn on a loopback port (yielded), lifespan on."""
    sock = loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # a server that cannot start fails the test
                raise AssertionError("uvicorn stopped before it started (its start-up failed)")
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


# --- worker processes ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(
    *argv: str, stderr: int | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python ARGV`` with its stdout piped (killed if still running when the block ends)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, **(env or {})},
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def spawn(
    mode: str, *, module: str, env: dict[str, str] | None = None, **args: Any
) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """A test module as a worker process: ``python -m MODULE MODE JSON``; ``env`` is added to
    the environment."""
    return running("-m", module, mode, json.dumps(args), env=env)


async def line(process: asyncio.subprocess.Process, timeout: float = 60) -> dict[str, Any]:
    """The next JSON line a worker printed."""
    assert process.stdout is not None
    text = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert text, "the worker exited early"
    result: dict[str, Any] = json.loads(text)
    return result


# --- the Inbox contract -------------------------------------------------------------------------


class InboxContract:
    """The rules of ``receiver/_inbox.py``. Subclass with an ``inbox`` fixture that yields an
    open, empty inbox to check an implementation (``SQLiteInbox`` and ``RedisInbox`` do)."""

    async def test_add_claims_an_id_once_in_every_state(self, inbox: Inbox) -> None:
        """A known id (pending, leased, done or dead) is never stored twice."""
        assert await inbox.add(stored("a"))
        assert not await inbox.add(stored("a", b'{"other": 1}'))
        assert await inbox.add(stored("b")) and await inbox.add(stored("c"))
        leased = {d.delivery_id for d in await inbox.lease("w", limit=10, seconds=30)}
        assert leased == {"a", "b", "c"}
        assert not await inbox.add(stored("a"))
        assert await inbox.complete("a", "w")
        assert await inbox.fail("b", "w", error="boom", retry_in=None)
        assert not await inbox.add(stored("a")) and not await inbox.add(stored("b"))

    async def test_concurrent_adds_of_one_id_store_it_once(self, inbox: Inbox) -> None:
        """Twenty replicas adding the same delivery at once: exactly one stores it."""
        results = await asyncio.gather(*(inbox.add(stored("same")) for _ in range(20)))
        assert results.count(True) == 1

    async def test_lease_returns_what_was_stored_oldest_first_within_limit(
        self, inbox: Inbox
    ) -> None:
        """Leased deliveries carry their body, name and webhook id; limit is respected."""
        for i in range(5):
            assert await inbox.add(StoredDelivery(f"d{i}", "upload", i, f"body {i}".encode()))
            await asyncio.sleep(0.002)  # distinct arrival times
        first = await inbox.lease("w", limit=2, seconds=30)
        assert [(d.delivery_id, d.body, d.webhook_id, d.attempts) for d in first] == [
            ("d0", b"body 0", 0, 0),
            ("d1", b"body 1", 1, 0),
        ]
        assert first[0].name == "upload" and first[0].received_at > 0
        rest = await inbox.lease("w", limit=10, seconds=30)
        assert [d.delivery_id for d in rest] == ["d2", "d3", "d4"]

    async def test_a_lease_is_exclusive_until_it_expires(self, inbox: Inbox) -> None:
        """Another worker gets a delivery only after its holder's lease expired."""
        await inbox.add(stored("x"))
        assert len(await inbox.lease("dead-worker", limit=1, seconds=0.2)) == 1
        assert await inbox.lease("other", limit=1, seconds=30) == []
        await asyncio.sleep(0.3)
        taken = await inbox.lease("other", limit=1, seconds=30)
        assert [d.delivery_id for d in taken] == ["x"]
        # the old holder lost it: it can neither extend, fail nor release it
        assert not await inbox.extend("x", "dead-worker", seconds=30)
        assert not await inbox.fail("x", "dead-worker", error="late", retry_in=0)
        assert not await inbox.release("x", "dead-worker")
        assert await inbox.extend("x", "other", seconds=30)

    async def test_extend_keeps_a_lease_alive(self, inbox: Inbox) -> None:
        """A holder that renews keeps the delivery past the first lease's end."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=0.2)
        for _ in range(3):
            await asyncio.sleep(0.1)
            assert await inbox.extend("x", "w", seconds=0.2)
        assert await inbox.lease("other", limit=1, seconds=30) == []

    async def test_complete_removes_it_from_work(self, inbox: Inbox) -> None:
        """A completed delivery is never leased again; a second complete is False."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=0.1)
        assert await inbox.complete("x", "w")
        assert not await inbox.complete("x", "w")
        await asyncio.sleep(0.2)
        assert await inbox.lease("w", limit=1, seconds=30) == []

    async def test_fail_counts_attempts_and_delays_the_retry(self, inbox: Inbox) -> None:
        """A failed attempt is due again after retry_in, with its count and error."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.fail("x", "w", error="RuntimeError: down", retry_in=0.3)
        assert await inbox.lease("w", limit=1, seconds=30) == []
        await asyncio.sleep(0.4)
        (again,) = await inbox.lease("w", limit=1, seconds=30)
        assert (again.attempts, again.last_error) == (1, "RuntimeError: down")

    async def test_dead_letters_are_listed_and_redriven(self, inbox: Inbox) -> None:
        """fail(retry_in=None) is a dead letter: listed with its body, redriven to pending."""
        await inbox.add(stored("x", b'{"k": 1}'))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.fail("x", "w", error="ValueError: bad", retry_in=None)
        assert await inbox.lease("w", limit=1, seconds=30) == []
        (dead,) = await inbox.dead_letters()
        assert (dead.delivery_id, dead.body, dead.attempts) == ("x", b'{"k": 1}', 1)
        assert dead.last_error == "ValueError: bad"
        assert not await inbox.redrive("unknown")
        assert await inbox.redrive("x") and not await inbox.redrive("x")
        assert await inbox.dead_letters() == []
        (back,) = await inbox.lease("w", limit=1, seconds=30)
        assert back.attempts == 0 and back.body == b'{"k": 1}'

    async def test_release_gives_it_back_untried(self, inbox: Inbox) -> None:
        """A released delivery is due at once, its attempts unchanged."""
        await inbox.add(stored("x"))
        await inbox.lease("w", limit=1, seconds=30)
        assert await inbox.release("x", "w")
        (again,) = await inbox.lease("other", limit=1, seconds=30)
        assert again.attempts == 0

    async def test_open_twice_is_harmless(self, inbox: Inbox) -> None:
        """open() on an open inbox changes nothing."""
        await inbox.add(stored("x"))
        await inbox.open()
        assert not await inbox.add(stored("x"))
