"""What a type checker infers from the public API (``assert_type``; never run, only checked).

tests/typing/test_typing.py runs mypy --strict and pyright strict over this file: a change that
loses an item type of a pager, or the narrowing of an event payload, fails there.
"""

from __future__ import annotations

from typing import assert_type

import centrepoint_async as cp
from centrepoint_async.receiver import InboundEvent, WebhookReceiver, parse_event


async def pagers_yield_typed_items(client: cp.CentrePointClient) -> None:
    """Each list call is an AsyncPager of its model; get calls return the model."""
    assert_type(client.studies.list(), cp.AsyncPager[cp.Study])
    assert_type(client.webhook_events.list(), cp.AsyncPager[cp.WebhookEvent])
    assert_type(client.webhooks.list(1), cp.AsyncPager[cp.Webhook])
    assert_type(await client.studies.get(1), cp.Study)
    assert_type(await client.webhooks.get(1, 2), cp.Webhook)

    history = client.webhooks.history(1, 2, page_size=50, concurrency=4)
    assert_type(history, cp.AsyncPager[cp.WebhookDelivery])
    async for delivery in history:
        assert_type(delivery, cp.WebhookDelivery)
    async for page in client.webhooks.history(1, 2).pages():
        assert_type(page, cp.Page[cp.WebhookDelivery])
        assert_type(page.items, list[cp.WebhookDelivery])
    assert_type(await client.studies.list().collect(), list[cp.Study])
    assert_type(history.resume_offset, int)


def payloads_narrow_by_isinstance(delivery: cp.WebhookDelivery) -> None:
    """A delivery's payload is the union of the event classes (or None); isinstance narrows it."""
    payload = delivery.request.payload
    assert_type(payload, cp.Event | None)
    if isinstance(payload, cp.UploadEvent):
        assert_type(payload, cp.UploadEvent)
        assert_type(payload.upload_id, int | None)
    elif isinstance(payload, cp.DataRetrievalCompleteEvent):
        assert_type(payload, cp.DataRetrievalCompleteEvent)
    elif isinstance(payload, cp.UnknownEvent):
        assert_type(payload.name, str)
    elif payload is not None:
        assert_type(
            payload,
            cp.RawProcessingCompleteEvent
            | cp.DailyStatisticsCompleteEvent
            | cp.Cp2DailyStatisticsCompleteEvent
            | cp.ValidationEvent,
        )
    if delivery.response is not None:
        assert_type(delivery.response, cp.DeliveryResponse)


def deliveries_made_by_hand() -> cp.WebhookDelivery:
    """DeliveryRequest(headers, body, payload) and DeliveryResponse(response_code, headers, body)
    type-check with a mapping of values or lists, a multidict or JSON text as headers."""
    request = cp.DeliveryRequest({"X-ActiGraph-Event": "upload", "X-Tag": ["a", "b"]}, "{}")
    again = cp.DeliveryRequest(request.headers, payload=cp.UploadEvent(upload_id=1))
    response = cp.DeliveryResponse(200, '{"Server": ["nginx"]}', "ok")
    assert_type(again.payload, cp.Event | None)
    return cp.WebhookDelivery(id=1, request=again, response=response)


def payloads_narrow_by_match(event: InboundEvent) -> str:
    """``match`` on the event classes narrows an inbound event's payload as well."""
    match event.payload:
        case cp.UploadEvent(upload_id=upload_id):
            assert_type(upload_id, int | None)
            return "upload"
        case cp.ValidationEvent() as validation:
            assert_type(validation, cp.ValidationEvent)
            return "validation"
        case None:
            return "empty"
        case other:
            assert_type(
                other,
                cp.RawProcessingCompleteEvent
                | cp.DataRetrievalCompleteEvent
                | cp.DailyStatisticsCompleteEvent
                | cp.Cp2DailyStatisticsCompleteEvent
                | cp.UnknownEvent,
            )
            return "other"


def receiving_side_is_typed() -> None:
    """parse_event gives an InboundEvent; errors keep their fields' types."""
    event = parse_event({"X-ActiGraph-Event": "upload"}, b"{}")
    assert_type(event, InboundEvent)
    assert_type(event.name, str)
    error = cp.RateLimitError(429, "GET", "https://api.example/x", "")
    assert_type(error.retry_after, float | None)
    assert_type(error.status, int)


def handlers_registered_by_class_get_that_payload(receiver: WebhookReceiver) -> None:
    """``@receiver.on(cp.UploadEvent)`` hands the handler an ``InboundEvent[cp.UploadEvent]``."""

    @receiver.on(cp.UploadEvent)
    async def on_upload(event: InboundEvent[cp.UploadEvent]) -> None:
        assert_type(event.payload, cp.UploadEvent)
        assert_type(event.payload.upload_id, int | None)
