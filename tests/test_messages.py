"""Errors a person can act on, and secrets kept out of them whatever their spelling."""

from __future__ import annotations

import json
import random

import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint, set_testing

SECRET = "s3cr3t+/value==with/slash"  # characters .NET escapes in JSON: + and /


def echoing_token_endpoint(body: bytes, status: int = 500) -> cp.MockTransport:
    """A token endpoint that answers ``status`` with ``body`` (an echo of what it was sent)."""

    def answer(request: cp.Request) -> cp.Answer:
        return cp.Answer(status, {"Content-Type": "application/json"}, body)

    return cp.MockTransport(answer)


@pytest.mark.parametrize(
    "spelling",
    [
        SECRET,
        json.dumps(SECRET)[1:-1],  # plain JSON
        SECRET.replace("+", "\\u002B").replace("/", "\\/"),  # .NET: \u002B and \/
        SECRET.replace("+", "\\u002b").replace("=", "\\u003D"),  # lower- and upper-case hex
        "".join(f"\\u{ord(c):04x}" for c in SECRET),  # every character escaped
    ],
)
async def test_a_secret_echoed_json_escaped_is_redacted(spelling: str) -> None:
    """A token endpoint echoing the secret in any JSON escaping: the error body shows ***."""
    body = f'{{"error": "server_error", "echo": "{spelling}"}}'.encode()
    client = cp.CentrePointClient(
        "client-id", SECRET, transport=echoing_token_endpoint(body), retry=None, rate_limit=None
    )
    async with client:
        with pytest.raises(cp.ServerError) as caught:
            await client.studies.get(1)
    shown = f"{caught.value} {caught.value.body} {caught.value!r}"
    assert SECRET not in shown and spelling not in shown
    assert "***" in caught.value.body


async def test_invalid_client_says_to_check_the_credentials() -> None:
    """The token endpoint's invalid_client names what to check: the id and the secret."""
    transport = echoing_token_endpoint(b'{"error": "invalid_client"}', status=400)
    async with cp.CentrePointClient(
        "client-id", "wrong-secret", transport=transport, retry=None
    ) as client:
        with pytest.raises(cp.AuthenticationError) as caught:
            await client.studies.get(1)
    assert "invalid_client" in str(caught.value)
    assert "check the client id and secret" in str(caught.value)
    assert "CENTREPOINT_CLIENT_SECRET" in str(caught.value)


def test_from_env_names_what_it_read_and_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing credential: the variables read and those not set, in one message."""
    for name in ("CLIENT_ID", "CLIENT_SECRET", "BASE_URL", "AUTH_URL"):
        monkeypatch.delenv(f"CENTREPOINT_{name}", raising=False)
    monkeypatch.setenv("CENTREPOINT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CENTREPOINT_CLIENT_ID", "someone")
    with pytest.raises(cp.ConfigurationError) as caught:
        cp.CentrePointClient.from_env()
    text = str(caught.value)
    assert "read CENTREPOINT_CLIENT_ID, CENTREPOINT_BASE_URL" in text
    assert "CENTREPOINT_CLIENT_SECRET not set" in text


async def test_a_client_pointed_elsewhere_names_the_auth_host_it_uses() -> None:
    """base_url set, auth_url left at its default: a token request that fails says where it
    went and how to point it elsewhere."""
    async with FakeCentrePoint() as fake:
        url = fake.url
    # the fake is gone: the base URL refuses connections; the default auth host is not reached
    # (no network here), so the token request fails to connect
    async with cp.CentrePointClient(
        "client-id", "client-secret", base_url=url, retry=None, rate_limit=None, timeout=2
    ) as client:
        with pytest.raises(cp.TransportError) as caught:
            await client.studies.get(1)
    assert "https://auth.actigraphcorp.com" in str(caught.value)
    assert "CENTREPOINT_AUTH_URL" in str(caught.value)


async def test_set_testing_makes_every_wait_zero_but_keeps_the_retries() -> None:
    """Under set_testing(): a 503 with Retry-After 30 s and a backoff are retried at once,
    and the retries still happen."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = cp.RetryPolicy(sleep=record, rng=random.Random(3))
    async with FakeCentrePoint(rate_limit=None) as fake:
        fake.inject("status", status=503, retry_after=30, count=1)
        fake.inject("status", status=500, count=1)
        set_testing(True)
        try:
            limit = cp.RateLimit(500, 60.0)  # a 503's Retry-After pauses it: not under testing
            async with fake.client(retry=policy, rate_limit=limit) as client:
                await client.studies.get(100)
                assert limit.paused_for == 0
        finally:
            set_testing(False)
        assert waits == [0.0, 0.0]
        assert client.stats.retries == 2
