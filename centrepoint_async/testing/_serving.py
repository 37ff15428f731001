"""How the fake answers, apart from what: endpoints, queries, pages, refusals, date filters.

An endpoint is declared as ``(method, path template, scope, function)``; the function takes a
:class:`Call` (path ids, the query, the JSON body) and returns an answer: a :class:`Listing`
(sent in the standard envelope), a ``dict`` (one object), a ``list`` (a bare array) or a
:class:`Reply` (another status); it raises :class:`Refused` for an error, sent as text, as the
API does. Query names match whatever their case (ASP.NET binds them so).
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol

import attrs

__all__ = [
    "Call",
    "Endpoint",
    "ListRows",
    "Listing",
    "Query",
    "Refused",
    "Reply",
    "Rows",
    "Window",
    "envelope",
]


class Refused(Exception):
    """An error answer: ``status`` with ``text`` as a plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class Rows(Protocol):
    """A listing that makes only the page asked for: its length and a slice of it."""

    def __len__(self) -> int: ...

    def slice(self, offset: int, limit: int) -> list[dict[str, Any]]: ...


@attrs.frozen
class ListRows:
    """:class:`Rows` over a list held in memory."""

    items: Sequence[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.items)

    def slice(self, offset: int, limit: int) -> list[dict[str, Any]]:
        return list(self.items[offset : offset + limit])


@attrs.frozen
class Listing:
    """A paginated answer. ``finish`` completes each item of the page sent (a signed URL)."""

    rows: Rows
    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    links: bool = True  # False: ``links`` is always ``{}`` (the webhook listings, as before)


@attrs.frozen
class Reply:
    """An answer with another status than 200, and a JSON body."""

    status: int
    body: Any


class Query:
    """A request's query, its names matched whatever their case."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name.lower(), []).append(value)

    def get(self, name: str) -> str | None:
        """The first value of ``name``, if given."""
        values = self._values.get(name.lower())
        return values[0] if values else None

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``, repeated or comma-separated (``ids=a&ids=b``, ``ids=a,b``)."""
        return [v for value in self._values.get(name.lower(), []) for v in value.split(",") if v]

    def integer(self, name: str, default: int) -> int:
        """An integer parameter; 400 if it is not one."""
        text = self.get(name)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise Refused(400, f"The value '{text}' is not valid for {name}.") from None

    def choice(self, name: str, choices: Sequence[str], default: str | None) -> str | None:
        """A parameter from a closed set, matched whatever its case (returned as listed)."""
        text = self.get(name)
        if text is None:
            return default
        for choice in choices:
            if choice.lower() == text.lower():
                return choice
        raise Refused(400, f"The value '{text}' is not valid for {name}: one of {choices}.")

    def guid(self, name: str) -> str | None:
        """A GUID parameter (lower case), if given; 400 if it is not a GUID."""
        text = self.get(name)
        return None if text is None else as_guid(text, name)


def as_guid(text: str, name: str) -> str:
    """``text`` as a lower-case GUID; 400 if it is not one."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise Refused(400, f"The value '{text}' is not a valid GUID for {name}.") from None


@attrs.frozen
class Call:
    """One request, as an endpoint function sees it."""

    ids: Mapping[str, str]
    query: Query
    body: Any = None

    def id(self, name: str, what: str) -> int:
        """A numeric path id; 404 (``"{what} not found"``) if it is not a number."""
        text = self.ids[name]
        if not (text.isascii() and text.isdigit()):
            raise Refused(404, f"{what} not found")
        return int(text)

    def field(self, name: str) -> Any:
        """A field of the JSON body, matched whatever its case (as ASP.NET binds them)."""
        if not isinstance(self.body, dict):
            return None
        for key, value in self.body.items():
            if key.lower() == name.lower():
                return value
        return None


Answer = Listing | dict[str, Any] | list[Any] | Reply
EndpointFunction = Callable[[Call], Answer]


@attrs.frozen
class Endpoint:
    """One declared endpoint. ``body``: the request carries JSON (POST and PUT with a body)."""

    method: str
    template: str
    scope: str
    function: EndpointFunction
    body: bool = False


def envelope(
    items: list[dict[str, Any]], total: int, offset: int, limit: int, links: dict[str, str]
) -> dict[str, Any]:
    """The documented page: ``{"items", "links", "totalCount", "limit", "offset"}``."""
    return {"items": items, "links": links, "totalCount": total, "limit": limit, "offset": offset}


_PAGING = ("offset", "limit")


def page_links(
    base: str, raw_path: str, raw_query: str, offset: int, limit: int, total: int
) -> dict[str, str]:
    """Absolute ``next``/``prev`` URLs keeping the request's other parameters as sent.

    ``{}`` when everything fits on this page (as the documents show a single page).
    """
    kept = [
        part
        for part in raw_query.split("&")
        if part and urllib.parse.unquote(part.partition("=")[0]).lower() not in _PAGING
    ]

    def at(start: int) -> str:
        query = "&".join([*kept, f"offset={start}", f"limit={limit}"])
        return f"{base}{raw_path}?{query}"

    links: dict[str, str] = {}
    if offset + limit < total:
        links["next"] = at(offset + limit)
    if offset > 0:
        links["prev"] = at(max(0, offset - limit))
    return links


# --- dates in queries ----------------------------------------------------------------------

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
When = str | date | datetime | None


def parse_when(value: str | date | datetime, name: str) -> date | datetime:
    """A query date as sent: a ``date`` (date only) or a ``datetime`` (naive or aware)."""
    if isinstance(value, date):
        return value
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Refused(400, f"The value '{value}' is not a valid date for {name}.") from None


@attrs.frozen
class Window:
    """Inclusive bounds of ``fromDate``/``toDate`` (or ``startDate``/``endDate``).

    As documented, a value with ``Z`` or an offset is an instant; a value without one is in the
    subject's time zone. A date alone covers that whole day (an inclusive end takes it all).
    Items that are days (daily statistics, day files) compare by calendar day as written.
    """

    lo: datetime | None = None
    hi: datetime | None = None
    lo_day: date | None = None
    hi_day: date | None = None

    @classmethod
    def of(cls, low: When, high: When, zone: tzinfo, names: tuple[str, str]) -> Window:
        """The window of two optional query values (strings as received, or dates)."""
        lo = hi = None
        lo_day = hi_day = None
        if low is not None:
            lo, _, lo_day = _bounds(parse_when(low, names[0]), zone)
        if high is not None:
            _, hi, hi_day = _bounds(parse_when(high, names[1]), zone)
        return cls(lo, hi, lo_day, hi_day)

    def holds(self, when: datetime) -> bool:
        """Whether an instant lies in the window."""
        return (self.lo is None or when >= self.lo) and (self.hi is None or when <= self.hi)

    def holds_day(self, value: date) -> bool:
        """Whether a day lies in the window (by calendar day)."""
        return (self.lo_day is None or value >= self.lo_day) and (
            self.hi_day is None or value <= self.hi_day
        )


def _bounds(value: date | datetime, zone: tzinfo) -> tuple[datetime, datetime, date]:
    """(first instant, last instant, calendar day) that a query value stands for."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            instant = value.replace(tzinfo=zone).astimezone(UTC)
            return instant, instant, value.date()
        instant = value.astimezone(UTC)
        return instant, instant, instant.date()
    start = datetime.combine(value, time(), zone).astimezone(UTC)
    end = datetime.combine(value + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end - timedelta(microseconds=1), value
