"""``centrepoint-async fake-server``: a fake in a process of its own, and the signed webhooks
it sends to a receiver under test (``--send-webhooks-to``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

import centrepoint_async as cp
from centrepoint_async.cli._fake_server import TRIGGERS
from centrepoint_async.receiver import InboundEvent, WebhookReceiver
from centrepoint_async.testing import fake_server_process, serve_app
from centrepoint_async.testing._sender import TRIGGERS as SENDABLE

from .cli_support import env_for, run, spawn


async def test_fake_server_command_prints_credentials() -> None:
    """fake-server prints its URL and credentials (as export lines) and serves them."""
    async with fake_server_process("--size", "tiny", "--client-secret", "s3") as server:
        assert set(server.env) == {
            "CENTREPOINT_BASE_URL",
            "CENTREPOINT_AUTH_URL",
            "CENTREPOINT_CLIENT_ID",
            "CENTREPOINT_CLIENT_SECRET",
        }
        assert server.client_secret == "s3"
        async with server.client() as client:
            assert len(await client.studies.list().collect()) == 2


async def test_fake_server_process_reports_a_server_that_did_not_start() -> None:
    """A fake-server that exits (bad arguments) is a clear error, not a hang."""
    with pytest.raises(RuntimeError, match="exited before printing its address"):
        async with fake_server_process("--size", "enormous"):
            pass


class Received:
    """A receiver under test, on loopback: the events it accepted, by name."""

    def __init__(self, secret: str) -> None:
        self.receiver = WebhookReceiver(secret=secret)
        self.events: asyncio.Queue[InboundEvent[cp.Event]] = asyncio.Queue()
        self.receiver.on(cp.UploadEvent)(self.events.put)
        self.receiver.on(cp.RawProcessingCompleteEvent)(self.events.put)
        self.receiver.on(cp.DataRetrievalCompleteEvent)(self.events.put)

    async def next(self) -> InboundEvent[cp.Event]:
        return await asyncio.wait_for(self.events.get(), 30)


@pytest.fixture
async def received() -> AsyncIterator[tuple[Received, str]]:
    """A receiver checking HMAC signatures with "test-secret", and its URL."""
    target = Received("test-secret")
    app = web.Application()
    target.receiver.mount(app, "/centrepoint/webhooks")
    async with serve_app(app) as url:
        yield target, f"{url}/centrepoint/webhooks"


async def test_fake_server_triggers_signed_webhooks(
    received: tuple[Received, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--send-webhooks-to with the secret from CENTREPOINT_WEBHOOK_SECRET: each --trigger
    arrives signed and typed, and a data retrieval request made to the fake is announced."""
    target, url = received
    monkeypatch.setenv("CENTREPOINT_WEBHOOK_SECRET", "test-secret")
    args = (
        "--send-webhooks-to",
        url,
        "--trigger",
        "upload",
        "--trigger",
        "raw_processing_complete",
    )
    async with fake_server_process("--size", "tiny", *args) as server:
        assert isinstance((await target.next()).payload, cp.UploadEvent)
        assert isinstance((await target.next()).payload, cp.RawProcessingCompleteEvent)
        scopes = ("CentrePoint", "DataRetrieval")
        async with server.client(scopes=scopes) as client:
            end = datetime.now(UTC)
            request = await client.data_retrieval.request_raw(100, 100001, end - timedelta(1), end)
            event = await target.next()
    assert isinstance(event.payload, cp.DataRetrievalCompleteEvent)
    assert event.payload.tracking_id == request.id


async def test_webhooks_signed_with_another_secret_are_refused(
    received: tuple[Received, str],
) -> None:
    """The signature is real: a receiver with another secret refuses the trigger (401)."""
    _, url = received
    args = ("--send-webhooks-to", url, "--webhook-secret", "not-the-secret", "--trigger", "upload")
    process = await spawn("fake-server", "--size", "tiny", *args, env=env_for(None))
    try:
        assert process.stdout is not None
        while not (line := await asyncio.wait_for(process.stdout.readline(), 30)).startswith(
            b"sent "
        ):
            assert line, "fake-server exited"
    finally:
        process.terminate()
        await process.wait()
    assert line.decode().startswith("sent upload (delivery ")
    assert line.decode().endswith("): answered 401\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--send-webhooks-to", "http://127.0.0.1:9/x"), "needs --webhook-secret or"),
        (("--trigger", "upload"), "--trigger needs --send-webhooks-to"),
        (("--send-webhooks-to", "ftp://example.org"), "expected an http:// or https:// URL"),
        (("--trigger", "sleep"), "invalid choice: 'sleep'"),
        (("--port", "70000"), "--port must be"),
        (("--latency", "-1"), "--latency must be"),
    ],
)
async def test_webhook_options_are_checked_before_it_serves(
    args: tuple[str, ...], message: str
) -> None:
    """Without a secret, a trigger without a target, a bad URL or number: exit 2, one line."""
    code, out, err = await run("fake-server", *args, env=env_for(None), timeout=30)
    assert code == 2 and message in err and out == ""


def test_every_event_the_fake_can_send_can_be_triggered() -> None:
    """--trigger offers exactly the events the fake can make a payload for."""
    assert sorted(TRIGGERS) == sorted(SENDABLE)
