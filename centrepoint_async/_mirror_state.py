"""What a mirror keeps next to the data, and what it decides from it (``mirror_study``'s state).

**One record per category folder.** ``DIR/subject-{id}/{category}/`` holds the day files under
their names and :data:`RECORD` (``.centrepoint-mirror.json``): for each file there, the listing
item it was fetched for (``fileName``, day, format, ``modifiedDate``) and its size. No record is
shared between folders, so processes mirroring different subjects into one ``DIR`` (shards,
over a network file system too) never write the same file; one process at a time works in a
subject's folder (``mirror_study`` holds a lock there).

**The file carries its version.** A downloaded file is given its day's ``modifiedDate`` as its
modification time before it gets its final name (``download_file(mtime=...)``), so the name and
the version appear together. A process killed after a file got its name but before the record
said so leaves a file whose time is its ``modifiedDate``: the next run takes it as it is
(*adopted*) instead of fetching it again. The record is written whole to a temporary name and
renamed over the old one; a record that cannot be read is taken as empty (a warning), and the
files are then adopted by their times or fetched again: never trusted without a reason.

**The plan of a folder** (:func:`plan_folder`, no I/O) from the listing, the record and what is
on disk: each listed file is *unchanged* (recorded with the same name and ``modifiedDate``, and
on disk at the recorded size), *adopted* (not recorded as this version, but on disk with its
``modifiedDate`` as its time), or fetched (*new*, or *changed*: another version, or a recorded
file whose size is not the recorded one). A name the server gives that is unsafe
(``_files.check_file_name``) or that the mirror keeps for itself (``.centrepoint-mirror*``) is
a failure of that file only; two files listed under one name (or names equal but for case) are
kept apart (``_files.unique_names``: the later gets its day before the extension), and one file
listed twice is one file. :func:`superseded`: once a day's new file is in place, the files
recorded for the same day and format under a name the listing no longer has are the old
versions of it (a day processed again under a new ``fileName``), to be removed. Files the API
no longer lists at all stay, and so do their records.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import orjson

from ._data_access_models import DataAccessFile
from ._download import mtime_ns
from ._exceptions import DecodeError
from ._files import check_file_name, unique_names

__all__ = [
    "RECORD",
    "Entry",
    "FolderPlan",
    "OnDisk",
    "Planned",
    "entry_for",
    "plan_folder",
    "read_folder",
    "superseded",
    "write_record",
]

log = logging.getLogger("centrepoint_async")

#: The record of a category folder: what the last runs fetched there.
RECORD = ".centrepoint-mirror.json"
#: Names starting so are the mirror's own (its record, the record's temporary, its lock).
OWN_PREFIX = ".centrepoint-mirror"
#: The version of the record's layout (a record of another version is read as empty).
_LAYOUT = 1


@attrs.frozen
class Entry:
    """What the record says of one file in the folder."""

    file_name: str  # the API's fileName (the file may be stored under another name)
    date: str | None  # the day, YYYY-MM-DD
    file_format: str | None
    modified: str | None  # modifiedDate, ISO 8601
    size: int


@attrs.frozen
class OnDisk:
    """A file in the folder, as ``stat`` sees it."""

    size: int
    mtime_ns: int


@attrs.frozen
class Planned:
    """A listed file to fetch, and the name it is stored under."""

    stored: str
    found: DataAccessFile
    reason: Literal["new", "changed"]


@attrs.frozen
class FolderPlan:
    """What to do in one folder (see :func:`plan_folder`)."""

    fetch: list[Planned]
    keep: dict[str, Entry]  # stored name -> its entry: in place and unchanged (adopted too)
    adopted: int  # of ``keep``: in place, but not (or not so) recorded
    failed: list[tuple[str, str]]  # (fileName as given, reason)
    current: frozenset[str]  # every stored name of the listing
    listed: int  # distinct files listed (the repeats of one file counted once)


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _day(found: DataAccessFile) -> str | None:
    return None if found.date is None else found.date.date().isoformat()


def entry_for(found: DataAccessFile, size: int) -> Entry:
    """The record's entry for ``found``, fetched and ``size`` bytes long."""
    return Entry(found.file_name, _day(found), found.file_format, _iso(found.modified_date), size)


def _checked_name(name: object) -> str:
    """``check_file_name``, and none of the mirror's own names."""
    checked = check_file_name(name)
    if checked.casefold().startswith(OWN_PREFIX):
        raise DecodeError(f"file name from the server {checked!r}: a name the mirror keeps")
    return checked


def _state(
    stored: str, found: DataAccessFile, entries: Mapping[str, Entry], disk: Mapping[str, OnDisk]
) -> Literal["unchanged", "adopted", "new", "changed"]:
    on_disk, entry = disk.get(stored), entries.get(stored)
    modified = _iso(found.modified_date)
    if on_disk is None:
        return "new"  # never fetched, or removed since
    if entry is not None and (entry.file_name, entry.modified) == (found.file_name, modified):
        # recorded as this version: whole if it has the recorded size, else damaged since
        return "unchanged" if entry.size == on_disk.size else "changed"
    if found.modified_date is not None and on_disk.mtime_ns == mtime_ns(found.modified_date):
        return "adopted"  # its name and its version came together: a finished download
    return "changed"


def _distinct(
    listed: Sequence[DataAccessFile],
) -> tuple[list[tuple[str, DataAccessFile]], list[tuple[str, str]]]:
    """The files with a safe name, each with an id for ``unique_names`` (its day; a second
    file of the same day gets ``day-1``, ...), the same file listed twice kept once; and the
    files whose name is refused, with the reason."""
    failed: list[tuple[str, str]] = []
    safe: list[tuple[str, DataAccessFile]] = []
    seen: set[tuple[str, str]] = set()
    per_day: dict[str, int] = {}
    for index, found in enumerate(listed):
        try:
            _checked_name(found.file_name)
        except DecodeError as exc:
            failed.append((found.file_name, str(exc)))
            continue
        day = _day(found) or f"item-{index}"
        if (found.file_name, day) in seen:
            continue  # one file, listed twice (a page repeated)
        seen.add((found.file_name, day))
        count = per_day[day] = per_day.get(day, -1) + 1
        safe.append((f"{day}-{count}" if count else day, found))
    return safe, failed


def plan_folder(
    listed: Sequence[DataAccessFile], entries: Mapping[str, Entry], disk: Mapping[str, OnDisk]
) -> FolderPlan:
    """The plan of a folder from its listing, its record and what is on disk (no I/O)."""
    safe, failed = _distinct(listed)
    names = unique_names((file_id, found.file_name) for file_id, found in safe)
    fetch: list[Planned] = []
    keep: dict[str, Entry] = {}
    adopted = 0
    for stored, (_, found) in zip(names, safe, strict=True):
        state = _state(stored, found, entries, disk)
        if state in ("new", "changed"):
            fetch.append(Planned(stored, found, state))
            continue
        adopted += state == "adopted"
        entry = entries.get(stored)
        if state == "adopted" or entry is None:
            entry = entry_for(found, disk[stored].size)
        keep[stored] = entry
    return FolderPlan(fetch, keep, adopted, failed, frozenset(names), len(names) + len(failed))


def superseded(entries: Mapping[str, Entry], stored: str, current: Iterable[str]) -> list[str]:
    """The recorded files that ``stored`` (now in place) replaces: same day, same format, under
    a name the listing no longer gives."""
    new = entries[stored]
    if new.date is None:
        return []
    listed = set(current)
    return [
        name
        for name, old in entries.items()
        if name != stored
        and name not in listed
        and (old.date, old.file_format) == (new.date, new.file_format)
    ]


# --- I/O: reading the folder, writing its record (each called in a thread) ------------------


def _entry(raw: object) -> Entry | None:
    """An entry read back, or None if it is not one (a damaged record)."""
    if not isinstance(raw, dict):
        return None
    name, size = raw.get("file_name"), raw.get("size")
    day, fmt, modified = (raw.get(k) for k in ("date", "file_format", "modified"))
    if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool):
        return None
    if not all(t is None or isinstance(t, str) for t in (day, fmt, modified)):
        return None
    return Entry(name, day, fmt, modified, size)


def _read_record(path: Path) -> dict[str, Entry]:
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("mirror: %s cannot be read (%s); its files are checked again", path, exc)
        return {}
    files = raw.get("files") if isinstance(raw, dict) and raw.get("layout") == _LAYOUT else None
    if not isinstance(files, dict):
        log.warning("mirror: %s is not a record this version reads; files checked again", path)
        return {}
    entries = {name: _entry(value) for name, value in files.items()}
    return {name: entry for name, entry in entries.items() if entry is not None}


def read_folder(folder: Path) -> tuple[dict[str, Entry], dict[str, OnDisk]]:
    """The folder's record and its files (none if it does not exist). Temporaries of a record
    left by a killed run are removed (the caller holds the subject's lock)."""
    disk: dict[str, OnDisk] = {}
    try:
        scan = list(os.scandir(folder))
    except FileNotFoundError:
        return {}, disk
    for item in scan:
        if item.name.startswith(RECORD) and item.name.endswith(".tmp"):
            Path(item.path).unlink(missing_ok=True)
        elif item.is_file(follow_symlinks=False):
            stat = item.stat(follow_symlinks=False)
            disk[item.name] = OnDisk(stat.st_size, stat.st_mtime_ns)
    return _read_record(folder / RECORD), disk


def write_record(folder: Path, entries: Mapping[str, Entry]) -> None:
    """Replace the folder's record with ``entries``, in one rename (readers see the old record
    or the new one, whole)."""
    files = {name: attrs.asdict(entry) for name, entry in sorted(entries.items())}
    data = orjson.dumps({"layout": _LAYOUT, "files": files}, option=orjson.OPT_INDENT_2)
    temporary = folder / f"{RECORD}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        temporary.write_bytes(data)
        os.replace(temporary, folder / RECORD)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
