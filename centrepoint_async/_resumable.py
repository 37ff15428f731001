"""An output file written through a part and a checkpoint: one writer, a verified resume.

What every export to a path shares (:func:`~centrepoint_async.export_history`,
:func:`~centrepoint_async.export_analytics`). The export's records go to ``PATH.part``; a
checkpoint ``PATH.checkpoint`` (JSON, replaced atomically once the records it describes are on
disk) says how far each of the job's *streams* (a webhook's history, a subject's table) got. At
the end ``PATH.part`` becomes ``PATH`` (or is converted into ``PATH.writing``, which then
becomes ``PATH``) and the checkpoint goes. The rules it keeps:

- **One writer.** ``PATH.lock`` is locked (``flock`` on POSIX, ``msvcrt.locking`` on Windows)
  for the whole run; a second export of the same file fails at once with
  :class:`OutputLockedError` naming the holder. The system drops the lock of a dead process,
  so a ``kill -9`` leaves nothing to clean up.
- **Nothing overwritten by accident.** Without ``resume=True`` an existing ``PATH``, part,
  checkpoint or conversion under way is refused (:class:`OutputExistsError`) unless
  ``overwrite=True``.
- **Checked before the first request.** ``PATH`` must name a file in a writable directory
  (:class:`OutputPathError`); the lock file and the checkpoint are written before any request.
- **A checkpoint proves itself.** It records the job, how many bytes of the part are complete
  with their SHA-256, where the last record starts (and, when streams run at once, whose it
  is), and per stream its offset, item count, whether it is done and the ids of its last
  page; a ``digest`` (SHA-256 of all those fields) covers the checkpoint itself, so a field
  edited by hand (``"done": true``) is refused. A resume verifies all of it against the part
  before changing a byte; anything that does not fit is a :class:`CheckpointError`, and the
  part is left as it was.
- **Nothing left behind by a run that wrote nothing.** A new export that fails (or is
  interrupted) before writing its first item removes its part and checkpoint.
- **Ids are ids**, whatever their JSON type: ``"362288"`` and ``362288`` are the same item.
- **A resumed stream writes only what follows its last written item**: it is listed again from
  one item before its saved offset, and items are skipped until that item comes back (items
  inserted before it only move it further down); :class:`HistoryChangedError` if it does not.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import attrs
import orjson

from ._exceptions import (
    CheckpointError,
    HistoryChangedError,
    NothingToResumeError,
    OutputExistsError,
    OutputLockedError,
    OutputPathError,
)
from ._lock import LockHeld, OutputLock
from ._pager import AsyncPager

__all__ = [
    "Checkpoint",
    "Encoded",
    "Id",
    "Layout",
    "OutputFiles",
    "Resume",
    "Run",
    "StreamState",
    "Tally",
    "Writer",
    "as_id",
    "remaining",
    "same_id",
    "write_through",
]

R = TypeVar("R")

#: An item's id as the API sent it: a JSON number or string (None: it has none).
Id = int | str | None


def as_id(value: object) -> Id:
    """``value`` if it can be an id (an int, not a bool, or a str), else None."""
    return value if type(value) is int or isinstance(value, str) else None


def same_id(a: object, b: object) -> bool:
    """Ids are ids whatever their JSON type: ``"362288"`` is ``362288``; None matches nothing."""
    x, y = as_id(a), as_id(b)
    return x is not None and y is not None and str(x) == str(y)


# --- the checkpoint ------------------------------------------------------------------------


@attrs.frozen
class Layout:
    """How one kind of export spells its checkpoint."""

    version: int  # the checkpoint's "version": another one is refused
    streams: str  # the key of the per-stream states ("webhooks", "subjects")
    listed: str  # the job's key listing the streams in order ("webhook_ids", "subjects")
    #: The key naming the stream of the last record, when several streams are written at
    #: once; None: streams are written one after another, so it is the last one with items.
    last_key: str | None = None


@attrs.define
class StreamState:
    """Where one stream (a webhook's history, a subject's table) stands."""

    offset: int = 0  # listing position just past the last item written
    items: int = 0  # items written
    last_ids: list[Id] = attrs.field(factory=list)  # ids of the last page written, in order
    done: bool = False


@attrs.frozen
class Encoded:
    """One page as written: its records, the last record's length, the ids to remember (of
    the page's items, or of its last one only), the next offset, and how many items it holds."""

    data: bytes
    last_length: int
    ids: list[Id]
    end: int
    count: int


@attrs.define
class Checkpoint:
    """The checkpoint file's content (see the module docstring)."""

    layout: Layout
    job: dict[str, Any]
    size: int  # complete bytes of the part
    sha256: str  # of those bytes
    last_start: int  # where the last complete record starts (== size when there is none)
    streams: dict[int, StreamState]
    last: int | None = None  # the stream of the last record (None: no record yet)

    def advance(self, stream: int, page: Encoded) -> None:
        """Record a page of ``stream`` as written."""
        state = self.streams.setdefault(stream, StreamState())
        state.offset, state.items, state.last_ids = page.end, state.items + page.count, page.ids
        if page.ids:
            self.last = stream

    def finish(self, stream: int) -> None:
        """Record ``stream`` as complete."""
        self.streams.setdefault(stream, StreamState()).done = True

    def state(self, stream: int) -> StreamState:
        """Where ``stream`` stands (a fresh state if it has not begun)."""
        return self.streams.get(stream, StreamState())

    def items_written(self) -> int:
        """Items the part holds, by the streams' counts."""
        return sum(state.items for state in self.streams.values())

    def to_json(self) -> bytes:
        layout = self.layout
        fields: dict[str, Any] = {
            "version": layout.version,
            "job": self.job,
            "bytes": self.size,
            "sha256": self.sha256,
            "last_record_start": self.last_start,
            layout.streams: {str(k): attrs.asdict(v) for k, v in self.streams.items()},
        }
        if layout.last_key is not None:
            fields[layout.last_key] = self.last
        return orjson.dumps(fields | {"digest": _digest(fields)}, option=orjson.OPT_INDENT_2)


def _digest(fields: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's fields (its ``digest`` excluded), keys sorted: its own seal."""
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _count(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{where}{key} is {value!r}, not a count")


def _state(key: str, entry: object, singular: str) -> StreamState:
    """One stream's state, read strictly."""
    if not (key.isascii() and key.isdigit() and isinstance(entry, dict)):
        raise ValueError(f"{singular} {key!r} has no readable state")
    where = f"{singular} {key}: "
    last_ids = entry.get("last_ids")
    if not (isinstance(last_ids, list) and all(as_id(i) == i for i in last_ids)):
        raise ValueError(f"{where}last_ids is {last_ids!r}, not a list of ids")
    done = entry.get("done")
    if not isinstance(done, bool):
        raise ValueError(f"{where}done is {done!r}")
    return StreamState(
        _count(entry, "offset", where), _count(entry, "items", where), last_ids, done
    )


def parse_checkpoint(raw: bytes, layout: Layout) -> Checkpoint:
    """Read a checkpoint strictly: every field present and of its type, else ValueError."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("it is not JSON") from None
    if not isinstance(data, dict) or data.get("version") != layout.version:
        raise ValueError(
            f"it is not a version-{layout.version} checkpoint of centrepoint-async "
            "(an older version wrote it, or it is not one)"
        )
    seal = data.pop("digest", None)
    if not (isinstance(seal, str) and hmac.compare_digest(seal, _digest(data))):
        raise ValueError("its fields do not match its digest: it was changed after it was written")
    job, entries, digest = data.get("job"), data.get(layout.streams), data.get("sha256")
    if not isinstance(job, dict) or not isinstance(entries, dict):
        raise ValueError(f"job or {layout.streams} is missing")
    if not (isinstance(digest, str) and len(digest) == 64):
        raise ValueError(f"sha256 is {digest!r}, not a SHA-256 digest")
    singular = layout.streams.removesuffix("s")
    states = {int(key): _state(key, entry, singular) for key, entry in entries.items()}
    size = _count(data, "bytes", "")
    last_start = _count(data, "last_record_start", "")
    if last_start > size:
        raise ValueError(f"last_record_start {last_start} is past bytes {size}")
    last = None
    if layout.last_key is not None:
        last = data.get(layout.last_key)
        if last is not None and type(last) is not int:
            raise ValueError(f"{layout.last_key} is {last!r}, not a {singular} id")
    listed = job.get(layout.listed)
    if not (isinstance(listed, list) and all(type(s) is int for s in listed)):
        raise ValueError(f"its {singular} list is {listed!r}")
    checkpoint = Checkpoint(layout, job, size, digest, last_start, states, last)
    _check_states(checkpoint, listed)
    return checkpoint


def _check_states(checkpoint: Checkpoint, listed: list[int]) -> None:
    """The states fit the job and each other; sets :attr:`Checkpoint.last` when derived."""
    layout = checkpoint.layout
    singular = layout.streams.removesuffix("s")
    unknown = set(checkpoint.streams) - set(listed)
    if unknown:
        raise ValueError(f"it has {layout.streams} {sorted(unknown)} the job does not list")
    states = [checkpoint.state(s) for s in listed]
    if layout.last_key is None:  # one after another: finished ones, one under way, the rest
        started = [s for s in states if s.done or s.items]
        if any(s.done for s in started[1:]) and not all(s.done for s in started[:-1]):
            raise ValueError(f"its {layout.streams} are not finished in the job's order")
        if any(not s.done for s in started[:-1]):
            raise ValueError(f"more than one {singular} is under way")
        with_items = [s for s, state in zip(listed, states, strict=True) if state.items]
        checkpoint.last = with_items[-1] if with_items else None
    elif checkpoint.last is not None and not checkpoint.state(checkpoint.last).items:
        raise ValueError(
            f"{layout.last_key} names {singular} {checkpoint.last}, which has no items"
        )
    for stream, state in zip(listed, states, strict=True):
        if (state.items == 0) != (not state.last_ids) or len(state.last_ids) > state.items:
            raise ValueError(f"{singular} {stream}: last_ids do not fit its item count")
        if state.offset < state.items:
            raise ValueError(f"{singular} {stream}: offset {state.offset} < its item count")
    if (checkpoint.last is None) != (checkpoint.last_start == checkpoint.size) or (
        checkpoint.last is None and any(state.items for state in states)
    ):
        raise ValueError("last_record_start does not fit the items written")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, durably: never a half-written file under that name."""
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

# errors that say the output's place is wrong, not that the disk or the machine failed
_PATH_ERRORS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR}
)


@attrs.define
class OutputFiles:
    """The output and its companions: ``PATH.part``, ``PATH.checkpoint``, ``PATH.lock``, and
    ``PATH.writing`` (the output being converted from the part, for exports that convert)."""

    target: Path
    part: Path = attrs.field(init=False)
    checkpoint: Path = attrs.field(init=False)
    writing: Path = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.part = self._beside(".part")
        self.checkpoint = self._beside(".checkpoint")
        self.writing = self._beside(".writing")

    def _beside(self, suffix: str) -> Path:
        return self.target.with_name(self.target.name + suffix)

    def refuse_leftovers(self, overwrite: bool) -> None:
        """Raise :class:`OutputExistsError` if the output or an earlier export's files exist,
        unless ``overwrite``."""
        paths = (self.target, self.part, self.checkpoint, self.writing)
        leftovers = [p for p in paths if p.exists()]
        if leftovers and not overwrite:
            names = ", ".join(p.name for p in leftovers)
            what = "exists" if leftovers == [self.target] else f"has an earlier export ({names})"
            raise OutputExistsError(f"{self.target} {what}; not overwritten", path=self.target)

    def start(self, layout: Layout, job: dict[str, Any], header: bytes) -> tuple[Checkpoint, Any]:
        """A new part (holding ``header``) and its first checkpoint's content, and its hash."""
        self.discard()
        self.part.write_bytes(header)
        checkpoint = Checkpoint(layout, job, len(header), "", len(header), {})
        return checkpoint, hashlib.sha256(header)

    def discard(self) -> None:
        """Remove the part, the checkpoint and a conversion (never the output itself)."""
        self.checkpoint.unlink(missing_ok=True)
        self.part.unlink(missing_ok=True)
        self.writing.unlink(missing_ok=True)

    def check_path(self) -> None:
        """Raise :class:`OutputPathError` unless ``target`` can be a file we write."""
        target = self.target
        if target.is_dir():
            raise OutputPathError(f"{target} is a directory, not a file", path=target)
        if not target.parent.is_dir():
            raise OutputPathError(f"{target.parent} is not an existing directory", path=target)
        if target.exists() and not target.is_file():
            raise OutputPathError(f"{target} exists and is not a regular file", path=target)

    def lock(self) -> OutputLock:
        """The output's lock, taken; an :class:`ExportError` (or a disk's OSError) if it cannot
        be."""
        lock = OutputLock(self.target)
        try:
            lock.acquire()
        except LockHeld as held:
            raise OutputLockedError(self.target, held.holder) from None
        except OSError as exc:
            if exc.errno not in _PATH_ERRORS:  # a full disk, an I/O error: not the path's fault
                raise OSError(exc.errno, f"cannot write {lock.lock_path}: {exc.strerror}") from None
            raise OutputPathError(
                f"cannot create files in {self.target.parent}: {exc.strerror}", path=self.target
            ) from None
        return lock


@attrs.define
class Writer:
    """Appends records to the part, keeps its hash, and saves the checkpoint when asked."""

    files: OutputFiles
    handle: IO[bytes]
    checkpoint: Checkpoint
    digest: Any  # hashlib's SHA-256 object over the part's complete bytes
    cut: bool = False  # bytes past the checkpoint (a line cut by a crash) were dropped

    def _cut(self) -> None:
        if not self.cut:
            # only once there is something to write: a resume that fails before that (the
            # listing changed, the server is down) leaves the part exactly as it found it
            self.handle.truncate(self.checkpoint.size)
            self.cut = True

    def write_page(self, stream: int, page: Encoded) -> None:
        """Write one page of records and record ``stream``'s new position."""
        self._cut()
        self.handle.write(page.data)
        self.digest.update(page.data)
        self.checkpoint.last_start = self.checkpoint.size + len(page.data) - page.last_length
        self.checkpoint.size += len(page.data)
        self.checkpoint.advance(stream, page)

    def save(self) -> None:
        """Make the part durable, then the checkpoint that describes it."""
        self._cut()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.checkpoint.sha256 = self.digest.hexdigest()
        write_atomic(self.files.checkpoint, self.checkpoint.to_json())


# --- resuming ----------------------------------------------------------------------------------


@attrs.frozen
class Resume:
    """What a resume must find: the export's layout, its job, and how to read its records."""

    layout: Layout
    #: The job this run asks for, given the streams a checkpoint lists (used when the caller
    #: named none: the list is the one the interrupted run made).
    job: Callable[[list[int]], dict[str, Any]]
    describe: Callable[[dict[str, Any]], str]  # a job in words, for a mismatch
    record_id: Callable[[bytes], Id]  # the id held by one record of the part


def resume_point(files: OutputFiles, spec: Resume) -> tuple[Checkpoint, Any] | None:
    """The verified checkpoint of an interrupted export and the part's hash, or None to start
    afresh (interrupted before its first checkpoint: nothing was written)."""
    if not files.checkpoint.exists():
        if files.target.exists() and not files.part.exists():
            raise _nothing_to_resume(files)
        if files.part.exists() and files.part.stat().st_size:
            raise CheckpointError(
                f"{files.part} has no checkpoint ({files.checkpoint.name}), so it cannot be "
                "verified; start over",
                path=files.target,
            )
        return None
    try:
        checkpoint = parse_checkpoint(files.checkpoint.read_bytes(), spec.layout)
    except ValueError as exc:
        raise CheckpointError(
            f"{files.checkpoint} is not a valid checkpoint: {exc}", path=files.target
        ) from None
    job = checkpoint.job
    wanted = spec.job(list(job[spec.layout.listed]))
    if job != wanted:
        raise CheckpointError(
            f"{files.checkpoint} is for another export ({spec.describe(job)}, not "
            f"{spec.describe(wanted)})",
            path=files.target,
        )
    if not files.part.exists():
        if files.target.exists():  # stopped between the rename and removing the checkpoint
            files.checkpoint.unlink()
            raise _nothing_to_resume(files)
        raise CheckpointError(f"{files.part} is missing; start over", path=files.target)
    return checkpoint, _verify_part(files, checkpoint, spec.record_id)


def _nothing_to_resume(files: OutputFiles) -> NothingToResumeError:
    return NothingToResumeError(
        f"{files.target} is complete; there is nothing to resume", path=files.target
    )


def _verify_part(
    files: OutputFiles, checkpoint: Checkpoint, record_id: Callable[[bytes], Id]
) -> Any:
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
    if checkpoint.last is None:
        return digest
    last_id = checkpoint.state(checkpoint.last).last_ids[-1]
    record = _read_range(files.part, checkpoint.last_start, checkpoint.size)
    if not same_id(record_id(record), last_id):
        raise CheckpointError(
            f"the last record of {files.part} is not item {last_id}, the last one its "
            "checkpoint says was written",
            path=files.target,
        )
    return digest


# --- one run -----------------------------------------------------------------------------------


@attrs.frozen
class Run(Generic[R]):
    """How one export to a path begins, walks and ends (see :func:`write_through`)."""

    layout: Layout
    resume: Resume | None  # set: continue an interrupted export (None: a new one)
    overwrite: bool
    #: A new job and the part's first bytes (a CSV header): may send requests.
    begin: Callable[[], Awaitable[tuple[dict[str, Any], bytes]]]
    #: Writes every stream's pages through the writer, saving as it goes.
    walk: Callable[[Writer], Awaitable[R]]
    #: Makes ``files.writing`` from the part (a conversion), in a thread; None: the part is
    #: the output as it is.
    convert: Callable[[OutputFiles, Checkpoint], None] | None = None


async def write_through(target: Path, run: Run[R]) -> R:
    """Run an export to ``target`` under its lock; the walk's result once ``target`` is whole.

    Checked before any request: the path, the lock, leftovers (or, resuming, the checkpoint
    against the part).
    """
    files = OutputFiles(target)
    files.check_path()
    lock = files.lock()
    try:
        return await _write_locked(files, run)
    finally:
        lock.release()


async def _write_locked(files: OutputFiles, run: Run[R]) -> R:
    if run.resume is not None:
        found = await asyncio.to_thread(resume_point, files, run.resume)
    else:
        files.refuse_leftovers(run.overwrite)
        found = None
    if found is None:
        job, header = await run.begin()
        checkpoint, digest = files.start(run.layout, job, header)
    else:
        checkpoint, digest = found
    try:
        with open(files.part, "r+b") as handle:  # noqa: ASYNC230 (fsync runs in a thread)
            handle.seek(checkpoint.size)
            writer = Writer(files, handle, checkpoint, digest, cut=found is None)
            if found is None:
                writer.save()  # the first checkpoint, before the first request of the walk
            result = await run.walk(writer)
    except BaseException:
        if found is None and not checkpoint.items_written():
            files.discard()  # a new export that wrote nothing leaves nothing behind
        raise
    os.truncate(files.part, checkpoint.size)  # only what the checkpoint vouches for
    if run.convert is None:
        os.replace(files.part, files.target)
    else:
        await asyncio.to_thread(run.convert, files, checkpoint)
        os.replace(files.writing, files.target)
        files.part.unlink()  # a resume now finds the output whole (the checkpoint goes next)
    files.checkpoint.unlink(missing_ok=True)
    return result


@attrs.define
class Tally:
    """What one stream's listing announced, and the items the output holds of it."""

    got: int  # items written, those of an earlier run included
    expected: int | None = None  # items to expect, from the listing's totalCount


async def remaining(
    pager_at: Callable[[int], AsyncPager[Any]],
    state: StreamState,
    key: Callable[[Any], Id],
    tally: Tally,
    gone: Callable[[Id, int], str],
) -> AsyncIterator[tuple[list[Any], int]]:
    """Pages of one stream not written yet, each with the offset just past it.

    ``pager_at(offset)`` lists the stream from ``offset``; ``key(item)`` is an item's id. A
    resumed stream starts one item before its saved offset, where its last written item was,
    and skips until it meets that item: items inserted meanwhile only move it further down;
    :class:`HistoryChangedError` (its message ``gone(id, offset)``) if it never comes.
    ``tally.expected`` is set from ``totalCount``: the whole listing's, or, when resumed, the
    items written plus those after the anchor.
    """
    anchor = state.last_ids[-1] if state.last_ids else None
    start = state.offset - 1 if state.last_ids else state.offset
    searching = bool(state.last_ids)
    pager = pager_at(start)
    async with pager:
        async for page in pager.pages():
            items = page.items
            if searching:
                found = next((i for i, x in enumerate(items) if same_id(key(x), anchor)), None)
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
        raise HistoryChangedError(gone(anchor, start))
