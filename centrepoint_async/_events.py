"""Event names: the one normaliser, and the read-only table of event classes.

CentrePoint spells one event several ways: ``upload`` in one header, ``Upload, `` in a history
item, ``UPLOAD`` elsewhere. Every place that reads or registers an event name (the receiver's
dispatch and ``on()``, :func:`~centrepoint_async.receiver.parse_event`, payload typing,
``DeliveryRequest.event_name`` and ``WebhookDelivery.event_name``) calls :func:`event_name`, so
all spellings meet: a name typed as ``UploadEvent`` always reaches the ``"upload"`` handlers.

Imports point one way: this module reads the event classes from ``_models`` and is read by
``_converter`` and the receiver; it never imports either of them.
"""

from __future__ import annotations

import functools
import re
import string
import types
from collections.abc import Mapping

from ._models import (
    Cp2DailyStatisticsCompleteEvent,
    DailyStatisticsCompleteEvent,
    DataRetrievalCompleteEvent,
    Event,
    RawProcessingCompleteEvent,
    UploadEvent,
    ValidationEvent,
)

#: The headers of a webhook delivery (the Webhooks page; names compared case-insensitively).
EVENT_HEADER = "X-ActiGraph-Event"
DELIVERY_HEADER = "X-ActiGraph-Delivery"
WEBHOOK_ID_HEADER = "X-ActiGraph-Webhook-id"
SIGNATURE_HEADER = "X-ActiGraph-Signature"
HOOK_SECRET_HEADER = "X-ActiGraph-Hook-Secret"  # noqa: S105 (a header name)

__all__ = ["EVENT_TYPES", "event_name", "event_type"]

# inner runs of blanks or hyphens: "Raw Processing Complete" and "raw-processing-complete"
_SEPARATORS = re.compile(r"[\s\-]+")
_BLANKS_AND_COMMAS = string.whitespace + ","


@functools.lru_cache(maxsize=256)  # a handful of names arrive millions of times
def event_name(raw: str) -> str:
    """The canonical spelling of an event name: ``" Upload, "`` -> ``"upload"``.

    Surrounding blanks and commas go (documented headers read ``upload,``), letters
    are lower-cased, and inner blanks or hyphens become one underscore. Never raises.
    """
    return _SEPARATORS.sub("_", raw.strip(_BLANKS_AND_COMMAS).lower())


#: Event classes by their canonical name (read-only).
EVENT_TYPES: Mapping[str, type[Event]] = types.MappingProxyType(
    {
        "upload": UploadEvent,
        "raw_processing_complete": RawProcessingCompleteEvent,
        "data_retrieval_complete": DataRetrievalCompleteEvent,
        "daily_statistics_complete": DailyStatisticsCompleteEvent,
        "cp2_daily_statistics_complete": Cp2DailyStatisticsCompleteEvent,
        "validation": ValidationEvent,
    }
)


def event_type(name: str | None) -> type[Event] | None:
    """The event class of ``name`` in any spelling, or ``None`` for a name we do not know."""
    return EVENT_TYPES.get(event_name(name)) if name else None
