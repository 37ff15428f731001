"""export_analytics: every subject, every page, each item once; tables typed; resumable."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pyarrow.parquet as pq
import pytest

import centrepoint_async as cp
from centrepoint_async import _tables
from centrepoint_async._lock import OutputLock
from centrepoint_async.testing import Dataset, FakeCentrePoint, fast_retry

from .conftest import STUDY, lines
from .test_export import sealed

TABLES = ("minute-summaries", "daily-statistics", "sleep-periods", "event-markers")
PATHS = {
    "minute-summaries": "/MinuteSummaries",
    "daily-statistics": "/DailyStatistics",
    "sleep-periods": "/DustinTracySleepPeriods",
    "event-markers": "/EventMarkers",
}


def study(subjects: int = 4, days: int = 2, seed: int = 3) -> Dataset:
    """One study (100) of ``subjects`` subjects with ``days`` days of analytics each."""
    return Dataset.generate(
        seed,
        studies=1,
        webhooks_per_study=0,
        subjects_per_study=subjects,
        days=days,
        include_seed_example=False,
    )


def subject_ids(fake: FakeCentrePoint) -> list[int]:
    return [s["id"] for s in fake.dataset.subjects[STUDY]]


def served(
    fake: FakeCentrePoint,
    table: str,
    subjects: Sequence[int] | None = None,
    from_date: Any = None,
    to_date: Any = None,
) -> dict[int, list[Any]]:
    """What the fake serves of ``table``, by subject, in the served order."""
    ids = subject_ids(fake) if subjects is None else subjects
    return {s: list(fake.dataset.analytics(table, STUDY, s, from_date, to_date)) for s in ids}


def by_subject(items: list[Any]) -> dict[int, list[Any]]:
    """JSON Lines items grouped by their subjectId, each group in file order."""
    groups: dict[int, list[Any]] = {}
    for item in items:
        groups.setdefault(item["subjectId"], []).append(item)
    return groups


def same_items(exported: dict[int, list[Any]], expected: dict[int, list[Any]]) -> bool:
    """Each subject's items exactly, in order; subjects with no item need no group."""
    return exported == {s: items for s, items in expected.items() if items}


def leftovers(target: Path) -> list[str]:
    """The names beside ``target`` other than it."""
    return sorted(p.name for p in target.parent.iterdir() if p != target)


class Stop(Exception):
    """Raised from a progress callback: the export stops as if killed after a batch."""


def stop_after(rows: int) -> Callable[[cp.AnalyticsExportResult], None]:
    def progress(result: cp.AnalyticsExportResult) -> None:
        if result.items >= rows:
            raise Stop

    return progress


def table_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV or Parquet output, sorted by subject and first columns."""
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        import csv

        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    return sorted(rows, key=lambda r: [str(v) for v in r.values()])


@pytest.mark.parametrize("table", TABLES)
async def test_jsonl_holds_every_item_of_every_subject_once(tmp_path: Path, table: str) -> None:
    """JSON Lines hold each item exactly as the API sent it, every page of every subject of the
    study once, and no page is asked for twice."""
    days = 1 if table == "minute-summaries" else 3  # one night less than days of sleep
    async with FakeCentrePoint(dataset=study(5, days), rate_limit=None) as fake:
        async with fake.client() as client:
            result = await cp.export_analytics(client, STUDY, table, tmp_path / "a.jsonl")
        expected = served(fake, table)
        pages = [
            (r.path, r.query.get("offset"))
            for r in fake.api_requests(PATHS[table])
            if r.status == 200
        ]
    items = lines(tmp_path / "a.jsonl")
    assert same_items(by_subject(items), expected)
    assert result.total_items == len(items) == sum(map(len, expected.values()))
    assert result.subjects == 5 and leftovers(tmp_path / "a.jsonl") == []
    assert len(pages) == len(set(pages))  # no page asked for twice
    assert {int(p.split("/")[-2]) for p, _ in pages} == set(expected)  # every subject listed


async def test_from_and_to_are_sent_and_bound_the_rows(tmp_path: Path) -> None:
    """from_date/to_date go out as fromDate/toDate on every listing request (a date as
    YYYY-MM-DD, an aware datetime in UTC with Z), and the rows are those inside them."""
    low, high = date(2024, 1, 22), datetime(2024, 1, 23, 6, 30, tzinfo=UTC)
    async with FakeCentrePoint(dataset=study(3, days=4), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(
                client,
                STUDY,
                "minute-summaries",
                tmp_path / "m.jsonl",
                from_date=low,
                to_date=high,
            )
        queries = [dict(parse_qsl(r.raw_query)) for r in fake.api_requests("/MinuteSummaries")]
        raw = [r.raw_query for r in fake.api_requests("/MinuteSummaries")]
        expected = served(fake, "minute-summaries", None, low, high)
    assert queries and all(
        (q["fromDate"], q["toDate"]) == ("2024-01-22", "2024-01-23T06:30:00Z") for q in queries
    )
    assert all(q.startswith("fromDate=2024-01-22&toDate=2024-01-23T06:30:00Z&") for q in raw)
    assert (
        0
        < sum(map(len, expected.values()))
        < sum(map(len, served(fake, "minute-summaries").values()))
    )
    assert same_items(by_subject(lines(tmp_path / "m.jsonl")), expected)


async def test_only_the_subjects_given_are_listed(tmp_path: Path) -> None:
    """subjects=[...] exports those (each once, even if repeated) and sends nothing for the
    others; a subject the study does not have fails before any row is asked for, leaving
    nothing behind."""
    async with FakeCentrePoint(dataset=study(5), rate_limit=None) as fake:
        ids = subject_ids(fake)
        chosen = [ids[3], ids[1], ids[3]]
        async with fake.client() as client:
            await cp.export_analytics(
                client, STUDY, "daily-statistics", tmp_path / "d.jsonl", subjects=chosen
            )
            asked = {int(r.path.split("/")[-2]) for r in fake.api_requests("/DailyStatistics")}
            assert asked == {ids[1], ids[3]}
            before = len(fake.api_requests("/DailyStatistics"))
            with pytest.raises(cp.ExportError, match=f"study {STUDY} has no subject 4242"):
                await cp.export_analytics(
                    client, STUDY, "daily-statistics", tmp_path / "x.jsonl", subjects=[ids[0], 4242]
                )
        expected = served(fake, "daily-statistics", [ids[1], ids[3]])
        assert len(fake.api_requests("/DailyStatistics")) == before  # none for the refused one
    assert same_items(by_subject(lines(tmp_path / "d.jsonl")), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl"]


async def test_subjects_are_listed_at_once_under_the_rate_limit(tmp_path: Path) -> None:
    """Several subjects are listed at the same time (requests in flight seen by the server),
    and the client's limiter keeps a window that the export fills many times over free of
    429s."""
    async with FakeCentrePoint(
        dataset=study(6, days=1), rate_limit=25, rate_period=0.5, latency=0.02
    ) as fake:
        async with fake.client() as client:
            await cp.export_analytics(
                client, STUDY, "minute-summaries", tmp_path / "m.jsonl", concurrency=3
            )
        requests = fake.api_requests("/MinuteSummaries")
        expected = served(fake, "minute-summaries")
    assert len(requests) > 3 * 25  # the window was full several times
    assert fake.rate_limited == 0
    assert fake.peak_concurrency == 3
    assert same_items(by_subject(lines(tmp_path / "m.jsonl")), expected)


async def test_a_429_is_survived(tmp_path: Path) -> None:
    """429s with Retry-After in the middle of the listings: the export waits and goes on, and
    the output holds every item once."""
    async with FakeCentrePoint(dataset=study(3), rate_limit=None) as fake:
        fake.inject("status", status=429, retry_after=0.05, path="offset=99", count=3)
        async with fake.client(retry=fast_retry()) as client:
            await cp.export_analytics(client, STUDY, "minute-summaries", tmp_path / "m.jsonl")
            assert client.stats.rate_limited == 3
        assert sum(r.status == 429 for r in fake.requests) == 3
        expected = served(fake, "minute-summaries")
    assert same_items(by_subject(lines(tmp_path / "m.jsonl")), expected)


def flat(subject: int, item: Any) -> dict[str, Any]:
    """The row an item should make, by the documented rules, written as the tests expect."""
    return _tables.row_of(subject, item)


async def test_csv_has_the_documented_columns_and_a_row_per_item(tmp_path: Path) -> None:
    """CSV: a header of subject_id then the documented columns in their fixed order, one row
    per served item, values as sent (true/false, numbers, times in the API's text)."""
    async with FakeCentrePoint(dataset=study(4, days=1), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(client, STUDY, "minute-summaries", tmp_path / "m.csv")
        expected = served(fake, "minute-summaries")
    header = (tmp_path / "m.csv").read_text().split("\n", 1)[0].split(",")
    assert header == [c.name for c in _tables.COLUMNS["minute-summaries"]]
    assert header[:6] == [
        "subject_id",
        "study_id",
        "activity_monitor_serial",
        "minute_summary_settings_id",
        "timestamp_utc",
        "is_wear",
    ]
    rows = table_rows(tmp_path / "m.csv")
    want = []
    for s, items in expected.items():
        for item in items:
            row = flat(s, item)
            want.append({name: _tables._text(row.get(name)) for name in header})
    assert rows == sorted(want, key=lambda r: [str(v) for v in r.values()])
    first = next(r for r in rows if r["crouter_cut_points_minute_aggregations.vm_sedentary"])
    assert first["generic_cutpoint_minute_aggregations.cutpoint_buckets.sedentary"] in {"0", "60"}
    assert {r["is_wear"] for r in rows} <= {"true", "false"}


async def test_parquet_keeps_types_and_is_written_in_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parquet: the documented columns typed (times as UTC timestamps, counts as integers,
    flags as booleans, figures as doubles), every value the item sent, written in row groups
    of ROW_GROUP_ROWS."""
    monkeypatch.setattr(_tables, "CHUNK_ROWS", 100)
    monkeypatch.setattr(_tables, "ROW_GROUP_ROWS", 400)
    async with FakeCentrePoint(dataset=study(3, days=1), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(client, STUDY, "minute-summaries", tmp_path / "m.parquet")
        expected = served(fake, "minute-summaries")
    total = sum(map(len, expected.values()))
    meta = pq.ParquetFile(tmp_path / "m.parquet").metadata
    assert meta.num_rows == total
    assert meta.num_row_groups == math.ceil(total / 400)
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) == 400
    table = pq.read_table(tmp_path / "m.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["timestamp_utc"] == "timestamp[us, tz=UTC]"
    assert (types["subject_id"], types["x"], types["steps"]) == ("int64", "int64", "int64")
    assert (types["is_wear"], types["vector_magnitude"]) == ("bool", "double")
    assert table.schema.names == [c.name for c in _tables.COLUMNS["minute-summaries"]]
    got = sorted(table.to_pylist(), key=lambda r: (r["subject_id"], r["timestamp_utc"]))
    want = []
    for s, items in expected.items():
        for item in items:
            row = flat(s, item)
            row["timestamp_utc"] = datetime.fromisoformat(row["timestamp_utc"])
            want.append({name: row.get(name) for name in table.schema.names})
    assert got == sorted(want, key=lambda r: (r["subject_id"], r["timestamp_utc"]))


async def test_daily_statistics_flatten_nested_aggregations(tmp_path: Path) -> None:
    """Daily statistics in Parquet: nested objects and one-object arrays as parent.child
    columns, the day as a date, local epoch times without a zone, figures kept."""
    async with FakeCentrePoint(dataset=study(2, days=3), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(client, STUDY, "daily-statistics", tmp_path / "d.parquet")
        expected = served(fake, "daily-statistics")
    table = pq.read_table(tmp_path / "d.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["date"] == "date32[day]"
    assert types["first_epoch_date_time_local"] == "timestamp[us]"
    assert types["epoch_aggregation.total_non_filtered_axis_x_counts"] == "int64"
    assert types["crouter_aggregations.wear_sleep_filtered_va_mvpa"] == "double"
    rows = {(r["subject_id"], r["date"]): r for r in table.to_pylist()}
    for s, items in expected.items():
        for item in items:
            row = rows[(s, date.fromisoformat(item["date"][:10]))]
            epoch = item["epochAggregation"]
            assert row["epoch_aggregation.wear_minutes"] == epoch["wearMinutes"]
            assert row["activity_monitor_serials"] == ";".join(item["activityMonitorSerials"])
            if "staudenmayerAggregations" in item:
                figures = item["staudenmayerAggregations"][0]
                assert (
                    row["staudenmayer_aggregations.wear_filtered_mvpa"]
                    == figures["wearFilteredMVPA"]
                )
            else:
                generic = item["genericCutpointAggregations"][0]
                assert (
                    row["generic_cutpoint_aggregations.total_buckets.moderate"]
                    == (generic["TotalBuckets"]["Moderate"])
                )
    assert len(rows) == sum(map(len, expected.values()))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_an_interrupted_export_resumes_with_each_item_once(tmp_path: Path, fmt: str) -> None:
    """Stopped after some pages, then resume=True: the output holds what an uninterrupted
    export holds, nothing lost or repeated, and only the resumed output is left."""
    (tmp_path / "out").mkdir()
    target, reference = tmp_path / "out" / f"m.{fmt}", tmp_path / f"m.{fmt}"
    async with FakeCentrePoint(dataset=study(5, days=1), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(client, STUDY, "minute-summaries", reference)
            with pytest.raises(Stop):
                await cp.export_analytics(
                    client, STUDY, "minute-summaries", target, progress=stop_after(2000)
                )
            assert not target.exists() and Path(f"{target}.checkpoint").exists()
            result = await cp.export_analytics(
                client, STUDY, "minute-summaries", target, resume=True
            )
        expected = served(fake, "minute-summaries")
    assert (
        result.resumed_items >= 2000
        and result.items > 0
        and result.total_items == sum(map(len, expected.values()))
    )
    if fmt == "jsonl":
        assert same_items(by_subject(lines(target)), expected)
    else:
        assert table_rows(target) == table_rows(reference)
    assert leftovers(target) == []


async def test_a_conversion_cut_short_is_done_again_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while the Parquet file is being written: the output is not there under its name,
    and resume=True writes it whole from the verified part, fetching nothing again."""
    target = tmp_path / "d.parquet"
    real = _tables.write_parquet

    def crash(source: Path, out: Path, declared: Any) -> None:
        out.write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt  # as a kill would stop it

    async with FakeCentrePoint(dataset=study(3), rate_limit=None) as fake:
        async with fake.client() as client:
            monkeypatch.setattr(_tables, "write_parquet", crash)
            monkeypatch.setattr(cp._analytics_export, "write_parquet", crash)
            with pytest.raises(KeyboardInterrupt):
                await cp.export_analytics(client, STUDY, "daily-statistics", target)
            assert not target.exists()
            assert leftovers(target) == [
                "d.parquet.checkpoint",
                "d.parquet.part",
                "d.parquet.writing",
            ]
            monkeypatch.setattr(cp._analytics_export, "write_parquet", real)
            asked = len(fake.api_requests("/DailyStatistics"))
            result = await cp.export_analytics(
                client, STUDY, "daily-statistics", target, resume=True
            )
            assert len(fake.api_requests("/DailyStatistics")) == asked
        expected = served(fake, "daily-statistics")
    assert result.items == 0 and result.total_items == sum(map(len, expected.values()))
    assert pq.read_table(target).num_rows == result.total_items
    assert leftovers(target) == []


async def test_existing_output_is_refused_unless_resumed_or_overwritten(tmp_path: Path) -> None:
    """A finished output is never overwritten silently; resume says there is nothing to do;
    overwrite=True starts over."""
    target = tmp_path / "e.csv"
    async with FakeCentrePoint(dataset=study(3), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(client, STUDY, "event-markers", target)
            before = target.read_bytes()
            with pytest.raises(cp.OutputExistsError, match="exists; not overwritten"):
                await cp.export_analytics(client, STUDY, "event-markers", target)
            with pytest.raises(cp.NothingToResumeError):
                await cp.export_analytics(client, STUDY, "event-markers", target, resume=True)
            assert target.read_bytes() == before
            await cp.export_analytics(client, STUDY, "event-markers", target, overwrite=True)
    assert target.read_bytes() == before and leftovers(target) == []


async def test_one_writer_per_output(tmp_path: Path) -> None:
    """A second export of an output being written fails at once naming the holder, before any
    request."""
    target = tmp_path / "m.jsonl"
    async with FakeCentrePoint(dataset=study(2), rate_limit=None) as fake:
        async with fake.client() as client:
            with OutputLock(target):
                with pytest.raises(cp.OutputLockedError, match=f"pid {os.getpid()}"):
                    await cp.export_analytics(client, STUDY, "sleep-periods", target)
        assert fake.requests == []


JOB_CHANGES: dict[str, dict[str, Any]] = {
    "another table": {"table": "daily-statistics"},
    "another format": {"format": "csv"},
    "other dates": {"from_date": date(2024, 1, 22)},
    "other subjects": {"subjects": [100001]},
}


@pytest.mark.parametrize("change", list(JOB_CHANGES))
async def test_a_resume_of_another_job_is_refused(tmp_path: Path, change: str) -> None:
    """resume=True with another table, format, dates or subjects is a CheckpointError that
    names both jobs, and the part keeps every byte."""
    target = tmp_path / "m.out"
    async with FakeCentrePoint(dataset=study(4), rate_limit=None) as fake:
        async with fake.client() as client:
            arguments: dict[str, Any] = {"table": "minute-summaries", "format": "jsonl"}
            with pytest.raises(Stop):
                await cp.export_analytics(
                    client, STUDY, output=target, progress=stop_after(500), **arguments
                )
            before = Path(f"{target}.part").read_bytes()
            with pytest.raises(cp.CheckpointError, match="is for another export"):
                await cp.export_analytics(
                    client, STUDY, output=target, resume=True, **arguments | JOB_CHANGES[change]
                )
    assert Path(f"{target}.part").read_bytes() == before


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        where = data
        *parents, last = key.split(".")
        for parent in parents:
            where = where[parent]
        where[last] = value

    return change


def _subject_state(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """``change`` applied to the state of the subject of the last record."""

    def apply(data: dict[str, Any]) -> None:
        change(data["subjects"][str(data["last_record_subject"])])

    return apply


CORRUPTIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "last record of another subject": lambda d: d.update(
        last_record_subject=next(
            int(s) for s in d["subjects"] if int(s) != d["last_record_subject"]
        )
    ),
    "last record of no subject": _set("last_record_subject", None),
    "last record of a text": _set("last_record_subject", "100001"),
    "a subject the job does not list": lambda d: d["subjects"].update(
        {"999": {"offset": 0, "items": 0, "last_ids": [], "done": False}}
    ),
    "another last id": _subject_state(lambda s: s.update(last_ids=["2020-01-01T00:00:00 x"])),
    "bytes past the part": _set("bytes", 10**9),
    "another version": _set("version", 3),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
async def test_a_checkpoint_that_does_not_verify_is_refused(
    tmp_path: Path, corruption: str
) -> None:
    """A checkpoint whose fields do not fit the part (each sealed with a matching digest, as a
    bug would write it) is a CheckpointError; one edited by hand fails its digest; the part
    keeps every byte either way."""
    target = tmp_path / "m.jsonl"
    checkpoint, part = Path(f"{target}.checkpoint"), Path(f"{target}.part")
    async with FakeCentrePoint(dataset=study(4), rate_limit=None) as fake:
        async with fake.client() as client:
            with pytest.raises(Stop):
                await cp.export_analytics(
                    client, STUDY, "minute-summaries", target, progress=stop_after(1000)
                )
            original = orjson.loads(checkpoint.read_bytes())
            before = part.read_bytes()
            data = orjson.loads(checkpoint.read_bytes())
            CORRUPTIONS[corruption](data)
            checkpoint.write_bytes(sealed(data))
            with pytest.raises(cp.CheckpointError):
                await cp.export_analytics(client, STUDY, "minute-summaries", target, resume=True)
            done = next(iter(original["subjects"]))
            original["subjects"][done]["done"] = True  # by hand: the digest no longer fits
            checkpoint.write_bytes(orjson.dumps(original))
            with pytest.raises(cp.CheckpointError, match="do not match its digest"):
                await cp.export_analytics(client, STUDY, "minute-summaries", target, resume=True)
    assert part.read_bytes() == before and not target.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": "minutes"}, "table must be one of minute-summaries"),
        ({"format": "xml"}, "format must be one of jsonl, csv, parquet"),
        ({"output": "m.txt", "format": None}, "cannot tell the format from 'm.txt'"),
        ({"from_date": "2024-01-01"}, "from_date must be a date"),
        ({"from_date": date(2024, 2, 1), "to_date": date(2024, 1, 1)}, "is after to_date"),
        ({"subjects": []}, "subjects is empty"),
        ({"subjects": ["a"]}, "subject id"),
        ({"subjects": 100001}, "list of subject ids"),
        ({"concurrency": 0}, "concurrency"),
        ({"resume": True, "overwrite": True}, "exclude each other"),
        ({"output": 7}, "output must be a path"),
    ],
)
async def test_bad_arguments_are_configuration_errors_before_any_request(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    """Invalid arguments raise ConfigurationError in the library's words, before any request
    and before any file is made."""
    arguments: dict[str, Any] = {"table": "minute-summaries", "output": "m.jsonl"} | kwargs
    if isinstance(arguments["output"], str):
        arguments["output"] = tmp_path / arguments["output"]
    async with FakeCentrePoint(dataset=study(2), rate_limit=None) as fake:
        async with fake.client() as client:
            with pytest.raises(cp.ConfigurationError, match=message):
                await cp.export_analytics(client, STUDY, **arguments)
        assert fake.requests == []
    assert list(tmp_path.iterdir()) == []


async def test_a_new_export_that_fails_first_leaves_nothing(tmp_path: Path) -> None:
    """A study that does not exist (404) or a stop before the first row: no part, no
    checkpoint, and the corrected export runs as it is."""
    target = tmp_path / "s.jsonl"
    async with FakeCentrePoint(dataset=study(2), rate_limit=None) as fake:
        async with fake.client() as client:
            with pytest.raises(cp.NotFoundError):
                await cp.export_analytics(client, 4242, "sleep-periods", target)
            assert list(tmp_path.iterdir()) == []
            with pytest.raises(Stop):
                await cp.export_analytics(
                    client, STUDY, "sleep-periods", target, progress=stop_after(0)
                )
            assert list(tmp_path.iterdir()) == []
            await cp.export_analytics(client, STUDY, "sleep-periods", target)
        expected = served(fake, "sleep-periods")
    assert same_items(by_subject(lines(target)), expected)


async def test_progress_counts_rows_toward_the_expected_total(tmp_path: Path) -> None:
    """The progress callback starts at 0 and ends at every row, with the expected total known
    from the listings by then."""
    seen: list[tuple[int | None, int]] = []
    async with FakeCentrePoint(dataset=study(3), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_analytics(
                client,
                STUDY,
                "minute-summaries",
                tmp_path / "m.jsonl",
                progress=lambda r: seen.append((r.expected, r.total_items)),
            )
        total = sum(map(len, served(fake, "minute-summaries").values()))
    assert seen[0] == (None, 0) and seen[-1] == (total, total)
    assert [n for _, n in seen] == sorted(n for _, n in seen)
