"""The one downloader of the SDK: a file from the storage host to disk, resumable, bounded,
verified, atomic. Data retrieval, data access files and the study mirror all call
:func:`download_file`.

**What a caller gives.** The final path (a server-given name checked first with
``_files.check_file_name``), a URL (``link=``, or none yet), a ``renew()`` that returns a fresh
:class:`Link` when the URL is missing, about to expire, or refused (401/403), the size the
API announced (``expected_size``) if it did, and an opaque ``version`` of the file (a modified
date, a file id) if a part left by an earlier run may be continued.

**Nothing but the URL goes to the storage host.** The session must carry no credentials; a
session with a default ``Authorization`` header or ``auth`` is not used (a clean one is).

**The size** a download must reach is ``expected_size``; without it, the storage host's
(``Content-Length`` of a 200, the total of a 206's ``Content-Range`` or a 416's); with neither
(a body sent chunked), the end of the body, up to ``max_size`` (:data:`MAX_SIZE`, 16 GiB by
default: far above any file the API makes, a bound on what a host alone can make us write).
A host announcing a size other than the expected one, or a body running past it, is a failed
try: nothing past the expected size is ever written.

**Part files.** Bytes go to ``<name>.part``, never to the final name; ``<name>.part.version``
beside it holds ``version``. A part is continued (``Range: bytes=N-``) only if its sidecar
names the same version and it is no longer than the expected size; otherwise it is discarded.
A host that ignores ``Range`` (a 200 for a range) is read from its start, the bytes already
kept skipped. When the size is reached, the part is flushed to disk (``fsync``), its content
checked (``verify``: by default by the final name, see ``_files``), given its modification time
(``mtime``, if asked: the file's own date, carried by the final name from its first moment),
renamed to the final name in one atomic step, and the directory flushed. A part that fails its
check is discarded.

**Bounds.** A try is one request. A try fails on a drop, a 5xx/429/408, a refused link, a
wrong size, a failed content check, or a timeout: no byte for ``read_timeout`` seconds, or
after its first ``read_timeout`` seconds fewer than ``min_rate`` bytes a second on average.
``max_attempts`` failed tries in a row end the download (:class:`DownloadError`); progress is
bytes *kept*, not received: a failed try is forgiven only if it left the part at least
:data:`PROGRESS` bytes longer than it ever was in this call. The whole download must keep
``min_rate`` bytes a second on average after a grace of ``max_attempts * read_timeout``
seconds (time spent in ``renew()`` not counted), so no host can hold it forever, however it
trickles. Waits between tries go through ``_retry.backoff`` (0 under ``set_testing()``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Literal, NamedTuple

import aiohttp
import attrs
from yarl import URL

from ._exceptions import DownloadError
from ._files import PART_SUFFIX, VERSION_SUFFIX, ContentCheck, check_file_name, content_check_for
from ._protocol import RETRYABLE_STATUSES, check_number, safe_url
from ._retry import backoff

__all__ = [
    "MAX_SIZE",
    "MIN_RATE",
    "PROGRESS",
    "DownloadError",
    "Downloaded",
    "Link",
    "destination",
    "download_file",
    "file_size",
    "mtime_ns",
    "read_answer",
]

log = logging.getLogger("centrepoint_async")

#: A link this close to its expiry is renewed before use rather than tried.
RENEW_MARGIN = timedelta(seconds=10)
#: Bytes a second a download keeps at least, on average (128 kbit/s: slower than any link a
#: lab downloads data files over; a host trickling slower is given up).
MIN_RATE = 16 * 1024
#: The most bytes written for a file whose size no one announced.
MAX_SIZE = 16 * 2**30
#: The growth of the part that makes a failed try count as progress.
PROGRESS = 64 * 1024

#: No aiohttp timeout: the download's own deadlines (``asyncio.timeout``) bound each try.
_NO_TIMEOUT = aiohttp.ClientTimeout(total=None)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class Link(NamedTuple):
    """A pre-signed URL on the storage host, and when it expires (None: not said)."""

    url: str
    expires: datetime | None = None


Renew = Callable[[], Awaitable[Link]]
OnBytes = Callable[[int], object]
ProxyFor = Callable[[str], tuple[URL | None, aiohttp.BasicAuth | None]]
Verify = Literal["by name"] | Callable[[], ContentCheck] | None


@attrs.frozen
class Downloaded:
    """A finished download: the verified file, its size, and the bytes received for it."""

    path: Path
    size: int
    received: int  # over the network in this call (0 if a kept part was already whole)


def no_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """Connect to ``url`` directly."""
    return None, None


def mtime_ns(when: datetime) -> int:
    """``when`` as a file's modification time in nanoseconds (naive: taken as UTC), exactly:
    a file given it by :func:`download_file` compares equal to it."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1) * 1000


def destination(dest: str | os.PathLike[str], name: str) -> Path:
    """``dest`` itself, or ``dest/<name>`` when ``dest`` is a directory (``name`` checked)."""
    path = Path(dest)
    return path / check_file_name(name) if path.is_dir() else path


class _TryFailed(Exception):
    """One try did not bring the file: the reason; the download goes on within its budget."""


class _LinkRejected(_TryFailed):
    """401 or 403 from the storage host: the link expired or is refused; renew it."""


class _PartWrong(_TryFailed):
    """The part cannot be the file (too long, wrong content, the file changed): discard it."""


@attrs.frozen
class Answer:
    """What a storage host's answer holds: the file's bytes from ``start`` (if ``body``), and
    the file's size as the host says it (None: not said)."""

    start: int
    total: int | None
    body: bool = True


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


def read_answer(status: int, headers: Mapping[str, str], offset: int) -> Answer:
    """Read the status and headers of the answer to a request for the bytes from ``offset`` on.

    Raises ``_LinkRejected`` (401/403), ``_TryFailed`` (worth another try), ``_PartWrong``
    (the host's file is shorter than the part), or :class:`DownloadError` (404 and any other
    status: the same request would get the same answer). No I/O.
    """
    if status in (401, 403):
        raise _LinkRejected(f"status {status}")
    if status in RETRYABLE_STATUSES or status >= 500:
        raise _TryFailed(f"status {status}")
    if status == 200:
        return Answer(0, _number(headers.get("Content-Length")))
    if status == 206:
        found = _CONTENT_RANGE.match(headers.get("Content-Range", ""))
        if found is None:
            raise _TryFailed("a 206 without a single byte range")
        start = int(found[1])
        if start > offset:
            raise _TryFailed(f"a range from byte {start}, {offset} asked")
        return Answer(start, _number(found[3]))
    if status == 416:
        found = _UNSATISFIED_RANGE.match(headers.get("Content-Range", ""))
        total = int(found[1]) if found else None
        if total is not None and total < offset:
            raise _PartWrong(f"the file has {total} bytes, fewer than the {offset} kept")
        if total != offset:
            raise _TryFailed(f"status 416 (file size {total}, {offset} bytes kept)")
        return Answer(offset, total, body=False)  # the part is the whole file
    raise DownloadError(f"the storage host answered {status}")


def _fresh(link: Link | None) -> bool:
    if link is None:
        return False
    expires = link.expires
    if expires is None:
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires - datetime.now(UTC) > RENEW_MARGIN


def _discard(part: Path, sidecar: Path) -> None:
    part.unlink(missing_ok=True)
    sidecar.unlink(missing_ok=True)


def _adopt(part: Path, sidecar: Path, version: str | None, expected: int | None) -> int:
    """The bytes of a part left by an earlier run that may be continued, else 0 (discarded)."""
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0
    try:
        recorded: str | None = sidecar.read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        recorded = None
    if version is None or recorded != version or (expected is not None and size > expected):
        _discard(part, sidecar)
        return 0
    return size


def _open_part(part: Path, sidecar: Path, version: str | None, offset: int) -> IO[bytes]:
    """The part, positioned at ``offset`` (anything after it cut off); at 0, a new part whose
    sidecar names ``version`` (written once the empty part is on disk)."""
    handle: IO[bytes]
    if offset:
        handle = part.open("r+b")
        handle.truncate(offset)
        handle.seek(offset)
        return handle
    sidecar.unlink(missing_ok=True)
    handle = part.open("wb")
    if version is not None:
        os.fsync(handle.fileno())
        with sidecar.open("w", encoding="utf-8") as note:
            note.write(version)
            note.flush()
            os.fsync(note.fileno())
    return handle


async def _opened(part: Path, sidecar: Path, version: str | None, offset: int) -> IO[bytes]:
    """:func:`_open_part` in a thread. Cancelled meanwhile, it waits for the thread and closes
    the file it opened (closed all the same if cancelled again), then is cancelled."""
    opening = asyncio.ensure_future(asyncio.to_thread(_open_part, part, sidecar, version, offset))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)
        await asyncio.wait([opening])
        raise


def _close_opened(opening: asyncio.Future[IO[bytes]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


def _sync_directory(folder: Path) -> None:
    """Flush a rename in ``folder`` to disk (POSIX; elsewhere the rename is what there is)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish(
    part: Path, path: Path, sidecar: Path, size: int, check: ContentCheck | None, mtime: int | None
) -> None:
    """Flush the part, check its size and content, set its ``mtime`` (ns), give it its final
    name (in a thread)."""
    with part.open("a+b") as handle:  # created if missing: a file of 0 bytes has no body
        handle.seek(0)
        os.fsync(handle.fileno())
        on_disk = os.fstat(handle.fileno()).st_size
        if on_disk != size:
            raise _PartWrong(f"{on_disk} bytes on disk, {size} expected")
        if check is not None:
            try:
                while (block := handle.read(1 << 20)) and check.feed(block):
                    pass
                check.finish()
            except ValueError as exc:
                raise _PartWrong(f"content check: {exc}") from None
    if mtime is not None:
        os.utime(part, ns=(mtime, mtime))
    os.replace(part, path)  # atomic: the final name is the whole file or nothing
    sidecar.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _has_credentials(session: aiohttp.ClientSession) -> bool:
    return "Authorization" in session.headers or session.auth is not None


async def download_file(
    session: aiohttp.ClientSession,
    path: str | os.PathLike[str],
    renew: Renew,
    *,
    link: Link | None = None,
    expected_size: int | None = None,
    version: str | None = None,
    verify: Verify = "by name",
    max_attempts: int = 8,
    read_timeout: float = 60.0,
    min_rate: float = MIN_RATE,
    max_size: int = MAX_SIZE,
    proxy_for: ProxyFor = no_proxy,
    mtime: datetime | None = None,
    on_bytes: OnBytes | None = None,
) -> Downloaded:
    """Download a file to ``path`` (see the module docstring); returns the :class:`Downloaded`.

    ``link``: the URL to start with (None: ``renew()`` gives the first). ``verify``: the
    content check (``"by name"``: by the final name; None: size only; or a factory of
    ``_files.ContentCheck``). ``proxy_for(url)`` names the proxy for the storage host.
    ``mtime``: the final file's modification time (:func:`mtime_ns`). ``on_bytes(n)`` is
    called as ``n`` more bytes arrive (all :attr:`Downloaded.received` passes through it).
    Raises :class:`DownloadError` when the budget is spent, the download is too slow, or the
    host refuses the file for good; errors of ``renew()`` pass through.
    """
    check_number(max_attempts, "max_attempts", minimum=1, inclusive=True, integer=True)
    check_number(read_timeout, "read_timeout")
    check_number(min_rate, "min_rate")
    check_number(max_size, "max_size", integer=True)
    if expected_size is not None:
        check_number(expected_size, "expected_size", inclusive=True, integer=True)
    target = Path(path)
    check = content_check_for(target.name) if verify == "by name" else verify
    limits = _Limits(max_attempts, read_timeout, float(min_rate), max_size)
    job = _Download(target, renew, link, expected_size, version, check, proxy_for, limits)
    job.mtime = None if mtime is None else mtime_ns(mtime)
    job.on_bytes = on_bytes
    if not _has_credentials(session):
        return await job.run(session)
    async with aiohttp.ClientSession() as clean:  # never a caller's credentials to the host
        return await job.run(clean)


async def file_size(
    session: aiohttp.ClientSession,
    url: str,
    *,
    proxy_for: ProxyFor = no_proxy,
    timeout: float = 30.0,
) -> int | None:
    """The size the storage host gives for ``url`` (a HEAD's ``Content-Length``), or None when
    it answers otherwise or not at all. Nothing but the URL goes there, as for downloads."""
    if _has_credentials(session):
        async with aiohttp.ClientSession() as clean:
            return await file_size(clean, url, proxy_for=proxy_for, timeout=timeout)
    proxy, proxy_auth = proxy_for(url)
    try:
        async with session.head(
            url,
            proxy=proxy,
            proxy_auth=proxy_auth,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            if response.status != 200:
                return None
            return _number(response.headers.get("Content-Length"))
    except (aiohttp.ClientError, TimeoutError):
        return None


class _Capped(Exception):
    """A body with no announced size ran past ``max_size``."""


@attrs.frozen
class _Limits:
    """The bounds of one download (see :func:`download_file`)."""

    max_attempts: int
    read_timeout: float
    min_rate: float
    max_size: int


class _Download:
    """One call of :func:`download_file`: its file, its part, and how far it got."""

    def __init__(
        self,
        path: Path,
        renew: Renew,
        link: Link | None,
        expected: int | None,
        version: str | None,
        check: Callable[[], ContentCheck] | None,
        proxy_for: ProxyFor,
        limits: _Limits,
    ) -> None:
        self.path = path
        self.part = path.with_name(path.name + PART_SUFFIX)
        self.sidecar = path.with_name(path.name + VERSION_SUFFIX)
        self.renew, self.link, self.proxy_for = renew, link, proxy_for
        self.expected = expected
        self.total = expected  # the size to reach, once someone said it
        self.version, self.check = version, check
        self.limits = limits
        self.mtime: int | None = None  # ns, given to the file before its final name
        self.on_bytes: OnBytes | None = None
        self.kept = 0  # bytes in the part
        self.best = 0  # the most bytes the part held in this call
        self.received = 0
        self.grace_end = 0.0  # the whole download's deadline, before its min_rate share
        self.loop = asyncio.get_running_loop()

    async def run(self, session: aiohttp.ClientSession) -> Downloaded:
        self.kept = await asyncio.to_thread(
            _adopt, self.part, self.sidecar, self.version, self.expected
        )
        self.best = self.kept
        self.grace_end = self.loop.time() + self.limits.max_attempts * self.limits.read_timeout
        try:
            return await self._tries(session)
        except DownloadError:
            if self.kept == 0:  # nothing worth continuing: no empty part left behind
                await asyncio.to_thread(_discard, self.part, self.sidecar)
            raise

    async def _tries(self, session: aiohttp.ClientSession) -> Downloaded:
        failures = 0
        while True:
            try:
                if self.kept == self.total:
                    check = self.check() if self.check is not None else None
                    await asyncio.to_thread(
                        _finish, self.part, self.path, self.sidecar, self.kept, check, self.mtime
                    )
                    return Downloaded(self.path, self.kept, self.received)
                await self._try(session)
                if self.kept != self.total:
                    raise _TryFailed(f"the answer ended at byte {self.kept} of {self.total}")
            except _TryFailed as exc:
                failures = await self._failed(exc, failures)

    async def _failed(self, exc: _TryFailed, failures: int) -> int:
        """Count a failed try (unless it made progress), or raise once the budget is spent."""
        if isinstance(exc, _LinkRejected):
            self.link = None
        if isinstance(exc, _PartWrong):
            await asyncio.to_thread(_discard, self.part, self.sidecar)
            self.kept, self.total = 0, self.expected
        progressed = self.kept >= self.best + PROGRESS
        self.best = max(self.best, self.kept)
        failures = 0 if progressed else failures + 1
        if failures >= self.limits.max_attempts:
            raise DownloadError(
                f"{self.path.name}: {failures} tries in a row failed (the last: {exc}); "
                f"{self.kept} bytes kept in {self.part.name}"
            )
        log.debug("download of %s: %s at %d bytes; again", self.path.name, exc, self.kept)
        if failures:
            await asyncio.sleep(backoff(failures, initial=0.5, maximum=30.0))
        return failures

    def _call_deadline(self) -> float:
        """When the whole download gives up: under ``min_rate`` on average after its grace."""
        return self.grace_end + max(self.best, self.kept) / self.limits.min_rate

    async def _fresh_link(self) -> Link:
        if self.link is None or not _fresh(self.link):
            started = self.loop.time()
            try:
                self.link = await self.renew()
            finally:  # time waiting for the API is not the storage host's
                self.grace_end += self.loop.time() - started
        if not self.link.url.startswith(("https://", "http://")):
            raise DownloadError(f"{self.path.name}: not an http(s) URL: {safe_url(self.link.url)}")
        return self.link

    async def _try(self, session: aiohttp.ClientSession) -> None:
        """One request for the bytes from ``kept`` on, written to the part."""
        url = (await self._fresh_link()).url
        headers = {"Range": f"bytes={self.kept}-"} if self.kept else {}
        proxy, proxy_auth = self.proxy_for(url)
        clock = _Clock(self)
        try:
            async with asyncio.timeout(None) as timer:
                clock.start(timer)
                try:
                    async with session.get(
                        url,
                        headers=headers,
                        timeout=_NO_TIMEOUT,
                        proxy=proxy,
                        proxy_auth=proxy_auth,
                    ) as response:
                        answer = read_answer(response.status, response.headers, self.kept)
                        self._settle(answer.total)
                        if answer.body:
                            await self._receive(response, answer.start, clock)
                finally:
                    clock.stop()
        except TimeoutError:
            if clock.reason is None:  # pragma: no cover (a TimeoutError of aiohttp's own)
                raise _TryFailed("timed out") from None
            if clock.reason == "whole":
                raise DownloadError(
                    f"{self.path.name}: slower than {self.limits.min_rate:g} bytes a second on "
                    f"average; {self.kept} bytes kept in {self.part.name}"
                ) from None
            raise _TryFailed(f"too slow ({clock.reason})") from None
        except aiohttp.ClientError as exc:
            raise _TryFailed(type(exc).__name__) from None
        except _Capped:
            await asyncio.to_thread(_discard, self.part, self.sidecar)
            raise DownloadError(
                f"{self.path.name}: more than max_size={self.limits.max_size} bytes and no size "
                "announced; the part is discarded"
            ) from None
        except DownloadError as exc:
            raise DownloadError(f"{self.path.name}: {exc} for {safe_url(url)}") from None

    def _settle(self, total: int | None) -> None:
        """Take the host's word on the file's size, if it agrees with what is known."""
        if total is None:
            return
        if self.expected is not None:
            if total != self.expected:
                raise _TryFailed(f"the storage host has {total} bytes, {self.expected} expected")
            return
        if total > self.limits.max_size:
            raise DownloadError(f"the storage host announces {total} bytes, over max_size")
        if total < self.kept:
            raise _PartWrong(f"the file has {total} bytes, fewer than the {self.kept} kept")
        if self.total is not None and total != self.total:
            raise _PartWrong(f"the file's size changed from {self.total} to {total} bytes")
        self.total = total

    async def _receive(self, response: aiohttp.ClientResponse, start: int, clock: _Clock) -> None:
        """Append the body (from byte ``start`` of the file) to the part, never past the size.

        Whatever has arrived is written as it arrives (``iter_any``: a drop loses nothing
        received; aiohttp's flow control bounds memory). ``clock`` learns of every read.
        """
        limit = self.total if self.total is not None else self.limits.max_size
        first = self.kept
        skip = first - start  # a host that ignored Range resends what is kept: drop it
        handle = await _opened(self.part, self.sidecar, self.version, first)
        now = self.loop.time
        try:
            async for chunk in response.content.iter_any():
                clock.got += len(chunk)
                if self.on_bytes is not None:
                    self.on_bytes(len(chunk))
                clock.last = now()
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                if self.kept + len(chunk) > limit:
                    handle.truncate(first)  # this answer is not the file: keep none of it
                    self.kept = first
                    if self.total is None:
                        raise _Capped
                    raise _TryFailed(f"the body runs past the {limit} bytes expected")
                handle.write(chunk)  # to the page cache: fast
                self.kept += len(chunk)
        finally:
            self.received += clock.got
            await asyncio.to_thread(handle.close)
        if self.total is None:
            self.total = self.kept  # no size was said: the body's end is the file's end


class _Clock:
    """The deadlines of one try: no byte for the read timeout; under ``min_rate`` since it
    began, after the read timeout's grace; the whole download under it.

    Checked when the earliest comes due, with what is known then (a timer re-armed for
    every read would cost 5% of a download's CPU); if it has moved, the check is re-armed.
    """

    def __init__(self, job: _Download) -> None:
        self.job = job
        self.began = self.last = job.loop.time()
        self.got = 0
        self.reason: str | None = None
        self._timer: asyncio.Timeout | None = None
        self._check: asyncio.TimerHandle | None = None

    def start(self, timer: asyncio.Timeout) -> None:
        self._timer = timer
        self._arm()

    def stop(self) -> None:
        if self._check is not None:
            self._check.cancel()

    def _arm(self) -> None:
        read_timeout, rate = self.job.limits.read_timeout, self.job.limits.min_rate
        due = {
            f"no byte for read_timeout={read_timeout:g} s": self.last + read_timeout,
            f"under min_rate={rate:g} bytes a second": self.began + read_timeout + self.got / rate,
            "whole": self.job._call_deadline(),
        }
        reason, when = min(due.items(), key=lambda item: item[1])
        loop = self.job.loop
        if loop.time() < when:
            self._check = loop.call_at(when, self._arm)
        elif self._timer is not None:
            self.reason = reason
            self._timer.reschedule(loop.time())  # the try times out now
