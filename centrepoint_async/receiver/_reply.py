"""What the receiver answers: :class:`Reply`, and the answers every delivery shares."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._events import DELIVERY_HEADER, EVENT_HEADER


@attrs.frozen
class Reply:
    """What to answer a delivery: any web framework can send it as it is."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def _reply(status: int, text: str, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(
        status, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}, text.encode()
    )


# answers shared by every call (Reply is frozen)
OK = _reply(200, "ok")
DUPLICATE = _reply(200, "duplicate")
NO_HANDLER = _reply(200, "no handler for this event")
STORED = _reply(202, "stored")
UNAUTHORIZED = _reply(401, "unauthorized")
TOO_LARGE = _reply(413, "body too large")
NOT_JSON = _reply(400, "body is not JSON")
NOT_POST = _reply(405, "POST only", {"Allow": "POST"})
TIMEOUT = _reply(408, "body not received in time")
FAILED = _reply(500, "handler failed")
CLOSING = _reply(503, "shutting down", {"Retry-After": "60"})
BUSY = _reply(503, "too many deliveries in progress", {"Retry-After": "60"})
RUNNING = _reply(503, "still being handled", {"Retry-After": "60"})
UNSTORED = _reply(503, "could not store the delivery", {"Retry-After": "60"})
BAD_HANDSHAKE = _reply(400, "bad X-ActiGraph-Hook-Secret")
BAD_HEADERS = _reply(400, f"{EVENT_HEADER} or {DELIVERY_HEADER} is not valid UTF-8")
NOT_STARTED = _reply(503, "the receiver could not start", {"Retry-After": "60"})
