"""mirror_study against the fake on loopback: the layout, the checks, the incremental rules."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

import centrepoint_async as cp
from centrepoint_async._download import mtime_ns
from centrepoint_async._lock import OutputLock
from centrepoint_async.testing import FakeCentrePoint
from centrepoint_async.testing import _access as fake_access

from .mirror_support import (
    STUDY,
    expected,
    mirrored,
    no_backoff,  # noqa: F401 (autouse: no backoff here)
    small_study,
    wrote_nothing_outside,
)

RAW, TEMP, IMU = "raw-accelerometer", "temperature", "imu"
RECORD = ".centrepoint-mirror.json"


@pytest.fixture
async def fake() -> AsyncIterator[FakeCentrePoint]:
    async with FakeCentrePoint(dataset=small_study()) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCentrePoint) -> AsyncIterator[cp.CentrePointClient]:
    async with fake.client() as made:
        yield made


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


def first_subject(fake: FakeCentrePoint) -> int:
    subject: int = fake.dataset.subjects[STUDY][0]["id"]
    return subject


def first_day(fake: FakeCentrePoint, subject: int) -> date:
    return fake.dataset.span(subject).start


def only_listing_requests(fake: FakeCentrePoint, since: int) -> bool:
    """Every API request after the first ``since``: a GET of the subjects or of day files."""
    sent = fake.api_requests()[since:]
    return all(
        r.method == "GET" and (r.path.endswith("/Subjects") or "/dataaccess/v3/files/" in r.path)
        for r in sent
    )


def blob_gets(fake: FakeCentrePoint, since: int = 0) -> list[str]:
    """The paths the storage host was asked for (GET), after the first ``since`` requests."""
    return [r.path for r in fake.blob_requests[since:] if r.method == "GET"]


# --- what is mirrored, and where --------------------------------------------------------------


async def test_every_subject_of_every_page_and_every_file_of_every_page(tmp_path: Path) -> None:
    """101 subjects (two pages of subjects) and a subject with 105 days (two pages of files):
    every file of every chosen category lands under DIR/subject-{id}/{category}/{fileName}."""
    data = small_study(subjects=101, days=1, size=256)
    data.add_subject(STUDY, days=105)
    async with FakeCentrePoint(dataset=data) as fake, fake.client() as client:
        result = await cp.mirror_study(client, STUDY, tmp_path / "m", categories=[TEMP])
        want = expected(fake, [TEMP])
        assert mirrored(tmp_path / "m") == want
        assert len(want) == 101 + 105
        assert (result.subjects, result.files_listed, result.files_downloaded) == (102, 206, 206)
        assert result.failed == [] and result.bytes_downloaded == sum(map(len, want.values()))
        assert len([r for r in fake.api_requests() if r.path.endswith("/Subjects")]) == 2


async def test_the_chosen_categories_format_and_range_only(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """Avro files of two categories, of the days from start to end only (both inclusive)."""
    subject = first_subject(fake)
    day = first_day(fake, subject) + timedelta(days=1)
    result = await cp.mirror_study(
        client, STUDY, root, categories=[RAW, IMU], file_format="avro", start=day, end=day
    )
    want = expected(fake, [RAW, IMU], file_format="avro", start=day, end=day)
    assert want and all(path.endswith(".avro") for path in want)
    assert mirrored(root) == want
    assert result.files_downloaded == len(want) >= 4  # subjects' spans start on other days


async def test_subjects_given_are_the_only_ones_listed_and_mirrored(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """subjects=[...] mirrors those subjects without listing the study's subjects."""
    subject = first_subject(fake)
    result = await cp.mirror_study(client, STUDY, root, subjects=[subject, subject])
    assert mirrored(root) == expected(fake, [RAW], subjects=[subject])
    assert result.subjects == 1
    assert not [r for r in fake.api_requests() if r.path.endswith("/Subjects")]


async def test_a_shard_takes_the_subjects_whose_id_modulo_n_is_k(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """shard=(k, 3): subjects with id % 3 == k; the three shards together make the study."""
    ids = [s["id"] for s in fake.dataset.subjects[STUDY]]
    for k in range(3):
        before = set(mirrored(root))
        result = await cp.mirror_study(client, STUDY, root, categories=[TEMP], shard=(k, 3))
        mine = [i for i in ids if i % 3 == k]
        assert set(mirrored(root)) - before == set(expected(fake, [TEMP], subjects=mine))
        assert result.subjects == len(mine)
    assert mirrored(root) == expected(fake, [TEMP])


async def test_options_are_checked_before_any_request(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """A bad shard, format, category, range or concurrency: ConfigurationError, nothing sent."""
    cases: list[dict[str, Any]] = [
        {"shard": (3, 3)},
        {"shard": (0, 0)},
        {"shard": (-1, 2)},
        {"file_format": "gt3x"},
        {"categories": ["Raw Accelerometer"]},
        {"categories": []},
        {"start": date(2024, 2, 2), "end": date(2024, 2, 1)},
        {"start": "2024-01-01"},
        {"concurrency": 0},
        {"concurrency": 65},
        {"subjects": ["x"]},
    ]
    for kwargs in cases:
        with pytest.raises(cp.ConfigurationError):
            await cp.mirror_study(client, STUDY, root, **kwargs)
    assert fake.requests == [] and not root.exists()


# --- nothing half-done is trusted ----------------------------------------------------------------


async def test_unsafe_names_fail_alone_and_nothing_is_written_outside(
    fake: FakeCentrePoint,
    client: cp.CentrePointClient,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names with a separator, '..', an absolute path, a control character or the mirror's own
    record name are reported in failed, named; every other file is mirrored; the run returns."""
    subject = first_subject(fake)
    days = fake.dataset.span(subject).dates()
    bad = {
        days[0]: "../../escaped.csv.gz",
        days[1]: "/tmp/absolute.csv.gz",
        days[2]: "bell\x07.csv.gz",
    }
    other = fake.dataset.subjects[STUDY][1]["id"]
    hostile(monkeypatch, {(subject, day): name for day, name in bad.items()})
    hostile(monkeypatch, {(other, first_day(fake, other)): ".centrepoint-mirror.json"})
    result = await cp.mirror_study(client, STUDY, root)
    failed = {(f.subject_id, f.file_name) for f in result.failed}
    assert failed == {(subject, n) for n in bad.values()} | {(other, ".centrepoint-mirror.json")}
    assert all("unsafe file name" in f.reason or "mirror keeps" in f.reason for f in result.failed)
    assert "'bell\\x07.csv.gz'" in str(next(f for f in result.failed if "bell" in str(f.file_name)))
    good = {p: b for p, b in expected(fake, [RAW]).items() if not _unsafe_path(p, bad, other)}
    assert mirrored(root) == good
    assert result.files_downloaded == len(good) and result.files_listed == len(good) + 4
    assert wrote_nothing_outside(root)
    record = orjson.loads(
        (root / f"subject-{other}" / RAW / ".centrepoint-mirror.json").read_bytes()
    )
    assert len(record["files"]) == 2  # its own record was never overwritten by a "day file"


def _unsafe_path(path: str, bad: dict[date, str], other: int) -> bool:
    return any(n in path for n in bad.values()) or (
        path.startswith(f"subject-{other}/") and path.endswith(".centrepoint-mirror.json")
    )


def hostile(monkeypatch: pytest.MonkeyPatch, names: dict[tuple[int, date], str]) -> None:
    """Make the fake list (and serve) the given days under the given names."""
    original = fake_access.file_name

    def file_name(dataset: Any, subject_id: int, category: str, value: date, fmt: str) -> str:
        given = original(dataset, subject_id, category, value, fmt)
        return names.get((subject_id, value), given)

    monkeypatch.setattr(fake_access, "file_name", file_name)


async def test_two_files_listed_under_one_name_are_kept_apart(
    fake: FakeCentrePoint,
    client: cp.CentrePointClient,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two days listed as 'day.csv.gz' (and one as 'DAY.CSV.GZ'): three files, each with its
    own day's bytes, the later ones under the name with their day before the extension."""
    subject = first_subject(fake)
    days = fake.dataset.span(subject).dates()
    names = {(subject, days[0]): "day.csv.gz", (subject, days[1]): "day.csv.gz"}
    names[(subject, days[2])] = "DAY.CSV.GZ"
    hostile(monkeypatch, names)
    result = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    folder = root / f"subject-{subject}" / RAW
    stored = ["day.csv.gz", f"day.{days[1]}.csv.gz", f"DAY.{days[2]}.CSV.GZ"]
    for name, day in zip(stored, days, strict=True):
        assert (folder / name).read_bytes() == fake.dataset.day_file(
            STUDY, subject, RAW, day
        ).content()
    assert result.files_downloaded == 3 and result.failed == []
    again = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    assert (again.files_downloaded, again.files_skipped) == (0, 3)


async def test_a_download_that_keeps_failing_is_reported_and_the_rest_goes_on(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """The storage host refuses one file for good: it is in failed, with the reason; every
    other file is mirrored; a rerun fetches it."""
    fake.inject_blob("status", status=404)
    result = await cp.mirror_study(client, STUDY, root, concurrency=1)
    assert len(result.failed) == 1
    [failure] = result.failed
    assert failure.file_name is not None and "answered 404" in failure.reason
    assert result.files_downloaded == result.files_listed - 1
    assert not (root / failure.path).exists()
    again = await cp.mirror_study(client, STUDY, root)
    assert (again.files_downloaded, again.failed) == (1, [])
    assert mirrored(root) == expected(fake, [RAW])


async def test_a_listing_that_fails_is_reported_and_the_others_go_on(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """One subject's listing fails for good (404): that subject and category is reported
    (no file name), every other subject is mirrored."""
    subject = first_subject(fake)
    fake.inject("status", status=404, path=f"/subjects/{subject}/{RAW}")
    result = await cp.mirror_study(client, STUDY, root)
    assert [(f.subject_id, f.category, f.file_name) for f in result.failed] == [
        (subject, RAW, None)
    ]
    assert "listing failed" in result.failed[0].reason
    others = [s["id"] for s in fake.dataset.subjects[STUDY][1:]]
    assert mirrored(root) == expected(fake, [RAW], subjects=others)


async def test_drops_mid_body_are_resumed_to_the_size_the_storage_host_announced(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """Bodies cut short of their Content-Length are continued, never finished short: every
    file is byte for byte the served one (Avro files: only their size can tell)."""
    fake.inject_blob("drop", count=6, after_bytes=700)
    result = await cp.mirror_study(client, STUDY, root, file_format="avro")
    assert result.failed == [] and mirrored(root) == expected(fake, [RAW], file_format="avro")
    assert sum(1 for r in fake.blob_requests if r.fault == "drop") == 6  # all six were cut


async def test_expired_links_are_renewed_by_listing_that_day_and_no_token_goes_to_storage(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """Links refused as expired: each is renewed by listing its day again (startDate = endDate
    = the day, same format); the storage host never sees an Authorization header."""
    fake.inject_blob("expired", count=3)
    result = await cp.mirror_study(client, STUDY, root, concurrency=1)
    assert result.failed == [] and mirrored(root) == expected(fake, [RAW])
    assert result.links_renewed == 3
    days = [r.query for r in fake.api_requests("/dataaccess/") if "startDate" in r.query]
    assert len(days) == 3
    assert all(q["startDate"] == q["endDate"] and q["fileFormat"] == "csv" for q in days)
    assert not any(r.authorization for r in fake.blob_requests)


async def test_a_renewal_never_mixes_two_versions_of_a_day(
    fake: FakeCentrePoint, client: cp.CentrePointClient, tmp_path: Path
) -> None:
    """A day processed again under the same name while its link expired: the renewal refuses
    the new bytes for the old version (DownloadError), and no file gets the name."""
    subject = first_subject(fake)
    day = first_day(fake, subject)
    fake.file_link_lifetime = 0
    [found] = await client.data_access.files(
        STUDY, subject, IMU, start=day, end=day, file_format="avro"
    ).collect()
    fake.dataset.bump_day(STUDY, subject, IMU, day)
    fake.file_link_lifetime = 3600
    with pytest.raises(cp.DownloadError, match="processed again"):
        await client.data_access.download(found, tmp_path)
    assert not (tmp_path / found.file_name).exists()


# --- incremental ---------------------------------------------------------------------------------


async def test_a_rerun_on_an_unchanged_study_downloads_nothing_and_only_lists(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """The second run: 0 bytes, no request to the storage host, only listing requests."""
    first = await cp.mirror_study(client, STUDY, root, categories=[RAW, TEMP])
    api, blobs = len(fake.api_requests()), len(fake.blob_requests)
    again = await cp.mirror_study(client, STUDY, root, categories=[RAW, TEMP])
    assert (again.bytes_downloaded, again.files_downloaded) == (0, 0)
    assert again.files_skipped == again.files_listed == first.files_downloaded
    assert len(fake.blob_requests) == blobs
    assert only_listing_requests(fake, api) and len(fake.api_requests()) == api + 1 + 4 * 2


async def test_a_day_whose_modified_date_moved_is_fetched_again_and_replaces_the_old(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """bump_day: the rerun fetches that one file and it replaces the old bytes (same name)."""
    await cp.mirror_study(client, STUDY, root)
    subject = first_subject(fake)
    day = first_day(fake, subject)
    item = fake.dataset.bump_day(STUDY, subject, RAW, day)[0]  # the CSV (the Avro next)
    blobs = len(fake.blob_requests)
    again = await cp.mirror_study(client, STUDY, root)
    assert again.files_downloaded == 1 and again.files_skipped == again.files_listed - 1
    assert blob_gets(fake, blobs) == [blob_gets(fake, blobs)[0]]
    assert blob_gets(fake, blobs)[0].endswith(item["fileName"])
    assert mirrored(root) == expected(fake, [RAW])


async def test_a_failed_refetch_leaves_the_old_version_whole_under_the_name(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """A changed day whose download keeps breaking: the old file stays, whole, under its name
    (the replacement is atomic); the next run continues the part and replaces it."""
    subject = first_subject(fake)
    day = first_day(fake, subject)
    await cp.mirror_study(client, STUDY, root, subjects=[subject])
    [old] = fake.dataset.day_files(STUDY, subject, RAW, start=day, end=day, file_format="csv")
    path = root / f"subject-{subject}" / RAW / old["fileName"]
    before = path.read_bytes()
    fake.dataset.bump_day(STUDY, subject, RAW, day)
    fake.inject_blob("drop", count=8, after_bytes=100)
    broken = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    assert [f.file_name for f in broken.failed] == [old["fileName"]]
    assert path.read_bytes() == before
    assert path.with_name(path.name + ".part").stat().st_size > 0
    fixed = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    assert fixed.files_downloaded == 1 and fixed.failed == []
    assert path.read_bytes() == fake.dataset.day_file(STUDY, subject, RAW, day).content()
    assert fake.blob_requests[-1].range is not None  # continued, not fetched from its start


async def test_a_day_processed_again_under_a_new_name_replaces_the_old_file(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """bump_day(rename=True): the new file is fetched, then the old day's file is removed and
    the record names the new one only."""
    await cp.mirror_study(client, STUDY, root)
    subject = first_subject(fake)
    day = first_day(fake, subject)
    folder = root / f"subject-{subject}" / RAW
    [old] = fake.dataset.day_files(STUDY, subject, RAW, start=day, end=day, file_format="csv")
    new = fake.dataset.bump_day(STUDY, subject, RAW, day, rename=True)[0]
    assert new["fileName"] != old["fileName"] and (folder / old["fileName"]).exists()
    again = await cp.mirror_study(client, STUDY, root)
    assert again.files_downloaded == 1
    assert not (folder / old["fileName"]).exists()
    assert mirrored(root) == expected(fake, [RAW])
    record = orjson.loads((folder / RECORD).read_bytes())["files"]
    assert new["fileName"] in record and old["fileName"] not in record


async def test_files_the_api_no_longer_lists_stay_in_place(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """A day that is no longer listed keeps its file (and a range outside it touches nothing)."""
    await cp.mirror_study(client, STUDY, root)
    kept = mirrored(root)
    subject = first_subject(fake)
    span = fake.dataset.spans[subject]
    fake.dataset.spans[subject] = type(span)(span.start + timedelta(days=1), span.days - 1)
    again = await cp.mirror_study(client, STUDY, root, end=span.start + timedelta(days=5))
    assert again.files_downloaded == 0 and mirrored(root) == kept


async def test_a_finished_file_not_yet_recorded_is_adopted_never_fetched_again(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """Killed between a file's rename and its record: the file carries its modifiedDate as
    its time, so the rerun records it without fetching; a file with another time is fetched."""
    subject = first_subject(fake)
    await cp.mirror_study(client, STUDY, root, subjects=[subject])
    folder = root / f"subject-{subject}" / RAW
    (folder / RECORD).unlink()  # as if killed before any record
    [one, other, *_] = fake.dataset.day_files(STUDY, subject, RAW, file_format="csv")
    assert os.stat(folder / one["fileName"]).st_mtime_ns == mtime_ns(
        datetime.fromisoformat(one["modifiedDate"])
    )
    os.utime(folder / other["fileName"], (0, 0))  # a file whose version is unknown
    blobs = len(fake.blob_requests)
    again = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    assert (again.files_downloaded, again.files_skipped) == (1, again.files_listed - 1)
    assert [p.rsplit("/", 1)[1] for p in blob_gets(fake, blobs)] == [other["fileName"]]
    record = orjson.loads((folder / RECORD).read_bytes())["files"]
    assert set(record) == {
        f["fileName"]
        for f in fake.dataset.day_files(STUDY, subject, RAW)
        if f["fileFormat"] == "csv"
    }


async def test_a_damaged_record_is_read_as_empty_and_nothing_is_trusted_blindly(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """A record that is not JSON: a warning, files checked by their times (all adopted here),
    a file changed meanwhile fetched; the record is written anew."""
    subject = first_subject(fake)
    await cp.mirror_study(client, STUDY, root, subjects=[subject])
    folder = root / f"subject-{subject}" / RAW
    (folder / RECORD).write_bytes(b"{not json")
    fake.dataset.bump_day(STUDY, subject, RAW, first_day(fake, subject))
    again = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    assert again.files_downloaded == 1 and again.files_skipped == again.files_listed - 1
    assert orjson.loads((folder / RECORD).read_bytes())["layout"] == 1
    assert mirrored(root) == expected(fake, [RAW], subjects=[subject])


# --- many processes, progress ------------------------------------------------------------------


async def test_a_subject_another_process_is_mirroring_is_reported_and_skipped(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """The subject's lock is held elsewhere: its categories are reported (naming the holder),
    nothing is written there, every other subject is mirrored."""
    subject = first_subject(fake)
    (root / f"subject-{subject}").mkdir(parents=True)
    with OutputLock(root / f"subject-{subject}" / ".centrepoint-mirror"):
        result = await cp.mirror_study(client, STUDY, root, categories=[RAW, TEMP])
    assert {(f.subject_id, f.category) for f in result.failed} == {(subject, RAW), (subject, TEMP)}
    assert all(f"pid {os.getpid()}" in f.reason for f in result.failed)
    others = [s["id"] for s in fake.dataset.subjects[STUDY][1:]]
    assert mirrored(root) == expected(fake, [RAW, TEMP], subjects=others)


async def test_progress_is_told_as_files_finish(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """progress(result) is called as files finish: the counts only grow, and the last call
    sees the final result."""
    seen: list[tuple[int, int, int]] = []

    def progress(result: cp.MirrorResult) -> None:
        seen.append((result.files_listed, result.files_downloaded, result.bytes_downloaded))

    result = await cp.mirror_study(client, STUDY, root, progress=progress, concurrency=2)
    downloaded = [d for _, d, _ in seen]
    assert downloaded == sorted(downloaded) and len(set(downloaded)) == result.files_downloaded + 1
    assert seen[-1] == (result.files_listed, result.files_downloaded, result.bytes_downloaded)


async def test_concurrency_bounds_the_downloads_in_flight(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """concurrency=2: never more than two files downloading at once (counted from the disk:
    part files present at any moment)."""
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            parts = sum(1 for _ in root.rglob("*.part")) if root.exists() else 0
            peak = max(peak, parts)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        result = await cp.mirror_study(client, STUDY, root, concurrency=2)
    finally:
        done.set()
        await watcher
    assert 1 <= peak <= 2 and result.files_downloaded == 12


async def test_a_recorded_file_cut_or_removed_since_is_fetched_again(
    fake: FakeCentrePoint, client: cp.CentrePointClient, root: Path
) -> None:
    """A file cut short on disk (its time kept) and one removed: the rerun fetches both, the
    record alone never vouches for a file whose size is not the recorded one."""
    subject = first_subject(fake)
    await cp.mirror_study(client, STUDY, root, subjects=[subject])
    folder = root / f"subject-{subject}" / RAW
    [cut, gone, *_] = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    stat = cut.stat()
    with cut.open("r+b") as handle:
        handle.truncate(stat.st_size // 2)
    os.utime(cut, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    gone.unlink()
    again = await cp.mirror_study(client, STUDY, root, subjects=[subject])
    assert again.files_downloaded == 2
    assert mirrored(root) == expected(fake, [RAW], subjects=[subject])
