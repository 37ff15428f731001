"""FakeCentrePoint answers every documented read and write as the documents show, to plain HTTP.

These tests talk to the fake with bare aiohttp requests (never the SDK), so that the fake stays
an oracle: what it serves is checked against the documents, not against the client.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from centrepoint_async.testing import Dataset, FakeCentrePoint

from .helpers_fake import Api

STUDY, SUBJECT = 100, 100001
CP = f"/centrepoint/v3/Studies/{STUDY}"
Z_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NET_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,2}[1-9])?Z$")  # zeros trimmed
SEVEN_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with FakeCentrePoint() as fake, aiohttp.ClientSession() as session:
        caller = Api(fake, session)
        await caller.login()
        yield caller


def nulls(value: Any) -> list[Any]:
    """Every null inside a JSON value (the documents omit absent properties instead)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in nulls(v)] + [
            k for k, v in value.items() if v is None
        ]
    if isinstance(value, list):
        return [n for v in value for n in nulls(v)]
    return []


# every documented GET (Visits, ActualVisitFiles and ClientDevices aside), and its shape
SUB = f"{CP}/Subjects/{SUBJECT}"
AN = f"/analytics/v3/Studies/{STUDY}"
DA = f"/dataaccess/v3/studies/{STUDY}"
FILES = f"/dataaccess/v3/files/studies/{STUDY}/subjects/{SUBJECT}/raw-accelerometer"
GETS: list[tuple[str, str]] = [
    ("/centrepoint/v3/Studies", "page"),
    (CP, "object"),
    (f"{CP}/Sites", "page"),
    (f"{CP}/Sites/2900", "object"),
    (f"{CP}/Subjects", "page"),
    (SUB, "object"),
    (f"{SUB}/milestones", "page"),
    (f"{SUB}/TimezoneHistory", "page"),
    (f"{SUB}/Uploads", "page"),
    (f"{SUB}/Uploads/1000010", "object"),
    (f"{CP}/ActivityMonitors", "page"),
    (f"{CP}/ActivityMonitors/CPW1B10000000", "object"),
    (f"{CP}/Assignments", "page"),
    (f"{CP}/Assignments/700001", "object"),
    (f"{CP}/Milestones", "page"),
    ("/centrepoint/v3/WebhookEvents", "page"),
    (f"{CP}/Webhooks", "page"),
    (f"{AN}/Subjects/{SUBJECT}/MinuteSummaries", "page"),
    (f"{AN}/Subjects/{SUBJECT}/DailyStatistics", "page"),
    (f"{AN}/Subjects/{SUBJECT}/DustinTracySleepPeriods", "page"),
    (f"{AN}/Subjects/{SUBJECT}/EventMarkers", "page"),
    (f"{AN}/AlgorithmSettings", "page"),
    (f"{AN}/MinuteSummarySettings", "page"),
    (f"{AN}/DailyStatisticsSettings", "page"),
    (f"{AN}/DustinTracySleepPeriodSettings", "page"),
    (f"{AN}/EventMarkerSettings", "page"),
    (FILES, "page"),
    (f"{FILES}/2024", "page"),
    (f"{FILES}/2024/1", "page"),
    (f"{FILES}/2024/01/21", "page"),
    (f"{DA}/programs", "page"),
    (f"{DA}/datasetfiles", "page"),
    (f"{DA}/subjects", "page"),
    (f"{DA}/subjects/{SUBJECT}", "object"),
]


async def test_every_documented_get_answers_in_its_shape(api: Api) -> None:
    """Each documented GET answers 200: listings in the envelope with items, the rest an object."""
    for path, shape in GETS:
        body = await api.get(path)
        if shape == "page":
            assert set(body) == {"items", "links", "totalCount", "limit", "offset"}, path
            assert body["items"] and body["totalCount"] >= len(body["items"]), path
        else:
            assert isinstance(body, dict) and "items" not in body, path
    assert not [p for p, _ in GETS if nulls(await api.get(p))]  # absent means omitted
    settings = (await api.get(f"{AN}/MinuteSummarySettings"))["items"][0]["id"]
    program = (await api.get(f"{DA}/programs"))["items"][0]["studyProgramId"]
    for path in (f"{AN}/MinuteSummarySettings/{settings}", f"{DA}/programs/{program}"):
        assert "items" not in await api.get(path)  # one object (the documents say "paginated")
    assert (await api.get(f"{DA}/programs/{program}/datasets"))["items"]


async def test_routes_and_query_names_match_whatever_their_case(api: Api) -> None:
    """ASP.NET routing: any case of a path or a query name is the same request."""
    shouted = await api.get(f"/CENTREPOINT/V3/STUDIES/{STUDY}/SITES?LIMIT=1&Offset=1")
    quiet = await api.get(f"/centrepoint/v3/studies/{STUDY}/sites?limit=1&offset=1")
    assert shouted["items"] == quiet["items"] and len(quiet["items"]) == 1
    assert quiet["items"][0]["id"] == 2901 and quiet["offset"] == 1
    a = await api.get(f"{DA}/dataSetFiles?SUBJECTID={SUBJECT}")
    b = await api.get(f"{DA}/datasetfiles?subjectId={SUBJECT}")
    assert a["items"] == b["items"] and {i["subjectId"] for i in a["items"]} == {SUBJECT}
    assert (await api.send("GET", f"{CP}/Nothing")).status == 404
    assert (await api.send("DELETE", f"{CP}/Sites")).status == 405


async def test_each_family_needs_its_own_scope(api: Api) -> None:
    """A token without a family's scope gets 403 there (text), and works where it has one."""
    families = {
        "CentrePoint": f"{CP}/Sites",
        "Analytics": f"{AN}/AlgorithmSettings",
        "DataAccess": f"{DA}/programs",
    }
    for scope in families:
        await api.login(scope)
        for other, path in families.items():
            answer = await api.send("GET", path)
            assert answer.status == (200 if other == scope else 403), (scope, path)
            if other != scope:
                assert answer.content_type == "text/plain" and other in answer.body
    api.token = "nope"
    assert (await api.send("GET", f"{DA}/programs")).status == 401


async def test_limit_is_1_to_100_on_every_listing(api: Api) -> None:
    """limit outside 1..100 (or not a number) is a 400 with a text body; 100 is the default."""
    for path in (f"{CP}/Subjects", f"{AN}/Subjects/{SUBJECT}/MinuteSummaries", FILES):
        for bad in ("limit=0", "limit=101", "limit=ten", "offset=-1"):
            answer = await api.send("GET", f"{path}?{bad}")
            assert answer.status == 400 and answer.content_type == "text/plain", (path, bad)
        page = await api.get(path)
        assert page["limit"] == 100 and page["offset"] == 0
        assert len((await api.get(f"{path}?limit=100"))["items"]) == min(100, page["totalCount"])


async def test_links_are_absolute_and_keep_the_query(api: Api) -> None:
    """next/prev are absolute URLs keeping the other parameters as sent; {} for one page."""
    path = f"{AN}/Subjects/{SUBJECT}/MinuteSummaries?fromDate=2024-01-21T00:00:00%2B00:00"
    page = await api.get(f"{path}&limit=10&offset=10")
    kept = "fromDate=2024-01-21T00:00:00%2B00:00"
    assert page["links"]["next"] == f"{api.fake.url}{path.split('?')[0]}?{kept}&offset=20&limit=10"
    assert page["links"]["prev"] == f"{api.fake.url}{path.split('?')[0]}?{kept}&offset=0&limit=10"
    following = await api.get(page["links"]["next"])
    assert following["items"][0]["timestampUtc"] == "2024-01-21T00:20:00+00:00"
    first = await api.get(f"{path}&limit=10")
    assert "prev" not in first["links"] and "next" in first["links"]
    assert (await api.get(f"{CP}/Sites"))["links"] == {}  # everything on one page


async def test_a_study_of_250_subjects_pages_exactly() -> None:
    """A study of 250 subjects lists each exactly once, in a stable order, across pages."""
    dataset = Dataset.generate(1, studies=1, webhooks_per_study=1, subjects_per_study=250)
    async with FakeCentrePoint(dataset=dataset) as fake, aiohttp.ClientSession() as session:
        api = Api(fake, session)
        await api.login("CentrePoint")
        first = await api.every(f"{CP}/Subjects")
        again = await api.every(f"{CP}/Subjects", limit=7)
    assert (
        [s["id"] for s in first]
        == [s["id"] for s in again]
        == [s["id"] for s in dataset.subjects[STUDY]]
    )
    assert len({s["id"] for s in first}) == 250


async def test_sites_and_subjects_carry_the_documented_quirks(api: Api) -> None:
    """Windows-style site zones; site rules decide what a subject carries; omitted, not null."""
    sites = {s["id"]: s for s in await api.every(f"{CP}/Sites")}
    assert sites[2900]["timezone"].startswith("(UTC") and "siteIdentifier" not in sites[2901]
    assert "description" not in sites[2900] and sites[2900]["requireSiteIdentifier"] is True
    subjects = await api.every(f"{CP}/Subjects")
    for subject in subjects:
        site = sites[subject["siteId"]]
        for rule, key in (("requireDob", "dob"), ("requireGender", "gender")):
            assert (key in subject) == site[rule], (subject["id"], key)
        assert ("weight" in subject) == ("weightUnit" in subject) == site["requireWeight"]
        assert ("assignmentId" in subject) == (subject["assignmentStatus"] == "Assigned")
        assert "/" in subject["timezone"]  # IANA, where sites are Windows-style
    assert {s["assignmentStatus"] for s in subjects} == {"Assigned", "Not Assigned"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", subjects[0]["dob"])
    study = await api.get(CP)
    assert NET_MILLIS.match(study["createdDateTime"]) and "monitorDataCollectionMode" in study


async def test_subject_milestones_timezones_and_uploads_use_their_date_styles(api: Api) -> None:
    """Milestones in UTC Z and the subject's offset; zone history ends at today's zone;
    uploads in Z without fraction, a '79%'-style battery string on watches."""
    subjects = await api.every(f"{CP}/Subjects")
    chicago = next(s for s in subjects if s["timezone"] == "America/Chicago")
    path = f"{CP}/Subjects/{chicago['id']}"
    milestones = await api.every(f"{path}/milestones")
    assert milestones and all(Z_SECONDS.match(m["timestamp"]) for m in milestones)
    assert milestones[0]["timestampSubjectTZ"].endswith("-06:00")  # January in Chicago
    history = await api.every(f"{path}/TimezoneHistory")
    assert history[-1]["timezone"] == "America/Chicago"
    assert all(Z_SECONDS.match(h["effectiveDateUtc"]) for h in history)
    moved = await api.every(f"{CP}/Subjects/100001/TimezoneHistory")
    assert moved[0]["timezone"] == "US/Central"  # the documents' example zone
    uploads = await api.every(f"{CP}/Subjects/{SUBJECT}/Uploads")
    assert all(Z_SECONDS.match(u["dateUploadedUtc"]) for u in uploads)
    assert re.fullmatch(r"\d{1,3}%", uploads[0]["activityMonitorBatteryPercentage"])
    assert uploads[0]["activityMonitorSerial"].startswith("CPW1")
    other = await api.every(f"{CP}/Subjects/100002/Uploads")
    assert "activityMonitorBatteryPercentage" not in other[0]  # a GT9X reports none
    assert all(Z_SECONDS.match(f["beginOfData"]) for f in other[0]["uploadFiles"])


async def test_monitors_and_assignments_agree_with_subjects(api: Api) -> None:
    """A monitor is found by serial in any case; assignments carry .NET-style Z dates and only
    the dates that were set; subjects' assignmentId points at their assignment."""
    monitor = await api.get(f"{CP}/ActivityMonitors/tas1z10000001")
    assert monitor["serial"] == "TAS1Z10000001" and monitor["assignmentStatus"] == "Assigned"
    assert (await api.send("GET", f"{CP}/ActivityMonitors/XYZ")).status == 404
    assignments = {a["id"]: a for a in await api.every(f"{CP}/Assignments")}
    for subject in await api.every(f"{CP}/Subjects"):
        if "assignmentId" in subject:
            assert assignments[subject["assignmentId"]]["subjectId"] == subject["id"]
    for item in assignments.values():
        dates = [k for k in item if k.endswith("Date")]
        assert all(NET_MILLIS.match(item[k]) for k in dates), item
        assert ("endedDate" in item) == (item["status"] == "Ended")
    assert {a["status"] for a in assignments.values()} >= {"Ended", "Collection Stopped"}
    assert (await api.send("GET", f"{CP}/Assignments/1")).status == 404


async def test_create_a_subject_201_with_the_site_rules(api: Api) -> None:
    """POST subjects: 201 and the subject; a missing required field is a 400 with a text body;
    a field the site does not collect is refused; identifiers are unique in the study."""
    path = f"{CP}/subjects"
    created = await api.send("POST", path, {"subjectIdentifier": "NEW-1", "siteId": 2902})
    assert created.status == 201 and created.body["subjectIdentifier"] == "NEW-1"
    assert created.body["assignmentStatus"] == "Not Assigned" and "dob" not in created.body
    assert await api.get(f"{CP}/Subjects/{created.body['id']}") == created.body
    full = {
        "subjectIdentifier": "NEW-2",
        "siteId": 2900,
        "dob": "1980-02-03",
        "gender": "female",
        "weight": 150,
        "weightUnit": "LBS",
        "height": 170,
        "heightUnit": "cm",
    }
    made = await api.send("POST", path, full)
    assert (
        made.status == 201 and made.body["gender"] == "Female" and made.body["weightUnit"] == "Lbs"
    )
    refused = {
        "subjectIdentifier": {"siteId": 2902},
        "siteId": {"subjectIdentifier": "X"},
        "dob": full | {"subjectIdentifier": "X", "dob": None},
        "not collected": {"subjectIdentifier": "X", "siteId": 2902, "dob": "1980-01-01"},
        "already exists": {"subjectIdentifier": "new-1", "siteId": 2902},
        "weight": full | {"subjectIdentifier": "X", "weight": 2001},
        "before today": full | {"subjectIdentifier": "X", "dob": time.strftime("%Y-%m-%d")},
    }
    for said, body in refused.items():
        answer = await api.send("POST", path, body)
        assert answer.status == 400 and answer.content_type == "text/plain", said
        assert said in answer.body, (said, answer.body)
    assert (await api.send("POST", path, b"{not json")).status == 400
    assert (await api.send("POST", path, full, content_type="text/plain")).status == 415


async def test_edit_a_subject_needs_a_change_reason(api: Api) -> None:
    """PUT subject: changeReason always required (400 text), siteId refused, weight at most
    1000 on edit; the change and its reason are kept."""
    path = f"{CP}/Subjects/{SUBJECT}"
    missing = await api.send("PUT", path, {"weight": 120, "weightUnit": "kg"})
    assert missing.status == 400 and "changeReason" in missing.body
    for bad in ({"siteId": 2901}, {"weight": 1500, "weightUnit": "kg"}):
        assert (await api.send("PUT", path, bad | {"changeReason": "x"})).status == 400
    edited = await api.send(
        "PUT", path, {"weight": 120, "weightUnit": "kg", "changeReason": "typo"}
    )
    assert edited.status == 200 and edited.body["weight"] == 120
    assert (await api.get(path))["weightUnit"] == "Kg"
    assert api.fake.dataset.changes[-1]["changeReason"] == "typo"


async def test_device_pin_is_a_string_with_a_seven_digit_expiry(api: Api) -> None:
    """POST DevicePin (no body): a five-digit PIN as a string, expireDate with 7 digits and Z."""
    answer = await api.send("POST", f"{CP}/Subjects/{SUBJECT}/DevicePin")
    assert answer.status == 200 and answer.body["subjectId"] == SUBJECT
    assert re.fullmatch(r"\d{5}", answer.body["pin"]) and SEVEN_Z.match(answer.body["expireDate"])
    assert (await api.send("POST", f"{CP}/Subjects/7/DevicePin")).status == 404


async def test_an_assignment_goes_incomplete_stopped_ended(api: Api) -> None:
    """POST assignments: 'Incomplete Assignment' and the subject assigned; PUT stops collection,
    then ends it by force (subject and device free again); an ended one cannot change."""
    path = f"{CP}/Assignments"
    body = {"subjectId": SUBJECT, "activityMonitorSerial": "cpw1b10090000"}
    created = await api.send("POST", path, body)
    assert created.status == 200 and created.body["status"] == "Incomplete Assignment"
    assert created.body["activityMonitorSerial"] == "CPW1B10090000"
    assignment = f"{path}/{created.body['id']}"
    subject = await api.get(f"{CP}/Subjects/{SUBJECT}")
    assert (
        subject["assignmentStatus"] == "Assigned" and subject["assignmentId"] == created.body["id"]
    )
    assert (await api.send("POST", path, body)).status == 400  # already assigned
    assert (await api.send("PUT", assignment, {"status": "Paused"})).status == 400
    stopped = await api.send("PUT", assignment, {"status": "collection stopped"})
    assert (
        stopped.body["status"] == "Collection Stopped" and "collectionStoppedDate" in stopped.body
    )
    ended = await api.send("PUT", assignment, {"status": "Forcefully Ended"})
    assert ended.body["status"] == "Forcefully Ended" and NET_MILLIS.match(ended.body["endedDate"])
    assert "assignmentId" not in await api.get(f"{CP}/Subjects/{SUBJECT}")
    monitor = await api.get(f"{CP}/ActivityMonitors/CPW1B10090000")
    assert monitor["assignmentStatus"] == "Not Assigned"
    again = await api.send("PUT", assignment, {"status": "Collection Stopped"})
    assert again.status == 400 and "ended" in again.body
    missing = await api.send("POST", path, {"subjectId": SUBJECT})
    assert missing.status == 400 and "activityMonitorSerial" in missing.body
    workflow = await api.send("POST", "/centrepoint/v3/Studies/102/Assignments", body)
    assert workflow.status == 400 and "partial" in workflow.body


async def test_requests_are_recorded_with_their_raw_query(api: Api) -> None:
    """Each request is recorded with the query as it arrived: an encoded + stays %2B; an
    unencoded + reads as a space, and the date is refused."""
    path = f"{AN}/Subjects/{SUBJECT}/MinuteSummaries"
    await api.get(f"{path}?fromDate=2024-01-21T00:00:00%2B00:00&limit=1")
    sloppy = await api.send("GET", f"{path}?fromDate=2024-01-21T00:00:00+00:00&limit=1")
    assert sloppy.status == 400
    good, bad = api.fake.api_requests("MinuteSummaries")[-2:]
    assert good.raw_query == "fromDate=2024-01-21T00:00:00%2B00:00&limit=1"
    assert good.query["fromDate"] == "2024-01-21T00:00:00+00:00" and good.status == 200
    assert bad.raw_query == "fromDate=2024-01-21T00:00:00+00:00&limit=1"
    assert bad.query["fromDate"] == "2024-01-21T00:00:00 00:00" and bad.status == 400
    assert good.method == "GET" and good.path == path and good.at <= bad.at


async def test_latency_and_jitter_delay_every_api_answer() -> None:
    """latency plus a seeded uniform jitter is added to each API answer."""
    async with (
        FakeCentrePoint(latency=0.03, latency_jitter=0.05) as fake,
        aiohttp.ClientSession() as s,
    ):
        api = Api(fake, s)
        await api.login()
        waits = []
        for path in (f"{CP}/Sites", f"{AN}/AlgorithmSettings", f"{DA}/programs") * 3:
            started = time.perf_counter()
            await api.get(path)
            waits.append(time.perf_counter() - started)
    assert min(waits) >= 0.03 and len({round(w, 3) for w in waits}) > 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FakeCentrePoint(latency_jitter=-1), "latency_jitter"),
        (lambda: FakeCentrePoint(file_link_lifetime=-1), "file_link_lifetime"),
        (lambda: Dataset.generate(subjects_per_study=1000), "subjects_per_study"),
        (lambda: Dataset.generate(day_file_size=0), "day_file_size"),
    ],
)
def test_new_knobs_are_checked(make: Any, message: str) -> None:
    """A knob out of range is a ValueError naming it, at construction."""
    with pytest.raises(ValueError, match=message):
        make()
