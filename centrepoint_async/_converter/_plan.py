"""What a generated builder does for one model class, field by field (no code yet).

:mod:`._generate` makes a :class:`Plan` from a class and compiles it; :mod:`._emit` writes it
as source, :mod:`._leftovers` is its slow pass. Builders do not call ``__init__``: they fill an
instance of the model's :func:`mutable_twin` with plain attribute stores, then give it the
model's class. So a model must be plain data: :func:`check_plain`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from .._exceptions import DecodeError
from ._scalars import READ_ERRORS

__all__ = [
    "BUILD_ERRORS",
    "NEVER",
    "OWN",
    "FieldPlan",
    "Kind",
    "Plan",
    "check_plain",
    "mutable_twin",
    "slot_setter",
    "unreadable",
]

#: What a builder raises for data it cannot read: a reader's errors, and a nested model's
#: DecodeError (no readable ``id``). A lenient builder catches them for an optional field.
BUILD_ERRORS = (*READ_ERRORS, DecodeError)

#: Field metadata: ``metadata={NEVER: True}`` reads the API's "never" (``0001-01-01``) as None.
NEVER = "never"
#: Fields the builder never fills: ``extra`` is the leftovers' own, ``raw`` the caller's.
OWN = frozenset({"extra", "raw"})

#: How a value that is not null becomes the field's: ``as_is`` a value of type ``exact`` is
#: kept, any other goes through the hook; ``float`` as ``as_is``, a whole number converted
#: inline; ``datetime`` the usual ISO text parsed inline; ``any`` kept whatever it is;
#: ``call`` always the hook (nested models, lists, mappings, dates, "never" fields).
Kind = Literal["as_is", "float", "datetime", "any", "call"]


@attrs.frozen
class FieldPlan:
    """How a builder fills one field."""

    name: str
    key: str  # the JSON key under the API's spelling
    hook: Callable[[Any], Any]  # the value as the field's type, or a READ_ERRORS exception
    kind: Kind
    exact: type | None  # for ``as_is``: values of this type are kept
    default: Any  # the default value, or its factory if ``factory``
    factory: bool
    required: bool


@attrs.frozen
class Plan:
    """What a class's builder does; :func:`._emit.emit` writes it as code."""

    cls: type[Any]
    fields: tuple[FieldPlan, ...]
    skip: frozenset[str]  # keys the caller reads and sets itself
    lenient: bool  # rule 6: an unreadable optional field keeps its default
    has_extra: bool  # rule 2: unknown keys kept in ``extra``


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


def mutable_twin(cls: type[Any]) -> type[Any]:
    """A private subclass of the frozen ``cls`` whose instances take attribute stores.

    It adds no slots, so an instance filled field by field can be given its class
    (``obj.__class__ = cls``: the layout is the same); its attribute stores are the
    interpreter's plain slot stores, several times cheaper than a call per field.
    """
    namespace = {
        "__slots__": (),
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}.<under construction>",
    }
    return type(cls.__name__, (cls,), namespace)


def slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The slot's own setter: stores ``name`` on an instance under construction."""
    setter: Callable[[Any, Any], None] = getattr(cls, name).__set__
    return setter


def unreadable(cls: type[Any], name: str, value: Any) -> DecodeError:
    """The error for a required field (an ``id``) whose value cannot be read."""
    return DecodeError(f"{cls.__name__}: {name!r} cannot be read: {value!r:.60}")
