"""Seeded, realistic CentrePoint data for the fake server, generated lazily.

A history item is a pure function of ``(seed, webhook id, position)``, so a history of a
million deliveries costs a few integers until a page of it is asked for. The data carries the
quirks of the public documents: ids sent as strings, seven fractional digits, naive and ``Z``
dates, event names that disagree with headers, unknown events, bodies that are not JSON, extra
fields, failed deliveries without a response, and the seed's own two items (webhook 236 of
study 8, whose documented ``totalCount`` is 1 for two items).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import orjson

__all__ = ["SEED_HISTORY_ITEMS", "SIZES", "Dataset", "History"]

_MASK = (1 << 64) - 1


def _mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): cheap, deterministic randomness."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (v & _MASK)) & _MASK
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 31
    return x


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
        return when.strftime("%Y-%m-%dT%H:%M:%S")  # naive
    if style == 1:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}0"  # 7 digits
    if style == 2:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 10000:02d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _guid(h: int) -> str:
    x = f"{h:016x}{_mix(h):016x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"


# the figures of the daily statistics event, by the documentation's own naming patterns
_FILTERS = ("nonFiltered", "wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")
_FREEDSON = [
    f + v
    for f in _FILTERS
    for v in ("VASedentary", "VALight", "VAModerate", "VAVigorous", "VAVeryVigorous")
]
_STAUDENMAYER = [
    f + v
    for f in _FILTERS
    for v in (
        "Light",
        "Moderate",
        "Vigorous",
        "MVPA",
        "Sedentary",
        "NonSedentary",
        "Locomotion",
        "NonLocomotion",
    )
]
_CROUTER = [
    f + a + v
    for a in ("VM", "VA")
    for f in _FILTERS
    for v in ("Sedentary", "Light", "Moderate", "Vigorous", "MVPA")
]
_STEPS = [f + "Steps" for f in _FILTERS]
_EPOCH_COUNTS = [
    f"{f}Axis{axis}Counts"
    for f in ("wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")
    for axis in "XYZ"
] + [f"{f}VectorMagnitude" for f in ("wearFiltered", "wearAwakeFiltered", "wearSleepFiltered")]


def _figures(h: int, names: list[str]) -> dict[str, int]:
    return {name: (h >> (i % 40)) % 5000 for i, name in enumerate(names)}


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
        "tracking_id": _guid(h),
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
            **_figures(h, _EPOCH_COUNTS),
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
        "freedsonAggregations": [_figures(h, _FREEDSON)],
        "staudenmayerAggregations": [_figures(h >> 1, _STAUDENMAYER)],
        **({"crouterAggregations": [_figures(h >> 2, _CROUTER)]} if h % 3 == 0 else {}),
        **({"uwfAggregations": [_figures(h >> 3, _STEPS)]} if h % 3 == 1 else {}),
        "mavmAggregation": _figures(h >> 4, _STEPS),
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
        h = _mix(self.seed, self.webhook_id, index)
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
        delivery = _guid(h)
        if kind < 3:
            body = orjson.dumps({"subjectId": h % 5000, "score": h % 100}).decode()
        elif kind < 5:
            body = "<html><body>Internal error</body></html>"  # not JSON
        else:
            payload = _PAYLOADS[event](h, self.study_id, when)
            if kind < 10:
                payload["traceId"] = _guid(h >> 3)  # a field nobody documented
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


_SEX = ("Male", "Female")
_ZONES = ("America/Chicago", "Europe/London", "Africa/Abidjan", "Asia/Kolkata")


def _subject(seed: int, study_id: int, index: int) -> dict[str, Any]:
    """Subject number ``index`` of a study, shaped as the Subjects documentation shows."""
    h = _mix(seed, study_id, index, 17)
    site = 2900 + study_id % 50
    return {
        "id": study_id * 1000 + index + 1,
        "studyId": study_id,
        "siteId": site,
        "siteIdentifier": str(site % 1000),
        "subjectIdentifier": f"S{study_id}-{index + 1:04d}",
        "dob": f"{1940 + h % 60}-{1 + h % 12:02d}-{1 + h % 28:02d}",
        "gender": _SEX[h % 2],
        "timezone": _ZONES[(h >> 3) % len(_ZONES)],
        "wearPosition": _WEAR[(h >> 5) % len(_WEAR)],
        "weight": round(100 + (h >> 7) % 1500 / 10, 2),
        "weightUnit": "Lbs",
        "assignmentStatus": "Assigned" if h % 5 else "Not Assigned",
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


@attrs.define
class Dataset:
    """Studies, webhook registrations, histories and subjects of a fake CentrePoint account.

    Uploads and daily statistics of a subject are pure functions of the seed and the subject.
    """

    seed: int
    studies: list[dict[str, Any]]
    webhooks: dict[int, list[dict[str, Any]]]  # by study id
    histories: dict[int, History]  # by webhook id
    webhook_events: list[dict[str, Any]] = attrs.field(factory=lambda: list(WEBHOOK_EVENTS))
    subjects: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)  # by study id

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
    ) -> Dataset:
        """A dataset of the given shape; the same seed gives the same data."""
        study_list: list[dict[str, Any]] = []
        webhooks: dict[int, list[dict[str, Any]]] = {}
        histories: dict[int, History] = {}
        subjects: dict[int, list[dict[str, Any]]] = {}
        names = [e["name"] for e in WEBHOOK_EVENTS]
        for s in range(studies):
            h = _mix(seed, s)
            study_id = 100 + s
            created = _EPOCH + timedelta(days=h % 300)
            study_list.append(
                {
                    "id": study_id,
                    "name": f"Study {chr(65 + s % 26)}{s // 26 or ''} (seed {seed})",
                    "organizationName": "ActiGraph Research",
                    "createdDateTime": _stamp(created, 2),
                    "studyStatus": "Active" if s % 4 else "Completed",
                    "defaultWearPosition": _WEAR[h % len(_WEAR)],
                    "wearPositions": _WEAR[: 1 + h % len(_WEAR)],
                    "monitorDataCollectionMode": _MODES[h % len(_MODES)],
                }
            )
            subjects[study_id] = [_subject(seed, study_id, i) for i in range(subjects_per_study)]
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
        if include_seed_example:
            study, webhook, history = _seed_example(seed)
            study_list.append(study)
            webhooks[8] = [webhook]
            histories[236] = history
        return cls(seed, study_list, webhooks, histories, subjects=subjects)

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

    def study(self, study_id: int) -> dict[str, Any] | None:
        """The study with this id, if any."""
        return next((s for s in self.studies if s["id"] == study_id), None)

    def history(self, study_id: int, webhook_id: int) -> History | None:
        """The history of a webhook of a study, if both exist."""
        found = self.histories.get(webhook_id)
        return found if found is not None and found.study_id == study_id else None

    def subject(self, study_id: int, subject_id: int) -> dict[str, Any] | None:
        """The subject with this id in this study, if any."""
        return next((s for s in self.subjects.get(study_id, ()) if s["id"] == subject_id), None)

    def uploads(self, study_id: int, subject_id: int) -> list[dict[str, Any]]:
        """A subject's uploads, oldest first, as the Uploads documentation shows them."""
        items = []
        for i in range(1 + _mix(self.seed, subject_id) % 4):
            h = _mix(self.seed, subject_id, i, 29)
            end = _EPOCH + timedelta(days=7 * (i + 1) + subject_id % 300, seconds=h % 86400)
            begin = end - timedelta(days=6, hours=h % 12)
            items.append(
                {
                    "id": subject_id * 10 + i,
                    "studyId": study_id,
                    "subjectId": subject_id,
                    "activityMonitorSerial": f"CPW1B{h % 10**8:08d}",
                    "assignmentId": 3000 + subject_id % 1000,
                    "dateUploadedUtc": _stamp(end + timedelta(minutes=h % 600), 3),
                    "activityMonitorBatteryVoltage": 3.5 + (h % 700) / 1000,
                    "activityMonitorFirmware": "1.1.2",
                    "activityMonitorSampleRateHz": (32, 64, 100)[h % 3],
                    "uploadFiles": [
                        {
                            "id": subject_id * 100 + i * 10 + k,
                            "fileType": kind,
                            "totalRecords": 100 + (h >> k) % 10000,
                            "recordsInserted": 100 + (h >> k) % 10000,
                            "beginOfData": _stamp(begin, 2),
                            "endOfData": _stamp(end, 2),
                        }
                        for k, kind in enumerate(("RAW", "EPOCH")[: 1 + h % 2])
                    ],
                }
            )
        return items

    def daily_statistics(self, study_id: int, subject_id: int) -> list[dict[str, Any]]:
        """A subject's days of statistics, oldest first (the analytics listing)."""
        days = []
        for d in range(3 + _mix(self.seed, subject_id, 41) % 5):
            h = _mix(self.seed, subject_id, d, 43)
            day = _daily_statistics_complete(h, study_id, _EPOCH + timedelta(days=d))
            subject = self.subject(study_id, subject_id) or {}
            identifier = subject.get("subjectIdentifier", day["subjectIdentifier"])
            days.append(
                day
                | {
                    "subjectId": subject_id,
                    "subjectIdentifier": identifier,
                    "id": subject_id * 100 + d,
                }
            )
        return days
