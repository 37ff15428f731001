"""Receiving CentrePoint webhooks in an aiohttp backend.

- :func:`verify_signature`: the ``X-ActiGraph-Signature`` check (base64 HMAC-SHA256 of the raw
  body bytes), constant time, several secrets for rotation.
- :func:`parse_event`: headers and body to an :class:`InboundEvent` with a typed payload.
- :class:`WebhookReceiver`: an aiohttp handler that answers the validation handshake, checks the
  credentials it was configured with before parsing anything, caps the body size, drops repeated
  deliveries (CentrePoint retries for days), and dispatches typed events to handlers::

      receiver = WebhookReceiver(secret="s3cret")

      @receiver.on("upload")
      async def on_upload(event: InboundEvent) -> None: ...

      app = web.Application()
      receiver.mount(app, "/centrepoint/webhooks")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import attrs
import orjson
from aiohttp import web
from multidict import CIMultiDict

from .._converter import parse_payload
from .._events import EVENT_TYPES, event_name
from .._exceptions import ConfigurationError, SignatureError
from .._models import Event

__all__ = [
    "DeliveryStore",
    "InboundEvent",
    "MemoryDeliveryStore",
    "WebhookReceiver",
    "parse_event",
    "sign",
    "verify_signature",
]

log = logging.getLogger("centrepoint_async.receiver")

EVENT_HEADER = "X-ActiGraph-Event"
DELIVERY_HEADER = "X-ActiGraph-Delivery"
WEBHOOK_ID_HEADER = "X-ActiGraph-Webhook-id"
SIGNATURE_HEADER = "X-ActiGraph-Signature"
HOOK_SECRET_HEADER = "X-ActiGraph-Hook-Secret"  # noqa: S105 (a header name)


def sign(body: bytes | str, secret: str) -> str:
    """``base64(HMAC-SHA256(key=UTF-8 secret, msg=body))``, as CentrePoint signs deliveries."""
    data = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    body: bytes | str, signature: str | None, *, secret: str | Sequence[str]
) -> bool:
    """True if ``signature`` is the HMAC of ``body`` under ``secret`` (or any of several).

    Compare against the raw body bytes as received. Constant time per secret; a missing,
    empty or malformed signature is ``False``, never an exception.
    """
    if not signature or not isinstance(signature, str):
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    secrets = [secret] if isinstance(secret, str) else list(secret)
    data = body.encode() if isinstance(body, str) else body
    matched = False
    for key in secrets:  # check every secret: the time does not tell which one matched
        expected = hmac.new(key.encode(), data, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, given)
    return matched


@attrs.frozen
class InboundEvent:
    """One webhook delivery as received."""

    name: str  # X-ActiGraph-Event
    webhook_id: int | None  # X-ActiGraph-Webhook-id
    delivery_id: str | None  # X-ActiGraph-Delivery: the same for resends of one delivery
    payload: Event | None  # typed from the body; UnknownEvent if it does not fit


def _header_value(value: str | None) -> str | None:
    # documented examples show values like "upload," (a trailing comma)
    return value.strip().rstrip(",").strip() if value is not None else None


def parse_event(headers: Mapping[str, str], body: bytes | str) -> InboundEvent:
    """An :class:`InboundEvent` from a delivery's headers (any case) and raw body.

    Never raises: a body that is not JSON or not of its event's shape gives an
    ``UnknownEvent`` payload.
    """
    lookup = CIMultiDict(headers)
    name = event_name(lookup.get(EVENT_HEADER) or "")
    webhook_text = _header_value(lookup.get(WEBHOOK_ID_HEADER))
    digits = webhook_text is not None and webhook_text.isascii() and webhook_text.isdigit()
    webhook_id = int(webhook_text) if digits and webhook_text else None
    return InboundEvent(
        name=name,
        webhook_id=webhook_id,
        delivery_id=_header_value(lookup.get(DELIVERY_HEADER)) or None,
        payload=parse_payload(name, body),
    )


class DeliveryStore(Protocol):
    """Remembers delivery ids, so a repeated delivery is handled once.

    Implement it over your database to share it between processes.
    """

    async def claim(self, delivery_id: str) -> bool:
        """Record ``delivery_id``; False if it was already recorded."""
        ...

    async def release(self, delivery_id: str) -> None:
        """Forget ``delivery_id`` (its handling failed, so a resend must be handled)."""
        ...


class MemoryDeliveryStore:
    """A :class:`DeliveryStore` in memory, keeping the ``max_size`` most recent ids."""

    def __init__(self, max_size: int = 100_000) -> None:
        self.max_size = max_size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    async def claim(self, delivery_id: str) -> bool:
        if delivery_id in self._ids:
            self._ids.move_to_end(delivery_id)
            return False
        self._ids[delivery_id] = None
        while len(self._ids) > self.max_size:
            self._ids.popitem(last=False)
        return True

    async def release(self, delivery_id: str) -> None:
        self._ids.pop(delivery_id, None)


EventHandler = Callable[[InboundEvent], Awaitable[None]]


class WebhookReceiver:
    """An aiohttp endpoint for CentrePoint webhooks.

    Credentials: any of ``secret`` (HMAC, one or a list for rotation), ``basic_auth``
    (``(user, password)``) and ``bearer_token``; every one configured must pass, or the
    delivery gets 401 before its body is parsed. With none configured every delivery is
    accepted (a warning is logged): configure one in production.

    Answers: 200 handled (or a repeated delivery, dropped); 202 accepted while a handler runs
    past ``handler_timeout`` seconds (it goes on in the background); 400 body not JSON; 401 bad
    or missing credentials; 413 body over ``max_body_size`` bytes; 500 a handler raised
    (logged; the delivery id is released so CentrePoint's resend is handled).
    """

    def __init__(
        self,
        *,
        secret: str | Sequence[str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        max_body_size: int = 1024 * 1024,
        handler_timeout: float = 5.0,
        store: DeliveryStore | None = None,
    ) -> None:
        self._secrets = [secret] if isinstance(secret, str) else list(secret or [])
        self._basic = basic_auth
        self._bearer = bearer_token
        self.max_body_size = max_body_size
        self.handler_timeout = handler_timeout
        self.store: DeliveryStore = store if store is not None else MemoryDeliveryStore()
        self._handlers: dict[str | None, list[EventHandler]] = {}
        self._background: set[asyncio.Task[None]] = set()
        if not (self._secrets or basic_auth or bearer_token):
            log.warning("WebhookReceiver has no credentials configured: anyone can post events")

    def __repr__(self) -> str:
        methods = [
            name
            for name, on in (
                ("hmac", self._secrets),
                ("basic", self._basic),
                ("bearer", self._bearer),
            )
            if on
        ]
        return f"WebhookReceiver(auth={methods}, handlers={sorted(map(str, self._handlers))})"

    def on(self, name: str | type[Event] | None = None) -> Callable[[EventHandler], EventHandler]:
        """Register an async handler for event ``name`` in any spelling, or an event class
        (``None``: every event)."""
        if isinstance(name, type):
            names = [key for key, cls in EVENT_TYPES.items() if cls is name]
            if not names:
                raise ConfigurationError(f"{name.__name__} is not an event class with a name")
            key: str | None = names[0]
        else:
            key = event_name(name) if name is not None else None

        def register(handler: EventHandler) -> EventHandler:
            self._handlers.setdefault(key, []).append(handler)
            return handler

        return register

    def mount(self, app: web.Application, path: str = "/centrepoint/webhooks") -> None:
        """Route POST ``path`` of ``app`` to :meth:`handle`; finish handlers on cleanup."""
        app.router.add_post(path, self.handle)
        app.on_cleanup.append(lambda _: self.close())

    async def close(self) -> None:
        """Wait for handlers still running in the background."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # --- the handler ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler for CentrePoint's POSTs."""
        name = event_name(request.headers.get(EVENT_HEADER) or "")
        code = request.headers.get(HOOK_SECRET_HEADER)
        if name == "validation" and code:
            # the handshake: echo the code back so CentrePoint lets the webhook go live
            return web.Response(status=200, headers={HOOK_SECRET_HEADER: code})
        try:
            self.check_credentials(request.headers)  # before reading a byte of the body
            declared = request.content_length
            if declared is not None and declared > self.max_body_size:
                return web.Response(status=413, text="body too large")
            body = await self._read(request)
            if body is None:
                return web.Response(status=413, text="body too large")
            self.check_signature(request.headers, body)
        except SignatureError as exc:
            log.info("refused a delivery: %s", exc)
            return web.Response(status=401, text="unauthorized")
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return web.Response(status=400, text="body is not JSON")
        event = parse_event(request.headers, body)
        if event.delivery_id is not None and not await self.store.claim(event.delivery_id):
            log.info("dropped repeated delivery %s", event.delivery_id)
            return web.Response(status=200, text="duplicate")
        return await self._dispatch(event)

    async def _read(self, request: web.Request) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_body_size:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def check_credentials(self, headers: Mapping[str, str]) -> None:
        """Raise :class:`SignatureError` unless the Basic/Bearer credentials configured match.

        For other frameworks: call this, then :meth:`check_signature` with the raw body.
        """
        scheme, _, credentials = CIMultiDict(headers).get("Authorization", "").partition(" ")
        if self._basic is not None and not (
            scheme.lower() == "basic" and _basic_matches(credentials, self._basic)
        ):
            raise SignatureError("missing or wrong Basic credentials")
        if self._bearer is not None and not (
            scheme.lower() == "bearer"
            and hmac.compare_digest(credentials.strip().encode(), self._bearer.encode())
        ):
            raise SignatureError("missing or wrong Bearer token")

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise :class:`SignatureError` unless ``X-ActiGraph-Signature`` signs ``body``.

        Does nothing when no HMAC secret is configured.
        """
        if not self._secrets:
            return
        signature = CIMultiDict(headers).get(SIGNATURE_HEADER)
        if not signature:
            raise SignatureError("missing X-ActiGraph-Signature")
        if not verify_signature(body, signature, secret=self._secrets):
            raise SignatureError("X-ActiGraph-Signature does not match the body")

    def handlers_for(self, event: InboundEvent) -> list[EventHandler]:
        """The handlers ``event`` runs, in order: those of its name, then the catch-all ones."""
        return self._handlers.get(event.name, []) + self._handlers.get(None, [])

    async def _dispatch(self, event: InboundEvent) -> web.Response:
        handlers = self.handlers_for(event)
        if not handlers:
            return web.Response(status=200, text="ok")
        task = asyncio.ensure_future(self._run(handlers, event))
        try:
            await asyncio.wait_for(asyncio.shield(task), self.handler_timeout)
        except TimeoutError:
            self._background.add(task)
            task.add_done_callback(self._finished)
            return web.Response(status=202, text="accepted")
        except Exception:
            log.exception(
                "webhook handler failed for %s delivery %s", event.name, event.delivery_id
            )
            return web.Response(status=500, text="handler failed")
        return web.Response(status=200, text="ok")

    async def _run(self, handlers: list[EventHandler], event: InboundEvent) -> None:
        try:
            for handler in handlers:
                await handler(event)
        except BaseException:
            # failed (or cancelled at shutdown): CentrePoint's resend must be handled again
            if event.delivery_id is not None:
                await self.store.release(event.delivery_id)
            raise

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook handler failed in the background", exc_info=task.exception())


def _basic_matches(credentials: str, expected: tuple[str, str]) -> bool:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(":")
    ok_user = hmac.compare_digest(user.encode(), expected[0].encode())
    ok_password = hmac.compare_digest(password.encode(), expected[1].encode())
    return bool(sep) and ok_user and ok_password
