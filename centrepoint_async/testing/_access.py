"""The Data Access family of the fake: day files, study programs, dataset files, export subjects
(sections 1.1 and 1.7 of the data notes).

A subject has a day file per day of data, per category its study records, in both formats
(``fileFormat`` absent lists both, the CSV first): ``{category}_{YYYY-MM-DD}_{8 hex}.csv.gz``
and ``.avro`` sharing the hex. ``date`` is the day's midnight ``+00:00``; ``modifiedDate`` the
next evening, until :func:`bump_day` re-processes the day (a later date, new bytes, and a new
hex if asked). ``startDate``/``endDate`` are inclusive and compare calendar days as written.
The files themselves are served by the blob host under the documented URL path
(``study-{10 digits}/subject-{10 digits}/{category}/{YYYY}/{MM}/{DD}/{fileName}``), found from
the path on demand (:func:`resolve`).

Study programs, their datasets, dataset files (``fileUrl``, not ``downloadUrl``) and export
subjects (``0001-01-01T00:00:00+00:00`` for "never", or null) follow the documents' examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ._content import CATEGORIES, DayFile, StaticBlob
from ._records import NEVER, DatasetView, Revision
from ._seeded import guid, mix, offset_seconds, offset_trimmed
from ._serving import Call, Endpoint, Listing, ListRows, Refused, When, Window
from ._study import find_study, find_subject, uploads

if TYPE_CHECKING:
    from ._blob import Blob

__all__ = ["NEVER", "Revision", "bump_day", "day_files", "endpoints", "resolve"]

#: .NET's ``DateTimeOffset.MinValue``: how the documents say "never" in export subjects.
_ORDER = tuple(CATEGORIES)  # a category's number, in the hash of its file names
_PROGRAMS = (
    ("Activity (30)", ("ActivityDaily8", "ActivityEpochs10")),
    ("LeapBarometer (17)", ("LeapAvgBarometer",)),
    ("Activity (30)", ("ActivityDaily8",)),  # a name repeated with another id, as documented
)
Signer = Callable[[str], tuple[str, str]]  # blob path -> (signed URL, expiry as listed)


def _midnight(value: date) -> datetime:
    return datetime.combine(value, time(), UTC)


def _day_key(subject_id: int, category: str, value: date) -> tuple[int, str, date]:
    return subject_id, category, value


def _hex(dataset: DatasetView, subject_id: int, category: str, value: date, revision: int) -> str:
    h = mix(dataset.seed, subject_id, _ORDER.index(category), value.toordinal(), revision, 83)
    return f"{h & 0xFFFFFFFF:08x}"


def _modified(dataset: DatasetView, subject_id: int, category: str, value: date) -> datetime:
    revision = dataset.revisions.get(_day_key(subject_id, category, value), Revision())
    if revision.modified is not None:
        return revision.modified
    h = mix(dataset.seed, subject_id, _ORDER.index(category), value.toordinal(), 89)
    return _midnight(value) + timedelta(days=1, hours=18, seconds=h % 14400)  # next evening


def file_name(dataset: DatasetView, subject_id: int, category: str, value: date, fmt: str) -> str:
    """A day file's current name."""
    revision = dataset.revisions.get(_day_key(subject_id, category, value), Revision())
    suffix = "csv.gz" if fmt == "csv" else "avro"
    hex8 = _hex(dataset, subject_id, category, value, revision.name)
    return f"{category}_{value.isoformat()}_{hex8}.{suffix}"


def blob_path(item: dict[str, Any]) -> str:
    """The blob host path of a listed day file or dataset file."""
    head = f"/study-{item['studyId']:010d}/subject-{item['subjectId']:010d}"
    if "dataSetName" in item:
        name = item["dataSetName"].lower()
        return f"{head}/datasetexports/{item['studyProgramId']}/{name}/{item['fileName']}"
    when = item["date"][:10].replace("-", "/")
    return f"{head}/{item['dataCategory']}/{when}/{item['fileName']}"


def _category(name: str) -> str:
    if name.lower() not in CATEGORIES:
        raise Refused(400, f"'{name}' is not a data category: one of {', '.join(CATEGORIES)}.")
    return name.lower()


def day_files(
    dataset: DatasetView,
    subject: dict[str, Any],
    category: str,
    *,
    start: When = None,
    end: When = None,
    file_format: str | None = None,
    sort_order: str = "asc",
    year: int | None = None,
    month: int | None = None,
    day: int | None = None,
) -> list[dict[str, Any]]:
    """A subject's day files of a category, as listed but for the two link fields."""
    category = _category(category)
    if category not in dataset.plan(subject["studyId"]).categories:
        return []
    window = Window.of(start, end, UTC, ("startDate", "endDate"))
    days = [
        value
        for value in dataset.span(subject["id"]).dates()
        if window.holds_day(value)
        and (year is None or value.year == year)
        and (month is None or value.month == month)
        and (day is None or value.day == day)
    ]
    if sort_order.lower() == "desc":
        days.reverse()
    formats = ["csv", "avro"] if file_format is None else [file_format.lower()]
    return [
        {
            "studyId": subject["studyId"],
            "subjectId": subject["id"],
            "dataCategory": category,
            "date": offset_seconds(_midnight(value)),
            "fileName": file_name(dataset, subject["id"], category, value, fmt),
            "fileFormat": fmt,
            "modifiedDate": offset_seconds(_modified(dataset, subject["id"], category, value)),
        }
        for value in days
        for fmt in formats
    ]


def bump_day(
    dataset: DatasetView,
    subject: dict[str, Any],
    category: str,
    value: date,
    *,
    rename: bool = False,
    modified: datetime | None = None,
) -> list[dict[str, Any]]:
    """Re-process a day: later ``modifiedDate``, new bytes, a new hex if ``rename``."""
    category = _category(category)
    if category not in dataset.plan(subject["studyId"]).categories:
        raise ValueError(f"study {subject['studyId']} does not record {category}")
    if value not in dataset.span(subject["id"]).dates():
        raise ValueError(f"subject {subject['id']} has no data on {value}")
    key = _day_key(subject["id"], category, value)
    old = dataset.revisions.get(key, Revision())
    previous = _modified(dataset, subject["id"], category, value)
    if modified is None:
        now = datetime.now(UTC).replace(microsecond=0)
        modified = max(now, previous + timedelta(seconds=1))
    dataset.revisions[key] = Revision(old.content + 1, old.name + int(rename), modified)
    return day_files(dataset, subject, category, start=value, end=value)


def day_file(
    dataset: DatasetView, subject: dict[str, Any], category: str, value: date, fmt: str
) -> DayFile:
    """The bytes behind a day file, as the blob host serves them now."""
    revision = dataset.revisions.get(_day_key(subject["id"], category, value), Revision())
    order = _ORDER.index(category)
    return DayFile(
        file_name(dataset, subject["id"], category, value, fmt),
        category,
        "csv" if fmt == "csv" else "avro",
        subject["id"],
        int(_midnight(value).timestamp()),
        dataset.day_file_size,
        mix(dataset.seed, subject["id"], order, value.toordinal(), revision.content, 97),
    )


# --- study programs, dataset files, export subjects ----------------------------------------


def programs_of(seed: int, study_id: int) -> list[dict[str, Any]]:
    """A study's programs, each with its datasets."""
    return [
        {
            "studyProgramId": guid(mix(seed, study_id, k, 101)),
            "studyId": study_id,
            "studyProgramName": name,
            "dataSets": list(sets),
        }
        for k, (name, sets) in enumerate(_PROGRAMS)
    ]


def _program(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("studyProgramId", "studyId", "studyProgramName")}


def _executed(dataset: DatasetView, subject: dict[str, Any], k: int) -> datetime | None:
    """When a program last ran for a subject (None: never, or not yet)."""
    span = dataset.span(subject["id"])
    if span.days == 0 or (subject["id"] % 1000 - 1) % 5 == 4:
        return None
    h = mix(dataset.seed, subject["id"], k, 103)
    return _midnight(span.end) + timedelta(days=2, seconds=h % 86400, microseconds=h % 10**6)


def _stamp_or_never(dataset: DatasetView, when: datetime | None, tick: int) -> str | None:
    return dataset.never if when is None else offset_trimmed(when, tick)


def export_subject(dataset: DatasetView, subject: dict[str, Any]) -> dict[str, Any]:
    """A subject's processing state, as DataSet Export Subjects gives it."""
    uploaded = uploads(dataset, subject["studyId"], subject["id"])
    last = None
    if uploaded:
        last = datetime.fromisoformat(uploaded[-1]["dateUploadedUtc"].replace("Z", "+00:00"))
    executions = [
        _program(p)
        | {
            "lastSuccessfulProgramExecutionTimeStamp": _stamp_or_never(
                dataset, _executed(dataset, subject, k), 0
            )
        }
        for k, p in enumerate(dataset.plan(subject["studyId"]).programs)
    ]
    for execution in executions:
        del execution["studyId"]
    return {
        "studyId": subject["studyId"],
        "subjectId": subject["id"],
        "lastRawUploadedTimeStamp": _stamp_or_never(dataset, last, 0),
        "studyProgramExecutions": executions,
    }


def dataset_files(
    dataset: DatasetView,
    study_id: int,
    *,
    subject_id: int | None = None,
    program_id: str | None = None,
    dataset_name: str | None = None,
) -> list[dict[str, Any]]:
    """A study's dataset files, as listed but for ``fileUrl`` and ``downloadUrlExpiresOn``."""
    items = []
    for subject in dataset.subjects.get(study_id, []):
        if subject_id is not None and subject.get("id") != subject_id:
            continue
        for k, program in enumerate(dataset.plan(study_id).programs):
            executed = _executed(dataset, subject, k)
            if executed is None or program_id not in (None, program["studyProgramId"]):
                continue
            for name in program["dataSets"]:
                if dataset_name is not None and name.lower() != dataset_name.lower():
                    continue
                h = mix(dataset.seed, subject["id"], k, *name.encode())
                items.append(
                    {
                        "studyId": study_id,
                        "studyVersion": 3,
                        "studyProgramId": program["studyProgramId"],
                        "dataSetName": name,
                        "subjectId": subject["id"],
                        "fileName": f"{subject['id']}_{guid(h)}_{name.lower()}.csv.gz",
                        "fileFormat": "csv",
                        "modifiedDate": offset_trimmed(executed + timedelta(minutes=5), h),
                        "lastSuccessfulProgramExecutionTimeStamp": offset_trimmed(executed, 0),
                    }
                )
    return items


def _export_text(dataset: DatasetView, item: dict[str, Any]) -> bytes:
    span = dataset.span(item["subjectId"])
    lines = ["SubjectId,DataSetName,Date,Value"]
    for value in span.dates():
        h = mix(dataset.seed, item["subjectId"], value.toordinal(), *item["dataSetName"].encode())
        lines.append(f"{item['subjectId']},{item['dataSetName']},{value},{h % 100000 / 100}")
    return ("\n".join(lines) + "\n").encode()


_DAY_PATH = re.compile(
    r"/study-(\d{10})/subject-(\d{10})/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/([^/]+)"
)
_EXPORT_PATH = re.compile(r"/study-(\d{10})/subject-(\d{10})/datasetexports/([^/]+)/[^/]+/([^/]+)")


def resolve(dataset: DatasetView, path: str) -> Blob | None:
    """The file the blob host serves at ``path``: a current day file or dataset file."""
    if found := _EXPORT_PATH.fullmatch(path):
        study_id, subject_id, program_id, name = found.groups()
        for item in dataset_files(
            dataset, int(study_id), subject_id=int(subject_id), program_id=program_id
        ):
            if item["fileName"] == name:
                return StaticBlob(name, _export_text(dataset, item))
        return None
    found = _DAY_PATH.fullmatch(path)
    if found is None:
        return None
    study_id, subject_id, category, year, month, day_, name = found.groups()
    subject = dataset.subject(int(study_id), int(subject_id))
    if subject is None or category not in CATEGORIES:
        return None
    try:
        value = date(int(year), int(month), int(day_))
    except ValueError:
        return None
    for item in day_files(dataset, subject, category, start=value, end=value):
        if item["fileName"] == name:
            return day_file(dataset, subject, category, value, item["fileFormat"])
    return None


# --- endpoints -----------------------------------------------------------------------------


def _date_part(call: Call, name: str, low: int, high: int) -> int | None:
    text = call.ids.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise Refused(400, f"The value '{text}' is not valid for {name}.")
    return int(text)  # "1" and "01" alike


@attrs.frozen
class _Api:
    """The Data Access family's answers, over ``source()``'s data; links by ``sign``."""

    source: Callable[[], DatasetView]
    sign: Signer

    def signed(self, key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Adds a signed URL under ``key`` and its ``downloadUrlExpiresOn`` to an item."""

        def finish(item: dict[str, Any]) -> dict[str, Any]:
            url, expires = self.sign(blob_path(item))
            return item | {key: url, "downloadUrlExpiresOn": expires}

        return finish

    def files(self, call: Call) -> Listing:
        query = call.query
        ranged = "year" not in call.ids  # the by-year/month/day routes take no dates
        items = day_files(
            self.source(),
            find_subject(self.source(), call),
            call.ids["category"],
            start=query.get("startDate") if ranged else None,
            end=query.get("endDate") if ranged else None,
            file_format=query.choice("fileFormat", ("csv", "avro"), None),
            sort_order=query.choice("sortOrder", ("asc", "desc"), "asc") or "asc",
            year=_date_part(call, "year", 1, 9999),
            month=_date_part(call, "month", 1, 12),
            day=_date_part(call, "day", 1, 31),
        )
        return Listing(ListRows(items), self.signed("downloadUrl"))

    def programs(self, call: Call) -> Listing:
        items = self.source().plan(find_study(self.source(), call)["id"]).programs
        return Listing(ListRows([_program(p) for p in items]))

    def program(self, call: Call) -> dict[str, Any]:
        wanted = call.ids["program_id"].lower()
        for item in self.source().plan(find_study(self.source(), call)["id"]).programs:
            if item["studyProgramId"] == wanted:
                return item
        raise Refused(404, "Study program not found")

    def datasets(self, call: Call) -> Listing:
        found = self.program(call)
        names = found["dataSets"]
        rows = [{"studyProgramId": found["studyProgramId"], "dataSetName": n} for n in names]
        return Listing(ListRows(rows))

    def dataset_files(self, call: Call) -> Listing:
        query = call.query
        items = dataset_files(
            self.source(),
            find_study(self.source(), call)["id"],
            subject_id=query.integer("subjectId", -1) if query.get("subjectId") else None,
            program_id=query.guid("studyProgramId"),
            dataset_name=query.get("dataSetName"),
        )
        return Listing(ListRows(items), self.signed("fileUrl"))

    def export_subjects(self, call: Call) -> Listing:
        subjects = self.source().subjects.get(find_study(self.source(), call)["id"], [])
        return Listing(ListRows([export_subject(self.source(), s) for s in subjects]))

    def export_subject(self, call: Call) -> dict[str, Any]:
        return export_subject(self.source(), find_subject(self.source(), call))


def endpoints(source: Callable[[], DatasetView], sign: Signer) -> list[Endpoint]:
    """The Data Access family's endpoints, over ``source()``'s data; links by ``sign``."""
    api = _Api(source, sign)
    files = "/dataaccess/v3/files/studies/{study_id}/subjects/{subject_id}/{category}"
    study = "/dataaccess/v3/studies/{study_id}"
    declared: list[tuple[str, Callable[[Call], Any]]] = [
        (files, api.files),
        (files + "/{year}", api.files),
        (files + "/{year}/{month}", api.files),
        (files + "/{year}/{month}/{day}", api.files),
        (study + "/programs", api.programs),
        (study + "/programs/{program_id}", lambda c: _program(api.program(c))),
        (study + "/programs/{program_id}/datasets", api.datasets),
        (study + "/datasetfiles", api.dataset_files),
        (study + "/subjects", api.export_subjects),
        (study + "/subjects/{subject_id}", api.export_subject),
    ]
    return [Endpoint("GET", template, "DataAccess", function) for template, function in declared]
