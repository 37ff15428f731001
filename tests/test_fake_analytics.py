"""FakeCentrePoint serves analytics as documented: one row a minute, made per page, filtered
as the documents say, with their quirks (plain aiohttp requests, no SDK)."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import aiohttp
import pytest

from centrepoint_async.testing import Dataset, FakeCentrePoint

from .helpers_fake import Api

STUDY = 100
WATCH_B, TAS_A, KOLKATA = 100001, 100002, 100005  # settings B on a watch; A on a GT9X; +05:30
BASE = f"/analytics/v3/Studies/{STUDY}"


def minutes(subject: int) -> str:
    return f"{BASE}/Subjects/{subject}/MinuteSummaries"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        FakeCentrePoint(rate_limit=None) as fake,
        aiohttp.ClientSession() as session,
    ):
        caller = Api(fake, session)
        await caller.login("Analytics")
        yield caller


async def test_a_week_of_minutes_pages_exactly_once_each(api: Api) -> None:
    """10,080 minutes (7 days) come one a minute, each exactly once, as the oracle says."""
    served = await api.every(minutes(TAS_A))
    assert len(served) == 7 * 1440
    stamps = [datetime.fromisoformat(m["timestampUtc"]) for m in served]
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(stamps))
    assert served == list(api.fake.dataset.minute_summaries(STUDY, TAS_A))
    assert (await api.get(f"{minutes(TAS_A)}?offset=10079&limit=5"))["items"] == served[-1:]


async def test_minute_filters_are_inclusive_and_read_naive_dates_in_the_subjects_zone(
    api: Api,
) -> None:
    """fromDate/toDate: inclusive; Z or an offset is UTC; no zone is the subject's zone;
    a date alone is the whole day; the setting filter takes the subject's setting only."""
    path = minutes(KOLKATA)
    utc = await api.get(f"{path}?fromDate=2024-01-25T00:00:00Z&toDate=2024-01-25T00:09:00Z")
    assert [m["timestampUtc"][11:16] for m in utc["items"]][::9] == ["00:00", "00:09"]
    assert utc["totalCount"] == 10
    local = await api.get(f"{path}?fromDate=2024-01-25T05:30:00&toDate=2024-01-25T05:39:00")
    assert local["items"] == utc["items"]  # 05:30 in Kolkata is midnight UTC
    offset = await api.get(f"{path}?fromDate=2024-01-25T05:30:00%2B05:30&limit=1")
    assert offset["items"][0]["timestampUtc"] == "2024-01-25T00:00:00+00:00"
    day = await api.get(f"{path}?fromDate=2024-01-25&toDate=2024-01-25&limit=1")
    assert day["totalCount"] == 1440
    assert day["items"][0]["timestampUtc"] == "2024-01-24T18:30:00+00:00"
    oracle = api.fake.dataset.minute_summaries(STUDY, KOLKATA, date(2024, 1, 25), "2024-01-25")
    assert len(oracle) == 1440 and oracle[0] == day["items"][0]
    setting = day["items"][0]["minuteSummarySettingsId"]  # the field says Settings
    mine = await api.get(f"{path}?minuteSummarySettingId={setting.upper()}&limit=1")
    assert mine["totalCount"] == 7 * 1440
    other = await api.get(f"{minutes(TAS_A)}?minuteSummarySettingId={setting}")
    assert other["totalCount"] == 0 and other["items"] == []
    for bad in ("fromDate=yesterday", "minuteSummarySettingId=42"):
        answer = await api.send("GET", f"{path}?{bad}")
        assert answer.status == 400 and answer.content_type == "text/plain"


def test_a_year_of_minutes_is_never_held_in_memory() -> None:
    """525,600 minutes of a subject cost nothing until a page is read (made per item)."""
    dataset = Dataset.generate(2, studies=1, webhooks_per_study=1, days=365)
    tracemalloc.start()
    try:
        rows = dataset.minute_summaries(STUDY, TAS_A)
        page = rows.slice(len(rows) - 100, 100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(rows) == 525_600 and len(page) == 100
    last = datetime(2024, 1, 21, tzinfo=UTC) + timedelta(days=365, minutes=-1)  # its first day
    assert datetime.fromisoformat(page[-1]["timestampUtc"]) == last
    assert peak < 2_000_000
    assert rows[len(rows) - 1] == page[-1] and rows[-1] == page[-1]


async def test_minute_summaries_keep_the_documented_quirks(api: Api) -> None:
    """Settings A: steps, METs, calories, Staudenmayer; settings B: the cutpoint arrays and the
    PascalCase GenericCutpointMinuteAggregations; press counts only where markers exist."""
    a = (await api.get(f"{minutes(TAS_A)}?limit=1"))["items"][0]
    assert {"steps", "mets", "calories", "staudenmayerCutPointsMinuteAggregations"} <= set(a)
    assert "GenericCutpointMinuteAggregations" not in a and "pressCounts" not in a
    b = (await api.get(f"{minutes(WATCH_B)}?limit=1"))["items"][0]
    assert "steps" not in b and "mets" not in b
    generic = b["GenericCutpointMinuteAggregations"][0]
    assert set(generic) == {
        "MinuteAggregationSettingsId",
        "AlgorithmName",
        "CutpointBuckets",
        "AggregateBuckets",
    }
    assert set(generic["CutpointBuckets"][0]) == {"Name", "NumberOfSeconds"}
    assert set(b["evensonCutPointsMinuteAggregations"][0]) >= {"mvpa", "sedentary"}
    rows = api.fake.dataset.minute_summaries(STUDY, WATCH_B)
    assert any("pressCounts" in r and "longPressCounts" in r for r in rows)
    for row in (a, b):
        assert row["timestampUtc"].endswith("+00:00") and isinstance(row["isWear"], bool)


async def test_daily_statistics_are_documented_days(api: Api) -> None:
    """A day at midnight +00:00; first/last epochs at the top and in epochAggregation; crouter
    as an array; evenson's 'wearAwake' without 'Filtered'; PascalCase generic children."""
    days = (await api.get(f"{BASE}/Subjects/{WATCH_B}/DailyStatistics"))["items"]
    assert [d["date"] for d in days][:2] == [
        "2024-01-20T00:00:00+00:00",
        "2024-01-21T00:00:00+00:00",
    ]
    day = days[0]
    for key in ("firstEpochDateTimeUtc", "lastEpochDateTimeLocal"):
        assert day[key] == day["epochAggregation"][key]
    assert isinstance(day["crouterAggregations"], list) and len(day["crouterAggregations"][0]) == 40
    evenson = day["evensonAggregations"][0]
    assert "wearAwakeMVPA" in evenson and not any(k.startswith("wearSleep") for k in evenson)
    generic = day["genericCutpointAggregations"][0]
    assert "AlgorithmName" in generic and generic["AwakeAggregateBuckets"] == {}
    assert day["eventMarkerAggregation"]["pressCount"] >= 0  # a watch
    a = (await api.get(f"{BASE}/Subjects/{TAS_A}/DailyStatistics"))["items"][0]
    assert "uwfAggregation" in a and "crouterAggregations" not in a
    assert "eventMarkerAggregation" not in a  # no watch, no markers
    ranged = await api.get(
        f"{BASE}/Subjects/{WATCH_B}/DailyStatistics?fromDate=2024-01-21&toDate=2024-01-22"
    )
    assert [d["date"][:10] for d in ranged["items"]] == ["2024-01-21", "2024-01-22"]
    assert ranged["items"] == api.fake.dataset.daily_statistics(
        STUDY, WATCH_B, "2024-01-21", "2024-01-22"
    )
    wrong = await api.get(
        f"{BASE}/Subjects/{WATCH_B}/DailyStatistics?dailyStatisticsSettingId={a['dailyStatisticsSettingId']}"
    )
    assert wrong["items"] == []


async def test_sleep_periods_mix_settings_unless_one_is_asked_for(api: Api) -> None:
    """Without a filter, periods of both sleep settings come mixed; algorithmSettingId and
    fromDate (on inBedTime) narrow them."""
    path = f"{BASE}/Subjects/{WATCH_B}/DustinTracySleepPeriods"
    periods = await api.every(path)
    settings = {p["algorithmSettingId"] for p in periods}
    assert len(settings) == 2 and len(periods) == 12  # six nights, two settings
    one = sorted(settings)[0]
    assert {
        p["algorithmSettingId"] for p in await api.every(f"{path}?algorithmSettingId={one}")
    } == {one}
    late = await api.every(f"{path}?fromDate=2024-01-24T00:00:00Z")
    assert late and all(p["inBedTime"] >= "2024-01-24" for p in late) and len(late) < 12
    assert periods == api.fake.dataset.analytics("sleep-periods", STUDY, WATCH_B)
    assert isinstance(periods[0]["activityMonitorSerial"], str)


async def test_event_markers_come_from_watches_with_unsorted_ids(api: Api) -> None:
    """A watch's markers from two settings (ids not in order); a GT9X has none."""
    markers = await api.every(f"{BASE}/Subjects/{WATCH_B}/EventMarkers")
    assert markers and {m["activityMonitorSerial"][:4] for m in markers} == {"CPW1"}
    assert [m["id"] for m in markers] != sorted(m["id"] for m in markers)
    assert len({m["algorithmSettingId"] for m in markers}) == 2
    assert [m["timestampUtc"] for m in markers] == sorted(m["timestampUtc"] for m in markers)
    assert (await api.get(f"{BASE}/Subjects/{TAS_A}/EventMarkers"))["items"] == []


async def test_settings_lists_filters_and_gets(api: Api) -> None:
    """Every *Settings list and get; the two spellings of cutpoint ids; ids= repeated or comma
    separated; algorithmType in any case; an unknown id is a 404."""
    algorithms = await api.every(f"{BASE}/AlgorithmSettings")
    assert {"Epoch Summary", "Dustin Tracy Sleep Periods", "Event Markers"} <= {
        a["algorithmType"] for a in algorithms
    }
    markers = await api.every(f"{BASE}/AlgorithmSettings?algorithmType=event%20MARKERS")
    assert len(markers) == 2 and markers == await api.every(f"{BASE}/EventMarkerSettings")
    minute = await api.every(f"{BASE}/MinuteSummarySettings")
    daily = await api.every(f"{BASE}/DailyStatisticsSettings")
    assert all("cutPointSettingIds" in m for m in minute) and all(
        "cutpointSettingIds" in d for d in daily
    )
    assert "stepsSettingId" in minute[0] and "stepsSettingId" not in minute[1]  # omitted, not null
    ids = [m["id"] for m in minute]
    assert await api.every(f"{BASE}/MinuteSummarySettings?ids={ids[1]}") == minute[1:]
    assert await api.every(f"{BASE}/MinuteSummarySettings?ids={ids[0]}&ids={ids[1]}") == minute
    assert await api.every(f"{BASE}/MinuteSummarySettings?ids={ids[0]},{ids[1]}") == minute
    sleep = await api.every(f"{BASE}/DustinTracySleepPeriodSettings")
    assert (
        "minimumNonZeroEpochs" not in sleep[0]["settings"]
        and "blockLengthInMinutes" in sleep[0]["settings"]
    )
    for family, items in (
        ("MinuteSummarySettings", minute),
        ("DailyStatisticsSettings", daily),
        ("DustinTracySleepPeriodSettings", sleep),
        ("EventMarkerSettings", markers),
    ):
        assert await api.get(f"{BASE}/{family}/{items[-1]['id'].upper()}") == items[-1]
        assert (await api.send("GET", f"{BASE}/{family}/{ids[0][::-1]}")).status == 404
    assert (await api.send("GET", f"{BASE}/MinuteSummarySettings?ids=zzz")).status == 400
    assert api.fake.dataset.algorithm_settings(STUDY, "event markers") == markers
