"""JSON keys: how a field is found (rule 1) and how it is written back (rule 9)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["json_name", "normalize"]

_ACRONYMS = frozenset({"va", "vm", "mvpa"})


def normalize(key: str) -> str:
    """A key ignoring case and underscores: ``studyId``, ``study_id`` and ``StudyID`` meet."""
    return key.replace("_", "").lower()


def json_name(cls: type[Any], field: attrs.Attribute[Any]) -> str:
    """The JSON key a field is written under, and read under first (rules 1 and 9).

    A field's ``metadata={"json": name}`` wins; otherwise the model's ``json_style``
    (``"camel"`` unless the class says ``"snake"`` or ``"pascal"``), acronyms such as
    ``VA``/``MVPA`` in capitals.
    """
    alias: str | None = field.metadata.get("json")
    if alias:
        return alias
    style = getattr(cls, "json_style", "camel")
    words = field.name.split("_")
    if style == "snake":
        return field.name
    parts = [w.upper() if w in _ACRONYMS else w.capitalize() for w in words]
    if style == "camel":
        parts[0] = words[0]
    return "".join(parts)
