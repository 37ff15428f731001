"""Data files on disk, without I/O: server-given names checked, duplicates kept apart, and the
content checks a download must pass before it gets its final name.

**One name check.** :func:`check_file_name` is the only judge of a name that comes from the
server (a ``fileName`` of data retrieval or data access, a dataset file's name); every download
path calls it before anything touches the disk. A name is refused with a :class:`DecodeError`
(the answer is not what the API promises) when it is empty, ``.`` or ``..``; holds a path
separator (``/`` or ``\\``), a colon (a drive or a stream on Windows), or any character that
is not printable (NUL, other control characters, line separators, bidirectional overrides,
lone surrogates); ends in a dot or a space (Windows drops them: ``".. "`` would be ``..``
there); is a Windows device name (``CON``, ``NUL.csv``, ...); ends in ``.part`` or
``.part.version`` (the names of our part files and their sidecars); or is longer than
:data:`MAX_NAME_BYTES` bytes in UTF-8 (the file system's 255, less room for those suffixes).
So a checked name, joined to a directory, names a file directly inside it on every platform.

**Duplicates** (:func:`unique_names`): two files of one listing with the same name (compared
case-insensitively, as macOS and Windows file systems compare) must not overwrite each other.
The first keeps its name; a later one gets its file id before the extension
(``day.csv.gz`` -> ``day.<id>.csv.gz``, ``a.avro`` -> ``a.<id>.avro``, ``notes`` ->
``notes.<id>``), and a counter after the id if even that is taken. The same file (same id)
listed twice keeps one name.

**Content checks** (:func:`content_check_for`), by the final name: a ``.gz`` file (``.csv.gz``)
must be whole gzip members from its first byte to its last (each decompresses to its end, its
CRC and length match; fed in pieces, the output bounded, so memory stays small whatever the
size); an ``.avro`` file must start with the Avro object container magic ``Obj\\x01``. Other
names are checked by size only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import Protocol

from ._exceptions import DecodeError

__all__ = [
    "MAX_NAME_BYTES",
    "PART_SUFFIX",
    "VERSION_SUFFIX",
    "AvroMagic",
    "ContentCheck",
    "GzipStream",
    "check_file_name",
    "content_check_for",
    "unique_names",
]

#: The suffix of a download in progress: ``<name>.part`` (never the final name).
PART_SUFFIX = ".part"
#: The sidecar beside a part that names the version of the file it holds.
VERSION_SUFFIX = ".part.version"
#: The longest name accepted, in UTF-8 bytes: 255 (most file systems) less the sidecar's suffix.
MAX_NAME_BYTES = 255 - len(VERSION_SUFFIX.encode())

_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10)]
)
#: Compression suffixes that belong with the suffix before them (``.csv.gz`` is one extension).
_COMPRESSED = frozenset(["gz", "bz2", "xz", "zst"])


def _unsafe(name: str) -> str | None:
    """Why ``name`` cannot be a file name inside a directory, or None if it can."""
    if not name or name in (".", ".."):
        return "not a file name"
    if "/" in name or "\\" in name:
        return "a path separator"
    if ":" in name:
        return "a colon (a drive or a stream on Windows)"
    if not name.isprintable():
        return "a control or unprintable character"
    if name[-1] in ". ":
        return "a trailing dot or space"
    if name.split(".", 1)[0].casefold() in _DEVICES:
        return "a Windows device name"
    if name.casefold().endswith((PART_SUFFIX, VERSION_SUFFIX)):
        return "the suffix of a part file"
    if len(name.encode()) > MAX_NAME_BYTES:  # isprintable refused surrogates: this encodes
        return f"longer than {MAX_NAME_BYTES} bytes"
    return None


def check_file_name(name: object) -> str:
    """``name`` if it is safe as the name of a file inside a directory, else :class:`DecodeError`.

    The one check of every server-given file name (the rules are in the module docstring).
    """
    if not isinstance(name, str):
        raise DecodeError(f"a file name from the server is not text: {name!r}")
    problem = _unsafe(name)
    if problem is not None:
        shown = repr(name[:100]) + ("..." if len(name) > 100 else "")
        raise DecodeError(f"unsafe file name from the server: {shown} ({problem})")
    return name


def _with_tag(name: str, tag: str) -> str:
    """``name`` with ``.tag`` before its extension (``.csv.gz`` counting as one)."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:  # no extension (a leading dot starts a name, not an extension)
        return f"{name}.{tag}"
    inner, dot, first = stem.rpartition(".")
    if extension.casefold() in _COMPRESSED and dot and inner:
        return f"{inner}.{tag}.{first}.{extension}"
    return f"{stem}.{tag}.{extension}"


def unique_names(files: Iterable[tuple[str, str | None]]) -> list[str]:
    """The names to store ``(file_id, name)`` pairs under, in order, none overwriting another.

    Each name is checked (:func:`check_file_name`; a missing name is the file's id); a name
    taken by another file gets the id before its extension (module docstring). Raises
    :class:`DecodeError` for the first unsafe name, before anything is written.
    """
    owners: dict[str, str] = {}  # casefolded name -> the id of the file stored under it
    names = []
    for file_id, given in files:
        name = check_file_name(given or file_id)
        tag, count = file_id, 1
        while owners.setdefault(name.casefold(), file_id) != file_id:
            count += 1
            name = check_file_name(_with_tag(given or file_id, tag))
            tag = f"{file_id}-{count}"
        names.append(name)
    return names


class ContentCheck(Protocol):
    """A check of a file's bytes, fed in order; raises ``ValueError`` naming what is wrong."""

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; returns False once it needs no more."""

    def finish(self) -> None:
        """Every byte has been fed: raise ``ValueError`` unless the content is right."""


#: Output produced per step while checking a gzip stream (memory stays about this size).
_INFLATE_STEP = 1 << 20
#: Input given to zlib at a time: what a step leaves unread (``unconsumed_tail``) is copied
#: again at the next step, so a large piece fed whole would be copied over and over (5x the
#: check's CPU on 1 MiB pieces of the fake's stored blocks).
_FEED_STEP = 1 << 16


class GzipStream:
    """Whole gzip members, first byte to last: each inflates to its end, CRC and size right."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer required
        self._in_member = False  # bytes of a member not yet ended were fed
        self._fed = False

    def feed(self, data: bytes) -> bool:
        view = memoryview(data)
        for start in range(0, len(view), _FEED_STEP):
            self._feed(view[start : start + _FEED_STEP])
        return True

    def _feed(self, data: bytes | memoryview) -> None:
        self._fed = True
        held_back = False  # the last step filled its output: more may be waiting inside
        while data or held_back:
            self._in_member = self._in_member or bool(data)
            try:
                out = self._inflate.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                raise ValueError(f"not a whole gzip stream ({exc})") from None
            if self._inflate.eof:  # a member ended: what follows must be another one
                data, held_back = self._inflate.unused_data, False
                self._inflate = zlib.decompressobj(wbits=31)
                self._in_member = False
            else:
                data, held_back = self._inflate.unconsumed_tail, len(out) == _INFLATE_STEP

    def finish(self) -> None:
        if not self._fed:
            raise ValueError("empty, not a gzip stream")
        if self._in_member:
            raise ValueError("the gzip stream is cut short")


#: The first bytes of an Avro object container file.
AVRO_MAGIC = b"Obj\x01"


class AvroMagic:
    """An Avro object container file: it starts with ``Obj\\x01``."""

    def __init__(self) -> None:
        self._head = b""

    def feed(self, data: bytes) -> bool:
        self._head = (self._head + data[: len(AVRO_MAGIC)])[: len(AVRO_MAGIC)]
        return len(self._head) < len(AVRO_MAGIC)

    def finish(self) -> None:
        if self._head != AVRO_MAGIC:
            raise ValueError(f"not an Avro file (starts with {self._head!r}, not {AVRO_MAGIC!r})")


def content_check_for(name: str) -> Callable[[], ContentCheck] | None:
    """The content check a file named ``name`` must pass, or None (size only)."""
    folded = name.casefold()
    if folded.endswith(".gz"):
        return GzipStream
    if folded.endswith(".avro"):
        return AvroMagic
    return None
