"""The one cattrs converter of centrepoint-async, and every rule it follows.

Built on cattrs' preconf ``orjson`` converter. Rules, for every model:

1. **Keys.** A JSON key matches a field when the two are equal ignoring case and underscores,
   so ``studyId``, ``study_id``, ``StudyId`` and ``firstEpochUTC`` / ``first_epoch_utc`` all
   work: the API sends camelCase, snake_case (``raw_processing_complete``,
   ``data_retrieval_complete``) and PascalCase (``validation``) as it pleases.
2. **Unknown keys** are ignored on resources and kept on event classes in ``extra``, under
   their original names. New fields never break parsing.
3. **Numbers sent as strings** (``"uploadId": "362288"``) become ``int`` / ``float``; an
   integral float (``865.0``) is accepted as an ``int``, and an ``int`` where a ``float`` is
   expected stays as sent (it is one). Booleans are never numbers; the strings
   ``"true"``/``"false"`` are accepted as booleans. Numbers are accepted where text is expected.
4. **Datetimes**: ISO 8601 with ``Z`` or an offset become aware UTC datetimes; without a zone,
   naive datetimes (subject-local time, as the API defines it). Up to 7 fractional digits
   (``2018-03-08T00:20:00.0000000``) are accepted; digits past microseconds are dropped.
5. **Lists**: ``null`` where a list is expected becomes an empty tuple; a single object where a
   list of objects is expected (the daily statistics aggregations, documented as objects and sent
   as arrays) becomes a one-item tuple.
6. **Leniency.** On resources (studies, webhooks, deliveries) a value that cannot be read as its
   field's type leaves the field at its default (``None``) and never raises; the delivery keeps
   its JSON in ``raw``. On events, such a value makes the whole payload an ``UnknownEvent``
   holding what could be read (see :func:`parse_payload`).
7. **Headers** of history items are JSON documents inside strings (values are lists of
   strings, or plain strings): they become ``CIMultiDictProxy[str]`` on first access of
   ``headers``; text that is not a JSON object gives empty headers; the text is always kept in
   ``raw_headers``.
8. **Payloads** are typed by the request's ``X-ActiGraph-Event`` header, else by the item's
   ``webhookEvent``, on first access of ``request.payload``; an empty body is ``None``; a body
   that is not JSON, or does not fit its type, becomes ``UnknownEvent(name, data)``. Parsing
   one odd item never raises, nor does reading its payload.
9. **Writing back** (:func:`unstructure`): keys in the model's JSON style (camelCase, snake_case
   or PascalCase, acronyms such as ``VA``/``MVPA`` in capitals, or a field's ``json`` metadata),
   ``extra`` merged in; ``structure(unstructure(x)) == x``.
"""

from __future__ import annotations

import contextlib
import re
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import attrs
import orjson
from cattrs.preconf.orjson import make_converter
from multidict import CIMultiDict, CIMultiDictProxy

from ._events import EVENT_TYPES, event_name
from ._models import (
    DeliveryRequest,
    DeliveryResponse,
    Event,
    Study,
    UnknownEvent,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    _Model,
    empty_headers,
)

__all__ = [
    "converter",
    "parse_headers",
    "parse_payload",
    "structure",
    "structure_delivery",
    "unstructure",
]

T = TypeVar("T")
StructureHook = Callable[[Any, Any], Any]

#: Models on which an unreadable value is dropped (rule 6) rather than raised.
_LENIENT: frozenset[type] = frozenset(
    {Study, WebhookEvent, Webhook, WebhookDelivery, DeliveryRequest, DeliveryResponse}
)
_ACRONYMS = frozenset({"va", "vm", "mvpa"})

converter = make_converter()


# --- scalars ---------------------------------------------------------------------------------


def _to_int(value: Any, _: Any = None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = float(text)
            if number.is_integer():
                return int(number)
    raise ValueError(f"not an integer: {value!r}")


def _to_float(value: Any, _: Any = None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError(f"not a number: {value!r}")


def _to_str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"not text: {value!r}")


def _to_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"not a boolean: {value!r}")


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: Any, _: Any = None) -> datetime:
    """An ISO 8601 datetime: aware UTC with ``Z``/offset, naive (subject-local) without."""
    if not isinstance(value, str):
        raise ValueError(f"not a datetime: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    if parsed.tzinfo is None or parsed.tzinfo is UTC:
        return parsed
    return parsed.astimezone(UTC)


def _identity(value: Any, _: Any = None) -> Any:
    return value


converter.register_structure_hook(int, _to_int)
converter.register_structure_hook(float, _to_float)
converter.register_structure_hook(str, _to_str)
converter.register_structure_hook(bool, _to_bool)
converter.register_structure_hook(datetime, parse_datetime)
converter.register_structure_hook_func(lambda t: t is Any, _identity)


def _is_mapping(t: Any) -> bool:
    origin: Any = typing.get_origin(t) or t
    return origin is Mapping or origin is dict


converter.register_structure_hook_func(_is_mapping, _identity)


def _is_tuple_of(t: Any) -> bool:
    args = typing.get_args(t)
    return typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


@converter.register_structure_hook_factory(_is_tuple_of)
def _tuple_hook(t: Any) -> StructureHook:
    item_type = typing.get_args(t)[0]
    single_object = attrs.has(item_type)
    item_hook: StructureHook
    if single_object:  # models: straight to their kwargs maker, no dispatch per item
        make_kwargs = _kwargs_maker(item_type)

        def structure_item(item: Any, _: Any) -> Any:
            return item_type(**make_kwargs(item))

        item_hook = structure_item
    else:
        item_hook = converter.get_structure_hook(item_type)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if value is None:
            return ()
        if type(value) is list:
            return tuple([item_hook(item, item_type) for item in value])
        if single_object and isinstance(value, dict):
            return (item_hook(value, item_type),)
        raise ValueError(f"not a list: {type(value).__name__}")

    return structure_tuple


# --- attrs models ----------------------------------------------------------------------------


def _normalize(key: str) -> str:
    return key.replace("_", "").lower()


def json_name(cls: type[_Model], field: attrs.Attribute[Any]) -> str:
    """The JSON key a field is written under (rule 9)."""
    alias: str | None = field.metadata.get("json")
    if alias:
        return alias
    words = field.name.split("_")
    if cls.json_style == "snake":
        return field.name
    parts = [w.upper() if w in _ACRONYMS else w.capitalize() for w in words]
    if cls.json_style == "camel":
        parts[0] = words[0]
    return "".join(parts)


_READ_ERRORS = (ValueError, TypeError, OverflowError, KeyError, AttributeError)
# values that need no conversion for a field of this type (an int is a valid float)
_AS_IS: dict[Any, tuple[type, ...]] = {int: (int,), float: (float, int), str: (str,), bool: (bool,)}


def _without_none(t: Any) -> Any:
    args = typing.get_args(t)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return t


def _kwargs_maker(
    cls: type[Any], skip: frozenset[str] = frozenset()
) -> Callable[[Any], dict[str, Any]]:
    """A function from a JSON object to ``cls``'s keyword arguments (rules 1, 2, 6).

    Generated per class, like cattrs' own: one ``data.get`` per field under the API's spelling,
    values already of the field's type taken as they are, a hook otherwise. Fields default to
    None or empty, so ``null`` is simply left out. Only when a key is left over (another
    spelling, an unknown key, a ``null``) does a slower pass look at every key. ``skip``:
    keys the caller handles itself.
    """
    attrs.resolve_types(cls)
    every = attrs.fields(cls)
    fields = [f for f in every if f.name not in ("extra", "raw") and f.name not in skip]
    has_extra = any(f.name == "extra" for f in every)
    lenient = cls in _LENIENT
    names = {json_name(cls, f): f for f in fields}
    hooks = {
        f.name: (converter.get_structure_hook(_without_none(f.type)), _without_none(f.type))
        for f in fields
    }
    normalized = {_normalize(f.name): f.name for f in fields}

    def convert(name: str, value: Any, kwargs: dict[str, Any]) -> None:
        hook, field_type = hooks[name]
        if not lenient:
            kwargs[name] = hook(value, field_type)
            return
        with contextlib.suppress(*_READ_ERRORS):  # rule 6: keep the default; raw keeps it
            kwargs[name] = hook(value, field_type)

    def leftovers(data: Mapping[Any, Any], kwargs: dict[str, Any]) -> None:
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in names or key in skip:
                continue  # done on the fast path (or a null there)
            name = normalized.get(_normalize(key)) if isinstance(key, str) else None
            if name is None:
                extra[key] = value
            elif value is not None and name not in kwargs:
                convert(name, value, kwargs)
        if has_extra and extra:
            kwargs["extra"] = extra

    namespace: dict[str, Any] = {
        "Mapping": Mapping,
        "_READ_ERRORS": _READ_ERRORS,
        "leftovers": leftovers,
        "cls_name": cls.__name__,
    }
    lines = [
        "def make_kwargs(data):",
        "    if type(data) is not dict and not isinstance(data, Mapping):",
        "        raise ValueError(f'{cls_name}: expected an object, got {type(data).__name__}')",
        "    kwargs = {}",
        "    found = 0",
    ]
    for key in sorted(skip):
        lines.append(f"    if {key!r} in data: found += 1")
    for index, (key, field) in enumerate(names.items()):
        hook, field_type = hooks[field.name]
        namespace[f"hook{index}"], namespace[f"type{index}"] = hook, field_type
        as_is = " or ".join(f"type(v) is {t.__name__}" for t in _AS_IS.get(field_type, ()))
        store = f"kwargs[{field.name!r}]"
        lines += [f"    v = data.get({key!r})", "    if v is not None:", "        found += 1"]
        indent = "        "
        if as_is:
            lines += [f"        if {as_is}:", f"            {store} = v", "        else:"]
            indent = "            "
        if lenient:
            lines += [
                f"{indent}try:",
                f"{indent}    {store} = hook{index}(v, type{index})",
                f"{indent}except _READ_ERRORS:",
                f"{indent}    pass",
            ]
        else:
            lines.append(f"{indent}{store} = hook{index}(v, type{index})")
    lines += ["    if found != len(data):", "        leftovers(data, kwargs)", "    return kwargs"]
    exec(compile("\n".join(lines), f"<make_kwargs {cls.__name__}>", "exec"), namespace)  # noqa: S102
    make_kwargs: Callable[[Any], dict[str, Any]] = namespace["make_kwargs"]
    return make_kwargs


@converter.register_structure_hook_factory(attrs.has)
def _model_hook(cls: type[Any]) -> StructureHook:
    make_kwargs = _kwargs_maker(cls)

    def structure_model(data: Any, _: Any) -> Any:
        return cls(**make_kwargs(data))

    return structure_model


def structure(data: Any, cls: type[T]) -> T:
    """``data`` (decoded JSON) as an instance of ``cls``, by the rules above."""
    result: T = converter.structure(data, cls)
    return result


# --- history items ---------------------------------------------------------------------------


def parse_headers(text: Any) -> CIMultiDictProxy[str]:
    """Headers from the API's JSON-in-a-string (rule 7); empty if unreadable."""
    if not isinstance(text, str) or not text:
        return empty_headers()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return empty_headers()
    if not isinstance(data, dict):
        return empty_headers()
    pairs: list[tuple[str, str]] = []
    for name, values in data.items():
        for value in values if isinstance(values, list) else (values,):
            if type(value) is str:
                pairs.append((name, value))
            elif value is not None:
                pairs.append((name, _json_text(value)))
    return CIMultiDictProxy(CIMultiDict(pairs))


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# the kwargs makers of the event classes, by event name: payloads skip cattrs' dispatch
_EVENT_MAKERS = {name: (cls, _kwargs_maker(cls)) for name, cls in EVENT_TYPES.items()}


def parse_payload(name: str | None, body: str | bytes | None) -> Event | None:
    """The typed event of a delivery body (rule 8). Never raises."""
    if body is None or body == "" or body == b"":
        return None
    name = event_name(name) if name else ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body if isinstance(body, str) else body.decode("utf-8", errors="replace")
        return UnknownEvent(name, text)
    maker = _EVENT_MAKERS.get(name)
    if maker is None or not isinstance(data, dict):
        return UnknownEvent(name, data)
    cls, make_kwargs = maker
    try:
        return cls(**make_kwargs(data))
    except Exception:  # any misfit, however deep: an odd body is data, not a crash
        return UnknownEvent(name, data)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _json_text(value)


def _response(data: Any) -> DeliveryResponse | None:
    if not isinstance(data, dict):
        return None
    raw_headers = _text(data.get("headers"))
    code = data.get("responseCode", data.get("response_code"))
    try:
        response_code = None if code is None else _to_int(code)
    except _READ_ERRORS:
        response_code = None
    return DeliveryResponse(
        response_code=response_code, body=_text(data.get("body")), raw_headers=raw_headers
    )


_delivery_kwargs = _kwargs_maker(WebhookDelivery, skip=frozenset({"request", "response"}))


def structure_delivery(item: Any) -> WebhookDelivery:
    """One webhook history item as a :class:`WebhookDelivery`. Never raises."""
    if not isinstance(item, dict):
        return WebhookDelivery(raw={"value": item})
    kwargs = _delivery_kwargs(item)
    request_data = item.get("request")
    if isinstance(request_data, dict):
        kwargs["request"] = DeliveryRequest(
            body=_text(request_data.get("body")),
            raw_headers=_text(request_data.get("headers")),
            fallback_event=kwargs.get("webhook_event"),
        )
    kwargs["response"] = _response(item.get("response"))
    return WebhookDelivery(**kwargs, raw=item)


converter.register_structure_hook(WebhookDelivery, lambda data, _: structure_delivery(data))


# --- writing back ----------------------------------------------------------------------------


def unstructure(obj: Any) -> Any:
    """A model as JSON-ready data with the API's key spelling (rule 9)."""
    if isinstance(obj, UnknownEvent):
        return obj.data
    if isinstance(obj, _Model):
        cls = type(obj)
        out: dict[str, Any] = {}
        for field in attrs.fields(cast(Any, cls)):
            if field.name in ("extra", "raw") or field.name.startswith("_"):
                continue
            out[json_name(cls, field)] = unstructure(getattr(obj, field.name))
        out.update(getattr(obj, "extra", {}))
        return out
    if isinstance(obj, CIMultiDictProxy | CIMultiDict):
        grouped: dict[str, list[str]] = {}
        for key, value in obj.items():
            grouped.setdefault(key, []).append(value)
        return grouped
    if isinstance(obj, tuple | list):
        return [unstructure(item) for item in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj
