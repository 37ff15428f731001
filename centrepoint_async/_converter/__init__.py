"""The one converter of centrepoint-async, and every rule it follows.

JSON (decoded by ``orjson``) becomes frozen ``attrs`` models by one road: a function generated
per class (:func:`builder`). Rules, for every model:

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
   **Dates** (``date`` fields): ``2019-01-01``, or the date of a timestamp as written
   (``2020-10-05T00:00:00-05:00`` is 5 October). **"Never"**: an optional ``datetime`` or
   ``date`` field declared with ``metadata={"never": True}`` reads the API's
   ``0001-01-01T00:00:00+00:00`` (.NET's minimum, with or without a zone or zeros of
   fraction) as ``None``.
5. **Lists**: ``null`` where a list is expected becomes an empty tuple; a single object where a
   list of objects is expected (the daily statistics aggregations, documented as objects and sent
   as arrays) becomes a one-item tuple.
6. **Leniency.** On resources (every model whose class attribute ``lenient`` is true: all but
   the event payloads and their parts) a value that cannot be read as its field's type leaves
   the field at its default (``None``); the delivery keeps its JSON in ``raw``. Their ``id``
   is required: a resource without a readable ``id`` is a
   :class:`~centrepoint_async.DecodeError` (a pager adds ``resume_offset``). On events,
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

Any frozen, slotted ``attrs`` class is built with no registration, if its fields are ``int``,
``float``, ``str``, ``bool``, ``datetime``, ``date``, a model, ``tuple[X, ...]`` of those,
``Mapping[str, Any]``/``dict[str, Any]`` (a JSON object, kept as it is), ``Any``, or any of
them ``| None``. A field of another type, or a model with validators, converters or
``__attrs_post_init__``, is a ``TypeError`` when its builder is made: builders never call
``__init__``. They fill a private mutable subclass of the model that adds no slots, then give
the object the model's class (frozen classes are frozen against users, not against their own
builder).

Where the parts live: :mod:`._scalars` (rules 3, 4), :mod:`._keys` (1, 9), :mod:`._plan`,
:mod:`._emit`, :mod:`._leftovers` and :mod:`._generate` (the builders: 1, 2, 5, 6, 10),
:mod:`._headers` (7), :mod:`._payloads` (8), :mod:`._unstructure` (9). A builder's source is
registered in ``linecache`` as ``<centrepoint_async build module.Class lenient>`` (or
``strict``), so a traceback through it shows the generated line.
"""

from __future__ import annotations

from ._generate import builder, reader, register_structure, structure
from ._headers import parse_headers
from ._keys import json_name
from ._payloads import parse_payload
from ._plan import NEVER
from ._scalars import parse_date, parse_datetime
from ._unstructure import register_unstructure, unstructure

__all__ = [
    "NEVER",
    "builder",
    "json_name",
    "parse_date",
    "parse_datetime",
    "parse_headers",
    "parse_payload",
    "reader",
    "register_structure",
    "register_unstructure",
    "structure",
    "unstructure",
]
