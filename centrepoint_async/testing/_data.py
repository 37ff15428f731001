"""Seeded, realistic CentrePoint data for the fake server, generated lazily.

A history item is a pure function of ``(seed, webhook id, position)``, so a history of a
million deliveries costs a few integers until a page of it is asked for. The data carries the
quirks of the public documents: ids sent as strings, seven fractional digits, naive and ``Z``
dates, event names that disagree with headers, unknown events, bodies that are not JSON, extra
fields, failed deliveries without a response, and the seed's own two items (webhook 236 of
study 8, whose documented ``totalCount`` is 1 for two items).

The rest of a study is made by the family modules (:mod:`._study`, :mod:`._analytics`,
:mod:`._access`); :class:`Dataset` holds it and is the oracle of every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import orjson

from . import _access, _study
from ._access import NEVER, Revision
from ._analytics import (
    CROUTER,
    EPOCH_COUNTS,
    FREEDSON,
    STAUDENMAYER,
    STEPS,
    MinuteRows,
    figures,
    settings_of,
)
from ._analytics import table as table_rows
from ._blob import Blob
from ._content import CATEGORIES, DayFile
from ._seeded import guid, mix, naive, offset_seconds, z_millis
from ._serving import When, as_guid
from ._study import BASE_DAY, Span, StudyPlan

__all__ = ["SEED_HISTORY_ITEMS", "SIZES", "Dataset", "History"]

WEBHOOK_EVENTS: list[dict[str, Any]] = [
    {"id": 3, "name": "upload", "description": "Upload processing started, completed or failed"},
    {"id": 4, "name": "data_retrieval_complete", "description": "Data retrieval request done"},
    {"id": 5, "name": "raw_processing_complete", "description": "RAW data processing done"},
    {"id": 6, "name": "daily_statistics_complete", "description": "Daily statistics ready"},
    {"id": 7, "name": "cp2_daily_statistics_complete", "description": "CP2 daily statistics"},
]
_EVENT_IDS = {e["name"]: e["id"] for e in WEBHOOK_EVENTS}

_SEED_HEADERS = (
    '{"Content-Type":["application/json"],"User-Agent":["ActiGraph-Hookshot/1.0"],'
    '"X-ActiGraph-Webhook-id":["14"],"X-ActiGraph-Event":["upload"],'
    '"X-ActiGraph-Delivery":["0f9G3fde-8Baf-0c83-1591-517307kpp19c"],'
    '"X-Client-Cert-Used":["false"],"Host":["hostaddress.host.com"],'
    '"Content-Length":["272"],"Expect":["100-continue"]}'
)
_SEED_BODY = (
    '{"status":"completed","firstEpochUTC":"2018-03-08T00:20:00.0000000",'
    '"firstEpochSubjectTZ":"2018-03-08T05:50:00.0000000","lastEpochUTC":"2018-03-08T00:34:00.0000000",'
    '"lastEpochSubjectTZ":"2018-03-08T06:04:00.0000000","uploadId":"362288","studyId":"8",'
    '"subjectId":"2358"}'
)
#: The two items of the Webhooks History example in the public documents, verbatim.
SEED_HISTORY_ITEMS: list[dict[str, Any]] = [
    {
        "id": 34,
        "webhookId": 236,
        "webhookEventId": 4,
        "webhookEvent": "raw_processing_complete",
        "createdDate": "2019-06-03T20:41:01",
        "lastSentDate": "2019-06-03T20:41:01",
        "request": {"headers": _SEED_HEADERS, "body": _SEED_BODY},
        "response": {
            "responseCode": 200,
            "headers": '{"Connection":["keep-alive"],"Content-Length":["0"],'
            '"Date":["Thu, 08 Mar 2018 00:37:55 GMT"],"Server":["Apache-Coyote/1.1"]}',
            "body": "",
        },
    },
    {
        "id": 35,
        "webhookId": 236,
        "webhookEventId": 4,
        "webhookEvent": "raw_processing_complete",
        "createdDate": "2019-06-03T20:41:01",
        "lastSentDate": "2019-06-04T21:27:00",
        "errorMessage": "An error occurred while attempting to send a webhook message: "
        "Failed to resolve domain",
        "request": {"headers": _SEED_HEADERS, "body": _SEED_BODY},
    },
]

_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
_ERRORS = [
    "An error occurred while attempting to send a webhook message: Failed to resolve domain",
    "An error occurred while attempting to send a webhook message: Connection timed out",
    "An error occurred while attempting to send a webhook message: SSL handshake failed",
]
_WEAR = ["Left Wrist", "Right Wrist", "Waist", "Left Ankle"]
_MODES = ["Epoch+Raw", "Raw Only", "Epoch Only"]


def _stamp(when: datetime, style: int) -> str:
    """A date in one of the documented spellings."""
    if style == 0:
        return naive(when)
    if style == 1:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}0"  # 7 digits
    if style == 2:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 10000:02d}Z"
    return offset_seconds(when)


def _upload(h: int, study_id: int, when: datetime) -> dict[str, Any]:
    subject = _subject_of(h)
    status = ("completed", "started", "error")[(h >> 12) % 3]
    body: dict[str, Any] = {"status": status}
    if status == "completed":
        local = when - timedelta(hours=5)
        body |= {
            "firstEpochUTC": _stamp(when, 1),
            "firstEpochSubjectTZ": _stamp(local, 1),
            "lastEpochUTC": _stamp(when + timedelta(minutes=14), 1),
            "lastEpochSubjectTZ": _stamp(local + timedelta(minutes=14), 1),
        }
    elif status == "error":
        body["message"] = "A problem occured during upload processing"
    # documented as integers, sent as strings in every example
    body |= {
        "uploadId": str(300000 + h % 90000),
        "studyId": str(study_id),
        "subjectId": str(subject),
    }
    return body


def _raw_processing_complete(h: int, study_id: int, when: datetime) -> dict[str, Any]:
    subject = _subject_of(h)
    ok = (h >> 12) % 5 != 0
    return {
        "study_id": study_id,
        "subject_id": subject,
        "subject_identifier": f"S{subject:05d}",
        "monitor_serial": f"TAS1F{h % 10**8:08d}",
        "created_at_utc": _stamp(when, 2),
        "min_event_timestamp": _stamp(when - timedelta(hours=5), 3),
        "max_event_timestamp": _stamp(when, 3),
        "status": "Completed" if ok else "Error",
        "error_message": None if ok else "Unable to parse raw file",
    }


def _data_retrieval_complete(h: int, study_id: int, when: datetime) -> dict[str, Any]:
    subject = _subject_of(h)
    return {
        "client_id": f"cid{h % 10**6:06d}",
        "tracking_id": guid(h),
        "study_id": study_id,
        "subject_id": subject,
        "subject_identifier": f"S{subject:05d}",
        "created_at_utc": _stamp(when, 2),
        "started_at_utc": _stamp(when, 2),
        "completed_at_utc": _stamp(when + timedelta(seconds=3), 2),
        "request_status": "Completed",
        "error_message": None,
        "files": [
            {
                "monitor_serial": None if i == 0 else f"TAS1Z{h % 10**8:08d}",
                "file_type": "summary" if i == 0 else "avro",
                "min_event_timestamp": _stamp(when - timedelta(hours=1), 3),
                "max_event_timestamp": _stamp(when, 3),
                "file_size": 200 + (h >> i) % 90000,
                "file_index": i,
                "file_name": f"{subject}_{h % 10**6}_{i}.avro",
            }
            for i in range(1 + (h >> 16) % 3)
        ],
    }


def _daily_statistics_complete(h: int, study_id: int, when: datetime) -> dict[str, Any]:
    """A day of statistics: the event's payload, and an item of the analytics listing."""
    subject = _subject_of(h)
    minutes = float(60 + h % 900)
    return {
        "subjectIdentifier": f"S{subject:05d}",
        "id": h % 10**7,
        "studyId": study_id,
        "subjectId": subject,
        "date": _stamp(when.replace(hour=5, minute=0), 3),
        "siteId": 2900 + h % 50,
        "activityMonitorSerials": [f"TAS1Z{h % 10**8:08d}"],
        "epochAggregation": {
            **figures(h, EPOCH_COUNTS),
            "wearMinutes": minutes,
            "nonWearMinutes": 5.0,
            "sleepMinutes": 3.0,
            "awakeMinutes": minutes + 2,
            "wearAwakeMinutes": minutes,
            "wearSleepMinutes": 0.0,
            "totalNonFilteredMinutes": minutes + 5,
            "totalNonFilteredAxisXCounts": h % 200000,
            "totalNonFilteredAxisYCounts": h % 150000,
            "totalNonFilteredAxisZCounts": h % 90000,
            "totalNonFilteredVectorMagnitude": (h % 10**9) / 1000.0,
            "firstEpochDateTimeUtc": _stamp(when, 3),
            "lastEpochDateTimeUtc": _stamp(when, 3),
            "firstEpochDateTimeLocal": _stamp(when, 3),
            "lastEpochDateTimeLocal": _stamp(when, 3),
        },
        # every documented figure, as the documentation's example sends them
        "freedsonAggregations": [figures(h, FREEDSON)],
        "staudenmayerAggregations": [figures(h >> 1, STAUDENMAYER)],
        **({"crouterAggregations": [figures(h >> 2, CROUTER)]} if h % 3 == 0 else {}),
        **({"uwfAggregations": [figures(h >> 3, STEPS)]} if h % 3 == 1 else {}),
        "mavmAggregation": figures(h >> 4, STEPS),
    }


def _cp2_daily_statistics_complete(h: int, study_id: int, when: datetime) -> dict[str, Any]:
    subject = _subject_of(h)
    buckets = [{"name": f"{m} minutes or more", "count": (h >> m) % 3} for m in (10, 20, 30, 40)]
    return {
        "studyId": study_id,
        "subjectId": subject,
        "siteId": 2900 + h % 50,
        "dayStatId": h % 10**7,
        "subjectIdentifier": f"S{subject:05d}",
        "date": _stamp(when.replace(hour=0, minute=0, second=0), 0),
        "bouts": buckets,
        "calories": (h % 100000) / 1000.0,
        "cutpoints": [
            {"name": n, "count": (h >> i) % 500}
            for i, n in enumerate(["Sedentary", "Light", "Moderate", "Vigorous"])
        ],
        "axisXCounts": h % 60000,
        "axisYCounts": h % 50000,
        "axisZCounts": h % 70000,
        "epochs": 569,
        "mvpa": h % 30,
        "steps": float(h % 3000),
        "totalMinutes": 569,
        "mets": 1.74,
        "wearMinutes": 197,
        "awakeWearMinutes": 133,
    }


def _subject_of(h: int) -> int:
    return 1000 + h % 5000


#: The payload generator of each event: ``(hash, study id, when) -> body``.
_PAYLOADS: dict[str, Callable[[int, int, datetime], dict[str, Any]]] = {
    "upload": _upload,
    "raw_processing_complete": _raw_processing_complete,
    "data_retrieval_complete": _data_retrieval_complete,
    "daily_statistics_complete": _daily_statistics_complete,
    "cp2_daily_statistics_complete": _cp2_daily_statistics_complete,
}


@attrs.define
class History:
    """The delivery history of one webhook: ``size`` generated items, newest first.

    Items inserted while a listing runs (:meth:`insert`) go to the head, shifting every offset.
    """

    seed: int
    study_id: int
    webhook_id: int
    size: int
    events: tuple[str, ...]
    fixed: list[dict[str, Any]] | None = None  # verbatim items (the seed's example)
    total_count_override: int | None = None
    inserted: list[dict[str, Any]] = attrs.field(factory=list)

    def __len__(self) -> int:
        base = len(self.fixed) if self.fixed is not None else self.size
        return base + len(self.inserted)

    def total_count(self) -> int:
        """The ``totalCount`` the server reports (the seed's history reports 1 for 2)."""
        return self.total_count_override if self.total_count_override is not None else len(self)

    def item(self, position: int) -> dict[str, Any]:
        """The item at ``position`` (0 = newest)."""
        n = len(self.inserted)
        if position < n:
            return self.inserted[n - 1 - position]
        if self.fixed is not None:
            return self.fixed[position - n]
        return self._generate(self.size - 1 - (position - n))

    def slice(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Items ``offset`` to ``offset + limit`` (fewer at the end)."""
        return [self.item(i) for i in range(offset, min(offset + limit, len(self)))]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self.item(i) for i in range(len(self)))

    def insert(self, count: int = 1) -> None:
        """Add ``count`` new deliveries at the head of the history."""
        for _ in range(count):
            index = self.size + len(self.inserted)
            self.inserted.append(self._generate(index))

    def _generate(self, index: int) -> dict[str, Any]:
        """Delivery number ``index`` (0 = oldest) of this webhook: a pure function."""
        h = mix(self.seed, self.webhook_id, index)
        when = _EPOCH + timedelta(minutes=7 * index + self.webhook_id, microseconds=h % 10**6)
        kind = h % 100
        event = self.events[(h >> 20) % len(self.events)]
        name_in_header = event
        listed_name = event
        if kind < 3:
            name_in_header = listed_name = "sleep_score_complete"  # an event we do not know yet
        elif kind < 6:
            listed_name = (
                "raw_processing_complete" if event != "raw_processing_complete" else "upload"
            )
        delivery = guid(h)
        if kind < 3:
            body = orjson.dumps({"subjectId": h % 5000, "score": h % 100}).decode()
        elif kind < 5:
            body = "<html><body>Internal error</body></html>"  # not JSON
        else:
            payload = _PAYLOADS[event](h, self.study_id, when)
            if kind < 10:
                payload["traceId"] = guid(h >> 3)  # a field nobody documented
            body = orjson.dumps(payload).decode()
        headers = {
            "Content-Type": ["application/json"],
            "User-Agent": ["ActiGraph-Hookshot/1.0"],
            "X-ActiGraph-Webhook-id": [str(self.webhook_id)],
            "X-ActiGraph-Event": [name_in_header],
            "X-ActiGraph-Delivery": [delivery],
            "X-Client-Cert-Used": ["false"],
            "Content-Length": [str(len(body))],
        }
        if kind % 7 == 0:
            headers["X-ActiGraph-Signature"] = [f"{h:x}="]
        created = _stamp(when, 0 if kind % 2 else 2)
        item: dict[str, Any] = {
            "id": self.webhook_id * 10_000_000 + index + 1,
            "webhookId": self.webhook_id,
            "webhookEventId": _EVENT_IDS.get(listed_name, 99),
            "webhookEvent": listed_name,
            "createdDate": created,
            "lastSentDate": created,
            "request": {"headers": orjson.dumps(headers).decode(), "body": body},
        }
        outcome = (h >> 40) % 100
        if outcome < 8:
            item["errorMessage"] = _ERRORS[outcome % len(_ERRORS)]
            item["lastSentDate"] = _stamp(when + timedelta(days=1), 0)
        else:
            code = 200 if outcome >= 16 else (500, 404, 502)[outcome % 3]
            item["response"] = {
                "responseCode": code,
                "headers": '{"Content-Length":["0"],"Server":["nginx"]}',
                "body": "" if code == 200 else "upstream error",
            }
        return item


#: Named dataset sizes: (studies, webhooks per study, deliveries per webhook).
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (1, 1, 25),
    "small": (3, 2, 250),
    "demo": (4, 3, 2500),
    "large": (5, 4, 50_000),
}


def _seed_example(seed: int) -> tuple[dict[str, Any], dict[str, Any], History]:
    """The study, webhook and two-item history of the public documents' example, verbatim."""
    study = {
        "id": 8,
        "name": "Documentation example",
        "organizationName": "ActiGraph",
        "createdDateTime": "2019-06-26T13:34:02.07Z",
        "studyStatus": "Active",
        "defaultWearPosition": "Left Wrist",
        "wearPositions": ["Left Wrist"],
        "monitorDataCollectionMode": "Epoch+Raw",
    }
    webhook = {
        "id": 236,
        "studyId": 8,
        "url": "https://hostaddress.host.com/hooks",
        "createdDate": "2019-06-03T20:41:01",
        "isDisabled": False,
        "webhookEvents": [WEBHOOK_EVENTS[0]],
    }
    history = History(
        seed, 8, 236, 2, ("upload",), fixed=SEED_HISTORY_ITEMS, total_count_override=1
    )
    return study, webhook, history


def _study_json(seed: int, s: int) -> dict[str, Any]:
    """Study number ``s`` (id ``100 + s``)."""
    h = mix(seed, s)
    created = _EPOCH + timedelta(days=h % 300, microseconds=(h >> 9) % 10**6)
    return {
        "id": 100 + s,
        "name": f"Study {chr(65 + s % 26)}{s // 26 or ''} (seed {seed})",
        "organizationName": "ActiGraph Research",
        "createdDateTime": z_millis(created),
        "studyStatus": "Active" if s % 4 else "Completed",
        "defaultWearPosition": _WEAR[h % len(_WEAR)],
        "wearPositions": _WEAR[: 1 + h % len(_WEAR)],
        "monitorDataCollectionMode": _MODES[h % len(_MODES)],
    }


#: The analytics tables (as ``export-analytics`` names them) and their kinds.
_TABLES = {
    "minute-summaries": "minute",
    "daily-statistics": "daily",
    "sleep-periods": "sleep",
    "event-markers": "event",
}

#: Data Access categories recorded, by ``study id % 3`` (study 100: three; 101: all; 102: one).
_CATEGORY_SETS = {
    1: ("raw-accelerometer", "temperature", "imu"),
    2: tuple(CATEGORIES),
    0: ("raw-accelerometer",),
}


@attrs.define
class Dataset:
    """Everything a fake CentrePoint account holds, and the oracle of what the fake serves.

    Studies, webhooks, histories, sites, subjects, activity monitors, assignments and study
    milestones are lists of JSON objects, by study id, served as they are (change them, and
    the next answer changes). Subjects' uploads, milestones, time zone history, analytics and
    day files are pure functions of the seed and the subject, made when asked for; the methods
    below give them exactly as the server sends them (day and dataset files without their two
    link fields, which are signed per answer). ``days`` of data per subject start on
    :data:`BASE_DAY` plus ``index % 14`` days.
    """

    seed: int
    studies: list[dict[str, Any]]
    webhooks: dict[int, list[dict[str, Any]]]  # by study id
    histories: dict[int, History]  # by webhook id
    webhook_events: list[dict[str, Any]] = attrs.field(factory=lambda: list(WEBHOOK_EVENTS))
    subjects: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)  # by study id
    sites: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)  # by study id
    activity_monitors: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)
    assignments: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)
    milestones: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)  # study milestones
    spans: dict[int, Span] = attrs.field(factory=dict)  # days of data, by subject id
    plans: dict[int, StudyPlan] = attrs.field(factory=dict)  # what a study records, by id
    revisions: dict[tuple[int, str, date], Revision] = attrs.field(factory=dict)  # bumped days
    changes: list[dict[str, Any]] = attrs.field(factory=list)  # subject edits and their reasons
    day_file_size: int = 32 * 1024  # bytes of each day file, about (exact: DayFile.size)
    never: str | None = NEVER  # "never" in export subjects (None: null, as a branch has it)
    last_id: int = 9_000_000  # the last id given to something created

    @classmethod
    def generate(
        cls,
        seed: int = 0,
        *,
        studies: int = 3,
        webhooks_per_study: int = 2,
        deliveries: int = 250,
        subjects_per_study: int = 25,
        include_seed_example: bool = True,
        days: int = 7,
        day_file_size: int = 32 * 1024,
    ) -> Dataset:
        """A dataset of the given shape; the same seed gives the same data.

        ``subjects_per_study`` (at most 999) subjects per study, each with ``days`` days of
        data (minute summaries, day files, ...); day files of about ``day_file_size`` bytes.
        """
        if not 0 <= subjects_per_study <= 999:
            raise ValueError("subjects_per_study must be 0 to 999")
        if days < 0 or day_file_size < 1:
            raise ValueError("days must not be negative, day_file_size must be positive")
        study_list: list[dict[str, Any]] = []
        webhooks: dict[int, list[dict[str, Any]]] = {}
        histories: dict[int, History] = {}
        names = [e["name"] for e in WEBHOOK_EVENTS]
        for s in range(studies):
            h = mix(seed, s)
            study_id = 100 + s
            created = _EPOCH + timedelta(days=h % 300)
            study_list.append(_study_json(seed, s))
            webhooks[study_id] = []
            for w in range(webhooks_per_study):
                webhook_id = 1000 + s * 100 + w
                subscribed = names[w % len(names) :] + names[: w % len(names)]
                events = tuple(subscribed[: 2 + (h >> w) % 3])
                webhooks[study_id].append(
                    {
                        "id": webhook_id,
                        "studyId": study_id,
                        "url": f"https://hooks.example.org/centrepoint/{study_id}/{webhook_id}",
                        "createdDate": _stamp(created + timedelta(days=w), 0),
                        "isDisabled": w == 2,
                        "webhookEvents": [e for e in WEBHOOK_EVENTS if e["name"] in events],
                    }
                )
                histories[webhook_id] = History(seed, study_id, webhook_id, deliveries, events)
        dataset = cls(seed, study_list, webhooks, histories, day_file_size=day_file_size)
        for study in study_list:
            _study.populate(dataset, study, subjects_per_study, days)
        if include_seed_example:
            study, webhook, history = _seed_example(seed)
            dataset.studies.append(study)
            dataset.webhooks[8] = [webhook]
            dataset.histories[236] = history
            _study.populate(dataset, study, 0, days)
        return dataset

    @classmethod
    def sized(cls, size: str = "small", seed: int = 0, *, deliveries: int | None = None) -> Dataset:
        """A dataset of a named size (``tiny``, ``small``, ``demo``, ``large``).

        ``deliveries`` overrides the size's number of deliveries per webhook.
        """
        try:
            studies, per_study, per_webhook = SIZES[size]
        except KeyError:
            raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}") from None
        return cls.generate(
            seed,
            studies=studies,
            webhooks_per_study=per_study,
            deliveries=per_webhook if deliveries is None else deliveries,
        )

    # --- lookups -------------------------------------------------------------------------

    def study(self, study_id: int) -> dict[str, Any] | None:
        """The study with this id, if any."""
        return next((s for s in self.studies if s["id"] == study_id), None)

    def history(self, study_id: int, webhook_id: int) -> History | None:
        """The history of a webhook of a study, if both exist."""
        found = self.histories.get(webhook_id)
        return found if found is not None and found.study_id == study_id else None

    def subject(self, study_id: int, subject_id: int) -> dict[str, Any] | None:
        """The subject with this id in this study, if any."""
        items = self.subjects.get(study_id, ())
        return next((s for s in items if s.get("id") == subject_id), None)

    def _subject(self, study_id: int, subject_id: int) -> dict[str, Any]:
        found = self.subject(study_id, subject_id)
        if found is None:
            raise KeyError(f"no subject {subject_id} in study {study_id}")
        return found

    def site(self, study_id: int, site_id: object) -> dict[str, Any] | None:
        """The site with this id in this study, if any."""
        return next((s for s in self.sites.get(study_id, ()) if s["id"] == site_id), None)

    def activity_monitor(self, study_id: int, serial: str) -> dict[str, Any] | None:
        """The activity monitor with this serial (any case) in this study, if any."""
        items = self.activity_monitors.get(study_id, ())
        return next((m for m in items if m["serial"].lower() == serial.lower()), None)

    def assignment(self, study_id: int, assignment_id: int) -> dict[str, Any] | None:
        """The assignment with this id in this study, if any."""
        items = self.assignments.get(study_id, ())
        return next((a for a in items if a["id"] == assignment_id), None)

    def assignment_of(self, study_id: int, subject_id: int) -> dict[str, Any] | None:
        """A subject's latest assignment, if it has one."""
        items = [a for a in self.assignments.get(study_id, ()) if a["subjectId"] == subject_id]
        return items[-1] if items else None

    def span(self, subject_id: int) -> Span:
        """The days a subject has data for (none for a subject added without ``days``)."""
        return self.spans.get(subject_id, Span(BASE_DAY, 0))

    def plan(self, study_id: int) -> StudyPlan:
        """What a study records (its Data Access categories), its settings and programs."""
        plan = self.plans.get(study_id)
        if plan is None:
            plan = StudyPlan(
                _CATEGORY_SETS[study_id % 3],
                study_id % 3 != 0,  # study 102 refuses the partial assignment workflow
                settings_of(self.seed, study_id),
                _access.programs_of(self.seed, study_id),
            )
            self.plans[study_id] = plan
        return plan

    def new_id(self) -> int:
        """A fresh id for something created (an assignment)."""
        self.last_id += 1
        return self.last_id

    def new_subject_id(self, study_id: int) -> int:
        """A fresh subject id: the study's next (``study id * 1000 + n``) while there is one."""
        taken = [s["id"] for s in self.subjects.get(study_id, []) if isinstance(s.get("id"), int)]
        candidate = max(taken, default=study_id * 1000) + 1
        return candidate if candidate < (study_id + 1) * 1000 else self.new_id()

    # --- the CentrePoint family ----------------------------------------------------------

    def add_subject(
        self,
        study_id: int,
        *,
        site_id: int | None = None,
        days: int = 0,
        start: date | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a subject to a study (as if created elsewhere) and return it.

        It is made as the generated ones are (what its site collects: ``site_id``, else the
        study's first site), then ``fields`` (API names: ``subjectIdentifier="X"``) override;
        it has ``days`` days of data from ``start`` (default :data:`BASE_DAY`), so a later
        listing finds its files.
        """
        study = self.study(study_id)
        if study is None:
            raise KeyError(f"no study {study_id}")
        sites = self.sites.get(study_id, [])
        site = next((s for s in sites if site_id in (None, s["id"])), None)
        if site is None:
            raise KeyError(f"no site {site_id} in study {study_id}")
        index = len(self.subjects.get(study_id, []))
        subject = _study.make_subject(self.seed, study, index, site)
        subject["id"] = self.new_subject_id(study_id)
        subject["assignmentStatus"] = "Not Assigned"
        subject.pop("assignmentId", None)
        subject |= fields
        self.subjects.setdefault(study_id, []).append(subject)
        self.spans[subject["id"]] = Span(start or BASE_DAY, days)
        return subject

    def subject_milestones(self, study_id: int, subject_id: int) -> list[dict[str, Any]]:
        """A subject's milestones (``.../Subjects/{id}/milestones``)."""
        return _study.subject_milestones(self, self._subject(study_id, subject_id))

    def timezone_history(self, study_id: int, subject_id: int) -> list[dict[str, Any]]:
        """A subject's time zones, oldest first (``.../TimezoneHistory``)."""
        return _study.timezone_history(self, self._subject(study_id, subject_id))

    def uploads(self, study_id: int, subject_id: int) -> list[dict[str, Any]]:
        """A subject's uploads, oldest first, as the Uploads documentation shows them."""
        return _study.uploads(self, study_id, subject_id)

    # --- the Analytics family ------------------------------------------------------------

    def _settings(self, study_id: int, family: str) -> list[dict[str, Any]]:
        return self.plan(study_id).settings[family]

    def algorithm_settings(
        self, study_id: int, algorithm_type: str | None = None
    ) -> list[dict[str, Any]]:
        """``AlgorithmSettings``, of one ``algorithmType`` (any case) if given."""
        items = self._settings(study_id, "algorithm")
        if algorithm_type is None:
            return items
        return [i for i in items if i["algorithmType"].lower() == algorithm_type.lower()]

    def minute_summary_settings(self, study_id: int) -> list[dict[str, Any]]:
        """``MinuteSummarySettings`` (``cutPointSettingIds``, as the example spells it)."""
        return self._settings(study_id, "minute")

    def daily_statistics_settings(self, study_id: int) -> list[dict[str, Any]]:
        """``DailyStatisticsSettings`` (``cutpointSettingIds``)."""
        return self._settings(study_id, "daily")

    def sleep_period_settings(self, study_id: int) -> list[dict[str, Any]]:
        """``DustinTracySleepPeriodSettings``."""
        return self._settings(study_id, "sleep")

    def event_marker_settings(self, study_id: int) -> list[dict[str, Any]]:
        """``EventMarkerSettings``."""
        return self._settings(study_id, "event")

    def analytics(
        self,
        table: str,
        study_id: int,
        subject_id: int,
        from_date: When = None,
        to_date: When = None,
        setting_id: str | None = None,
    ) -> Sequence[dict[str, Any]]:
        """A subject's rows of an analytics ``table``, exactly as served, in the served order.

        ``table``: ``minute-summaries`` (a lazy :class:`MinuteRows`), ``daily-statistics``,
        ``sleep-periods`` or ``event-markers``. ``from_date``/``to_date`` mean what
        ``fromDate``/``toDate`` mean (a string as a client would send it, a ``date`` or a
        ``datetime``; naive ones in the subject's zone); ``setting_id`` what the table's
        setting filter means (``minuteSummarySettingId``, ``dailyStatisticsSettingId``,
        ``algorithmSettingId``).
        """
        kind = _TABLES.get(table)
        if kind is None:
            raise ValueError(f"unknown table {table!r}; choose from {', '.join(_TABLES)}")
        subject = self._subject(study_id, subject_id)
        wanted = None if setting_id is None else as_guid(setting_id, "setting_id")
        return table_rows(self, subject, kind, from_date, to_date, wanted)

    def minute_summaries(
        self,
        study_id: int,
        subject_id: int,
        from_date: When = None,
        to_date: When = None,
        setting_id: str | None = None,
    ) -> MinuteRows:
        """A subject's minute summaries as served: a lazy sequence (``len``, slices, iteration)."""
        rows = self.analytics(
            "minute-summaries", study_id, subject_id, from_date, to_date, setting_id
        )
        assert isinstance(rows, MinuteRows)
        return rows

    def daily_statistics(
        self, study_id: int, subject_id: int, from_date: When = None, to_date: When = None
    ) -> list[dict[str, Any]]:
        """A subject's days of statistics, oldest first (the analytics listing)."""
        return list(self.analytics("daily-statistics", study_id, subject_id, from_date, to_date))

    # --- the Data Access family ----------------------------------------------------------

    def categories(self, study_id: int) -> tuple[str, ...]:
        """The Data Access categories a study records."""
        return self.plan(study_id).categories

    def day_files(
        self,
        study_id: int,
        subject_id: int,
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
        """A subject's day files as listed, but for ``downloadUrl``/``downloadUrlExpiresOn``.

        The arguments mean what the query's do (``year``/``month``/``day``: the dated routes).
        """
        subject = self._subject(study_id, subject_id)
        return _access.day_files(
            self,
            subject,
            category,
            start=start,
            end=end,
            file_format=file_format,
            sort_order=sort_order,
            year=year,
            month=month,
            day=day,
        )

    def day_file(
        self, study_id: int, subject_id: int, category: str, day: date, file_format: str = "csv"
    ) -> DayFile:
        """The file behind a day (``.name``, ``.size``, ``.content()``, ``.chunks()``)."""
        return _access.day_file(
            self, self._subject(study_id, subject_id), category, day, file_format
        )

    def bump_day(
        self,
        study_id: int,
        subject_id: int,
        category: str,
        day: date,
        *,
        rename: bool = False,
        modified: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Re-process a day: ``modifiedDate`` moves on (to ``modified``, else now), the bytes
        change, and with ``rename`` the file name's hex too. Returns the day's items."""
        subject = self._subject(study_id, subject_id)
        return _access.bump_day(self, subject, category, day, rename=rename, modified=modified)

    def programs(self, study_id: int) -> list[dict[str, Any]]:
        """A study's programs, as listed (``studyProgramId`` a GUID string)."""
        return [
            {k: p[k] for k in ("studyProgramId", "studyId", "studyProgramName")}
            for p in self.plan(study_id).programs
        ]

    def program_datasets(self, study_id: int, program_id: str) -> list[dict[str, Any]]:
        """The datasets of a program: ``{studyProgramId, dataSetName}``."""
        for program in self.plan(study_id).programs:
            if program["studyProgramId"] == program_id.lower():
                return [
                    {"studyProgramId": program_id.lower(), "dataSetName": n}
                    for n in program["dataSets"]
                ]
        raise KeyError(f"no program {program_id} in study {study_id}")

    def dataset_files(
        self,
        study_id: int,
        *,
        subject_id: int | None = None,
        program_id: str | None = None,
        dataset_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """A study's dataset files as listed, but for ``fileUrl``/``downloadUrlExpiresOn``."""
        program = None if program_id is None else program_id.lower()
        return _access.dataset_files(
            self, study_id, subject_id=subject_id, program_id=program, dataset_name=dataset_name
        )

    def export_subjects(self, study_id: int) -> list[dict[str, Any]]:
        """DataSet Export Subjects of a study (:attr:`never` where a program never ran)."""
        return [_access.export_subject(self, s) for s in self.subjects.get(study_id, [])]

    def blob(self, path: str) -> Blob | None:
        """The file the blob host serves at ``path`` (a day file or a dataset file), if any."""
        return _access.resolve(self, path)
