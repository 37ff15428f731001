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
   expected becomes a ``float`` (the field's type, always). Booleans are never numbers; the strings
   ``"true"``/``"false"`` are accepted as booleans. Numbers are accepted where text is expected.
4. **Datetimes**: ISO 8601 with ``Z`` or an offset become aware UTC datetimes; without a zone,
   naive datetimes (subject-local time, as the API defines it). Up to 7 fractional digits
   (``2018-03-08T00:20:00.0000000``) are accepted; digits past microseconds are dropped.
5. **Lists**: ``null`` where a list is expected becomes an empty tuple; a single object where a
   list of objects is expected (the daily statistics aggregations, documented as objects and sent
   as arrays) becomes a one-item tuple.
6. **Leniency.** On resources (studies, webhook events, webhooks, deliveries) a value that
   cannot be read as its field's type leaves the field at its default (``None``); the delivery
   keeps its JSON in ``raw``. Their ``id`` is required: a resource without a readable ``id``
   is a :class:`~centrepoint_async.DecodeError` (a pager adds ``resume_offset``). On events,
   a value that cannot be read makes the whole payload an ``UnknownEvent`` holding what
   could be read (see :func:`parse_payload`).
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
   ``extra`` merged in; deliveries in the API's own shape (headers as the JSON text they came
   in). ``structure(unstructure(x)) == x``.
10. **Items that are not objects** (a number or a list where an object is expected): a
    :class:`~centrepoint_async.DecodeError` for a resource or a typed delivery; in an event
    payload, an ``UnknownEvent``. The raw history (``delivery.raw``, the exporter's JSON Lines)
    keeps every item exactly as sent, whatever it is.

Models are built by code generated per class (:func:`builder`), as cattrs generates its own:
one ``data.get`` per field under the API's spelling, values already of the field's type taken
as they are, slots set on ``cls.__new__(cls)`` (frozen classes are frozen against users, not
against their own builder: models have no validators or converters, which is checked). The
generated source is registered in ``linecache`` so a traceback through it shows the code.
The payloads of the large events that fit their class exactly take a faster road to identical
objects (msgspec, :func:`_fast_decoder`); every doubtful body takes the builders' road.
"""

from __future__ import annotations

import functools
import itertools
import linecache
import re
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import GenericAlias
from typing import Annotated, Any, TypeVar, cast

import attrs
import msgspec
import orjson
from cattrs.preconf.orjson import make_converter
from multidict import CIMultiDict, CIMultiDictProxy, istr

from ._events import EVENT_TYPES, event_name
from ._exceptions import DecodeError
from ._models import Event, Study, UnknownEvent, Webhook, WebhookEvent, _Model

__all__ = [
    "builder",
    "converter",
    "parse_headers",
    "parse_payload",
    "register_unstructure",
    "structure",
    "unstructure",
]

T = TypeVar("T")
StructureHook = Callable[[Any, Any], Any]

#: Models on which an unreadable value is dropped (rule 6) rather than raised; the deliveries
#: module asks for the same of ``WebhookDelivery``.
_RESOURCES: frozenset[type] = frozenset({Study, WebhookEvent, Webhook})
_ACRONYMS = frozenset({"va", "vm", "mvpa"})

converter = make_converter()


# --- scalars ---------------------------------------------------------------------------------


def _to_int(value: Any, _: Any = None) -> int:
    if type(value) is str:  # ids sent as text, the common case: int() ignores the spaces
        try:
            return int(value)
        except ValueError:
            pass
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
        parsed = _fromisoformat(value)
    except ValueError:
        parsed = _fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    zone = parsed.tzinfo
    if zone is None or zone is UTC:
        return parsed
    return parsed.astimezone(UTC)


_fromisoformat = datetime.fromisoformat  # a module global: six datetimes an item


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
    if attrs.has(item_type):  # models: straight to their builder, no dispatch per item
        build = builder(item_type)

        def structure_models(value: Any, _: Any) -> tuple[Any, ...]:
            if type(value) is list:
                return tuple([build(item) for item in value])
            if value is None:
                return ()
            if isinstance(value, dict):
                return (build(value),)
            raise ValueError(f"not a list: {type(value).__name__}")

        return structure_models

    item_hook = converter.get_structure_hook(item_type)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is list:
            return tuple([item_hook(item, item_type) for item in value])
        if value is None:
            return ()
        raise ValueError(f"not a list: {type(value).__name__}")

    return structure_tuple


# --- attrs models: generated builders (plan, emit, compile) ---------------------------------


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
#: What a lenient model swallows for one field: also a nested resource it could not read.
_LENIENT_ERRORS = (*_READ_ERRORS, DecodeError)
# values that need no conversion for a field of this type
_AS_IS: dict[Any, tuple[type, ...]] = {int: (int,), float: (float,), str: (str,), bool: (bool,)}
#: Fields the builder never fills: ``extra`` is the leftovers' own, ``raw`` the caller's.
_OWN = frozenset({"extra", "raw"})


def _without_none(t: Any) -> Any:
    args = typing.get_args(t)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return t


def check_plain(cls: type[Any]) -> None:
    """Refuse a model whose builder would skip its rules: validators, converters, post-init.

    Builders set slots on ``cls.__new__(cls)`` instead of calling ``__init__``: that is only
    the same object if ``__init__`` does nothing but store its arguments.
    """
    problems = [
        f.name
        for f in attrs.fields(cls)
        if f.validator is not None
        or f.converter is not None
        or (isinstance(f.default, attrs.Factory) and f.default.takes_self)  # type: ignore[arg-type]
    ]
    if problems or hasattr(cls, "__attrs_post_init__") or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a plain slotted model: {problems or 'class'}")


def slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The slot's own setter: stores ``name`` on an instance under construction."""
    setter: Callable[[Any, Any], None] = getattr(cls, name).__set__
    return setter


@attrs.frozen
class _FieldPlan:
    """How a builder fills one field."""

    name: str
    key: str  # the JSON key under the API's spelling
    hook: Callable[..., Any]
    type: Any
    as_is: tuple[type, ...]  # value types stored without conversion
    model: bool  # a nested model: its builder takes the data alone
    default: Any  # the default value, or its factory if ``factory``
    factory: bool
    required: bool


@attrs.frozen
class _Plan:
    """What a class's builder does, field by field; :func:`_emit` writes it as code."""

    cls: type[Any]
    fields: tuple[_FieldPlan, ...]
    skip: frozenset[str]  # keys the caller reads and sets itself
    lenient: bool
    has_extra: bool


def _plan(cls: type[Any], skip: frozenset[str], lenient: bool) -> _Plan:
    attrs.resolve_types(cls)
    check_plain(cls)
    every = attrs.fields(cls)
    planned = []
    for f in every:
        if f.name in _OWN or f.name in skip:
            continue
        field_type = _without_none(f.type)
        model = attrs.has(field_type)
        factory = isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
        planned.append(
            _FieldPlan(
                name=f.name,
                key=json_name(cls, f),
                hook=builder(field_type) if model else converter.get_structure_hook(field_type),
                type=field_type,
                as_is=_AS_IS.get(field_type, ()),
                model=model,
                default=f.default.factory if factory else f.default,
                factory=factory,
                required=f.default is attrs.NOTHING,
            )
        )
    has_extra = any(f.name == "extra" for f in every)
    return _Plan(cls, tuple(planned), skip, lenient, has_extra)


def _inline_datetime(indent: str) -> list[str]:
    """Generated code: ``v`` read as the usual ISO 8601 text into ``w`` (else ``None``), then
    the ``if`` open for when it needs no more of :func:`parse_datetime`'s rules (the caller
    writes that branch and its ``else``). Needs ``fromisoformat`` and ``UTC`` in the namespace."""
    code = [
        "w = None",
        "if type(v) is str:",
        "    try:",
        "        w = fromisoformat(v)",
        "    except ValueError:",
        "        pass",
        "if w is not None and (w.tzinfo is None or w.tzinfo is UTC):",
    ]
    return [indent + line for line in code]


def _emit(plan: _Plan) -> str:
    """The builder's source: straight-line code, one block per field."""
    errors = "_LENIENT_ERRORS" if plan.lenient else "_READ_ERRORS"
    lines = [
        "def build(data):",
        "    if type(data) is not dict and not isinstance(data, Mapping):",
        "        raise not_object(data)",
        "    self = new(cls)",
        "    found = 0",
        "    missing = False",
    ]
    lines += [f"    if {key!r} in data: found += 1" for key in sorted(plan.skip)]
    for f in plan.fields:
        n = f.name  # the namespace names each field's hook, type, default and setter after it
        call = f"hook_{n}(v)" if f.model else f"hook_{n}(v, type_{n})"
        default = f"default_{n}()" if f.factory else f"default_{n}"
        lines += [f"    v = data.get({f.key!r})", "    if v is None:"]
        # absent or null: the default, or (required) a look at other spellings first
        if f.required:
            lines.append("        missing = True")
        else:  # a null counts as read: it alone sends no item down the slow pass
            lines.append(f"        set_{n}(self, {default})")
            lines.append(f"        if {f.key!r} in data: found += 1")
        lines += ["    else:", "        found += 1"]
        convert = f"v = {call}"
        if f.hook is _to_float:  # JSON numbers of floats are mostly whole: _to_float's own step
            convert = f"v = float(v) if type(v) is int else {call}"
        if f.as_is:
            checks = " and ".join(f"type(v) is not {t.__name__}" for t in f.as_is)
            lines.append(f"        if {checks}:")
            indent = "            "
        elif f.hook is parse_datetime:  # inline: a call saved per datetime, the rules' own test
            lines += [*_inline_datetime("        "), "            v = w", "        else:"]
            indent = "            "
        else:
            indent = "        "
        if f.required:
            lines += [
                f"{indent}try:",
                f"{indent}    {convert}",
                f"{indent}except {errors}:",
                f"{indent}    raise unreadable({f.name!r}, v) from None",
            ]
        elif plan.lenient:  # rule 6: keep the default; raw keeps the value
            lines += [
                f"{indent}try:",
                f"{indent}    {convert}",
                f"{indent}except {errors}:",
                f"{indent}    v = {default}",
            ]
        else:
            lines.append(f"{indent}{convert}")
        lines.append(f"        set_{n}(self, v)")
    if plan.has_extra:
        lines.append("    set_extra(self, {})")
    lines += [
        "    if missing or found != len(data):",
        "        leftovers(data, self)",
        "    return self",
    ]
    return "\n".join(lines) + "\n"


def _leftovers(plan: _Plan) -> Callable[[Mapping[Any, Any], Any], None]:
    """The slow pass, for a key the straight line did not take (rules 1, 2, 6)."""
    cls, lenient = plan.cls, plan.lenient
    by_key = {f.key: f for f in plan.fields}
    by_normalized = {_normalize(f.name): f for f in plan.fields}
    required = [f.name for f in plan.fields if f.required]
    set_extra = slot_setter(cls, "extra") if plan.has_extra else None
    errors = _LENIENT_ERRORS if lenient else _READ_ERRORS

    def leftovers(data: Mapping[Any, Any], self: Any) -> None:
        extra: dict[Any, Any] = {}
        done: set[str] = set()
        for key, value in data.items():
            if key in by_key or key in plan.skip:
                continue  # taken on the straight line (or a null there)
            f = by_normalized.get(_normalize(key)) if isinstance(key, str) else None
            if f is None:
                extra[key] = value
            elif value is not None and f.name not in done and data.get(f.key) is None:
                done.add(f.name)
                try:
                    converted = f.hook(value) if f.model else f.hook(value, f.type)
                except errors:
                    if f.required:
                        raise _unreadable(cls, f.name, value) from None
                    if not lenient:
                        raise
                    continue  # rule 6: the default stays
                slot_setter(cls, f.name)(self, converted)
        if set_extra is not None and extra:
            set_extra(self, extra)
        for name in required:
            if name not in done and data.get(by_normalized[_normalize(name)].key) is None:
                raise DecodeError(f"{cls.__name__}: no {name!r} in the item")

    return leftovers


def _unreadable(cls: type[Any], name: str, value: Any) -> DecodeError:
    return DecodeError(f"{cls.__name__}: {name!r} cannot be read: {value!r:.60}")


def _compile(plan: _Plan, source: str) -> Callable[[Any], Any]:
    """Compile the emitted source, registered in ``linecache`` for readable tracebacks."""
    cls = plan.cls
    error = DecodeError if plan.lenient else ValueError

    def not_object(data: Any) -> Exception:
        return error(f"{cls.__name__}: expected an object, got {type(data).__name__}")

    namespace: dict[str, Any] = {
        "Mapping": Mapping,
        "_READ_ERRORS": _READ_ERRORS,
        "fromisoformat": _fromisoformat,
        "UTC": UTC,
        "_LENIENT_ERRORS": _LENIENT_ERRORS,
        "cls": cls,
        "new": cls.__new__,
        "not_object": not_object,
        "unreadable": functools.partial(_unreadable, cls),
        "leftovers": _leftovers(plan),
    }
    if plan.has_extra:
        namespace["set_extra"] = slot_setter(cls, "extra")
    for f in plan.fields:
        namespace[f"hook_{f.name}"], namespace[f"type_{f.name}"] = f.hook, f.type
        namespace[f"default_{f.name}"] = f.default
        namespace[f"set_{f.name}"] = slot_setter(cls, f.name)
    skipped = "-".join(sorted(plan.skip))
    filename = f"<centrepoint_async build {cls.__qualname__}{' ' + skipped if skipped else ''}>"
    build: Callable[[Any], Any] = _define("build", source, filename, namespace)
    return build


def _define(name: str, source: str, filename: str, namespace: dict[str, Any]) -> Any:
    """Run generated ``source`` in ``namespace`` and return its ``name``.

    The source is registered in ``linecache`` under ``filename``, so tracebacks and
    debuggers show the generated lines.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102
    return namespace[name]


_BUILDERS: dict[tuple[type, frozenset[str], bool], Callable[[Any], Any]] = {}


def builder(
    cls: type[T], skip: frozenset[str] = frozenset(), lenient: bool | None = None
) -> Callable[[Any], T]:
    """The generated function from a JSON object to a ``cls`` (rules 1 to 6, 10); made once.

    ``skip``: keys the caller reads and sets itself (their fields are left unset);
    ``lenient``: rule 6 for a resource (the default for the resources of this module).
    """
    key = (cls, skip, cls in _RESOURCES if lenient is None else lenient)
    if key not in _BUILDERS:
        plan = _plan(*key)
        _BUILDERS[key] = _compile(plan, _emit(plan))
    return _BUILDERS[key]


@converter.register_structure_hook_factory(attrs.has)
def _model_hook(cls: type[Any]) -> StructureHook:
    build = builder(cls)

    def structure_model(data: Any, _: Any) -> Any:
        return build(data)

    return structure_model


def structure(data: Any, cls: type[T]) -> T:
    """``data`` (decoded JSON) as an instance of ``cls``, by the rules above.

    Raises :class:`~centrepoint_async.DecodeError` for a resource without a readable ``id``
    or that is not an object (rule 10).
    """
    result: T = converter.structure(data, cls)
    return result


# --- history items: headers and payloads -----------------------------------------------------


def empty_headers() -> CIMultiDictProxy[str]:
    """Fresh empty case-insensitive headers."""
    return CIMultiDictProxy(CIMultiDict())


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
    headers: CIMultiDict[str] = CIMultiDict()
    add, names = headers.add, _HEADER_NAMES
    for name, values in data.items():
        key = names.get(name)
        if key is None:
            key = istr(name)
            if len(names) < _MAX_HEADER_NAMES and len(name) <= _MAX_HEADER_NAME_LENGTH:
                names[name] = key
        for value in values if type(values) is list else (values,):
            if type(value) is str:
                add(key, value)
            elif value is not None:
                add(key, _json_text(value))
    return CIMultiDictProxy(headers)


# Header names as multidict keys, made once each: the same few names come with every delivery,
# and a key given as ``istr`` is not case-folded again (a quarter of the parse). Bounded in
# count and length: a server inventing names gets them folded each time, never a growing table.
_HEADER_NAMES: dict[str, istr] = {}
_MAX_HEADER_NAMES = 512
_MAX_HEADER_NAME_LENGTH = 64


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# the builders of the event classes, by event name: payloads skip cattrs' dispatch
_EVENT_BUILDERS: dict[str, Callable[[Any], Event]] = {
    name: builder(cls) for name, cls in EVENT_TYPES.items()
}


# --- a faster road to the same objects: msgspec ---------------------------------------------
#
# A body that uses exactly the API's spelling of every key, and the exact JSON type of every
# field, is decoded by msgspec into a mirror Struct of its class (JSON names by ``rename``,
# unknown keys refused), its datetimes parsed by our own ``parse_datetime``, then moved into
# the same attrs class by ``msgspec.convert`` (C code: no per-field Python). Everything the
# mirror refuses (numbers as text, other spellings, unknown keys for ``extra``, nulls in
# lists, a single object for a list, an unreadable datetime...) takes the builders' road,
# which stays the rule of record. Both roads give identical objects: the converter tests run
# through both, and a test compares them on arbitrary bodies.

# ints past 64 bits: orjson reads them as floats; the builders decide them, msgspec must not
_INT = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_MIRROR_SCALARS: dict[Any, Any] = {int: _INT, float: float, str: str, bool: bool, datetime: str}


@attrs.frozen
class _Mirror:
    """A class's msgspec Struct, and what must be done to it before it is moved."""

    struct: type[msgspec.Struct]
    fix: Callable[[Any], None] | None  # datetimes parsed in place, nested mirrors included


_MIRRORS: dict[type, _Mirror] = {}


def _mirror(cls: type[Any]) -> _Mirror:
    """The mirror Struct of a model class (its fields under their JSON names, ``extra`` out)."""
    if cls in _MIRRORS:
        return _MIRRORS[cls]
    check_plain(cls)  # msgspec.convert, too, builds without __init__
    fields: list[tuple[str, Any, Any]] = []
    renames: dict[str, str] = {}
    dates: list[str] = []
    nested: list[tuple[str, Callable[[Any], None], bool]] = []
    for f in attrs.fields(cls):
        if f.name in _OWN:
            continue
        field_type = _without_none(f.type)
        if typing.get_origin(field_type) is tuple:  # a list; null refused (rule 5 decides)
            item = typing.get_args(field_type)[0]
            if attrs.has(item):
                child = _mirror(item)
                mirror_type: Any = GenericAlias(list, (child.struct,))
                if child.fix is not None:
                    nested.append((f.name, child.fix, True))
            else:
                mirror_type = GenericAlias(list, (_MIRROR_SCALARS[item],))
            fields.append((f.name, mirror_type, msgspec.field(default_factory=list)))
        elif attrs.has(field_type):
            child = _mirror(field_type)
            fields.append((f.name, child.struct | None, None))
            if child.fix is not None:
                nested.append((f.name, child.fix, False))
        else:
            fields.append((f.name, _MIRROR_SCALARS[field_type] | None, None))
            if field_type is datetime:
                dates.append(f.name)
        renames[f.name] = json_name(cls, f)
    struct = msgspec.defstruct(
        f"Mirror{cls.__name__}",
        fields,
        rename=renames,
        forbid_unknown_fields=True,
        gc=False,  # short-lived and never in a cycle: no work for the garbage collector
    )
    _MIRRORS[cls] = _Mirror(struct, _fixer(dates, nested) if dates or nested else None)
    return _MIRRORS[cls]


def _fixer(
    dates: list[str], nested: list[tuple[str, Callable[[Any], None], bool]]
) -> Callable[[Any], None]:
    """Straight-line code parsing a mirror's datetimes in place, nested mirrors included."""
    lines = ["def fix(mirror):"]
    for name in dates:  # the mirror holds text or None; the usual text parsed inline
        lines += [
            f"    v = mirror.{name}",
            "    if v is not None:",
            *_inline_datetime("        "),
            f"            mirror.{name} = w",
            "        else:",
            f"            mirror.{name} = parse_datetime(v)",
        ]
    namespace: dict[str, Any] = {
        "parse_datetime": parse_datetime,
        "fromisoformat": _fromisoformat,
        "UTC": UTC,
    }
    for name, fix_child, many in nested:
        namespace[f"fix_{name}"] = fix_child
        lines += [f"    v = mirror.{name}", "    if v is not None:"]
        if many:
            lines += ["        for child in v:", f"            fix_{name}(child)"]
        else:
            lines.append(f"        fix_{name}(v)")
    fix: Callable[[Any], None] = _define(
        "fix", "\n".join(lines) + "\n", f"<centrepoint_async fix {next(_FIXERS)}>", namespace
    )
    return fix


_FIXERS = itertools.count()  # numbers the fixers' file names


def _fast_decoder(cls: type[T]) -> Callable[[str | bytes], T]:
    """Body -> ``cls`` through msgspec; raises for anything that is not an exact fit."""
    mirror = _mirror(cls)
    decode = msgspec.json.Decoder(mirror.struct).decode
    fix = mirror.fix
    convert = functools.partial(msgspec.convert, type=cls, from_attributes=True)

    def decode_fast(body: str | bytes) -> T:
        value = decode(body)
        if fix is not None:
            fix(value)
        result: T = convert(value)
        return result

    return decode_fast


# Only where it measured faster (benchmarks/bench_structuring.py; README "Speed"): events of
# many fields or nested lists. On small events moving the Struct costs what decoding saves, and
# upload and validation ids come as strings, which msgspec refuses, so they go straight on.
_FAST_DECODERS: dict[str, Callable[[str | bytes], Event]] = {
    name: _fast_decoder(EVENT_TYPES[name])
    for name in (
        "daily_statistics_complete",
        "cp2_daily_statistics_complete",
        "data_retrieval_complete",
    )
}


def parse_payload(name: str | None, body: str | bytes | None) -> Event | None:
    """The typed event of a delivery body (rule 8). Never raises.

    A body that fits its class exactly is decoded by msgspec (see :func:`_fast_decoder`);
    anything else takes the rules' own road below, which decides every doubtful case.
    """
    if body is None or body == "" or body == b"":
        return None
    name = event_name(name) if name else ""
    fast = _FAST_DECODERS.get(name)
    if fast is not None:
        try:
            return fast(body)
        except Exception:  # noqa: S110 (not an exact fit: the rules' road below decides)
            pass
    return _parse_payload(name, body)


def _parse_payload(name: str, body: str | bytes) -> Event:
    """Rule 8 by the generated builders: the road of record for every body."""
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
    except Exception:  # any misfit, however deep: an odd body is data, not a crash
        return UnknownEvent(name, data)


# --- writing back ----------------------------------------------------------------------------


#: Writers of classes that are not written field by field (deliveries: the API's own shape).
_WRITERS: dict[type, Callable[[Any], Any]] = {}


def register_unstructure(cls: type[T], write: Callable[[T], Any]) -> None:
    """Have :func:`unstructure` write ``cls`` with ``write``."""
    _WRITERS[cls] = write


def unstructure(obj: Any) -> Any:
    """A model as JSON-ready data with the API's key spelling (rule 9)."""
    if isinstance(obj, UnknownEvent):
        return obj.data
    write = _WRITERS.get(type(obj))
    if write is not None:
        return write(obj)
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
