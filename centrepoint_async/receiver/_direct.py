"""Without an inbox: handlers run before the answer, and handled ids are remembered in memory.

The answer waits up to ``handler_timeout`` for the handlers: 200 when they returned, 500 when
one raised, 503 when they are still running (they go on; a resend meanwhile gets 503 and runs
nothing, a resend after they succeeded gets 200).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import OrderedDict
from typing import Any

from ._config import ReceiverConfig
from ._parse import InboundEvent
from ._reply import BUSY, CLOSING, DUPLICATE, FAILED, OK, RUNNING, Reply
from ._router import Router

__all__ = ["DirectRunner", "RecentIds"]

log = logging.getLogger("centrepoint_async.receiver")


class RecentIds:
    """Ids of deliveries handled without an inbox, bounded by age and by bytes (not count)."""

    ENTRY_OVERHEAD = 120  # an OrderedDict entry and its float, beyond the str itself

    def __init__(self, retention: float, max_bytes: int) -> None:
        self.retention = retention
        self.max_bytes = max_bytes
        self.bytes = 0
        self._ids: OrderedDict[str, float] = OrderedDict()  # id -> when handled, oldest first

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, delivery_id: str) -> bool:
        self._expire(time.monotonic())
        return delivery_id in self._ids

    def add(self, delivery_id: str) -> None:
        """Remember ``delivery_id`` as handled now, forgetting the oldest past the bounds."""
        now = time.monotonic()
        self._expire(now)
        if delivery_id not in self._ids:
            self.bytes += sys.getsizeof(delivery_id) + self.ENTRY_OVERHEAD
        self._ids[delivery_id] = now
        self._ids.move_to_end(delivery_id)
        while self.bytes > self.max_bytes and self._ids:
            oldest, _ = self._ids.popitem(last=False)
            self.bytes -= sys.getsizeof(oldest) + self.ENTRY_OVERHEAD

    def _expire(self, now: float) -> None:
        ids = self._ids
        while ids:
            oldest, handled = next(iter(ids.items()))
            if now - handled < self.retention:
                return
            del ids[oldest]
            self.bytes -= sys.getsizeof(oldest) + self.ENTRY_OVERHEAD


class DirectRunner:
    """Runs a delivery's handlers before its answer (the receiver without an inbox)."""

    def __init__(self, router: Router, config: ReceiverConfig) -> None:
        self.router = router
        self.config = config
        self.recent = RecentIds(config.dedupe_retention, config.max_dedupe_bytes)
        self.running: dict[object, asyncio.Task[None]] = {}  # by delivery id (or a token)

    async def run(self, event: InboundEvent[Any]) -> Reply:
        """Handle ``event`` now; the answer under the rule (2xx only once handled)."""
        key: object = event.delivery_id
        if event.delivery_id is not None:
            if event.delivery_id in self.recent:
                return DUPLICATE
            if event.delivery_id in self.running:
                return RUNNING  # not handled yet: CentrePoint must try again
        else:
            key = object()
        if len(self.running) >= self.config.max_running:
            return BUSY
        task = asyncio.ensure_future(self._handle(event))
        self.running[key] = task
        task.add_done_callback(lambda done: self._finished(key, event, done))
        await _done_or_timeout(task, self.config.handler_timeout)  # never cancels the task
        if not task.done():
            log.warning(
                "handlers of %s delivery %r still running after %.1f s: answered 503",
                event.name,
                event.delivery_id,
                self.config.handler_timeout,
            )
            return RUNNING
        if task.cancelled():
            return CLOSING  # close() cancelled the handler: not handled
        return FAILED if task.exception() is not None else OK

    async def _handle(self, event: InboundEvent[Any]) -> None:
        try:
            await self.router.dispatch(event)
        except Exception as exc:
            log.error(
                "handler failed for %s delivery %r: answered 500 (CentrePoint sends it again)",
                event.name,
                event.delivery_id,
                exc_info=exc,
            )
            await self.router.report(event, exc)
            raise

    def _finished(self, key: object, event: InboundEvent[Any], task: asyncio.Task[None]) -> None:
        self.running.pop(key, None)
        if task.cancelled():
            log.warning("handlers of delivery %r cancelled: not acknowledged", event.delivery_id)
        elif task.exception() is None and event.delivery_id is not None:
            self.recent.add(event.delivery_id)


async def _done_or_timeout(task: asyncio.Task[None], timeout: float) -> None:
    """Wait until ``task`` is done or ``timeout`` passed, leaving it running (cheaper than
    ``asyncio.wait``: one future, one timer)."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_later(timeout, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
