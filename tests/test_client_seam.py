"""The seams other modules and users build on: raw history, the declarations' paths, the
public ``request``/``paginate``, POST with a JSON body, and the transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import centrepoint_async as cp
from centrepoint_async import _endpoints as ep
from centrepoint_async import _protocol as proto
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, WEBHOOK, fast_retry, one_history


async def test_raw_history_yields_the_items_exactly_as_sent() -> None:
    """raw_history gives the decoded JSON of every delivery, in order, same as history's ids."""
    async with FakeCentrePoint(dataset=one_history(250), rate_limit=None) as fake:
        async with fake.client() as client:
            raw = await client.webhooks.raw_history(STUDY, WEBHOOK, concurrency=4).collect()
            typed = await client.webhooks.history(STUDY, WEBHOOK).collect()
        assert raw == fake.history_items(STUDY, WEBHOOK)
        assert [item["id"] for item in raw] == [d.id for d in typed]


async def test_raw_history_drops_repeats_across_pages_and_resumes() -> None:
    """Deliveries inserted at the front mid-listing are not yielded twice by raw_history."""
    async with FakeCentrePoint(dataset=one_history(300), rate_limit=None) as fake:
        original = [item["id"] for item in fake.history_items(STUDY, WEBHOOK)]
        async with fake.client() as client:
            pager = client.webhooks.raw_history(STUDY, WEBHOOK, page_size=100)
            got = []
            async for item in pager:
                got.append(item["id"])
                if len(got) == 100:
                    fake.insert_deliveries(STUDY, WEBHOOK, 5)  # shifts every later offset by 5
        # the five new ones sit before the walk's position: every original item, once, in order
        assert got == original
        assert pager.resume_offset == 305


def test_every_declaration_is_a_full_path_of_a_known_family() -> None:
    """Every endpoint's path is absolute, under one of the four families, so its scope is
    known; writes are POST or PUT and everything else a GET."""
    endpoints = [v for v in vars(ep).values() if isinstance(v, ep.Endpoint)]
    assert len(endpoints) >= 45
    scopes = {e.scope for e in endpoints}
    assert scopes == {"CentrePoint", "Analytics", "DataAccess", "DataRetrieval"}
    for endpoint in endpoints:
        assert endpoint.path.startswith("/") and endpoint.method in ("GET", "POST", "PUT")
    request = proto.api_request("https://h", "/analytics/v3/x", method="POST", json={"a": 1})
    assert request.url == "https://h/analytics/v3/x" and not request.idempotent
    assert orjson.loads(request.data or b"") == {"a": 1}
    assert request.headers["Content-Type"] == "application/json"
    assert proto.api_request("https://h", "/centrepoint/v3/x").idempotent
    with pytest.raises(cp.ConfigurationError):
        proto.api_request("https://h", "Studies")


class PostServer:
    """A loopback API whose POST answers a programmed sequence of statuses, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[bytes] = []

    async def post(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        if self.statuses:
            return web.json_response({}, status=self.statuses.pop(0))
        return web.json_response({"trackingId": len(self.bodies)})

    async def array(self, request: web.Request) -> web.Response:
        if request.query.get("shape") == "object":
            return web.json_response({"items": []})
        return web.json_response([{"id": 1}, {"id": 2}])


@pytest.fixture
async def post_server() -> AsyncIterator[tuple[PostServer, str]]:
    state = PostServer([])
    app = web.Application()
    app.router.add_post("/dataretrieval/v3/requests", state.post)
    app.router.add_get("/dataretrieval/v3/files", state.array)
    async with TestServer(app, host="127.0.0.1") as server:
        yield state, str(server.make_url("")).rstrip("/")


async def test_post_with_a_json_body_is_not_resent_after_a_5xx(
    post_server: tuple[PostServer, str],
) -> None:
    """A POST that may have started work is sent once: a 503 is raised, not retried."""
    state, url = post_server
    state.statuses[:] = [503]
    async with cp.CentrePointClient(
        token="t", base_url=url, retry=fast_retry(), rate_limit=None
    ) as client:
        with pytest.raises(cp.ServerError):
            await client.request("POST", "/dataretrieval/v3/requests", json={"x": 1})
    assert state.bodies == [b'{"x":1}']


async def test_post_is_resent_after_a_429_and_when_marked_idempotent(
    post_server: tuple[PostServer, str],
) -> None:
    """A 429 means the POST was not handled: sent again; idempotent=True retries a 503 too."""
    state, url = post_server
    async with cp.CentrePointClient(
        token="t", base_url=url, retry=fast_retry(), rate_limit=None
    ) as client:
        state.statuses[:] = [429]
        answer = await client.request("POST", "/dataretrieval/v3/requests", json={})
        assert answer == {"trackingId": 2}
        state.statuses[:] = [503]
        answer = await client.request(
            "POST", "/dataretrieval/v3/requests", json={}, idempotent=True
        )
        assert answer == {"trackingId": 4}


async def test_post_is_resent_after_a_refused_connection() -> None:
    """A connection that could not be made never reached the server: a POST is tried again."""
    async with TestServer(web.Application(), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
    async with cp.CentrePointClient(
        token="t", base_url=url, retry=fast_retry(max_attempts=3), rate_limit=None
    ) as client:
        with pytest.raises(cp.ConnectError) as caught:
            await client.request("POST", "/dataretrieval/v3/requests", json={})
    assert caught.value.attempts == 3


async def test_get_of_a_plain_json_array() -> None:
    """A plain array answer (a request's datafiles) is a list of models; an object instead is
    a DecodeError that says which answer (URL as shown, status)."""
    shapes = [b'[{"id": "a", "fileName": "x.csv"}]', b'{"items": []}']

    def handler(request: cp.Request) -> cp.Answer:
        return cp.Answer(200, {"Content-Type": "application/json"}, shapes.pop(0))

    transport = cp.MockTransport(handler)
    async with cp.CentrePointClient(token="t", transport=transport, rate_limit=None) as client:
        files = await client.data_retrieval.files("abc")
        assert [(f.id, f.file_name) for f in files] == [("a", "x.csv")]
        with pytest.raises(cp.DecodeError) as caught:
            await client.data_retrieval.files("abc")
    path = "/dataretrieval/v3/RawActivityRequests/abc/datafiles"
    assert caught.value.url == f"https://api.actigraphcorp.com{path}"
    assert caught.value.status == 200


async def test_a_mock_transport_replaces_the_network() -> None:
    """transport= takes every request of the client, the token request included: what is sent
    (method, URL, query, bearer) and what comes back are the test's own."""

    def handler(request: cp.Request) -> cp.Answer:
        if request.is_token:
            return cp.Answer(200, {}, b'{"access_token": "tok-1234", "expires_in": 3600}')
        assert request.headers["Authorization"] == "Bearer tok-1234"
        return cp.Answer(200, {}, b'{"id": 7, "name": "Seven"}')

    transport = cp.MockTransport(handler)
    async with cp.CentrePointClient("id", "secret", transport=transport) as client:
        study = await client.studies.get(7)
    assert (study.id, study.name) == (7, "Seven")
    token, get = transport.requests
    assert token.is_token and b"scope=CentrePoint" in (token.data or b"")
    assert (get.method, get.url) == (
        "GET",
        "https://api.actigraphcorp.com/centrepoint/v3/Studies/7",
    )


async def test_transport_and_session_cannot_both_be_given() -> None:
    """A transport of one's own replaces the session: giving both is a configuration error."""
    transport = cp.MockTransport(lambda request: cp.Answer(200, {}, b"{}"))
    import aiohttp

    async with aiohttp.ClientSession() as session:
        with pytest.raises(cp.ConfigurationError):
            cp.CentrePointClient(token="t", transport=transport, session=session)
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient(token="t", transport=object())  # type: ignore[arg-type]
