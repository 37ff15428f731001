"""One suite, three real servers on loopback: aiohttp (``receiver.mount``), FastAPI
(``app.mount(path, receiver.asgi())``) and Starlette (``Route(path, receiver.asgi())``) under
uvicorn. Plus SIGTERM: ``web.run_app`` and uvicorn stop promptly with a handler hanging."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route
from yarl import URL

from centrepoint_async.receiver import (
    InboundEvent,
    SQLiteInbox,
    StoredDelivery,
    WebhookReceiver,
    sign,
)

from .test_receiver import SAMPLES, UPLOAD, basic, bearer, delivery_headers, nothing

Serve = Callable[[WebhookReceiver], Awaitable[str]]  # starts a server, returns the hook URL


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[int]:
    """Serve an ASGI app with a real uvicorn on a loopback port (yielded), lifespan on."""
    sock = _loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # a server that cannot start fails the test
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def _aiohttp(receiver: WebhookReceiver) -> AsyncIterator[str]:
    app = web.Application()
    receiver.mount(app, "/hooks")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    finally:
        await runner.cleanup()


def _closing_with(
    receiver: WebhookReceiver,
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        async with receiver:  # a mounted ASGI app gets no lifespan of its own
            yield

    return lifespan


@contextlib.asynccontextmanager
async def _fastapi(receiver: WebhookReceiver) -> AsyncIterator[str]:
    app = FastAPI(lifespan=_closing_with(receiver))
    app.mount("/hooks", receiver.asgi())
    async with serve_asgi(app) as port:
        yield f"http://127.0.0.1:{port}/hooks/"  # a Starlette mount serves below its path


@contextlib.asynccontextmanager
async def _starlette(receiver: WebhookReceiver) -> AsyncIterator[str]:
    routes = [Route("/hooks", receiver.asgi(), methods=["POST"])]
    app = Starlette(routes=routes, lifespan=_closing_with(receiver))
    async with serve_asgi(app) as port:
        yield f"http://127.0.0.1:{port}/hooks"


SERVERS = {"aiohttp": _aiohttp, "fastapi": _fastapi, "starlette": _starlette}


@pytest.fixture(params=sorted(SERVERS))
async def serve(request: pytest.FixtureRequest) -> AsyncIterator[Serve]:
    """Start a receiver in a real server of each kind; returns the URL to post to."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(receiver: WebhookReceiver) -> str:
            url: str = await stack.enter_async_context(SERVERS[request.param](receiver))
            return url

        yield start


async def post(url: str, headers: dict[str, str], body: Any = UPLOAD) -> tuple[int, bytes, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.read(), response.headers


async def raw_post(url: str, header_lines: bytes, body: bytes = UPLOAD) -> int:
    """POST with header bytes exactly as given (invalid UTF-8 and all); returns the status."""
    parsed = URL(url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    request = (
        f"POST {parsed.raw_path} HTTP/1.1\r\nHost: {parsed.host}\r\n".encode()
        + header_lines
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    writer.write(request)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return int(status_line.split()[1])


async def test_handshake_and_a_signed_delivery(serve: Serve) -> None:
    """The handshake is echoed; a signed delivery runs its typed handler once; bad ones 401."""
    receiver = WebhookReceiver(secret="s1")
    got: list[int | None] = []

    @receiver.on("Upload")
    async def on_upload(event: InboundEvent) -> None:
        got.append(getattr(event.payload, "upload_id", None))

    url = await serve(receiver)
    body = (SAMPLES / "validation.json").read_bytes()
    headers = delivery_headers("validation", **{"X-ActiGraph-Hook-Secret": "code-9"})
    status, _, answer = await post(url, headers, body)
    assert status == 200 and answer["X-ActiGraph-Hook-Secret"] == "code-9"
    signed = delivery_headers(" UPLOAD, ", **{"X-ActiGraph-Signature": sign(UPLOAD, "s1")})
    assert (await post(url, signed))[:2] == (200, b"ok")
    assert (await post(url, signed))[:2] == (200, b"duplicate")
    wrong = delivery_headers("upload", "d-2", **{"X-ActiGraph-Signature": sign(UPLOAD, "no")})
    assert (await post(url, wrong))[0] == 401
    assert got == [85045]


async def test_credentials_and_malformed_headers(serve: Serve) -> None:
    """Basic credentials pass; wrong, missing or non-UTF-8 ones are 401, never 500."""
    receiver = WebhookReceiver(basic_auth=("centre", "p:w"))
    receiver.on()(nothing)
    url = await serve(receiver)
    assert (await post(url, delivery_headers(Authorization=basic("centre", "p:w"))))[0] == 200
    assert (await post(url, delivery_headers("upload", "x", Authorization="Basic !!")))[0] == 401
    for raw in (b"Authorization: Bearer \xff\xfe\r\n", b"Authorization: Basic \xc3\x28\r\n"):
        assert await raw_post(url, raw + b"X-ActiGraph-Event: upload\r\n") == 401


async def test_failure_is_500_and_the_resend_runs(serve: Serve) -> None:
    """A failing handler is not acknowledged; CentrePoint's resend runs it again."""
    receiver = WebhookReceiver(bearer_token="t")
    runs: list[int] = []

    @receiver.on("upload")
    async def flaky(event: InboundEvent) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("down")

    url = await serve(receiver)
    assert (await post(url, bearer()))[0] == 500
    assert (await post(url, bearer()))[0] == 200
    assert len(runs) == 2


async def test_sizes_methods_and_slow_bodies(serve: Serve) -> None:
    """Over the cap: 413 (declared or streamed); a body trickling past body_timeout is cut
    off long before it ends (408 when the answer gets through)."""
    receiver = WebhookReceiver(bearer_token="t", max_body_size=1000, body_timeout=0.5)
    receiver.on()(nothing)
    url = await serve(receiver)
    assert (await post(url, bearer(), b"{" + b" " * 5000 + b"}"))[0] == 413

    async def stream(count: int, delay: float, size: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            await asyncio.sleep(delay)
            yield b" " * size

    assert (await post(url, bearer("s"), stream(10, 0, 500)))[0] == 413
    began = time.monotonic()
    with contextlib.suppress(aiohttp.ClientError):
        status, _, _ = await post(url, bearer("slow"), stream(40, 0.25, 1))  # 10 s of body
        assert status == 408
    assert time.monotonic() - began < 8  # generous: the limit is 0.5 s


async def test_with_an_sqlite_inbox(serve: Serve, tmp_path: Path) -> None:
    """Stored: 202, then the handler runs in the background; a resend gets 200."""
    receiver = WebhookReceiver(bearer_token="t", inbox=SQLiteInbox(tmp_path / "i.db"))
    done = asyncio.Event()

    @receiver.on("upload")
    async def handler(event: InboundEvent) -> None:
        done.set()

    url = await serve(receiver)
    assert (await post(url, bearer()))[:2] == (202, b"stored")
    await asyncio.wait_for(done.wait(), 30)
    assert (await post(url, bearer()))[:2] == (200, b"duplicate")


async def test_asgi_lifespan_starts_and_closes_the_receiver(tmp_path: Path) -> None:
    """receiver.asgi() run by uvicorn itself: startup resumes a pending delivery before any
    request arrives; shutdown closes the receiver (new deliveries would get 503)."""
    path = tmp_path / "inbox.db"
    earlier = SQLiteInbox(path)
    await earlier.open()
    await earlier.add(StoredDelivery("left-over", "upload", 15, UPLOAD))
    await earlier.close()
    receiver = WebhookReceiver(bearer_token="t", inbox=SQLiteInbox(path), poll_interval=0.05)
    resumed = asyncio.Event()

    @receiver.on("upload")
    async def handler(event: InboundEvent) -> None:
        if event.delivery_id == "left-over":
            resumed.set()

    async with serve_asgi(receiver.asgi()) as port:
        await asyncio.wait_for(resumed.wait(), 30)
        url = f"http://127.0.0.1:{port}/"
        assert (await post(url, bearer("new")))[:2] == (202, b"stored")
    assert (await receiver.process("POST", bearer("late"), UPLOAD)).status == 503


# --- SIGTERM ----------------------------------------------------------------------------------

APP = textwrap.dedent(
    """
    import asyncio, contextlib, socket, sys
    from centrepoint_async.receiver import WebhookReceiver

    kind = sys.argv[1]
    receiver = WebhookReceiver(bearer_token="t", handler_timeout=2.0, close_timeout=0.5)

    @receiver.on("upload")
    async def hang(event):
        print("handling", flush=True)
        await asyncio.Event().wait()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    print(sock.getsockname()[1], flush=True)
    if kind == "aiohttp":
        from aiohttp import web
        app = web.Application()
        receiver.mount(app, "/hooks")
        web.run_app(app, sock=sock, print=None)
    else:
        import uvicorn
        from fastapi import FastAPI

        @contextlib.asynccontextmanager
        async def lifespan(app):
            async with receiver:
                yield

        app = FastAPI(lifespan=lifespan)
        app.mount("/hooks", receiver.asgi())
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    """
)


@pytest.mark.parametrize("kind", ["aiohttp", "uvicorn"])
async def test_sigterm_stops_promptly_with_a_handler_hanging(kind: str, tmp_path: Path) -> None:
    """SIGTERM while a handler hangs: the delivery gets 503 (CentrePoint resends it) and the
    process shuts down gracefully within seconds, not after the handler."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), kind, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        port = int(await asyncio.wait_for(process.stdout.readline(), 60))
        path = "/hooks/" if kind == "uvicorn" else "/hooks"
        url = f"http://127.0.0.1:{port}{path}"
        request = asyncio.create_task(post(url, bearer()))
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"handling\n"
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status, _, _ = await asyncio.wait_for(request, 30)
        assert status == 503
        # uvicorn re-raises the signal once it has shut down gracefully
        assert await asyncio.wait_for(process.wait(), 30) in (0, -signal.SIGTERM)
        assert time.monotonic() - began < 15  # generous: handler_timeout is 2 s
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [b"authorization", b"x-actigraph-event", b"x-actigraph-signature",
                 b"x-actigraph-hook-secret", b"content-length", b"x-actigraph-delivery"]
            ),
            st.one_of(st.binary(max_size=30), st.sampled_from([b"Bearer t", b"upload"])),
        ),
        max_size=6,
    ),
    st.lists(st.binary(max_size=200), max_size=3),
)  # fmt: skip
async def test_asgi_adapter_never_answers_500(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> None:
    """Any header bytes (invalid UTF-8 included) and body chunks through receiver.asgi():
    an answer below 500, sent once, with a well-formed start and body."""
    receiver = WebhookReceiver(bearer_token="t", max_body_size=300)
    receiver.on()(nothing)
    app = receiver.asgi()
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks or [b""])
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] < 500
    await receiver.close()
