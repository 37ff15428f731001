"""Scalars: one JSON value read as a field's type (rules 3 and 4).

Each reader takes the decoded JSON value and returns it as its type, or raises one of
:data:`READ_ERRORS` for a value it cannot read. The builders call them only for a value that is
not already of the field's type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "READ_ERRORS",
    "SCALARS",
    "fromisoformat",
    "is_never",
    "parse_date",
    "parse_datetime",
    "to_bool",
    "to_float",
    "to_int",
    "to_str",
]

#: What a reader raises for a value it cannot read (and nothing else).
READ_ERRORS = (ValueError, TypeError, OverflowError)

fromisoformat = datetime.fromisoformat  # a module global: the builders call it for each datetime


def to_int(value: Any) -> int:
    """An ``int``: integers, integral floats (``865.0``) and their text (``" 7 "``, ``"7.0"``)."""
    if type(value) is str:  # ids sent as text, the common case: int() ignores the spaces
        try:
            return int(value)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT:
        return int(value)
    if isinstance(value, str):
        number = float(value.strip())
        if number.is_integer() and abs(number) <= _EXACT:
            return int(number)
    raise ValueError(f"not an integer: {value!r}")


#: The largest integral float that is surely the integer it was written as: JSON decoders
#: (orjson) read an integer past 64 bits as a float, which has lost its last digits.
_EXACT = 2.0**53


def to_float(value: Any) -> float:
    """A ``float``: any number but a boolean, or its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError(f"not a number: {value!r}")


def to_str(value: Any) -> str:
    """Text: text as it is, a number as its text; nothing else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"not text: {value!r}")


def to_bool(value: Any) -> bool:
    """A ``bool``: a boolean, or the text ``true``/``false`` in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"not a boolean: {value!r}")


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _as_written(value: Any) -> datetime:
    """ISO 8601 text as a datetime in the zone it was written in; digits past microseconds
    dropped."""
    if not isinstance(value, str):
        raise ValueError(f"not a datetime: {value!r}")
    try:
        return fromisoformat(value)
    except ValueError:
        return fromisoformat(_FRACTION.sub(r"\1", value.strip()))


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 datetime: aware UTC with ``Z``/offset, naive (subject-local) without."""
    parsed = _as_written(value)
    zone = parsed.tzinfo
    if zone is None or zone is UTC:
        return parsed
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> date:
    """A calendar date: ``2019-01-01``, or the date of a timestamp as written (no conversion
    to UTC: ``2020-10-05T00:00:00-05:00`` is the 5th)."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    return _as_written(value).date()


# .NET's DateTimeOffset.MinValue, which the API sends for "never": midnight of 1 January of
# the year 1, with or without zeros of fraction and a zone
_NEVER = re.compile(r"0001-01-01(?:[T ]00:00(?::00(?:\.0+)?)?)?(?:Z|[+-]\d\d:?\d\d)?", re.I)


def is_never(value: Any) -> bool:
    """True for the API's "never" (``0001-01-01T00:00:00+00:00`` and its spellings)."""
    return type(value) is str and _NEVER.fullmatch(value.strip()) is not None


#: The reader of each scalar field type.
SCALARS: Mapping[type, Callable[[Any], Any]] = {
    int: to_int,
    float: to_float,
    str: to_str,
    bool: to_bool,
    datetime: parse_datetime,
    date: parse_date,
}
