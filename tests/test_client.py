"""The client against a real loopback server: tokens, retries, timeouts, sessions, secrets."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from urllib.parse import parse_qsl

import aiohttp
import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, Sleeps, bearer_recording_session, fast_retry


async def test_get_study_with_client_credentials(fake: FakeCentrePoint) -> None:
    """The first real call: a typed Study, after one token request."""
    async with fake.client() as client:
        study = await client.studies.get(STUDY)
    assert isinstance(study, cp.Study) and study.id == STUDY
    assert study.name == fake.dataset.studies[0]["name"]
    assert fake.token_grants == 1


async def test_fixed_token_is_sent_as_bearer(fake: FakeCentrePoint) -> None:
    """token= skips the token endpoint; a refused fixed token is an AuthenticationError."""
    form = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "grant_type": "client_credentials",
        "scope": "CentrePoint",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/connect/token", data=form) as answer,
    ):
        token = (await answer.json())["access_token"]
    async with fake.client(token=token) as client:
        assert (await client.studies.get(STUDY)).id == STUDY
    async with fake.client(token="not-a-token") as client:
        with pytest.raises(cp.AuthenticationError):
            await client.studies.get(STUDY)
    assert fake.token_grants == 1


async def test_token_single_flight(fake: FakeCentrePoint) -> None:
    """100 concurrent first calls make exactly one token request."""
    async with fake.client(rate_limit=None) as client:
        results = await asyncio.gather(*(client.studies.get(STUDY) for _ in range(100)))
    assert len(results) == 100 and fake.token_grants == 1


async def test_token_renewed_before_expiry() -> None:
    """A token is renewed shortly before expires_in runs out: no request ever sees a 401."""
    async with FakeCentrePoint(token_lifetime=2.0) as fake, fake.client() as client:
        for _ in range(7):  # renewed 0.2 s (a tenth of its life) before it expires
            await client.studies.get(STUDY)
            await asyncio.sleep(0.4)
    assert fake.token_grants >= 2
    assert all(r.status != 401 for r in fake.requests)


async def test_401_refreshes_once_and_replays(fake: FakeCentrePoint) -> None:
    """A token the server stopped accepting is renewed once and the request replayed."""
    async with fake.client(retry=None) as client:
        await client.studies.get(STUDY)
        fake.expire_tokens()
        assert (await client.studies.get(STUDY)).id == STUDY
    assert fake.token_grants == 2
    assert [r.status for r in fake.api_requests()] == [200, 401, 200]


async def test_bad_credentials_name_the_cause_not_the_secret(fake: FakeCentrePoint) -> None:
    """A refused token request is an AuthenticationError naming invalid_client, no secret."""
    async with fake.client(client_secret="wrong-secret-123", retry=fast_retry()) as client:
        with pytest.raises(cp.AuthenticationError) as info:
            await client.studies.get(STUDY)
    assert "invalid_client" in str(info.value)
    assert "wrong-secret-123" not in str(info.value) + repr(info.value)
    assert fake.token_grants == 0 and len(fake.requests) == 1  # 400 is not retried


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_server_errors_are_retried(fake: FakeCentrePoint, status: int) -> None:
    """Transient statuses are retried until the request succeeds."""
    fake.inject("status", status=status, count=2)
    async with fake.client(retry=fast_retry()) as client:
        assert (await client.studies.get(STUDY)).id == STUDY
        assert client.stats.retries == 2


@pytest.mark.parametrize("kind", ["drop", "truncate"])
async def test_dropped_and_truncated_answers_are_retried(fake: FakeCentrePoint, kind: str) -> None:
    """A dropped connection or a 200 with half a body is retried."""
    fake.inject(kind, count=3)  # type: ignore[arg-type]
    async with fake.client(retry=fast_retry()) as client:
        assert (await client.studies.get(STUDY)).id == STUDY


async def test_token_endpoint_failures_are_retried(fake: FakeCentrePoint) -> None:
    """The token request is retried on a 503 like any GET."""
    fake.inject("status", path="/connect/token", status=503)
    async with fake.client(retry=fast_retry()) as client:
        assert (await client.studies.get(STUDY)).id == STUDY
    assert fake.token_grants == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, cp.NotFoundError), (403, cp.PermissionDeniedError), (400, cp.BadRequestError)],
)
async def test_client_errors_are_not_retried(
    fake: FakeCentrePoint, status: int, error: type[cp.APIError]
) -> None:
    """400/403/404 fail at once: retrying cannot help."""
    fake.inject("status", status=status, count=5)
    async with fake.client(retry=fast_retry()) as client:
        with pytest.raises(error) as info:
            await client.studies.get(STUDY)
    assert info.value.attempts == 1
    assert len(fake.api_requests()) == 1


async def test_unknown_study_is_not_found(fake: FakeCentrePoint) -> None:
    """A study that does not exist raises NotFoundError with the server's text."""
    async with fake.client() as client:
        with pytest.raises(cp.NotFoundError, match="Study not found"):
            await client.studies.get(999999)


async def test_final_error_says_how_many_attempts(fake: FakeCentrePoint, sleeps: Sleeps) -> None:
    """When retries are spent, the last error is raised with the attempt count."""
    fake.inject("status", status=503, count=10)
    async with fake.client(retry=cp.RetryPolicy(max_attempts=4, sleep=sleeps)) as client:
        with pytest.raises(cp.ServerError) as info:
            await client.studies.get(STUDY)
    assert info.value.attempts == 4 and "after 4 attempts" in str(info.value)
    assert len(sleeps.waits) == 3
    # full jitter: each wait lies between 0 and the exponential ceiling
    assert all(0 <= w <= 0.5 * 2**i for i, w in enumerate(sleeps.waits))


async def test_retry_after_is_honoured(fake: FakeCentrePoint, sleeps: Sleeps) -> None:
    """A 429's Retry-After replaces the backoff."""
    fake.inject("status", status=429, retry_after=7, count=1)
    async with fake.client(retry=cp.RetryPolicy(sleep=sleeps), rate_limit=None) as client:
        await client.studies.get(STUDY)
    assert sleeps.waits == [7.0]


async def test_timeout_becomes_transport_error_after_retries() -> None:
    """An answer slower than timeout is retried, then raised as RequestTimeoutError."""
    async with FakeCentrePoint() as fake:
        fake.inject("slow", delay=0.5, count=10, path="/Studies/")
        async with fake.client(timeout=0.1, retry=fast_retry(max_attempts=2)) as client:
            with pytest.raises(cp.RequestTimeoutError) as info:
                await client.studies.get(STUDY)
    assert info.value.attempts == 2 and isinstance(info.value, cp.TransportError)
    assert "TimeoutError" in str(info.value)


async def test_slow_answer_within_retries_succeeds() -> None:
    """One answer past the timeout, then a normal one: the call succeeds."""
    async with FakeCentrePoint() as fake:
        fake.inject("slow", delay=0.5, path="/Studies/")
        async with fake.client(timeout=0.2, retry=fast_retry()) as client:
            assert (await client.studies.get(STUDY)).id == STUDY


async def test_connection_refused_is_transport_error() -> None:
    """Nothing listening: a ConnectError (a TransportError) once retries are spent."""
    async with FakeCentrePoint() as fake:
        url = fake.url
    client = cp.CentrePointClient(
        "id", "secret", base_url=url, auth_url=url, retry=fast_retry(max_attempts=2)
    )
    async with client:
        with pytest.raises(cp.ConnectError) as caught:
            await client.studies.get(STUDY)
    assert isinstance(caught.value, cp.TransportError) and caught.value.attempts == 2


async def test_cancellation_is_not_retried(fake: FakeCentrePoint, sleeps: Sleeps) -> None:
    """Cancelling a call cancels it: no retry, no sleep."""
    fake.inject("slow", delay=5, path="/Studies/")
    async with fake.client(retry=cp.RetryPolicy(sleep=sleeps)) as client:
        task = asyncio.create_task(client.studies.get(STUDY))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sleeps.waits == []
    assert len(fake.api_requests()) == 0  # the slow one never answered


async def test_caller_session_is_used_and_not_closed(fake: FakeCentrePoint) -> None:
    """A session given by the caller is used as is and left open."""
    async with aiohttp.ClientSession() as session:
        async with fake.client(session=session) as client:
            await client.studies.get(STUDY)
        assert not session.closed
        async with session.get(f"{fake.url}/centrepoint/v3/Studies") as response:
            assert response.status == 401


async def test_own_session_closed_and_client_unusable_after_close(fake: FakeCentrePoint) -> None:
    """close() closes the client's own session (its connections end); later calls fail clearly."""
    client = fake.client()
    await client.studies.get(STUDY)
    assert fake.concurrency == 0
    await client.close()
    await client.close()
    with pytest.raises(cp.ConfigurationError, match="closed"):
        await client.studies.get(STUDY)
    # a session left open would warn "Unclosed client session" when collected: the suite runs
    # with warnings as errors, and nothing may remain of it
    del client
    gc.collect()


def test_configuration_errors() -> None:
    """Missing credentials, both kinds, bad timeouts and plain http elsewhere are refused."""
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient()
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient("id", "secret", token="t")
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient("id", "secret", timeout=0)
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient("id", "secret", base_url="http://api.actigraphcorp.com")
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient("id", "secret", retry="yes")  # type: ignore[arg-type]
    with pytest.raises(cp.ConfigurationError):
        cp.RetryPolicy(max_attempts=0)
    with pytest.raises(cp.ConfigurationError):
        cp.RateLimit(0)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(cp.ConfigurationError):
            cp.CentrePointClient("id", "secret", max_response_size=bad)  # type: ignore[arg-type]
        with pytest.raises(cp.ConfigurationError):
            cp.CentrePointClient("id", "secret", max_connections=bad)  # type: ignore[arg-type]


def test_each_client_gets_its_own_default_retry_policy_and_rate_limit() -> None:
    """Default policies are made per client: no random generator or limiter shared by accident."""
    first, second = cp.CentrePointClient("id", "secret"), cp.CentrePointClient("id", "secret")
    assert first.retry is not None and second.retry is not None
    assert first.retry == second.retry and first.retry.rng is not second.retry.rng
    assert first.rate_limit is not second.rate_limit


def test_repr_shows_neither_client_id_nor_secret_and_client_id_is_not_public() -> None:
    """repr(client) names the URL and the kind of auth only; client_id is no attribute."""
    client = cp.CentrePointClient("the-client-id", "the-secret-value")
    assert "the-client-id" not in repr(client) and "the-secret-value" not in repr(client)
    assert not hasattr(client, "client_id")


async def test_requests_sent_to_the_real_hosts_by_default() -> None:
    """Default URLs: token from auth.actigraphcorp.com (form-encoded, the call's scope), API
    calls with the bearer token (the transport seam sees exactly what would go out)."""

    def answer(request: cp.Request) -> cp.Answer:
        if request.is_token:
            return cp.Answer(200, {}, b'{"access_token": "tok-1", "expires_in": 3600}')
        return cp.Answer(200, {}, b'{"id": 8, "name": "S"}')

    transport = cp.MockTransport(answer)
    async with cp.CentrePointClient(
        "my-id", "my-secret", rate_limit=None, transport=transport
    ) as client:
        study = await client.studies.get(8)
    assert study == cp.Study(id=8, name="S")
    token_call, api_call = transport.requests
    assert token_call.url == "https://auth.actigraphcorp.com/connect/token"
    form = dict(parse_qsl((token_call.data or b"").decode()))
    assert form == {
        "client_id": "my-id",
        "client_secret": "my-secret",
        "grant_type": "client_credentials",
        "scope": "CentrePoint",
    }
    assert api_call.url == "https://api.actigraphcorp.com/centrepoint/v3/Studies/8"
    assert api_call.headers["Authorization"] == "Bearer tok-1"


async def test_no_secret_or_token_in_logs_errors_or_reprs(
    fake: FakeCentrePoint, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, across success, retry and failure, nothing shows the secret or a token."""
    caplog.set_level(logging.DEBUG, logger="centrepoint_async")
    texts: list[str] = []
    async with (
        bearer_recording_session() as (session, sent_tokens),
        fake.client(retry=fast_retry(max_attempts=2), session=session) as client,
    ):
        await client.studies.get(STUDY)
        fake.inject("status", status=503, count=1)
        fake.inject("drop", count=1)
        await client.studies.list().collect()
        fake.expire_tokens()
        fake.inject("status", status=500, count=5)
        try:
            await client.studies.get(STUDY)
        except cp.CentrePointError as exc:
            texts += [str(exc), repr(exc)]
        texts += [repr(client), repr(client.studies.list())]
    tokens = sent_tokens.copy()
    bad = cp.CentrePointClient(
        fake.client_id, "the-wrong-secret", base_url=fake.url, auth_url=fake.url
    )
    async with bad:
        try:
            await bad.studies.get(STUDY)
        except cp.CentrePointError as exc:
            texts += [str(exc), repr(exc)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in t for t in texts) and tokens  # the tokens really sent
    for text in texts:
        for secret in (fake.client_secret, *tokens, "the-wrong-secret", fake.client_id):
            assert secret not in text, text
    assert re.search(r"Bearer \S", "\n".join(texts)) is None


async def test_an_answer_of_the_wrong_shape_is_a_decode_error() -> None:
    """A study answered with a JSON list (not an object) raises DecodeError, nothing else."""
    transport = cp.MockTransport(lambda request: cp.Answer(200, {}, b"[1, 2]"))
    async with cp.CentrePointClient(
        token="t", rate_limit=None, retry=None, transport=transport
    ) as client:
        with pytest.raises(cp.DecodeError, match="Study"):
            await client.studies.get(8)


async def test_webhooks_get_and_list_and_events(fake: FakeCentrePoint) -> None:
    """webhooks.get/list and webhook_events.list return typed models of what is served."""
    async with fake.client() as client:
        hook = await client.webhooks.get(STUDY, 1000)
        hooks = await client.webhooks.list(STUDY).collect()
        events = await client.webhook_events.list().collect()
        with pytest.raises(cp.NotFoundError):
            await client.webhooks.get(STUDY, 4242)
    served = fake.dataset.webhooks[STUDY][0]
    assert hook == hooks[0]
    assert hook.id == served["id"] and hook.url == served["url"]
    assert [e.name for e in hook.webhook_events] == [e["name"] for e in served["webhookEvents"]]
    assert [e.id for e in events] == [3, 4, 5, 6, 7]
