"""WebhookReceiver: one framework-free core (:meth:`WebhookReceiver.process`).

The adapters over it are thin and live beside it: ``_aiohttp`` (what :meth:`handle` does;
:meth:`mount` routes to it) and ``_asgi`` (:meth:`asgi`); ``_reply`` holds the answers.

The rule (see the package docstring): 2xx only once a delivery is handled or durably stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from .._converter import parse_payload
from .._events import EVENT_TYPES, event_name
from .._exceptions import ConfigurationError, ReceiverAuthError
from .._models import Event
from .._protocol import check_count, check_number
from .._retry import backoff
from ._aiohttp import handle as _aiohttp_handle
from ._inbox import DEFAULT_MAX_DEDUPE_BYTES, DEFAULT_RETENTION, Inbox, StoredDelivery
from ._parse import EVENT_HEADER, HOOK_SECRET_HEADER, Credentials, InboundEvent, delivery_headers
from ._reply import (
    BAD_HANDSHAKE,
    BUSY,
    CLOSING,
    DUPLICATE,
    FAILED,
    NO_HANDLER,
    NOT_JSON,
    NOT_POST,
    OK,
    RUNNING,
    STORED,
    TOO_LARGE,
    UNAUTHORIZED,
    UNSTORED,
    Reply,
)

if TYPE_CHECKING:
    from aiohttp import web

    from ._asgi import ASGIApp

log = logging.getLogger("centrepoint_async.receiver")

E = TypeVar("E", bound=Event)
Handler = Callable[[InboundEvent[Any]], Awaitable[None]]
AnyHandler = Callable[[InboundEvent], Awaitable[None]]
HeaderMap = Mapping[str, str]


class _RecentIds:
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


class WebhookReceiver:
    """Receives CentrePoint webhook deliveries and runs handlers, losing none.

    Credentials: any of ``secret`` (HMAC, one or a list for rotation), ``basic_auth``
    (``(user, password)``) or ``bearer_token`` (not both Basic and Bearer: CentrePoint sends one
    ``Authorization`` header); every one configured must pass, or the delivery gets 401 before
    its body is read. With none configured every delivery is accepted (a warning is logged).

    Without an ``inbox``, handlers run before the answer, for up to ``handler_timeout`` seconds
    (then 503: the handler goes on, and a resend after it succeeded gets 200 without running);
    at most ``max_running`` at once (then 503). With an ``inbox`` (``SQLiteInbox(path)``,
    ``RedisInbox(url)``) a delivery is answered 202 once stored, and ``workers`` background
    tasks run its handlers (each attempt up to ``attempt_timeout``), retrying a failure after
    ``retry_delay`` seconds doubled each time up to ``max_retry_delay``; after ``max_attempts``
    failures it is a dead letter (:meth:`dead_letters`, :meth:`redrive`).

    Answers: 200 handled, repeated or no handler for the event; 202 stored; 400 body not JSON;
    401 credentials; 405 not POST; 408 body not received within ``body_timeout``; 413 body over
    ``max_body_size``; 500 a handler raised; 503 not handled yet, not stored, or shutting down.
    Every argument is checked at construction (``ConfigurationError``).
    """

    def __init__(
        self,
        *,
        secret: str | Sequence[str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        inbox: Inbox | None = None,
        max_body_size: int = 1024 * 1024,
        body_timeout: float = 30.0,
        handler_timeout: float = 10.0,
        max_running: int = 100,
        workers: int = 8,
        attempt_timeout: float = 600.0,
        max_attempts: int = 8,
        retry_delay: float = 1.0,
        max_retry_delay: float = 600.0,
        lease_seconds: float = 60.0,
        poll_interval: float = 2.0,
        close_timeout: float = 10.0,
        dedupe_retention: float = DEFAULT_RETENTION,
        max_dedupe_bytes: int = DEFAULT_MAX_DEDUPE_BYTES,
    ) -> None:
        self._credentials = Credentials.build(secret, basic_auth, bearer_token)
        for name, count in (
            ("max_body_size", max_body_size),
            ("max_running", max_running),
            ("workers", workers),
            ("max_attempts", max_attempts),
            ("max_dedupe_bytes", max_dedupe_bytes),
        ):
            check_count(count, name)
        for name, value in (
            ("body_timeout", body_timeout),
            ("handler_timeout", handler_timeout),
            ("attempt_timeout", attempt_timeout),
            ("retry_delay", retry_delay),
            ("max_retry_delay", max_retry_delay),
            ("lease_seconds", lease_seconds),
            ("poll_interval", poll_interval),
            ("close_timeout", close_timeout),
            ("dedupe_retention", dedupe_retention),
        ):
            check_number(value, name)
        if inbox is not None and not isinstance(inbox, Inbox):
            raise ConfigurationError(f"inbox must implement the Inbox protocol, got {inbox!r}")
        self.inbox = inbox
        self.max_body_size = max_body_size
        self.body_timeout = float(body_timeout)
        self.handler_timeout = float(handler_timeout)
        self.max_running = max_running
        self.workers = workers
        self.attempt_timeout = float(attempt_timeout)
        self.max_attempts = max_attempts
        self.retry_delay = float(retry_delay)
        self.max_retry_delay = float(max_retry_delay)
        self.lease_seconds = float(lease_seconds)
        self.poll_interval = float(poll_interval)
        self.close_timeout = float(close_timeout)
        self._handlers: list[tuple[str | None, type[Event] | None, Handler]] = []
        self._recent = _RecentIds(dedupe_retention, max_dedupe_bytes)
        self._running: dict[object, asyncio.Task[None]] = {}  # without an inbox: by delivery
        self._leased: dict[str, asyncio.Task[None]] = {}  # with an inbox: by delivery id
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._state = "new"  # new -> started -> closing -> closed
        self._start_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        if not self._credentials.methods:
            log.warning("WebhookReceiver has no credentials configured: anyone can post events")

    def __repr__(self) -> str:
        names = sorted({str(key) for key, _, _ in self._handlers})
        inbox = f", inbox={type(self.inbox).__name__}" if self.inbox is not None else ""
        return f"WebhookReceiver(auth={self._credentials.methods}, handlers={names}{inbox})"

    # --- handlers --------------------------------------------------------------------------

    @overload
    def on(
        self, name: type[E]
    ) -> Callable[
        [Callable[[InboundEvent[E]], Awaitable[None]]],
        Callable[[InboundEvent[E]], Awaitable[None]],
    ]: ...

    @overload
    def on(self, name: str | None = None) -> Callable[[AnyHandler], AnyHandler]: ...

    def on(self, name: str | type[Any] | None = None) -> Callable[[Any], Any]:
        """Register an async handler for an event name (any case or spacing), an event class
        (the handler gets ``InboundEvent[ThatClass]``), or every event (``None``).

        Handlers of one delivery run in the order registered; the delivery is handled once
        every one of them returned. A delivery may be handled more than once (a handler that
        failed is retried with the others): make handlers idempotent.
        """
        cls: type[Event] | None = None
        if isinstance(name, type):
            names = [key for key, value in EVENT_TYPES.items() if value is name]
            if not names:
                raise ConfigurationError(f"{name.__name__} is not an event class with a name")
            cls, key = name, names[0]
        elif name is None:
            key = None
        elif isinstance(name, str) and event_name(name):
            key = event_name(name)
        else:
            raise ConfigurationError(f"on() takes an event name or class, got {name!r}")

        def register(handler: Handler) -> Handler:
            if not callable(handler):
                raise ConfigurationError(f"a handler must be an async callable, got {handler!r}")
            self._handlers.append((key, cls, handler))
            return handler

        return register

    def handlers_for(self, event: InboundEvent[Any]) -> list[Handler]:
        """The handlers ``event`` runs, in the order they were registered.

        A handler registered by class runs only when the payload is of that class (a body that
        did not fit is an ``UnknownEvent``: it reaches the name and catch-all handlers).
        """
        return [
            handler
            for key, cls, handler in self._handlers
            if (key is None or key == event.name)
            and (cls is None or isinstance(event.payload, cls))
        ]

    def _has_handlers(self, name: str) -> bool:
        return any(key is None or key == name for key, _, _ in self._handlers)

    def check_credentials(self, headers: HeaderMap) -> None:
        """Raise :class:`~centrepoint_async.ReceiverAuthError` unless the Basic/Bearer
        credentials configured are in ``headers`` (:meth:`process` does this for you)."""
        self._credentials.check_authorization(_multidict(headers))

    def check_signature(self, headers: HeaderMap, body: bytes) -> None:
        """Raise :class:`~centrepoint_async.ReceiverAuthError` unless ``X-ActiGraph-Signature``
        signs ``body`` (nothing to check without a secret)."""
        self._credentials.check_signature(_multidict(headers), body)

    # --- the core --------------------------------------------------------------------------

    async def process(self, method: str, headers: HeaderMap, body: bytes) -> Reply:
        """Everything a delivery needs, framework-free: ``(method, headers, raw body)`` in,
        the :class:`Reply` to send out.

        Handshake, credentials, size, signature, parsing, dedupe, inbox and handlers, under
        the rule: 2xx only once handled or stored. Never raises for anything a sender can send.
        """
        lookup = _multidict(headers)
        early = self.precheck(method, lookup)
        if early is not None:
            return early
        if len(body) > self.max_body_size:
            return TOO_LARGE
        return await self.accept(lookup, body)

    def precheck(self, method: str, headers: HeaderMap) -> Reply | None:
        """The answer a delivery gets before its body is read, or ``None`` to read it.

        For adapters: shutting down, not POST, the validation handshake, Basic/Bearer
        credentials, a declared ``Content-Length`` over the cap.
        """
        lookup = _multidict(headers)
        if self._state in ("closing", "closed"):
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
            self._credentials.check_authorization(lookup)
        except ReceiverAuthError as exc:
            log.info("refused a delivery: %s", exc)
            return UNAUTHORIZED
        declared = lookup.get("Content-Length")
        if (
            declared is not None
            and declared.isascii()  # "²".isdigit() is true, and int("²") raises
            and declared.isdigit()
            and int(declared) > self.max_body_size
        ):
            return TOO_LARGE
        return None

    async def accept(self, headers: HeaderMap, body: bytes) -> Reply:
        """The rest of :meth:`process` once :meth:`precheck` passed and the body is read."""
        lookup = _multidict(headers)
        try:
            self._credentials.check_signature(lookup, body)
        except ReceiverAuthError as exc:
            log.info("refused a delivery: %s", exc)
            return UNAUTHORIZED
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return NOT_JSON
        name, webhook_id, delivery_id = delivery_headers(lookup)
        if not self._has_handlers(name):
            return NO_HANDLER
        if self._state == "new":
            await self.start()
        if self._state != "started":
            return CLOSING
        if self.inbox is not None:
            return await self._store(self.inbox, delivery_id, name, webhook_id, body)
        event = InboundEvent(name, webhook_id, delivery_id, parse_payload(name, body))
        return await self._run_now(event)

    async def _store(
        self, inbox: Inbox, delivery_id: str | None, name: str, webhook_id: int | None, body: bytes
    ) -> Reply:
        if delivery_id is None:  # nothing to dedupe by: store under an id of our own
            delivery_id = f"local-{uuid.uuid4()}"
        stored = StoredDelivery(delivery_id, name, webhook_id, body, time.time())
        try:
            new = await inbox.add(stored)
        except Exception:
            log.exception("could not store delivery %s: answered 503", delivery_id)
            return UNSTORED
        if not new:
            return DUPLICATE
        self._wake.set()
        return STORED

    async def _run_now(self, event: InboundEvent) -> Reply:
        key: object = event.delivery_id
        if event.delivery_id is not None:
            if event.delivery_id in self._recent:
                return DUPLICATE
            if event.delivery_id in self._running:
                return RUNNING  # not handled yet: CentrePoint must try again
        else:
            key = object()
        if len(self._running) >= self.max_running:
            return BUSY
        task = asyncio.ensure_future(self._call(self.handlers_for(event), event))
        self._running[key] = task
        task.add_done_callback(lambda done: self._finished(key, event, done))
        await _done_or_timeout(task, self.handler_timeout)  # never cancels the task
        if not task.done():
            log.warning(
                "handlers of %s delivery %s still running after %.1f s: answered 503",
                event.name,
                event.delivery_id,
                self.handler_timeout,
            )
            return RUNNING
        if task.cancelled():
            return CLOSING  # close() cancelled the handler: not handled
        return FAILED if task.exception() is not None else OK  # failures logged by _finished

    def _finished(self, key: object, event: InboundEvent, task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        if task.cancelled():
            log.warning("handlers of delivery %s cancelled: not acknowledged", event.delivery_id)
        elif (error := task.exception()) is not None:
            log.error(
                "handler failed for %s delivery %s",
                event.name,
                event.delivery_id,
                exc_info=error,
            )
        elif event.delivery_id is not None:
            self._recent.add(event.delivery_id)

    @staticmethod
    async def _call(handlers: list[Handler], event: InboundEvent) -> None:
        if not handlers:  # only typed handlers, and a body that does not fit their class
            log.warning(
                "%s delivery %s does not fit its event class: no handler ran (payload %r)",
                event.name,
                event.delivery_id,
                event.payload,
            )
        for handler in handlers:
            await handler(event)

    # --- inbox workers ---------------------------------------------------------------------

    async def _pump_loop(self, inbox: Inbox) -> None:
        """Lease due deliveries while workers are free; renew the leases of running ones."""
        renewed = time.monotonic()
        failing = False  # an outage is logged once with its traceback, not at every poll
        while self._state == "started":
            self._wake.clear()
            free = self.workers - len(self._leased)
            if free > 0:
                try:
                    batch = await inbox.lease(self._owner, limit=free, seconds=self.lease_seconds)
                except Exception:
                    if not failing:
                        log.exception("could not lease deliveries from the inbox; retrying")
                    else:
                        log.debug("the inbox still fails", exc_info=True)
                    failing, batch = True, []
                else:
                    if failing:
                        log.warning("the inbox answers again: leasing resumed")
                    failing = False
                for stored in batch:
                    if self._state != "started":
                        await _quietly(inbox.release(stored.delivery_id, self._owner))
                        continue
                    task = asyncio.ensure_future(self._work(inbox, stored))
                    self._leased[stored.delivery_id] = task
                    task.add_done_callback(self._work_done(stored.delivery_id))
                if len(batch) == free:
                    continue  # there may be more due right now
            if time.monotonic() - renewed > self.lease_seconds / 3:
                renewed = time.monotonic()
                for delivery_id in list(self._leased):
                    await _quietly(
                        inbox.extend(delivery_id, self._owner, seconds=self.lease_seconds)
                    )
            wait = min(self.poll_interval, self.lease_seconds / 3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _work_done(self, delivery_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_: asyncio.Task[None]) -> None:
            self._leased.pop(delivery_id, None)
            self._wake.set()  # a worker is free

        return done

    async def _work(self, inbox: Inbox, stored: StoredDelivery) -> None:
        event = InboundEvent(
            stored.name,
            stored.webhook_id,
            stored.delivery_id,
            parse_payload(stored.name, stored.body),
        )
        try:
            async with asyncio.timeout(self.attempt_timeout):
                await self._call(self.handlers_for(event), event)
        except Exception as exc:
            attempts = stored.attempts + 1
            dead = attempts >= self.max_attempts
            retry_in = None if dead else self._backoff(attempts)
            log.error(
                "handler failed for %s delivery %s (attempt %d of %d)%s",
                event.name,
                event.delivery_id,
                attempts,
                self.max_attempts,
                ": now a dead letter" if dead else f": retry in {retry_in:.1f} s",
                exc_info=exc,
            )
            # the first line, cut: enough to recognise in dead_letters(), and an exception
            # that quotes a whole body does not bloat every row of the inbox
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            await _quietly(
                inbox.fail(stored.delivery_id, self._owner, error=error, retry_in=retry_in)
            )
        else:
            await _quietly(inbox.complete(stored.delivery_id, self._owner))

    def _backoff(self, attempts: int) -> float:
        # jittered, so replicas that failed together do not retry together
        return backoff(attempts, initial=self.retry_delay, maximum=self.max_retry_delay)

    async def dead_letters(self, *, limit: int = 100) -> list[StoredDelivery]:
        """Deliveries whose handlers failed ``max_attempts`` times (empty without an inbox)."""
        if self.inbox is None:
            return []
        await self.start()
        return list(await self.inbox.dead_letters(limit=limit))

    async def redrive(self, delivery_id: str) -> bool:
        """Run a dead letter's handlers again (attempts start over); ``False`` if not dead."""
        if self.inbox is None:
            raise ConfigurationError("redrive needs an inbox: without one nothing is kept")
        await self.start()
        again = await self.inbox.redrive(delivery_id)
        self._wake.set()
        return again

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the inbox and start its workers (pending deliveries run again). Idempotent."""
        async with self._start_lock:
            if self._state != "new":
                return
            if self.inbox is not None:
                await self.inbox.open()
                self._pump = asyncio.ensure_future(self._pump_loop(self.inbox))
            self._state = "started"

    async def close(self, timeout: float | None = None) -> None:
        """Stop taking deliveries (503), wait up to ``timeout`` seconds (default
        ``close_timeout``) for running handlers, then cancel the rest.

        Cancelled deliveries stay pending in the inbox (or were answered 503): none is
        dropped, and no handler of this receiver runs once this returns.
        """
        if self._state == "closed":
            return
        timeout = self.close_timeout if timeout is None else timeout
        was_started = self._state == "started"
        self._state = "closing"
        self._wake.set()
        deadline = time.monotonic() + max(timeout, 0.0)
        if self._pump is not None:
            await asyncio.wait({self._pump}, timeout=max(deadline - time.monotonic(), 0.0))
        running = [*self._running.values(), *self._leased.values()]
        if running:
            await asyncio.wait(running, timeout=max(deadline - time.monotonic(), 0.0))
        late = [task for task in (*running, self._pump) if task is not None and not task.done()]
        leased = {task: delivery_id for delivery_id, task in self._leased.items()}
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)  # handlers unwind; none runs after close() returns
            log.warning("close(): %d delivery handler(s) cancelled, left unhandled", len(late))
        if self.inbox is not None:
            for task in late:
                if task in leased:  # pending again at once, for the next start
                    await _quietly(self.inbox.release(leased[task], self._owner))
            if was_started:
                await self.inbox.close()
        self._state = "closed"

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- adapters --------------------------------------------------------------------------

    def mount(self, app: web.Application, path: str = "/centrepoint/webhooks") -> None:
        """Route POST ``path`` of an aiohttp ``app`` to :meth:`handle`; start with the app, and
        close (``close_timeout``) when it shuts down, before it waits for open requests."""
        app.router.add_post(path, self.handle)

        async def start(_: web.Application) -> None:
            await self.start()

        async def close(_: web.Application) -> None:
            await self.close()

        app.on_startup.append(start)
        app.on_shutdown.append(close)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler: body read with ``body_timeout`` and ``max_body_size``."""
        return await _aiohttp_handle(self, request)

    def asgi(self) -> ASGIApp:
        """An ASGI application (Starlette, FastAPI, any ASGI server) answering deliveries.

        ``app.mount("/centrepoint/webhooks", receiver.asgi())`` serves
        ``/centrepoint/webhooks/`` (Starlette mounts match below a path: give CentrePoint the
        URL with its final slash), or ``app.add_route("/centrepoint/webhooks",
        receiver.asgi(), methods=["POST"])`` for the exact path. Run alone, it starts and
        closes the receiver through the ASGI lifespan; mounted, the receiver starts with its
        first delivery: close it in your app's lifespan (``async with receiver:``).
        """
        from ._asgi import ASGIApp

        return ASGIApp(self)


def _multidict(headers: HeaderMap) -> CIMultiDictProxy[str] | CIMultiDict[str]:
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return headers
    return CIMultiDict(headers)


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


async def _quietly(call: Awaitable[object]) -> None:
    # an inbox call after the work is done: if it fails, the lease expires and the delivery
    # runs again (at least once), so a log line is enough
    try:
        await call
    except Exception:
        log.exception("inbox call failed; the delivery's lease will expire and it will run again")
