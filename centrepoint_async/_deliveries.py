"""Webhook history items: :class:`WebhookDelivery`, its request and its response.

A history item carries its headers as JSON inside a string, and its payload as the text that
was sent. Both are parsed on first access (``functools.cached_property``, kept in a slot), so an
export that only writes items out never pays for them; the text stays in ``raw_headers`` and
``body``, and equality compares the text. These classes sit above the converter (they call it
to parse), and the converter never imports them: imports point one way,
``_models`` <- ``_converter`` <- ``_deliveries``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import orjson
from multidict import CIMultiDictProxy

from ._converter import (
    builder,
    json_name,
    parse_headers,
    parse_payload,
    register_structure,
    register_unstructure,
    unstructure,
)
from ._converter._headers import json_text
from ._converter._plan import check_plain, slot_setter
from ._converter._scalars import READ_ERRORS, to_int
from ._events import DELIVERY_HEADER, EVENT_HEADER, EVENT_TYPES, event_name
from ._models import Event, _Model

__all__ = ["DeliveryRequest", "DeliveryResponse", "WebhookDelivery", "structure_delivery"]


@attrs.frozen(repr=False, init=False)
class DeliveryRequest(_Model):
    """What CentrePoint sent in one delivery attempt.

    ``headers`` and ``payload`` are parsed on first access (then kept), so a bulk export that
    only writes items out never pays for them. Equality compares the text as sent.

    Made by hand as ``DeliveryRequest(headers, body, payload)``: ``headers`` (a mapping of a
    value or a list of values per name, a multidict, or the API's JSON text) is kept as that
    JSON text (``raw_headers``). A ``payload`` given without a ``body`` is written as its JSON;
    with one, the body must read as it (else ``ValueError``). When no X-ActiGraph-Event header
    names the payload's event, ``fallback_event`` does. Read back from an export, a request
    is typed as any is: by that header, else by the delivery's ``webhook_event``.
    """

    body: str = attrs.field(default="", repr=False)  # the payload exactly as sent
    raw_headers: str = attrs.field(default="", repr=False)  # the JSON-in-a-string, verbatim
    #: The item's ``webhookEvent``: types the payload when X-ActiGraph-Event is missing.
    fallback_event: str | None = None

    def __init__(
        self,
        headers: Mapping[str, str | Sequence[str]] | str | None = None,
        body: str = "",
        payload: Event | None = None,
        *,
        raw_headers: str | None = None,
        fallback_event: str | None = None,
    ) -> None:
        if payload is not None and not body:
            body = json_text(unstructure(payload))
        self.__attrs_init__(body, _headers_text(headers, raw_headers), fallback_event)
        if payload is not None:
            if fallback_event is None and not self.headers.get(EVENT_HEADER):  # parsed once
                _set_fallback(
                    self, _EVENT_NAMES.get(type(payload)) or getattr(payload, "name", None)
                )
            if self.payload != payload:  # the body as it reads, against the payload given
                raise ValueError(f"the body does not read as the payload given: {body!r:.80}")
            _set_payload(self, payload)

    @functools.cached_property
    def headers(self) -> CIMultiDictProxy[str]:
        """Case-insensitive headers (``getall`` for every value), parsed on first access."""
        return parse_headers(self.raw_headers)

    @property
    def event_name(self) -> str | None:
        """X-ActiGraph-Event, else ``fallback_event``, normalised: it types ``payload``."""
        name = self.headers.get(EVENT_HEADER) or self.fallback_event
        return event_name(name) if name is not None else None

    @functools.cached_property
    def payload(self) -> Event | None:
        """The typed event of ``body``: ``None`` if empty, ``UnknownEvent`` if it does not fit."""
        return parse_payload(self.event_name, self.body)


@attrs.frozen(repr=False, init=False)
class DeliveryResponse(_Model):
    """What the subscriber answered; absent from a delivery when nothing answered.

    Deliveries answered alike (same code, short body, same headers) share one object. Made by
    hand as ``DeliveryResponse(response_code, headers, body)``, headers as for a request.
    """

    response_code: int | None = None
    body: str = attrs.field(default="", repr=False)
    raw_headers: str = attrs.field(default="", repr=False)

    def __init__(
        self,
        response_code: int | None = None,
        headers: Mapping[str, str | Sequence[str]] | str | None = None,
        body: str = "",
        *,
        raw_headers: str | None = None,
    ) -> None:
        self.__attrs_init__(response_code, body, _headers_text(headers, raw_headers))

    @functools.cached_property
    def headers(self) -> CIMultiDictProxy[str]:
        """Case-insensitive headers (``getall`` for every value), parsed on first access."""
        return parse_headers(self.raw_headers)


def _headers_text(
    headers: Mapping[str, str | Sequence[str]] | str | None, raw_headers: str | None
) -> str:
    """The API's JSON-in-a-string for headers given to a constructor: a mapping (a value or a
    list of values per name, or a multidict), or that text itself."""
    if headers is not None and raw_headers is not None:
        raise TypeError("give headers or raw_headers, not both")
    if headers is None:
        return raw_headers or ""
    if isinstance(headers, str):
        try:
            is_object = isinstance(orjson.loads(headers), dict)
        except orjson.JSONDecodeError:
            is_object = False
        if not is_object:
            raise TypeError(f"headers given as text must be a JSON object: {headers!r:.80}")
        return headers
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping or JSON text, not {type(headers).__name__}")
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():  # a multidict gives every value of a name in turn
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(name, str)
            or not isinstance(values, list | tuple)
            or not all(isinstance(v, str) for v in values)
        ):
            raise TypeError(f"header {name!r}: a str or a list of str, got {value!r}")
        grouped.setdefault(str(name), []).extend(values)  # multidict names are istr
    return json_text(grouped)


# the event name of each event class, for a payload made by hand (UnknownEvent has its own)
_EVENT_NAMES = {cls: name for name, cls in EVENT_TYPES.items()}


@attrs.frozen(repr=False)
class WebhookDelivery(_Model):
    """One item of a webhook's history: a delivery attempt and its outcome.

    ``raw`` is the item exactly as the API sent it (decoded JSON), for lossless export.
    """

    id: int
    webhook_id: int | None = None
    webhook_event_id: int | None = None
    webhook_event: str | None = None  # may disagree with the request's X-ActiGraph-Event
    created_date: datetime | None = None
    last_sent_date: datetime | None = None
    error_message: str | None = None  # set when sending failed
    request: DeliveryRequest = attrs.field(factory=DeliveryRequest)
    response: DeliveryResponse | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def event_name(self) -> str | None:
        """The event as the request headers name it, else as ``webhook_event`` does, normalised."""
        name = self.request.event_name or self.webhook_event
        return event_name(name) if name is not None else None

    @property
    def delivery_id(self) -> str | None:
        """The ``X-ActiGraph-Delivery`` id of the request, shared by resends of one delivery."""
        return self.request.headers.get(DELIVERY_HEADER)

    @property
    def failed(self) -> bool:
        """True when the attempt errored or the subscriber did not answer 2xx."""
        if self.error_message:
            return True
        code = self.response.response_code if self.response else None
        return code is None or not 200 <= code < 300


# --- reading ---------------------------------------------------------------------------------

for _cls in (DeliveryRequest, DeliveryResponse, WebhookDelivery):
    check_plain(_cls)  # built below by setting slots, as the converter's builders do

_new_request = functools.partial(DeliveryRequest.__new__, DeliveryRequest)
_new_response = functools.partial(DeliveryResponse.__new__, DeliveryResponse)
_set_body, _set_raw_headers, _set_fallback, _set_payload = (
    slot_setter(DeliveryRequest, name)
    for name in ("body", "raw_headers", "fallback_event", "payload")
)
_set_code, _set_response_body, _set_response_headers = (
    slot_setter(DeliveryResponse, name) for name in ("response_code", "body", "raw_headers")
)
_set_request, _set_response, _set_raw = (
    slot_setter(WebhookDelivery, name) for name in ("request", "response", "raw")
)
_build_delivery: Callable[[Any], WebhookDelivery] = builder(
    WebhookDelivery, lenient=True, skip=frozenset({"request", "response"})
)


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    return json_text(value)


def _request(data: Any, fallback_event: str | None) -> DeliveryRequest:
    request = _new_request()
    if type(data) is dict:
        # text as sent, the common case, stored without a call (this runs for every item)
        body, headers = data.get("body"), data.get("headers")
        _set_body(request, body if type(body) is str else _text(body))
        _set_raw_headers(request, headers if type(headers) is str else _text(headers))
    else:
        _set_body(request, "")
        _set_raw_headers(request, "")
    _set_fallback(request, fallback_event)
    return request


def _response(data: Any) -> DeliveryResponse | None:
    if type(data) is not dict:
        return None
    code = data.get("responseCode", data.get("response_code"))
    if code is not None and type(code) is not int:
        try:
            code = to_int(code)
        except READ_ERRORS:
            code = None
    body, headers = data.get("body"), data.get("headers")
    body = body if type(body) is str else _text(body)
    headers = headers if type(headers) is str else _text(headers)
    if len(body) + len(headers) <= _SHARED_TEXT:
        return _shared_response(code, body, headers)
    return _new_delivery_response(code, body, headers)


def _new_delivery_response(code: int | None, body: str, headers: str) -> DeliveryResponse:
    response = _new_response()
    _set_code(response, code)
    _set_response_body(response, body)
    _set_response_headers(response, headers)
    return response


# Subscribers answer a webhook the same few ways (``200``, no body, the same two headers): equal
# answers share one frozen object (and its parsed headers), which saves their typing and keeps
# what the garbage collector walks small when a listing is collected. Long texts are not kept
# (their headers are parsed for each, on first access).
_SHARED_TEXT = 512
_shared_response = functools.lru_cache(maxsize=256)(_new_delivery_response)


def structure_delivery(item: Any) -> WebhookDelivery:
    """One webhook history item as a :class:`WebhookDelivery` (rules 6 to 8, 10).

    Raises :class:`~centrepoint_async.DecodeError` if the item is not an object or has no
    readable ``id``; any other odd value is left at its default (``raw`` keeps it).
    """
    delivery = _build_delivery(item)
    _set_request(delivery, _request(item.get("request"), delivery.webhook_event))
    _set_response(delivery, _response(item.get("response")))
    _set_raw(delivery, item)
    return delivery


register_structure(WebhookDelivery, structure_delivery)


# --- writing back ----------------------------------------------------------------------------


def _write_delivery(delivery: WebhookDelivery) -> dict[str, Any]:
    """The API's own shape: headers as JSON text, so ``structure`` reads it back equal."""
    out: dict[str, Any] = {}
    for field in attrs.fields(WebhookDelivery):
        if field.name not in ("request", "response", "raw"):
            out[json_name(WebhookDelivery, field)] = unstructure(getattr(delivery, field.name))
    request = delivery.request
    out["request"] = {"headers": request.raw_headers, "body": request.body}
    response = delivery.response
    if response is not None:
        out["response"] = {
            "responseCode": response.response_code,
            "headers": response.raw_headers,
            "body": response.body,
        }
    return out


register_unstructure(WebhookDelivery, _write_delivery)
