"""Writing back: a model as JSON-ready data with the API's key spelling (rule 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from .._models import UnknownEvent
from ._keys import json_name

__all__ = ["register_unstructure", "unstructure"]

T = TypeVar("T")

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
    cls = type(obj)
    if attrs.has(cls):
        out: dict[str, Any] = {}
        for field in attrs.fields(cls):
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
    if isinstance(obj, date):  # datetimes too
        return obj.isoformat()
    return obj
