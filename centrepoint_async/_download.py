"""Downloading a data file from the storage host: resumable, verified, atomic.

The file is streamed to ``<dest>.part`` in chunks (memory stays bounded whatever its size).
After any failure (a dropped connection, a timeout, a 5xx) the download resumes from the bytes
already on disk with an HTTP ``Range`` request; a link that has expired (or is about to) is
renewed by asking ``downloadurl`` again. The storage host is another host: nothing but the
pre-signed URL is sent there, never the bearer token. The finished file's size is checked
against ``fileSizeBytes``, it is flushed to disk, then ``.part`` is renamed to ``dest`` in one
atomic step, so a file at ``dest`` is always complete.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import aiohttp
from yarl import URL

from ._exceptions import CentrePointError
from ._resources import DataRetrievalFile, DownloadUrl

__all__ = ["DownloadError", "download_file", "target_path"]

log = logging.getLogger("centrepoint_async")

#: A link this close to its expiry is renewed before use rather than tried.
RENEW_MARGIN = timedelta(seconds=10)


class DownloadError(CentrePointError):
    """A data file could not be downloaded whole (attempts spent, or the size is wrong)."""


def target_path(data_file: DataRetrievalFile, dest: str | os.PathLike[str]) -> Path:
    """``dest`` itself, or ``dest/<fileName>`` when ``dest`` is a directory."""
    path = Path(dest)
    if path.is_dir():
        # the name comes from the server: keep only its last component
        name = Path(data_file.file_name or data_file.id).name or data_file.id
        path = path / name
    return path


def _fresh(link: DownloadUrl | None) -> bool:
    if link is None:
        return False
    expires = link.expiration_date_utc
    if expires is None:
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires - datetime.now(UTC) > RENEW_MARGIN


ProxyFor = Callable[[str], tuple[URL | None, aiohttp.BasicAuth | None]]


def no_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """Connect to ``url`` directly."""
    return None, None


def _sync(path: Path) -> None:
    """Create ``path`` if missing (an empty file is still a file) and flush it to disk."""
    with path.open("ab") as handle:
        os.fsync(handle.fileno())


def _open(path: Path, offset: int) -> IO[bytes]:
    """The ``.part`` file, positioned at ``offset`` (anything after it is cut off)."""
    handle = path.open("r+b" if offset else "wb")
    handle.truncate(offset)
    handle.seek(offset)
    return handle


async def download_file(
    session: aiohttp.ClientSession,
    data_file: DataRetrievalFile,
    dest: str | os.PathLike[str],
    renew: Callable[[], Awaitable[DownloadUrl]],
    *,
    max_attempts: int = 8,
    read_timeout: float = 60.0,
    backoff: float = 0.5,
    proxy_for: ProxyFor = no_proxy,
) -> Path:
    """Download ``data_file`` to ``dest`` (see the module docstring); returns the final path.

    ``renew()`` asks for a new link. ``max_attempts`` counts failed tries in a row; a try that
    brought new bytes resets it. ``proxy_for(url)`` names the proxy (and its credentials) to
    reach the storage host through, as the client reads them from the environment.
    """
    path = target_path(data_file, dest)
    part = path.with_name(path.name + ".part")
    size = data_file.file_size_bytes
    link: DownloadUrl | None = None
    failures = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset >= size:
            break
        if not _fresh(link):
            link = await renew()
        assert link is not None
        # only the Range header: the session carries no credentials of its own
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        before = offset
        try:
            offset = await _fetch(
                session, link.download_url, part, offset, headers, read_timeout, proxy_for
            )
            if offset == before or size is None:
                break  # the host had nothing more: the file is whole
            continue
        except _LinkRejected:
            link = None  # expired, or not accepted: ask for a new one
            reason = "link rejected"
        except _Restart:
            await asyncio.to_thread(part.unlink, missing_ok=True)
            reason = "range not honoured"
        except (aiohttp.ClientError, TimeoutError, _ServerTrouble) as exc:
            reason = type(exc).__name__
        offset = part.stat().st_size if part.exists() else 0
        failures = 0 if offset > before else failures + 1
        if failures >= max_attempts:
            raise DownloadError(
                f"{data_file.file_name or data_file.id}: {failures} tries in a row failed "
                f"({reason}); {offset} bytes kept in {part}"
            )
        log.debug("download of %s: %s at %d bytes; resuming", data_file.id, reason, offset)
        if failures:
            await asyncio.sleep(random.uniform(0, backoff * 2 ** min(failures, 6)))
    final = part.stat().st_size if part.exists() else 0
    if size is not None and final != size:
        raise DownloadError(
            f"{data_file.file_name or data_file.id}: got {final} bytes, expected {size}"
        )
    # on disk before it gets its name, so a crash never leaves a short file at dest
    await asyncio.to_thread(_sync, part)
    await asyncio.to_thread(os.replace, part, path)  # atomic: dest is whole or absent
    return path


class _LinkRejected(Exception):
    """403 (expired or bad signature) or 401: the link must be renewed."""


class _Restart(Exception):
    """The host answered something other than the range asked for: start again from zero."""


class _ServerTrouble(Exception):
    """A 5xx or 429 from the storage host: try again later."""


async def _fetch(
    session: aiohttp.ClientSession,
    url: str,
    part: Path,
    offset: int,
    headers: dict[str, str],
    read_timeout: float,
    proxy_for: ProxyFor,
) -> int:
    """Append the bytes from ``offset`` on to ``part``; returns the new size.

    A host that sends nothing for ``read_timeout`` seconds is a ``TimeoutError``. The deadline
    moves at most once a second (aiohttp's ``sock_read`` would re-arm a timer for every read:
    5% of the CPU of a download).
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(read_timeout) as stall:
        # total=None: a big file takes as long as it takes, while bytes keep coming
        timeout = aiohttp.ClientTimeout(total=None)
        proxy, proxy_auth = proxy_for(url)
        async with session.get(
            url, headers=headers, timeout=timeout, proxy=proxy, proxy_auth=proxy_auth
        ) as response:
            return await _receive(response, url, part, offset, stall, loop, read_timeout)


async def _receive(
    response: aiohttp.ClientResponse,
    url: str,
    part: Path,
    offset: int,
    stall: asyncio.Timeout,
    loop: asyncio.AbstractEventLoop,
    read_timeout: float,
) -> int:
    """Check the answer, then write its body to ``part`` from ``offset``."""
    status = response.status
    if status in (401, 403):
        raise _LinkRejected
    if status == 416:
        return offset  # nothing past offset: the caller checks the size
    if status == 429 or status >= 500:
        raise _ServerTrouble(f"status {status}")
    if status == 404:
        raise DownloadError(f"the storage host has no such file (404) at {url.split('?')[0]}")
    if status == 200 and offset:
        raise _Restart  # a whole file where a range was asked for
    if status == 206 and not response.headers.get("Content-Range", "").startswith(
        f"bytes {offset}-"
    ):
        raise _Restart
    if status not in (200, 206):
        raise DownloadError(f"the storage host answered {status} for {url.split('?')[0]}")
    handle = await asyncio.to_thread(_open, part, offset)
    moved = loop.time()
    try:
        # whatever has arrived, as it arrives: a drop loses nothing already received
        # (iter_chunked would hold back a partial chunk); aiohttp's flow control bounds it
        async for chunk in response.content.iter_any():
            handle.write(chunk)  # to the page cache: fast
            offset += len(chunk)
            now = loop.time()
            if now - moved > 1.0:
                stall.reschedule(now + read_timeout)
                moved = now
    finally:
        await asyncio.to_thread(handle.close)
    return offset
