"""Headers of history items: JSON documents inside strings (rule 7)."""

from __future__ import annotations

from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy, istr

__all__ = ["empty_headers", "json_text", "parse_headers"]


def empty_headers() -> CIMultiDictProxy[str]:
    """Fresh empty case-insensitive headers."""
    return CIMultiDictProxy(CIMultiDict())


def json_text(value: Any) -> str:
    """``value`` as compact JSON text."""
    return orjson.dumps(value).decode()


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
                add(key, json_text(value))
    return CIMultiDictProxy(headers)


# Header names as multidict keys, made once each: the same few names come with every delivery,
# and a key given as ``istr`` is not case-folded again. Bounded in count and length: a server
# inventing names gets them folded each time, never a growing table.
_HEADER_NAMES: dict[str, istr] = {}
_MAX_HEADER_NAMES = 512
_MAX_HEADER_NAME_LENGTH = 64
