"""FakeCentrePoint serves subjects, uploads, statistics and data retrieval as documented."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from centrepoint_async.receiver import verify_signature
from centrepoint_async.testing import FakeCentrePoint, serve_app

from .helpers_fake import RAW, STUDY, SUBJECT
from .helpers_fake import BareApi as Api


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with FakeCentrePoint(retrieval_delay=0.05) as fake, aiohttp.ClientSession() as session:
        caller = Api(fake, session)
        await caller.login()
        yield caller


async def test_routes_match_whatever_the_case(api: Api) -> None:
    """ActiGraph's own example calls /centrepoint/v3/studies and /Subjects: both answer."""
    status, page = await api.call("GET", "/centrepoint/v3/studies")
    assert status == 200 and page["items"]
    status, page = await api.call("GET", f"/CentrePoint/V3/Studies/{STUDY}/Subjects?limit=5")
    assert status == 200 and len(page["items"]) == 5 and page["totalCount"] == 25
    status, _ = await api.call("GET", f"/centrepoint/v3/studies/{STUDY}/nothing")
    assert status == 404
    status, _ = await api.call("DELETE", "/centrepoint/v3/studies")
    assert status == 405


async def test_subjects_uploads_and_daily_statistics(api: Api) -> None:
    """Subjects, their uploads (with uploadFiles) and daily statistics are served."""
    status, subject = await api.call("GET", f"/centrepoint/v3/Studies/{STUDY}/Subjects/{SUBJECT}")
    assert status == 200 and subject["id"] == SUBJECT and subject["studyId"] == STUDY
    base = f"/centrepoint/v3/Studies/{STUDY}/Subjects/{SUBJECT}/Uploads"
    status, page = await api.call("GET", base)
    upload = page["items"][0]
    assert status == 200 and upload["uploadFiles"][0]["fileType"] == "RAW"
    status, same = await api.call("GET", f"{base}/{upload['id']}")
    assert status == 200 and same == upload
    path = f"/analytics/v3/Studies/{STUDY}/Subjects/{SUBJECT}/DailyStatistics"
    status, days = await api.call("GET", path)
    assert status == 200 and days["items"][0]["subjectId"] == SUBJECT
    assert (await api.call("GET", f"{base}/1"))[0] == 404
    assert (await api.call("GET", f"/centrepoint/v3/Studies/{STUDY}/Subjects/7"))[0] == 404


async def test_each_area_needs_its_scope(api: Api) -> None:
    """A token without the DataRetrieval or Analytics scope gets 403 there; CentrePoint works."""
    await api.login("CentrePoint")
    assert (await api.call("GET", f"/centrepoint/v3/Studies/{STUDY}/Subjects"))[0] == 200
    assert (await api.request_raw())[0] == 403
    path = f"/analytics/v3/Studies/{STUDY}/Subjects/{SUBJECT}/DailyStatistics"
    assert (await api.call("GET", path))[0] == 403


async def test_a_request_goes_pending_processing_completed(api: Api) -> None:
    """Status moves over time; datafiles is a plain array; download URLs live on another host."""
    api.fake.retrievals.delay = 0.8  # 0.2 s pending, 0.6 s processing: seen by a 5 ms poll
    status, created = await api.request_raw()
    assert status == 200 and created["status"] == "pending"
    assert created["createdDateTimeUtc"].endswith("+00:00")
    seen = {created["status"]}
    while True:
        _, now = await api.call("GET", f"{RAW.lower()}/{created['id']}")
        seen.add(now["status"])
        if now["status"] == "completed":
            break
        await asyncio.sleep(0.005)
    assert seen == {"pending", "processing", "completed"}
    status, files = await api.call("GET", f"{RAW}/{created['id']}/datafiles")
    assert status == 200 and isinstance(files, list) and len(files) == 2
    assert files[0]["fileSizeBytes"] == 256 * 1024
    status, link = await api.call(
        "GET", f"/dataretrieval/v3/DataFiles/{files[0]['id']}/downloadurl"
    )
    assert status == 200 and link["downloadUrl"].startswith(api.fake.blob_url)
    assert api.fake.blob_url != api.fake.url
    async with api.session.get(link["downloadUrl"]) as response:
        assert response.status == 200
        assert await response.read() == api.fake.data_file(files[0]["id"]).content()


async def test_the_eleventh_active_request_is_refused_with_a_message(api: Api) -> None:
    """At most 10 active requests: the 11th is a 400 saying why; after completion, room again."""
    api.fake.retrievals.delay = 3.0  # all ten still active when the 11th comes
    created = [await api.request_raw(SUBJECT + i) for i in range(10)]
    assert all(status == 200 for status, _ in created)
    status, text = await api.request_raw(SUBJECT + 10)
    assert status == 400 and "10" in text and "active" in text
    await api.completed(created[0][1]["id"])
    assert (await api.request_raw(SUBJECT + 10))[0] == 200


async def test_gt3x_covers_at_most_15_days(api: Api) -> None:
    """A GT3X request over 15 days is refused; 15 days exactly, or CSV over 40, is accepted."""
    day15: dict[str, Any] = {
        "beginTimestampUtc": "2024-01-01T00:00:00Z",
        "endTimestampUtc": "2024-01-16T00:00:00Z",
    }
    assert (await api.request_raw(fileFormat="GT3X", **day15))[0] == 200
    over = day15 | {"endTimestampUtc": "2024-01-16T00:00:01Z"}
    status, text = await api.request_raw(fileFormat="gt3x", **over)
    assert status == 400 and "15 days" in text
    assert (await api.request_raw(fileFormat="csv", endTimestampUtc="2024-02-10T00:00:00Z"))[
        0
    ] == 200
    assert (await api.request_raw(fileFormat="xls"))[0] == 400
    assert (await api.request_raw(subjectId=7))[0] == 400


async def test_epoch_requests_are_csv_with_a_summary_length(api: Api) -> None:
    """EpochRequests: csv only, summaryLengthSeconds 1..3600, echoed back."""
    body = {
        "fileFormat": "csv",
        "summaryLengthSeconds": 60,
        "includePartialEpochs": True,
        "studyId": STUDY,
        "subjectId": SUBJECT,
        "beginTimestampUtc": "2024-01-01T00:00:00Z",
        "endTimestampUtc": "2024-01-02T00:00:00Z",
    }
    status, created = await api.call("POST", "/dataretrieval/v3/EpochRequests", body)
    assert status == 200 and created["summaryLengthSeconds"] == 60
    for bad in ({"summaryLengthSeconds": 0}, {"fileFormat": "avro"}):
        assert (await api.call("POST", "/dataretrieval/v3/EpochRequests", body | bad))[0] == 400
    # a tracking id of one kind is not found under the other
    assert (await api.call("GET", f"{RAW}/{created['id']}"))[0] == 404


async def link_of(api: Api) -> tuple[str, str]:
    _, created = await api.request_raw()
    await api.completed(created["id"])
    _, files = await api.call("GET", f"{RAW}/{created['id']}/datafiles")
    _, link = await api.call("GET", f"{RAW}/{created['id']}/datafiles/{files[0]['id']}/downloadurl")
    return files[0]["id"], link["downloadUrl"]


async def test_blob_host_ranges_tokens_forgeries_and_expiry(api: Api) -> None:
    """Range gives a 206 slice; a bearer token, a forged or an expired link are refused."""
    file_id, url = await link_of(api)
    content = api.fake.data_file(file_id).content()
    async with api.session.get(url, headers={"Range": "bytes=70000-"}) as response:
        assert response.status == 206 and await response.read() == content[70000:]
        assert response.headers["Content-Range"] == f"bytes 70000-{len(content) - 1}/{len(content)}"
    async with api.session.get(url, headers={"Range": "bytes=10-19"}) as response:
        assert response.status == 206 and await response.read() == content[10:20]
    async with api.session.get(url, headers={"Range": f"bytes={len(content)}-"}) as response:
        assert response.status == 416
    async with api.session.get(url, headers={"Authorization": "Bearer x"}) as response:
        assert response.status == 400
    async with api.session.get(url.replace("sig=", "sig=0")) as response:
        assert response.status == 403
    api.fake.inject_blob("expired")
    async with api.session.get(url) as response:
        assert response.status == 403 and "expiry" in await response.text()
    api.fake.blobs.link_lifetime = 0.001
    _, stale = await link_of(api)
    await asyncio.sleep(0.01)
    async with api.session.get(stale) as response:
        assert response.status == 403
    assert [r.authorization for r in api.fake.blob_requests].count(True) == 1


async def test_blob_host_drops_mid_file(api: Api) -> None:
    """A drop fault sends the first bytes, then closes the connection short of the length."""
    file_id, url = await link_of(api)
    api.fake.inject_blob("drop", after_bytes=100_000)
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with api.session.get(url) as response:
            async for chunk in response.content.iter_any():
                received += chunk
    assert 0 < len(received) <= 100_000
    assert bytes(received) == api.fake.data_file(file_id).content()[: len(received)]


async def test_completed_requests_are_announced_signed() -> None:
    """A receiver set with send_webhooks_to gets data_retrieval_complete, HMAC-signed."""
    got: list[tuple[dict[str, str], bytes]] = []
    answers = [500, 200]  # the first try fails: the fake tries again

    async def receive(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=answers.pop(0))

    app = web.Application()
    app.router.add_post("/hooks", receive)
    async with (
        serve_app(app) as url,
        FakeCentrePoint(retrieval_delay=0.02) as fake,
        aiohttp.ClientSession() as s,
    ):
        fake.send_webhooks_to(f"{url}/hooks", secret="shh")
        api = Api(fake, s)
        await api.login()
        _, created = await api.request_raw()
        for _ in range(200):
            if len(fake.webhooks_sent) == 2:
                break
            await asyncio.sleep(0.01)
    assert [w.status for w in fake.webhooks_sent] == [500, 200]
    headers, body = got[-1]
    assert headers["X-ActiGraph-Event"] == "data_retrieval_complete"
    assert verify_signature(body, headers["X-ActiGraph-Signature"], secret="shh")
    payload = orjson.loads(body)
    assert payload["tracking_id"] == created["id"] and len(payload["files"]) == 2
    assert got[0][0]["X-ActiGraph-Delivery"] == headers["X-ActiGraph-Delivery"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_period": 0},
        {"rate_limit": 0},
        {"latency": -1},
        {"token_lifetime": 0},
        {"page_cache": -1},
        {"port": 70000},
        {"size": "huge"},
        {"retrieval_delay": -1},
        {"file_size": -1},
        {"link_lifetime": 0},
        {"client_id": ""},
    ],
)
def test_arguments_are_checked(kwargs: dict[str, Any]) -> None:
    """A FakeCentrePoint argument out of range is a ValueError at construction."""
    with pytest.raises(ValueError, match=r"must|unknown"):
        FakeCentrePoint(**kwargs)
