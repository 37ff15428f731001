"""The clients a user would write instead of using the SDK, for benchmark 2.

Each reads one served history page (bytes) completely: every top-level field, every request
and response header, every payload typed by its event name. They are the peers of the SDK's
"typed export" row:

- ``naive``: stdlib ``json``, nested JSON parsed by hand into dicts (what most scripts do;
  ``_common.naive_page``);
- ``pydantic``: pydantic v2 models, ``model_validate_json`` on the page, headers and payloads;
- ``msgspec``: msgspec ``Struct`` types and typed decoders for the same three documents.

The pydantic and msgspec models declare the same fields, under the same JSON names, as the
SDK's models (they are derived from the SDK's field lists so that no field is forgotten on
either side); :func:`summary` turns any peer's item into plain values, so the benchmark can
check that every peer read the same values as the SDK from the same bytes.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import msgspec
import orjson
import pydantic
from pydantic.alias_generators import to_camel

import centrepoint_async as cp
from centrepoint_async._converter import json_name

from ._common import naive_page

ReadPage = Callable[[bytes], list[Any]]


# --- models of the peers, field for field the SDK's ------------------------------------------


def _peer_type(annotation: Any, make: Callable[[type], Any]) -> Any:
    """The peer's annotation for one of the SDK's: nested models mapped, tuples as lists."""
    if typing.get_origin(annotation) is tuple:
        return list[_peer_type(typing.get_args(annotation)[0], make)]  # type: ignore[misc]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1:
        return _peer_type(args[0], make) | None
    if attrs.has(annotation):
        return make(annotation)
    return annotation


def _fields(cls: type[Any]) -> list[tuple[str, Any, str]]:
    """(name, type, JSON name) of an SDK model's fields, without ``extra``."""
    hints = typing.get_type_hints(cls)
    return [
        (f.name, hints[f.name], json_name(cls, f))
        for f in attrs.fields(cls)
        if f.name not in _NOT_READ
    ]


# not fields of the JSON: ``extra`` is the rest; a delivery's request and response are below
_NOT_READ = frozenset({"extra", "request", "response", "raw"})


def _default(annotation: Any) -> Any:
    return [] if typing.get_origin(annotation) is list else None


def _data(body: str) -> Any:
    """What a body that fits no model holds: its JSON, else its text."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body


_PYDANTIC: dict[type, type[pydantic.BaseModel]] = {}


def pydantic_model(cls: type[Any]) -> type[pydantic.BaseModel]:
    """A pydantic v2 model with the fields and JSON names of the SDK's ``cls``."""
    if cls not in _PYDANTIC:
        definitions: dict[str, Any] = {}
        for name, annotation, alias in _fields(cls):
            peer = _peer_type(annotation, pydantic_model)
            definitions[name] = (peer, pydantic.Field(_default(peer), alias=alias))
        _PYDANTIC[cls] = pydantic.create_model(
            f"Pydantic{cls.__name__}", __config__=pydantic.ConfigDict(frozen=True), **definitions
        )
    return _PYDANTIC[cls]


class _PydanticBase(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(alias_generator=to_camel, frozen=True)


class PydanticRequest(_PydanticBase):
    headers: str = ""
    body: str = ""


class PydanticResponse(_PydanticBase):
    response_code: int | None = None
    headers: str = ""
    body: str = ""


# the delivery's own fields as the SDK declares them, then the request and response as sent
PydanticDelivery = pydantic.create_model(
    "PydanticDelivery",
    __base__=pydantic_model(cp.WebhookDelivery),
    request=(PydanticRequest, PydanticRequest()),
    response=(PydanticResponse | None, None),
)
PydanticPage = pydantic.create_model("PydanticPage", items=(list[PydanticDelivery], ...))  # type: ignore[valid-type]


_pydantic_headers = pydantic.TypeAdapter(dict[str, list[str]])
_pydantic_events = {
    name: pydantic_model(cls).model_validate_json for name, cls in cp.EVENT_TYPES.items()
}


def pydantic_page(body: bytes) -> list[tuple[Any, ...]]:
    """The page, then per item its request headers, response headers and payload."""
    items: list[Any] = PydanticPage.model_validate_json(body).items  # type: ignore[attr-defined]
    # pydantic's ValidationError is a ValueError
    return _read(items, _pydantic_headers.validate_json, _pydantic_events, ValueError)


def _read(
    items: list[Any],
    headers: Callable[[str], dict[str, list[str]]],
    payloads: Mapping[str, Callable[[str], Any]],
    misfit: type[Exception],
) -> list[tuple[Any, ...]]:
    """Per item: the item, its request headers, response headers and payload (else its data)."""
    out = []
    for item in items:
        request_headers = headers(item.request.headers)
        response = item.response
        response_headers = headers(response.headers) if response else None
        payload: Any = None
        body = item.request.body
        if body:
            decode = payloads.get(request_headers.get("X-ActiGraph-Event", [""])[0])
            try:
                payload = _data(body) if decode is None else decode(body)
            except misfit:  # not JSON, or does not fit its model: keep the data
                payload = _data(body)
        out.append((item, request_headers, response_headers, payload))
    return out


_MSGSPEC: dict[type, type[msgspec.Struct]] = {}


def msgspec_struct(cls: type[Any]) -> type[msgspec.Struct]:
    """A msgspec Struct with the fields and JSON names of the SDK's ``cls``."""
    if cls not in _MSGSPEC:
        fields = []
        renames = {}
        for name, annotation, alias in _fields(cls):
            peer = _peer_type(annotation, msgspec_struct)
            default = _default(peer)
            fields.append(
                (name, peer, msgspec.field(default_factory=list) if default == [] else default)
            )
            renames[name] = alias
        _MSGSPEC[cls] = msgspec.defstruct(f"Msgspec{cls.__name__}", fields, rename=renames)
    return _MSGSPEC[cls]


class MsgspecRequest(msgspec.Struct, rename="camel"):
    headers: str = ""
    body: str = ""


class MsgspecResponse(msgspec.Struct, rename="camel"):
    response_code: int | None = None
    headers: str = ""
    body: str = ""


MsgspecDelivery = msgspec.defstruct(
    "MsgspecDelivery",
    [
        ("request", MsgspecRequest, msgspec.field(default_factory=MsgspecRequest)),
        ("response", MsgspecResponse | None, None),
    ],
    bases=(msgspec_struct(cp.WebhookDelivery),),
)
MsgspecPage = msgspec.defstruct("MsgspecPage", [("items", list[MsgspecDelivery])])  # type: ignore[valid-type]


_msgspec_page = msgspec.json.Decoder(MsgspecPage)
_msgspec_headers = msgspec.json.Decoder(dict[str, list[str]])
# strict=False: ids sent as strings ("uploadId": "362288") are read as numbers
_msgspec_events = {
    name: msgspec.json.Decoder(msgspec_struct(cls), strict=False).decode
    for name, cls in cp.EVENT_TYPES.items()
}


def msgspec_page(body: bytes) -> list[tuple[Any, ...]]:
    """The page, then per item its request headers, response headers and payload."""
    items: list[Any] = _msgspec_page.decode(body).items  # type: ignore[attr-defined]
    # msgspec's ValidationError is a DecodeError
    return _read(items, _msgspec_headers.decode, _msgspec_events, msgspec.DecodeError)


PEERS: dict[str, ReadPage] = {
    "naive": naive_page,
    "pydantic": pydantic_page,
    "msgspec": msgspec_page,
}


# --- the same values? ------------------------------------------------------------------------

_TOP = ("id", "webhook_id", "webhook_event_id", "webhook_event", "created_date", "last_sent_date")


def plain(value: Any) -> Any:
    """Any peer's value as plain data, keyed by the SDK's field names; ``extra`` left out."""
    if isinstance(value, cp.UnknownEvent):
        return plain(value.data)
    if attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value)) if f.name != "extra"]
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, pydantic.BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, msgspec.Struct):
        return {name: plain(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, Mapping):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.timestamp()  # +00:00 and Z, of whichever tzinfo class, compare alike
    return value


def _headers(values: Any) -> list[tuple[str, str]]:
    if values is None:
        return []
    if isinstance(values, Mapping) and not hasattr(values, "getall"):
        return [(k, v) for k, vs in values.items() for v in vs]
    return list(values.items())


def summary(peer: str, item: Any) -> tuple[Any, ...]:
    """What a reader of the item sees: top-level fields, both headers, the payload."""
    if peer == "sdk":
        response = item.response
        return (
            tuple(getattr(item, name) for name in _TOP),
            _headers(item.request.headers),
            _headers(response.headers if response else None),
            plain(item.request.payload),
        )
    if peer == "naive":
        request, response = item["request"], item.get("response")
        created, sent = item.get("createdDate"), item.get("lastSentDate")
        return (
            (
                item["id"],
                item.get("webhookId"),
                item.get("webhookEventId"),
                item.get("webhookEvent"),
                created and datetime.fromisoformat(created),
                sent and datetime.fromisoformat(sent),
            ),
            _headers(request["headers"]),
            _headers(response["headers"] if response else None),
            None,  # JSON names and values as sent: compared through the other peers
        )
    model, request_headers, response_headers, payload = item
    return (
        tuple(getattr(model, name) for name in _TOP),
        _headers(request_headers),
        _headers(response_headers),
        plain(payload),
    )
