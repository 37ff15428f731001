"""WebhookReceiver on a real loopback aiohttp app: handshake, auth, duplicates, handlers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async.receiver import (
    InboundEvent,
    MemoryDeliveryStore,
    WebhookReceiver,
    parse_event,
    sign,
    verify_signature,
)

SAMPLES = Path(__file__).parent / "samples" / "events"
SECRET = "whsec-test-1"
UPLOAD = (SAMPLES / "upload_completed.json").read_bytes()


def independent_signature(body: bytes, secret: str) -> str:
    """Computed here with hmac + base64 only, not with the SDK."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def delivery_headers(event: str = "upload", delivery: str = "d-1", **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "ActiGraph-Hookshot/1.0",
        "x-actigraph-webhook-id": "15",
        "x-actigraph-event": event,
        "x-actigraph-delivery": delivery,
        "X-Client-Cert-Used": "false",
        **extra,
    }


Factory = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[Factory]:
    """Start an app with a receiver mounted; returns a TestClient to post to it."""
    clients: list[TestClient[Any, Any]] = []

    async def start(receiver: WebhookReceiver) -> TestClient[Any, Any]:
        app = web.Application()
        receiver.mount(app, "/hooks")
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def test_independent_signature_verifies_and_rotation_works() -> None:
    """A signature computed with hmac + base64 verifies; any of several secrets may match."""
    signature = independent_signature(UPLOAD, SECRET)
    assert sign(UPLOAD, SECRET) == signature
    assert verify_signature(UPLOAD, signature, secret=SECRET)
    assert verify_signature(UPLOAD, signature, secret=["old-secret", SECRET])
    assert not verify_signature(UPLOAD, signature, secret="other")
    assert not verify_signature(UPLOAD + b" ", signature, secret=SECRET)


@pytest.mark.parametrize("signature", [None, "", "not base64!", "AAAA", "é", "=" * 8])
def test_missing_or_malformed_signatures_are_false(signature: str | None) -> None:
    """Missing or malformed signatures are False, never an exception."""
    assert verify_signature(UPLOAD, signature, secret=SECRET) is False


@given(st.binary(max_size=200), st.text(max_size=60), st.text(min_size=1, max_size=20))
def test_verify_signature_never_raises(body: bytes, signature: str, secret: str) -> None:
    """Any body, signature and secret: a bool, no exception; the right one verifies."""
    assert verify_signature(body, signature, secret=secret) in (True, False)
    assert verify_signature(body, sign(body, secret), secret=secret)


@given(
    st.dictionaries(
        st.sampled_from(
            ["X-ActiGraph-Event", "x-actigraph-webhook-id", "X-ACTIGRAPH-DELIVERY", "Other"]
        ),
        st.text(max_size=20),
    ),
    st.binary(max_size=200),
)
def test_parse_event_never_raises(headers: dict[str, str], body: bytes) -> None:
    """Any headers and body parse to an InboundEvent."""
    assert isinstance(parse_event(headers, body), InboundEvent)


def test_parse_event_reads_headers_in_any_case() -> None:
    """Header names in any case; values like '27,' as documented; a typed payload."""
    event = parse_event(
        {
            "x-ActiGraph-Webhook-id": "27,",
            "X-ACTIGRAPH-EVENT": "upload",
            "x-actigraph-delivery": "abc",
        },
        UPLOAD,
    )
    assert event.name == "upload" and event.webhook_id == 27 and event.delivery_id == "abc"
    assert isinstance(event.payload, cp.UploadEvent) and event.payload.upload_id == 85045


async def test_validation_handshake_echoes_the_secret(serve: Factory) -> None:
    """The handshake gets 200 with X-ActiGraph-Hook-Secret echoed back."""
    client = await serve(WebhookReceiver(secret=SECRET))
    body = (SAMPLES / "validation.json").read_bytes()
    headers = delivery_headers("validation", **{"X-ActiGraph-Hook-Secret": "code-123"})
    response = await client.post("/hooks", data=body, headers=headers)
    assert response.status == 200
    assert response.headers["X-ActiGraph-Hook-Secret"] == "code-123"


async def test_signed_delivery_is_dispatched_typed(serve: Factory) -> None:
    """A correctly signed delivery reaches the handler as a typed event; bad ones get 401."""
    receiver = WebhookReceiver(secret=["rotated-out", SECRET])
    seen: list[InboundEvent] = []
    everything: list[str] = []

    @receiver.on("upload")
    async def on_upload(event: InboundEvent) -> None:
        seen.append(event)

    @receiver.on()
    async def on_any(event: InboundEvent) -> None:
        everything.append(event.name)

    client = await serve(receiver)
    good = delivery_headers(**{"X-ActiGraph-Signature": independent_signature(UPLOAD, SECRET)})
    assert (await client.post("/hooks", data=UPLOAD, headers=good)).status == 200
    assert len(seen) == 1 and isinstance(seen[0].payload, cp.UploadEvent)
    assert seen[0].webhook_id == 15 and everything == ["upload"]
    wrong = delivery_headers(
        "upload", "d-2", **{"X-ActiGraph-Signature": independent_signature(UPLOAD, "nope")}
    )
    assert (await client.post("/hooks", data=UPLOAD, headers=wrong)).status == 401
    missing = delivery_headers("upload", "d-3")
    assert (await client.post("/hooks", data=UPLOAD, headers=missing)).status == 401
    assert len(seen) == 1


async def test_basic_and_bearer_credentials(serve: Factory) -> None:
    """Basic and Bearer credentials are checked; wrong or missing ones get 401."""
    app = await serve(WebhookReceiver(basic_auth=("centre", "p@ss:word")))
    good = delivery_headers(Authorization=basic("centre", "p@ss:word"))
    assert (await app.post("/hooks", data=UPLOAD, headers=good)).status == 200
    wrong = delivery_headers("upload", "x", Authorization=basic("centre", "no"))
    assert (await app.post("/hooks", data=UPLOAD, headers=wrong)).status == 401
    missing = delivery_headers("upload", "y")
    assert (await app.post("/hooks", data=UPLOAD, headers=missing)).status == 401
    bearer = await serve(WebhookReceiver(bearer_token="tok-9"))
    good = delivery_headers(Authorization="Bearer tok-9")
    assert (await bearer.post("/hooks", data=UPLOAD, headers=good)).status == 200
    wrong = delivery_headers("upload", "z", Authorization="Bearer tok-8")
    assert (await bearer.post("/hooks", data=UPLOAD, headers=wrong)).status == 401


async def test_repeated_delivery_is_dropped(serve: Factory) -> None:
    """The same X-ActiGraph-Delivery id twice: handled once, both answered 200."""
    receiver = WebhookReceiver(bearer_token="t")
    calls: list[str | None] = []

    @receiver.on("upload")
    async def handler(event: InboundEvent) -> None:
        calls.append(event.delivery_id)

    client = await serve(receiver)
    headers = delivery_headers(Authorization="Bearer t")
    first = await client.post("/hooks", data=UPLOAD, headers=headers)
    second = await client.post("/hooks", data=UPLOAD, headers=headers)
    assert (first.status, second.status) == (200, 200)
    assert await second.text() == "duplicate" and calls == ["d-1"]


async def test_delivery_store_is_bounded() -> None:
    """The in-memory store forgets the oldest ids past its size."""
    store = MemoryDeliveryStore(max_size=3)
    for i in range(5):
        assert await store.claim(str(i))
    assert len(store) == 3 and await store.claim("0") and not await store.claim("4")


async def test_oversized_and_non_json_bodies(serve: Factory) -> None:
    """Bodies over the cap get 413 (declared or streamed); bodies that are not JSON get 400."""
    client = await serve(WebhookReceiver(bearer_token="t", max_body_size=1000))
    auth = delivery_headers(Authorization="Bearer t")
    assert (await client.post("/hooks", data=b"{" + b" " * 5000 + b"}", headers=auth)).status == 413

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 500

    assert (await client.post("/hooks", data=stream(), headers=auth)).status == 413
    assert (await client.post("/hooks", data=b"<html>", headers=auth)).status == 400
    unauth = await client.post("/hooks", data=b"{" + b" " * 5000 + b"}", headers=delivery_headers())
    assert unauth.status == 401  # credentials are checked before the body is read


async def test_unknown_event_reaches_catch_all(serve: Factory) -> None:
    """An event name we do not know is delivered as UnknownEvent to the catch-all."""
    receiver = WebhookReceiver(bearer_token="t")
    got: list[Any] = []

    @receiver.on()
    async def anything(event: InboundEvent) -> None:
        got.append(event.payload)

    client = await serve(receiver)
    body = orjson.dumps({"score": 3})
    headers = delivery_headers("sleep_score_complete", Authorization="Bearer t")
    assert (await client.post("/hooks", data=body, headers=headers)).status == 200
    assert got == [cp.UnknownEvent("sleep_score_complete", {"score": 3})]


async def test_slow_handler_gets_202_and_finishes_in_background(serve: Factory) -> None:
    """A handler past handler_timeout: the delivery gets 202 quickly; the work still finishes."""
    receiver = WebhookReceiver(bearer_token="t", handler_timeout=0.05)
    done = asyncio.Event()

    @receiver.on("upload")
    async def slow(event: InboundEvent) -> None:
        await asyncio.sleep(0.3)
        done.set()

    client = await serve(receiver)
    response = await client.post(
        "/hooks", data=UPLOAD, headers=delivery_headers(Authorization="Bearer t")
    )
    assert response.status == 202 and not done.is_set()
    await asyncio.wait_for(done.wait(), 2)
    await receiver.close()


async def test_failing_handler_gets_500_and_resend_is_handled(
    serve: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler's exception is a logged 500; the app lives and the resend is handled."""
    receiver = WebhookReceiver(bearer_token="t")
    attempts: list[int] = []

    @receiver.on("upload")
    async def flaky(event: InboundEvent) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database down")

    client = await serve(receiver)
    headers = delivery_headers(Authorization="Bearer t")
    with caplog.at_level(logging.ERROR, logger="centrepoint_async.receiver"):
        assert (await client.post("/hooks", data=UPLOAD, headers=headers)).status == 500
    assert "database down" in caplog.text
    assert (await client.post("/hooks", data=UPLOAD, headers=headers)).status == 200
    assert len(attempts) == 2


def test_checks_for_other_frameworks_raise_signature_error() -> None:
    """check_credentials/check_signature raise SignatureError, for non-aiohttp backends."""
    receiver = WebhookReceiver(secret=SECRET, bearer_token="t")
    good = {"authorization": "Bearer t", "x-actigraph-signature": sign(UPLOAD, SECRET)}
    receiver.check_credentials(good)
    receiver.check_signature(good, UPLOAD)
    with pytest.raises(cp.SignatureError, match="Bearer"):
        receiver.check_credentials({"Authorization": "Bearer nope"})
    with pytest.raises(cp.SignatureError, match="missing"):
        receiver.check_signature({}, UPLOAD)
    with pytest.raises(cp.SignatureError, match="does not match"):
        receiver.check_signature(good, UPLOAD + b"tampered")


async def test_without_credentials_everything_is_accepted_with_a_warning(
    serve: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """No credentials configured: a warning at construction, and deliveries are accepted."""
    with caplog.at_level(logging.WARNING, logger="centrepoint_async.receiver"):
        receiver = WebhookReceiver()
    assert "no credentials" in caplog.text
    client = await serve(receiver)
    assert (await client.post("/hooks", data=UPLOAD, headers=delivery_headers())).status == 200


def test_repr_names_the_methods_not_the_secrets() -> None:
    """The receiver's repr says which checks it makes, never the secrets."""
    receiver = WebhookReceiver(secret="s3cr3t-value", bearer_token="tok-value")
    assert repr(receiver) == "WebhookReceiver(auth=['hmac', 'bearer'], handlers=[])"
