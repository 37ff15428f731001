"""Payloads: the typed event of a delivery body (rule 8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .._events import EVENT_TYPES, event_name
from .._models import Event, UnknownEvent
from ._generate import builder
from ._plan import BUILD_ERRORS

__all__ = ["parse_payload"]

# the builders of the event classes, by event name (strict: a misfit is an UnknownEvent)
_EVENT_BUILDERS: dict[str, Callable[[Any], Event]] = {
    name: builder(cls) for name, cls in EVENT_TYPES.items()
}


def parse_payload(name: str | None, body: str | bytes | None) -> Event | None:
    """The typed event of a delivery body (rule 8). Never raises.

    ``None`` for an empty body; ``UnknownEvent(name, data)`` for a body that is not JSON (its
    text), an unknown name, or a body that does not fit its event class (its JSON).
    """
    if body is None or body == "" or body == b"":
        return None
    name = event_name(name) if name else ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body if isinstance(body, str) else body.decode("utf-8", errors="replace")
        return UnknownEvent(name, text)
    build = _EVENT_BUILDERS.get(name)
    if build is None or type(data) is not dict:
        return UnknownEvent(name, data)
    try:
        return build(data)
    except BUILD_ERRORS:  # a value its class cannot read: the body is data, not a crash
        return UnknownEvent(name, data)
