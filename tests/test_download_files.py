"""The pure side of downloads: server-given names, duplicates, content checks, answers."""

from __future__ import annotations

import gzip
import os
import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

import centrepoint_async as cp
from centrepoint_async import _download as dl
from centrepoint_async._files import (
    MAX_NAME_BYTES,
    AvroMagic,
    ContentCheck,
    GzipStream,
    check_file_name,
    content_check_for,
    unique_names,
)

UNSAFE = [
    ("", "not a file name"),
    (".", "not a file name"),
    ("..", "not a file name"),
    ("../x.csv", "path separator"),
    ("a/b.csv", "path separator"),
    ("/etc/passwd", "path separator"),
    ("..\\..\\x.csv", "path separator"),
    ("C:\\x.csv", "path separator"),
    ("C:x.csv", "colon"),
    ("a\x00b.csv", "control"),
    ("a\nb.csv", "control"),
    ("a\x1b[31m.csv", "control"),
    ("evil\u202ecsv.exe", "control"),  # a right-to-left override disguising the extension
    ("a\ud800.csv", "control"),  # a lone surrogate: no file system can hold it
    (".. ", "trailing"),
    ("x.csv.", "trailing"),
    ("NUL.csv", "device"),
    ("com1", "device"),
    ("day.csv.part", "part file"),
    ("day.csv.PART.version", "part file"),
    ("a" * (MAX_NAME_BYTES + 1), "longer"),
]


@pytest.mark.parametrize(("name", "reason"), UNSAFE)
def test_unsafe_names_are_refused_with_a_decode_error(name: str, reason: str) -> None:
    """Every kind of unsafe server-given name is a DecodeError saying why."""
    with pytest.raises(cp.DecodeError, match=reason):
        check_file_name(name)


def test_ordinary_names_pass_unchanged() -> None:
    """The API's own names (and other plain ones) are accepted as they are."""
    for name in (
        "raw-accelerometer_2021-01-01_7eee8e85.csv.gz",
        "17896_TAS1F39160337_1561494008_1561645376_1ab3.csv",
        ".hidden",
        "résumé données.avro",
        "a" * MAX_NAME_BYTES,
    ):
        assert check_file_name(name) == name
    with pytest.raises(cp.DecodeError, match="not text"):
        check_file_name(None)


@given(st.text(max_size=40))
def test_a_name_that_passes_names_a_file_directly_inside_the_directory(name: str) -> None:
    """Whatever the server sends, a name that passes cannot leave the directory."""
    folder = Path("/srv/data")
    try:
        checked = check_file_name(name)
    except cp.DecodeError:
        return
    joined = Path(os.path.normpath(folder / checked))
    assert joined.parent == folder and joined.name == checked
    assert "\\" not in checked and ":" not in checked  # nor on Windows


def test_duplicate_names_are_kept_apart_by_id() -> None:
    """A later file with a taken name (any case) gets its id before the extension."""
    names = unique_names(
        [
            ("i1", "day.csv.gz"),
            ("i2", "DAY.CSV.GZ"),
            ("i3", "day.csv.gz"),
            ("i1", "day.csv.gz"),  # the same file listed twice keeps its one name
            ("i4", None),
            ("i5", "notes"),
            ("i6", "notes"),
            ("i7", "a.avro"),
            ("i8", "a.avro"),
            ("i9", "a.i8.avro"),  # taken by i8's renaming: i9 gets its own id
        ]
    )
    assert names == [
        "day.csv.gz",
        "DAY.i2.CSV.GZ",
        "day.i3.csv.gz",
        "day.csv.gz",
        "i4",
        "notes",
        "notes.i6",
        "a.avro",
        "a.i8.avro",
        "a.i8.i9.avro",
    ]


def test_a_listing_with_one_unsafe_name_is_refused_whole() -> None:
    """unique_names raises on the first unsafe name (so nothing is written before)."""
    with pytest.raises(cp.DecodeError, match="control"):
        unique_names([("i1", "ok.csv"), ("i2", "bad\x00.csv")])
    with pytest.raises(cp.DecodeError, match="path separator"):
        unique_names([("i1", "ok.csv"), ("../i2", "ok.csv")])  # an id used as a name is checked


def check_all(check: ContentCheck, data: bytes, step: int = 4096) -> None:
    for at in range(0, len(data), step):
        if not check.feed(data[at : at + step]):
            break
    check.finish()


def test_whole_gzip_streams_pass_and_cut_ones_fail() -> None:
    """A .gz must be whole members to its last byte: cut, padded or garbage ones fail."""
    whole = gzip.compress(random.Random(1).randbytes(300_000)) + gzip.compress(b"second")
    check_all(GzipStream(), whole)
    check_all(GzipStream(), whole, step=1)
    for bad, why in (
        (whole[:-1], "cut short"),
        (whole[:-20], "cut short"),
        (whole[:100], "cut short"),
        (whole + b"\x00", "cut short"),
        (b"", "empty"),
        (b"PK\x03\x04 a zip", "not a whole gzip"),
        (whole[:50] + bytes(50) + whole[100:], "not a whole gzip"),
    ):
        with pytest.raises(ValueError, match=why):
            check_all(GzipStream(), bad)


def test_the_gzip_check_streams_with_bounded_memory() -> None:
    """100 MB of output from a 100 KB gzip is checked in about a megabyte of memory."""
    bomb = gzip.compress(bytes(100_000_000))
    tracemalloc.start()
    try:
        check_all(GzipStream(), bomb, step=1 << 16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000


def test_avro_files_must_start_with_the_magic() -> None:
    """An .avro starts with Obj\\x01; anything else (or too short) fails."""
    check_all(AvroMagic(), b"Obj\x01" + bytes(10_000), step=1)
    for bad in (b"Obj\x02....", b"Ob", b"", b"PAR1"):
        with pytest.raises(ValueError, match="not an Avro file"):
            check_all(AvroMagic(), bad)
    assert not AvroMagic().feed(b"Obj\x01rest")  # it needs no more than the magic


def test_the_check_follows_the_final_name() -> None:
    """.gz / .csv.gz get the gzip check, .avro the magic, other names size only."""
    assert content_check_for("day.csv.gz") is GzipStream
    assert content_check_for("DAY.CSV.GZ") is GzipStream
    assert content_check_for("day.avro") is AvroMagic
    assert content_check_for("day.csv") is None
    assert content_check_for("x.gt3x") is None


def answer(status: int, offset: int = 0, **headers: str) -> dl.Answer:
    return dl.read_answer(status, CIMultiDict(headers), offset)


def test_the_hosts_answers_are_read_without_io() -> None:
    """200/206/416 give the start and total; 401/403 renew; 5xx retry; 404 is final."""
    assert answer(200, 0, **{"Content-Length": "10"}) == dl.Answer(0, 10)
    assert answer(200, 5) == dl.Answer(0, None)  # Range ignored: read from 0, skip 5
    assert answer(206, 5, **{"Content-Range": "bytes 5-9/10"}) == dl.Answer(5, 10)
    assert answer(206, 5, **{"Content-Range": "bytes 3-9/*"}) == dl.Answer(3, None)
    assert answer(416, 10, **{"Content-Range": "bytes */10"}) == dl.Answer(10, 10, body=False)
    with pytest.raises(dl._PartWrong, match="fewer than"):
        answer(416, 12, **{"Content-Range": "bytes */10"})
    with pytest.raises(dl._TryFailed, match="from byte 7"):
        answer(206, 5, **{"Content-Range": "bytes 7-9/10"})
    with pytest.raises(dl._TryFailed, match="single byte range"):
        answer(206, 5, **{"Content-Type": "multipart/byteranges"})
    for status in (401, 403):
        with pytest.raises(dl._LinkRejected):
            answer(status)
    for status in (408, 429, 500, 503, 599):
        with pytest.raises(dl._TryFailed, match=str(status)):
            answer(status)
    for status in (404, 400, 302):
        with pytest.raises(cp.DownloadError, match=str(status)):
            answer(status)
