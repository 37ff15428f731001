"""The fake's blob storage: a second loopback host serving data files through pre-signed URLs.

It behaves like the cloud storage behind CentrePoint's ``downloadurl`` answers: a URL carries
its own signature and expiry (``se``, seconds since the epoch) and needs no other credential; a
request with an ``Authorization`` header is refused (the bearer token must never travel here);
an expired or forged link is a 403; ``Range: bytes=N-`` and ``bytes=N-M`` are honoured with a
206. File contents are generated as they are sent, so a 500 MB file costs no memory.

Files are stored by path (:meth:`BlobStore.put`), or found on demand by a ``resolve`` function
(the Data Access day files of a whole study, never listed here one by one). Two URL styles are
signed: the data retrieval style (``se`` in seconds since the epoch) and the Azure SAS style of
Data Access (``sp=r&st=...&se=...&spr=https&sv=...&sr=b&sig=...``, ISO dates).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Literal, Protocol

import attrs
from aiohttp import web

__all__ = ["Blob", "BlobFault", "BlobFile", "BlobRequest", "BlobStore"]

BlobFaultKind = Literal["drop", "stall", "expired", "status"]
_CHUNK = 64 * 1024


class Blob(Protocol):
    """What the blob host serves: a name, a size, and the bytes of any span."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...

    def content(self) -> bytes: ...


_AVRO_MAGIC = b"Obj\x01"


@attrs.frozen
class BlobFile:
    """A stored file: its bytes are a pure function of ``seed`` (see :meth:`chunks`)."""

    name: str
    size: int
    seed: int

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` (exclusive), in chunks of at most 64 KiB.

        Each 64 KiB block starts with its own index, so a resume at a wrong offset (even a
        whole number of blocks away) never reproduces the file. An ``.avro`` file starts with
        the Avro container magic (``Obj\x01``), as a client checks.
        """
        end = self.size if end is None else min(end, self.size)
        pattern = random.Random(self.seed).randbytes(_CHUNK)
        position = start
        while position < end:
            block, within = divmod(position, _CHUNK)
            data = block.to_bytes(8, "big") + pattern[8:]
            if block == 0 and self.name.endswith(".avro"):
                data = _AVRO_MAGIC + data[len(_AVRO_MAGIC) :]
            take = min(_CHUNK - within, end - position)
            yield data[within : within + take]
            position += take

    def content(self) -> bytes:
        """The whole file (for assertions on small files)."""
        return b"".join(self.chunks())


@attrs.define
class BlobFault:
    """A fault for the next ``count`` downloads: ``drop`` the connection after ``after_bytes``
    bytes of the body, or ``stall`` there (send nothing more until the host closes); answer as
    if the link had ``expired``; or answer ``status``."""

    kind: BlobFaultKind
    count: int = 1
    after_bytes: int = 0
    status: int = 503


@attrs.frozen
class BlobRequest:
    """One request the blob host received."""

    path: str
    range: str | None
    authorization: bool  # whether an Authorization header came (it never should)
    status: int
    fault: str | None = None
    method: str = "GET"  # HEAD gives the headers (Content-Length) without the body


class BlobStore:
    """The blob host: files by path, signed URLs, faults, and a record of requests."""

    def __init__(self, host: str = "127.0.0.1", *, link_lifetime: float = 120.0) -> None:
        self.host = host
        self.port = 0
        self.link_lifetime = link_lifetime
        self.files: dict[str, Blob] = {}
        self.resolve: Callable[[str], Blob | None] | None = None  # files found by their path
        self.faults: list[BlobFault] = []
        self.requests: list[BlobRequest] = []
        self.bytes_sent = 0
        #: A storage host across a network, for benchmarks: each download is sent at most
        #: ``link_rate`` bytes a second (None: as fast as loopback goes), its first byte
        #: ``first_byte_delay`` seconds after the request.
        self.link_rate: float | None = None
        self.first_byte_delay = 0.0
        self._key = secrets.token_bytes(32)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the blob host is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_get("/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closing.set()  # stalled answers end now
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def put(self, container: str, file: BlobFile) -> str:
        """Store ``file``; returns its path on this host."""
        path = f"/{container}/{urllib.parse.quote(file.name)}"
        self.files[path] = file
        return path

    def sign(self, path: str, lifetime: float | None = None) -> tuple[str, float]:
        """A pre-signed URL for ``path`` and its expiry (seconds since the epoch)."""
        expires = time.time() + (self.link_lifetime if lifetime is None else lifetime)
        se = f"{expires:.3f}"
        query = urllib.parse.urlencode(
            {"sv": "2018-03-28", "sr": "b", "sp": "r", "se": se, "sig": self._signature(path, se)}
        )
        return f"{self.url}{path}?{query}", expires

    def sign_sas(self, path: str, expires: float, *, version: str = "2020-08-04") -> str:
        """An Azure-style SAS URL for ``path``, valid until ``expires`` (seconds since the epoch).

        ``st`` is five minutes back, as portals sign; ``se`` is ISO 8601 with ``Z`` (with
        milliseconds only when the expiry is not a whole second).
        """
        se = _iso(expires)
        query = {
            "sp": "r",
            "st": _iso(int(time.time()) - 300),
            "se": se,
            "spr": "https",
            "sv": version,
            "sr": "b",
            "sig": self._signature(path, se),
        }
        return f"{self.url}{path}?{urllib.parse.urlencode(query)}"

    def _signature(self, path: str, se: str) -> str:
        return hmac.new(self._key, f"{path}\n{se}".encode(), hashlib.sha256).hexdigest()

    def _fault(self) -> BlobFault | None:
        for fault in self.faults:
            if fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _record(self, request: web.Request, status: int, fault: str | None = None) -> None:
        self.requests.append(
            BlobRequest(
                request.path,
                request.headers.get("Range"),
                "Authorization" in request.headers,
                status,
                fault,
                request.method,
            )
        )

    def _refuse(
        self, request: web.Request, status: int, text: str, fault: str | None = None
    ) -> web.Response:
        self._record(request, status, fault)
        return web.Response(status=status, text=text)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            # as cloud storage does: a SAS URL and an Authorization header do not mix
            return self._refuse(request, 400, "Authorization header not allowed with a SAS URL")
        file = self.files.get(request.path)
        if file is None and self.resolve is not None:
            file = self.resolve(request.path)
        se, sig = request.query.get("se", ""), request.query.get("sig", "")
        if file is None:
            return self._refuse(request, 404, "BlobNotFound")
        if not hmac.compare_digest(sig, self._signature(request.path, se)):
            return self._refuse(request, 403, "AuthenticationFailed: signature did not match")
        fault = self._fault()
        if fault is not None and fault.kind == "status":
            return self._refuse(request, fault.status, "injected", "status")
        if _expiry(se) < time.time() or (fault is not None and fault.kind == "expired"):
            return self._refuse(
                request,
                403,
                "AuthenticationFailed: Signed expiry time must be after signed start time",
                fault.kind if fault else None,
            )
        span = _parse_range(request.headers.get("Range"), file.size)
        if span is None:
            headers = {"Content-Range": f"bytes */{file.size}"}
            self._record(request, 416)
            return web.Response(status=416, headers=headers)
        start, end = span
        partial = "Range" in request.headers
        response = web.StreamResponse(status=206 if partial else 200)
        response.content_length = end - start
        response.content_type = "application/octet-stream"
        response.headers["Accept-Ranges"] = "bytes"
        if partial:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
        self._record(request, response.status, fault.kind if fault else None)
        await response.prepare(request)
        if request.method == "HEAD":  # the headers (Content-Length) and no body
            await response.write_eof()
            return response
        await self._send(request, response, file.chunks(start, end), fault)
        return response

    async def _send(
        self,
        request: web.Request,
        response: web.StreamResponse,
        chunks: Iterator[bytes],
        fault: BlobFault | None,
    ) -> None:
        """The body, at :attr:`link_rate` after :attr:`first_byte_delay`, cut by a fault."""
        loop = asyncio.get_running_loop()
        if self.first_byte_delay:
            await asyncio.sleep(self.first_byte_delay)
        started, sent = loop.time(), 0
        for chunk in chunks:
            breaks = fault is not None and fault.kind in ("drop", "stall")
            if fault is not None and breaks and sent + len(chunk) >= fault.after_bytes:
                await response.write(chunk[: max(0, fault.after_bytes - sent)])
                self.bytes_sent += max(0, fault.after_bytes - sent)
                # drop: a moment for the client to read what came (aiohttp discards unread
                # bytes once it sees the connection fail); stall: until the host closes
                wait = 0.05 if fault.kind == "drop" else 60.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), wait)
                if request.transport is not None:
                    request.transport.close()  # the body stops short of Content-Length
                return
            await response.write(chunk)
            sent += len(chunk)
            self.bytes_sent += len(chunk)
            if self.link_rate and (ahead := sent / self.link_rate - (loop.time() - started)) > 0:
                await asyncio.sleep(ahead)
        await response.write_eof()


def _iso(seconds: float) -> str:
    """``2021-02-01T01:10:52Z`` (milliseconds only if not a whole second)."""
    when = datetime.fromtimestamp(seconds, UTC)
    millis = f".{when.microsecond // 1000:03d}" if when.microsecond else ""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + millis + "Z"


def _expiry(se: str) -> float:
    """The expiry a signed ``se`` says, in seconds since the epoch (0 if unreadable)."""
    try:
        return float(se)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(se.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of a single ``bytes=`` range; None if unsatisfiable."""
    if header is None:
        return 0, size
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not first.isdigit():
        return None
    start = int(first)
    end = int(last) + 1 if last.isdigit() else size
    if start >= size or end <= start:
        return None
    return start, min(end, size)
