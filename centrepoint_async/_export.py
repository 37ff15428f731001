"""Bulk export of webhook history to JSON Lines or CSV: one writer, resumable, verified.

:func:`export_history` writes ``PATH.part`` and keeps a checkpoint ``PATH.checkpoint``
(JSON, replaced atomically after every page, once the page is on disk). At the end ``PATH.part``
becomes ``PATH`` and the checkpoint goes. The rules it keeps:

- **One writer.** ``PATH.lock`` is locked (``flock`` on POSIX, ``msvcrt.locking`` on Windows)
  for the whole run; a second export of the same file fails at once with
  :class:`OutputLockedError` naming the holder. The system drops the lock of a dead process,
  so a ``kill -9`` leaves nothing to clean up.
- **Nothing overwritten by accident.** Without ``resume=True`` an existing ``PATH``, part or
  checkpoint is refused (:class:`OutputExistsError`) unless ``overwrite=True``.
- **Checked before the first request.** ``PATH`` must name a file in a writable directory
  (:class:`OutputPathError`); the lock file and the checkpoint are written before any request.
- **A checkpoint proves itself.** It records the job (study, webhooks, format), how many bytes
  of the part are complete with their SHA-256, where the last record starts and the id it holds,
  and per webhook its offset, item count, whether it is done and the ids of its last page; a
  ``digest`` (SHA-256 of all those fields) covers the checkpoint itself, so a field edited by
  hand (``"done": true``) is refused. ``resume=True`` verifies all of it against the part
  before changing a byte; anything that does not fit is a :class:`CheckpointError`, and the
  part is left as it was.
- **Nothing left behind by a run that wrote nothing.** A new export that fails (or is
  interrupted) before writing its first item removes its part and checkpoint: the same
  command, corrected, starts cleanly.
- **Ids are ids**, whatever their JSON type: ``"362288"`` and ``362288`` are the same item to a
  resume.
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
import errno
import hashlib
import hmac
import io
import os
from collections.abc import AsyncIterator, Callable, Sequence
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
from ._lock import LockHeld, OutputLock
from ._models import UnknownEvent
from ._protocol import MAX_PAGE_SIZE, check_count, check_id, check_page_size

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
CHECKPOINT_VERSION = 3  # 3: ids of any JSON type, and a digest over the fields

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


# --- errors ------------------------------------------------------------------------------


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


#: An item's id as the API sent it: a JSON number or string (None: it has none).
Id = int | str | None


def _as_id(value: object) -> Id:
    """``value`` if it can be an id (an int, not a bool, or a str), else None."""
    return value if type(value) is int or isinstance(value, str) else None


def _same_id(a: object, b: object) -> bool:
    """Ids are ids whatever their JSON type: ``"362288"`` is ``362288``; None matches nothing."""
    x, y = _as_id(a), _as_id(b)
    return x is not None and y is not None and str(x) == str(y)


def _record_id(record: bytes, fmt: Format) -> Id:
    """The delivery id held by one record, as written by :func:`_encode`."""
    try:
        if fmt == "jsonl":
            item = orjson.loads(record)
            return _as_id(item.get("id")) if isinstance(item, dict) else None
        rows = list(csv.reader(io.StringIO(record.decode())))
        return rows[0][0] if len(rows) == 1 and rows[0] else None
    except (orjson.JSONDecodeError, UnicodeDecodeError, csv.Error):
        return None


def _ids(items: list[Any]) -> list[Id]:
    """The ids of written items, as sent (None for an item without one)."""
    return [_as_id(raw_id(item)) for item in items]


# --- the checkpoint ------------------------------------------------------------------------


@attrs.define
class _HookState:
    """Where one webhook's history stands."""

    offset: int = 0  # listing position just past the last item written
    items: int = 0  # items written
    last_ids: list[Id] = attrs.field(factory=list)  # ids of the last page written, in order
    done: bool = False


@attrs.frozen
class _Encoded:
    """One page as written: its records, the last record's length, the ids, the next offset."""

    data: bytes
    last_length: int
    ids: list[Id]
    end: int


@attrs.define
class _Checkpoint:
    """The checkpoint file's content (see the module docstring)."""

    job: dict[str, Any]
    size: int  # complete bytes of the part
    sha256: str  # of those bytes
    last_start: int  # where the last complete record starts (== size when there is none)
    hooks: dict[int, _HookState]

    def advance(self, webhook_id: int, page: _Encoded) -> None:
        """Record a page of ``webhook_id`` as written."""
        state = self.hooks.setdefault(webhook_id, _HookState())
        state.offset, state.items, state.last_ids = page.end, state.items + len(page.ids), page.ids

    def finish(self, webhook_id: int) -> None:
        """Record webhook ``webhook_id`` as complete."""
        self.hooks.setdefault(webhook_id, _HookState()).done = True

    def items_written(self) -> int:
        """Items the part holds, by the webhooks' counts."""
        return sum(state.items for state in self.hooks.values())

    def to_json(self) -> bytes:
        fields = {
            "version": CHECKPOINT_VERSION,
            "job": self.job,
            "bytes": self.size,
            "sha256": self.sha256,
            "last_record_start": self.last_start,
            "webhooks": {str(k): attrs.asdict(v) for k, v in self.hooks.items()},
        }
        return orjson.dumps(fields | {"digest": _digest(fields)}, option=orjson.OPT_INDENT_2)


def _digest(fields: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's fields (its ``digest`` excluded), keys sorted: its own seal."""
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _count(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{where}{key} is {value!r}, not a count")


def _parse_checkpoint(raw: bytes) -> _Checkpoint:
    """Read a checkpoint strictly: every field present and of its type, else ValueError."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("it is not JSON") from None
    if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"it is not a version-{CHECKPOINT_VERSION} checkpoint of centrepoint-async "
            "(an older version wrote it, or it is not one)"
        )
    seal = data.pop("digest", None)
    if not (isinstance(seal, str) and hmac.compare_digest(seal, _digest(data))):
        raise ValueError("its fields do not match its digest: it was changed after it was written")
    job, hooks, digest = data.get("job"), data.get("webhooks"), data.get("sha256")
    if not isinstance(job, dict) or not isinstance(hooks, dict):
        raise ValueError("job or webhooks is missing")
    if not (isinstance(digest, str) and len(digest) == 64):
        raise ValueError(f"sha256 is {digest!r}, not a SHA-256 digest")
    states: dict[int, _HookState] = {}
    for key, entry in hooks.items():
        if not (key.isascii() and key.isdigit() and isinstance(entry, dict)):
            raise ValueError(f"webhook {key!r} has no readable state")
        where = f"webhook {key}: "
        last_ids = entry.get("last_ids")
        if not (isinstance(last_ids, list) and all(_as_id(i) == i for i in last_ids)):
            raise ValueError(f"{where}last_ids is {last_ids!r}, not a list of ids")
        done = entry.get("done")
        if not isinstance(done, bool):
            raise ValueError(f"{where}done is {done!r}")
        states[int(key)] = _HookState(
            _count(entry, "offset", where), _count(entry, "items", where), last_ids, done
        )
    size = _count(data, "bytes", "")
    last_start = _count(data, "last_record_start", "")
    if last_start > size:
        raise ValueError(f"last_record_start {last_start} is past bytes {size}")
    return _Checkpoint(job, size, digest, last_start, states)


def _check_states(checkpoint: _Checkpoint, webhook_ids: list[int]) -> None:
    """Webhooks are exported in order: finished ones, at most one under way, then the rest."""
    unknown = set(checkpoint.hooks) - set(webhook_ids)
    if unknown:
        raise ValueError(f"it has webhooks {sorted(unknown)} the job does not list")
    states = [checkpoint.hooks.get(w, _HookState()) for w in webhook_ids]
    started = [s for s in states if s.done or s.items]
    if any(s.done for s in started[1:]) and not all(s.done for s in started[:-1]):
        raise ValueError("its webhooks are not finished in the job's order")
    if any(not s.done for s in started[:-1]):
        raise ValueError("more than one webhook is under way")
    for webhook_id, state in zip(webhook_ids, states, strict=True):
        if (state.items == 0) != (not state.last_ids) or len(state.last_ids) > state.items:
            raise ValueError(f"webhook {webhook_id}: last_ids do not fit its item count")
        if state.offset < state.items:
            raise ValueError(f"webhook {webhook_id}: offset {state.offset} < its item count")
    last = next((s for s in reversed(states) if s.items), None)
    if (last is None) != (checkpoint.last_start == checkpoint.size):
        raise ValueError("last_record_start does not fit the items written")


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _hash_prefix(path: Path, size: int) -> hashlib._Hash:
    """SHA-256 of the first ``size`` bytes of ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while size and (block := handle.read(min(size, 1 << 20))):  # 1 MiB at a time
            digest.update(block)
            size -= len(block)
    return digest


def _read_range(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read(end - start)


# --- the files of one export -----------------------------------------------------------------


@attrs.define
class _Files:
    """The output and its companions: ``PATH.part``, ``PATH.checkpoint``, ``PATH.lock``."""

    target: Path
    part: Path = attrs.field(init=False)
    checkpoint: Path = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.part = self.target.with_name(self.target.name + ".part")
        self.checkpoint = self.target.with_name(self.target.name + ".checkpoint")

    def refuse_leftovers(self, overwrite: bool) -> None:
        """Raise :class:`OutputExistsError` if the output or an earlier export's files exist,
        unless ``overwrite``."""
        leftovers = [p for p in (self.target, self.part, self.checkpoint) if p.exists()]
        if leftovers and not overwrite:
            names = ", ".join(p.name for p in leftovers)
            what = "exists" if leftovers == [self.target] else f"has an earlier export ({names})"
            raise OutputExistsError(f"{self.target} {what}; not overwritten", path=self.target)

    def start(self, job: dict[str, Any]) -> tuple[_Checkpoint, hashlib._Hash]:
        """A new part (holding the CSV header, if any) and its first checkpoint's content."""
        self.discard()
        header = _csv_bytes([CSV_COLUMNS]) if job["format"] == "csv" else b""
        self.part.write_bytes(header)
        return _Checkpoint(job, len(header), "", len(header), {}), hashlib.sha256(header)

    def discard(self) -> None:
        """Remove the part and the checkpoint (the output itself is never touched)."""
        self.checkpoint.unlink(missing_ok=True)
        self.part.unlink(missing_ok=True)

    def check_path(self) -> None:
        """Raise :class:`OutputPathError` unless ``target`` can be a file we write."""
        target = self.target
        if target.is_dir():
            raise OutputPathError(f"{target} is a directory, not a file", path=target)
        if not target.parent.is_dir():
            raise OutputPathError(f"{target.parent} is not an existing directory", path=target)
        if target.exists() and not target.is_file():
            raise OutputPathError(f"{target} exists and is not a regular file", path=target)


@attrs.define
class _Writer:
    """Appends records to the part, keeps its hash, and saves the checkpoint after each page."""

    files: _Files
    handle: IO[bytes]
    checkpoint: _Checkpoint
    digest: hashlib._Hash
    cut: bool = False  # bytes past the checkpoint (a line cut by a crash) were dropped

    def _cut(self) -> None:
        if not self.cut:
            # only once there is something to write: a resume that fails before that (the
            # history changed, the server is down) leaves the part exactly as it found it
            self.handle.truncate(self.checkpoint.size)
            self.cut = True

    def write_page(self, webhook_id: int, page: _Encoded) -> None:
        """Write one page of records and record webhook ``webhook_id``'s new position."""
        self._cut()
        self.handle.write(page.data)
        self.digest.update(page.data)
        self.checkpoint.last_start = self.checkpoint.size + len(page.data) - page.last_length
        self.checkpoint.size += len(page.data)
        self.checkpoint.advance(webhook_id, page)

    def save(self) -> None:
        """Make the part durable, then the checkpoint that describes it."""
        self._cut()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.checkpoint.sha256 = self.digest.hexdigest()
        _write_atomic(self.files.checkpoint, self.checkpoint.to_json())


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
    files = _Files(Path(output))
    files.check_path()
    lock = _lock(files)
    try:
        return await _export_file(
            client, files, study_id, ids, fmt, paging, resume, overwrite, progress
        )
    finally:
        lock.release()


def _lock(files: _Files) -> OutputLock:
    """The output's lock, taken; an :class:`ExportError` (or a disk's OSError) if it cannot be."""
    lock = OutputLock(files.target)
    try:
        lock.acquire()
    except LockHeld as held:
        raise OutputLockedError(files.target, held.holder) from None
    except OSError as exc:
        if exc.errno not in _PATH_ERRORS:  # a full disk, an I/O error: not the path's fault
            raise OSError(exc.errno, f"cannot write {lock.lock_path}: {exc.strerror}") from None
        raise OutputPathError(
            f"cannot create files in {files.target.parent}: {exc.strerror}", path=files.target
        ) from None
    return lock


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
    checkpoint = _Checkpoint(_job(study_id, hooks, fmt), 0, digest.hexdigest(), 0, {})
    stream = _Stream(output, checkpoint, digest)
    if fmt == "csv":
        stream.write_header(_csv_bytes([CSV_COLUMNS]))
    return await _walk(client, stream, hooks, paging, progress)


# errors that say the output's place is wrong, not that the disk or the machine failed
_PATH_ERRORS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR}
)


def _job(study_id: int, webhook_ids: list[int], fmt: Format) -> dict[str, Any]:
    return {"study_id": study_id, "webhook_ids": webhook_ids, "format": fmt}


async def _list_webhooks(client: CentrePointClient, study_id: int) -> list[int]:
    return [hook.id for hook in await client.webhooks.list(study_id).collect()]


async def _export_file(
    client: CentrePointClient,
    files: _Files,
    study_id: int,
    ids: list[int] | None,
    fmt: Format,
    paging: dict[str, int],
    resume: bool,
    overwrite: bool,
    progress: Progress | None,
) -> ExportResult:
    """The export to a path, under its lock."""
    if resume:
        found = await asyncio.to_thread(_resume_point, files, study_id, ids, fmt)
    else:
        files.refuse_leftovers(overwrite)
        found = None
    if found is None:
        hooks = ids if ids is not None else await _list_webhooks(client, study_id)
        checkpoint, digest = files.start(_job(study_id, hooks, fmt))
    else:
        checkpoint, digest = found
    try:
        with open(files.part, "r+b") as handle:  # noqa: ASYNC230 (fsync runs in a thread)
            handle.seek(checkpoint.size)
            writer = _Writer(files, handle, checkpoint, digest, cut=found is None)
            if found is None:
                writer.save()  # the first checkpoint, before the first request of the walk
            hooks = list(checkpoint.job["webhook_ids"])
            result = await _walk(client, writer, hooks, paging, progress)
    except BaseException:
        if found is None and not checkpoint.items_written():
            files.discard()  # a new export that wrote nothing leaves nothing behind
        raise
    os.replace(files.part, files.target)
    files.checkpoint.unlink(missing_ok=True)
    return result


def _resume_point(
    files: _Files, study_id: int, ids: list[int] | None, fmt: Format
) -> tuple[_Checkpoint, hashlib._Hash] | None:
    """The verified checkpoint of an interrupted export, or None to start afresh."""
    if not files.checkpoint.exists():
        if files.target.exists() and not files.part.exists():
            raise _nothing_to_resume(files)
        if files.part.exists() and files.part.stat().st_size:
            raise CheckpointError(
                f"{files.part} has no checkpoint ({files.checkpoint.name}), so it cannot be "
                "verified; start over",
                path=files.target,
            )
        return None  # interrupted before its first checkpoint: nothing was written
    try:
        checkpoint = _parse_checkpoint(files.checkpoint.read_bytes())
        job = checkpoint.job
        hooks = job.get("webhook_ids")
        if not (isinstance(hooks, list) and all(type(w) is int for w in hooks)):
            raise ValueError(f"its webhook list is {hooks!r}")
        _check_states(checkpoint, hooks)
    except ValueError as exc:
        raise CheckpointError(
            f"{files.checkpoint} is not a valid checkpoint: {exc}", path=files.target
        ) from None
    wanted = _job(study_id, hooks if ids is None else ids, fmt)
    if job != wanted:
        raise CheckpointError(
            f"{files.checkpoint} is for another export ({_describe_job(job)}, not "
            f"{_describe_job(wanted)})",
            path=files.target,
        )
    if not files.part.exists():
        if files.target.exists():  # stopped between the rename and removing the checkpoint
            files.checkpoint.unlink()
            raise _nothing_to_resume(files)
        raise CheckpointError(f"{files.part} is missing; start over", path=files.target)
    return checkpoint, _verify_part(files, checkpoint, fmt)


def _nothing_to_resume(files: _Files) -> NothingToResumeError:
    return NothingToResumeError(
        f"{files.target} is complete; there is nothing to resume", path=files.target
    )


def _verify_part(files: _Files, checkpoint: _Checkpoint, fmt: Format) -> hashlib._Hash:
    """The part holds the checkpoint's bytes, ending with the record of the last id written."""
    actual = files.part.stat().st_size
    if actual < checkpoint.size:
        raise CheckpointError(
            f"{files.part} has {actual} bytes, fewer than the {checkpoint.size} its checkpoint "
            "records",
            path=files.target,
        )
    digest = _hash_prefix(files.part, checkpoint.size)
    if digest.hexdigest() != checkpoint.sha256:
        raise CheckpointError(
            f"the first {checkpoint.size} bytes of {files.part} do not match its checkpoint "
            "(SHA-256 differs)",
            path=files.target,
        )
    last = next(
        (s for w in reversed(checkpoint.job["webhook_ids"]) if (s := checkpoint.hooks.get(w))),
        None,
    )
    if last is None or not last.items:
        return digest
    record = _read_range(files.part, checkpoint.last_start, checkpoint.size)
    if not _same_id(_record_id(record, fmt), last.last_ids[-1]):
        raise CheckpointError(
            f"the last record of {files.part} is not item {last.last_ids[-1]}, the last one "
            "its checkpoint says was written",
            path=files.target,
        )
    return digest


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
    checkpoint: _Checkpoint
    digest: hashlib._Hash

    def write_header(self, header: bytes) -> None:
        self.out.write(header)

    def write_page(self, webhook_id: int, page: _Encoded) -> None:
        self.out.write(page.data)
        self.checkpoint.advance(webhook_id, page)

    def save(self) -> None:
        self.out.flush()


async def _walk(
    client: CentrePointClient,
    writer: _Writer | _Stream,
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
        state = checkpoint.hooks.get(webhook_id, _HookState())
        if state.done:
            continue
        tally = _Tally(got=state.items)
        async for items, end in _remaining(client, study_id, webhook_id, state, paging, tally):
            data, last_length = await asyncio.to_thread(_encode, items, checkpoint.job["format"])
            writer.write_page(webhook_id, _Encoded(data, last_length, _ids(items), end))
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
    client: CentrePointClient, study_id: int, webhook_ids: list[int], checkpoint: _Checkpoint
) -> int | None:
    """The job's size by the server's ``totalCount`` (one small request per webhook left)."""
    total = 0
    for webhook_id in webhook_ids:
        state = checkpoint.hooks.get(webhook_id, _HookState())
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


@attrs.define
class _Tally:
    """What one webhook's listing announced, and the items the output holds of it."""

    got: int  # items written, those of an earlier run included
    expected: int | None = None  # items to expect, from the listing's totalCount


async def _remaining(
    client: CentrePointClient,
    study_id: int,
    webhook_id: int,
    state: _HookState,
    paging: dict[str, int],
    tally: _Tally,
) -> AsyncIterator[tuple[list[Any], int]]:
    """Pages of one webhook's history not written yet, each with the offset just past it.

    A resumed webhook starts one item before its saved offset, where its last written item
    was, and skips until it meets that item: deliveries inserted meanwhile (the history is
    newest first) only move it further down. ``tally.expected`` is set from ``totalCount``:
    the whole listing's, or, when resumed, the items written plus those after the anchor.
    """
    anchor = state.last_ids[-1] if state.last_ids else None
    start = state.offset - 1 if state.last_ids else state.offset
    searching = bool(state.last_ids)
    pager = client.webhooks.raw_history(study_id, webhook_id, offset=start, **paging)
    async with pager:
        async for page in pager.pages():
            items = page.items
            if searching:
                found = next((i for i, x in enumerate(items) if _same_id(raw_id(x), anchor)), None)
                if found is None:
                    continue  # written already: the items before the anchor moved down
                items, searching = items[found + 1 :], False
                if page.total_count is not None:
                    tally.expected = state.items + page.total_count - (page.offset + found + 1)
            elif page.offset == start and page.total_count is not None:
                tally.expected = page.total_count
            if items:
                yield items, pager.resume_offset
    if searching:
        raise HistoryChangedError(
            f"item {anchor}, the last one written of webhook {webhook_id}, is no longer in its "
            f"history at or after offset {start}; the export cannot continue without a gap",
        )
