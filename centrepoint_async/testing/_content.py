"""Bytes of the fake's Data Access day files: real gzip CSV and real Avro container files.

A day file holds one block of rows per second from the day's midnight, for as many seconds as
its target size takes (at most a day). Its bytes are a pure function of its fields, made as
they are sent, at any offset: a 1 GB study costs no memory, and a ``Range`` request starts
where it asks.

- ``.csv.gz``: a gzip member whose DEFLATE data is *stored* blocks (a valid, uncompressed
  stream: a reader checks CRC-32 and length as for any gzip file), of a CSV with a header row
  and the columns of the category (section 1.1 of the data notes).
- ``.avro``: an Avro object container file (magic ``Obj\\x01``, metadata with ``avro.schema``
  and ``avro.codec`` ``null``, a 16-byte sync marker, then blocks of records, each followed by
  the marker), written here by hand: the format is small and the fake takes no dependency.

The CSV and the Avro file of one day carry the same rows.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import itertools
import random
import struct
import zlib
from collections.abc import Iterator
from typing import Literal

import attrs
import orjson

from ._seeded import mix

__all__ = ["CATEGORIES", "DayFile", "StaticBlob", "avro_header", "zigzag"]

FileFormat = Literal["csv", "avro"]

#: Each category: rows a second, and its value columns with their ranges. The columns of
#: raw-accelerometer, imu and temperature are the ones seen in real files; the others are
#: not documented and are made up in the same pattern.
CATEGORIES: dict[str, tuple[int, tuple[tuple[str, float, float], ...]]] = {
    "raw-accelerometer": (32, (("X", -2.0, 2.0), ("Y", -2.0, 2.0), ("Z", -2.0, 2.0))),
    "temperature": (1, (("TemperatureCelsius", 28.0, 35.0),)),
    "ppg-green": (25, (("Green", 0.0, 65535.0),)),
    "ppg-green-100-hz": (100, (("Green", 0.0, 65535.0),)),
    "barometer": (4, (("Pressure", 950.0, 1050.0),)),
    "imu": (
        32,
        (
            ("GyroscopeX", -250.0, 250.0),
            ("GyroscopeY", -250.0, 250.0),
            ("GyroscopeZ", -250.0, 250.0),
            ("Temperature", 28.0, 35.0),
        ),
    ),
    "ppg-red-ir-50-hz": (50, (("Red", 0.0, 65535.0), ("Infrared", 0.0, 65535.0))),
}

_PERIOD = 16  # distinct seconds of values; second k uses pattern k % _PERIOD
_STORED = 65535  # bytes in a stored DEFLATE block, at most
_CHUNK = 64 * 1024
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS ?
_MAGIC = b"Obj\x01"


def zigzag(value: int) -> bytes:
    """An Avro ``int``/``long``: zig-zag, then a little-endian base-128 varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _avro_bytes(data: bytes) -> bytes:
    return zigzag(len(data)) + data


def avro_header(schema: dict[str, object], sync: bytes) -> bytes:
    """The header of an object container file: magic, metadata map, sync marker."""
    meta = {"avro.schema": orjson.dumps(schema), "avro.codec": b"null"}
    entries = b"".join(_avro_bytes(k.encode()) + _avro_bytes(v) for k, v in meta.items())
    return _MAGIC + zigzag(len(meta)) + entries + zigzag(0) + sync


def _record_name(category: str) -> str:
    return "".join(part.capitalize() for part in category.split("-"))


@attrs.frozen
class _Layout:
    """Where everything lies in a file: computed once per file."""

    head: bytes  # CSV header row, or the Avro header
    stamps: int  # bytes of each encoded timestamp (the same all day)
    rests: tuple[tuple[bytes, ...], ...]  # per pattern: each row after its timestamp
    prefix: tuple[int, ...]  # per pattern: offset of its second within a period
    seconds: int  # seconds in the file
    data: int  # CSV: uncompressed length; Avro: bytes of the file


@attrs.frozen
class DayFile:
    """One day file of a subject and category, in one format.

    ``seed`` decides the values (shared by a day's CSV and Avro files); ``start`` is the
    day's midnight in Unix seconds; ``target_size`` the bytes wanted of the CSV (the real
    size, exact, is :attr:`size`); the Avro file of the day holds the same rows.
    """

    name: str
    category: str
    file_format: FileFormat
    subject_id: int
    start: int
    target_size: int
    seed: int

    @property
    def rate(self) -> int:
        """Rows a second."""
        return CATEGORIES[self.category][0]

    @property
    def columns(self) -> list[str]:
        """The column names, in order (the Avro record's fields alike)."""
        order = ["SampleOrder"] if self.rate > 1 else []
        return ["Timestamp", *order, "SubjectId", *(c[0] for c in CATEGORIES[self.category][1])]

    def schema(self) -> dict[str, object]:
        """The Avro schema of a row."""
        kinds = {"Timestamp": "long", "SampleOrder": "int", "SubjectId": "long"}
        return {
            "type": "record",
            "name": _record_name(self.category),
            "namespace": "ActiGraph.DataAccess",
            "fields": [{"name": c, "type": kinds.get(c, "double")} for c in self.columns],
        }

    def values(self, pattern: int) -> list[list[float]]:
        """The value columns of each row of a second using ``pattern`` (rounded to 4 places)."""
        rng = random.Random(mix(self.seed, pattern))
        specs = CATEGORIES[self.category][1]
        return [[round(rng.uniform(lo, hi), 4) for _, lo, hi in specs] for _ in range(self.rate)]

    def _rest(self, order: int, values: list[float]) -> bytes:
        """One row after its timestamp."""
        if self.file_format == "csv":
            cells = ([str(order)] if self.rate > 1 else []) + [str(self.subject_id)]
            return ("," + ",".join([*cells, *(f"{v:.4f}" for v in values)]) + "\n").encode()
        head = (zigzag(order) if self.rate > 1 else b"") + zigzag(self.subject_id)
        return head + struct.pack(f"<{len(values)}d", *values)

    def _stamp(self, second: int) -> bytes:
        when = self.start + second
        return zigzag(when) if self.file_format == "avro" else str(when).encode()

    @functools.cached_property
    def _layout(self) -> _Layout:
        rests = tuple(
            tuple(self._rest(i, row) for i, row in enumerate(self.values(p)))
            for p in range(_PERIOD)
        )
        stamps = len(self._stamp(0))
        if len(self._stamp(86400)) != stamps:
            raise ValueError("a day file's timestamps must all encode to the same length")
        sizes = [stamps * self.rate + sum(map(len, r)) for r in rests]
        prefix = (0, *itertools.accumulate(sizes))
        if self.file_format == "csv":
            head = (",".join(self.columns) + "\n").encode()
            per_second = prefix[-1] / _PERIOD * (1 + 5 / _STORED)
            seconds = _fit(self.target_size - 18 - len(head), per_second)
            data = len(head) + _offset(prefix, seconds)
        else:
            sync = random.Random(self.seed).randbytes(16)
            head = avro_header(self.schema(), sync)
            seconds = attrs.evolve(self, file_format="csv").seconds  # the CSV's rows, exactly
            full, rest = divmod(seconds, _PERIOD)
            data = len(head) + full * self._block_size(prefix, _PERIOD)
            data += self._block_size(prefix, rest) if rest else 0
        return _Layout(head, stamps, rests, prefix, seconds, data)

    def _block_size(self, prefix: tuple[int, ...], seconds: int) -> int:
        rows = seconds * self.rate
        return len(zigzag(rows)) + len(zigzag(prefix[seconds])) + prefix[seconds] + 16

    @property
    def seconds(self) -> int:
        """Seconds of data in the file (rows: ``seconds * rate``)."""
        return self._layout.seconds

    @property
    def size(self) -> int:
        """The file's exact size in bytes."""
        lay = self._layout
        if self.file_format == "avro":
            return lay.data
        blocks = -(-lay.data // _STORED)
        return len(_GZIP_HEADER) + 5 * blocks + lay.data + 8

    def _second(self, k: int) -> bytes:
        """The rows of second ``k``."""
        stamp = self._stamp(k)
        return stamp + stamp.join(self._layout.rests[k % _PERIOD])

    def _seconds_from(self, k: int, within: int, length: int) -> bytes:
        """``length`` bytes of the rows from byte ``within`` of second ``k`` on."""
        out = []
        while length > 0:
            piece = self._second(k)[within : within + length]
            out.append(piece)
            length -= len(piece)
            within, k = 0, k + 1
        return b"".join(out)

    def _rows(self, u0: int, u1: int) -> bytes:
        """Bytes ``u0`` to ``u1`` of the CSV text (header included)."""
        lay = self._layout
        head = lay.head[u0:u1]
        u0 = max(u0, len(lay.head))
        if u0 >= u1:
            return head
        periods, r = divmod(u0 - len(lay.head), lay.prefix[-1])
        pattern = bisect.bisect_right(lay.prefix, r) - 1
        k = periods * _PERIOD + pattern
        return head + self._seconds_from(k, r - lay.prefix[pattern], u1 - u0)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The file's bytes ``start`` to ``end`` (exclusive), in pieces of about 64 KiB."""
        end = self.size if end is None else min(end, self.size)
        pieces = self._gzip_from(start) if self.file_format == "csv" else self._avro_from(start)
        position = start
        for piece in pieces:
            if position >= end:
                return
            piece = piece[: end - position]
            position += len(piece)
            yield piece

    def content(self) -> bytes:
        """The whole file (for assertions on small files)."""
        return b"".join(self.chunks())

    def _gzip_from(self, position: int) -> Iterator[bytes]:
        lay = self._layout
        blocks = -(-lay.data // _STORED)
        crc: int | None = 0 if position <= len(_GZIP_HEADER) else None
        if position < len(_GZIP_HEADER):
            yield _GZIP_HEADER[position:]
            position = len(_GZIP_HEADER)
        data_end = len(_GZIP_HEADER) + 5 * blocks + lay.data
        while position < data_end:
            index, within = divmod(position - len(_GZIP_HEADER), _STORED + 5)
            u0 = index * _STORED
            body = self._rows(u0, min(lay.data, u0 + _STORED))
            final = 1 if index == blocks - 1 else 0
            head = struct.pack("<BHH", final, len(body), len(body) ^ 0xFFFF)
            if crc is not None:
                crc = zlib.crc32(body, crc)
            block = head + body
            yield block[within:]
            position += len(block) - within
        total = crc if crc is not None else _crc(self)
        trailer = struct.pack("<II", total, lay.data & 0xFFFFFFFF)
        yield trailer[position - data_end :]

    def _avro_from(self, position: int) -> Iterator[bytes]:
        lay = self._layout
        if position < len(lay.head):
            yield lay.head[position:]
            position = len(lay.head)
        full_size = self._block_size(lay.prefix, _PERIOD)
        full, rest = divmod(lay.seconds, _PERIOD)
        pending: list[bytes] = []  # blocks gathered into pieces of about 64 KiB
        while position < lay.data:
            index, within = divmod(position - len(lay.head), full_size)
            count = _PERIOD if index < full else rest
            data = self._seconds_from(index * _PERIOD, 0, lay.prefix[count])
            block = zigzag(count * self.rate) + zigzag(len(data)) + data + lay.head[-16:]
            pending.append(block[within:])
            position += len(block) - within
            if len(pending) * full_size >= _CHUNK:
                yield b"".join(pending)
                pending.clear()
        yield b"".join(pending)


@functools.lru_cache(maxsize=256)
def _crc(file: DayFile) -> int:
    """CRC-32 of a CSV's text, for a ``Range`` request that ends with the gzip trailer."""
    crc, data = 0, file._layout.data
    for u0 in range(0, data, 1 << 20):
        crc = zlib.crc32(file._rows(u0, min(data, u0 + (1 << 20))), crc)
    return crc


def _fit(room: float, per_second: float) -> int:
    """Seconds of rows that fill ``room`` bytes: at least one, at most a day."""
    return max(1, min(86400, round(room / per_second)))


def _offset(prefix: tuple[int, ...], seconds: int) -> int:
    periods, rest = divmod(seconds, _PERIOD)
    return periods * prefix[-1] + prefix[rest]


@attrs.frozen
class StaticBlob:
    """A small file held whole (a dataset export): gzip-compressed ``text``."""

    name: str
    text: bytes = attrs.field(repr=False)

    @functools.cached_property
    def _bytes(self) -> bytes:
        return gzip.compress(self.text, mtime=0)

    @property
    def size(self) -> int:
        return len(self._bytes)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        data = self._bytes[start:end]
        for i in range(0, len(data), _CHUNK):
            yield data[i : i + _CHUNK]

    def content(self) -> bytes:
        return self._bytes
