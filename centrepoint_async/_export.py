"""Bulk export of webhook history to JSON Lines or CSV, resumable, never a truncated line.

Output goes to ``PATH.part`` first, with a checkpoint ``PATH.checkpoint`` (JSON) rewritten
atomically after every page: where each webhook stands and how many bytes of ``PATH.part`` are
complete. ``resume=True`` cuts ``PATH.part`` back to that length (dropping any half-written
line) and continues every webhook from its offset. At the end ``PATH.part`` becomes ``PATH``
and the checkpoint is removed. JSON Lines hold each delivery exactly as the API sent it; CSV
flattens the typed fields.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import attrs
import orjson

from ._client import CentrePointClient
from ._deliveries import WebhookDelivery, structure_delivery
from ._exceptions import ConfigurationError
from ._models import UnknownEvent
from ._protocol import history_path

__all__ = ["CSV_COLUMNS", "ExportResult", "export_history"]

Format = Literal["jsonl", "csv"]
Progress = Callable[[int], object]

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


@attrs.define
class ExportResult:
    """What an export wrote."""

    items: int = 0
    pages: int = 0
    webhooks: int = 0


def _raw(item: Any) -> Any:
    return item


def _item_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


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


def _encode(items: list[Any], fmt: Format) -> bytes:
    if fmt == "jsonl":
        return b"".join(orjson.dumps(item) + b"\n" for item in items)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(csv_row(structure_delivery(item)) for item in items)
    return buffer.getvalue().encode()


def _csv_header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(CSV_COLUMNS)
    return buffer.getvalue().encode()


def _write_json_atomic(path: Path, data: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _resume_point(
    target: Path, part: Path, checkpoint_path: Path, job: dict[str, Any]
) -> tuple[dict[str, int], int]:
    """Where an interrupted export stands: offsets by webhook, and complete bytes of the part."""
    if not checkpoint_path.exists():
        if target.exists():
            raise ConfigurationError(f"{target} is already complete; nothing to resume")
        return {}, 0  # interrupted before its first page: start over
    try:
        saved = orjson.loads(checkpoint_path.read_bytes())
        offsets, size = dict(saved["offsets"]), int(saved["bytes"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ConfigurationError(f"{checkpoint_path} is not a checkpoint we wrote") from None
    if saved.get("job") != job:
        raise ConfigurationError(
            f"{checkpoint_path} is for another export ({saved.get('job')}); "
            "run without --resume to start over"
        )
    if not part.exists():
        if target.exists():  # stopped between the rename and removing the checkpoint
            checkpoint_path.unlink()
            raise ConfigurationError(f"{target} is already complete; nothing to resume")
        return {}, 0
    if part.stat().st_size < size:
        raise ConfigurationError(f"{part} is shorter than its checkpoint says; start over")
    return offsets, size


async def export_history(
    client: CentrePointClient,
    study_id: int,
    webhook_ids: Sequence[int],
    output: Path | Literal["-"],
    *,
    fmt: Format = "jsonl",
    concurrency: int = 4,
    page_size: int = 100,
    resume: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the history of ``webhook_ids`` of a study, webhook after webhook, in order.

    ``output`` ``"-"`` writes to standard output (no checkpoint, so no resume).
    """
    walk = functools.partial(
        _export,
        client,
        study_id,
        webhook_ids,
        fmt=fmt,
        concurrency=concurrency,
        page_size=page_size,
        progress=progress,
    )
    if output == "-":
        if resume:
            raise ConfigurationError("--resume needs an output file, not standard output")
        return await walk(sys.stdout.buffer, None, {})
    target = Path(output)
    part = target.with_name(target.name + ".part")
    checkpoint_path = target.with_name(target.name + ".checkpoint")
    job = {"study_id": study_id, "webhook_ids": list(webhook_ids), "format": fmt}
    offsets, size = _resume_point(target, part, checkpoint_path, job) if resume else ({}, 0)
    mode = "r+b" if size else "wb"
    with open(part, mode) as handle:  # noqa: ASYNC230 (local file; fsync runs in a thread)
        handle.truncate(size)  # a half-written line after the checkpoint goes
        handle.seek(size)
        if size == 0 and fmt == "csv":
            handle.write(_csv_header())

        def save(state: dict[str, int]) -> None:
            handle.flush()
            os.fsync(handle.fileno())
            _write_json_atomic(
                checkpoint_path, {"job": job, "offsets": state, "bytes": handle.tell()}
            )

        result = await walk(handle, save, offsets)
    os.replace(part, target)
    checkpoint_path.unlink(missing_ok=True)
    return result


async def _export(
    client: CentrePointClient,
    study_id: int,
    webhook_ids: Sequence[int],
    out: IO[bytes],
    save: Callable[[dict[str, int]], None] | None,
    offsets: dict[str, int],
    *,
    fmt: Format,
    concurrency: int,
    page_size: int,
    progress: Progress | None,
) -> ExportResult:
    """Write each webhook's pages to ``out`` from its offset; ``save`` the state after each."""
    result = ExportResult()
    state = dict(offsets)
    for webhook_id in webhook_ids:
        key = str(webhook_id)
        if state.get(key) == -1:
            continue  # finished before the interruption
        pager = client.paginate(
            history_path(study_id, webhook_id),
            _raw,
            page_size=page_size,
            offset=state.get(key, 0),
            concurrency=concurrency,
            key=_item_id,
        )
        async for page in pager.pages():
            out.write(_encode(page.items, fmt))
            result.items += len(page.items)
            result.pages += 1
            state[key] = pager.resume_offset
            if save is not None:
                await asyncio.to_thread(save, dict(state))
            if progress is not None:
                progress(len(page.items))
        state[key] = -1  # done
        result.webhooks += 1
        if save is not None:
            await asyncio.to_thread(save, dict(state))
    out.flush()
    return result
