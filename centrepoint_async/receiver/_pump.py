"""With an inbox: a delivery is stored before its answer, then workers lease and handle it.

The pump is one task: it leases due deliveries while workers are free, renews the leases of
those running, and sleeps until woken (a delivery stored, a worker free) or ``poll_interval``
passed. Each worker runs one delivery's handlers (up to ``attempt_timeout``), then completes it,
or fails it with a backoff (``_retry.backoff``) until ``max_attempts`` make it a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .._converter import parse_payload
from .._retry import backoff
from ._config import ReceiverConfig
from ._inbox import Inbox, StoredDelivery
from ._parse import InboundEvent
from ._reply import DUPLICATE, STORED, UNSTORED, Reply
from ._router import Router

__all__ = ["InboxPump"]

log = logging.getLogger("centrepoint_async.receiver")


class InboxPump:
    """Stores deliveries in ``inbox`` and runs their handlers in the background."""

    def __init__(self, inbox: Inbox, router: Router, config: ReceiverConfig, owner: str) -> None:
        self.inbox = inbox
        self.router = router
        self.config = config
        self.owner = owner  # this receiver's name in the inbox's leases
        self.leased: dict[str, asyncio.Task[None]] = {}  # running workers, by delivery id
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    async def store(
        self, name: str, webhook_id: int | None, delivery_id: str | None, body: bytes
    ) -> Reply:
        """Store a delivery (202), or say it is known (200) or could not be stored (503)."""
        if delivery_id is None:  # nothing to dedupe by: store under an id of our own
            delivery_id = f"local-{uuid.uuid4()}"
        stored = StoredDelivery(delivery_id, name, webhook_id, body, time.time())
        try:
            new = await self.inbox.add(stored)
        except Exception:
            log.exception("could not store delivery %r: answered 503", delivery_id)
            return UNSTORED
        if not new:
            return DUPLICATE
        self._wake.set()
        return STORED

    def start(self) -> None:
        """Start leasing (the inbox is open)."""
        self.task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """Lease nothing more; the pump task ends at its next look."""
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Look for due deliveries now (one was stored or redriven)."""
        self._wake.set()

    async def release(self, delivery_ids: Iterable[str]) -> None:
        """Hand back the leases of cancelled workers: pending again at once."""
        for delivery_id in delivery_ids:
            await _quietly(self.inbox.release(delivery_id, self.owner))

    async def _run(self) -> None:
        renewed = time.monotonic()
        failing = False  # an outage is logged once with its traceback, not at every poll
        while not self._stopping:
            self._wake.clear()
            free = self.config.workers - len(self.leased)
            if free > 0:
                batch, failing = await self._lease(free, failing)
                for stored in batch:
                    if self._stopping:  # closing: not started, so pending again at once
                        await _quietly(self.inbox.release(stored.delivery_id, self.owner))
                    else:
                        self._begin(stored)
                if len(batch) == free:
                    continue  # there may be more due right now
            if time.monotonic() - renewed > self.config.lease_seconds / 3:
                renewed = time.monotonic()
                for delivery_id in list(self.leased):
                    extend = self.inbox.extend(
                        delivery_id, self.owner, seconds=self.config.lease_seconds
                    )
                    await _quietly(extend)
            wait = min(self.config.poll_interval, self.config.lease_seconds / 3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _lease(self, free: int, failing: bool) -> tuple[list[StoredDelivery], bool]:
        """Up to ``free`` due deliveries, and whether the inbox is failing now."""
        try:
            seconds = self.config.lease_seconds
            batch = await self.inbox.lease(self.owner, limit=free, seconds=seconds)
        except Exception:
            if not failing:
                log.exception("could not lease deliveries from the inbox; retrying")
            else:
                log.debug("the inbox still fails", exc_info=True)
            return [], True
        if failing:
            log.warning("the inbox answers again: leasing resumed")
        return list(batch), False

    def _begin(self, stored: StoredDelivery) -> None:
        task = asyncio.ensure_future(self._work(stored))
        self.leased[stored.delivery_id] = task
        task.add_done_callback(self._done(stored.delivery_id))

    def _done(self, delivery_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_: asyncio.Task[None]) -> None:
            self.leased.pop(delivery_id, None)
            self._wake.set()  # a worker is free

        return done

    async def _work(self, stored: StoredDelivery) -> None:
        event = InboundEvent(
            stored.name,
            stored.webhook_id,
            stored.delivery_id,
            parse_payload(stored.name, stored.body),
        )
        try:
            async with asyncio.timeout(self.config.attempt_timeout):
                await self.router.dispatch(event)
        except Exception as exc:
            await self._failed(stored, event, exc)
        else:
            await _quietly(self.inbox.complete(stored.delivery_id, self.owner))

    async def _failed(
        self, stored: StoredDelivery, event: InboundEvent[Any], exc: Exception
    ) -> None:
        attempts, limit = stored.attempts + 1, self.config.max_attempts
        dead = attempts >= limit
        retry_in = None if dead else self.backoff(attempts)
        log.error(
            "handler failed for %s delivery %r (attempt %d of %d)%s",
            event.name,
            event.delivery_id,
            attempts,
            limit,
            ": now a dead letter" if dead else f": retry in {retry_in:.1f} s",
            exc_info=exc,
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.attempt_timeout):  # a hook that hangs
                await self.router.report(event, exc)
        # the first line, cut: enough to recognise in dead_letters(), and an exception that
        # quotes a whole body does not bloat every row of the inbox
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        fail = self.inbox.fail(stored.delivery_id, self.owner, error=error, retry_in=retry_in)
        await _quietly(fail)

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: jittered, so replicas that failed together
        do not retry together."""
        config = self.config
        return backoff(attempts, initial=config.retry_delay, maximum=config.max_retry_delay)


async def _quietly(call: Awaitable[object]) -> None:
    # an inbox call after the work is done: if it fails, the lease expires and the delivery
    # runs again (at least once), so a log line is enough
    try:
        await call
    except Exception:
        log.exception("inbox call failed; the delivery's lease will expire and it will run again")
