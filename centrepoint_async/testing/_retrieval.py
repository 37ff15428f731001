"""The fake's data retrieval service: raw and epoch requests, their files, their lifecycle.

As documented: at most :data:`MAX_ACTIVE` requests are active (pending or processing) at once
and the next is refused with a message saying so; a GT3X request covers at most
:data:`GT3X_MAX_DAYS` days; a request goes ``pending`` -> ``processing`` -> ``completed`` over
(scaled) time; its files are listed as a plain JSON array and downloaded from the blob host.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import attrs

from ._blob import BlobFile, BlobStore
from ._seeded import offset_seven

__all__ = ["GT3X_MAX_DAYS", "MAX_ACTIVE", "Retrieval", "RetrievalService"]

MAX_ACTIVE = 10
GT3X_MAX_DAYS = 15
FORMATS = ("gt3x", "csv", "avro")
Kind = Literal["raw", "epoch"]
OnComplete = Callable[["Retrieval"], Awaitable[None]]


class RequestRefused(Exception):
    """A request the service refuses: a 400 with this text."""


@attrs.define
class Retrieval:
    """One data retrieval request and what it produced."""

    id: str
    kind: Kind
    study_id: int
    subject_id: int
    subject_identifier: str
    file_format: str
    begin: datetime
    end: datetime
    created: datetime
    options: dict[str, Any] = attrs.field(factory=dict)  # epoch settings, as sent
    status: str = "pending"
    started: datetime | None = None
    completed: datetime | None = None
    files: list[dict[str, Any]] = attrs.field(factory=list)  # as the datafiles list gives them
    paths: dict[str, str] = attrs.field(factory=dict)  # data file id -> path on the blob host

    @property
    def active(self) -> bool:
        return self.status in ("pending", "processing")

    def as_json(self) -> dict[str, Any]:
        """The request as ``GET .../{trackingId}`` answers it (dates with 7 digits, +00:00)."""
        body: dict[str, Any] = {
            "fileFormat": self.file_format,
            "id": self.id,
            "studyId": self.study_id,
            "subjectId": self.subject_id,
            # the documents show both spellings; epoch answers here use the capitalised one
            "status": self.status.capitalize() if self.kind == "epoch" else self.status,
            "beginTimestampUtc": offset_seven(self.begin),
            "endTimestampUtc": offset_seven(self.end),
            "createdDateTimeUtc": offset_seven(self.created),
        }
        body |= self.options
        if self.started is not None:
            body["startDateTimeUtc"] = offset_seven(self.started)
        if self.completed is not None:
            body["completedDateTimeUtc"] = offset_seven(self.completed)
        return body


def _utc(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise RequestRefused(f"{name} is required (an ISO 8601 UTC timestamp)")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestRefused(f"{name} is not an ISO 8601 timestamp: {value!r}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class RetrievalService:
    """Requests by tracking id; completion runs in background tasks, ``delay`` seconds long."""

    def __init__(
        self,
        blobs: BlobStore,
        *,
        delay: float = 0.2,
        file_size: int = 256 * 1024,
        seed: int = 0,
        on_complete: OnComplete | None = None,
    ) -> None:
        self.blobs = blobs
        self.delay = delay
        self.file_size = file_size
        self.seed = seed
        self.on_complete = on_complete
        self.requests: dict[str, Retrieval] = {}
        self.refused = 0
        self.peak_active = 0
        self.fail_next = 0  # this many next requests end in "error" (as one cut off at 6 hours)
        self._tasks: set[asyncio.Task[None]] = set()

    def active(self) -> int:
        return sum(r.active for r in self.requests.values())

    def create(self, kind: Kind, body: Any, subject: dict[str, Any] | None) -> Retrieval:
        """Validate a POSTed request as the API does, then start it; refusals raise."""
        if not isinstance(body, dict):
            raise RequestRefused("the request body must be a JSON object")
        file_format = str(body.get("fileFormat", "")).lower()
        if file_format not in FORMATS or (kind == "epoch" and file_format != "csv"):
            allowed = "csv" if kind == "epoch" else ", ".join(FORMATS)
            raise RequestRefused(f"fileFormat must be one of: {allowed}")
        if subject is None:
            raise RequestRefused("studyId and subjectId must name a subject of the study")
        begin = _utc(body.get("beginTimestampUtc"), "beginTimestampUtc")
        end = _utc(body.get("endTimestampUtc"), "endTimestampUtc")
        if end <= begin:
            raise RequestRefused("endTimestampUtc must be after beginTimestampUtc")
        if file_format == "gt3x" and end - begin > timedelta(days=GT3X_MAX_DAYS):
            raise RequestRefused(f"GT3X requests cannot cover more than {GT3X_MAX_DAYS} days")
        options: dict[str, Any] = {}
        if kind == "epoch":
            length = body.get("summaryLengthSeconds")
            if not (isinstance(length, int) and 1 <= length <= 3600):
                raise RequestRefused("summaryLengthSeconds must be between 1 and 3600")
            options = {
                "summaryLengthSeconds": length,
                "includePartialEpochs": bool(body.get("includePartialEpochs", False)),
            }
            if body.get("activityMonitorSerial"):
                options["activityMonitorSerial"] = str(body["activityMonitorSerial"])
        if self.active() >= MAX_ACTIVE:
            self.refused += 1
            raise RequestRefused(
                f"Too many active requests: at most {MAX_ACTIVE} data retrieval requests "
                "can be active at once; wait for one to complete"
            )
        retrieval = Retrieval(
            str(uuid.uuid4()),
            kind,
            subject["studyId"],
            subject["id"],
            subject["subjectIdentifier"],
            # the API echoes formats in its own casing ("Csv" as well as "avro")
            file_format.capitalize() if file_format == "csv" else file_format,
            begin,
            end,
            datetime.now(UTC),
            options,
        )
        self.requests[retrieval.id] = retrieval
        self.peak_active = max(self.peak_active, self.active())
        task = asyncio.get_running_loop().create_task(self._run(retrieval))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return retrieval

    async def _run(self, retrieval: Retrieval) -> None:
        await asyncio.sleep(self.delay / 4)
        retrieval.status = "processing"
        retrieval.started = datetime.now(UTC)
        await asyncio.sleep(self.delay * 3 / 4)
        if self.fail_next > 0:
            self.fail_next -= 1
            retrieval.status = "error"
            retrieval.completed = datetime.now(UTC)
            return
        self._produce(retrieval)
        retrieval.status = "completed"
        retrieval.completed = datetime.now(UTC)
        if self.on_complete is not None:
            await self.on_complete(retrieval)

    def _produce(self, retrieval: Retrieval) -> None:
        """The request's files: its data, and a small JSON summary (as the examples show)."""
        serial = f"TAS1F{retrieval.subject_id % 10**8:08d}"
        stem = f"{retrieval.subject_id}_{serial}_{int(retrieval.begin.timestamp())}"
        stem += f"_{int(retrieval.end.timestamp())}_{retrieval.id[:4]}"
        extension = retrieval.file_format.lower()
        names = [
            (f"{stem}.{extension}", self.file_size),
            (f"{retrieval.subject_id}_{retrieval.id}-0531.json", 296),
        ]
        expires = datetime.now(UTC) + timedelta(days=30)
        container = f"dataretrieval-study-{retrieval.study_id:010d}"
        for name, size in names:
            file_id = str(uuid.uuid4())
            seed = (uuid.UUID(file_id).int ^ self.seed) & 0xFFFFFFFF
            retrieval.paths[file_id] = self.blobs.put(container, BlobFile(name, size, seed))
            retrieval.files.append(
                {
                    "id": file_id,
                    "fileName": name,
                    "expirationDateUtc": offset_seven(expires),
                    "fileSizeBytes": size,
                }
            )

    def file(self, data_file_id: str) -> tuple[Retrieval, dict[str, Any]] | None:
        """The request and the listing entry of a data file, if it exists."""
        for retrieval in self.requests.values():
            for entry in retrieval.files:
                if entry["id"].lower() == data_file_id.lower():
                    return retrieval, entry
        return None

    def download_url(self, data_file_id: str) -> dict[str, Any] | None:
        """``{downloadUrl, expirationDateUtc}`` of a fresh pre-signed link, if the file exists."""
        found = self.file(data_file_id)
        if found is None:
            return None
        retrieval, entry = found
        url, expires = self.blobs.sign(retrieval.paths[entry["id"]])
        return {
            "downloadUrl": url,
            "expirationDateUtc": offset_seven(datetime.fromtimestamp(expires, UTC)),
        }

    def blob(self, data_file_id: str) -> BlobFile:
        """The stored file behind a data file id (for assertions)."""
        found = self.file(data_file_id)
        if found is None:
            raise KeyError(data_file_id)
        retrieval, entry = found
        file = self.blobs.files[retrieval.paths[entry["id"]]]
        assert isinstance(file, BlobFile)  # only data retrieval files are put here by id
        return file

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
