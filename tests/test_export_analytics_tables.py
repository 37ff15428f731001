"""Analytics rows as tables: column names, flattening, a stable column order, types kept, and
the guide's pandas and DuckDB snippets run against a real export."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import centrepoint_async as cp
from centrepoint_async import _tables
from centrepoint_async._tables import Column, column_name, flatten
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY
from .test_export_analytics import study

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("timestampUtc", "timestamp_utc"),
        ("isWear", "is_wear"),
        ("x", "x"),
        ("nonFilteredVMSedentary", "non_filtered_vm_sedentary"),
        ("wearSleepFilteredVAMVPA", "wear_sleep_filtered_va_mvpa"),
        ("wearAwakeFilteredVAVeryVigorous", "wear_awake_filtered_va_very_vigorous"),
        ("totalNonFilteredAxisXCounts", "total_non_filtered_axis_x_counts"),
        ("GenericCutpointMinuteAggregations", "generic_cutpoint_minute_aggregations"),
        ("MinuteAggregationSettingsId", "minute_aggregation_settings_id"),
        ("firstEpochUTC", "first_epoch_utc"),
        ("Very Vigorous", "very_vigorous"),
        ("vmMvpa", "vm_mvpa"),
    ],
)
def test_keys_become_snake_case_with_acronyms_whole(key: str, name: str) -> None:
    """Column names are the API's keys in snake_case, VA/VM/MVPA kept as words."""
    assert column_name(key) == name


def test_flattening_follows_the_documented_rules() -> None:
    """Nested objects as parent.child; one-object arrays as their object (a second object
    indexed); named buckets a column each; plain lists joined; empty ones give nothing."""
    item = {
        "subjectId": 5,
        "epochAggregation": {
            "wearMinutes": 7.0,
            "firstEpochDateTimeUtc": "2024-01-01T00:00:00+00:00",
        },
        "crouterAggregations": [{"nonFilteredVMMVPA": 3}, {"nonFilteredVMMVPA": 4}],
        "GenericCutpointMinuteAggregations": [
            {
                "AlgorithmName": "Kim VM Wrist",
                "CutpointBuckets": [
                    {"Name": "Sedentary", "NumberOfSeconds": 60},
                    {"Name": "Very Vigorous", "NumberOfSeconds": 0},
                ],
                "AggregateBuckets": [],
            }
        ],
        "activityMonitorSerials": ["A1", "B2"],
        "uwfAggregation": {},
        "odd": [1, {"a": 2}],
        "missing": None,
    }
    assert flatten(item) == {
        "subject_id": 5,
        "epoch_aggregation.wear_minutes": 7.0,
        "epoch_aggregation.first_epoch_date_time_utc": "2024-01-01T00:00:00+00:00",
        "crouter_aggregations.non_filtered_vm_mvpa": 3,
        "crouter_aggregations.1.non_filtered_vm_mvpa": 4,
        "generic_cutpoint_minute_aggregations.algorithm_name": "Kim VM Wrist",
        "generic_cutpoint_minute_aggregations.cutpoint_buckets.sedentary": 60,
        "generic_cutpoint_minute_aggregations.cutpoint_buckets.very_vigorous": 0,
        "activity_monitor_serials": "A1;B2",
        "odd": '[1,{"a":2}]',
        "missing": None,
    }
    assert _tables.row_of(9, item)["subject_id"] == 9  # the listing's subject


def test_column_order_is_the_documented_one_whatever_comes_first() -> None:
    """The columns are the documented ones in their order, then unknown keys in name order,
    the same for any order of the rows; types widen only as far as a value needs."""
    declared = [Column("subject_id", "int"), Column("x", "int"), Column("when", "timestamp")]
    rows = [
        {"subject_id": 1, "zeta": "z", "x": 3},
        {"subject_id": 2, "x": 4.5, "when": "2024-01-01T00:00:00+00:00", "alpha": True},
        {"subject_id": 3, "when": "not a time", "alpha": False, "x": 5},
    ]
    columns = _tables.survey(rows, declared)
    assert columns == _tables.survey(list(reversed(rows)), declared)
    assert columns == [
        Column("subject_id", "int"),
        Column("x", "float"),
        Column("when", "str"),
        Column("alpha", "bool"),
        Column("zeta", "str"),
    ]
    assert _tables.survey(rows[:1], declared)[1:3] == declared[1:]


def staged(tmp_path: Path, rows: list[tuple[int, dict[str, Any]]]) -> Path:
    path = tmp_path / "rows.part"
    path.write_bytes(b"".join(_tables.stage(s, item) for s, item in rows))
    return path


def test_unknown_keys_are_kept_in_csv_and_parquet(tmp_path: Path) -> None:
    """A key the documents do not name still gets a column (after the documented ones), in
    CSV and in Parquet, typed by its values there."""
    items = [
        (7, {"id": 1, "timestampUtc": "2024-01-01T00:01:00+00:00", "pressCount": 2}),
        (7, {"id": 2, "timestampUtc": "2024-01-01T00:02:00+00:00", "newCount": 3, "newNote": "n"}),
    ]
    source = staged(tmp_path, items)
    declared = _tables.COLUMNS["event-markers"]
    _tables.write_csv(source, tmp_path / "e.csv", declared)
    _tables.write_parquet(source, tmp_path / "e.parquet", declared)
    header = (tmp_path / "e.csv").read_text().splitlines()
    assert header[0].split(",") == [c.name for c in declared] + ["new_count", "new_note"]
    assert header[1].endswith(",2,,,") and header[2].endswith(",,3,n")
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.schema.names[-2:] == ["new_count", "new_note"]
    assert str(table.schema.field("new_count").type) == "int64"
    assert table.column("new_count").to_pylist() == [None, 3]
    assert table.column("timestamp_utc").to_pylist()[0] == datetime(2024, 1, 1, 0, 1, tzinfo=UTC)


def test_values_that_do_not_fit_widen_the_column_instead_of_failing(tmp_path: Path) -> None:
    """A half where a count was documented makes the column doubles; a text where a time was
    documented makes it text: the file is written, every value kept."""
    items = [
        (1, {"id": 1, "inBedTime": "2024-01-01T22:00:00+00:00", "durationMinutes": 400}),
        (1, {"id": 2, "inBedTime": "yesterday", "durationMinutes": 400.5}),
    ]
    _tables.write_parquet(
        staged(tmp_path, items), tmp_path / "s.parquet", _tables.COLUMNS["sleep-periods"]
    )
    table = pq.read_table(tmp_path / "s.parquet")
    assert str(table.schema.field("duration_minutes").type) == "double"
    assert table.column("duration_minutes").to_pylist() == [400.0, 400.5]
    assert table.column("in_bed_time").to_pylist() == ["2024-01-01T22:00:00+00:00", "yesterday"]


def snippets(path: Path) -> list[str]:
    """The code blocks of a guide page fenced ```py (shown, not type-checked)."""
    return re.findall(r"^```py\n(.*?)^```", path.read_text(), re.MULTILINE | re.DOTALL)


async def test_the_guides_pandas_and_duckdb_snippets_run_on_an_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/analytics.md's pandas and DuckDB code runs as written on the files the export
    writes, and reads their types as the page says."""
    async with FakeCentrePoint(dataset=study(3, days=2), rate_limit=None) as fake:
        async with fake.client() as client:
            for table, name in (
                ("minute-summaries", "minutes.parquet"),
                ("daily-statistics", "daily.parquet"),
                ("sleep-periods", "sleep.csv"),
            ):
                await cp.export_analytics(client, STUDY, table, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    blocks = snippets(ROOT / "docs" / "analytics.md")
    assert len(blocks) == 3
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "docs/analytics.md", "exec"), {})  # noqa: S102 (the guide's own code)
        assert out.getvalue().strip()
    import duckdb
    import pandas as pd

    minutes = pd.read_parquet("minutes.parquet")
    assert (
        str(minutes["timestamp_utc"].dtype).startswith("datetime64")
        and str(minutes["timestamp_utc"].dt.tz) == "UTC"
    )
    assert str(minutes["x"].dtype) == "int64" and str(minutes["is_wear"].dtype) == "bool"
    [(day,)] = duckdb.execute("SELECT min(date) FROM 'daily.parquet'").fetchall()
    assert type(day) is date  # a DATE, not a TIMESTAMP
