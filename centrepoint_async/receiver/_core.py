"""The receiver's core: the HTTP rules (:meth:`ReceiverCore.process`) and its lifecycle.

Framework-free: ``(method, headers, raw body)`` in, the :class:`Reply` to send out. It composes
the router (``_router``), and either the direct runner (``_direct``: no inbox) or the inbox
pump (``_pump``). The adapters (``_aiohttp``, ``_asgi``) import this module; it imports none
of them. ``WebhookReceiver`` (``_receiver``) is the façade users hold.

The rule (see the package docstring): 2xx only once a delivery is handled or durably stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Literal

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from .._converter import parse_payload
from .._events import DELIVERY_HEADER, EVENT_HEADER, HOOK_SECRET_HEADER, event_name
from .._exceptions import ConfigurationError, ReceiverAuthError
from ._config import ReceiverConfig
from ._direct import DirectRunner
from ._inbox import StoredDelivery
from ._parse import InboundEvent, delivery_headers, is_utf8
from ._pump import InboxPump
from ._reply import (
    BAD_HANDSHAKE,
    BAD_HEADERS,
    CLOSING,
    NO_HANDLER,
    NOT_JSON,
    NOT_POST,
    NOT_STARTED,
    TOO_LARGE,
    UNAUTHORIZED,
    Reply,
)
from ._router import Router

__all__ = ["HeaderMap", "ReceiverCore"]

log = logging.getLogger("centrepoint_async.receiver")

#: Request headers as a web framework gives them (any mapping; names in any case).
HeaderMap = Mapping[str, str]
Headers = CIMultiDictProxy[str] | CIMultiDict[str]


class ReceiverCore:
    """The HTTP rules and the lifecycle of one receiver (``WebhookReceiver`` holds one).

    States: new -> started -> closing -> closed.
    """

    def __init__(self, config: ReceiverConfig, router: Router) -> None:
        self.config = config
        self.router = router
        inbox = config.inbox
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.pump = InboxPump(inbox, router, config, owner) if inbox is not None else None
        self.runner = DirectRunner(router, config) if inbox is None else None
        self.state: Literal["new", "started", "closing", "closed"] = "new"
        self._start_lock = asyncio.Lock()

    # --- the rules ---------------------------------------------------------------------------

    async def process(self, method: str, headers: HeaderMap, body: bytes) -> Reply:
        """Everything a delivery needs: :meth:`precheck`, the size, then :meth:`accept`."""
        lookup = _multidict(headers)
        early = self.precheck(method, lookup)
        if early is not None:
            return early
        if len(body) > self.config.max_body_size:
            return _told(TOO_LARGE, lookup)
        return await self.accept(lookup, body)

    def precheck(self, method: str, headers: HeaderMap) -> Reply | None:
        """The answer before the body is read, or ``None`` to read it."""
        lookup = _multidict(headers)
        reply = self._early(method, lookup)
        return None if reply is None else _told(reply, lookup)

    def _early(self, method: str, lookup: Headers) -> Reply | None:
        if self.state in ("closing", "closed"):
            return CLOSING
        if method.upper() != "POST":
            return NOT_POST
        code = lookup.get(HOOK_SECRET_HEADER)
        if code is not None and event_name(lookup.get(EVENT_HEADER) or "") == "validation":
            # the handshake: echo the code back so CentrePoint lets the webhook go live
            if not code or not code.isascii() or not code.isprintable():
                return BAD_HANDSHAKE
            return Reply(200, {HOOK_SECRET_HEADER: code})
        try:
            self.config.credentials.check_authorization(lookup)
        except ReceiverAuthError as exc:
            log.info("refused a delivery: %s", exc)
            return UNAUTHORIZED
        declared = lookup.get("Content-Length")
        if (
            declared is not None
            and declared.isascii()  # "²".isdigit() is true, and int("²") raises
            and declared.isdigit()
            and int(declared) > self.config.max_body_size
        ):
            return TOO_LARGE
        return None

    async def accept(self, headers: HeaderMap, body: bytes) -> Reply:
        """The rest of :meth:`process` once :meth:`precheck` passed and the body is read."""
        lookup = _multidict(headers)
        return _told(await self._decide(lookup, body), lookup)

    async def _decide(self, lookup: Headers, body: bytes) -> Reply:
        try:
            self.config.credentials.check_signature(lookup, body)
        except ReceiverAuthError as exc:
            log.info("refused a delivery: %s", exc)
            return UNAUTHORIZED
        name, webhook_id, delivery_id = delivery_headers(lookup)
        if not is_utf8(name) or (delivery_id is not None and not is_utf8(delivery_id)):
            return BAD_HEADERS  # nothing could store or name it: CentrePoint must not resend
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return NOT_JSON
        if not self.router.has_handlers(name):
            return NO_HANDLER
        if self.state == "new" and not await self._start_on_demand():
            return NOT_STARTED
        if self.state != "started":
            return CLOSING
        if self.pump is not None:
            return await self.pump.store(name, webhook_id, delivery_id, body)
        assert self.runner is not None  # no inbox: the direct runner
        event = InboundEvent(name, webhook_id, delivery_id, parse_payload(name, body))
        return await self.runner.run(event)

    async def _start_on_demand(self) -> bool:
        if self.pump is not None:
            log.warning(
                "WebhookReceiver started by a delivery, not with its app: deliveries stored "
                "before waited until now, and nothing closes it at shutdown (use "
                "FastAPI(lifespan=receiver.lifespan), receiver.mount(app) or async with receiver)"
            )
        try:
            await self.start()
        except Exception:
            log.exception("the receiver could not start: answered 503")
            return False
        return True

    # --- the inbox ----------------------------------------------------------------------------

    async def dead_letters(self, *, limit: int = 100) -> list[StoredDelivery]:
        """Dead letters (empty without an inbox)."""
        if self.pump is None:
            return []
        await self.start()
        return list(await self.pump.inbox.dead_letters(limit=limit))

    async def redrive(self, delivery_id: str) -> bool:
        """A dead letter pending again; ``False`` if it is not dead."""
        if self.pump is None:
            raise ConfigurationError("redrive needs an inbox: without one nothing is kept")
        await self.start()
        again = await self.pump.inbox.redrive(delivery_id)
        self.pump.wake()
        return again

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the inbox and start its workers. Idempotent; raises if the inbox cannot open."""
        async with self._start_lock:
            if self.state != "new":
                return
            if self.pump is not None:
                await self.pump.inbox.open()
                self.pump.start()
            self.state = "started"

    async def close(self, timeout: float | None = None) -> None:
        """Stop taking deliveries, wait up to ``timeout`` for handlers, cancel the rest."""
        if self.state == "closed":
            return
        was_started = self.state == "started"
        self.state = "closing"
        wait = self.config.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(wait, 0.0)
        pump = self.pump
        if pump is not None:
            pump.stop()
            if pump.task is not None:
                await asyncio.wait({pump.task}, timeout=_left(deadline))
        holders = {task: delivery_id for delivery_id, task in (pump.leased if pump else {}).items()}
        running = [*holders, *(self.runner.running.values() if self.runner else ())]
        if running:
            await asyncio.wait(running, timeout=_left(deadline))
        late = [t for t in (*running, pump and pump.task) if t is not None and not t.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)  # handlers unwind; none runs after close() returns
            log.warning("close(): %d delivery handler(s) cancelled, left unhandled", len(late))
        if pump is not None:
            await pump.release(holders[task] for task in late if task in holders)
            if was_started:
                await pump.inbox.close()
        self.state = "closed"


def _multidict(headers: HeaderMap) -> Headers:
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers
    return CIMultiDict(headers)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _told(reply: Reply, lookup: Headers) -> Reply:
    """``reply``, once said at DEBUG: the receiver's decision on one delivery, in one line."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "delivery %r (event %r): %d %s",  # repr: bytes that were not UTF-8 show escaped
            lookup.get(DELIVERY_HEADER),
            lookup.get(EVENT_HEADER),
            reply.status,
            reply.body.decode() or "handshake",
        )
    return reply
