"""From event to data through the SDK, against FakeCentrePoint and its blob host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

import centrepoint_async as cp
from centrepoint_async._data_retrieval import split_range
from centrepoint_async._download import destination
from centrepoint_async.receiver import InboundEvent, WebhookReceiver
from centrepoint_async.testing import FakeCentrePoint, fast_retry, serve_app

SCOPES = ("CentrePoint", "Analytics", "DataRetrieval")
STUDY, SUBJECT = 100, 100001
BEGIN = datetime(2024, 1, 1, tzinfo=UTC)
END = BEGIN + timedelta(days=1)


def client_of(fake: FakeCentrePoint, **kwargs: Any) -> cp.CentrePointClient:
    return fake.client(scopes=SCOPES, retry=fast_retry(), **kwargs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCentrePoint]:
    async with FakeCentrePoint(retrieval_delay=0.05) as server:
        yield server


async def completed_request(client: cp.CentrePointClient, subject: int = SUBJECT) -> str:
    """The tracking id of a raw request, once completed."""
    request = await client.data_retrieval.request_raw(STUDY, subject, BEGIN, END)
    await client.data_retrieval.wait(request.id, poll_interval=0.01)
    return request.id


async def completed_files(
    client: cp.CentrePointClient, subject: int = SUBJECT
) -> list[cp.DataRetrievalFile]:
    return await client.data_retrieval.files(await completed_request(client, subject))


async def test_subjects_uploads_and_daily_statistics(fake: FakeCentrePoint) -> None:
    """Subjects, uploads (with their files) and daily statistics come back typed."""
    async with client_of(fake) as client:
        subjects = await client.subjects.list(STUDY).collect()
        assert len(subjects) == 25 and subjects[0].id == SUBJECT
        subject = await client.subjects.get(STUDY, SUBJECT)
        assert subject == subjects[0] and subject.subject_identifier == "S100-0001"
        uploads = await client.uploads.list(STUDY, SUBJECT).collect()
        assert uploads and uploads[0].upload_files[0].file_type == "RAW"
        assert uploads[0].upload_files[0].begin_of_data is not None
        assert await client.uploads.get(STUDY, SUBJECT, uploads[0].id) == uploads[0]
        days = await client.daily_statistics.list(STUDY, SUBJECT).collect()
        assert days and all(d.subject_id == SUBJECT for d in days)
        with pytest.raises(cp.NotFoundError):
            await client.subjects.get(STUDY, 7)


async def test_a_raw_request_runs_to_verified_files(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """request_raw, wait, files, download_all: byte-identical files, no .part left."""
    async with client_of(fake) as client:
        request = await client.data_retrieval.request_raw(STUDY, SUBJECT, BEGIN, END)
        assert request.state == "pending" and request.id
        done = await client.data_retrieval.wait(request.id, poll_interval=0.01)
        assert done.state == "completed" and done.completed_date_time_utc is not None
        paths = await client.data_retrieval.download_all(request.id, tmp_path, concurrency=2)
        files = await client.data_retrieval.files(request.id)
    assert [p.name for p in paths] == [f.file_name for f in files]
    for path, data_file in zip(paths, files, strict=True):
        assert path.read_bytes() == fake.data_file(data_file.id).content()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


async def test_the_token_never_reaches_the_blob_host(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """Downloads send only the pre-signed URL: no Authorization header on the storage host."""
    async with client_of(fake) as client:
        for data_file in await completed_files(client):
            await client.data_retrieval.download(data_file, tmp_path)
    assert len(fake.blob_requests) == 2
    assert not any(r.authorization for r in fake.blob_requests)
    assert all(r.status == 200 for r in fake.blob_requests)


async def test_resume_after_a_drop_mid_file_is_byte_identical(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A connection dropped mid-file resumes with Range; the result is byte-identical."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        fake.inject_blob("drop", after_bytes=100_000, count=2)
        path = await client.data_retrieval.download(data_file, tmp_path / "raw.csv")
    assert path == tmp_path / "raw.csv"
    assert path.read_bytes() == fake.data_file(data_file.id).content()
    ranges = [r.range for r in fake.blob_requests]
    assert ranges[0] is None and len(ranges) == 3
    assert all(r is not None and r.startswith("bytes=") for r in ranges[1:])
    assert fake.blobs.bytes_sent == data_file.file_size_bytes  # nothing sent twice
    assert not (tmp_path / "raw.csv.part").exists()


async def test_an_expired_link_is_renewed(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """A 403 for an expired link gets a new link from downloadurl, then the file."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        fake.inject_blob("expired")
        path = await client.data_retrieval.download(data_file, tmp_path)
    assert path.read_bytes() == fake.data_file(data_file.id).content()
    assert len(fake.api_requests("/downloadurl")) == 2
    assert [r.status for r in fake.blob_requests] == [403, 200]


async def test_links_that_expire_by_time_are_renewed(tmp_path: Path) -> None:
    """With links living 50 ms and a slow drop, every resume asks for a fresh link."""
    async with FakeCentrePoint(retrieval_delay=0.02, link_lifetime=0.05) as fake:
        async with client_of(fake) as client:
            data_file = (await completed_files(client))[0]
            fake.inject_blob("drop", after_bytes=50_000)
            path = await client.data_retrieval.download(data_file, tmp_path)
    assert path.read_bytes() == fake.data_file(data_file.id).content()
    assert len(fake.api_requests("/downloadurl")) == 2


async def test_a_wrong_size_is_an_error_and_leaves_nothing(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A host whose file is not fileSizeBytes long: DownloadError, no file, no part."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        size = data_file.file_size_bytes or 0
        for wrong in (size - 1, size + 1):
            with pytest.raises(cp.DownloadError, match=f"{size} bytes, {wrong} expected"):
                await client.data_retrieval.download(
                    attrs.evolve(data_file, file_size_bytes=wrong),
                    tmp_path / "f.csv",
                    max_attempts=2,
                )
            assert list(tmp_path.iterdir()) == []


async def test_download_gives_up_after_attempts(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """A storage host that keeps failing ends in DownloadError, not an endless loop."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        fake.inject_blob("status", status=503, count=10)
        with pytest.raises(cp.DownloadError, match="3 tries"):
            await client.data_retrieval.download(data_file, tmp_path, max_attempts=3)


async def test_25_subjects_never_have_more_than_10_active(tmp_path: Path) -> None:
    """fetch_raw for 25 subjects at once: all done, never over 10 active, never refused."""
    # each request active 0.5 s: long enough for the first ten to overlap on a busy machine
    async with FakeCentrePoint(retrieval_delay=0.5, file_size=1000) as fake:
        async with client_of(fake) as client:
            results = await asyncio.gather(
                *(
                    client.data_retrieval.fetch_raw(
                        STUDY, SUBJECT + i, BEGIN, END, tmp_path / str(i), poll_interval=0.01
                    )
                    for i in range(25)
                )
            )
    assert len(fake.retrievals.requests) == 25
    assert fake.retrievals.peak_active == 10  # the ceiling was reached, never passed
    assert fake.retrievals.refused == 0
    assert all(len(paths) == 2 and all(p.exists() for p in paths) for paths in results)


async def test_the_servers_ceiling_is_waited_out(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """Slots held by another program: fetch_raw waits for room instead of failing."""
    fake.retrievals.delay = 2.0  # the other program's ten stay active while we are refused
    async with client_of(fake) as other, client_of(fake) as client:
        for i in range(10):
            await other.data_retrieval.request_raw(STUDY, SUBJECT + i, BEGIN, END)
        with pytest.raises(cp.BadRequestError, match="active"):
            await client.data_retrieval.request_raw(STUDY, SUBJECT, BEGIN, END)
        paths = await client.data_retrieval.fetch_raw(
            STUDY, SUBJECT, BEGIN, END, tmp_path, poll_interval=0.02
        )
    assert len(paths) == 2 and fake.retrievals.refused >= 2


async def test_a_40_day_gt3x_range_becomes_3_requests(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """GT3X over 40 days: three requests of 15, 15 and 10 days, all downloaded."""
    end = BEGIN + timedelta(days=40)
    async with client_of(fake) as client:
        paths = await client.data_retrieval.fetch_raw(
            STUDY, SUBJECT, BEGIN, end, tmp_path, file_format="gt3x", poll_interval=0.01
        )
    spans = sorted((r.begin, r.end - r.begin) for r in fake.retrievals.requests.values())
    assert spans == [
        (BEGIN, timedelta(days=15)),
        (BEGIN + timedelta(days=15), timedelta(days=15)),
        (BEGIN + timedelta(days=30), timedelta(days=10)),
    ]
    assert len(paths) == 6 and fake.retrievals.refused == 0
    assert split_range(BEGIN, BEGIN + timedelta(days=15)) == [(BEGIN, BEGIN + timedelta(days=15))]


async def test_avro_files_download_and_pass_their_check(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """An Avro request's file starts with the container magic and is kept (its check passes)."""
    async with client_of(fake) as client:
        paths = await client.data_retrieval.fetch_raw(
            STUDY, SUBJECT, BEGIN, END, tmp_path, file_format="avro", poll_interval=0.01
        )
    avro = [p for p in paths if p.suffix == ".avro"]
    assert len(avro) == 1 and avro[0].read_bytes()[:4] == b"Obj\x01"


async def test_a_create_is_resent_only_when_it_never_arrived(fake: FakeCentrePoint) -> None:
    """A 429 is resent (one request made); a 503 after sending is raised, never resent."""
    async with client_of(fake) as client:
        fake.inject("status", path="RawActivityRequests", status=429, retry_after=0.01)
        await client.data_retrieval.request_raw(STUDY, SUBJECT, BEGIN, END)
        assert len(fake.api_requests("RawActivityRequests")) == 2
        fake.inject("status", path="RawActivityRequests", status=503)
        with pytest.raises(cp.ServerError):
            await client.data_retrieval.request_raw(STUDY, SUBJECT, BEGIN, END)
    assert len(fake.api_requests("RawActivityRequests")) == 3
    assert len(fake.retrievals.requests) == 1


async def test_epoch_requests_and_their_files(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """request_epoch with its settings; get/files/download_all with kind='epoch'."""
    async with client_of(fake) as client:
        request = await client.data_retrieval.request_epoch(
            STUDY, SUBJECT, BEGIN, END, summary_length_seconds=30, include_partial_epochs=True
        )
        assert request.summary_length_seconds == 30 and request.include_partial_epochs
        assert request.status == "Pending" and request.state == "pending"  # either casing
        await client.data_retrieval.wait(request.id, kind="epoch", poll_interval=0.01)
        paths = await client.data_retrieval.download_all(request.id, tmp_path, kind="epoch")
        assert len(paths) == 2
        with pytest.raises(cp.NotFoundError):
            await client.data_retrieval.get(request.id)  # not a raw request


async def test_bad_arguments_are_configuration_errors(fake: FakeCentrePoint) -> None:
    """Naive datetimes, unknown formats, reversed ranges fail before any request."""
    async with client_of(fake) as client:
        retrieval = client.data_retrieval
        with pytest.raises(cp.ConfigurationError):
            await retrieval.request_raw(STUDY, SUBJECT, BEGIN.replace(tzinfo=None), END)
        with pytest.raises(cp.ConfigurationError):
            await retrieval.request_raw(STUDY, SUBJECT, BEGIN, END, file_format="xls")
        with pytest.raises(cp.ConfigurationError):
            await retrieval.fetch_raw(STUDY, SUBJECT, END, BEGIN, ".")
        with pytest.raises(cp.ConfigurationError):
            await retrieval.request_epoch(STUDY, SUBJECT, BEGIN, END, summary_length_seconds=0)
    assert fake.api_requests() == []


async def test_wait_reports_a_request_still_running(fake: FakeCentrePoint) -> None:
    """A request not done within the timeout is a DataRetrievalError naming it."""
    fake.retrievals.delay = 5.0
    async with client_of(fake) as client:
        request = await client.data_retrieval.request_raw(STUDY, SUBJECT, BEGIN, END)
        with pytest.raises(cp.DataRetrievalError, match="still") as caught:
            await client.data_retrieval.wait(request.id, poll_interval=0.01, timeout=0.1)
    assert caught.value.tracking_id == request.id


async def test_fetch_raw_completes_from_a_handed_event(tmp_path: Path) -> None:
    """wait='event': the data_retrieval_complete event ends the wait, no polling needed."""
    async with FakeCentrePoint(retrieval_delay=0.5) as fake, client_of(fake) as client:
        receiver = WebhookReceiver(secret="s")
        handed: list[bool] = []

        @receiver.on(cp.DataRetrievalCompleteEvent)
        async def ready(event: InboundEvent[cp.DataRetrievalCompleteEvent]) -> None:
            handed.append(client.data_retrieval.notify(event.payload))

        app = web.Application()
        receiver.mount(app, "/hooks")
        async with serve_app(app) as url:
            fake.send_webhooks_to(f"{url}/hooks", secret="s")
            paths = await client.data_retrieval.fetch_raw(
                STUDY, SUBJECT, BEGIN, END, tmp_path, wait="event", max_poll_interval=60.0
            )
    assert handed == [True] and len(paths) == 2
    status_checks = [r for r in fake.api_requests("RawActivityRequests/") if r.method == "GET"]
    # one look when created, one when the event came (then datafiles): never a poll loop
    assert len([r for r in status_checks if not r.path.endswith("datafiles")]) == 2


async def test_a_callers_session_with_credentials_is_not_used_for_blobs(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A session= with a default Authorization header never sends it to the storage host."""
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer mine"}) as session:
        async with client_of(fake, session=session) as client:
            for data_file in await completed_files(client):
                await client.data_retrieval.download(data_file, tmp_path)
    assert len(fake.blob_requests) == 2
    assert not any(r.authorization for r in fake.blob_requests)


async def test_a_request_that_ends_in_error_is_reported(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A request whose status becomes 'error' makes fetch_raw raise DataRetrievalError."""
    fake.retrievals.fail_next = 1
    async with client_of(fake) as client:
        with pytest.raises(cp.DataRetrievalError, match="error"):
            await client.data_retrieval.fetch_raw(
                STUDY, SUBJECT, BEGIN, END, tmp_path, poll_interval=0.01
            )
    assert list(tmp_path.iterdir()) == []


async def test_resources_are_lenient_except_for_their_ids(fake: FakeCentrePoint) -> None:
    """An unreadable field is left None; an item without an id is a DecodeError."""
    subjects = fake.dataset.subjects[STUDY]
    subjects[0] = subjects[0] | {"weight": "heavy", "siteId": "north", "newField": 1}
    async with client_of(fake) as client:
        subject = await client.subjects.get(STUDY, SUBJECT)
        assert subject.weight is None and subject.site_id is None
        assert subject.subject_identifier == "S100-0001"
        subjects[1] = {k: v for k, v in subjects[1].items() if k != "id"}
        with pytest.raises(cp.DecodeError) as caught:
            await client.subjects.list(STUDY).collect()
        assert caught.value.resume_offset == 0  # the page holding it is read again on resume


def test_a_file_name_from_the_server_stays_inside_the_directory(tmp_path: Path) -> None:
    """A fileName with directories in it is refused; a path given by the caller is kept."""
    with pytest.raises(cp.DecodeError, match="path separator"):
        destination(tmp_path, "../../etc/passwd")
    assert destination(tmp_path, "f2") == tmp_path / "f2"
    assert destination(tmp_path / "x.csv", "../../etc/passwd") == tmp_path / "x.csv"


async def test_an_unsafe_name_in_a_listing_writes_nothing(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """download_all with a '..' among the names: DecodeError before any download or part."""
    async with client_of(fake) as client:
        tracking_id = await completed_request(client)
        fake.retrievals.requests[tracking_id].files[1]["fileName"] = ".."
        with pytest.raises(cp.DecodeError, match=r"'\.\.'"):
            await client.data_retrieval.download_all(tracking_id, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [] and fake.blob_requests == []


async def test_two_files_with_one_name_are_both_kept(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """Two files listed under one fileName: both downloaded whole, the later with its id."""
    async with client_of(fake) as client:
        tracking_id = await completed_request(client)
        entries = fake.retrievals.requests[tracking_id].files
        entries[1]["fileName"] = entries[0]["fileName"].upper()  # as a case-blind disk sees it
        paths = await client.data_retrieval.download_all(tracking_id, tmp_path)
    stem, _, extension = entries[0]["fileName"].upper().rpartition(".")
    assert [p.name for p in paths] == [
        entries[0]["fileName"],
        f"{stem}.{entries[1]['id']}.{extension}",
    ]
    for path, entry in zip(paths, entries, strict=True):
        assert path.read_bytes() == fake.data_file(entry["id"]).content()
    assert sorted(tmp_path.iterdir()) == sorted(paths)


async def test_a_stalled_connection_is_given_up_and_resumed(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A host that stops sending mid-file is abandoned after read_timeout, then resumed."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        fake.inject_blob("stall", after_bytes=70_000)
        path = await client.data_retrieval.download(data_file, tmp_path, read_timeout=0.3)
    assert path.read_bytes() == fake.data_file(data_file.id).content()
    assert [r.range for r in fake.blob_requests] == [None, "bytes=70000-"]


async def test_a_part_left_by_an_earlier_run_is_resumed(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A .part of the same file from an interrupted download is continued, not started over."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        content = fake.data_file(data_file.id).content()
        fake.inject_blob("stall", after_bytes=123_456)
        first = asyncio.create_task(client.data_retrieval.download(data_file, tmp_path / "o.csv"))
        part = tmp_path / "o.csv.part"
        while not (part.exists() and part.stat().st_size == 123_456):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        first.cancel()  # interrupted: the part stays, with the version it holds beside it
        with pytest.raises(asyncio.CancelledError):
            await first
        path = await client.data_retrieval.download(data_file, tmp_path / "o.csv")
    assert path.read_bytes() == content
    assert [r.range for r in fake.blob_requests] == [None, "bytes=123456-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv"]


async def test_download_all_stops_the_others_on_a_failure(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """One file refused for good: download_all raises at once, the other is not left running."""
    async with client_of(fake) as client:
        tracking_id = await completed_request(client)
        fake.inject_blob("stall", after_bytes=1000)  # whichever file asks first hangs there
        fake.inject_blob("status", status=404)  # and the other is refused
        before = asyncio.all_tasks()
        with pytest.raises(cp.DownloadError, match="404"):
            # the stalled one would hold it for read_timeout (60 s) if it were awaited
            await asyncio.wait_for(client.data_retrieval.download_all(tracking_id, tmp_path), 30)
        left = [t for t in asyncio.all_tasks() - before if "download" in repr(t.get_coro())]
        assert left == []  # nothing of download_all still runs
    assert sorted(r.status for r in fake.blob_requests) == [200, 404]


async def test_a_part_of_unknown_origin_is_not_trusted(
    fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A .part with no record of which file it holds is discarded, never continued."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        (tmp_path / "out.csv.part").write_bytes(b"x" * 123_456)
        path = await client.data_retrieval.download(data_file, tmp_path / "out.csv")
    assert path.read_bytes() == fake.data_file(data_file.id).content()
    assert [r.range for r in fake.blob_requests] == [None]


async def test_a_download_url_answer_without_a_url_is_a_decode_error(
    fake: FakeCentrePoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """downloadurl answered without downloadUrl is a DecodeError, not a download of ''."""
    async with client_of(fake) as client:
        data_file = (await completed_files(client))[0]
        answer = {"expirationDateUtc": "2030-01-01T00:00:00Z"}
        monkeypatch.setattr(fake.retrievals, "download_url", lambda _: answer)
        with pytest.raises(cp.DecodeError, match="no download URL"):
            await client.data_retrieval.download_url(data_file.id)


async def test_downloads_go_through_the_proxy_the_environment_names(
    fake: FakeCentrePoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP(S)_PROXY reaches the storage host too (read once per host), with no bearer token."""
    seen: list[tuple[str, str | None]] = []

    async def forward(request: web.Request) -> web.Response:
        # a plain forwarding proxy: absolute-form request line in, the same request out
        seen.append((str(request.url), request.headers.get("Authorization")))
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("range", "authorization", "content-type")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, request.url, headers=headers, data=await request.read()
            ) as answer,
        ):
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                headers={
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() in ("content-type", "content-range", "retry-after")
                },
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    async with serve_app(app) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        async with client_of(fake) as client:
            paths = [
                await client.data_retrieval.download(f, tmp_path)
                for f in await completed_files(client)
            ]
    blob = [
        (url, auth)
        for url, auth in seen
        if "/centrepoint/" not in url and "/dataretrieval/" not in url and "/connect/" not in url
    ]
    assert len(blob) == len(paths) == 2
    assert all(auth is None for _, auth in blob)
    assert any("/dataretrieval/" in url for url, _ in seen)  # the API went through it as well
    for path in paths:
        assert path.stat().st_size > 0
