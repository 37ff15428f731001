"""Receiving CentrePoint webhooks: see :mod:`centrepoint_async.receiver._core` for the rule."""

from ._core import (
    DeliveryStore,
    InboundEvent,
    MemoryDeliveryStore,
    WebhookReceiver,
    parse_event,
    sign,
    verify_signature,
)
from ._inbox import DEFAULT_MAX_DEDUPE_BYTES, DEFAULT_RETENTION, Inbox, StoredDelivery

__all__ = [
    "DEFAULT_MAX_DEDUPE_BYTES",
    "DEFAULT_RETENTION",
    "DeliveryStore",
    "InboundEvent",
    "Inbox",
    "MemoryDeliveryStore",
    "StoredDelivery",
    "WebhookReceiver",
    "parse_event",
    "sign",
    "verify_signature",
]
