"""One suite, three real servers on loopback: aiohttp (``receiver.mount``), FastAPI
(``app.mount(path, receiver.asgi())``) and Starlette (``Route(path, receiver.asgi())``) under
uvicorn. Plus SIGTERM: ``web.run_app`` and uvicorn stop promptly with a handler hanging."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
import textwrap
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route
from yarl import URL

import centrepoint_async as cp
from centrepoint_async.receiver import (
    InboundEvent,
    SQLiteInbox,
    StoredDelivery,
    WebhookReceiver,
    sign,
)

from .helpers_receiver import (
    SAMPLES,
    UPLOAD,
    basic,
    bearer,
    delivery_headers,
    nothing,
    running,
    serve_asgi,
)

Serve = Callable[[WebhookReceiver], Awaitable[str]]  # starts a server, returns the hook URL


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


@contextlib.asynccontextmanager
async def _fastapi(receiver: WebhookReceiver) -> AsyncIterator[str]:
    app = FastAPI(lifespan=receiver.lifespan)  # a mounted ASGI app gets no lifespan of its own
    app.mount("/hooks", receiver.asgi())
    async with serve_asgi(app) as port:
        yield f"http://127.0.0.1:{port}/hooks/"  # a Starlette mount serves below its path


@contextlib.asynccontextmanager
async def _starlette(receiver: WebhookReceiver) -> AsyncIterator[str]:
    routes = [Route("/hooks", receiver.asgi(), methods=["POST"])]
    app = Starlette(routes=routes, lifespan=receiver.lifespan)
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
    return (await raw_exchange(url, header_lines, body))[0]


async def raw_exchange(url: str, header_lines: bytes, body: bytes = UPLOAD) -> tuple[int, bytes]:
    """POST with header bytes exactly as given; the answer's status and body."""
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
    answer = await asyncio.wait_for(reader.read(), 30)  # Connection: close: read to the end
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), content


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


async def test_headers_that_are_not_utf8_get_400_alike_and_store_nothing(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery id or event name with bytes that are not UTF-8: every adapter answers 400
    with the same body (CentrePoint does not resend a 4xx), logs no traceback, stores nothing."""
    receiver = WebhookReceiver(bearer_token="t", inbox=SQLiteInbox(tmp_path / "i.db"))
    receiver.on()(nothing)
    url = await serve(receiver)
    auth = b"Authorization: Bearer t\r\n"
    answers = []
    with caplog.at_level(logging.DEBUG, logger="centrepoint_async"):
        for bad in (
            b"X-ActiGraph-Event: upload\r\nX-ActiGraph-Delivery: d-\xff\xfe\r\n",
            b"X-ActiGraph-Event: up\xc3\x28load\r\nX-ActiGraph-Delivery: d-2\r\n",
        ):
            answers.append(await raw_exchange(url, auth + bad))
    reason = b"X-ActiGraph-Event or X-ActiGraph-Delivery is not valid UTF-8"
    assert answers == [(400, reason)] * 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert await receiver.dead_letters() == []
    with contextlib.closing(sqlite3.connect(tmp_path / "i.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM deliveries").fetchone() == (0,)


async def _left_over(path: Path, delivery_id: str) -> None:
    """A delivery stored (and never handled) by an earlier run of the app."""
    earlier = SQLiteInbox(path)
    await earlier.open()
    await earlier.add(StoredDelivery(delivery_id, "upload", 15, UPLOAD))
    await earlier.close()


def _mounted_fastapi(receiver: WebhookReceiver) -> Any:
    app = FastAPI(lifespan=receiver.lifespan)
    app.mount("/hooks", receiver.asgi())
    return app


def _mounted_starlette(receiver: WebhookReceiver) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None, None]:
        async with receiver.lifespan(app):  # the user's own lifespan, composed
            yield

    return Starlette(routes=[Route("/hooks/", receiver.asgi())], lifespan=lifespan)


@pytest.mark.parametrize(
    ("make_app", "path"),
    [(lambda r: r.asgi(), "/"), (_mounted_fastapi, "/hooks/"), (_mounted_starlette, "/hooks/")],
    ids=["asgi-alone", "fastapi-lifespan", "starlette-own-lifespan"],
)
async def test_the_lifespan_starts_and_closes_the_receiver(
    make_app: Callable[[WebhookReceiver], Any], path: str, tmp_path: Path
) -> None:
    """Served by uvicorn (alone, or mounted with lifespan=receiver.lifespan): start-up resumes
    a delivery stored by an earlier run before any request arrives; shutdown closes it."""
    await _left_over(tmp_path / "inbox.db", "left-over")
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(bearer_token="t", inbox=inbox, poll_interval=0.05)
    resumed = asyncio.Event()

    @receiver.on("upload")
    async def handler(event: InboundEvent) -> None:
        if event.delivery_id == "left-over":
            resumed.set()

    async with serve_asgi(make_app(receiver)) as port:
        await asyncio.wait_for(resumed.wait(), 30)
        assert (await post(f"http://127.0.0.1:{port}{path}", bearer("new")))[:2] == (202, b"stored")
    assert (await receiver.process("POST", bearer("late"), UPLOAD)).body == b"shutting down"


async def test_a_receiver_that_cannot_start_fails_aiohttp_s_start(tmp_path: Path) -> None:
    """receiver.mount(app): an inbox that cannot open (its file already open elsewhere) fails
    the app's start-up with the reason, instead of an app answering 503 to every delivery."""
    holder = SQLiteInbox(tmp_path / "inbox.db")
    await holder.open()
    receiver = WebhookReceiver(bearer_token="t", inbox=SQLiteInbox(tmp_path / "inbox.db"))
    app = web.Application()
    receiver.mount(app, "/hooks")
    runner = web.AppRunner(app)
    try:
        with pytest.raises(cp.ConfigurationError, match="already open"):
            await runner.setup()
    finally:
        await runner.cleanup()
        await holder.close()


# --- uvicorn in a process of its own: start-up failure, kill -9, shutdown ----------------------

UVICORN_APP = textwrap.dedent(
    """
    import asyncio, socket, sys
    from pathlib import Path
    import uvicorn
    from fastapi import FastAPI
    from centrepoint_async.receiver import SQLiteInbox, WebhookReceiver

    db, marks, mode, kind = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    receiver = WebhookReceiver(
        bearer_token="t", inbox=SQLiteInbox(db), poll_interval=0.05, close_timeout=0.5
    )

    @receiver.on("upload")
    async def handler(event):
        with marks.open("a") as f:
            f.write(f"start {event.delivery_id}\\n")
        if mode == "hang" or event.delivery_id.startswith("stuck"):
            await asyncio.Event().wait()
        with marks.open("a") as f:
            f.write(f"done {event.delivery_id}\\n")

    if kind == "fastapi":
        app = FastAPI(lifespan=receiver.lifespan)
        app.mount("/hooks", receiver.asgi())
    else:
        app = receiver.asgi()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    """
)


@contextlib.asynccontextmanager
async def uvicorn_app(
    tmp_path: Path, mode: str, kind: str = "fastapi"
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """The app above in a process of its own, on ``tmp_path/inbox.db``; yields it and its URL."""
    script = tmp_path / "app.py"
    script.write_text(UVICORN_APP)
    args = [str(tmp_path / "inbox.db"), str(tmp_path / "marks.txt"), mode, kind]
    async with running(str(script), *args, stderr=PIPE) as process:
        assert process.stdout is not None
        port = int(await asyncio.wait_for(process.stdout.readline(), 60))
        yield process, f"http://127.0.0.1:{port}{'/hooks/' if kind == 'fastapi' else '/'}"


def marks(tmp_path: Path) -> list[str]:
    """The lines the app's handler wrote: ``start ID`` and ``done ID``."""
    path = tmp_path / "marks.txt"
    return path.read_text().splitlines() if path.exists() else []


async def until_marked(tmp_path: Path, mark: str, timeout: float = 30) -> None:
    """Wait until the app's handler wrote ``mark``."""
    deadline = time.monotonic() + timeout
    while mark not in marks(tmp_path):
        assert time.monotonic() < deadline, f"{mark!r} never written: {marks(tmp_path)}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["fastapi", "asgi"])
async def test_uvicorn_refuses_to_start_when_the_receiver_cannot(kind: str, tmp_path: Path) -> None:
    """uvicorn with FastAPI(lifespan=receiver.lifespan), or receiver.asgi() alone, whose inbox
    cannot open: the server exits 3 naming the reason, and never listens."""
    holder = SQLiteInbox(tmp_path / "inbox.db")  # another process would do the same
    await holder.open()
    try:
        async with uvicorn_app(tmp_path, "finish", kind) as (process, _):
            _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 3, err.decode()
        assert b"already open" in err
    finally:
        await holder.close()


async def test_uvicorn_kill_9_then_restart_handles_the_stored_delivery(tmp_path: Path) -> None:
    """FastAPI(lifespan=receiver.lifespan) under uvicorn: a delivery stored (202) and then the
    process killed mid-handler is handled after a restart with no new delivery arriving; on
    SIGTERM the lifespan closes the receiver, which hands its running delivery back."""
    async with uvicorn_app(tmp_path, "hang") as (process, url):
        assert (await post(url, bearer("k-1")))[:2] == (202, b"stored")
        await until_marked(tmp_path, "start k-1")
        process.send_signal(signal.SIGKILL)
        await process.wait()
    async with uvicorn_app(tmp_path, "finish") as (process, url):
        await until_marked(tmp_path, "done k-1")  # nothing was posted to this run
        assert (await post(url, bearer("stuck-1")))[:2] == (202, b"stored")
        await until_marked(tmp_path, "start stuck-1")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) in (0, -signal.SIGTERM)
    with contextlib.closing(sqlite3.connect(tmp_path / "inbox.db")) as db:
        rows = db.execute("SELECT delivery_id, state, owner FROM deliveries ORDER BY 1")
        # close() released the lease: pending again at once, for the next start
        assert rows.fetchall() == [("k-1", "done", None), ("stuck-1", "pending", None)]
    assert not (tmp_path / "inbox.db.lock").exists()  # the inbox was closed too
    assert marks(tmp_path).count("done k-1") == 1


# --- SIGTERM ----------------------------------------------------------------------------------

APP = textwrap.dedent(
    """
    import asyncio, socket, sys
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

        app = FastAPI(lifespan=receiver.lifespan)
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
