"""WebhookReceiver: the façade users hold, over the core and its adapters.

Imports point one way: this module -> the adapters (``_asgi``; ``_aiohttp`` on first use, so
that ``import centrepoint_async.receiver`` never loads ``aiohttp.web``) -> the core
(``_core``: the HTTP rules and the lifecycle) -> the router, the runner and the pump.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._models import Event
from ._asgi import ASGIApp
from ._config import ReceiverConfig
from ._core import HeaderMap, ReceiverCore
from ._inbox import DEFAULT_MAX_DEDUPE_BYTES, DEFAULT_RETENTION, Inbox, StoredDelivery
from ._parse import Credentials, InboundEvent
from ._reply import Reply
from ._router import ErrorHook, Handler, Router

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["WebhookReceiver"]

log = logging.getLogger("centrepoint_async.receiver")

E = TypeVar("E", bound=Event)
AnyHandler = Callable[[InboundEvent], Awaitable[None]]
H = TypeVar("H", bound=ErrorHook)


class WebhookReceiver:
    """Receives CentrePoint webhook deliveries and runs handlers, losing none.

    Credentials: any of ``secret`` (HMAC, one or a list for rotation), ``basic_auth``
    (``(user, password)``) or ``bearer_token`` (not both Basic and Bearer: CentrePoint sends one
    ``Authorization`` header); every one configured must pass, or the delivery gets 401 before
    its body is read. With none configured the receiver is a ``ConfigurationError`` (a secret
    read from an unset environment variable is ``None``), unless ``allow_unauthenticated=True``
    says that anyone may post events.

    Without an ``inbox``, handlers run before the answer, for up to ``handler_timeout`` seconds
    (then 503: the handler goes on, and a resend after it succeeded gets 200 without running);
    at most ``max_running`` at once (then 503). With an ``inbox`` (``SQLiteInbox(path)``,
    ``RedisInbox(url)``) a delivery is answered 202 once stored, and ``workers`` background
    tasks run its handlers (each attempt up to ``attempt_timeout``), retrying a failure after
    ``retry_delay`` seconds doubled each time up to ``max_retry_delay``; after ``max_attempts``
    failures it is a dead letter (:meth:`dead_letters`, :meth:`redrive`). A handler that
    raises is logged at ERROR with its traceback and the delivery id (never the body), and
    every hook registered with :meth:`on_error` is told.

    Answers: 200 handled, repeated or no handler for the event; 202 stored; 400 body not JSON,
    or an event or delivery id header that is not UTF-8; 401 credentials; 405 not POST; 408 body
    not received within ``body_timeout``; 413 body over ``max_body_size``; 500 a handler raised;
    503 not handled yet, not stored, or shutting down. Every option is checked at construction
    (``ConfigurationError``); ``receiver.config`` holds them.
    """

    def __init__(
        self,
        *,
        secret: str | Sequence[str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        inbox: Inbox | None = None,
        allow_unauthenticated: bool = False,
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
        self.config = ReceiverConfig(
            credentials=Credentials.build(secret, basic_auth, bearer_token),
            allow_unauthenticated=allow_unauthenticated,
            inbox=inbox,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            handler_timeout=handler_timeout,
            max_running=max_running,
            workers=workers,
            attempt_timeout=attempt_timeout,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            close_timeout=close_timeout,
            dedupe_retention=dedupe_retention,
            max_dedupe_bytes=max_dedupe_bytes,
        )
        if not self.config.credentials.methods:
            log.warning("WebhookReceiver(allow_unauthenticated=True): anyone can post events")
        self.inbox = inbox
        self._router = Router()
        self._core = ReceiverCore(self.config, self._router)

    def __repr__(self) -> str:
        inbox = f", inbox={type(self.inbox).__name__}" if self.inbox is not None else ""
        methods = self.config.credentials.methods
        return f"WebhookReceiver(auth={methods}, handlers={self._router.names()}{inbox})"

    # --- handlers ----------------------------------------------------------------------------

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
        return self._router.add(name)

    def on_error(self, hook: H) -> H:
        """Register ``async def hook(event, error)``, awaited each time a handler raises.

        For alerting (as octokit's ``webhooks.onError``): ``event`` is the
        :class:`InboundEvent`, ``error`` the exception. Usable as a decorator. Hooks run after
        the failure is logged and before the delivery is answered 500 (no inbox) or failed in
        its inbox (retried later, or a dead letter); a hook that raises is logged and changes
        nothing.
        """
        self._router.add_error_hook(hook)
        return hook

    def handlers_for(self, event: InboundEvent[Any]) -> list[Handler]:
        """The handlers ``event`` runs, in the order they were registered.

        A handler registered by class runs only when the payload is of that class (a body that
        did not fit is an ``UnknownEvent``: it reaches the name and catch-all handlers).
        """
        return self._router.handlers_for(event)

    def check_credentials(self, headers: HeaderMap) -> None:
        """Raise :class:`~centrepoint_async.ReceiverAuthError` unless the Basic/Bearer
        credentials configured are in ``headers`` (:meth:`process` does this for you)."""
        self.config.credentials.check_authorization(headers)

    def check_signature(self, headers: HeaderMap, body: bytes) -> None:
        """Raise :class:`~centrepoint_async.ReceiverAuthError` unless ``X-ActiGraph-Signature``
        signs ``body`` (nothing to check without a secret)."""
        self.config.credentials.check_signature(headers, body)

    # --- the core ----------------------------------------------------------------------------

    async def process(self, method: str, headers: HeaderMap, body: bytes) -> Reply:
        """Everything a delivery needs, framework-free: ``(method, headers, raw body)`` in,
        the :class:`Reply` to send out.

        Handshake, credentials, size, signature, parsing, dedupe, inbox and handlers, under
        the rule: 2xx only once handled or stored. Never raises for anything a sender can send.
        """
        return await self._core.process(method, headers, body)

    def precheck(self, method: str, headers: HeaderMap) -> Reply | None:
        """The answer a delivery gets before its body is read, or ``None`` to read it.

        For adapters: shutting down, not POST, the validation handshake, Basic/Bearer
        credentials, a declared ``Content-Length`` over the cap.
        """
        return self._core.precheck(method, headers)

    async def accept(self, headers: HeaderMap, body: bytes) -> Reply:
        """The rest of :meth:`process` once :meth:`precheck` passed and the body is read."""
        return await self._core.accept(headers, body)

    async def dead_letters(self, *, limit: int = 100) -> list[StoredDelivery]:
        """Deliveries whose handlers failed ``max_attempts`` times (empty without an inbox)."""
        return await self._core.dead_letters(limit=limit)

    async def redrive(self, delivery_id: str) -> bool:
        """Run a dead letter's handlers again (attempts start over); ``False`` if not dead."""
        return await self._core.redrive(delivery_id)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the inbox and start its workers (pending deliveries run again). Idempotent.

        Raises what the inbox raises when it cannot open (a file in use by another process, a
        Redis that is not durable): the application should not start then.
        """
        await self._core.start()

    async def close(self, timeout: float | None = None) -> None:
        """Stop taking deliveries (503), wait up to ``timeout`` seconds (default
        ``close_timeout``) for running handlers, then cancel the rest.

        Cancelled deliveries stay pending in the inbox (or were answered 503): none is
        dropped, and no handler of this receiver runs once this returns.
        """
        await self._core.close(timeout)

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

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncGenerator[None, None]:
        """An ASGI lifespan that starts the receiver and closes it: ``FastAPI(lifespan=
        receiver.lifespan)`` or ``Starlette(lifespan=receiver.lifespan)``.

        Starlette runs no lifespan of a mounted sub-application, so ``app.mount(path,
        receiver.asgi())`` needs this on the app itself. With a lifespan of your own, enter
        this one inside it: ``async with receiver.lifespan(app): yield``.
        """
        async with self:
            yield

    # --- adapters ----------------------------------------------------------------------------

    def mount(self, app: web.Application, path: str = "/centrepoint/webhooks") -> None:
        """Route POST ``path`` of an aiohttp ``app`` to :meth:`handle`; start with the app, and
        close (``close_timeout``) when it shuts down, before it waits for open requests."""
        from . import _aiohttp  # here, not above: aiohttp.web loads only for aiohttp users

        _aiohttp.mount(self._core, app, path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler: body read with ``body_timeout`` and ``max_body_size``."""
        from . import _aiohttp  # here, not above: aiohttp.web loads only for aiohttp users

        return await _aiohttp.handle(self._core, request)

    def asgi(self) -> ASGIApp:
        """An ASGI application (Starlette, FastAPI, any ASGI server) answering deliveries.

        ``app.mount("/centrepoint/webhooks", receiver.asgi())`` serves
        ``/centrepoint/webhooks/`` (Starlette mounts match below a path: give CentrePoint the
        URL with its final slash), or ``app.add_route("/centrepoint/webhooks",
        receiver.asgi(), methods=["POST"])`` for the exact path. Mounted, it has no lifespan of
        its own: give the app ``lifespan=receiver.lifespan``. Run alone, its own lifespan starts
        and closes the receiver, and fails the server's start-up if the receiver cannot start.
        """
        return ASGIApp(self._core)
