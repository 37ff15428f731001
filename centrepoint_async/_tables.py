"""Analytics items as table rows: flat columns, a stable order, CSV and Parquet writers.

How an item (decoded JSON, exactly as the API sent it) becomes one row:

1. **Names.** A key becomes snake_case, acronyms as whole words (``timestampUtc`` is
   ``timestamp_utc``, ``nonFilteredVMSedentary`` is ``non_filtered_vm_sedentary``,
   ``wearSleepFilteredVAMVPA`` is ``wear_sleep_filtered_va_mvpa``); a nested object's keys
   are joined to their parent's with a dot: ``epoch_aggregation.wear_minutes``.
2. **Aggregations sent as arrays of one object** (``crouterAggregations: [{...}]``, documented
   as objects) are read as that object: ``crouter_aggregations.non_filtered_vm_sedentary``. A
   second object, if one ever comes, gives ``crouter_aggregations.1.non_filtered_vm_sedentary``
   (and so on), kept as columns of their own.
3. **Lists of named buckets** (objects with a ``Name``: the generic cutpoints'
   ``CutpointBuckets: [{"Name": "Sedentary", "NumberOfSeconds": 60}]``) give one column per
   name holding its one other value:
   ``generic_cutpoint_minute_aggregations.cutpoint_buckets.sedentary``.
4. **Lists of plain values** (``activityMonitorSerials``) are one text column, the values
   joined by ``;``. An empty list or object gives nothing (its columns stay empty).
5. **subject_id** is always a column, the first: the subject whose listing gave the item.

**Columns and their order** come from the documented fields of each table (:data:`COLUMNS`,
ActiGraph's Minute Summary, Daily Statistics, Dustin-Tracy Sleep Periods and Event Markers
documents), so the order never depends on which rows come first; a key the documents do not
name is still kept, as a column after the documented ones, in name order.

**Types** (Parquet; CSV is text): each documented column has one (counts as 64-bit integers,
figures as doubles, ``true``/``false`` as booleans, ``...Utc`` times as UTC timestamps,
``...Local`` times as timestamps without a zone (the subject's clock), the daily ``date`` as a
date). A column whose values do not all fit its type is widened, for the whole file, as little
as they need (integers to doubles, anything to text), so no row is ever refused; an
undocumented column gets the type its values share (text if none). CSV writes values as sent:
numbers as numbers, ``true``/``false``, times in the API's text, empty for a missing value.

Both writers read the export's staged rows twice (once to learn the columns, once to write)
and hold :data:`CHUNK_ROWS` rows at a time as Python values; Parquet is written in row groups
of :data:`ROW_GROUP_ROWS` rows, never the whole table in memory.
"""

from __future__ import annotations

import csv
import functools
import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import attrs
import orjson

from ._converter._keys import snake_name
from ._exceptions import ConfigurationError

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "ROW_GROUP_ROWS",
    "Column",
    "column_name",
    "flatten",
    "require_pyarrow",
    "row_of",
    "stage",
    "staged_item",
    "survey",
    "write_csv",
    "write_parquet",
]

Kind = Literal["int", "float", "bool", "str", "timestamp", "local", "date"]

#: Rows held as Python values at once while writing (the rest is on disk or in Arrow).
CHUNK_ROWS = 4096
#: Rows in each Parquet row group (held as Arrow columns until written).
ROW_GROUP_ROWS = 65_536


def column_name(key: str) -> str:
    """The snake_case name of one JSON key (rule 1 of the module docstring)."""
    return snake_name(key)


# --- flattening -------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A value as CSV text: as JSON writes it, but a string without quotes, None as nothing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _named(values: list[Any]) -> str | None:
    """The key of the bucket name (``Name``) if every object of ``values`` has a text one."""
    first: dict[str, Any] = values[0]
    key = next((k for k in first if k.lower() == "name"), None)
    if key is None or not all(isinstance(v.get(key), str) for v in values):
        return None
    return key


@functools.lru_cache(maxsize=16384)
def _join(prefix: str, key: str) -> str:
    """The column of ``key`` (an API name, a bucket's name) under the column ``prefix``."""
    name = column_name(key)
    return f"{prefix}.{name}" if prefix else name


def _flatten_list(out: dict[str, Any], prefix: str, values: list[Any]) -> None:
    """Rules 2 to 4 of the module docstring."""
    if not values:
        return
    if not all(type(v) is dict for v in values):
        if any(isinstance(v, dict | list) for v in values):
            out[prefix] = orjson.dumps(values).decode()  # a mixture: kept whole, as JSON
        else:
            out[prefix] = ";".join(_text(v) for v in values)
        return
    if (name := _named(values)) is not None:
        for bucket in values:
            where = _join(prefix, bucket[name])
            rest = {k: v for k, v in bucket.items() if k != name}
            if len(rest) == 1:
                out[where] = next(iter(rest.values()))
            else:
                _flatten_object(out, where, rest)
        return
    for k, value in enumerate(values):
        _flatten_object(out, prefix if k == 0 else f"{prefix}.{k}", value)


def _flatten_object(out: dict[str, Any], prefix: str, value: dict[str, Any]) -> None:
    """Rule 1 over an object's keys, and the rules of its lists (run for every row: no call
    per plain value)."""
    for key, child in value.items():
        where = _join(prefix, key)
        kind = type(child)
        if kind is dict:
            _flatten_object(out, where, child)
        elif kind is list:
            _flatten_list(out, where, child)
        else:
            out[where] = child


def flatten(item: Any) -> dict[str, Any]:
    """An item's values by column name (rules 1 to 4); a non-object item has none."""
    out: dict[str, Any] = {}
    if isinstance(item, dict):
        _flatten_object(out, "", item)
    return out


def row_of(subject_id: int, item: Any) -> dict[str, Any]:
    """One row: ``subject_id`` (the listing's subject), then the item's values (rule 5)."""
    row = flatten(item)
    row["subject_id"] = subject_id
    return row


def stage(subject_id: int, item: Any) -> bytes:
    """One staged record (a JSON line) holding an item as sent and its listing's subject."""
    return b'{"subject_id":%d,"item":%s}\n' % (subject_id, orjson.dumps(item))


def staged_item(record: bytes) -> Any:
    """The item of a staged record, as sent (None if it is not one)."""
    data = orjson.loads(record)
    return data.get("item") if isinstance(data, dict) else None


def _staged(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a staged file, one at a time."""
    with open(path, "rb") as handle:
        for line in handle:
            data = orjson.loads(line)
            yield row_of(data["subject_id"], data["item"])


# --- the documented columns ---------------------------------------------------------------------


@attrs.frozen
class Column:
    """One column: its name and its type (see the module docstring)."""

    name: str
    kind: Kind


def _columns(prefix: str, kind: Kind, *keys: str) -> list[Column]:
    """Columns of ``keys`` (API names) under ``prefix`` (a column name, or "")."""
    return [Column(f"{prefix}.{column_name(k)}" if prefix else column_name(k), kind) for k in keys]


def _product(*parts: Sequence[str]) -> list[str]:
    """Every key made of one part of each (``nonFiltered`` + ``VM`` + ``Sedentary``)."""
    keys = [""]
    for part in parts:
        keys = [key + p for key in keys for p in part]
    return keys


_FILTERS = ("nonFiltered", "wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")
_LEVELS = ("Sedentary", "Light", "Moderate", "Vigorous", "MVPA")
_STAUDENMAYER = (
    "Light",
    "Moderate",
    "Vigorous",
    "MVPA",
    "Sedentary",
    "NonSedentary",
    "Locomotion",
    "NonLocomotion",
)
_BUCKETS = ("Sedentary", "Light", "Moderate", "Vigorous")
_AGGREGATE_BUCKETS = ("Mvpa", "Lvpa")
_METS = (
    "nonFilteredMets",
    "wearMets",
    "wearAwakeMets",
    "nonFilteredMetsAverage",
    "wearMetsAverage",
    "wearAwakeMetsAverage",
    "nonFilteredCalories",
    "wearCalories",
    "wearAwakeCalories",
)
_EPOCH_TIMES = ("firstEpochDateTimeUtc", "lastEpochDateTimeUtc")
_LOCAL_TIMES = ("firstEpochDateTimeLocal", "lastEpochDateTimeLocal")
_SUBJECT = [Column("subject_id", "int")]


def _minute_summaries() -> list[Column]:
    """Minute Summary (section 1.2 of the data notes)."""
    generic = "generic_cutpoint_minute_aggregations"
    return [
        *_SUBJECT,
        *_columns("", "int", "studyId"),
        *_columns("", "str", "activityMonitorSerial", "minuteSummarySettingsId"),
        *_columns("", "timestamp", "timestampUtc"),
        *_columns("", "bool", "isWear", "isSleep"),
        *_columns("", "int", "x", "y", "z"),
        *_columns("", "float", "vectorMagnitude"),
        *_columns("", "int", "steps", "longPressCounts", "pressCounts"),
        *_columns("", "float", "mets", "calories"),
        *_columns(
            "crouter_cut_points_minute_aggregations",
            "int",
            *_product(("vm", "va"), ("Sedentary", "Light", "Moderate", "Vigorous", "Mvpa")),
        ),
        *_columns(
            "freedson_cut_points_minute_aggregations",
            "int",
            *("sedentary", "light", "moderate", "vigorous", "veryVigorous"),
        ),
        *_columns(
            "evenson_cut_points_minute_aggregations",
            "int",
            *("sedentary", "light", "moderate", "vigorous", "mvpa"),
        ),
        *_columns(
            "staudenmayer_cut_points_minute_aggregations",
            "int",
            *(column_name(level) for level in _STAUDENMAYER),
        ),
        *_columns(generic, "str", "MinuteAggregationSettingsId", "AlgorithmName"),
        *_columns(f"{generic}.cutpoint_buckets", "float", *_BUCKETS),
        *_columns(f"{generic}.aggregate_buckets", "float", *_AGGREGATE_BUCKETS),
    ]


def _epoch_aggregation() -> list[Column]:
    """Daily Statistics' ``epochAggregation``: minutes, axis counts, magnitudes, epoch times."""
    epoch = "epoch_aggregation"
    totals = ("totalNonFiltered", *_FILTERS[1:])
    return [
        *_columns(
            epoch,
            "float",
            *("wearMinutes", "nonWearMinutes", "sleepMinutes", "awakeMinutes"),
            *("wearAwakeMinutes", "wearSleepMinutes", "totalNonFilteredMinutes"),
        ),
        *_columns(epoch, "int", *_product(totals, ("Axis",), "XYZ", ("Counts",))),
        *_columns(epoch, "float", *_product(totals, ("VectorMagnitude",))),
        *_columns(epoch, "int", *_product(_FILTERS[:3], ("VectorMagnitudeCounts",))),
        *_columns(epoch, "timestamp", *_EPOCH_TIMES),
        *_columns(epoch, "local", *_LOCAL_TIMES),
    ]


def _generic_aggregations() -> list[Column]:
    """Daily Statistics' ``genericCutpointAggregations``: bucket name to seconds, by filter."""
    generic = "generic_cutpoint_aggregations"
    groups = [column_name(group) for group in ("Total", "Wear", "Awake", "WearAwake")]
    return [
        *_columns(generic, "str", "AlgorithmName"),
        *(c for g in groups for c in _columns(f"{generic}.{g}_buckets", "float", *_BUCKETS)),
        *(
            c
            for g in groups
            for c in _columns(f"{generic}.{g}_aggregate_buckets", "float", *_AGGREGATE_BUCKETS)
        ),
    ]


def _daily_statistics() -> list[Column]:
    """Daily Statistics (section 1.3 of the data notes)."""
    return [
        *_SUBJECT,
        *_columns("", "int", "id", "studyId", "siteId"),
        *_columns("", "str", "dailyStatisticsSettingId"),
        *_columns("", "date", "date"),
        *_columns("", "str", "activityMonitorSerials"),
        *_columns("", "timestamp", *_EPOCH_TIMES),
        *_columns("", "local", *_LOCAL_TIMES),
        *_epoch_aggregation(),
        *_columns(
            "event_marker_aggregation", "int", "longPressCount", "pressCount", "releaseCount"
        ),
        *_columns("crouter_aggregations", "float", *_product(_FILTERS, ("VM",), _LEVELS)),
        *_columns("crouter_aggregations", "float", *_product(_FILTERS, ("VA",), _LEVELS)),
        *_columns(
            "freedson_aggregations",
            "float",
            *_product(_FILTERS, ("VA",), (*_LEVELS[:4], "VeryVigorous")),
        ),
        *_columns(
            "evenson_aggregations",
            "float",
            *_product(("nonFiltered", "wearFiltered", "wearAwake"), _LEVELS),
        ),
        *_columns("staudenmayer_aggregations", "float", *_product(_FILTERS, _STAUDENMAYER)),
        *_generic_aggregations(),
        *_columns("mavm_aggregation", "int", *_product(_FILTERS, ("Steps",))),
        *_columns("uwf_aggregation", "int", *_product(_FILTERS, ("Steps",))),
        *_columns("hildebrand_met_calorie_aggregation", "float", *_METS),
        *_columns("crouter_youth_met_calorie_aggregation", "float", *_METS),
    ]


def _sleep_periods() -> list[Column]:
    """Dustin-Tracy Sleep Periods (section 1.4 of the data notes)."""
    return [
        *_SUBJECT,
        *_columns("", "int", "id", "studyId"),
        *_columns("", "str", "algorithmSettingId", "activityMonitorSerial"),
        *_columns("", "timestamp", "inBedTime", "outBedTime"),
        *_columns("", "int", "durationMinutes"),
        *_columns("", "float", "timeAsleepMinutes", "timeAwakeMinutes"),
        *_columns("", "int", "awakeningCount"),
        *_columns("", "float", "averageAwakening"),
        *_columns("", "int", "totalCounts"),
        *_columns(
            "",
            "float",
            *("efficiency", "wakeAfterOnsetMinutes", "sleepFragmentationIndex"),
            *("sleepMovementIndex", "totalSleepFragmentationIndex"),
        ),
    ]


def _event_markers() -> list[Column]:
    """Event Markers (section 1.5 of the data notes)."""
    return [
        *_SUBJECT,
        *_columns("", "int", "id", "studyId"),
        *_columns("", "str", "algorithmSettingId", "activityMonitorSerial"),
        *_columns("", "timestamp", "timestampUtc"),
        *_columns("", "int", "longPressCount", "pressCount", "releaseCount"),
    ]


#: The documented columns of each table, in order (``subject_id`` first).
COLUMNS: dict[str, tuple[Column, ...]] = {
    "minute-summaries": tuple(_minute_summaries()),
    "daily-statistics": tuple(_daily_statistics()),
    "sleep-periods": tuple(_sleep_periods()),
    "event-markers": tuple(_event_markers()),
}


# --- types --------------------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    return datetime.fromisoformat(value)


def _integer(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(value)


def _number(value: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    raise TypeError(value)


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(value)


#: How a JSON value becomes a value of each type; TypeError/ValueError: it does not fit.
CONVERT: dict[Kind, Callable[[Any], Any]] = {
    "int": _integer,
    "float": _number,
    "bool": _boolean,
    "str": _text,
    "timestamp": lambda v: _timestamp(v),
    "local": lambda v: _timestamp(v).replace(tzinfo=None),
    "date": lambda v: _timestamp(v).date(),
}

#: What a type widens to when a value does not fit it.
_WIDER: dict[Kind, Kind] = {
    "int": "float",
    "float": "str",
    "bool": "str",
    "timestamp": "str",
    "local": "str",
    "date": "str",
}


def _kind_of(value: Any) -> Kind:
    """The type an undocumented column starts with, from its first value."""
    if type(value) is bool:
        return "bool"
    if type(value) is int:
        return "int"
    if type(value) is float:
        return "float"
    return "str"


def _fit(kind: Kind, value: Any) -> Kind:
    """``kind``, widened until ``value`` fits it."""
    while True:
        try:
            CONVERT[kind](value)
        except (TypeError, ValueError):
            kind = _WIDER[kind]
            continue
        return kind


def survey(rows: Iterable[dict[str, Any]], declared: Sequence[Column]) -> list[Column]:
    """The file's columns: the documented ones in order (widened where a value needs it), then
    every other column the rows hold, in name order, typed by their values."""
    kinds: dict[str, Kind] = {c.name: c.kind for c in declared}
    known = set(kinds)
    for row in rows:
        for name, value in row.items():
            if value is None:
                continue
            kind = kinds.get(name)
            if kind is None:
                kinds[name] = _kind_of(value)
            elif kind != "str":
                try:
                    CONVERT[kind](value)
                except (TypeError, ValueError):
                    kinds[name] = _fit(kind, value)
    extra = sorted(name for name in kinds if name not in known)
    return [Column(c.name, kinds[c.name]) for c in declared] + [Column(n, kinds[n]) for n in extra]


# --- the writers ----------------------------------------------------------------------------------


def write_csv(source: Path, target: Path, declared: Sequence[Column]) -> None:
    """Write the staged rows of ``source`` to ``target`` as CSV (a header, then a row each)."""
    columns = survey(_staged(source), declared)
    names = [c.name for c in columns]
    with open(target, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(names)
        for row in _staged(source):
            out.writerow([_text(row.get(name)) for name in names])


PARQUET_EXTRA = "pip install 'centrepoint-async[parquet]'"


def require_pyarrow() -> Any:
    """The ``pyarrow`` module, or a :class:`ConfigurationError` naming the extra to install."""
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        raise ConfigurationError(
            f"format 'parquet' needs pyarrow, which is not installed: {PARQUET_EXTRA}"
        ) from None


def _arrow_types(pa: Any) -> dict[Kind, Any]:
    return {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "str": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "local": pa.timestamp("us"),
        "date": pa.date32(),
    }


def _column_chunks(
    rows: Iterator[dict[str, Any]], columns: Sequence[Column]
) -> Iterator[list[list[Any]]]:
    """The rows, :data:`CHUNK_ROWS` at a time, as one list of converted values per column (a
    row's dict is dropped as soon as its values are taken)."""
    names = [c.name for c in columns]
    converts = [CONVERT[c.kind] for c in columns]
    chunk: list[list[Any]] = [[] for _ in columns]
    size = 0
    for row in rows:
        for values, name, convert in zip(chunk, names, converts, strict=True):
            value = row.get(name)
            values.append(None if value is None else convert(value))
        size += 1
        if size == CHUNK_ROWS:
            yield chunk
            chunk, size = [[] for _ in columns], 0
    if size:
        yield chunk


def write_parquet(source: Path, target: Path, declared: Sequence[Column]) -> None:
    """Write the staged rows of ``source`` to ``target`` as Parquet, a row group at a time."""
    pa = require_pyarrow()
    parquet = importlib.import_module("pyarrow.parquet")
    columns = survey(_staged(source), declared)
    types = _arrow_types(pa)
    schema = pa.schema([pa.field(c.name, types[c.kind]) for c in columns])
    with parquet.ParquetWriter(target, schema) as writer:
        group: list[Any] = []  # Arrow batches of the row group under way
        for chunk in _column_chunks(_staged(source), columns):
            arrays = [
                pa.array(values, type=f.type) for values, f in zip(chunk, schema, strict=True)
            ]
            del chunk
            group.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
            if sum(batch.num_rows for batch in group) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(group, schema=schema))
                group = []
        if group:
            writer.write_table(pa.Table.from_batches(group, schema=schema))
