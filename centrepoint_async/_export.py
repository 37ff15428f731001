"""Bulk export of webhook history to JSON Lines or CSV: one writer, resumable, verified.

:func:`export_history` writes ``PATH.part`` and keeps a checkpoint ``PATH.checkpoint``
(replaced atomically after every page, once the page is on disk); at the end ``PATH.part``
becomes ``PATH`` and the checkpoint goes. The integrity rules (one writer under
``PATH.lock``, nothing overwritten by accident, everything checked before the first request, a
checkpoint sealed by a digest and verified against the part, nothing left by a run that wrote
nothing, ids of any JSON type) are those of every export to a path: see
``centrepoint_async._resumable``. What is the history's own:

- **Webhook after webhook.** Each webhook's history is a stream of the checkpoint
  (``"webhooks"``), written in the job's order, one under way at a time.
- **Inserts do not repeat items.** The history is newest first, so deliveries arriving between
  an interruption and the resume push the items already written to higher offsets. A resume
  therefore walks from the saved offset until it meets the last item it wrote, and writes only
  what follows it: each item that existed when the export started is written exactly once, in
  the server's order. Deliveries newer than the export's start belong to the next export
  (:class:`HistoryChangedError` if the last written item cannot be found again).
- **A listing that ends early is said.** The end of a history is its first short page, whatever
  ``totalCount`` says; a webhook that gave fewer items than its ``totalCount`` announced is
  reported in :attr:`ExportResult.shortfalls` (a :class:`Shortfall` each), never silently.

JSON Lines hold each delivery exactly as the API sent it; CSV flattens the typed fields
(:data:`CSV_COLUMNS`).

Errors (all :class:`~centrepoint_async.CentrePointError`)::

    ExportError
    ├── OutputLockedError     another export is writing the same file now
    ├── OutputExistsError     the output or an earlier export's files exist
    ├── OutputPathError       the output cannot be a file there (a directory, no such folder)
    ├── NothingToResumeError  resume=True, but the export finished already
    └── CheckpointError       the checkpoint does not verify against the part or the job
        └── HistoryChangedError  the last written item is no longer in the history
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import attrs
import orjson

from ._client import CentrePointClient, raw_id
from ._deliveries import WebhookDelivery, structure_delivery
from ._exceptions import (
    CheckpointError,
    ConfigurationError,
    ExportError,
    HistoryChangedError,
    NothingToResumeError,
    OutputExistsError,
    OutputLockedError,
    OutputPathError,
)
from ._models import UnknownEvent
from ._pager import AsyncPager
from ._protocol import MAX_PAGE_SIZE, check_count, check_id, check_page_size
from ._resumable import (
    Checkpoint,
    Encoded,
    Id,
    Layout,
    Resume,
    Run,
    Tally,
    Writer,
    as_id,
    remaining,
    write_through,
)

__all__ = [
    "CSV_COLUMNS",
    "CheckpointError",
    "ExportError",
    "ExportResult",
    "HistoryChangedError",
    "NothingToResumeError",
    "OutputExistsError",
    "OutputLockedError",
    "OutputPathError",
    "Shortfall",
    "export_history",
]

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
#: The checkpoint: version 3 (ids of any JSON type, a digest over the fields), one webhook
#: under way at a time.
LAYOUT = Layout(version=3, streams="webhooks", listed="webhook_ids")

CSV_COLUMNS = [
    "id",
    "webhook_id",
    "webhook_event_id",
    "webhook_event",
    "event_name",
    "delivery_id",
    "created_date",
    "last_sent_date",
    "error_message",
    "response_code",
    "failed",
    "payload_type",
    "request_body",
]


# --- validation ----------------------------------------------------------------------------


def _check_format(value: object) -> Format:
    for fmt in FORMATS:
        if value == fmt:
            return fmt
    raise ConfigurationError(f"format must be one of {', '.join(FORMATS)}, got {value!r}")


# --- results and records -------------------------------------------------------------------


@attrs.frozen
class Shortfall:
    """A webhook whose listing ended (a short page) before the total the server announced."""

    webhook_id: int
    expected: int  # items its totalCount announced (those existing when the export began)
    got: int  # items the output holds


@attrs.define
class ExportResult:
    """What an export wrote; updated as it runs (progress callbacks receive it)."""

    items: int = 0  # items written by this run
    pages: int = 0  # pages written by this run
    webhooks: int = 0  # webhooks finished by this run
    resumed_items: int = 0  # items the part held already when this run resumed it
    expected: int | None = None  # the server's totalCount for the whole job: a hint
    #: Webhooks finished by this run with fewer items than their ``totalCount`` announced.
    shortfalls: list[Shortfall] = attrs.field(factory=list)

    @property
    def total_items(self) -> int:
        """Items in the output, those of an interrupted run included."""
        return self.resumed_items + self.items

    @property
    def complete(self) -> bool:
        """True unless a listing ended before its announced total (see :attr:`shortfalls`)."""
        return not self.shortfalls


Progress = Callable[[ExportResult], object]


def csv_row(delivery: WebhookDelivery) -> list[Any]:
    """One CSV row of a delivery (see :data:`CSV_COLUMNS`)."""
    payload = delivery.request.payload
    payload_type = "" if payload is None else type(payload).__name__
    if isinstance(payload, UnknownEvent):
        payload_type = f"UnknownEvent({payload.name})"
    return [
        delivery.id,
        delivery.webhook_id,
        delivery.webhook_event_id,
        delivery.webhook_event,
        delivery.event_name,
        delivery.delivery_id,
        delivery.created_date.isoformat() if delivery.created_date else "",
        delivery.last_sent_date.isoformat() if delivery.last_sent_date else "",
        delivery.error_message or "",
        delivery.response.response_code if delivery.response else "",
        delivery.failed,
        payload_type,
        delivery.request.body,
    ]


def _csv_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def _encode(items: list[Any], fmt: Format) -> tuple[bytes, int]:
    """The items as records of the output format, and the length of the last record."""
    if fmt == "jsonl":
        records = [orjson.dumps(item) + b"\n" for item in items]
        return b"".join(records), len(records[-1])
    rows = [csv_row(structure_delivery(item)) for item in items]
    return _csv_bytes(rows), len(_csv_bytes(rows[-1:]))


def _record_id(record: bytes, fmt: Format) -> Id:
    """The delivery id held by one record, as written by :func:`_encode`."""
    try:
        if fmt == "jsonl":
            item = orjson.loads(record)
            return as_id(item.get("id")) if isinstance(item, dict) else None
        rows = list(csv.reader(io.StringIO(record.decode())))
        return rows[0][0] if len(rows) == 1 and rows[0] else None
    except (orjson.JSONDecodeError, UnicodeDecodeError, csv.Error):
        return None


def _ids(items: list[Any]) -> list[Id]:
    """The ids of written items, as sent (None for an item without one)."""
    return [as_id(raw_id(item)) for item in items]


# --- the public function -------------------------------------------------------------------


async def export_history(
    client: CentrePointClient,
    study_id: int,
    webhook_ids: Sequence[int] | None,
    output: str | os.PathLike[str] | IO[bytes],
    *,
    format: Format = "jsonl",
    concurrency: int = 4,
    page_size: int = MAX_PAGE_SIZE,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the delivery history of ``webhook_ids`` of a study (``None``: all its webhooks).

    Histories are written webhook after webhook, each in the server's order (newest first).
    ``output`` is a path (written through ``PATH.part`` and ``PATH.checkpoint``, see the module
    documentation) or a binary file object (written as is: no lock, no checkpoint, no resume).
    ``resume=True`` continues an interrupted export of the same job; ``overwrite=True``
    replaces an existing output. ``progress(result)`` is called once the expected total is
    known and after every page.

    Raises :class:`ConfigurationError` for invalid arguments, an :class:`ExportError` when the
    output cannot be written or resumed (before any request is sent, except
    :class:`HistoryChangedError`), and the client's errors (``APIError``, ``TransportError``)
    when the server fails for good.
    """
    check_id(study_id, "study_id")
    fmt = _check_format(format)
    paging = {
        "page_size": check_page_size(page_size),
        "concurrency": check_count(concurrency, "concurrency"),
    }
    if resume and overwrite:
        raise ConfigurationError("resume and overwrite exclude each other")
    ids = None if webhook_ids is None else [check_id(w, "webhook_id") for w in webhook_ids]
    if not isinstance(output, str | os.PathLike):
        if resume:
            raise ConfigurationError("resume needs an output path, not a file object")
        return await _export_stream(client, output, study_id, ids, fmt, paging, progress)

    async def begin() -> tuple[dict[str, Any], bytes]:
        hooks = ids if ids is not None else await _list_webhooks(client, study_id)
        return _job(study_id, hooks, fmt), _csv_bytes([CSV_COLUMNS]) if fmt == "csv" else b""

    async def walk(writer: Writer) -> ExportResult:
        hooks = list(writer.checkpoint.job["webhook_ids"])
        return await _walk(client, writer, hooks, paging, progress)

    again = None
    if resume:
        again = Resume(
            LAYOUT,
            lambda hooks: _job(study_id, hooks if ids is None else ids, fmt),
            _describe_job,
            lambda record: _record_id(record, fmt),
        )
    return await write_through(Path(output), Run(LAYOUT, again, overwrite, begin, walk))


async def _export_stream(
    client: CentrePointClient,
    output: IO[bytes],
    study_id: int,
    ids: list[int] | None,
    fmt: Format,
    paging: dict[str, int],
    progress: Progress | None,
) -> ExportResult:
    """The export to a caller's file object: written as is, no lock, no checkpoint."""
    hooks = ids if ids is not None else await _list_webhooks(client, study_id)
    digest = hashlib.sha256()
    checkpoint = Checkpoint(LAYOUT, _job(study_id, hooks, fmt), 0, digest.hexdigest(), 0, {})
    stream = _Stream(output, checkpoint)
    if fmt == "csv":
        stream.write_header(_csv_bytes([CSV_COLUMNS]))
    return await _walk(client, stream, hooks, paging, progress)


def _job(study_id: int, webhook_ids: list[int], fmt: Format) -> dict[str, Any]:
    return {"study_id": study_id, "webhook_ids": webhook_ids, "format": fmt}


async def _list_webhooks(client: CentrePointClient, study_id: int) -> list[int]:
    return [hook.id for hook in await client.webhooks.list(study_id).collect()]


def _describe_job(job: dict[str, Any]) -> str:
    return (
        f"study {job.get('study_id')}, webhooks {job.get('webhook_ids')}, "
        f"format {job.get('format')}"
    )


# --- the walk --------------------------------------------------------------------------------


@attrs.define
class _Stream:
    """A writer to a caller's file object: no checkpoint, nothing to save."""

    out: IO[bytes]
    checkpoint: Checkpoint

    def write_header(self, header: bytes) -> None:
        self.out.write(header)

    def write_page(self, webhook_id: int, page: Encoded) -> None:
        self.out.write(page.data)
        self.checkpoint.advance(webhook_id, page)

    def save(self) -> None:
        self.out.flush()


async def _walk(
    client: CentrePointClient,
    writer: Writer | _Stream,
    webhook_ids: list[int],
    paging: dict[str, int],
    progress: Progress | None,
) -> ExportResult:
    """Write every webhook's pages from where it stands, saving after each page."""
    checkpoint = writer.checkpoint
    study_id = int(checkpoint.job["study_id"])
    result = ExportResult(resumed_items=checkpoint.items_written())
    if progress is not None:
        result.expected = await _expected(client, study_id, webhook_ids, checkpoint)
        progress(result)
    for webhook_id in webhook_ids:
        state = checkpoint.state(webhook_id)
        if state.done:
            continue
        tally = Tally(got=state.items)

        def history_at(offset: int, webhook_id: int = webhook_id) -> AsyncPager[Any]:
            return client.webhooks.raw_history(study_id, webhook_id, offset=offset, **paging)

        def gone(anchor: Id, start: int, webhook_id: int = webhook_id) -> str:
            return (
                f"item {anchor}, the last one written of webhook {webhook_id}, is no longer in "
                f"its history at or after offset {start}; the export cannot continue without "
                "a gap"
            )

        async for items, end in remaining(history_at, state, raw_id, tally, gone):
            data, last_length = await asyncio.to_thread(_encode, items, checkpoint.job["format"])
            writer.write_page(webhook_id, Encoded(data, last_length, _ids(items), end, len(items)))
            await asyncio.to_thread(writer.save)
            tally.got += len(items)
            result.items += len(items)
            result.pages += 1
            if progress is not None:
                progress(result)
        checkpoint.finish(webhook_id)
        await asyncio.to_thread(writer.save)
        result.webhooks += 1
        if tally.expected is not None and tally.got < tally.expected:
            result.shortfalls.append(Shortfall(webhook_id, tally.expected, tally.got))
    return result


async def _expected(
    client: CentrePointClient, study_id: int, webhook_ids: list[int], checkpoint: Checkpoint
) -> int | None:
    """The job's size by the server's ``totalCount`` (one small request per webhook left)."""
    total = 0
    for webhook_id in webhook_ids:
        state = checkpoint.state(webhook_id)
        if state.done:
            total += state.items
            continue
        async for page in client.webhooks.raw_history(
            study_id, webhook_id, page_size=1, max_items=1
        ).pages():
            if page.total_count is None:
                return None
            total += page.total_count
    return total
