"""The client against a hostile loopback server: bounded in time and memory, typed, no leaks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import logging
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import centrepoint_async as cp
from centrepoint_async._pager import LOOP_WINDOW

from .conftest import Sleeps, fast_retry

MiB = 1024 * 1024
STUDY_PATH = "/centrepoint/v3/Studies/{study_id}"
CLIENT_ID = "hostile-client-id"
SECRET = "s3cret pass+word/=&x"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(routes: dict[str, Handler], method: str = "GET") -> AsyncIterator[str]:
    """A loopback server answering ``routes`` (path -> handler); the token route is POST."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("POST" if path == "/connect/token" else method, path, _route(handler))
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def _route(handler: Handler) -> Handler:
    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    return route


def study(request: web.Request) -> web.Response:
    return web.json_response({"id": int(request.match_info.get("study_id", 1)), "name": "S"})


class Script:
    """Answers a programmed list of responses in turn, then ``then`` for every later request."""

    def __init__(self, *answers: Callable[[], web.StreamResponse], then: Handler | None = None):
        self.answers = list(answers)
        self.then = then
        self.count = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        if self.answers:
            return self.answers.pop(0)()
        if self.then is not None:
            return await self.then(request)
        return study(request)


def status(code: int, retry_after: str | None = None) -> Callable[[], web.StreamResponse]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return lambda: web.json_response({"error": "busy"}, status=code, headers=headers)


class Tokens:
    """A token endpoint that grants numbered tokens and remembers every one it gave."""

    def __init__(self) -> None:
        self.granted: list[str] = []

    async def __call__(self, request: web.Request) -> web.Response:
        token = f"hostile-token-{len(self.granted)}-abcdef"
        self.granted.append(token)
        return web.json_response({"access_token": token, "expires_in": 3600})


def client(url: str, **kwargs: Any) -> cp.CentrePointClient:
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("retry", fast_retry())
    if "token" not in kwargs:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret", SECRET)
    return cp.CentrePointClient(base_url=url, auth_url=url, **kwargs)


# --- Retry-After and the retry budget -------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
async def test_retry_after_replaces_the_backoff_on_every_retryable_status(
    code: int, sleeps: Sleeps
) -> None:
    """A 503 (or any retryable status) with Retry-After: 2 waits 2 s, not the backoff."""
    script = Script(status(code, "2"))
    async with serve({STUDY_PATH: script}) as url:
        async with client(url, token="tok-abcd", retry=cp.RetryPolicy(sleep=sleeps)) as c:
            assert (await c.studies.get(1)).id == 1
    assert sleeps.waits == [2.0] and script.count == 2


@pytest.mark.parametrize(("code", "error"), [(429, cp.RateLimitError), (503, cp.ServerError)])
async def test_a_retry_after_beyond_the_budget_ends_the_retries_at_once(
    code: int, error: type[cp.APIError], sleeps: Sleeps
) -> None:
    """Retry-After 10**9 is not waited for: the typed error is raised at once with retry_after."""
    script = Script(status(code, str(10**9)), status(code, str(10**9)))
    async with serve({STUDY_PATH: script}) as url:
        async with client(url, token="tok-abcd", retry=cp.RetryPolicy(sleep=sleeps)) as c:
            with pytest.raises(error) as caught:
                await c.studies.get(1)
    assert caught.value.retry_after == 10**9 and caught.value.attempts == 1
    assert sleeps.waits == [] and script.count == 1


async def test_token_endpoint_down_costs_one_token_request_per_attempt() -> None:
    """Token endpoint 503: max_attempts token requests in all, and the error says so."""
    token_endpoint = Script(then=lambda request: asyncio.sleep(0, status(503)()))
    api = Script()
    async with serve({"/connect/token": token_endpoint, STUDY_PATH: api}) as url:
        async with client(url, retry=fast_retry(max_attempts=5)) as c:
            with pytest.raises(cp.ServerError) as caught:
                await c.studies.get(1)
            stats = c.stats
    assert token_endpoint.count == 5 and api.count == 0
    assert caught.value.attempts == 5 and "after 5 attempts" in str(caught.value)
    assert (stats.attempts, stats.retries, stats.token_requests, stats.requests) == (5, 4, 5, 5)


async def test_stats_count_every_attempt_replay_and_token_request() -> None:
    """Two failed attempts, a success and a 401 replay: every one is counted."""
    tokens = Tokens()
    api = Script(status(503), status(500), lambda: web.json_response({}, status=401))
    async with serve({"/connect/token": tokens, STUDY_PATH: api}) as url:
        async with client(url) as c:
            await c.studies.get(1)
            stats = c.stats
    assert api.count == 4 and len(tokens.granted) == 2
    assert (stats.attempts, stats.retries, stats.token_requests, stats.requests) == (3, 2, 2, 6)


# --- answer size -----------------------------------------------------------------------------


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations in the block, in bytes (as a one-item list)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = [0]
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


async def test_content_length_over_the_cap_is_refused_before_reading() -> None:
    """A 10 MiB answer announced by Content-Length is refused (1 MiB cap), not retried."""
    count = 0

    async def announced(request: web.Request) -> web.StreamResponse:
        nonlocal count
        count += 1
        response = web.StreamResponse()
        response.content_length = 10 * MiB
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError):
            for _ in range(160):  # written in 64 KiB pieces: the server holds little at once
                await response.write(b"0" * 65536)
        return response

    async with serve({STUDY_PATH: announced}) as url:
        async with client(url, token="tok-abcd", max_response_size=MiB) as c:
            with peak_memory() as peak, pytest.raises(cp.ResponseTooLargeError) as caught:
                await c.studies.get(1)
    assert "Content-Length" in str(caught.value) and caught.value.status == 200
    assert isinstance(caught.value, cp.DecodeError) and caught.value.url
    assert count == 1  # the same request would get the same answer: not retried
    assert peak[0] < MiB  # refused from the header: the body was never read


async def test_an_endless_chunked_body_stops_at_the_cap() -> None:
    """A body that never ends is read up to the cap, then the connection is dropped."""
    stopped = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            while True:
                await response.write(b"x" * 65536)
        except ConnectionError:
            pass
        finally:  # the write failed or the handler was cancelled: the client hung up
            stopped.set()
        return response

    async with serve({STUDY_PATH: endless}) as url:
        async with client(url, token="tok-abcd", max_response_size=MiB) as c:
            with peak_memory() as peak, pytest.raises(cp.ResponseTooLargeError) as caught:
                await c.studies.get(1)
        await asyncio.wait_for(stopped.wait(), 10)  # the server's writes failed: we hung up
    assert "reading stopped" in str(caught.value) and caught.value.attempts == 1
    assert peak[0] < 4 * MiB


async def test_a_gzip_bomb_is_capped_on_its_decompressed_size() -> None:
    """10 MiB inflating from a few KiB of gzip stops at a 1 MiB cap, counted decompressed."""
    bomb = gzip.compress(b"0" * (10 * MiB))
    assert len(bomb) < MiB

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    async with serve({STUDY_PATH: answer}) as url:
        async with client(url, token="tok-abcd", max_response_size=MiB) as c:
            with peak_memory() as peak, pytest.raises(cp.ResponseTooLargeError):
                await c.studies.get(1)
    assert peak[0] < 5 * MiB  # never the 10 MiB it inflates to


async def test_an_answer_exactly_at_the_cap_is_read() -> None:
    """The cap is inclusive: an answer of exactly max_response_size bytes is accepted."""
    body = orjson.dumps({"id": 1, "name": "S" * 1000})
    script = Script(then=lambda request: asyncio.sleep(0, web.Response(body=body)))
    async with serve({STUDY_PATH: script}) as url:
        async with client(url, token="tok-abcd", max_response_size=len(body)) as c:
            assert (await c.studies.get(1)).name == "S" * 1000
        async with client(url, token="tok-abcd", max_response_size=len(body) - 1) as c:
            with pytest.raises(cp.ResponseTooLargeError):
                await c.studies.get(1)


# --- typed errors ----------------------------------------------------------------------------


async def test_bad_tokens_and_urls_are_configuration_errors_without_the_secret() -> None:
    """A token with CR/LF or a URL with user:password@ is refused typed, never as ValueError."""
    with pytest.raises(cp.ConfigurationError) as caught:
        cp.CentrePointClient(token="abcd\r\nX-Injected: yes")
    assert "abcd" not in str(caught.value)
    with pytest.raises(cp.ConfigurationError) as caught:
        cp.CentrePointClient(CLIENT_ID, SECRET, base_url="https://user:hunter22@example.com")
    assert "hunter22" not in str(caught.value)
    for bad in ("https://example.com:99999", "https://exa mple.com", 42):
        with pytest.raises(cp.ConfigurationError):
            cp.CentrePointClient(CLIENT_ID, SECRET, auth_url=bad)  # type: ignore[arg-type]


async def test_a_token_answer_with_crlf_is_a_decode_error() -> None:
    """A granted token that cannot be a header gives DecodeError, not ValueError."""

    async def evil(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "abcd\r\nX-Evil: 1", "expires_in": 60})

    async with serve({"/connect/token": evil, STUDY_PATH: Script()}) as url:
        async with client(url, retry=fast_retry(max_attempts=2)) as c:
            with pytest.raises(cp.DecodeError, match="cannot be sent in a header") as caught:
                await c.studies.get(1)
    assert caught.value.attempts == 2 and "abcd" not in str(caught.value)


async def test_connect_and_timeout_failures_are_typed() -> None:
    """Nothing listening is a ConnectError; a stalled body past Timeout(read=) a timeout."""
    async with serve({}) as url:
        pass  # closed: nothing listens there any more
    async with client(url, token="tok-abcd", retry=fast_retry(max_attempts=2)) as c:
        with pytest.raises(cp.ConnectError) as refused:
            await c.studies.get(1)
    assert isinstance(refused.value, cp.TransportError) and refused.value.attempts == 2

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"id": 1,')
        await asyncio.sleep(5)
        return response

    timeout = cp.Timeout(total=None, read=0.2)
    async with serve({STUDY_PATH: stall}) as url:
        async with client(url, token="tok-abcd", timeout=timeout, retry=None) as c:
            with pytest.raises(cp.RequestTimeoutError):
                await c.studies.get(1)
    with pytest.raises(cp.ConfigurationError):
        cp.Timeout(read=0)
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient(token="tok-abcd", timeout=-1)


# --- pages -----------------------------------------------------------------------------------


def page_of(ids: range, total: int = 1000) -> web.Response:
    return web.json_response({"items": [{"id": i} for i in ids], "totalCount": total})


@pytest.mark.parametrize("broken", [{"totalCount": 5}, {"items": None, "totalCount": 5}])
async def test_a_page_without_items_is_a_decode_error_carrying_resume_offset(
    broken: dict[str, Any],
) -> None:
    """A 200 page with no items list stops the listing with an error, never silently."""

    async def listing(request: web.Request) -> web.Response:
        # pages start at 0, 99, 198 (each after the first at its anchor): the third is broken
        offset = int(request.query["offset"])
        return page_of(range(offset, offset + 100)) if offset < 198 else web.json_response(broken)

    async with serve({"/centrepoint/v3/Studies": listing}) as url:
        async with client(url, token="tok-abcd") as c:
            got: list[int | None] = []
            with pytest.raises(cp.DecodeError) as caught:
                async for item in c.studies.list():
                    got.append(item.id)
    assert got == list(range(199)) and caught.value.resume_offset == 199


@pytest.mark.parametrize("bad_item", [5, "study", None, [1]])
async def test_an_item_the_model_refuses_is_a_decode_error_carrying_resume_offset(
    bad_item: object,
) -> None:
    """A non-object among a page's items stops the listing typed, where a restart resumes."""

    async def listing(request: web.Request) -> web.Response:
        offset = int(request.query["offset"])
        if offset == 99:  # the second page, which starts at its anchor
            items: list[object] = [{"id": i} for i in range(99, 150)]
            return web.json_response({"items": [*items, bad_item], "totalCount": 1000})
        return page_of(range(offset, offset + 100))

    async with serve({"/centrepoint/v3/Studies": listing}) as url:
        async with client(url, token="tok-abcd") as c:
            pager = c.studies.list(concurrency=4)
            with pytest.raises(cp.DecodeError) as caught:
                async for _ in pager:
                    pass
    assert caught.value.resume_offset == pager.resume_offset == 100


@pytest.mark.parametrize("cycle", [1, 2, 3])
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_server_cycling_through_full_pages_is_a_pagination_error(
    cycle: int, concurrency: int
) -> None:
    """The same page again, two pages alternating, or three in turn: an error, not a loop."""
    requests = 0

    async def cycling(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        page = int(request.query["offset"]) // 100 % cycle
        return page_of(range(page * 100, page * 100 + 100))

    async with serve({"/centrepoint/v3/Studies": cycling}) as url:
        async with client(url, token="tok-abcd") as c:
            pager = c.studies.list(concurrency=concurrency)
            got: list[int] = []
            with pytest.raises(cp.PaginationError):
                async for study in pager:
                    got.append(study.id)
    assert got == list(range(cycle * 100))  # each study once, then the loop is refused
    # a shift is not a loop until LOOP_WINDOW pages in a row bring nothing: bounded either way
    assert requests <= cycle + LOOP_WINDOW + 2 * concurrency + 2


# --- secrets ---------------------------------------------------------------------------------


def secret_spellings(tokens: list[str]) -> list[str]:
    """Every spelling of every secret a leak could take."""
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    spellings = [SECRET, quote_plus(SECRET), quote(SECRET, safe=""), basic, CLIENT_ID]
    for token in tokens:
        spellings += [token, quote_plus(token)]
    return spellings


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception reachable through __cause__ and __context__."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


HOLDS_HEADERS = (aiohttp.ClientError, aiohttp.ClientResponse, aiohttp.RequestInfo)


def texts_of(error: BaseException) -> Iterator[str]:
    """Every text an error exposes, asserting no object holding request headers is reachable."""
    for link in exception_chain(error):
        assert not isinstance(link, aiohttp.ClientError), type(link)
        yield from (str(link), repr(link), repr(link.args))
        for value in vars(link).values():
            assert not isinstance(value, HOLDS_HEADERS)
            yield repr(value)
        # nor through the SDK's frames in the traceback (a crash reporter capturing locals)
        tb = link.__traceback__
        while tb is not None:
            if "centrepoint_async" in tb.tb_frame.f_code.co_filename:
                for value in tb.tb_frame.f_locals.values():
                    assert not isinstance(value, HOLDS_HEADERS), (tb.tb_frame, type(value))
            tb = tb.tb_next


async def test_no_secret_in_any_encoding_reaches_errors_chains_logs_or_hooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Echoing endpoints, drops and timeouts: no secret spelling in any error, chain or log."""
    caplog.set_level(logging.DEBUG, logger="centrepoint_async")
    tokens = Tokens()
    seen_events: list[cp.HookEvent] = []

    async def record(event: cp.HookEvent) -> None:
        seen_events.append(event)

    hooks = {"request": [record], "response": [record], "retry": [record]}

    async def echo_form(request: web.Request) -> web.Response:
        form = (await request.read()).decode()
        return web.json_response({"error": "invalid_client", "error_description": form}, status=400)

    async def echo_raw(request: web.Request) -> web.Response:
        return web.Response(status=500, body=await request.read())

    async def echo_basic(request: web.Request) -> web.Response:
        basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        return web.Response(status=502, text=f"Authorization: Basic {basic}")

    async def echo_bearer(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"you sent {request.headers['Authorization']}")

    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return study(request)

    async def huge(request: web.Request) -> web.Response:
        return web.Response(text="x" * 4096)

    errors: list[BaseException] = []
    for endpoint in (echo_form, echo_raw, echo_basic):
        async with serve({"/connect/token": endpoint, STUDY_PATH: Script()}) as url:
            async with client(url, event_hooks=hooks, retry=fast_retry(max_attempts=2)) as c:
                with pytest.raises(cp.CentrePointError) as caught:
                    await c.studies.get(1)
                errors.append(caught.value)
    for api in (echo_bearer, drop, slow, huge):
        async with serve({"/connect/token": tokens, STUDY_PATH: api}) as url:
            async with client(
                url,
                event_hooks=hooks,
                retry=fast_retry(max_attempts=2),
                timeout=0.3,
                max_response_size=1024,
            ) as c:
                with pytest.raises(cp.CentrePointError) as caught:
                    await c.studies.get(1)
                errors.append(caught.value)
                texts = [repr(c), repr(c.stats), repr(c.studies.list())]
    assert {type(e) for e in errors} == {
        cp.AuthenticationError,
        cp.ServerError,
        cp.TransportError,
        cp.RequestTimeoutError,
        cp.ResponseTooLargeError,
    }
    for error in errors:
        texts += list(texts_of(error))
    for record_ in caplog.records:
        texts += [record_.getMessage(), repr(record_.args), repr(vars(record_))]
    texts += [repr(event) for event in seen_events]
    assert any("retrying" in t for t in texts) and len(tokens.granted) == 4
    joined = "\n".join(texts)
    for spelling in secret_spellings(tokens.granted):
        assert spelling not in joined, spelling


# --- hooks, logs, spans ---------------------------------------------------------------------


async def test_event_hooks_see_every_request_response_and_retry_redacted() -> None:
    """Hooks get method, URL, status, elapsed, attempt and the retry's cause; never a token."""
    events: list[cp.HookEvent] = []

    async def record(event: cp.HookEvent) -> None:
        events.append(event)

    tokens = Tokens()
    api = Script(status(503, "0"))
    hooks = {"request": [record], "response": [record], "retry": [record]}
    async with serve({"/connect/token": tokens, STUDY_PATH: api}) as url:
        async with client(url, event_hooks=hooks) as c:
            await c.studies.get(7)
    summary = [(e.name, e.method, e.url.removeprefix(url), e.attempt, e.status) for e in events]
    assert summary == [
        ("request", "POST", "/connect/token", 1, None),
        ("response", "POST", "/connect/token", 1, 200),
        ("request", "GET", "/centrepoint/v3/Studies/7", 1, None),
        ("response", "GET", "/centrepoint/v3/Studies/7", 1, 503),
        ("retry", "GET", "/centrepoint/v3/Studies/7", 2, 503),
        ("request", "GET", "/centrepoint/v3/Studies/7", 2, None),
        ("response", "GET", "/centrepoint/v3/Studies/7", 2, 200),
    ]
    retry = events[4]
    assert retry.reason == "status 503" and retry.wait == 0.0
    assert all(e.elapsed is not None and e.elapsed >= 0 for e in events if e.name == "response")
    assert tokens.granted[0] not in repr(events)
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient(token="tok-abcd", event_hooks={"sent": [record]})


async def test_logs_carry_structured_extra_and_retry_warnings_name_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each request logs method/path/status/attempt/elapsed; retries say 'status 503' or why."""
    caplog.set_level(logging.DEBUG, logger="centrepoint_async")
    assert any(
        isinstance(h, logging.NullHandler) for h in logging.getLogger("centrepoint_async").handlers
    )
    api = Script(status(503))
    async with serve({STUDY_PATH: api}) as url:
        async with client(url, token="tok-abcd") as c:
            await c.studies.get(3)
    async with serve({}) as closed:
        pass
    async with client(closed, token="tok-abcd", retry=fast_retry(max_attempts=2)) as c:
        with pytest.raises(cp.ConnectError):
            await c.studies.get(3)
    sent = [r for r in caplog.records if r.levelno == logging.DEBUG and hasattr(r, "path")]
    assert [(r.method, r.path, r.status, r.attempt) for r in sent[:2]] == [  # type: ignore[attr-defined]
        ("GET", "/centrepoint/v3/Studies/3", 503, 1),
        ("GET", "/centrepoint/v3/Studies/3", 200, 2),
    ]
    assert all(r.elapsed >= 0 for r in sent)  # type: ignore[attr-defined]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "status 503" in warnings[0]
    assert "ConnectError: " in warnings[1] and "ClientConnectorError" in warnings[1]


async def test_the_debug_records_path_is_redacted_like_the_url_it_shows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A secret in a request's path (a caller's mistake) is redacted in the record's ``path``
    field too, not only in its message."""
    caplog.set_level(logging.DEBUG, logger="centrepoint_async")
    token = "tok-in-the-path-1234"
    async with serve({"/centrepoint/v3/Things/{thing}": Script()}) as url:
        async with client(url, token=token) as c:
            await c.get_json(f"/centrepoint/v3/Things/{token}")
    records = [r for r in caplog.records if hasattr(r, "path")]
    assert records and all(token not in r.getMessage() for r in records)
    assert [r.path for r in records] == ["/centrepoint/v3/Things/***"]


# --- configuration ---------------------------------------------------------------------------


async def test_from_env_reads_the_variables_and_overrides_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """from_env() builds a working client from CENTREPOINT_*; keyword arguments take precedence."""
    tokens = Tokens()
    async with serve({"/connect/token": tokens, STUDY_PATH: Script()}) as url:
        monkeypatch.setenv("CENTREPOINT_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("CENTREPOINT_CLIENT_SECRET", SECRET)
        monkeypatch.setenv("CENTREPOINT_BASE_URL", url)
        monkeypatch.setenv("CENTREPOINT_AUTH_URL", url)
        async with cp.CentrePointClient.from_env(rate_limit=None) as c:
            assert (await c.studies.get(5)).id == 5
            assert c.base_url == url
        async with cp.CentrePointClient.from_env(token="fixed-token", rate_limit=None) as c:
            assert (await c.studies.get(6)).id == 6
    assert len(tokens.granted) == 1
    monkeypatch.delenv("CENTREPOINT_CLIENT_SECRET")
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient.from_env()


async def test_the_clients_own_session_goes_through_the_proxy_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP(S)_PROXY is honoured (trust_env): the request reaches the proxy, absolute URL."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.json_response({"id": 9, "name": "via proxy"})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", proxy)
    async with TestServer(app, host="127.0.0.1") as proxy_server:
        monkeypatch.setenv("HTTP_PROXY", str(proxy_server.make_url("")))
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        target = "http://127.0.0.1:9"  # nothing listens there: only the proxy can answer
        async with cp.CentrePointClient(
            token="tok-abcd", base_url=target, rate_limit=None, retry=None
        ) as c:
            assert (await c.studies.get(9)).name == "via proxy"
    assert seen == ["http://127.0.0.1:9/centrepoint/v3/Studies/9"]
