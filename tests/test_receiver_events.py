"""One event-name normaliser: every spelling reaches the same class and the same handler."""

from __future__ import annotations

import types
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async._converter import parse_payload
from centrepoint_async._deliveries import structure_delivery
from centrepoint_async._events import event_name, event_type
from centrepoint_async.receiver import InboundEvent, WebhookReceiver, parse_event

SPELLINGS = ["upload", "Upload", "UPLOAD", " upload, ", "Upload, ", "upload,", "\tUpLoad ,"]
UPLOAD_BODY = b'{"status": "started", "uploadId": "7", "studyId": "1", "subjectId": "2"}'


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_normalises_to_the_canonical_name(spelling: str) -> None:
    """Case, surrounding blanks and trailing commas never change which event a name means."""
    assert event_name(spelling) == "upload"
    assert event_type(spelling) is cp.UploadEvent


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Raw Processing Complete", "raw_processing_complete"),
        ("raw-processing-complete", "raw_processing_complete"),
        ("CP2_Daily_Statistics_Complete,", "cp2_daily_statistics_complete"),
        ("sleep_score_complete", "sleep_score_complete"),
        ("", ""),
    ],
)
def test_inner_spacing_and_unknown_names(spelling: str, canonical: str) -> None:
    """Inner blanks or hyphens become underscores; unknown names keep their (normalised) text."""
    assert event_name(spelling) == canonical


def test_event_types_is_read_only() -> None:
    """The package's table of event classes cannot be changed by accident."""
    assert isinstance(cp.EVENT_TYPES, types.MappingProxyType)
    with pytest.raises(TypeError):
        cp.EVENT_TYPES["upload"] = cp.UnknownEvent  # type: ignore[index]
    assert all(event_name(name) == name for name in cp.EVENT_TYPES)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_payload_typing_and_parse_event_agree(spelling: str) -> None:
    """parse_payload, parse_event and a history item all type and name the event alike."""
    assert isinstance(parse_payload(spelling, UPLOAD_BODY), cp.UploadEvent)
    inbound = parse_event({"X-ActiGraph-Event": spelling}, UPLOAD_BODY)
    assert inbound.name == "upload" and isinstance(inbound.payload, cp.UploadEvent)
    headers = orjson.dumps({"X-ActiGraph-Event": [spelling]}).decode()
    item = {"id": 1, "request": {"headers": headers, "body": UPLOAD_BODY.decode()}}
    delivery = structure_delivery(item)
    assert delivery.event_name == "upload" == delivery.request.event_name
    assert isinstance(delivery.request.payload, cp.UploadEvent)
    fallback = structure_delivery({"id": 2, "webhookEvent": spelling, "request": {"body": "{}"}})
    assert fallback.event_name == "upload"


@pytest.mark.parametrize("registered", [*SPELLINGS, cp.UploadEvent])
def test_every_spelling_reaches_the_same_handler(registered: str | type[cp.Event]) -> None:
    """A handler registered under any spelling, or by class, gets every spelling's events."""
    receiver = WebhookReceiver(secret="s")
    register: Any = receiver.on(registered)  # either overload: the union is the point here

    async def handler(event: InboundEvent) -> None:
        return None

    register(handler)

    for spelling in SPELLINGS:
        assert receiver.handlers_for(parse_event({"X-ActiGraph-Event": spelling}, b"{}")) == [
            handler
        ]


def test_registering_a_class_without_a_name_is_a_configuration_error() -> None:
    """UnknownEvent has no event name of its own: registering it would never match."""
    with pytest.raises(cp.ConfigurationError):
        WebhookReceiver(secret="s").on(cp.UnknownEvent)


@given(st.text(max_size=40))
def test_normaliser_is_idempotent(raw: str) -> None:
    """Normalising twice gives the same name, so stored names match registered ones."""
    assert event_name(event_name(raw)) == event_name(raw)
