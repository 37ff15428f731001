"""The study on disk: :func:`mirror_study` keeps a copy of a study's Data Access day files.

``DIR/subject-{subjectId}/{category}/{fileName}``, every subject of the study (all pages; or
those given, or this shard's), every chosen category, in the chosen format and range. The API's
ceiling is kept by the client's rate limiter (a ``RedisRateLimit`` shares it between processes);
downloads go to the storage host, which it does not count.

- **Nothing half-done is trusted.** Each file goes through the one downloader
  (``_download.download_file``): streamed to ``<name>.part``, resumed after a failure or a kill,
  checked against the storage host's ``Content-Length`` and by content (a ``.csv.gz`` a whole
  gzip stream, an ``.avro`` the Avro magic), given its ``modifiedDate`` as its time, and renamed
  into place in one step, replacing an older version atomically. An expired link is renewed
  by listing that day again; the bearer token never goes to the storage host.
- **Incremental.** What the last run fetched is recorded next to the data, one record per
  category folder (``_mirror_state``): a file recorded with the ``modifiedDate`` now listed is
  not fetched again, so a rerun on an unchanged study sends only listing requests. A day whose
  ``modifiedDate`` moved is fetched again; a day processed again under a new ``fileName``
  replaces the old day's file once the new one is in place; files no longer listed stay.
- **Many processes.** ``shard=(k, n)`` takes the subjects whose ``id % n == k``. Shards write
  different subject folders, and each subject's folder is locked while a process works in it
  (``subject-{id}/.centrepoint-mirror.lock``): a second process reaching a subject already
  being mirrored (two runs from cron overlapping) reports it and goes on.
- **One file failing fails that file** (an unsafe name, a download that keeps failing, a
  listing that fails for one subject and category): it is reported in
  :attr:`MirrorResult.failed` and the others go on. Only what makes every request fail
  (:class:`AuthenticationError`, :class:`ConfigurationError`) or stops the whole listing (the
  study's subjects) is raised.

Work in flight is bounded: ``concurrency`` downloads, and as many subjects listed ahead of them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Literal, TypedDict, Unpack

import attrs

from ._client import CentrePointClient
from ._data_access_models import DataAccessFile
from ._download import Link, download_file, file_size
from ._exceptions import AuthenticationError, CentrePointError, ConfigurationError
from ._lock import LockHeld, OutputLock
from ._mirror_state import (
    Entry,
    Planned,
    entry_for,
    plan_folder,
    read_folder,
    superseded,
    write_record,
)
from ._namespaces import FileFormat, _link, check_category
from ._protocol import check_id, check_number

__all__ = [
    "MirrorFailure",
    "MirrorOptions",
    "MirrorResult",
    "PlannedFetch",
    "dry_run",
    "mirror_study",
]

log = logging.getLogger("centrepoint_async")

When = date | datetime
#: The lock of a subject's folder: ``subject-{id}/.centrepoint-mirror.lock``.
_LOCK = ".centrepoint-mirror"
#: Errors that no other file or subject would escape: raised, not reported per file.
_FATAL = (AuthenticationError, ConfigurationError)
#: The most downloads in flight (a bound on what one process opens at once).
MAX_CONCURRENCY = 64


@attrs.frozen
class MirrorFailure:
    """A file that is not in place after the run, and why (or, with ``file_name`` None, a
    subject and category whose listing failed)."""

    subject_id: int
    category: str
    file_name: str | None  # as the API gave it (it may be the unsafe name refused)
    reason: str

    @property
    def path(self) -> str:
        """Where it belongs under the mirror's directory: ``subject-1/imu/name`` (an unsafe name
        shown escaped)."""
        where = f"subject-{self.subject_id}/{self.category}"
        if self.file_name is None:
            return where
        name = self.file_name
        shown = name if name.isprintable() and "/" not in name else repr(name)
        return f"{where}/{shown}"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@attrs.define
class MirrorResult:
    """What a mirror did; updated as it runs (``progress`` callbacks receive it)."""

    subjects: int = 0  # subjects of this run (this shard's, or those given)
    files_listed: int = 0  # day files listed (chosen categories, format and range)
    files_downloaded: int = 0  # fetched and verified by this run: new, or changed
    files_skipped: int = 0  # in place and unchanged: not fetched again
    bytes_downloaded: int = 0  # received from the storage host by this run, as it arrives
    failed: list[MirrorFailure] = attrs.field(factory=list)
    links_renewed: int = 0  # expired or refused links renewed by listing the day again
    renewing: int = 0  # renewals under way now (what a progress display says it waits for)

    @property
    def ok(self) -> bool:
        """True when every listed file is in place (nothing failed)."""
        return not self.failed


Progress = Callable[[MirrorResult], object]


@attrs.frozen
class PlannedFetch:
    """A file a run would fetch (:func:`dry_run`): where, why, and its size if the storage
    host said it."""

    path: Path
    reason: Literal["new", "changed"]
    size: int | None


@attrs.frozen
class _Options:
    """The checked options of one mirror."""

    study_id: int
    categories: tuple[str, ...]
    file_format: FileFormat
    subjects: tuple[int, ...] | None
    start: When | None
    end: When | None
    concurrency: int
    shard: tuple[int, int] | None


def _when(value: object, name: str) -> When | None:
    if value is None or isinstance(value, date):  # datetime is a date
        return value
    raise ConfigurationError(f"{name} must be a date or a datetime, got {value!r}")


def _as_day(value: When) -> date:
    return value.date() if isinstance(value, datetime) else value


def _shard(shard: object) -> tuple[int, int] | None:
    if shard is None:
        return None
    if not (isinstance(shard, tuple | list) and len(shard) == 2):
        raise ConfigurationError(f"shard must be (k, n), got {shard!r}")
    k, n = shard
    check_number(n, "shard's n", minimum=1, inclusive=True, integer=True)
    check_number(k, "shard's k", minimum=0, inclusive=True, below=n, integer=True)
    return int(k), int(n)


class MirrorOptions(TypedDict, total=False):
    """The keyword options of :func:`mirror_study` but ``progress`` (for :func:`dry_run`)."""

    categories: Iterable[str]
    file_format: FileFormat
    subjects: Iterable[int] | None
    start: When | None
    end: When | None
    concurrency: int
    shard: tuple[int, int] | None


def _options(
    study_id: int,
    *,
    categories: Iterable[str] | str = ("raw-accelerometer",),
    file_format: FileFormat = "csv",
    subjects: Iterable[int] | None = None,
    start: When | None = None,
    end: When | None = None,
    concurrency: int = 8,
    shard: tuple[int, int] | None = None,
) -> _Options:
    """Every option checked (``ConfigurationError``), before any request."""
    chosen = (categories,) if isinstance(categories, str) else tuple(categories)
    if not chosen:
        raise ConfigurationError("categories must name at least one data category")
    if file_format not in ("csv", "avro"):
        raise ConfigurationError(f"file_format must be 'csv' or 'avro', got {file_format!r}")
    first, last = _when(start, "start"), _when(end, "end")
    if first is not None and last is not None and _as_day(first) > _as_day(last):
        raise ConfigurationError(f"start ({first}) is after end ({last})")
    # bounded: each download holds a connection and a file
    check_number(
        concurrency,
        "concurrency",
        minimum=1,
        inclusive=True,
        below=MAX_CONCURRENCY + 1,
        integer=True,
    )
    ids = (
        None if subjects is None else tuple(dict.fromkeys(check_id(s, "subject") for s in subjects))
    )
    return _Options(
        check_id(study_id, "study_id"),
        tuple(dict.fromkeys(check_category(c) for c in chosen)),
        file_format,
        ids,
        first,
        last,
        concurrency,
        _shard(shard),
    )


async def mirror_study(
    client: CentrePointClient,
    study_id: int,
    directory: str | os.PathLike[str],
    *,
    categories: Iterable[str] = ("raw-accelerometer",),
    file_format: FileFormat = "csv",
    subjects: Iterable[int] | None = None,
    start: When | None = None,
    end: When | None = None,
    concurrency: int = 8,
    shard: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> MirrorResult:
    """Keep ``directory`` a verified copy of a study's day files; returns what was done.

    ``categories``: the Data Access categories (``"raw-accelerometer"``, ``"imu"``, ...).
    ``file_format``: ``"csv"`` (``.csv.gz``) or ``"avro"``. ``subjects``: these ids instead of
    every subject of the study. ``start``/``end``: the days (inclusive; ``date``, or
    ``datetime``: naive ones are the subject's local time, as the API reads them).
    ``concurrency``: downloads at once (1 to 64). ``shard=(k, n)``: only the subjects whose
    ``id % n == k``. ``progress(result)`` is called as files finish (and links are renewed).

    The rules are in the module docstring. Raises :class:`ConfigurationError` for a bad option
    (before any request), and errors that stop everything (the study's subjects cannot be
    listed, the credentials are refused); a file or a listing that fails is reported in
    :attr:`MirrorResult.failed` instead.
    """
    options = _options(
        study_id,
        categories=categories,
        file_format=file_format,
        subjects=subjects,
        start=start,
        end=end,
        concurrency=concurrency,
        shard=shard,
    )
    root = Path(directory)
    try:
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigurationError(f"{root} exists and is not a directory") from None
    return await _Mirror(client, options, root, progress).run()


async def dry_run(
    client: CentrePointClient,
    study_id: int,
    directory: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    **options: Unpack[MirrorOptions],
) -> tuple[MirrorResult, list[PlannedFetch]]:
    """What :func:`mirror_study` with the same arguments would fetch, without fetching or
    writing anything: the listing requests only, and a ``HEAD`` to the storage host for each
    file's size. ``files_downloaded`` stays 0; ``files_skipped`` counts the files in place."""
    checked = _options(study_id, **options)
    planned: list[PlannedFetch] = []
    result = await _Mirror(client, checked, Path(directory), progress, planned).run()
    return result, planned


class _Folder:
    """A category folder during a run: its record, and the names its listing gave."""

    def __init__(
        self, path: Path, subject_id: int, category: str, entries: dict[str, Entry]
    ) -> None:
        self.path, self.subject_id, self.category = path, subject_id, category
        self.entries = entries
        self.current: frozenset[str] = frozenset()
        self._lock = asyncio.Lock()
        self._changes = self._saved = 0

    def drop_replaced(self, names: Iterable[str]) -> list[str]:
        """Forget the files that ``names`` (in place) replace (:func:`superseded`); their names."""
        old: set[str] = set()
        for stored in names:
            for name in superseded(self.entries, stored, self.current):
                log.info("mirror: %s replaces %s (the day processed again)", stored, name)
                old.add(name)
        for name in old:
            del self.entries[name]
        return sorted(old)

    async def record(self, stored: str, entry: Entry) -> None:
        """``stored`` is in place as ``entry``: the files it replaces go, the record is written."""
        self.entries[stored] = entry
        await self.commit(self.drop_replaced([stored]))

    async def commit(self, removed: list[str]) -> None:
        """Remove the files ``removed``, then write the record (files first: a record never
        names a file that is gone)."""
        if removed:
            await asyncio.to_thread(_remove, self.path, removed)
        await self.save()

    async def save(self) -> None:
        """Write the record; writes asked for while one runs are made by the next, once."""
        self._changes += 1
        async with self._lock:
            if self._saved == self._changes:
                return
            target = self._changes
            await asyncio.to_thread(write_record, self.path, dict(self.entries))
            self._saved = target


def _remove(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).unlink(missing_ok=True)


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found


class _Mirror:
    """One run of :func:`mirror_study` (or of :func:`dry_run`, when ``planned`` is a list)."""

    def __init__(
        self,
        client: CentrePointClient,
        options: _Options,
        root: Path,
        progress: Progress | None,
        planned: list[PlannedFetch] | None = None,
    ) -> None:
        self.client, self.options, self.root = client, options, root
        self.progress, self.planned = progress, planned
        self.result = MirrorResult()
        self.downloads = asyncio.Semaphore(options.concurrency)
        self.subjects = asyncio.Semaphore(options.concurrency)  # listed ahead of downloads

    def _notify(self) -> None:
        if self.progress is not None:
            self.progress(self.result)

    def _fail(self, subject_id: int, category: str, name: str | None, reason: str) -> None:
        failure = MirrorFailure(subject_id, category, name, reason)
        log.info("mirror: failed: %s", failure)
        self.result.failed.append(failure)

    async def run(self) -> MirrorResult:
        try:
            async with asyncio.TaskGroup() as group:
                async for subject_id in self._subject_ids():
                    await self.subjects.acquire()
                    group.create_task(self._subject(subject_id))
        except BaseExceptionGroup as failed:  # one error, as if the work were sequential
            raise _leaf(failed) from None
        self._notify()
        return self.result

    async def _subject_ids(self) -> AsyncIterator[int]:
        """The subjects of this run: those given, or the study's (every page); this shard's."""
        shard = self.options.shard
        if self.options.subjects is not None:
            for subject_id in self.options.subjects:
                if shard is None or subject_id % shard[1] == shard[0]:
                    yield subject_id
            return
        async for subject in self.client.subjects.list(self.options.study_id):
            if shard is None or subject.id % shard[1] == shard[0]:
                yield subject.id

    async def _subject(self, subject_id: int) -> None:
        """Every chosen category of one subject, under the subject's lock."""
        try:
            self.result.subjects += 1
            path = self.root / f"subject-{subject_id}"
            lock = None if self.planned is not None else await self._lock(subject_id, path)
            if lock is False:
                return
            try:
                async with asyncio.TaskGroup() as group:
                    for category in self.options.categories:
                        await self._folder(group, subject_id, path / category, category)
            finally:
                if lock is not None:
                    lock.release()  # an unlink and a close: quick, and sure to run
        finally:
            self.subjects.release()

    async def _lock(self, subject_id: int, path: Path) -> OutputLock | Literal[False] | None:
        """The subject's lock (None: the file system has no locks); False, every category
        reported failed, when another process holds it or the folder cannot be made."""
        lock = OutputLock(path / _LOCK)
        try:
            await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            reason = f"cannot create the folder: {exc.strerror or exc}"
        else:
            try:
                await asyncio.to_thread(lock.acquire)
            except LockHeld as held:
                reason = f"another process is mirroring this subject ({held.holder})"
            except OSError as exc:  # a file system without locks: shards still never meet
                log.warning("mirror: cannot lock %s (%s); going on without", path, exc)
                return None
            else:
                return lock
        for category in self.options.categories:
            self._fail(subject_id, category, None, reason)
        return False

    async def _folder(
        self, group: asyncio.TaskGroup, subject_id: int, path: Path, category: str
    ) -> None:
        """List one subject's category, settle what is in place, start what must be fetched."""
        options = self.options
        listing = self.client.data_access.files(
            options.study_id,
            subject_id,
            category,
            start=options.start,
            end=options.end,
            file_format=options.file_format,
        )
        try:
            listed = await listing.collect()
        except _FATAL:
            raise
        except CentrePointError as exc:
            self._fail(subject_id, category, None, f"listing failed: {exc}")
            return
        entries, disk = await asyncio.to_thread(read_folder, path)
        plan = plan_folder(listed, entries, disk)
        folder = _Folder(path, subject_id, category, entries)
        folder.current = plan.current
        self.result.files_listed += plan.listed
        self.result.files_skipped += len(plan.keep)
        for name, reason in plan.failed:
            self._fail(subject_id, category, name, reason)
        if self.planned is None:
            await self._settle(folder, plan.keep, bool(plan.fetch))
        self._notify()
        for job in plan.fetch:
            await self.downloads.acquire()
            group.create_task(self._fetch(folder, job))

    async def _settle(self, folder: _Folder, keep: dict[str, Entry], fetching: bool) -> None:
        """Record the files found in place (adopted ones too), drop the old versions they
        replace, and make the folder if files are coming."""
        changed = any(folder.entries.get(name) != entry for name, entry in keep.items())
        folder.entries.update(keep)
        removed = folder.drop_replaced(keep)
        if fetching or changed or removed:
            await asyncio.to_thread(folder.path.mkdir, parents=True, exist_ok=True)
        if changed or removed:
            await folder.commit(removed)

    async def _fetch(self, folder: _Folder, job: Planned) -> None:
        """One file: fetched and recorded (or, in a dry run, its size asked); a failure is
        reported, and the others go on."""
        try:
            if self.planned is not None:
                await self._plan(folder, job)
            else:
                await self._download(folder, job)
        except _FATAL:
            raise
        except (CentrePointError, OSError) as exc:
            self._fail(folder.subject_id, folder.category, job.found.file_name, str(exc))
        finally:
            self.downloads.release()
            self._notify()

    async def _download(self, folder: _Folder, job: Planned) -> None:
        found = job.found
        modified = found.modified_date
        done = await download_file(
            self.client.storage_session(),
            folder.path / job.stored,
            functools.partial(self._renew, found),
            link=_link(found),
            version=None if modified is None else modified.isoformat(),
            mtime=modified,
            on_bytes=self._received,
            proxy_for=self.client.storage_proxy,
        )
        await folder.record(job.stored, entry_for(found, done.size))
        self.result.files_downloaded += 1

    def _received(self, count: int) -> None:
        self.result.bytes_downloaded += count

    async def _renew(self, found: DataAccessFile) -> Link:
        """A fresh link: the day listed again (said to ``progress`` while it waits)."""
        self.result.renewing += 1
        self._notify()
        try:
            link = await self.client.data_access._renew(found)
        finally:
            self.result.renewing -= 1
        self.result.links_renewed += 1
        return link

    async def _plan(self, folder: _Folder, job: Planned) -> None:
        assert self.planned is not None
        url = job.found.download_url
        session = self.client.storage_session()
        proxy_for = self.client.storage_proxy
        size = None if not url else await file_size(session, url, proxy_for=proxy_for)
        self.planned.append(PlannedFetch(folder.path / job.stored, job.reason, size))
