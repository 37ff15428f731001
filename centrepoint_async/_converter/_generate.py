"""Builders: the function from a JSON object to a model, generated once per class.

:func:`builder` plans a class field by field (:mod:`._plan`), writes the plan as source
(:mod:`._emit`) and compiles it, registered in ``linecache`` under a file name that says its
class, so a traceback through a builder shows its code. :func:`structure` reads any JSON value
as any type the builders know.
"""

from __future__ import annotations

import functools
import linecache
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from .._exceptions import DecodeError
from ._emit import emit, function_name
from ._keys import json_name
from ._leftovers import leftovers_of
from ._plan import (
    BUILD_ERRORS,
    NEVER,
    OWN,
    FieldPlan,
    Kind,
    Plan,
    check_plain,
    mutable_twin,
    unreadable,
)
from ._scalars import READ_ERRORS, SCALARS, fromisoformat, is_never

__all__ = ["builder", "reader", "register_structure", "structure"]

T = TypeVar("T")
Reader = Callable[[Any], Any]

_BUILDERS: dict[tuple[type, bool, frozenset[str]], Reader] = {}
#: Readers of classes that are not built field by field (deliveries), by class.
_OWN_READERS: dict[type, Reader] = {}
#: The reader of each annotation asked for (models included), made once.
_READERS: dict[Any, Reader] = {}


def builder(
    cls: type[T], *, lenient: bool | None = None, skip: frozenset[str] = frozenset()
) -> Callable[[Any], T]:
    """The function from a JSON object to a ``cls`` (rules 1 to 6, 10), made once per class.

    ``lenient``: rule 6, an optional field whose value cannot be read keeps its default and a
    required one (``id``) is a :class:`~centrepoint_async.DecodeError`; otherwise such a value
    raises ``ValueError``/``TypeError``. By default the model's own ``lenient`` (``True`` but
    for event payloads). ``skip``: keys the caller reads and sets itself (their fields are left
    unset). A class that registered a reader of its own (:func:`register_structure`) gets it.
    """
    if not skip and cls in _OWN_READERS:
        return _OWN_READERS[cls]
    if lenient is None:
        lenient = bool(getattr(cls, "lenient", True))
    key = (cls, lenient, skip)
    build = _BUILDERS.get(key)
    if build is None:
        build = _BUILDERS[key] = compile_plan(make_plan(cls, lenient, skip))
    return build


def register_structure(cls: type[T], read: Callable[[Any], T]) -> None:
    """Have :func:`structure` and :func:`builder` read ``cls`` with ``read``."""
    _OWN_READERS[cls] = _READERS[cls] = read


def structure(data: Any, cls: type[T]) -> T:
    """``data`` (decoded JSON) as a ``cls``, by the rules of the converter.

    Raises :class:`~centrepoint_async.DecodeError` for a resource without a readable ``id``
    or that is not an object (rule 10).
    """
    read = _READERS.get(cls)
    result: T = (read or reader(cls))(data)
    return result


def reader(annotation: Any) -> Reader:
    """The function reading a JSON value as ``annotation``: a model, a scalar, ``X | None``,
    ``tuple[X, ...]``, ``Mapping[str, Any]``/``dict[str, Any]`` or ``Any``; made once."""
    read = _READERS.get(annotation)
    if read is None:
        inner, optional = _without_none(annotation)
        read = _READERS[annotation] = _or_none(_reader(inner)) if optional else _reader(inner)
    return read


def _reader(t: Any) -> Reader:
    if t is Any:
        return _as_is
    if t in SCALARS:
        return SCALARS[t]
    if attrs.has(t):
        return builder(t)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_of(reader(args[0]), attrs.has(args[0]))
    if (origin or t) in (Mapping, dict) and args in ((), (str, Any)):
        return _mapping
    raise TypeError(f"the converter cannot read a {t!r}")


def _without_none(t: Any) -> tuple[Any, bool]:
    """``X`` and True for ``X | None``; ``t`` and False for anything else but a union."""
    if typing.get_origin(t) not in (typing.Union, types.UnionType):
        return t, False
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if len(args) != 1:
        raise TypeError(f"the converter reads no union but X | None: {t!r}")
    return args[0], True


def _as_is(value: Any) -> Any:
    return value


def _or_none(read: Reader) -> Reader:
    def read_optional(value: Any) -> Any:
        return None if value is None else read(value)

    return read_optional


def _mapping(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    raise ValueError(f"not an object: {type(value).__name__}")


def _tuple_of(read_item: Reader, models: bool) -> Reader:
    """Rule 5: a list as a tuple, ``null`` as ``()``, one object for a list of models."""

    def read_tuple(value: Any) -> tuple[Any, ...]:
        if type(value) is list:
            return tuple([read_item(item) for item in value])
        if value is None:
            return ()
        if models and isinstance(value, dict):
            return (read_item(value),)
        raise ValueError(f"not a list: {type(value).__name__}")

    return read_tuple


def _or_never(read: Reader) -> Reader:
    def read_or_never(value: Any) -> Any:
        return None if is_never(value) else read(value)

    return read_or_never


# --- plan and compile ------------------------------------------------------------------------

_KINDS: dict[Any, Kind] = {int: "as_is", str: "as_is", bool: "as_is", float: "float"}


def make_plan(cls: type[Any], lenient: bool, skip: frozenset[str]) -> Plan:
    """What ``cls``'s builder does for each field; a field of a type it cannot read, or a
    model that is not plain data, is a ``TypeError`` now rather than a wrong object later."""
    attrs.resolve_types(cls)
    check_plain(cls)
    every = attrs.fields(cls)
    planned = tuple(_field_plan(cls, f) for f in every if f.name not in OWN | skip)
    has_extra = any(f.name == "extra" for f in every)
    return Plan(cls, planned, skip, lenient, has_extra)


def _field_plan(cls: type[Any], f: attrs.Attribute[Any]) -> FieldPlan:
    try:
        inner, optional = _without_none(f.type)
        hook = _reader(inner)
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}.{f.name}: {exc}") from None
    kind: Kind = "any" if inner is Any else _KINDS.get(inner, "call")
    if inner is datetime:
        kind = "datetime"
    required = f.default is attrs.NOTHING
    if f.metadata.get(NEVER):
        if required or not optional:
            raise TypeError(f"{cls.__name__}.{f.name}: 'never' needs an optional field")
        hook, kind = _or_never(hook), "call"
    default: Any = f.default
    factory = isinstance(default, attrs.Factory)  # type: ignore[arg-type]
    return FieldPlan(
        name=f.name,
        key=json_name(cls, f),
        hook=hook,
        kind=kind,
        exact=inner if kind == "as_is" else None,
        default=default.factory if factory else default,
        factory=factory,
        required=required,
    )


def compile_plan(plan: Plan) -> Reader:
    """The builder of ``plan``, compiled from :func:`._emit.emit`'s source."""
    cls = plan.cls
    error = DecodeError if plan.lenient else ValueError

    def not_object(data: Any) -> Exception:
        return error(f"{cls.__name__}: expected an object, got {type(data).__name__}")

    namespace: dict[str, Any] = {
        "Mapping": Mapping,
        "READ_ERRORS": READ_ERRORS,
        "BUILD_ERRORS": BUILD_ERRORS,
        "fromisoformat": fromisoformat,
        "UTC": UTC,
        "cls": cls,
        "twin": mutable_twin(cls),
        "new": cls.__new__,
        "not_object": not_object,
        "unreadable": functools.partial(unreadable, cls),
        "leftovers": leftovers_of(plan),
    }
    for f in plan.fields:
        namespace[f"hook_{f.name}"] = f.hook
        namespace[f"default_{f.name}"] = f.default
    build: Reader = define(function_name(plan), emit(plan), _file_name(plan), namespace)
    return build


def _file_name(plan: Plan) -> str:
    """``<centrepoint_async build module.Class lenient>``: unique, and says its class."""
    cls = plan.cls
    skipped = f" skip {'-'.join(sorted(plan.skip))}" if plan.skip else ""
    road = "lenient" if plan.lenient else "strict"
    stem = f"<centrepoint_async build {cls.__module__}.{cls.__qualname__} {road}{skipped}"
    name, number = f"{stem}>", 1
    while name in linecache.cache:  # another class of the same name (defined in a function)
        number += 1
        name = f"{stem} #{number}>"
    return name


def define(name: str, source: str, filename: str, namespace: dict[str, Any]) -> Any:
    """Run generated ``source`` in ``namespace`` and return its ``name``.

    The source is registered in ``linecache`` under ``filename``, so tracebacks and
    debuggers show the generated lines.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102
    return namespace[name]
