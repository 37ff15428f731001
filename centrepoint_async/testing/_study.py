"""The CentrePoint family of the fake: studies, sites, subjects, devices, assignments, uploads.

Shaped as the public documents show them (section 1.8 to 1.13 of the data notes): sites with a
Windows-style time zone and the rules of what they collect; subjects that carry only what their
site collects (absent properties are omitted, never null); ``assignmentId`` only when assigned;
dates in each endpoint's own spelling. The writes check what the documents say they check, and
answer a missing field with a 400 and a text body.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import attrs

from ._records import DatasetView, Span, StudyPlan
from ._seeded import day, local_offset, mix, z_millis, z_seconds, z_seven
from ._serving import Call, Endpoint, Listing, ListRows, Refused, Reply

__all__ = [
    "BASE_DAY",
    "Span",
    "StudyPlan",
    "endpoints",
    "find_study",
    "find_subject",
    "make_subject",
    "populate",
    "subject_milestones",
    "timezone_history",
    "uploads",
    "zone_of",
]

#: The first day of data of the generated subjects (each starts up to 13 days later).
BASE_DAY = date(2024, 1, 20)

_SITE_ZONES = (
    "(UTC -06:00) Central Time (US & Canada)",
    "(UTC) Western Europe Time, London, Lisbon, Casablanca",
    "(UTC +05:30) Asia/Kolkata",
)
#: Per site number: requireDob, requireGender, requireWeight, requireHeight.
_SITE_RULES = ((True, True, True, True), (False, True, True, False), (False, False, False, False))
_SITE_UNITS = (("Lbs", "in"), ("kg", "cm"), ("lbs", "in"))  # the case varies, as documented
_ZONES = ("America/Chicago", "Europe/London", "Africa/Abidjan", "Asia/Kolkata")
_MILESTONES = ("Baseline", "Week 1", "Week 4", "End of Study")
_GENDERS = ("Male", "Female")
_WEIGHT_UNITS = {"lbs": "Lbs", "kg": "Kg"}
_HEIGHT_UNITS = {"cm": "cm", "in": "in"}
_STOP, _FORCE = "Collection Stopped", "Forcefully Ended"


def zone_of(subject: dict[str, Any] | None) -> tzinfo:
    """A subject's time zone (UTC if it has none the system knows)."""
    name = subject.get("timezone") if subject else None
    if isinstance(name, str):
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(name)
    return UTC


def _midnight(value: date) -> datetime:
    return datetime.combine(value, time(), UTC)


# --- generation ----------------------------------------------------------------------------


def _site(study_id: int, k: int) -> dict[str, Any]:
    site_id = 2900 + (study_id % 50) * 4 + k
    dob, gender, weight, height = _SITE_RULES[k]
    site: dict[str, Any] = {"id": site_id, "studyId": study_id, "siteName": f"Site {k + 1}"}
    if k != 1:  # the documents' first site has no siteIdentifier, the second no description
        site["siteIdentifier"] = str(site_id % 1000)
    if k != 0:
        site["description"] = f"Clinic {k + 1} of study {study_id}"
    return site | {
        "requireDob": dob,
        "requireGender": gender,
        "requireWeight": weight,
        "requireHeight": height,
        "defaultShipmentCountryCode": ("USA", "GBR", "PRI")[k],
        "depot": k == 2,
        "dateFormat": ("M/d/yyyy", "dd/MMM/yyyy", "yyyy-MM-dd")[k],
        "defaultWeightUnit": _SITE_UNITS[k][0],
        "defaultHeightUnit": _SITE_UNITS[k][1],
        "timezone": _SITE_ZONES[k],
        "requireSiteIdentifier": k == 0,
    }


def _serial(study_id: int, index: int) -> str:
    kind = "CPW1B" if index % 3 == 0 else "TAS1Z"  # Insight Watch, or GT9X Link
    return f"{kind}{study_id % 1000:03d}{index:05d}"


def make_subject(
    seed: int, study: dict[str, Any], index: int, site: dict[str, Any]
) -> dict[str, Any]:
    """Subject number ``index`` of a study: what its site collects, and nothing else."""
    h = mix(seed, study["id"], index, 17)
    subject: dict[str, Any] = {
        "id": study["id"] * 1000 + index + 1,
        "studyId": study["id"],
        "siteId": site["id"],
    }
    if "siteIdentifier" in site:
        subject["siteIdentifier"] = site["siteIdentifier"]
    subject["subjectIdentifier"] = f"S{study['id']}-{index + 1:04d}"
    if site["requireDob"]:
        subject["dob"] = f"{1940 + h % 60}-{1 + h % 12:02d}-{1 + h % 28:02d}"
    if site["requireGender"]:
        subject["gender"] = _GENDERS[h % 2]
    positions = study.get("wearPositions") or ["Left Wrist"]
    subject["timezone"] = _ZONES[(h >> 3) % len(_ZONES)]
    subject["wearPosition"] = positions[(h >> 5) % len(positions)]
    if site["requireWeight"]:
        subject["weight"] = round(100 + (h >> 7) % 1500 / 10, 2)
        subject["weightUnit"] = site["defaultWeightUnit"]
    if site["requireHeight"]:
        subject["height"] = 150 + (h >> 11) % 40
        subject["heightUnit"] = site["defaultHeightUnit"]
    subject["assignmentStatus"] = "Assigned" if h % 5 else "Not Assigned"
    if h % 5:
        subject["assignmentId"] = subject["id"] + 600000
    return subject


def _assignment(seed: int, subject: dict[str, Any], serial: str, span: Span) -> dict[str, Any]:
    """The assignment a subject's data came from: current if assigned, else ended."""
    h = mix(seed, subject["id"], 23)
    start = _midnight(span.start)
    stop = _midnight(span.end) + timedelta(hours=20, seconds=h % 3600)
    item: dict[str, Any] = {
        "id": subject["id"] + 600000,
        "activityMonitorSerial": serial,
        "subjectId": subject["id"],
        "studyId": subject["studyId"],
        "createdDate": z_millis(start - timedelta(hours=20, microseconds=h % 10**6)),
        "collectionStartedDate": z_millis(start + timedelta(microseconds=(h >> 20) % 10**6)),
    }
    index = subject["id"] % 1000 - 1
    if subject["assignmentStatus"] != "Assigned":
        item["collectionStoppedDate"] = z_millis(stop)
        item["endedDate"] = z_millis(stop + timedelta(days=1))
        item["status"] = "Ended"
    elif index % 4 == 3:
        item["collectionStoppedDate"] = z_millis(stop)
        item["status"] = _STOP
    else:
        if index % 3 == 0:  # auto-stop configured
            item["scheduledCollectionStopDate"] = z_millis(stop)
        item["status"] = "Collecting"  # the value for a collecting device is not documented
    return item


def _monitor(study_id: int, serial: str, site_id: int, assignment: int | None) -> dict[str, Any]:
    monitor: dict[str, Any] = {"serial": serial, "studyId": study_id, "siteId": site_id}
    if assignment is not None:
        monitor["assignmentId"] = assignment
    monitor["assignmentStatus"] = "Assigned" if assignment is not None else "Not Assigned"
    number = int(serial[-5:])
    if number % 4 == 1:
        monitor["dataHubSerialNumber"] = f"CDM1A0617{number % 10000:04d}"
    return monitor


def populate(dataset: DatasetView, study: dict[str, Any], count: int, days: int) -> None:
    """Give ``study`` its sites, ``count`` subjects with ``days`` days of data, their devices
    and assignments, and its milestones."""
    study_id, seed = study["id"], dataset.seed
    sites = [_site(study_id, k) for k in range(3)]
    dataset.sites[study_id] = sites
    subjects, monitors, assignments = [], [], []
    for index in range(count):
        site = sites[index % len(sites)]
        subject = make_subject(seed, study, index, site)
        span = Span(BASE_DAY + timedelta(days=index % 14), days)
        dataset.spans[subject["id"]] = span
        serial = _serial(study_id, index)
        subjects.append(subject)
        assignments.append(_assignment(seed, subject, serial, span))
        monitors.append(_monitor(study_id, serial, site["id"], subject.get("assignmentId")))
    for spare in range(4):  # devices in the study's inventory, free to assign
        monitors.append(_monitor(study_id, _serial(study_id, 90000 + spare), sites[0]["id"], None))
    dataset.subjects[study_id] = subjects
    dataset.activity_monitors[study_id] = monitors
    dataset.assignments[study_id] = assignments
    dataset.milestones[study_id] = [
        {"id": study_id * 10 + order, "studyId": study_id, "name": name, "order": order}
        for order, name in enumerate(_MILESTONES, start=1)
    ]


def subject_milestones(dataset: DatasetView, subject: dict[str, Any]) -> list[dict[str, Any]]:
    """The milestones a subject reached: ``timestamp`` in UTC, and in its own zone."""
    span = dataset.span(subject["id"])
    if span.days == 0:
        return []
    zone = zone_of(subject)
    reached = 1 + mix(dataset.seed, subject["id"], 31) % 4
    items = []
    for study_milestone in dataset.milestones.get(subject["studyId"], [])[:reached]:
        order = study_milestone["order"]
        when = _midnight(span.start + timedelta(days=(0, 7, 28, 56)[(order - 1) % 4]))
        items.append(
            {
                "id": subject["id"] * 10 + order,
                "name": study_milestone["name"],
                "subjectId": subject["id"],
                "studyMilestoneId": study_milestone["id"],
                "timestamp": z_seconds(when),
                "timestampSubjectTZ": local_offset(when, zone),
            }
        )
    return items


def timezone_history(dataset: DatasetView, subject: dict[str, Any]) -> list[dict[str, Any]]:
    """A subject's time zones, oldest first; the last is its current one."""
    span = dataset.span(subject["id"])
    start = _midnight(span.start) - timedelta(days=2)
    items = []
    if subject["id"] % 4 == 1:  # moved once: the documents' example zone first
        items.append({"subjectId": subject["id"], "timezone": "US/Central"})
        items[-1]["effectiveDateUtc"] = z_seconds(start - timedelta(days=30))
    current = subject.get("timezone", "UTC")
    items.append({"subjectId": subject["id"], "timezone": current})
    items[-1]["effectiveDateUtc"] = z_seconds(start)
    return items


def uploads(dataset: DatasetView, study_id: int, subject_id: int) -> list[dict[str, Any]]:
    """A subject's uploads, oldest first, each covering part of its days of data."""
    span = dataset.span(subject_id)
    assignment = dataset.assignment_of(study_id, subject_id)
    serial = assignment["activityMonitorSerial"] if assignment else f"TAS1Z{subject_id:08d}"
    count = min(span.days, 1 + mix(dataset.seed, subject_id) % 3)
    items = []
    for i in range(count):
        h = mix(dataset.seed, subject_id, i, 29)
        begin = _midnight(span.start + timedelta(days=i * span.days // count))
        end = _midnight(span.start + timedelta(days=(i + 1) * span.days // count))
        item: dict[str, Any] = {
            "id": subject_id * 10 + i,
            "studyId": study_id,
            "subjectId": subject_id,
            "activityMonitorSerial": serial,
            "assignmentId": assignment["id"] if assignment else subject_id + 600000,
            "dateUploadedUtc": z_seconds(end + timedelta(minutes=30 + h % 600)),
            "activityMonitorBatteryVoltage": round(3.5 + (h % 700) / 1000, 3),
        }
        if serial.startswith("CPW1"):  # a number in the table, a string in the example
            item["activityMonitorBatteryPercentage"] = f"{40 + h % 60}%"
        item |= {
            "activityMonitorFirmware": "1.1.2",
            "activityMonitorSampleRateHz": (32, 64, 100)[h % 3],
            "uploadFiles": [
                {
                    "id": subject_id * 100 + i * 10 + k,
                    "fileType": kind,
                    "totalRecords": 100 + (h >> k) % 10000,
                    "recordsInserted": 100 + (h >> k) % 10000,
                    "beginOfData": z_seconds(begin),
                    "endOfData": z_seconds(end - timedelta(seconds=1)),
                }
                for k, kind in enumerate(("RAW", "EPOCH")[: 1 + h % 2])
            ],
        }
        items.append(item)
    return items


# --- writes --------------------------------------------------------------------------------


def _required(call: Call, name: str) -> Any:
    value = call.field(name)
    if value is None or value == "":
        raise Refused(400, f"The {name} field is required.")
    return value


def _number(call: Call, name: str, low: float, high: float) -> float:
    value = call.field(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise Refused(400, f"{name} must be a number from {low:g} to {high:g}.")
    return value


def _unit(call: Call, name: str, units: dict[str, str]) -> str:
    value = str(_required(call, name))
    if value.lower() not in units:
        raise Refused(400, f"{name} must be one of: {', '.join(units)}.")
    return units[value.lower()]


def _dob(call: Call) -> str:
    text = str(call.field("dob"))
    try:
        value = date.fromisoformat(text[:10])  # a date, or the date of a full timestamp
    except ValueError:
        raise Refused(400, f"dob is not a date: {text!r}.") from None
    if value > datetime.now(UTC).date() - timedelta(days=1):
        raise Refused(400, "dob must be at least a day before today.")
    return day(value)


def _collected(call: Call, site: dict[str, Any], *, editing: bool) -> dict[str, Any]:
    """The site-dependent fields of a body: required where the site collects them (unless
    editing), refused where it does not."""
    fields: dict[str, Any] = {}
    checks: dict[str, tuple[str, tuple[str, ...], Callable[[], dict[str, Any]]]] = {
        "requireDob": ("dob", ("dob",), lambda: {"dob": _dob(call)}),
        "requireGender": (
            "gender",
            ("gender",),
            lambda: {"gender": _gender(call)},
        ),
        "requireWeight": (
            "weight",
            ("weight", "weightUnit"),
            lambda: {
                "weight": _number(call, "weight", 1, 1000 if editing else 2000),
                "weightUnit": _unit(call, "weightUnit", _WEIGHT_UNITS),
            },
        ),
        "requireHeight": (
            "height",
            ("height", "heightUnit"),
            lambda: {
                "height": _number(call, "height", 1, 300),
                "heightUnit": _unit(call, "heightUnit", _HEIGHT_UNITS),
            },
        ),
    }
    for rule, (name, names, read) in checks.items():
        given = [n for n in names if call.field(n) is not None]
        if not site.get(rule):
            if given:
                raise Refused(400, f"{given[0]} is not collected at site {site['id']}.")
        elif given or not editing:
            _required(call, name)
            fields |= read()
    return fields


def _gender(call: Call) -> str:
    value = str(call.field("gender"))
    for gender in _GENDERS:
        if gender.lower() == value.lower():
            return gender
    raise Refused(400, "gender must be Male or Female.")


def _wear_position(call: Call, study: dict[str, Any], *, editing: bool) -> str | None:
    positions: list[str] = study.get("wearPositions") or []
    value = call.field("wearPosition")
    if value is None:
        if len(positions) > 1 and not editing:  # the study lets a subject's position vary
            raise Refused(400, "The wearPosition field is required.")
        return None if editing else study.get("defaultWearPosition")
    if value not in positions:
        raise Refused(400, f"wearPosition {value!r} is not one of the study's wear positions.")
    return str(value)


def _unique_identifier(
    dataset: DatasetView, study_id: int, identifier: str, subject_id: int | None = None
) -> str:
    if not isinstance(identifier, str):
        raise Refused(400, "subjectIdentifier must be a string.")
    for other in dataset.subjects.get(study_id, []):
        taken = str(other.get("subjectIdentifier", "")).lower() == identifier.lower()
        if taken and other.get("id") != subject_id:
            raise Refused(400, f"Subject identifier {identifier!r} already exists in the study.")
    return identifier


def create_subject(dataset: DatasetView, study: dict[str, Any], call: Call) -> Reply:
    """``POST .../subjects``: 201 and the subject."""
    identifier = _required(call, "subjectIdentifier")
    site_id = _required(call, "siteId")
    site = dataset.site(study["id"], site_id) if isinstance(site_id, int) else None
    if site is None:
        raise Refused(400, f"siteId {site_id!r} is not a site of study {study['id']}.")
    fields = _collected(call, site, editing=False)
    position = _wear_position(call, study, editing=False)
    subject: dict[str, Any] = {"id": dataset.new_subject_id(study["id"]), "studyId": study["id"]}
    subject["siteId"] = site["id"]
    if "siteIdentifier" in site:
        subject["siteIdentifier"] = site["siteIdentifier"]
    subject["subjectIdentifier"] = _unique_identifier(dataset, study["id"], identifier)
    subject |= fields
    if isinstance(call.field("timezone"), str):
        subject["timezone"] = call.field("timezone")
    if position is not None:
        subject["wearPosition"] = position
    subject["assignmentStatus"] = "Not Assigned"
    dataset.subjects.setdefault(study["id"], []).append(subject)
    dataset.spans[subject["id"]] = Span(BASE_DAY, 0)
    return Reply(201, subject)


def update_subject(dataset: DatasetView, subject: dict[str, Any], call: Call) -> dict[str, Any]:
    """``PUT .../Subjects/{id}``: ``changeReason`` always required; the edited subject."""
    reason = _required(call, "changeReason")
    if call.field("siteId") is not None:
        raise Refused(400, "siteId cannot be changed by an edit.")
    study = dataset.study(subject["studyId"]) or {}
    site = dataset.site(subject["studyId"], subject.get("siteId")) or {}
    changes = _collected(call, site, editing=True)
    identifier = call.field("subjectIdentifier")
    if identifier is not None:
        changes["subjectIdentifier"] = _unique_identifier(
            dataset, subject["studyId"], identifier, subject["id"]
        )
    position = _wear_position(call, study, editing=True)
    if position is not None:
        changes["wearPosition"] = position
    if isinstance(call.field("timezone"), str):
        changes["timezone"] = call.field("timezone")
    subject.update(changes)
    dataset.changes.append({"subjectId": subject["id"], "changeReason": reason, "fields": changes})
    return subject


def device_pin(dataset: DatasetView, subject: dict[str, Any]) -> dict[str, Any]:
    """``POST .../DevicePin``: a fresh five-digit PIN (a string) and when it expires."""
    now = datetime.now(UTC)
    h = mix(dataset.seed, subject["id"], int(now.timestamp() * 1000))
    return {
        "subjectId": subject["id"],
        "pin": f"{h % 100000:05d}",
        "expireDate": z_seven(now + timedelta(hours=1), h),
    }


def create_assignment(dataset: DatasetView, study: dict[str, Any], call: Call) -> dict[str, Any]:
    """``POST .../Assignments``: a partial assignment, ``Incomplete Assignment``."""
    subject_id = _required(call, "subjectId")
    serial = str(_required(call, "activityMonitorSerial"))
    plan = dataset.plan(study["id"])
    if not plan.partial_workflow:
        raise Refused(400, "The study does not allow the partial monitor assignment workflow.")
    subject = dataset.subject(study["id"], subject_id) if isinstance(subject_id, int) else None
    if subject is None:
        raise Refused(400, f"Subject {subject_id!r} is not a subject of study {study['id']}.")
    if subject.get("assignmentStatus") == "Assigned":
        raise Refused(400, f"Subject {subject_id} already has an active assignment.")
    monitor = dataset.activity_monitor(study["id"], serial)
    if monitor is None:
        raise Refused(400, f"Activity monitor {serial} is not in the study's inventory.")
    if monitor.get("assignmentStatus") == "Assigned":
        raise Refused(400, f"Activity monitor {serial} is already assigned.")
    assignment = {
        "id": dataset.new_id(),
        "activityMonitorSerial": monitor["serial"],
        "subjectId": subject_id,
        "studyId": study["id"],
        "createdDate": z_millis(datetime.now(UTC)),
        "status": "Incomplete Assignment",
    }
    dataset.assignments.setdefault(study["id"], []).append(assignment)
    for holder in (subject, monitor):
        holder["assignmentStatus"] = "Assigned"
        holder["assignmentId"] = assignment["id"]
    return assignment


def update_assignment(
    dataset: DatasetView, assignment: dict[str, Any], call: Call
) -> dict[str, Any]:
    """``PUT .../Assignments/{id}``: ``Collection Stopped`` or ``Forcefully Ended``."""
    status = str(_required(call, "status"))
    wanted = next((s for s in (_STOP, _FORCE) if s.lower() == status.lower()), None)
    if wanted is None:
        raise Refused(400, f"status must be {_STOP!r} or {_FORCE!r}.")
    if assignment["status"] in ("Ended", _FORCE):
        raise Refused(400, "The assignment has already ended.")
    if wanted == assignment["status"]:
        raise Refused(400, f"The assignment is already {wanted!r}.")
    now = z_millis(datetime.now(UTC))
    assignment["collectionStoppedDate"] = assignment.get("collectionStoppedDate", now)
    assignment["status"] = wanted
    if wanted == _FORCE:
        assignment["endedDate"] = now
        study_id = assignment["studyId"]
        subject = dataset.subject(study_id, assignment["subjectId"])
        monitor = dataset.activity_monitor(study_id, assignment["activityMonitorSerial"])
        for holder in (subject, monitor):
            if holder is not None and holder.get("assignmentId") == assignment["id"]:
                holder["assignmentStatus"] = "Not Assigned"
                del holder["assignmentId"]
    return assignment


# --- endpoints -----------------------------------------------------------------------------


def find_study(dataset: DatasetView, call: Call) -> dict[str, Any]:
    """The study of the path's ``study_id``; 404 if there is none."""
    found = dataset.study(call.id("study_id", "Study"))
    if found is None:
        raise Refused(404, "Study not found")
    return found


def find_subject(dataset: DatasetView, call: Call) -> dict[str, Any]:
    """The subject of the path's ``study_id`` and ``subject_id``; 404 if there is none."""
    found = dataset.subject(find_study(dataset, call)["id"], call.id("subject_id", "Subject"))
    if found is None:
        raise Refused(404, "Subject not found")
    return found


Table = Callable[["DatasetView"], dict[int, list[dict[str, Any]]]]


@attrs.frozen
class _Api:
    """The CentrePoint family's answers, over ``source()``'s data."""

    source: Callable[[], DatasetView]

    def study(self, call: Call) -> dict[str, Any]:
        return find_study(self.source(), call)

    def subject(self, call: Call) -> dict[str, Any]:
        return find_subject(self.source(), call)

    def of_study(self, table: Table) -> Callable[[Call], Listing]:
        """A study's list in ``table``."""
        return lambda call: Listing(ListRows(table(self.source()).get(self.study(call)["id"], [])))

    def of_subject(
        self, listing: Callable[[DatasetView, dict[str, Any]], list[dict[str, Any]]]
    ) -> Callable[[Call], Listing]:
        """A subject's list made by ``listing``."""
        return lambda call: Listing(ListRows(listing(self.source(), self.subject(call))))

    def one(self, table: Table, key: str, what: str) -> Callable[[Call], dict[str, Any]]:
        """The item of a study's table whose ``key`` is the last path id (any case)."""

        def get(call: Call) -> dict[str, Any]:
            wanted = list(call.ids.values())[-1].lower()
            for item in table(self.source()).get(self.study(call)["id"], []):
                if str(item.get(key, "")).lower() == wanted:
                    return item
            raise Refused(404, f"{what} not found")

        return get

    def upload(self, call: Call) -> dict[str, Any]:
        subject = self.subject(call)
        items = uploads(self.source(), subject["studyId"], subject["id"])
        item = next((u for u in items if str(u["id"]) == call.ids["upload_id"]), None)
        if item is None:
            raise Refused(404, "Upload not found")
        return item

    def assignment(self, call: Call) -> dict[str, Any]:
        return self.one(lambda d: d.assignments, "id", "Assignment")(call)


def endpoints(source: Callable[[], DatasetView]) -> list[Endpoint]:
    """The CentrePoint family's endpoints (webhooks aside), over ``source()``'s data."""
    api, data = _Api(source), source
    s = "/centrepoint/v3/studies/{study_id}"
    sub = s + "/subjects/{subject_id}"
    declared: list[tuple[str, str, Callable[[Call], Any]]] = [
        ("GET", "/centrepoint/v3/studies", lambda c: Listing(ListRows(data().studies))),
        ("GET", s, api.study),
        ("GET", s + "/sites", api.of_study(lambda d: d.sites)),
        ("GET", s + "/sites/{site_id}", api.one(lambda d: d.sites, "id", "Site")),
        ("GET", s + "/subjects", api.of_study(lambda d: d.subjects)),
        ("GET", sub, api.subject),
        ("GET", sub + "/milestones", api.of_subject(subject_milestones)),
        ("GET", sub + "/timezonehistory", api.of_subject(timezone_history)),
        ("GET", sub + "/uploads", api.of_subject(lambda d, x: uploads(d, x["studyId"], x["id"]))),
        ("GET", sub + "/uploads/{upload_id}", api.upload),
        ("GET", s + "/activitymonitors", api.of_study(lambda d: d.activity_monitors)),
        (
            "GET",
            s + "/activitymonitors/{serial}",
            api.one(lambda d: d.activity_monitors, "serial", "Activity monitor"),
        ),
        ("GET", s + "/assignments", api.of_study(lambda d: d.assignments)),
        ("GET", s + "/assignments/{assignment_id}", api.assignment),
        ("GET", s + "/milestones", api.of_study(lambda d: d.milestones)),
        ("POST", s + "/subjects", lambda c: create_subject(data(), api.study(c), c)),
        ("PUT", sub, lambda c: update_subject(data(), api.subject(c), c)),
        ("POST", sub + "/devicepin", lambda c: device_pin(data(), api.subject(c))),
        ("POST", s + "/assignments", lambda c: create_assignment(data(), api.study(c), c)),
        (
            "PUT",
            s + "/assignments/{assignment_id}",
            lambda c: update_assignment(data(), api.assignment(c), c),
        ),
    ]
    return [
        # every write carries a JSON body but DevicePin's
        Endpoint(m, t, "CentrePoint", f, body=m != "GET" and not t.endswith("/devicepin"))
        for m, t, f in declared
    ]
