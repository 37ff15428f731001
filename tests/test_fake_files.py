"""FakeCentrePoint's Data Access: day files listed as documented, served by the blob host as
real gzip CSV and Avro bytes through expiring signed URLs, re-processing on demand; study
programs, dataset files and export subjects (plain aiohttp requests, no SDK)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import re
import struct
import tracemalloc
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from centrepoint_async.testing import Dataset, DayFile, FakeCentrePoint

from .helpers_fake import Api

STUDY, SUBJECT, ALL_CATEGORIES_STUDY = 100, 100001, 101
LATE = 100009  # index 8: from 2024-01-28 to 2024-02-03, across a month
NAME = re.compile(
    r"^(?P<cat>[a-z0-9-]+)_(?P<day>\d{4}-\d\d-\d\d)_(?P<hex>[0-9a-f]{8})\.(csv\.gz|avro)$"
)


def files(study: int, subject: int, category: str = "raw-accelerometer") -> str:
    return f"/dataaccess/v3/files/studies/{study}/subjects/{subject}/{category}"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        FakeCentrePoint(dataset=Dataset.generate(0, days=7, day_file_size=40_000)) as fake,
        aiohttp.ClientSession() as session,
    ):
        caller = Api(fake, session)
        await caller.login("DataAccess")
        yield caller


async def download(
    api: Api, url: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, Any]:
    """Status, body and headers of a blob host GET (no bearer token)."""
    async with api.session.get(url, headers=headers) as response:
        return response.status, await response.read(), response.headers


def read_avro(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An independent reader of Avro object container files (null codec): schema, records."""
    position = 0

    def take(n: int) -> bytes:
        nonlocal position
        position += n
        return data[position - n : position]

    def long() -> int:
        shift = value = 0
        while True:
            byte = take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return (value >> 1) ^ -(value & 1)

    assert take(4) == b"Obj\x01"
    meta: dict[str, bytes] = {}
    while count := long():
        for _ in range(abs(count)):
            key = take(long()).decode()
            meta[key] = take(long())
    sync = take(16)
    assert meta["avro.codec"] == b"null"
    schema = orjson.loads(meta["avro.schema"])
    records = []
    while position < len(data):
        count, size = long(), long()
        end = position + size
        for _ in range(count):
            record: dict[str, Any] = {}
            for field in schema["fields"]:
                if field["type"] == "double":
                    record[field["name"]] = struct.unpack("<d", take(8))[0]
                else:
                    record[field["name"]] = long()
            records.append(record)
        assert position == end and take(16) == sync
    return schema, records


def read_csv(data: bytes) -> list[dict[str, Any]]:
    """The rows of a gzip CSV, numbers as numbers."""
    rows = csv.DictReader(io.StringIO(gzip.decompress(data).decode()))
    whole = {"Timestamp", "SampleOrder", "SubjectId"}
    return [{k: int(v) if k in whole else float(v) for k, v in row.items()} for row in rows]


async def test_day_files_are_listed_both_formats_inclusive_days(api: Api) -> None:
    """Without fileFormat both formats come, CSV first, sharing the hex; startDate/endDate are
    inclusive days (the documents' example: 01-01 to 01-02 gives both days)."""
    path = files(STUDY, SUBJECT) + "?startDate=2024-01-21T00:00:00&endDate=2024-01-22T00:00:00"
    items = (await api.get(path))["items"]
    assert [(i["date"], i["fileFormat"]) for i in items] == [
        ("2024-01-21T00:00:00+00:00", "csv"),
        ("2024-01-21T00:00:00+00:00", "avro"),
        ("2024-01-22T00:00:00+00:00", "csv"),
        ("2024-01-22T00:00:00+00:00", "avro"),
    ]
    for item in items:
        found = NAME.match(item["fileName"])
        assert found and found["cat"] == "raw-accelerometer" and found["day"] == item["date"][:10]
        assert item["modifiedDate"][:10] == "2024-01-" + str(int(item["date"][8:10]) + 1)
        assert set(item) >= {
            "studyId",
            "subjectId",
            "dataCategory",
            "downloadUrl",
            "downloadUrlExpiresOn",
        }
    assert items[0]["fileName"][:-7] == items[1]["fileName"][:-5]  # same hex for both formats
    listed = [{k: v for k, v in i.items() if not k.startswith("download")} for i in items]
    assert listed == api.fake.dataset.day_files(
        STUDY, SUBJECT, "raw-accelerometer", start="2024-01-21", end="2024-01-22"
    )
    every = (await api.get(files(STUDY, SUBJECT)))["items"]
    assert (
        len(every) == 14 and (await api.get(files(STUDY, SUBJECT) + "?limit=5"))["totalCount"] == 14
    )


async def test_sort_order_file_format_and_categories(api: Api) -> None:
    """sortOrder desc reverses the days; fileFormat picks one; an unknown category or value is a
    400; a category the study does not record lists nothing."""
    asc = (await api.get(files(STUDY, SUBJECT) + "?fileFormat=csv"))["items"]
    desc = (await api.get(files(STUDY, SUBJECT) + "?fileFormat=CSV&sortOrder=DESC"))["items"]
    assert [i["date"] for i in desc] == [i["date"] for i in reversed(asc)] and len(asc) == 7
    assert {
        i["fileFormat"]
        for i in (await api.get(files(STUDY, SUBJECT) + "?fileFormat=avro"))["items"]
    } == {"avro"}
    for bad in ("?sortOrder=up", "?fileFormat=parquet", "?startDate=soon"):
        assert (await api.send("GET", files(STUDY, SUBJECT) + bad)).status == 400
    assert (await api.send("GET", files(STUDY, SUBJECT, "ppg-blue"))).status == 400
    assert (await api.get(files(STUDY, SUBJECT, "barometer")))["items"] == []  # not recorded
    assert (await api.get(files(ALL_CATEGORIES_STUDY, 101001, "barometer")))["items"]


async def test_by_year_month_and_day_routes(api: Api) -> None:
    """The dated routes narrow to a year, a month, a day; '1' and '01' alike; 13 is a 400."""
    path = files(STUDY, LATE) + "?fileFormat=csv"
    january = (await api.get(path.replace("?", "/2024/1?")))["items"]
    february = (await api.get(path.replace("?", "/2024/02?")))["items"]
    assert january == (await api.get(path.replace("?", "/2024/01?")))["items"]
    assert {i["date"][5:7] for i in january} == {"01"} and {i["date"][5:7] for i in february} == {
        "02"
    }
    assert (
        len(january) + len(february)
        == len((await api.get(path.replace("?", "/2024?")))["items"])
        == 7
    )
    one = (await api.get(path.replace("?", "/2024/2/3?")))["items"]
    assert [i["date"] for i in one] == ["2024-02-03T00:00:00+00:00"]
    assert (await api.send("GET", path.replace("?", "/2024/13?"))).status == 400
    assert (await api.get(path.replace("?", "/2023?")))["items"] == []


async def test_download_urls_are_signed_urls_of_the_blob_host(api: Api) -> None:
    """downloadUrl: the blob host, the documented path, a SAS query; no token needed there,
    and a bearer token is refused; HEAD gives the size without the body."""
    item = (await api.get(files(STUDY, SUBJECT) + "?limit=1"))["items"][0]
    url = urllib.parse.urlsplit(item["downloadUrl"])
    assert item["downloadUrl"].startswith(api.fake.blob_url) and api.fake.blob_url != api.fake.url
    assert (
        url.path
        == f"/study-0000000100/subject-0000100001/raw-accelerometer/2024/01/20/{item['fileName']}"
    )
    query = urllib.parse.parse_qs(url.query)
    assert set(query) == {"sp", "st", "se", "spr", "sv", "sr", "sig"} and query["sp"] == ["r"]
    status, body, headers = await download(api, item["downloadUrl"])
    assert status == 200 and int(headers["Content-Length"]) == len(body)
    expected = api.fake.dataset.day_file(STUDY, SUBJECT, "raw-accelerometer", date(2024, 1, 20))
    assert body == expected.content() and abs(len(body) - 40_000) < 2_000
    async with api.session.head(item["downloadUrl"]) as response:
        assert response.status == 200 and response.headers["Content-Length"] == str(len(body))
        assert await response.read() == b"" and api.fake.blob_requests[-1].method == "HEAD"
    assert (await download(api, item["downloadUrl"], {"Authorization": "Bearer x"}))[0] == 400
    assert (await download(api, item["downloadUrl"].replace("sig=", "sig=0")))[0] == 403


async def test_csv_and_avro_carry_the_same_rows_in_real_formats(api: Api) -> None:
    """Every category's .csv.gz is a gzip CSV with its documented columns, and its .avro an
    object container file holding the same rows, from the day's midnight on."""
    for category in api.fake.dataset.categories(ALL_CATEGORIES_STUDY):
        items = (await api.get(files(ALL_CATEGORIES_STUDY, 101001, category) + "?limit=2"))["items"]
        csv_bytes = (await download(api, items[0]["downloadUrl"]))[1]
        avro_bytes = (await download(api, items[1]["downloadUrl"]))[1]
        rows = read_csv(csv_bytes)
        schema, records = read_avro(avro_bytes)
        assert rows == records and rows, category
        assert [f["name"] for f in schema["fields"]] == list(rows[0])
        midnight = int(datetime.fromisoformat(items[0]["date"]).timestamp())
        assert rows[0]["Timestamp"] == midnight and rows[0]["SubjectId"] == 101001
    columns = {
        "raw-accelerometer": ["Timestamp", "SampleOrder", "SubjectId", "X", "Y", "Z"],
        "temperature": ["Timestamp", "SubjectId", "TemperatureCelsius"],
        "imu": [
            "Timestamp",
            "SampleOrder",
            "SubjectId",
            "GyroscopeX",
            "GyroscopeY",
            "GyroscopeZ",
            "Temperature",
        ],
    }
    for category, names in columns.items():
        day = api.fake.dataset.day_file(STUDY, SUBJECT, category, date(2024, 1, 20))
        assert gzip.decompress(day.content()).split(b"\n")[0].decode().split(",") == names


async def test_ranges_give_exact_slices_anywhere(api: Api) -> None:
    """Range: a 206 with the exact bytes anywhere (the gzip trailer, an Avro block's middle)."""
    items = (await api.get(files(STUDY, SUBJECT) + "?limit=2"))["items"]
    for item in items:
        whole = (await download(api, item["downloadUrl"]))[1]
        for first, last in (
            (0, 9),
            (5, 70_000),
            (len(whole) - 12, len(whole) - 1),
            (17_000, 17_003),
        ):
            status, part, headers = await download(
                api, item["downloadUrl"], {"Range": f"bytes={first}-{last}"}
            )
            assert status == 206 and part == whole[first : last + 1], (item["fileName"], first)
            assert (
                headers["Content-Range"]
                == f"bytes {first}-{min(last, len(whole) - 1)}/{len(whole)}"
            )
        status, tail, _ = await download(api, item["downloadUrl"], {"Range": "bytes=30000-"})
        assert status == 206 and tail == whole[30000:]
        assert (await download(api, item["downloadUrl"], {"Range": f"bytes={len(whole)}-"}))[
            0
        ] == 416


async def test_a_paced_link_sends_no_faster_than_its_rate() -> None:
    """blobs.link_rate and first_byte_delay (a storage host across a network): the same bytes,
    the first after the delay, the rest never ahead of the rate."""
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, days=1, day_file_size=400_000)
    async with FakeCentrePoint(dataset=dataset) as fake, aiohttp.ClientSession() as session:
        api = Api(fake, session)
        await api.login("DataAccess")
        item = (await api.get(files(STUDY, SUBJECT) + "?fileFormat=csv"))["items"][0]
        whole = (await download(api, item["downloadUrl"]))[1]
        fake.blobs.link_rate, fake.blobs.first_byte_delay = 1_000_000.0, 0.05
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with session.get(item["downloadUrl"]) as response:
            first = await response.content.readany()
            first_at = loop.time() - started
            body = first + await response.read()
        took = loop.time() - started
    assert body == whole and len(whole) > 300_000 and first_at >= 0.05
    assert took >= 0.05 + (len(whole) - 2 * 65_536) / 1_000_000.0


async def test_signed_urls_expire_when_they_say() -> None:
    """A day file's URL works until downloadUrlExpiresOn and is a 403 after it; the lifetime is
    a knob (whole seconds shown from one second up, the fraction below)."""
    async with FakeCentrePoint(file_link_lifetime=0.3) as fake, aiohttp.ClientSession() as session:
        api = Api(fake, session)
        await api.login("DataAccess")
        item = (await api.get(files(STUDY, SUBJECT) + "?limit=1"))["items"][0]
        expires = datetime.fromisoformat(item["downloadUrlExpiresOn"])
        assert (await download(api, item["downloadUrl"]))[0] == 200
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
        status, body, _ = await download(api, item["downloadUrl"])
        assert status == 403 and b"expiry" in body
        fake.file_link_lifetime = 3600
        fresh = (await api.get(files(STUDY, SUBJECT) + "?limit=1"))["items"][0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", fresh["downloadUrlExpiresOn"])
        se = urllib.parse.parse_qs(urllib.parse.urlsplit(fresh["downloadUrl"]).query)["se"][0]
        assert se == fresh["downloadUrlExpiresOn"].replace("+00:00", "Z")
        assert (await download(api, fresh["downloadUrl"]))[0] == 200


async def test_a_reprocessed_day_has_a_later_date_new_bytes_and_maybe_a_new_name(api: Api) -> None:
    """bump_day: modifiedDate moves on and the bytes change (name kept); with rename the hex
    changes for both formats and the old URL is gone; other days do not move."""
    dataset, day = api.fake.dataset, date(2024, 1, 22)
    path = files(STUDY, SUBJECT) + "?startDate=2024-01-22&endDate=2024-01-22"
    before = (await api.get(path))["items"]
    old_bytes = (await download(api, before[0]["downloadUrl"]))[1]
    others = (await api.get(files(STUDY, SUBJECT) + "?startDate=2024-01-23"))["items"]
    bumped = dataset.bump_day(STUDY, SUBJECT, "raw-accelerometer", day)
    after = (await api.get(path))["items"]
    assert [i["fileName"] for i in after] == [i["fileName"] for i in before]
    assert all(a["modifiedDate"] > b["modifiedDate"] for a, b in zip(after, before, strict=True))
    assert [i["modifiedDate"] for i in bumped] == [i["modifiedDate"] for i in after]
    new_bytes = (await download(api, after[0]["downloadUrl"]))[1]
    assert new_bytes != old_bytes and read_csv(new_bytes)  # still a whole gzip CSV
    when = datetime(2030, 1, 1, tzinfo=UTC)
    dataset.bump_day(STUDY, SUBJECT, "raw-accelerometer", day, rename=True, modified=when)
    renamed = (await api.get(path))["items"]
    assert renamed[0]["modifiedDate"] == "2030-01-01T00:00:00+00:00"
    assert renamed[0]["fileName"] != before[0]["fileName"] and NAME.match(renamed[0]["fileName"])
    assert renamed[0]["fileName"][:-7] == renamed[1]["fileName"][:-5]
    assert (await download(api, before[0]["downloadUrl"]))[0] == 404  # the old blob is gone
    assert (await api.get(files(STUDY, SUBJECT) + "?startDate=2024-01-23"))["items"][0][
        "modifiedDate"
    ] == others[0]["modifiedDate"]
    with pytest.raises(ValueError, match="no data"):
        dataset.bump_day(STUDY, SUBJECT, "raw-accelerometer", date(2020, 1, 1))


_SPANNED = Dataset.generate(5, studies=1, webhooks_per_study=1, days=1, day_file_size=250_000)


def _whole(fmt: str) -> tuple[DayFile, bytes]:
    day = _SPANNED.day_file(STUDY, SUBJECT, "imu", date(2024, 1, 20), fmt)
    return day, day.content()


_WHOLE = {fmt: _whole(fmt) for fmt in ("csv", "avro")}


def test_a_day_file_of_many_blocks_is_whole() -> None:
    """A day file over several gzip stored blocks and Avro blocks reads back whole."""
    (csv_day, csv_bytes), (_, avro_bytes) = _WHOLE["csv"], _WHOLE["avro"]
    assert len(csv_bytes) == csv_day.size and len(csv_bytes) > 3 * 65535
    rows = read_csv(csv_bytes)  # gzip checks its CRC-32 and length
    assert rows == read_avro(avro_bytes)[1] and len(rows) == csv_day.seconds * 32


@given(
    fmt=st.sampled_from(["csv", "avro"]),
    start=st.integers(0, 260_000),
    length=st.integers(0, 140_000),
)
def test_any_span_of_a_day_file_is_that_span_of_the_whole(
    fmt: str, start: int, length: int
) -> None:
    """Bytes made from any offset (a resumed download) are exactly those of the whole file."""
    day, whole = _WHOLE[fmt]
    assert b"".join(day.chunks(start, start + length)) == whole[start : start + length]


async def test_a_large_day_file_is_streamed_not_held() -> None:
    """A 20 MB day file streams from the blob host with a small, flat memory cost."""
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, days=1, day_file_size=20_000_000)
    async with FakeCentrePoint(dataset=dataset) as fake, aiohttp.ClientSession() as session:
        api = Api(fake, session)
        await api.login("DataAccess")
        item = (await api.get(files(STUDY, SUBJECT) + "?fileFormat=csv"))["items"][0]
        received = 0
        tracemalloc.start()
        try:
            async with session.get(item["downloadUrl"]) as response:
                size = int(response.headers["Content-Length"])
                async for chunk in response.content.iter_chunked(1 << 16):
                    received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == size and abs(size - 20_000_000) < 100_000
    assert peak < 4_000_000


async def test_an_added_subject_is_listed_with_its_files(api: Api) -> None:
    """Dataset.add_subject: the new subject appears in listings and its days have files."""
    subject = api.fake.dataset.add_subject(
        STUDY, days=2, start=date(2024, 3, 1), subjectIdentifier="LATE-1"
    )
    await api.login("CentrePoint DataAccess")
    listed = await api.every(f"/centrepoint/v3/Studies/{STUDY}/Subjects")
    assert listed[-1] == subject and subject["subjectIdentifier"] == "LATE-1"
    items = (await api.get(files(STUDY, subject["id"]) + "?fileFormat=avro"))["items"]
    assert [i["date"][:10] for i in items] == ["2024-03-01", "2024-03-02"]
    assert (await download(api, items[0]["downloadUrl"]))[1][:4] == b"Obj\x01"
    with pytest.raises(KeyError, match="no site"):
        api.fake.dataset.add_subject(STUDY, site_id=1)


async def test_programs_datasets_and_dataset_files(api: Api) -> None:
    """Programs with GUID string ids (a name may repeat); one program is an object; dataset
    files filtered by subjectId, studyProgramId and dataSetName, linked by fileUrl."""
    base = f"/dataaccess/v3/Studies/{STUDY}"
    programs = (await api.get(f"{base}/programs"))["items"]
    ids = [p["studyProgramId"] for p in programs]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    assert len({p["studyProgramName"] for p in programs}) < len(programs)
    assert await api.get(f"{base}/programs/{ids[1].upper()}") == programs[1]
    sets = (await api.get(f"{base}/programs/{ids[0]}/datasets"))["items"]
    assert [s["dataSetName"] for s in sets] == ["ActivityDaily8", "ActivityEpochs10"]
    every = await api.every(f"{base}/dataSetFiles")
    one = (
        await api.get(
            f"{base}/datasetfiles?studyProgramId={ids[0]}&subjectId={SUBJECT}&dataSetName=activitydaily8"
        )
    )["items"]
    assert (
        len(one) == 1
        and one[0]["dataSetName"] == "ActivityDaily8"
        and one[0]["subjectId"] == SUBJECT
    )
    assert "fileUrl" in one[0] and "downloadUrl" not in one[0]
    assert re.fullmatch(rf"{SUBJECT}_[0-9a-f-]{{36}}_activitydaily8\.csv\.gz", one[0]["fileName"])
    assert re.fullmatch(r".*\.\d{1,7}\+00:00", one[0]["modifiedDate"])
    assert len(every) > len(one) and {f["fileFormat"] for f in every} == {"csv"}
    status, body, _ = await download(api, one[0]["fileUrl"])
    assert status == 200 and gzip.decompress(body).startswith(b"SubjectId,DataSetName,Date,Value\n")
    assert (await api.send("GET", f"{base}/programs/{ids[0][::-1]}")).status == 404
    assert (await api.send("GET", f"{base}/datasetfiles?studyProgramId=nope")).status == 400


async def test_export_subjects_say_never_as_documented(api: Api) -> None:
    """Export subjects: each program's last run, '0001-01-01T00:00:00+00:00' for never (or
    null, as an unmerged branch has it); one subject as an object."""
    base = f"/dataaccess/v3/studies/{STUDY}/subjects"
    subjects = await api.every(base)
    never = "0001-01-01T00:00:00+00:00"
    unprocessed = next(s for s in subjects if s["subjectId"] == 100005)
    assert {
        e["lastSuccessfulProgramExecutionTimeStamp"] for e in unprocessed["studyProgramExecutions"]
    } == {never}
    processed = await api.get(f"{base}/{SUBJECT}")
    assert processed == subjects[0] and processed["lastRawUploadedTimeStamp"] != never
    assert never not in {
        e["lastSuccessfulProgramExecutionTimeStamp"] for e in processed["studyProgramExecutions"]
    }
    assert subjects == api.fake.dataset.export_subjects(STUDY)
    api.fake.dataset.never = None
    again = await api.get(f"{base}/100005")
    assert {
        e["lastSuccessfulProgramExecutionTimeStamp"] for e in again["studyProgramExecutions"]
    } == {None}
