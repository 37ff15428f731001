"""JSON keys: how a field is found (rule 1) and how it is written back (rule 9)."""

from __future__ import annotations

import functools
import re
from typing import Any

import attrs

__all__ = ["json_name", "normalize", "snake_name"]

#: All-capital words the API runs together (``wearFilteredVAMVPA``), written as words.
_ACRONYMS = frozenset({"va", "vm", "mvpa"})
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*")


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


def _capitals(word: str) -> list[str]:
    """An all-capital word split into the acronyms it is made of (``VAMVPA``: VA, MVPA)."""
    if not word or word.lower() in _ACRONYMS:
        return [word] if word else []
    for acronym in sorted(_ACRONYMS, key=len, reverse=True):
        if word.lower().startswith(acronym) and (rest := _capitals(word[len(acronym) :])):
            return [word[: len(acronym)], *rest]
    return [word]


@functools.lru_cache(maxsize=4096)
def snake_name(key: str) -> str:
    """The snake_case of an API name, acronyms as words: ``timestampUtc`` is
    ``timestamp_utc``, ``wearFilteredVAMVPA`` is ``wear_filtered_va_mvpa`` (the inverse of
    :func:`json_name`; model fields and table columns are named by it)."""
    words: list[str] = []
    for word in _WORDS.findall(key):
        words += _capitals(word) if word.isupper() else [word]
    return "_".join(w.lower() for w in words) or key
