"""Deterministic randomness and the documented date spellings, for every part of the fake.

Everything the fake serves is a pure function of a seed and a few integers (:func:`mix`), so a
listing of any size costs nothing until a page of it is asked for. Dates are spelled per
endpoint as the public documents' examples spell them (section 0.4 of the data notes): the
functions here are those spellings, one each.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = [
    "day",
    "guid",
    "local_offset",
    "mix",
    "naive",
    "offset_seconds",
    "offset_seven",
    "offset_trimmed",
    "z_millis",
    "z_seconds",
    "z_seven",
]

_MASK = (1 << 64) - 1


def mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): cheap, deterministic randomness."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (v & _MASK)) & _MASK
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 31
    return x


def guid(h: int) -> str:
    """A GUID string made of a hash (lower case, as the documents show them)."""
    x = f"{h:016x}{mix(h):016x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is None else when.astimezone(UTC)


def naive(when: datetime) -> str:
    """``2019-06-03T20:41:01``: no zone at all (webhook history dates)."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%S")


def z_seconds(when: datetime) -> str:
    """``2020-10-26T18:39:57Z``: UTC, no fraction (uploads, subject milestones)."""
    return naive(when) + "Z"


def z_millis(when: datetime) -> str:
    """``2019-06-03T20:38:44.03Z``: .NET ``DateTime``, 0 to 3 digits, trailing zeros trimmed."""
    fraction = f"{_utc(when).microsecond // 1000:03d}".rstrip("0")
    return naive(when) + (f".{fraction}" if fraction else "") + "Z"


def _seven(when: datetime, tick: int) -> str:
    return f"{_utc(when).microsecond:06d}{tick % 10}"


def z_seven(when: datetime, tick: int = 0) -> str:
    """``2024-03-20T14:24:16.6070072Z``: seven digits (the seventh is ``tick``) and ``Z``."""
    return f"{naive(when)}.{_seven(when, tick)}Z"


def offset_seconds(when: datetime) -> str:
    """``2021-01-02T20:43:57+00:00``: an offset, no fraction (Data Access, analytics)."""
    return naive(when) + "+00:00"


def offset_seven(when: datetime, tick: int = 1) -> str:
    """``2019-07-11T18:36:38.2171641+00:00``: always seven digits (data retrieval)."""
    return f"{naive(when)}.{_seven(when, tick)}+00:00"


def offset_trimmed(when: datetime, tick: int = 0) -> str:
    """``2024-03-05T13:15:37.6848275+00:00``: up to seven digits, trailing zeros trimmed."""
    fraction = _seven(when, tick).rstrip("0")
    return naive(when) + (f".{fraction}" if fraction else "") + "+00:00"


def local_offset(when: datetime, zone: tzinfo) -> str:
    """``2014-05-27T19:00:00-05:00``: the subject's clock and its own offset."""
    local = when.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}{sign}{hours:02d}:{rest:02d}"


def day(value: date) -> str:
    """``2019-01-01``: a date only (subject ``dob``)."""
    return value.strftime("%Y-%m-%d")
