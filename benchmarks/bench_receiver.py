"""7. Receiver throughput: signed 4 KB deliveries per second, each against a bare handler.

- ``process()``: the framework-free core (handshake, auth, size, HMAC, JSON, dedupe, dispatch to
  a no-op handler) against hand-written code doing the HMAC check, ``orjson.loads`` and the call.
- aiohttp: ``receiver.mount`` (no inbox; then ``SQLiteInbox``, synchronous FULL and NORMAL)
  against a bare aiohttp handler that reads the body and answers 200.
- ASGI: ``receiver.asgi()`` under uvicorn against a bare ASGI app that reads the body.

Servers run in a process of their own; the load is 32 concurrent connections from this one.
Each row gives deliveries/s (wall clock: on a shared machine the client and neighbours weigh in)
and the server's own CPU time per delivery, each as a ratio to the bare handler. Goals: aiohttp
adapter >= 0.75x bare aiohttp; with SQLiteInbox >= 0.4x.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from centrepoint_async.receiver import WebhookReceiver, sign, verify_signature

from ._common import table

SECRET = "bench-secret"
CONNECTIONS = 32
DELIVERIES = 3000  # per measurement, over the network
CORE_DELIVERIES = 20000
ROUNDS = 5
BODY = orjson.dumps(
    {
        "status": "completed",
        "uploadId": "85045",
        "studyId": "189",
        "subjectId": "44732",
        "firstEpochUTC": "2018-03-08T00:20:00Z",
        "notes": "x" * 3900,  # pad to ~4 KB, the size of a daily-statistics event
    }
)
SIGNATURE = sign(BODY, SECRET)
_ids = itertools.count()


def headers(delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-ActiGraph-Event": "upload",
        "X-ActiGraph-Webhook-id": "15",
        "X-ActiGraph-Delivery": delivery_id,
        "X-ActiGraph-Signature": SIGNATURE,
    }


async def _noop(event: Any) -> None:
    return None


def make_receiver(inbox: str | None = None, synchronous: str = "FULL") -> WebhookReceiver:
    from centrepoint_async.receiver import SQLiteInbox

    store = SQLiteInbox(inbox, synchronous=synchronous) if inbox else None  # type: ignore[arg-type]
    receiver = WebhookReceiver(secret=SECRET, inbox=store)
    receiver.on("upload")(_noop)
    return receiver


# --- the core, no framework -------------------------------------------------------------------


async def core_rates() -> tuple[float, float]:
    """Deliveries/s through process(), and through hand-written checks, in one process."""
    receiver = make_receiver()
    all_headers = [headers(f"core-{next(_ids)}") for _ in range(CORE_DELIVERIES)]

    async def bare(hdrs: dict[str, str], body: bytes) -> int:
        if not verify_signature(body, hdrs["X-ActiGraph-Signature"], secret=SECRET):
            return 401
        orjson.loads(body)
        await _noop(body)
        return 200

    started = time.perf_counter()
    for hdrs in all_headers:
        await bare(hdrs, BODY)
    bare_rate = CORE_DELIVERIES / (time.perf_counter() - started)
    started = time.perf_counter()
    for hdrs in all_headers:
        await receiver.process("POST", hdrs, BODY)
    core_rate = CORE_DELIVERIES / (time.perf_counter() - started)
    await receiver.close()
    return core_rate, bare_rate


# --- servers in a process of their own --------------------------------------------------------


def serve(kind: str, inbox: str) -> None:
    """Run one server kind on a loopback port (printed), until killed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    print(sock.getsockname()[1], flush=True)
    if kind.startswith("aiohttp"):
        from aiohttp import web

        app = web.Application()
        if kind == "aiohttp-bare":

            async def bare(request: web.Request) -> web.Response:
                await request.read()
                return web.Response(text="ok")

            app.router.add_post("/hooks", bare)
        else:
            sqlite = kind.startswith("aiohttp-sqlite")
            receiver = make_receiver(inbox if sqlite else None, kind.rpartition("-")[2].upper())
            receiver.mount(app, "/hooks")
        web.run_app(app, sock=sock, print=None, access_log=None)
    else:
        import uvicorn

        async def bare_asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        asgi = bare_asgi if kind == "asgi-bare" else make_receiver().asgi()
        config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])


async def load(port: int, server: psutil.Process) -> tuple[float, float]:
    """Deliveries/s that a server answers 2xx under CONNECTIONS concurrent senders, and the
    server's CPU seconds per delivery (its own cost, whoever else keeps the machine busy)."""
    url = f"http://127.0.0.1:{port}/hooks"
    prefix = f"net-{next(_ids)}-"
    queue = iter(range(DELIVERIES))
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            for i in queue:
                async with session.post(url, data=BODY, headers=headers(f"{prefix}{i}")) as r:
                    await r.read()
                    if r.status >= 300:
                        raise RuntimeError(f"answered {r.status}")

        await sender_warmup(session, url)
        cpu = sum(server.cpu_times()[:2])
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
        return DELIVERIES / elapsed, (sum(server.cpu_times()[:2]) - cpu) / DELIVERIES


async def sender_warmup(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.post(url, data=BODY, headers=headers(f"w-{next(_ids)}")) as r:
                await r.read()
                return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)


async def served_rate(kind: str, directory: Path) -> tuple[float, float]:
    inbox = str(directory / f"{kind}-{next(_ids)}.db")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_receiver", "serve", kind, inbox,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        port = int(await asyncio.wait_for(process.stdout.readline(), 60))
        return await load(port, psutil.Process(process.pid))
    finally:
        process.terminate()
        await process.wait()


KINDS = [
    "aiohttp-bare",
    "aiohttp-receiver",
    "aiohttp-sqlite-full",
    "aiohttp-sqlite-normal",
    "asgi-bare",
    "asgi-receiver",
]


async def main() -> None:
    core, core_bare = [], []
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpus: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):  # interleaved, so a busy moment of the machine hits all alike
            c, b = await core_rates()
            core.append(c)
            core_bare.append(b)
            for kind in KINDS:
                rate, seconds = await served_rate(kind, Path(tmp))
                rates[kind].append(rate)
                cpus[kind].append(seconds)
    med = {kind: statistics.median(values) for kind, values in rates.items()}
    cpu = {kind: statistics.median(values) for kind, values in cpus.items()}
    core_med, core_bare_med = statistics.median(core), statistics.median(core_bare)

    def row(kind: str, base: str, goal: str = "") -> str:
        wall, per_cpu = med[kind] / med[base], cpu[base] / cpu[kind]
        return (
            f"{med[kind]:6.0f}/s {wall:4.2f}x  {cpu[kind] * 1e6:5.0f} us CPU {per_cpu:4.2f}x{goal}"
        )

    table(
        f"Receiver: signed {len(BODY)} B deliveries, medians of {ROUNDS}; ratios to the bare"
        " handler of the same framework, by wall clock and by the server's CPU per delivery",
        [
            ("process() (no framework)", f"{core_med:6.0f}/s {core_med / core_bare_med:4.2f}x"
             f" of hand-written HMAC + orjson ({core_bare_med:.0f}/s)"),
            ("bare aiohttp handler", row("aiohttp-bare", "aiohttp-bare")),
            ("aiohttp, no inbox", row("aiohttp-receiver", "aiohttp-bare", "  (goal 0.75x)")),
            ("aiohttp, SQLiteInbox FULL", row("aiohttp-sqlite-full", "aiohttp-bare", "  (0.4x)")),
            ("aiohttp, SQLiteInbox NORMAL", row("aiohttp-sqlite-normal", "aiohttp-bare")),
            ("bare ASGI app, uvicorn", row("asgi-bare", "asgi-bare")),
            ("receiver.asgi(), uvicorn", row("asgi-receiver", "asgi-bare")),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], sys.argv[3])
    else:
        asyncio.run(main())
