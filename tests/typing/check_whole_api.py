"""What a type checker infers from the whole API: every namespace, model and seam of 0.3.

tests/typing/test_typing.py runs mypy --strict and pyright strict over this file (never run,
only checked). A ``# type: ignore[...]`` line is a call the checkers must refuse: mypy's
``warn_unused_ignores`` (on in strict mode) fails if it is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, assert_type

import centrepoint_async as cp
from centrepoint_async.testing import set_testing


def namespaces_are_exported_classes(client: cp.CentrePointClient) -> None:
    """Each area of the API is a namespace class users can name in their own hints."""
    assert_type(client.studies, cp.Studies)
    assert_type(client.sites, cp.Sites)
    assert_type(client.subjects, cp.Subjects)
    assert_type(client.activity_monitors, cp.ActivityMonitors)
    assert_type(client.assignments, cp.Assignments)
    assert_type(client.milestones, cp.Milestones)
    assert_type(client.uploads, cp.Uploads)
    assert_type(client.webhook_events, cp.WebhookEvents)
    assert_type(client.webhooks, cp.Webhooks)
    assert_type(client.analytics, cp.Analytics)
    assert_type(client.daily_statistics, cp.DailyStatistics)
    assert_type(client.data_access, cp.DataAccess)
    assert_type(client.data_retrieval, cp.DataRetrieval)
    namespace: cp.Namespace = client.subjects
    assert isinstance(namespace, cp.Namespace)


async def the_study_reads_as_models(client: cp.CentrePointClient) -> None:
    """Listings are pagers of their model, gets return it; ids positional, in path order."""
    assert_type(client.sites.list(1), cp.AsyncPager[cp.Site])
    assert_type(await client.sites.get(1, 2), cp.Site)
    assert_type(client.subjects.list(1, page_size=50, concurrency=4), cp.AsyncPager[cp.Subject])
    subject = await client.subjects.get(1, 2)
    assert_type(subject.id, int)
    assert_type(subject.dob, date | None)
    assert_type(subject.timezone, str | None)
    milestones = client.subjects.milestones(1, 2)
    assert_type(milestones, cp.AsyncPager[cp.SubjectMilestone])
    async for change in client.subjects.timezone_history(1, 2):
        assert_type(change, cp.TimezoneChange)
        assert_type(change.effective_date_utc, datetime)
    monitor = await client.activity_monitors.get(1, "TAS1Z12345678")
    assert_type(monitor.serial, str)
    assert_type(client.activity_monitors.list(1), cp.AsyncPager[cp.ActivityMonitor])
    assert_type(client.assignments.list(1), cp.AsyncPager[cp.Assignment])
    assert_type(await client.assignments.get(1, 2), cp.Assignment)
    assert_type(client.milestones.list(1), cp.AsyncPager[cp.StudyMilestone])
    assert_type(client.uploads.list(1, 2), cp.AsyncPager[cp.Upload])
    upload = await client.uploads.get(1, 2, 3)
    assert_type(upload.upload_files, tuple[cp.UploadFile, ...])
    assert_type(upload.battery_percent, float | None)
    site = await client.sites.get(1, 2)
    assert_type(site.require_dob, bool | None)


async def analytics_filters_take_dates(client: cp.CentrePointClient) -> None:
    """from_date/to_date take a date or a datetime (naive or aware); rows are typed."""
    minutes = client.analytics.minute_summaries(
        1,
        2,
        from_date=date(2024, 1, 20),
        to_date=datetime(2024, 1, 21, 12, 0, tzinfo=UTC),
        setting_id="c0ffee",
        concurrency=4,
    )
    assert_type(minutes, cp.AsyncPager[cp.MinuteSummary])
    async for minute in minutes:
        assert_type(minute.timestamp_utc, datetime)
        assert_type(minute.is_wear, bool | None)
        assert_type(
            minute.generic_cutpoint_minute_aggregations, tuple[cp.GenericCutpointMinute, ...]
        )
    days = client.analytics.daily_statistics(1, 2, from_date=datetime(2024, 1, 20, 0, 0))
    async for day in days:
        assert_type(day, cp.DailyStatistic)
        assert_type(day.epoch_aggregation, cp.EpochAggregation | None)
        assert_type(day.generic_cutpoint_aggregations, tuple[cp.GenericCutpointAggregation, ...])
        assert_type(day.hildebrand_met_calorie_aggregation, cp.MetCalorieAggregation | None)
    assert_type(
        client.analytics.sleep_periods(1, 2, to_date=date(2024, 1, 22)),
        cp.AsyncPager[cp.SleepPeriod],
    )
    assert_type(client.analytics.event_markers(1, 2), cp.AsyncPager[cp.EventMarker])
    assert_type(client.daily_statistics.list(1, 2), cp.AsyncPager[cp.DailyStatisticsCompleteEvent])
    client.analytics.minute_summaries(1, 2, from_date="2024-01-20")  # type: ignore[arg-type]


async def analytics_settings(client: cp.CentrePointClient) -> None:
    """Every *Settings endpoint has a listing and a get, typed by what it returns."""
    settings = client.analytics.algorithm_settings(1, algorithm_type="UWF Steps")
    assert_type(settings, cp.AsyncPager[cp.AlgorithmSetting])
    minute = client.analytics.minute_summary_settings(1, ids=["a", "b"])
    assert_type(minute, cp.AsyncPager[cp.SummarySetting])
    assert_type(await client.analytics.minute_summary_setting(1, "a"), cp.SummarySetting)
    assert_type(client.analytics.daily_statistics_settings(1), cp.AsyncPager[cp.SummarySetting])
    assert_type(await client.analytics.daily_statistics_setting(1, "a"), cp.SummarySetting)
    sleep = await client.analytics.sleep_period_setting(1, "a")
    assert_type(sleep.settings, Mapping[str, Any])
    assert_type(client.analytics.sleep_period_settings(1), cp.AsyncPager[cp.AlgorithmSetting])
    assert_type(client.analytics.event_marker_settings(1), cp.AsyncPager[cp.AlgorithmSetting])
    assert_type(await client.analytics.event_marker_setting(1, "a"), cp.AlgorithmSetting)
    summary = await client.analytics.daily_statistics_setting(1, "a")
    assert_type(summary.cutpoint_setting_ids, tuple[str, ...])


async def data_access_files(client: cp.CentrePointClient, directory: Path) -> None:
    """Categories are a Literal (or newer text); formats and sort orders are closed sets."""
    category: cp.DataCategory = "raw-accelerometer"
    by_range = client.data_access.files(
        1,
        2,
        category,
        start=date(2024, 1, 20),
        end=datetime(2024, 1, 22, tzinfo=UTC),
        file_format="avro",
        sort_order="desc",
    )
    assert_type(by_range, cp.AsyncPager[cp.DataAccessFile])
    by_day = client.data_access.files(1, 2, "imu", year=2024, month=1, day=21)
    async for day_file in by_day:
        assert_type(day_file.modified_date, datetime | None)
        assert_type(await client.data_access.download(day_file, directory), Path)
        assert_type(await client.data_access.download(day_file, "day.csv.gz"), Path)
    client.data_access.files(1, 2, "newer-sensor")  # a category the API added later
    client.data_access.files(1, 2, "imu", file_format="parquet")  # type: ignore[arg-type]
    client.data_access.files(1, 2, "imu", sort_order="newest")  # type: ignore[arg-type]


async def data_access_programs(client: cp.CentrePointClient) -> None:
    """Programs, their datasets and files, and the subjects' processing state."""
    async for program in client.data_access.programs(1):
        assert_type(program.study_program_id, str)
        datasets = client.data_access.datasets(1, program.study_program_id)
        assert_type(datasets, cp.AsyncPager[cp.StudyDataset])
    assert_type(await client.data_access.program(1, "guid"), cp.StudyProgram)
    files = client.data_access.dataset_files(1, subject_id=2, program_id="guid", dataset_name="x")
    assert_type(files, cp.AsyncPager[cp.DatasetFile])
    subject = await client.data_access.export_subject(1, 2)
    assert_type(subject.study_program_executions, tuple[cp.ProgramExecution, ...])
    assert_type(subject.last_raw_uploaded_time_stamp, datetime | None)
    assert_type(client.data_access.export_subjects(1), cp.AsyncPager[cp.ExportSubject])


async def writes_return_what_they_wrote(client: cp.CentrePointClient) -> None:
    """Writes take their required fields by keyword and return the models."""
    created = await client.subjects.create(
        1, subject_identifier="0042", site_id=2, dob=date(1980, 5, 17), gender="Female"
    )
    assert_type(created, cp.Subject)
    edited = await client.subjects.update(1, created.id, change_reason="typo", weight=70.5)
    assert_type(edited, cp.Subject)
    pin = await client.subjects.device_pin(1, created.id)
    assert_type(pin.pin, str)
    assignment = await client.assignments.create(
        1, subject_id=created.id, activity_monitor_serial="TAS1Z12345678"
    )
    assert_type(assignment, cp.Assignment)
    assert_type(await client.assignments.stop(1, assignment.id), cp.Assignment)
    assert_type(await client.assignments.force_end(1, assignment.id), cp.Assignment)


def handler(request: cp.Request) -> cp.Answer:
    assert_type(request.params, tuple[tuple[str, str], ...])
    assert_type(request.is_token, bool)
    return cp.Answer(200, {"Content-Type": "application/json"}, b'{"items": []}')


async def async_handler(request: cp.Request) -> cp.Answer:
    return handler(request)


async def on_wait(event: cp.HookEvent) -> None:
    assert_type(event.wait, float | None)
    assert_type(event.reason, str | None)


def row(item: Any) -> tuple[int, str]:
    return int(item["id"]), str(item["subjectIdentifier"])


async def the_transport_seam_and_escape_hatches() -> None:
    """MockTransport takes a sync or async handler; request/paginate are the escape hatches."""
    transport = cp.MockTransport(handler)
    assert_type(transport.requests, list[cp.Request])
    seam: cp.Transport = cp.MockTransport(async_handler)
    network: cp.Transport = cp.AiohttpTransport(timeout=cp.Timeout(total=30.0, connect=5.0))
    assert isinstance(seam, cp.Transport) and isinstance(network, cp.Transport)
    async with cp.CentrePointClient(
        token="t",
        transport=transport,
        scopes=["CentrePoint", "Analytics"],
        timeout=cp.Timeout(total=10.0),
        event_hooks={"wait": [on_wait]},
    ) as client:
        assert_type(client.transport, cp.Transport)
        assert_type(await client.request("GET", "/centrepoint/v3/Studies"), Any)
        created = await client.request("POST", "/x", json={"a": 1}, idempotent=False, read=str)
        assert_type(created, Any)
        assert_type(client.paginate("/centrepoint/v3/Studies"), cp.AsyncPager[Any])
        rows = client.paginate("/x", row, key=lambda r: r[0], params={"a": "b"}, page_size=10)
        assert_type(rows, cp.AsyncPager[tuple[int, str]])
        assert_type(client.stats.rate_limit_waited, float)
    set_testing()
    set_testing(False)


def events_and_errors(error: cp.PermissionDeniedError, failed: cp.ConnectError) -> None:
    """EVENT_TYPES maps names to event classes; errors keep their fields' types."""
    assert_type(cp.EVENT_TYPES["upload"], type[cp.Event])
    assert_type(error.scope, str | None)
    assert_type(failed.kind, str | None)
