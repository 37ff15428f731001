"""Receiving CentrePoint webhooks, losing none.

**The rule.** CentrePoint resends a delivery only while it does not get a 2xx. So the receiver
answers 2xx only once the delivery is *handled* (every matching handler returned) or *durably
stored* in its inbox; otherwise 5xx, so CentrePoint tries again. A repeated delivery id that
was handled or stored gets 200 and runs nothing.

- :func:`verify_signature` / :func:`sign`: the ``X-ActiGraph-Signature`` HMAC (base64
  HMAC-SHA256 of the raw body), constant time, several secrets for rotation.
- :func:`parse_event`: headers and body to an :class:`InboundEvent` with a typed payload.
- :class:`WebhookReceiver`: the façade over one framework-free core, ``await
  receiver.process(method, headers, body) -> Reply`` (``_core``: the HTTP rules and the
  lifecycle; ``_router``: the handlers; ``_direct`` / ``_pump``: handlers before the answer, or
  an inbox and its workers), and its adapters, which import the core and are never imported by
  it: aiohttp (``receiver.handle``, ``receiver.mount(app, path)``, loaded on first use) and ASGI
  (``receiver.asgi()``, with ``receiver.lifespan`` for Starlette and FastAPI)::

      receiver = WebhookReceiver(secret="s3cret", inbox=SQLiteInbox("inbox.db"))

      @receiver.on(cp.UploadEvent)  # or @receiver.on("upload"): any case or spacing
      async def on_upload(event: InboundEvent[cp.UploadEvent]) -> None: ...

      receiver.mount(app, "/centrepoint/webhooks")  # aiohttp
      # FastAPI: app = FastAPI(lifespan=receiver.lifespan)
      #          app.mount("/centrepoint/webhooks", receiver.asgi())

  A receiver with no credential is a ``ConfigurationError`` unless
  ``allow_unauthenticated=True``; ``@receiver.on_error`` hooks hear of every handler failure.
- Inboxes: :class:`SQLiteInbox` (one process per file, enforced; survives restarts);
  ``RedisInbox`` in ``centrepoint_async.redis`` (several replicas; a durable Redis); or your
  own :class:`Inbox`.

**Limits of the HMAC.** The signature covers the body only: not the delivery id, the event
name nor a time. Someone who captured one signed delivery can post the same body again under a
new ``X-ActiGraph-Delivery`` id, and it will be handled again. What helps: TLS everywhere (so
nothing is captured), an allow-list of CentrePoint's sender IPs at your firewall, and handlers
that are idempotent on the event's own ids (``upload_id``, ``tracking_id``, ...).
"""

from ._inbox import DEFAULT_MAX_DEDUPE_BYTES, DEFAULT_RETENTION, Inbox, StoredDelivery
from ._parse import InboundEvent, parse_event, sign, verify_signature
from ._receiver import WebhookReceiver
from ._reply import Reply
from ._sqlite import SQLiteInbox

__all__ = [
    "DEFAULT_MAX_DEDUPE_BYTES",
    "DEFAULT_RETENTION",
    "InboundEvent",
    "Inbox",
    "Reply",
    "SQLiteInbox",
    "StoredDelivery",
    "WebhookReceiver",
    "parse_event",
    "sign",
    "verify_signature",
]
