"""From an event to the data: ``client.data_retrieval``.

The documented workflow (ActiGraph's Raw Activity Data Request and Epoch Data Requests pages):
``raw_processing_complete`` -> ``POST /dataretrieval/v3/RawActivityRequests`` -> (poll
``GET .../{trackingId}`` or wait for ``data_retrieval_complete``) -> ``GET .../datafiles`` (a
plain array) -> ``GET /dataretrieval/v3/DataFiles/{id}/downloadurl`` -> download from the
storage host. :meth:`DataRetrieval.fetch_raw` runs all of it.

**POST is not retried blindly.** Creating a request is not idempotent: sent twice it makes two
requests, each holding one of the account's :data:`MAX_ACTIVE` slots for up to six hours. So a
create is sent again only when it surely never reached the server (a failed connect, a 429) or
the server refused it for the ceiling (``fetch_raw`` waits and tries again). Any other failure
(a timeout or reset after sending, a 5xx) is raised, not retried: the API has no way to list
one's requests, so a lost answer cannot be checked, and a duplicate is worse than an error the
caller sees. Everything after the create is a GET, retried as usual.

Scope ``DataRetrieval`` (asked for by the client on its own, unless ``scopes=`` says otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from . import _endpoints as ep
from ._download import MIN_RATE, Link, destination, download_file
from ._endpoints import Caller
from ._exceptions import (
    APIError,
    ConfigurationError,
    DataRetrievalError,
    DecodeError,
)
from ._files import unique_names
from ._models import DataRetrievalCompleteEvent
from ._namespaces import Namespace
from ._protocol import check_id
from ._resources import DataRetrievalFile, DataRetrievalRequest, DownloadUrl
from ._retry import backoff

__all__ = [
    "GT3X_MAX_SPAN",
    "MAX_ACTIVE",
    "DataRetrieval",
    "DataRetrievalError",
    "split_range",
]

log = logging.getLogger("centrepoint_async")
Kind = Literal["raw", "epoch"]

#: At most this many data retrieval requests of an account may be active at once.
MAX_ACTIVE = 10
#: A GT3X request covers at most this long.
GT3X_MAX_SPAN = timedelta(days=15)
FORMATS = ("csv", "avro", "gt3x")


def _utc_text(value: datetime, name: str) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(f"{name} must be an aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def split_range(
    begin: datetime, end: datetime, span: timedelta = GT3X_MAX_SPAN
) -> list[tuple[datetime, datetime]]:
    """``begin``..``end`` cut into consecutive pieces of at most ``span`` (40 days: 15+15+10)."""
    if end <= begin:
        raise ConfigurationError(f"end ({end}) must be after begin ({begin})")
    pieces = []
    while begin < end:
        pieces.append((begin, min(begin + span, end)))
        begin += span
    return pieces


def _is_ceiling(exc: APIError) -> bool:
    """True if the server refused a create because too many requests are active."""
    return exc.status in (400, 409, 429) and "active" in exc.body.lower()


def _requests(kind: Kind) -> tuple[ep.Endpoint[DataRetrievalRequest], ep.Endpoint[Any]]:
    """The declarations of a kind of request: its state, and its files."""
    if kind == "raw":
        return ep.RAW_REQUEST, ep.RAW_REQUEST_FILES
    if kind == "epoch":
        return ep.EPOCH_REQUEST, ep.EPOCH_REQUEST_FILES
    raise ConfigurationError(f"kind must be 'raw' or 'epoch', got {kind!r}")


class DataRetrieval(Namespace):
    """``client.data_retrieval``: raw and epoch data requests, their files, downloads.

    ``fetch_raw`` keeps at most ``MAX_ACTIVE`` of this client's requests active (more wait
    their turn); hand it ``data_retrieval_complete`` events with :meth:`notify` to finish
    without polling.
    """

    __slots__ = ("_slots", "_waiters")

    def __init__(self, client: Caller) -> None:
        super().__init__(client)
        self._slots = asyncio.Semaphore(MAX_ACTIVE)
        self._waiters: dict[str, asyncio.Event] = {}

    # --- the endpoints ---------------------------------------------------------------------

    async def _create(self, kind: Kind, body: dict[str, Any]) -> DataRetrievalRequest:
        # not idempotent: resent only when it never reached the server (module docstring)
        endpoint = ep.RAW_REQUEST_CREATE if kind == "raw" else ep.EPOCH_REQUEST_CREATE
        created: DataRetrievalRequest = await endpoint.call(self._client, json=body)
        return created

    async def request_raw(
        self,
        study_id: int,
        subject_id: int,
        begin: datetime,
        end: datetime,
        *,
        file_format: str = "csv",
    ) -> DataRetrievalRequest:
        """Ask for a subject's raw data from ``begin`` to ``end`` (aware datetimes).

        ``file_format``: ``csv``, ``avro`` or ``gt3x`` (at most 15 days). Raises
        :class:`BadRequestError` if refused (also for the 10-active ceiling: ``fetch_raw``
        waits for room instead).
        """
        if file_format.lower() not in FORMATS:
            raise ConfigurationError(f"file_format must be one of {FORMATS}, got {file_format!r}")
        body = {
            "fileFormat": file_format.lower(),
            "studyId": check_id(study_id, "study_id"),
            "subjectId": check_id(subject_id, "subject_id"),
            "beginTimestampUtc": _utc_text(begin, "begin"),
            "endTimestampUtc": _utc_text(end, "end"),
        }
        return await self._create("raw", body)

    async def request_epoch(
        self,
        study_id: int,
        subject_id: int,
        begin: datetime,
        end: datetime,
        *,
        summary_length_seconds: int = 60,
        include_partial_epochs: bool = False,
        activity_monitor_serial: str | None = None,
    ) -> DataRetrievalRequest:
        """Ask for epoch summaries (csv) of ``summary_length_seconds`` (1 to 3600)."""
        if not (isinstance(summary_length_seconds, int) and 1 <= summary_length_seconds <= 3600):
            raise ConfigurationError("summary_length_seconds must be an integer from 1 to 3600")
        body: dict[str, Any] = {
            "fileFormat": "csv",
            "summaryLengthSeconds": summary_length_seconds,
            "includePartialEpochs": include_partial_epochs,
            "studyId": check_id(study_id, "study_id"),
            "subjectId": check_id(subject_id, "subject_id"),
            "beginTimestampUtc": _utc_text(begin, "begin"),
            "endTimestampUtc": _utc_text(end, "end"),
        }
        if activity_monitor_serial:
            body["activityMonitorSerial"] = activity_monitor_serial
        return await self._create("epoch", body)

    async def get(self, tracking_id: str, *, kind: Kind = "raw") -> DataRetrievalRequest:
        """A request's current state (``kind="epoch"`` for epoch requests)."""
        state: DataRetrievalRequest = await _requests(kind)[0].call(self._client, tracking_id)
        return state

    async def files(self, tracking_id: str, *, kind: Kind = "raw") -> list[DataRetrievalFile]:
        """The files of a completed request (the API answers a plain array)."""
        files: list[DataRetrievalFile] = await _requests(kind)[1].call(self._client, tracking_id)
        return files

    async def download_url(self, data_file_id: str) -> DownloadUrl:
        """A fresh pre-signed link to a data file (valid for about two minutes)."""
        path = ep.DOWNLOAD_URL.fill((data_file_id,))
        parse = ep.DOWNLOAD_URL.read(f"GET {path}")

        def read(data: Any) -> DownloadUrl:
            link: DownloadUrl = parse(data)
            if not link.download_url.startswith(("https://", "http://")):
                raise DecodeError(f"GET {path}: the answer has no download URL")
            return link

        found: DownloadUrl = await self._client.request("GET", path, read=read)
        return found

    # --- downloads --------------------------------------------------------------------------

    async def download(
        self,
        data_file: DataRetrievalFile,
        dest: str | os.PathLike[str],
        *,
        max_attempts: int = 8,
        read_timeout: float = 60.0,
        min_rate: float = MIN_RATE,
    ) -> Path:
        """Download a file to ``dest`` (a file path, or a directory to keep its ``fileName``).

        Streamed to ``<name>.part`` and resumed with ``Range`` after a failure (and a part
        left by an earlier run of the same file); an expired link is renewed through
        ``downloadurl``; the bearer token never goes to the storage host; the size is checked
        against ``fileSizeBytes`` (and a ``.gz`` / ``.avro`` by its content) before an atomic
        rename. A server-given name that is unsafe (``..``, a path separator, a control
        character) is a :class:`DecodeError` before anything is written. Raises
        :class:`DownloadError` when ``max_attempts`` tries in a row fail, or the download keeps
        under ``min_rate`` bytes a second; a connection with no byte for ``read_timeout``
        seconds is given up and resumed.
        """
        path = destination(dest, data_file.file_name or data_file.id)

        async def renew() -> Link:
            fresh = await self.download_url(data_file.id)
            return Link(fresh.download_url, fresh.expiration_date_utc)

        # the client's session carries no credentials (_send adds the token to API requests
        # only); download_file does not use a caller's session with default credentials
        done = await download_file(
            self._client.storage_session(),
            path,
            renew,
            expected_size=data_file.file_size_bytes,
            version=f"data retrieval file {data_file.id}, {data_file.file_size_bytes} bytes",
            max_attempts=max_attempts,
            read_timeout=read_timeout,
            min_rate=min_rate,
            proxy_for=self._client.storage_proxy,
        )
        return done.path

    async def download_all(
        self,
        tracking_id: str,
        directory: str | os.PathLike[str],
        *,
        concurrency: int = 4,
        kind: Kind = "raw",
    ) -> list[Path]:
        """Download every file of a completed request into ``directory``, ``concurrency`` at a
        time; returns their paths in the listing's order.

        Every name is checked before anything is written (an unsafe one is a
        :class:`DecodeError`). Two files listed under one name (compared case-insensitively)
        are kept apart: the first keeps it, a later one gets its id before the extension
        (``a.csv`` -> ``a.<id>.csv``). On the first failure the
        other downloads are cancelled (their parts stay, to be continued) and it is raised.
        """
        if not (isinstance(concurrency, int) and concurrency >= 1):
            raise ConfigurationError(f"concurrency must be a positive integer, got {concurrency!r}")
        folder = Path(directory)
        files = await self.files(tracking_id, kind=kind)
        names = unique_names((f.id, f.file_name) for f in files)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        gate = asyncio.Semaphore(concurrency)

        async def one(data_file: DataRetrievalFile, name: str) -> Path:
            async with gate:
                return await self.download(data_file, folder / name)

        jobs: dict[Path, asyncio.Task[Path]] = {}
        for data_file, name in zip(files, names, strict=True):
            if folder / name not in jobs:  # the same file listed twice: fetched once
                jobs[folder / name] = asyncio.create_task(one(data_file, name))
        try:
            await asyncio.gather(*jobs.values())
        finally:
            for job in jobs.values():
                job.cancel()
            await asyncio.gather(*jobs.values(), return_exceptions=True)
        return [folder / name for name in names]

    # --- the whole flow ----------------------------------------------------------------------

    def notify(self, event: DataRetrievalCompleteEvent) -> bool:
        """Hand over a ``data_retrieval_complete`` event (from a webhook receiver).

        A ``fetch_raw`` waiting for that request stops waiting and checks it at once. True if
        one was waiting.
        """
        waiter = self._waiters.get((event.tracking_id or "").lower())
        if waiter is None:
            return False
        waiter.set()
        return True

    async def wait(
        self,
        tracking_id: str,
        *,
        kind: Kind = "raw",
        wait: Literal["poll", "event"] = "poll",
        poll_interval: float = 2.0,
        max_poll_interval: float = 60.0,
        timeout: float = 6 * 3600.0,
    ) -> DataRetrievalRequest:
        """Wait until a request is completed; returns it, or raises :class:`DataRetrievalError`.

        ``wait="poll"``: ask its status with exponential backoff from ``poll_interval`` to
        ``max_poll_interval``. ``wait="event"``: expect :meth:`notify` and check at once when
        it comes, polling only every ``max_poll_interval`` in case the event is lost. The API
        cancels a request still running after six hours (the default ``timeout``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval = max_poll_interval if wait == "event" else poll_interval
        polls = 0
        waiter = self._waiters.setdefault(tracking_id.lower(), asyncio.Event())
        try:
            while True:
                request = await self.get(tracking_id, kind=kind)
                if request.state == "completed":
                    return request
                if request.state == "error":
                    raise DataRetrievalError(f"request {tracking_id} ended in error", tracking_id)
                left = deadline - loop.time()
                if left <= 0:
                    raise DataRetrievalError(
                        f"request {tracking_id} still {request.state} after {timeout:g} s",
                        tracking_id,
                    )
                waiter.clear()
                polls += 1
                pause = backoff(polls, initial=interval, maximum=max_poll_interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), min(pause, left))
        finally:
            self._waiters.pop(tracking_id.lower(), None)

    async def _create_when_room(
        self, create: Callable[[], Awaitable[DataRetrievalRequest]], retry_interval: float
    ) -> DataRetrievalRequest:
        """``create()``, waiting while the server says too many requests are active
        (other programs of the account may hold slots this client does not know of)."""
        refusals = 0
        while True:
            try:
                return await create()
            except APIError as exc:
                if not _is_ceiling(exc):
                    raise
                refusals += 1
                pause = backoff(refusals, initial=retry_interval, maximum=60.0)
                log.info("data retrieval ceiling reached; trying again in %.1f s", pause)
                await asyncio.sleep(pause)

    async def fetch_raw(
        self,
        study_id: int,
        subject_id: int,
        begin: datetime,
        end: datetime,
        directory: str | os.PathLike[str],
        *,
        file_format: str = "csv",
        wait: Literal["poll", "event"] = "poll",
        poll_interval: float = 2.0,
        max_poll_interval: float = 60.0,
        timeout: float = 6 * 3600.0,
        concurrency: int = 4,
    ) -> list[Path]:
        """Request a subject's raw data, wait for it, download every file; returns the paths.

        A GT3X range over 15 days becomes several requests. At most ``MAX_ACTIVE`` requests of
        this client are active at once (the rest queue), and a refusal for the ceiling is
        waited out, never raised. ``wait``: see :meth:`wait`.
        """
        span = GT3X_MAX_SPAN if file_format.lower() == "gt3x" else end - begin
        pieces = split_range(begin, end, span)

        async def piece(start: datetime, stop: datetime) -> list[Path]:
            async with self._slots:  # held while the request is active on the server
                request = await self._create_when_room(
                    lambda: self.request_raw(
                        study_id, subject_id, start, stop, file_format=file_format
                    ),
                    poll_interval,
                )
                await self.wait(
                    request.id,
                    wait=wait,
                    poll_interval=poll_interval,
                    max_poll_interval=max_poll_interval,
                    timeout=timeout,
                )
            return await self.download_all(request.id, directory, concurrency=concurrency)

        results = await asyncio.gather(*(piece(a, b) for a, b in pieces))
        return [path for paths in results for path in paths]
