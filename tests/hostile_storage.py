"""A small hostile storage host for download tests: an aiohttp app served on loopback.

Each stored file has a :class:`Behaviour`: statuses to answer first, ``Range`` ignored, a drop
or a stall after some bytes of an answer, a trickle of single bytes, a body sent chunked (no
``Content-Length``). Links carry their expiry (``exp``, seconds since the epoch): an expired
one gets a 403, as a pre-signed URL does; a request with an ``Authorization`` header gets a
400. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import attrs
from aiohttp import web

from centrepoint_async._download import Link
from centrepoint_async.testing import serve_app

__all__ = ["Behaviour", "HostileStorage", "Seen", "hostile_storage"]


@attrs.define
class Behaviour:
    """How the host answers for one file (each list is used up one answer at a time)."""

    statuses: list[int] = attrs.field(factory=list)  # answered first, one per request
    ignore_range: bool = False  # a 200 with the whole file, whatever Range asks
    drop_after: list[int | None] = attrs.field(factory=list)  # close after N body bytes
    stall_after: list[int | None] = attrs.field(factory=list)  # send nothing after N bytes
    trickle: float | None = None  # seconds between single bytes of the body
    chunked: bool = False  # no Content-Length: the body's end is the connection's word


@attrs.frozen
class Seen:
    """One request the host received."""

    name: str
    range: str | None
    authorization: bool
    status: int


class HostileStorage:
    """Files by name, each with its :class:`Behaviour`; ``url`` once started."""

    def __init__(self) -> None:
        self.url = ""
        self.files: dict[str, bytes] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: list[Seen] = []
        self.closing = asyncio.Event()

    def put(self, name: str, data: bytes, behaviour: Behaviour | None = None) -> Behaviour:
        """Store ``data`` under ``name``; returns its behaviour (to change it later)."""
        self.files[name] = data
        self.behaviours[name] = behaviour or Behaviour()
        return self.behaviours[name]

    def link(self, name: str, lifetime: float = 600.0, *, say_expiry: bool = True) -> Link:
        """A link to ``name`` valid ``lifetime`` seconds (negative: already expired).

        ``say_expiry=False``: the link does not tell the client when it expires.
        """
        expires = time.time() + lifetime
        url = f"{self.url}/files/{urllib.parse.quote(name)}?exp={expires:.3f}&sig=secret"
        return Link(url, datetime.fromtimestamp(expires, UTC) if say_expiry else None)

    def statuses(self) -> list[int]:
        return [seen.status for seen in self.requests]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/files/{name}", self._answer)
        return app

    def _record(self, request: web.Request, status: int) -> None:
        name = request.match_info["name"]
        auth = "Authorization" in request.headers
        self.requests.append(Seen(name, request.headers.get("Range"), auth, status))

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        behaviour = self.behaviours.get(name)
        status = 200
        if "Authorization" in request.headers:
            status = 400
        elif behaviour is None:
            status = 404
        elif float(request.query.get("exp", "0")) < time.time():
            status = 403
        elif behaviour.statuses:
            status = behaviour.statuses.pop(0)
        if status != 200 or behaviour is None:
            self._record(request, status)
            return web.Response(status=status, text="refused")
        return await self._body(request, name, behaviour)

    async def _body(self, request: web.Request, name: str, how: Behaviour) -> web.StreamResponse:
        data = self.files[name]
        start = 0
        asked = request.headers.get("Range", "")
        if asked.startswith("bytes=") and not how.ignore_range:
            start = int(asked[len("bytes=") :].split("-")[0])
            if start >= len(data):
                self._record(request, 416)
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        response = web.StreamResponse(status=206 if start else 200)
        if start:
            response.headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if how.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(data) - start
        self._record(request, response.status)
        await response.prepare(request)
        drop = how.drop_after.pop(0) if how.drop_after else None
        stall = how.stall_after.pop(0) if how.stall_after else None
        body = data[start:]
        cut = min(n for n in (drop, stall, len(body)) if n is not None)
        try:
            await self._send(response, body[:cut], how.trickle)
        except ConnectionResetError:  # the client gave up on this answer
            return response
        if cut < len(body):
            # a stall: nothing more until the host closes; a drop: a moment for the client
            # to read what came (aiohttp drops unread bytes once it sees the connection fail)
            wait = 60.0 if stall is not None and cut == stall else 0.05
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), wait)
            if request.transport is not None:
                request.transport.close()  # the body stops short
            return response
        await response.write_eof()
        return response

    @staticmethod
    async def _send(response: web.StreamResponse, body: bytes, trickle: float | None) -> None:
        if trickle is None:
            for at in range(0, len(body), 1 << 16):
                await response.write(body[at : at + (1 << 16)])
            return
        for at in range(len(body)):
            await response.write(body[at : at + 1])
            await asyncio.sleep(trickle)


@asynccontextmanager
async def hostile_storage() -> AsyncIterator[HostileStorage]:
    """A :class:`HostileStorage` running on loopback for the block."""
    host = HostileStorage()
    async with serve_app(host.app()) as url:
        host.url = url
        try:
            yield host
        finally:
            host.closing.set()
