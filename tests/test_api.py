"""The whole v3 API against the fake: every documented GET, its model and quirks, filters as the
server receives them, scopes, and the EDC writes with their no-resend rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import pytest

import centrepoint_async as cp
from centrepoint_async.testing import Dataset, FakeCentrePoint

from .conftest import fast_retry

STUDY = 100  # records raw-accelerometer, temperature and imu
ALL_CATEGORIES_STUDY = 101


@pytest.fixture
async def fake() -> AsyncIterator[FakeCentrePoint]:
    dataset = Dataset.generate(3, studies=2, subjects_per_study=12, days=3, deliveries=10)
    async with FakeCentrePoint(dataset=dataset, rate_limit=None) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCentrePoint) -> AsyncIterator[cp.CentrePointClient]:
    async with fake.client(retry=fast_retry()) as c:
        yield c


def a_subject(fake: FakeCentrePoint, study: int = STUDY) -> dict[str, Any]:
    """A subject of the study with data."""
    return next(s for s in fake.dataset.subjects[study] if fake.dataset.span(s["id"]).days)


def last_query(fake: FakeCentrePoint, part: str) -> list[tuple[str, str]]:
    """The query of the last API request whose path holds ``part``, as the server received it."""
    found = [r for r in fake.api_requests() if part.lower() in r.path.lower()]
    return parse_qsl(found[-1].raw_query, keep_blank_values=True)


# --- the study: sites, subjects, devices, assignments, milestones, uploads --------------------


async def test_study_resources_list_and_get_what_the_server_holds(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """Sites, subjects, activity monitors, assignments and milestones: every item, in order,
    and each one again by its id."""
    data = fake.dataset
    sites = await client.sites.list(STUDY).collect()
    assert [s.id for s in sites] == [s["id"] for s in data.sites[STUDY]]
    assert await client.sites.get(STUDY, sites[0].id) == sites[0]
    subjects = await client.subjects.list(STUDY, page_size=5, concurrency=3).collect()
    assert [s.id for s in subjects] == [s["id"] for s in data.subjects[STUDY]]
    assert await client.subjects.get(STUDY, subjects[0].id) == subjects[0]
    monitors = await client.activity_monitors.list(STUDY).collect()
    assert [m.serial for m in monitors] == [m["serial"] for m in data.activity_monitors[STUDY]]
    assert await client.activity_monitors.get(STUDY, monitors[0].serial) == monitors[0]
    assignments = await client.assignments.list(STUDY).collect()
    assert [a.id for a in assignments] == [a["id"] for a in data.assignments[STUDY]]
    assert await client.assignments.get(STUDY, assignments[0].id) == assignments[0]
    milestones = await client.milestones.list(STUDY).collect()
    assert [m.id for m in milestones] == [m["id"] for m in data.milestones[STUDY]]


async def test_subject_milestones_timezones_and_uploads(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """A subject's milestones, time zone history and uploads, as served, typed."""
    subject = a_subject(fake)["id"]
    data = fake.dataset
    milestones = await client.subjects.milestones(STUDY, subject).collect()
    assert [m.id for m in milestones] == [m["id"] for m in data.subject_milestones(STUDY, subject)]
    for milestone in milestones:  # UTC, and the subject's local time read as the same instant
        assert milestone.timestamp is not None and milestone.timestamp.tzinfo is UTC
    history = await client.subjects.timezone_history(STUDY, subject).collect()
    served = data.timezone_history(STUDY, subject)
    assert [(h.timezone, h.effective_date_utc.tzinfo) for h in history] == [
        (h["timezone"], UTC) for h in served
    ]
    uploads = await client.uploads.list(STUDY, subject).collect()
    assert [u.id for u in uploads] == [u["id"] for u in data.uploads(STUDY, subject)]
    upload = await client.uploads.get(STUDY, subject, uploads[0].id)
    assert upload == uploads[0] and upload.upload_files


async def test_the_documented_quirks_are_read_not_raised(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """Windows-style site time zones kept as text, "79%" batteries read as a number, dates of
    birth as dates, omitted fields as None, GUID and serial ids as text."""
    sites = await client.sites.list(STUDY).collect()
    assert any(s.timezone and s.timezone.startswith("(UTC") for s in sites)
    assert any(s.site_identifier is None for s in sites)  # omitted when absent
    subjects = await client.subjects.list(STUDY).collect()
    assert any(isinstance(s.dob, date) for s in subjects)
    assert all(s.assignment_id is None for s in subjects if s.assignment_status == "Not Assigned")
    uploads = [u for s in subjects for u in await client.uploads.list(STUDY, s.id).collect()]
    with_battery = [u for u in uploads if u.activity_monitor_battery_percentage is not None]
    assert with_battery, "the fake sends the dev branch's battery percentage"
    for upload in with_battery:
        text = upload.activity_monitor_battery_percentage or ""
        assert upload.battery_percent is not None
        assert f"{upload.battery_percent:g}" in text


async def test_a_study_of_more_than_a_hundred_subjects_is_read_whole() -> None:
    """250 subjects: every one exactly once, sequentially and with pages in parallel."""
    dataset = Dataset.generate(1, studies=1, subjects_per_study=250, days=0, deliveries=0)
    async with FakeCentrePoint(dataset=dataset, rate_limit=None) as fake, fake.client() as client:
        for concurrency in (1, 4):
            got = await client.subjects.list(STUDY, concurrency=concurrency).collect()
            assert [s.id for s in got] == [s["id"] for s in dataset.subjects[STUDY]]


# --- analytics --------------------------------------------------------------------------------


async def test_minute_summaries_every_minute_once_with_the_range_on_the_wire(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """Thousands of minutes, every one once in order; fromDate/toDate sent as given (an aware
    time in UTC with Z, never a '+' read back as a space)."""
    subject = a_subject(fake)
    span = fake.dataset.span(subject["id"])
    served = fake.dataset.minute_summaries(STUDY, subject["id"])
    rows = await client.analytics.minute_summaries(STUDY, subject["id"], concurrency=4).collect()
    assert len(rows) == len(served) == 1440 * span.days
    assert [r.timestamp_utc for r in rows[:3]] == [
        datetime.fromisoformat(r["timestampUtc"]) for r in served[:3]
    ]
    start = datetime.combine(span.start, datetime.min.time(), timezone(timedelta(hours=2)))
    end = start + timedelta(hours=5)
    window = await client.analytics.minute_summaries(
        STUDY, subject["id"], from_date=start, to_date=end
    ).collect()
    query = dict(last_query(fake, "/minutesummaries"))
    assert query["fromDate"] == (start.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    assert query["toDate"].endswith("Z")
    expected = fake.dataset.minute_summaries(STUDY, subject["id"], start, end)
    assert [r.timestamp_utc for r in window] == [
        datetime.fromisoformat(r["timestampUtc"]) for r in expected
    ]
    assert window and all(start <= r.timestamp_utc <= end for r in window)


async def test_daily_statistics_sleep_and_event_markers(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """The other tables: ids as served, PascalCase generic cutpoints read, filters sent."""
    subject = a_subject(fake, ALL_CATEGORIES_STUDY)["id"]
    data = fake.dataset
    tables: list[tuple[Any, str]] = [
        (client.analytics.daily_statistics, "daily-statistics"),
        (client.analytics.sleep_periods, "sleep-periods"),
        (client.analytics.event_markers, "event-markers"),
    ]
    for method, table in tables:
        got = await method(ALL_CATEGORIES_STUDY, subject).collect()
        served = data.analytics(table, ALL_CATEGORIES_STUDY, subject)
        assert [r.id for r in got] == [r["id"] for r in served], table
    days = await client.analytics.daily_statistics(ALL_CATEGORIES_STUDY, subject).collect()
    assert all(d.epoch_aggregation is not None for d in days)
    generic = [g for d in days for g in d.generic_cutpoint_aggregations]
    assert all(g.algorithm_name for g in generic)
    span = data.span(subject)
    setting = data.daily_statistics_settings(ALL_CATEGORIES_STUDY)[0]["id"]
    await client.analytics.daily_statistics(
        ALL_CATEGORIES_STUDY, subject, from_date=span.start, to_date=span.end, setting_id=setting
    ).collect()
    sent = last_query(fake, "/dailystatistics")
    assert ("fromDate", span.start.isoformat()) in sent
    assert ("toDate", span.end.isoformat()) in sent
    assert ("dailyStatisticsSettingId", setting) in sent


async def test_settings_every_list_and_get(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """Algorithm settings and each *Settings list and get; both spellings of the cutpoint ids."""
    data = fake.dataset
    settings = await client.analytics.algorithm_settings(STUDY).collect()
    assert [s.id for s in settings] == [s["id"] for s in data.algorithm_settings(STUDY)]
    kind = settings[0].algorithm_type
    assert kind is not None
    only = await client.analytics.algorithm_settings(STUDY, algorithm_type=kind).collect()
    assert only and all(s.algorithm_type == kind for s in only)
    pairs: list[tuple[Any, Any, Any]] = [
        (client.analytics.minute_summary_settings, client.analytics.minute_summary_setting,
         data.minute_summary_settings),
        (client.analytics.daily_statistics_settings, client.analytics.daily_statistics_setting,
         data.daily_statistics_settings),
        (client.analytics.sleep_period_settings, client.analytics.sleep_period_setting,
         data.sleep_period_settings),
        (client.analytics.event_marker_settings, client.analytics.event_marker_setting,
         data.event_marker_settings),
    ]  # fmt: skip
    for listing, get, served in pairs:
        items = await listing(STUDY).collect()
        assert [i.id for i in items] == [i["id"] for i in served(STUDY)]
        assert await get(STUDY, items[0].id) == items[0]
        picked = await listing(STUDY, ids=[items[0].id]).collect()
        assert [i.id for i in picked] == [items[0].id]
    summaries = await client.analytics.minute_summary_settings(STUDY).collect()
    daily = await client.analytics.daily_statistics_settings(STUDY).collect()
    assert all(s.cutpoint_setting_ids for s in summaries + daily)  # cutPoint... and cutpoint...


# --- data access ------------------------------------------------------------------------------


async def test_day_files_by_range_and_by_year_month_day(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """Day files by inclusive range, both formats unless one is asked, sorted either way, and
    through the dated routes; the same items the server lists."""
    subject = a_subject(fake)["id"]
    span = fake.dataset.span(subject)
    data = fake.dataset
    every = await client.data_access.files(STUDY, subject, "raw-accelerometer").collect()
    served = data.day_files(STUDY, subject, "raw-accelerometer")
    assert [f.file_name for f in every] == [f["fileName"] for f in served]
    assert {f.file_format for f in every} == {"csv", "avro"}
    assert all(f.download_url and f.download_url_expires_on for f in every)
    first = await client.data_access.files(
        STUDY, subject, "raw-accelerometer", start=span.start, end=span.start, file_format="avro"
    ).collect()
    assert [f.file_name for f in first] == [
        f["fileName"]
        for f in data.day_files(
            STUDY, subject, "raw-accelerometer", start=span.start, end=span.start,
            file_format="avro",
        )
    ]  # fmt: skip
    assert len(first) == 1 and first[0].date is not None and first[0].date.date() == span.start
    backwards = await client.data_access.files(
        STUDY, subject, "raw-accelerometer", sort_order="desc", file_format="csv"
    ).collect()
    dates = [f.date for f in backwards if f.date is not None]
    assert len(dates) == len(backwards) and dates == sorted(dates, reverse=True)
    day = span.start
    dated = await client.data_access.files(
        STUDY, subject, "raw-accelerometer", year=day.year, month=day.month, day=day.day
    ).collect()
    assert {f.file_name for f in dated} == {
        f["fileName"]
        for f in data.day_files(
            STUDY, subject, "raw-accelerometer", year=day.year, month=day.month, day=day.day
        )
    }
    in_year = await client.data_access.files(STUDY, subject, "imu", year=day.year).collect()
    assert {f.data_category for f in in_year} == {"imu"}


async def test_programs_datasets_dataset_files_and_export_subjects(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """Study programs (GUID ids), their datasets, dataset files (their link is fileUrl) and
    export subjects, whose "never" (0001-01-01) reads as None."""
    data = fake.dataset
    programs = await client.data_access.programs(STUDY).collect()
    assert [p.study_program_id for p in programs] == [
        p["studyProgramId"] for p in data.programs(STUDY)
    ]
    program = programs[0]
    assert await client.data_access.program(STUDY, program.study_program_id) == program
    datasets = await client.data_access.datasets(STUDY, program.study_program_id).collect()
    assert [d.data_set_name for d in datasets] == [
        d["dataSetName"] for d in data.program_datasets(STUDY, program.study_program_id)
    ]
    files = await client.data_access.dataset_files(STUDY).collect()
    assert [f.file_name for f in files] == [f["fileName"] for f in data.dataset_files(STUDY)]
    assert all(f.file_url for f in files)
    subject = files[0].subject_id
    assert subject is not None
    mine = await client.data_access.dataset_files(
        STUDY, subject_id=subject, program_id=files[0].study_program_id
    ).collect()
    assert mine and {f.subject_id for f in mine} == {subject}
    data.add_subject(STUDY, days=0)  # no upload yet: "never" processed
    exported = await client.data_access.export_subjects(STUDY).collect()
    served = data.export_subjects(STUDY)
    assert [e.subject_id for e in exported] == [e["subjectId"] for e in served]
    never = [
        (e, s)
        for e, s in zip(exported, served, strict=True)
        if s["lastRawUploadedTimeStamp"] == "0001-01-01T00:00:00+00:00"
    ]
    assert never and all(e.last_raw_uploaded_time_stamp is None for e, _ in never)
    runs = [r for e in exported for r in e.study_program_executions]
    assert any(r.last_successful_program_execution_time_stamp is None for r in runs)
    assert any(r.last_successful_program_execution_time_stamp is not None for r in runs)
    one = await client.data_access.export_subject(STUDY, exported[0].subject_id)
    assert one == exported[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"category": "Raw Accelerometer"},
        {"category": "../x"},
        {"sort_order": "up"},
        {"file_format": "parquet"},
        {"year": 2024, "start": date(2024, 1, 1)},
        {"month": 2},
        {"year": 2024, "month": 2, "day": 30},
        {"year": 2024, "month": 13},
    ],
)
async def test_bad_data_access_filters_are_refused_before_any_request(
    fake: FakeCentrePoint, client: cp.CentrePointClient, kwargs: dict[str, Any]
) -> None:
    """Categories, sort orders, formats and dates that cannot be right never reach the wire."""
    category = kwargs.pop("category", "raw-accelerometer")
    with pytest.raises(cp.ConfigurationError):
        client.data_access.files(STUDY, 100001, category, **kwargs)
    assert fake.api_requests() == []


# --- scopes -----------------------------------------------------------------------------------


async def test_each_family_gets_a_token_of_its_own_scope(fake: FakeCentrePoint) -> None:
    """By default a client asks for the scope each call needs, once per scope."""
    subject = a_subject(fake)["id"]
    async with fake.client(scopes=None) as client:
        await client.studies.get(STUDY)
        await client.analytics.event_markers(STUDY, subject).collect()
        await client.data_access.programs(STUDY).collect()
        await client.subjects.get(STUDY, subject)
    assert client.stats.token_requests == 3


async def test_a_call_outside_the_given_scopes_names_the_scope_it_needs(
    fake: FakeCentrePoint,
) -> None:
    """With scopes= that lack a family, the server's 403 says which scope the call needs."""
    async with fake.client(scopes=["CentrePoint"]) as client:
        with pytest.raises(cp.PermissionDeniedError) as caught:
            await client.data_access.programs(STUDY).collect()
    assert caught.value.scope == "DataAccess"
    assert "'DataAccess'" in str(caught.value) and "scopes=" in str(caught.value)


# --- writes -----------------------------------------------------------------------------------


async def test_subject_create_update_and_device_pin(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """An EDC's subject lifecycle: create (201), edit with a reason, a phone PIN."""
    site = next(s for s in fake.dataset.sites[STUDY] if not s.get("requireDob"))
    fields: dict[str, Any] = {}
    if site.get("requireGender"):
        fields["gender"] = "Female"
    if site.get("requireWeight"):
        fields.update(weight=70, weight_unit="kg")
    if site.get("requireHeight"):
        fields.update(height=170, height_unit="cm")
    if site.get("requireDob"):
        fields["dob"] = date(1990, 5, 17)
    created = await client.subjects.create(
        STUDY, subject_identifier="EDC-0001", site_id=site["id"], **fields
    )
    assert created.subject_identifier == "EDC-0001" and created.site_id == site["id"]
    assert await client.subjects.get(STUDY, created.id) == created
    edited = await client.subjects.update(
        STUDY, created.id, change_reason="typo in the identifier", wear_position="Left Wrist"
    )
    assert edited.wear_position == "Left Wrist"
    assert fake.dataset.changes[-1].get("changeReason") == "typo in the identifier"
    pin = await client.subjects.device_pin(STUDY, created.id)
    assert pin.pin.isdigit() and pin.expire_date is not None


async def test_assignment_create_stop_and_force_end(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """A partial assignment, then stopped; another forcefully ended."""
    free = [m for m in fake.dataset.activity_monitors[STUDY] if not m.get("assignmentId")]
    idle = [s for s in fake.dataset.subjects[STUDY] if not s.get("assignmentId")]
    assert len(free) >= 2 and len(idle) >= 2
    first = await client.assignments.create(
        STUDY, subject_id=idle[0]["id"], activity_monitor_serial=free[0]["serial"]
    )
    assert first.status == "Incomplete Assignment"
    assert (await client.assignments.stop(STUDY, first.id)).status == "Collection Stopped"
    second = await client.assignments.create(
        STUDY, subject_id=idle[1]["id"], activity_monitor_serial=free[1]["serial"]
    )
    ended = await client.assignments.force_end(STUDY, second.id)
    assert ended.status == "Forcefully Ended"


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("create", {"site_id": 1}),
        ("create", {"subject_identifier": "X"}),
        ("create", {"subject_identifier": " ", "site_id": 1}),
        ("create", {"subject_identifier": "X", "site_id": 1, "shoe_size": 44}),
        ("update", {}),
        ("update", {"change_reason": ""}),
        ("update", {"change_reason": "move", "site_id": 3}),
    ],
)
async def test_a_write_missing_a_required_field_sends_nothing(
    fake: FakeCentrePoint, client: cp.CentrePointClient, call: str, kwargs: dict[str, Any]
) -> None:
    """Required fields are checked (and unknown ones refused) before anything is sent."""
    with pytest.raises(cp.ConfigurationError):
        if call == "create":
            await client.subjects.create(STUDY, **kwargs)
        else:
            await client.subjects.update(STUDY, 100001, **kwargs)
    with pytest.raises(cp.ConfigurationError):
        await client.assignments.create(STUDY, subject_id=1)
    assert fake.api_requests() == []


async def test_a_write_is_not_sent_twice_unless_it_never_arrived(
    fake: FakeCentrePoint, client: cp.CentrePointClient
) -> None:
    """A 503 after a POST is raised, not retried (it may have created the subject); a 429 is
    resent (the server refused it before handling it)."""
    site = next(s for s in fake.dataset.sites[STUDY] if not any(
        s.get(k) for k in ("requireDob", "requireGender", "requireWeight", "requireHeight")
    ))  # fmt: skip
    fake.inject("status", status=503, path="/Subjects")
    with pytest.raises(cp.ServerError):
        await client.subjects.create(STUDY, subject_identifier="ONCE", site_id=site["id"])
    posts = [r for r in fake.api_requests("/Subjects") if r.method == "POST"]
    assert len(posts) == 1
    fake.inject("status", status=429, retry_after=0.01, path="/Subjects")
    created = await client.subjects.create(STUDY, subject_identifier="TWICE", site_id=site["id"])
    posts = [r for r in fake.api_requests("/Subjects") if r.method == "POST"]
    assert len(posts) == 3 and created.subject_identifier == "TWICE"


async def test_a_day_file_downloads_whole_and_verified(
    fake: FakeCentrePoint, client: cp.CentrePointClient, tmp_path: Any
) -> None:
    """Both formats of a day, byte for byte what the storage host holds, under their names;
    no part file left, and no bearer token sent to the storage host."""
    subject = a_subject(fake)["id"]
    day = fake.dataset.span(subject).start
    files = await client.data_access.files(
        STUDY, subject, "raw-accelerometer", start=day, end=day
    ).collect()
    assert {f.file_format for f in files} == {"csv", "avro"}
    for found in files:
        path = await client.data_access.download(found, tmp_path)
        fmt = found.file_format or "csv"
        served = fake.dataset.day_file(STUDY, subject, "raw-accelerometer", day, fmt)
        assert path == tmp_path / found.file_name
        assert path.read_bytes() == served.content()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.file_name for f in files)
    assert fake.blob_requests and all(r.status in (200, 206) for r in fake.blob_requests)


async def test_an_expired_link_is_renewed_by_listing_the_day_again(
    fake: FakeCentrePoint, client: cp.CentrePointClient, tmp_path: Any
) -> None:
    """A link past its expiry: the day is listed again (its date, its format) for a new one."""
    subject = a_subject(fake)["id"]
    day = fake.dataset.span(subject).start
    fake.file_link_lifetime = 0.2
    found = (
        await client.data_access.files(
            STUDY, subject, "temperature", start=day, end=day, file_format="csv"
        ).collect()
    )[0]
    await asyncio.sleep(0.3)  # the link has expired
    listings = len(fake.api_requests("/temperature"))
    fake.file_link_lifetime = 3600
    path = await client.data_access.download(found, tmp_path / "day.csv.gz")
    assert path.read_bytes() == fake.dataset.day_file(STUDY, subject, "temperature", day).content()
    assert len(fake.api_requests("/temperature")) == listings + 1
    sent = dict(last_query(fake, "/temperature"))
    assert (sent["startDate"], sent["endDate"], sent["fileFormat"]) == (
        day.isoformat(),
        day.isoformat(),
        "csv",
    )


async def test_a_day_renamed_meanwhile_is_a_clear_error(
    fake: FakeCentrePoint, client: cp.CentrePointClient, tmp_path: Any
) -> None:
    """A day processed again under a new name while its old link expired: DownloadError saying
    to list the day again, and nothing under the old name."""
    subject = a_subject(fake)["id"]
    day = fake.dataset.span(subject).start
    fake.file_link_lifetime = 0
    found = (
        await client.data_access.files(
            STUDY, subject, "imu", start=day, end=day, file_format="avro"
        ).collect()
    )[0]
    fake.dataset.bump_day(STUDY, subject, "imu", day, rename=True)
    fake.file_link_lifetime = 3600
    with pytest.raises(cp.DownloadError, match="list the day again"):
        await client.data_access.download(found, tmp_path)
    assert not (tmp_path / found.file_name).exists()
