"""The Analytics family of the fake: minute summaries, daily statistics, sleep periods, event
markers, and the settings that produced them (sections 1.2 to 1.6 of the data notes).

A subject's minute summaries are one row a minute over its days of data, each row a pure
function of the seed, the subject and the minute: a page is made when asked for, so a year of
minutes costs nothing held. The documents' quirks are kept: the query's
``minuteSummarySettingId`` against the field ``minuteSummarySettingsId``; the PascalCase
``GenericCutpointMinuteAggregations`` (and PascalCase children under the camelCase
``genericCutpointAggregations`` of daily statistics); ``cutPointSettingIds`` in minute summary
settings and ``cutpointSettingIds`` in daily statistics settings; optional figures omitted, not
null; every timestamp with ``+00:00``; mixed setting ids and unsorted ids in sleep periods and
event markers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, overload

import attrs

from ._records import DatasetView
from ._seeded import guid, mix, offset_seconds
from ._serving import Call, Endpoint, Listing, ListRows, Refused, When, Window, as_guid
from ._study import Span, find_study, find_subject, zone_of

__all__ = [
    "CROUTER",
    "EPOCH_COUNTS",
    "FREEDSON",
    "STAUDENMAYER",
    "STEPS",
    "MinuteRows",
    "endpoints",
    "figures",
    "settings_of",
]

_FILTERS = ("nonFiltered", "wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")
FREEDSON = [
    f + v
    for f in _FILTERS
    for v in ("VASedentary", "VALight", "VAModerate", "VAVigorous", "VAVeryVigorous")
]
_STAUDENMAYER_LEVELS = (
    "Light",
    "Moderate",
    "Vigorous",
    "MVPA",
    "Sedentary",
    "NonSedentary",
    "Locomotion",
    "NonLocomotion",
)
STAUDENMAYER = [f + v for f in _FILTERS for v in _STAUDENMAYER_LEVELS]
_LEVELS = ("Sedentary", "Light", "Moderate", "Vigorous", "MVPA")
CROUTER = [f + a + v for a in ("VM", "VA") for f in _FILTERS for v in _LEVELS]
# evenson: "wearAwake" with no "Filtered", and no wear-sleep group, as documented
EVENSON = [f + v for f in ("nonFiltered", "wearFiltered", "wearAwake") for v in _LEVELS]
STEPS = [f + "Steps" for f in _FILTERS]
EPOCH_COUNTS = [
    f"{f}Axis{axis}Counts"
    for f in ("wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")
    for axis in "XYZ"
] + [f"{f}VectorMagnitude" for f in ("wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")]
_METS = [
    "nonFilteredMets",
    "wearMets",
    "wearAwakeMets",
    "nonFilteredMetsAverage",
    "wearMetsAverage",
    "wearAwakeMetsAverage",
    "nonFilteredCalories",
    "wearCalories",
    "wearAwakeCalories",
]
_BUCKETS = ("Sedentary", "Light", "Moderate", "Vigorous")

#: The study's algorithm settings: (tag, name, algorithmType).
_ALGORITHMS = (
    ("epoch", "Epoch Summary 60 sec", "Epoch Summary"),
    ("sleep0", "Dustin Tracy Sleep Periods - Adult Wrist-Worn", "Dustin Tracy Sleep Periods"),
    ("sleep1", "Dustin Tracy Sleep Periods - Youth Waist-Worn", "Dustin Tracy Sleep Periods"),
    ("wear", "Choi Wear Periods", "Choi Wear Periods"),
    ("steps", "Uwf Steps", "UWF Steps"),
    ("crouter", "Crouter Child Cutpoints", "Crouter Child Cutpoints"),
    ("staudenmayer", "Staudenmayer Cutpoints", "Staudenmayer Cutpoints"),
    ("freedson", "Freedson Adult VA", "Freedson Cutpoints"),
    ("evenson", "Evenson Children", "Evenson Cutpoints"),
    ("generic", "Kim VM Wrist", "Generic Cutpoints"),
    ("mets", "Hildebrand METs and Calories", "Hildebrand METs and Calories"),
    ("event0", "Event Markers", "Event Markers"),
    ("event1", "Event Markers", "Event Markers"),
)


def figures(h: int, names: list[str]) -> dict[str, int]:
    """Whole-number figures for ``names``, from a hash."""
    return {name: (h >> (i % 40)) % 5000 for i, name in enumerate(names)}


def _id(seed: int, study_id: int, tag: str) -> str:
    return guid(mix(seed, study_id, *tag.encode()))


def settings_of(seed: int, study_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every settings listing of a study, by family (``algorithm``, ``minute``, ``daily``,
    ``sleep``, ``event``); the variants A and B of minute and daily settings differ."""

    def ref(tag: str) -> str:
        return _id(seed, study_id, tag)

    algorithm: list[dict[str, Any]] = [
        {"id": ref(tag), "studyId": study_id, "name": name, "algorithmType": kind}
        for tag, name, kind in _ALGORITHMS
    ]
    minute: list[dict[str, Any]] = []
    daily: list[dict[str, Any]] = []
    for variant, cuts in (("A", ["staudenmayer"]), ("B", ["crouter", "freedson", "evenson"])):
        base = {
            "wearPeriodSettingId": ref("wear"),
            "sleepPeriodSettingId": ref("sleep0"),
            "epochSummarySettingId": ref("epoch"),
        }
        extra = {"stepsSettingId": ref("steps"), "metsCaloriesSettingId": ref("mets")}
        ids = [ref(c) for c in [*cuts, *(["generic"] if variant == "B" else [])]]
        for family, key, listing in (
            ("minute", "cutPointSettingIds", minute),
            ("daily", "cutpointSettingIds", daily),
        ):
            item = {"id": ref(family + variant), "studyId": study_id} | base | {key: ids}
            listing.append(item | (extra if variant == "A" else {}))
    sleep = []
    for k, item in enumerate(a for a in algorithm if a["algorithmType"].startswith("Dustin")):
        settings = {
            "blockLengthInMinutes": 10,
            "thresholdCountsPerMinute": 15 + 5 * k,
            "bedRestStartTriggerCountsPerMinute": 5,
            "bedRestEndTriggerCountsPerMinute": 10,
            "minimumBedRestLengthInMinutes": 160 - 40 * k,
            "maxSleepPeriodLengthInMinutes": 1440,
        }
        if k:  # documented, absent from the documents' example: here in one of two
            settings["minimumNonZeroEpochs"] = 2
        sleep.append(item | {"settings": settings})
    event = [a for a in algorithm if a["algorithmType"] == "Event Markers"]
    return {
        "algorithm": algorithm,
        "minute": minute,
        "daily": daily,
        "sleep": sleep,
        "event": event,
    }


@attrs.frozen
class Subject:
    """What a subject's analytics rows are made of."""

    seed: int
    study_id: int
    subject_id: int
    site_id: int
    serial: str
    span: Span
    offset: timedelta  # the subject's UTC offset at the start of its data
    variant: int  # 0: settings A (steps, METs, Staudenmayer); 1: settings B (cutpoints)
    settings: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, dataset: DatasetView, subject: dict[str, Any]) -> Subject:
        """What the dataset says of a subject (JSON as served)."""
        span = dataset.span(subject["id"])
        assignment = dataset.assignment_of(subject["studyId"], subject["id"])
        serial = assignment["activityMonitorSerial"] if assignment else f"TAS1Z{subject['id']:08d}"
        start = datetime.combine(span.start, time(), UTC)
        offset = start.astimezone(zone_of(subject)).utcoffset() or timedelta(0)
        settings = dataset.plan(subject["studyId"]).settings
        variant = subject["id"] % 2
        site = subject.get("siteId")
        return cls(
            dataset.seed,
            subject["studyId"],
            subject["id"],
            site if isinstance(site, int) else 0,
            serial,
            span,
            offset,
            variant,
            settings,
        )

    @property
    def t0(self) -> datetime:
        """The first minute of its data (midnight UTC)."""
        return datetime.combine(self.span.start, time(), UTC)

    @property
    def watch(self) -> bool:
        """An Insight Watch: it records button presses (event markers)."""
        return self.serial.startswith("CPW1")

    def setting(self, family: str, index: int | None = None) -> str:
        """The id of its setting of a family (its variant's, or the ``index``-th)."""
        items = self.settings[family]
        return str(items[self.variant if index is None else index]["id"])

    def days(self, window: Window) -> list[tuple[int, date]]:
        """``(day number, day)`` of each day of its data inside ``window``."""
        return [(d, when) for d, when in enumerate(self.span.dates()) if window.holds_day(when)]


def _level(vm: float) -> int:
    return 0 if vm < 100 else 1 if vm < 2000 else 2 if vm < 5000 else 3


def _minute(subject: Subject, index: int) -> dict[str, Any]:
    """Minute ``index`` of a subject's data, as MinuteSummaries sends it."""
    h = mix(subject.seed, subject.subject_id, index, 71)
    when = subject.t0 + timedelta(minutes=index)
    hour = (when + subject.offset).hour
    sleep = hour < 6 or hour == 23
    wear = h % 23 != 0
    scale = 0 if not wear else 40 if sleep else 2500
    x, y, z = (((h >> s) % (scale + 1)) for s in (8, 20, 32))
    vm = round(math.sqrt(x * x + y * y + z * z), 2)
    level = _level(vm)
    seconds = [60 if i == level else 0 for i in range(4)]
    row: dict[str, Any] = {
        "subjectId": subject.subject_id,
        "studyId": subject.study_id,
        "activityMonitorSerial": subject.serial,
        "minuteSummarySettingsId": subject.setting("minute"),
        "timestampUtc": offset_seconds(when),
        "isWear": wear,
        "isSleep": sleep,
        "x": x,
        "y": y,
        "z": z,
        "vectorMagnitude": vm,
    }
    if subject.variant == 0:
        row["steps"] = 0 if sleep else (h >> 44) % 120
    if subject.watch and h % 97 == 0:  # only where event markers exist
        row["longPressCounts"] = (h >> 50) % 2
        row["pressCounts"] = 1 + (h >> 52) % 3
    if subject.variant == 0:
        row["mets"] = round(1 + vm / 2500, 4)
        row["calories"] = round(vm / 1800, 4)
        levels = [seconds[1], seconds[2], seconds[3], seconds[2] + seconds[3], seconds[0]]
        moving = 60 - seconds[0]
        row["staudenmayerCutPointsMinuteAggregations"] = [
            dict(zip(["light", "moderate", "vigorous", "mvpa", "sedentary"], levels, strict=True))
            | {"nonSedentary": moving, "locomotion": moving, "nonLocomotion": 60 - moving}
        ]
        return row
    return row | _minute_cutpoints(subject, seconds)


def _minute_cutpoints(subject: Subject, seconds: list[int]) -> dict[str, Any]:
    """The cutpoint aggregations of settings B, for a minute's seconds in each level."""
    mvpa = seconds[2] + seconds[3]
    crouter: dict[str, int] = {}
    for axis in ("vm", "va"):
        crouter |= {axis + n: v for n, v in zip(_BUCKETS, seconds, strict=True)}
        crouter[axis + "Mvpa"] = mvpa
    generic = {
        "MinuteAggregationSettingsId": subject.setting("algorithm", 9),
        "AlgorithmName": "Kim VM Wrist",
        "CutpointBuckets": [
            {"Name": n, "NumberOfSeconds": v} for n, v in zip(_BUCKETS, seconds, strict=True)
        ],
        "AggregateBuckets": [{"Name": "Mvpa", "NumberOfSeconds": mvpa}] if mvpa else [],
    }
    return {
        "crouterCutPointsMinuteAggregations": [crouter],
        "freedsonCutPointsMinuteAggregations": [
            {"sedentary": seconds[0], "light": seconds[1], "moderate": seconds[2]}
            | {"vigorous": seconds[3], "veryVigorous": 0}
        ],
        "evensonCutPointsMinuteAggregations": [
            dict(zip(["sedentary", "light", "moderate", "vigorous"], seconds, strict=True))
            | {"mvpa": mvpa}
        ],
        "GenericCutpointMinuteAggregations": [generic],  # PascalCase, as the example sends it
    }


@attrs.frozen
class MinuteRows(Sequence[dict[str, Any]]):
    """A subject's minute summaries from minute ``first`` on, ``length`` of them: made per
    item when read, never held."""

    subject: Subject
    first: int
    length: int

    @classmethod
    def of(cls, subject: Subject, window: Window, setting_id: str | None) -> MinuteRows:
        """The rows of a subject inside ``window`` (none for another setting's id)."""
        total = subject.span.days * 1440
        if setting_id is not None and setting_id != subject.setting("minute"):
            total = 0
        minute = 60_000_000  # microseconds
        lo, hi = 0, total - 1
        if window.lo is not None:
            lo = max(lo, -(-((window.lo - subject.t0) // timedelta(microseconds=1)) // minute))
        if window.hi is not None:
            hi = min(hi, ((window.hi - subject.t0) // timedelta(microseconds=1)) // minute)
        return cls(subject, lo, max(0, hi - lo + 1))

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.length))]
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(index)
        return _minute(self.subject, self.first + index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (_minute(self.subject, self.first + i) for i in range(self.length))

    def slice(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Items ``offset`` to ``offset + limit`` (fewer at the end)."""
        return self[offset : offset + limit]


def _epoch(h: int, first: str, last: str, first_local: str, last_local: str) -> dict[str, Any]:
    minutes = float(600 + h % 800)
    counts = {
        f"totalNonFilteredAxis{a}Counts": (h >> (8 * i)) % 300000 for i, a in enumerate("XYZ")
    }
    return {
        "wearMinutes": minutes,
        "nonWearMinutes": 1440.0 - minutes,
        "sleepMinutes": 420.0,
        "awakeMinutes": 1020.0,
        "wearAwakeMinutes": minutes - 300,
        "wearSleepMinutes": 300.0,
        "totalNonFilteredMinutes": 1440.0,
        **counts,
        **figures(h >> 3, EPOCH_COUNTS[:9]),
        "totalNonFilteredVectorMagnitude": (h % 10**9) / 1000.0,
        **{name: (h >> i) % 10**8 / 100.0 for i, name in enumerate(EPOCH_COUNTS[9:])},
        "nonFilteredVectorMagnitudeCounts": (h >> 5) % 500000,
        "wearFilteredVectorMagnitudeCounts": (h >> 6) % 400000,
        "wearAwakeFilteredVectorMagnitudeCounts": (h >> 7) % 300000,
        "firstEpochDateTimeUtc": first,
        "lastEpochDateTimeUtc": last,
        "firstEpochDateTimeLocal": first_local,
        "lastEpochDateTimeLocal": last_local,
    }


def _generic(h: int) -> dict[str, Any]:
    """A generic cutpoint aggregation: PascalCase keys, buckets of seconds (halves too)."""
    buckets = {n: (h >> (4 * i)) % 40000 + (0.5 if i == 2 else 0) for i, n in enumerate(_BUCKETS)}
    empty: dict[str, float] = {}
    return {
        "AlgorithmName": "Kim VM Wrist",
        "TotalBuckets": buckets,
        "WearBuckets": buckets,
        "AwakeBuckets": buckets,
        "WearAwakeBuckets": buckets,
        "TotalAggregateBuckets": {"Mvpa": buckets["Moderate"] + buckets["Vigorous"]},
        "WearAggregateBuckets": {"Mvpa": buckets["Moderate"] + buckets["Vigorous"]},
        "AwakeAggregateBuckets": empty,
        "WearAwakeAggregateBuckets": empty,
    }


def _day(subject: Subject, d: int, value: date) -> dict[str, Any]:
    """Day ``d`` of a subject's daily statistics."""
    h = mix(subject.seed, subject.subject_id, d, 43)
    midnight = datetime.combine(value, time(), UTC)
    first, last = midnight, midnight + timedelta(hours=23, minutes=59)
    # the local clock, spelled as every analytics timestamp is (with +00:00)
    stamps = [
        offset_seconds(w) for w in (first, last, first + subject.offset, last + subject.offset)
    ]
    item: dict[str, Any] = {
        "id": subject.subject_id * 100 + d,
        "subjectId": subject.subject_id,
        "studyId": subject.study_id,
        "siteId": subject.site_id,
        "dailyStatisticsSettingId": subject.setting("daily"),
        "date": offset_seconds(midnight),
        "activityMonitorSerials": [subject.serial],
        "firstEpochDateTimeUtc": stamps[0],
        "lastEpochDateTimeUtc": stamps[1],
        "firstEpochDateTimeLocal": stamps[2],
        "lastEpochDateTimeLocal": stamps[3],
        "epochAggregation": _epoch(h, *stamps),
    }
    if subject.watch:
        item["eventMarkerAggregation"] = {
            "longPressCount": h % 3,
            "pressCount": (h >> 2) % 9,
            "releaseCount": (h >> 2) % 9,
        }
    if subject.variant == 0:
        item["staudenmayerAggregations"] = [figures(h >> 1, STAUDENMAYER)]
        item["mavmAggregation"] = figures(h >> 4, STEPS)
        item["uwfAggregation"] = figures(h >> 5, STEPS)
        item["hildebrandMetCalorieAggregation"] = {
            n: (h >> i) % 5000 / 10 for i, n in enumerate(_METS)
        }
        return item
    item["crouterAggregations"] = [figures(h >> 2, CROUTER)]  # an object in the table
    item["freedsonAggregations"] = [figures(h, FREEDSON)]
    item["evensonAggregations"] = [figures(h >> 6, EVENSON)]
    item["genericCutpointAggregations"] = [_generic(h >> 7)]
    item["crouterYouthMetCalorieAggregation"] = {
        n: (h >> i) % 4000 / 10 for i, n in enumerate(_METS)
    }
    return item


def daily_statistics(
    subject: Subject, window: Window, setting_id: str | None
) -> list[dict[str, Any]]:
    """A subject's days of statistics, oldest first."""
    if setting_id is not None and setting_id != subject.setting("daily"):
        return []
    return [_day(subject, d, value) for d, value in subject.days(window)]


def sleep_periods(subject: Subject, window: Window, setting_id: str | None) -> list[dict[str, Any]]:
    """A subject's sleep periods, a night at a time, one per sleep setting (mixed, as in the
    documents' example when no setting is asked for)."""
    items = []
    for night, value in enumerate(subject.span.dates()[:-1]):
        for k, setting in enumerate(subject.settings["sleep"]):
            if setting_id is not None and setting_id != setting["id"]:
                continue
            h = mix(subject.seed, subject.subject_id, night, k, 37)
            local = datetime.combine(value, time(22), UTC) + timedelta(minutes=h % 90)
            in_bed = local - subject.offset
            duration = 420 + (h >> 8) % 120
            awake = float((h >> 16) % 40)
            if not window.holds(in_bed):
                continue
            items.append(
                {
                    "id": subject.subject_id * 1000 + night * 2 + k,
                    "studyId": subject.study_id,
                    "subjectId": subject.subject_id,
                    "algorithmSettingId": setting["id"],
                    "activityMonitorSerial": subject.serial,
                    "inBedTime": offset_seconds(in_bed),
                    "outBedTime": offset_seconds(in_bed + timedelta(minutes=duration)),
                    "durationMinutes": duration,
                    "timeAsleepMinutes": duration - awake,
                    "timeAwakeMinutes": awake,
                    "awakeningCount": (h >> 24) % 12,
                    "averageAwakening": round(awake / (1 + (h >> 24) % 12), 2),
                    "totalCounts": (h >> 28) % 90000,
                    "efficiency": round((duration - awake) / duration, 4),
                    "wakeAfterOnsetMinutes": awake,
                    "sleepFragmentationIndex": round((h >> 32) % 1000 / 1000, 3),
                    "sleepMovementIndex": round((h >> 40) % 1000 / 1000, 3),
                    "totalSleepFragmentationIndex": round((h >> 48) % 5000 / 100, 2),
                }
            )
    return items


def event_markers(subject: Subject, window: Window, setting_id: str | None) -> list[dict[str, Any]]:
    """A watch's button presses, by time; two settings, two id series (ids unsorted)."""
    if not subject.watch:
        return []
    items = []
    for d, value in enumerate(subject.span.dates()):
        h = mix(subject.seed, subject.subject_id, d, 53)
        midnight = datetime.combine(value, time(), UTC)
        marks = sorted((h >> (8 * k)) % 86400 for k in range(h % 4))
        for k, second in enumerate(marks):
            setting = subject.settings["event"][k % 2]
            when = midnight + timedelta(seconds=second)
            if (setting_id is not None and setting_id != setting["id"]) or not window.holds(when):
                continue
            items.append(
                {
                    "id": (796 if k % 2 == 0 else 7952)
                    + subject.subject_id % 1000 * 100
                    + d * 4
                    + k,
                    "studyId": subject.study_id,
                    "subjectId": subject.subject_id,
                    "algorithmSettingId": setting["id"],
                    "activityMonitorSerial": subject.serial,
                    "timestampUtc": offset_seconds(when),
                    "longPressCount": (h >> k) % 2,
                    "pressCount": 1 + (h >> (k + 3)) % 3,
                    "releaseCount": 1 + (h >> (k + 3)) % 3,
                }
            )
    return items


#: Per subject listing: its function, and the query name of its setting filter.
_SUBJECT_TABLES: dict[str, tuple[str, str]] = {
    "minutesummaries": ("minute", "minuteSummarySettingId"),
    "dailystatistics": ("daily", "dailyStatisticsSettingId"),
    "dustintracysleepperiods": ("sleep", "algorithmSettingId"),
    "eventmarkers": ("event", "algorithmSettingId"),
}
_SETTINGS_TABLES = {
    "minutesummarysettings": "minute",
    "dailystatisticssettings": "daily",
    "dustintracysleepperiodsettings": "sleep",
    "eventmarkersettings": "event",
}


def table(
    dataset: DatasetView,
    subject: dict[str, Any],
    kind: str,
    low: When,
    high: When,
    setting: str | None,
) -> Sequence[dict[str, Any]]:
    """The rows of ``kind`` (``minute``, ``daily``, ``sleep``, ``event``) of a subject.

    ``low``/``high``: ``fromDate``/``toDate`` (strings as sent, or dates); ``setting``: a
    lower-case GUID, or None for every setting.
    """
    window = Window.of(low, high, zone_of(subject), ("fromDate", "toDate"))
    made = Subject.of(dataset, subject)
    if kind == "minute":
        return MinuteRows.of(made, window, setting)
    return {"daily": daily_statistics, "sleep": sleep_periods, "event": event_markers}[kind](
        made, window, setting
    )


def endpoints(source: Callable[[], DatasetView]) -> list[Endpoint]:
    """The Analytics family's endpoints, over ``source()``'s data."""

    def subject_rows(kind: str, setting_name: str) -> Callable[[Call], Listing]:
        def listing(call: Call) -> Listing:
            subject = find_subject(source(), call)
            query = call.query
            low, high = query.get("fromDate"), query.get("toDate")
            rows = table(source(), subject, kind, low, high, query.guid(setting_name))
            return Listing(rows if isinstance(rows, MinuteRows) else ListRows(rows))

        return listing

    def settings(family: str) -> Callable[[Call], Listing]:
        def listing(call: Call) -> Listing:
            items = source().plan(find_study(source(), call)["id"]).settings[family]
            wanted = {as_guid(i, "ids") for i in call.query.getall("ids")}
            if family == "algorithm" and (kind := call.query.get("algorithmType")) is not None:
                items = [i for i in items if i["algorithmType"].lower() == kind.lower()]
            return Listing(ListRows([i for i in items if not wanted or i["id"] in wanted]))

        return listing

    def setting(family: str) -> Callable[[Call], dict[str, Any]]:
        def get(call: Call) -> dict[str, Any]:
            items = source().plan(find_study(source(), call)["id"]).settings[family]
            wanted = call.ids["setting_id"].lower()
            found = next((i for i in items if i["id"] == wanted), None)
            if found is None:
                raise Refused(404, "Setting not found")
            return found

        return get

    base = "/analytics/v3/studies/{study_id}"
    found = [
        Endpoint("GET", f"{base}/subjects/{{subject_id}}/{path}", "Analytics", subject_rows(*spec))
        for path, spec in _SUBJECT_TABLES.items()
    ]
    found.append(Endpoint("GET", f"{base}/algorithmsettings", "Analytics", settings("algorithm")))
    for path, family in _SETTINGS_TABLES.items():
        found.append(Endpoint("GET", f"{base}/{path}", "Analytics", settings(family)))
        found.append(Endpoint("GET", f"{base}/{path}/{{setting_id}}", "Analytics", setting(family)))
    return found
