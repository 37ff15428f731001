"""The downloader against a hostile storage host on loopback: every bound and every check."""

from __future__ import annotations

import asyncio
import gzip
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

import centrepoint_async as cp
from centrepoint_async import _download as dl
from centrepoint_async._download import PROGRESS, Downloaded, Link, download_file
from centrepoint_async.testing import set_testing

from .hostile_storage import Behaviour, HostileStorage, hostile_storage

DATA = random.Random(7).randbytes(300_000)
GZ = gzip.compress(random.Random(8).randbytes(400_000), compresslevel=1)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """The tries of these tests follow each other at once (set_testing turns backoff off)."""
    set_testing()
    yield
    set_testing(False)


@pytest.fixture
async def host() -> AsyncIterator[HostileStorage]:
    async with hostile_storage() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as plain:
        yield plain


class Renewer:
    """A renew() that counts its calls and hands out fresh links to one file."""

    def __init__(self, host: HostileStorage, name: str) -> None:
        self.host, self.name, self.calls = host, name, 0

    async def __call__(self) -> Link:
        self.calls += 1
        return self.host.link(self.name)


async def fetch(
    session: aiohttp.ClientSession,
    host: HostileStorage,
    path: Path,
    name: str | None = None,
    **kwargs: Any,
) -> Downloaded:
    """download_file of ``name`` (default: the path's name) with a fresh link, 30 s at most."""
    name = name or path.name
    kwargs.setdefault("link", host.link(name))
    renew = kwargs.pop("renew", None) or Renewer(host, name)
    return await asyncio.wait_for(download_file(session, path, renew, **kwargs), 30)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_range_ignored_and_dropped_ends_within_the_budget(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A host that ignores Range and drops at one point every time: DownloadError, no loop."""
    host.put("a.csv", DATA, Behaviour(ignore_range=True, drop_after=[100_000] * 50))
    with pytest.raises(cp.DownloadError, match="4 tries in a row failed"):
        await fetch(session, host, tmp_path / "a.csv", expected_size=len(DATA), max_attempts=4)
    # the first try kept 100 kB (progress); four more brought nothing new
    assert len(host.requests) == 5
    assert all(seen.range == "bytes=100000-" for seen in host.requests[1:])
    assert not (tmp_path / "a.csv").exists()


async def test_range_ignored_still_completes_when_each_answer_goes_further(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Range ignored: the bytes already kept are skipped in the 200, the rest appended."""
    host.put("a.csv", DATA, Behaviour(ignore_range=True, drop_after=[100_000, 200_000]))
    done = await fetch(session, host, tmp_path / "a.csv", expected_size=len(DATA))
    assert done.path.read_bytes() == DATA
    assert host.statuses() == [200, 200, 200]
    assert done.received > len(DATA)  # the resent bytes came, and were dropped
    assert names(tmp_path) == ["a.csv"]


async def test_a_body_longer_than_announced_is_never_written(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """20 MB for a file announced at 300 kB: refused on its length, nothing on disk."""
    host.put("big.csv", random.Random(9).randbytes(20_000_000))
    with pytest.raises(cp.DownloadError, match="20000000 bytes, 300000 expected"):
        await fetch(session, host, tmp_path / "big.csv", expected_size=300_000, max_attempts=2)
    assert names(tmp_path) == []


async def test_a_chunked_body_is_cut_at_the_announced_size(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """With no Content-Length, reading stops one byte past the size; nothing of it is kept."""
    host.put("big.csv", DATA + bytes(5_000_000), Behaviour(chunked=True))
    with pytest.raises(cp.DownloadError, match="runs past the 300000 bytes") as caught:
        await fetch(session, host, tmp_path / "big.csv", expected_size=len(DATA), max_attempts=2)
    assert "0 bytes kept" in str(caught.value)
    assert names(tmp_path) == []  # the empty part is not left behind


async def test_a_part_longer_than_announced_is_discarded(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An oversized part of the same version (0.2 left them) is discarded, never trusted."""
    host.put("a.csv", DATA)
    (tmp_path / "a.csv.part").write_bytes(DATA + b"junk")
    (tmp_path / "a.csv.part.version").write_text("v1")
    done = await fetch(session, host, tmp_path / "a.csv", expected_size=len(DATA), version="v1")
    assert done.path.read_bytes() == DATA
    assert [seen.range for seen in host.requests] == [None]
    assert names(tmp_path) == ["a.csv"]


async def test_a_missing_size_is_capped(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """No size from the API nor the host: past max_size the download stops, part discarded."""
    host.put("a.csv", bytes(3_000_000), Behaviour(chunked=True))
    with pytest.raises(cp.DownloadError, match="max_size=1000000"):
        await fetch(session, host, tmp_path / "a.csv", max_size=1_000_000, version="v")
    assert names(tmp_path) == []


async def test_without_any_size_the_end_of_a_chunked_body_is_the_end(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """No size anywhere: a chunked body is taken to its proper end, and its gzip checked."""
    host.put("a.csv.gz", GZ, Behaviour(chunked=True))
    done = await fetch(session, host, tmp_path / "a.csv.gz")
    assert done.path.read_bytes() == GZ and done.size == len(GZ)


async def test_the_hosts_content_length_is_the_size_when_the_api_gives_none(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Without expected_size, a drop is caught by Content-Length and resumed to the total."""
    host.put("a.csv", DATA, Behaviour(drop_after=[150_000]))
    done = await fetch(session, host, tmp_path / "a.csv", version="v")
    assert done.path.read_bytes() == DATA
    assert [seen.range for seen in host.requests] == [None, "bytes=150000-"]


@pytest.mark.parametrize(
    ("every", "read_timeout", "attempts", "why"),
    [
        # the one byte every 2 s: both rules of a try say so, either may come first
        (2.0, 0.3, 2, "no byte for read_timeout=0.3 s|under min_rate"),
        (0.05, 0.5, 3, "under min_rate"),  # within the read timeout: the minimum rate ends it
    ],
)
async def test_a_trickle_times_out(
    host: HostileStorage,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    every: float,
    read_timeout: float,
    attempts: int,
    why: str,
) -> None:
    """A host trickling single bytes: each try is given up on its deadline, then the download."""
    host.put("a.csv", DATA, Behaviour(trickle=every))
    with pytest.raises(cp.DownloadError, match=rf"too slow \(({why})|slower than"):
        await fetch(
            session,
            host,
            tmp_path / "a.csv",
            expected_size=len(DATA),
            read_timeout=read_timeout,
            max_attempts=attempts,
        )
    # every try ended on its own deadline, before the whole download's (attempts x timeout)
    assert len(host.requests) == attempts


async def test_bursts_then_stalls_end_at_the_whole_downloads_deadline(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Each try keeps 100 kB then stalls: progress, yet the average rate ends it."""
    data = random.Random(3).randbytes(5_000_000)
    host.put("a.csv", data, Behaviour(stall_after=[100_000] * 50))
    with pytest.raises(cp.DownloadError, match="slower than 1e\\+06 bytes a second"):
        await fetch(
            session,
            host,
            tmp_path / "a.csv",
            expected_size=len(data),
            read_timeout=0.2,
            max_attempts=2,
            min_rate=1_000_000,
        )
    # more tries than the budget (each made progress), far fewer than the 50 to the end
    assert 3 <= len(host.requests) < 20
    assert PROGRESS < 100_000


async def test_a_gzip_cut_short_is_never_given_the_final_name(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A .csv.gz whose stream is cut (the size matching): each try fails its check."""
    host.put("day.csv.gz", GZ[:-100])
    with pytest.raises(cp.DownloadError, match="content check: the gzip stream is cut short"):
        await fetch(session, host, tmp_path / "day.csv.gz", version="v", max_attempts=3)
    assert len(host.requests) == 3  # every try fetched it whole again: the part was discarded
    assert names(tmp_path) == []


async def test_a_bad_avro_magic_is_refused_and_a_good_one_kept(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An .avro that does not start with Obj\\x01 fails; one that does is kept."""
    host.put("bad.avro", b"PAR1" + DATA)
    host.put("good.avro", b"Obj\x01" + DATA)
    with pytest.raises(cp.DownloadError, match="not an Avro file"):
        await fetch(session, host, tmp_path / "bad.avro", max_attempts=2)
    done = await fetch(session, host, tmp_path / "good.avro")
    assert done.path.read_bytes() == b"Obj\x01" + DATA
    assert names(tmp_path) == ["good.avro"]


async def test_a_check_can_be_turned_off_or_chosen(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """verify=None checks the size only; verify=<factory> applies that check to any name."""
    host.put("bad.avro", b"PAR1" + DATA)
    host.put("data.bin", GZ[:-100])
    assert (await fetch(session, host, tmp_path / "bad.avro", verify=None)).size == len(DATA) + 4
    with pytest.raises(cp.DownloadError, match="cut short"):
        await fetch(session, host, tmp_path / "data.bin", verify=cp._files.GzipStream)


async def test_an_expired_url_is_renewed(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A 403 (link expired) asks renew() for a fresh URL; a link known expired is not tried."""
    host.put("a.csv", DATA)
    renew = Renewer(host, "a.csv")
    stale = host.link("a.csv", -1, say_expiry=False)
    done = await fetch(session, host, tmp_path / "a.csv", link=stale, renew=renew)
    assert done.path.read_bytes() == DATA and renew.calls == 1
    assert host.statuses() == [403, 200]
    renew.calls = 0
    await fetch(session, host, tmp_path / "b.csv", "a.csv", link=host.link("a.csv", 5), renew=renew)
    assert renew.calls == 1 and host.statuses()[2:] == [200]  # renewed before use
    renew.calls = 0
    await fetch(session, host, tmp_path / "c.csv", "a.csv", link=None, renew=renew)
    assert renew.calls == 1  # no link yet: renew() gives the first


async def test_a_url_refused_for_good_ends_within_the_budget(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """403 after every renewal: DownloadError after max_attempts, each with a new link."""
    host.put("a.csv", DATA, Behaviour(statuses=[403] * 10))
    renew = Renewer(host, "a.csv")
    with pytest.raises(cp.DownloadError, match=r"3 tries in a row failed.*status 403"):
        await fetch(session, host, tmp_path / "a.csv", renew=renew, max_attempts=3)
    assert renew.calls == 2 and host.statuses() == [403, 403, 403]


async def test_a_404_is_final_and_shows_no_signature(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A file the host does not have is a DownloadError at once, its URL's sig masked."""
    with pytest.raises(cp.DownloadError, match="answered 404") as caught:
        await fetch(session, host, tmp_path / "gone.csv")
    assert "secret" not in str(caught.value) and "sig=***" in str(caught.value)
    assert len(host.requests) == 1


async def test_no_credentials_of_the_session_reach_the_host(
    host: HostileStorage, tmp_path: Path
) -> None:
    """A session with a default Authorization header or auth is not used for the host."""
    host.put("a.csv", DATA)
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer t0ken"}) as with_header:
        await fetch(with_header, host, tmp_path / "a.csv")
    with warnings.catch_warnings():  # auth= is deprecated in aiohttp 3.14, still in use
        warnings.simplefilter("ignore", DeprecationWarning)
        with_auth = aiohttp.ClientSession(auth=aiohttp.BasicAuth("me", "pw"))
    async with with_auth:
        await fetch(with_auth, host, tmp_path / "b.csv", "a.csv")
    assert host.statuses() == [200, 200]
    assert not any(seen.authorization for seen in host.requests)


async def interrupted(
    session: aiohttp.ClientSession, host: HostileStorage, path: Path, at: int, version: str
) -> None:
    """Start a download that stalls at ``at`` bytes and cancel it there (the part stays)."""
    host.behaviours[path.name].stall_after.append(at)
    task = asyncio.create_task(fetch(session, host, path, version=version))
    part = path.with_name(path.name + ".part")
    while not (part.exists() and part.stat().st_size == at):  # noqa: ASYNC110 (a file)
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_part_of_the_same_version_is_resumed(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An interrupted download of version v1 is continued by the next call for v1."""
    host.put("day.csv.gz", GZ)
    await interrupted(session, host, tmp_path / "day.csv.gz", 200_000, "v1")
    assert names(tmp_path) == ["day.csv.gz.part", "day.csv.gz.part.version"]
    done = await fetch(session, host, tmp_path / "day.csv.gz", version="v1")
    assert done.path.read_bytes() == GZ and done.received == len(GZ) - 200_000
    assert [seen.range for seen in host.requests] == [None, "bytes=200000-"]
    assert names(tmp_path) == ["day.csv.gz"]


async def test_a_stale_part_of_another_version_is_discarded(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A part of v1 is not continued for v2 (nor for an unknown version): fetched whole."""
    host.put("day.csv.gz", GZ)
    await interrupted(session, host, tmp_path / "day.csv.gz", 200_000, "v1")
    host.files["day.csv.gz"] = new = gzip.compress(random.Random(4).randbytes(300_000))
    done = await fetch(session, host, tmp_path / "day.csv.gz", version="v2")
    assert done.path.read_bytes() == new
    assert [seen.range for seen in host.requests] == [None, None]
    await interrupted(session, host, tmp_path / "day.csv.gz", 100_000, "v2")
    await fetch(session, host, tmp_path / "day.csv.gz")  # no version: nothing is continued
    assert [seen.range for seen in host.requests][2:] == [None, None]


async def test_a_whole_part_is_finished_with_a_416(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A part already whole (killed before its rename), size unknown: one 416, no body."""
    host.put("day.csv.gz", GZ)
    (tmp_path / "day.csv.gz.part").write_bytes(GZ)
    (tmp_path / "day.csv.gz.part.version").write_text("v1")
    done = await fetch(session, host, tmp_path / "day.csv.gz", version="v1")
    assert done.path.read_bytes() == GZ and done.received == 0
    assert host.statuses() == [416]
    assert names(tmp_path) == ["day.csv.gz"]


async def test_a_wrong_part_of_the_right_version_is_caught_by_its_content(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A corrupted part resumed under its version fails the gzip check, then comes whole."""
    host.put("day.csv.gz", GZ)
    (tmp_path / "day.csv.gz.part").write_bytes(bytes(200_000))
    (tmp_path / "day.csv.gz.part.version").write_text("v1")
    done = await fetch(session, host, tmp_path / "day.csv.gz", version="v1")
    assert done.path.read_bytes() == GZ
    assert [seen.range for seen in host.requests] == ["bytes=200000-", None]


async def test_a_zero_byte_file_needs_no_request(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An announced size of 0 makes an empty file without asking the host."""
    renew = Renewer(host, "empty.csv")
    done = await fetch(
        session, host, tmp_path / "empty.csv", link=None, renew=renew, expected_size=0
    )
    assert done.path.read_bytes() == b"" and renew.calls == 0 and host.requests == []


async def test_bad_arguments_are_configuration_errors(
    host: HostileStorage, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Budgets and sizes are checked before anything is sent."""
    cases: list[dict[str, Any]] = [
        {"max_attempts": 0},
        {"read_timeout": 0},
        {"min_rate": -1},
        {"expected_size": -1},
        {"max_size": 0},
    ]
    for kwargs in cases:
        with pytest.raises(cp.ConfigurationError):
            await fetch(session, host, tmp_path / "a.csv", **kwargs)
    assert host.requests == []


CHILD = """
import asyncio, sys
from pathlib import Path
import aiohttp
from centrepoint_async._download import Link, download_file

async def main() -> None:
    url, path, version = sys.argv[1:4]
    async def renew() -> Link:
        return Link(url)
    async with aiohttp.ClientSession() as session:
        await download_file(session, Path(path), renew, link=Link(url), version=version)

asyncio.run(main())
"""


async def child(host: HostileStorage, path: Path, version: str) -> asyncio.subprocess.Process:
    """A real process downloading ``path.name`` from ``host`` to ``path``."""
    url = host.link(path.name).url
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, str(path), version
    )


async def killed_mid_download(host: HostileStorage, path: Path, at: int) -> None:
    """Start a child that stalls at ``at`` bytes, and kill -9 it there."""
    host.behaviours[path.name].stall_after.append(at)
    process = await child(host, path, "v1")
    part = path.with_name(path.name + ".part")

    async def part_reaches() -> None:
        while not (part.exists() and part.stat().st_size == at):
            assert process.returncode is None, "the child ended before the kill"
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(part_reaches(), 60)
    finally:
        process.kill()  # SIGKILL: no cleanup of any kind runs in the child
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert names(path.parent) == ["day.csv.gz.part", "day.csv.gz.part.version"]


async def test_a_killed_download_is_resumed_by_the_next_run(
    host: HostileStorage, tmp_path: Path
) -> None:
    """kill -9 mid-download: no final file; a rerun continues the part to a verified file."""
    host.put("day.csv.gz", GZ)
    await killed_mid_download(host, tmp_path / "day.csv.gz", 250_000)
    rerun = await child(host, tmp_path / "day.csv.gz", "v1")
    assert await asyncio.wait_for(rerun.wait(), 60) == 0
    assert (tmp_path / "day.csv.gz").read_bytes() == GZ
    assert [seen.range for seen in host.requests] == [None, "bytes=250000-"]
    assert names(tmp_path) == ["day.csv.gz"]


async def test_a_rerun_after_a_kill_never_trusts_a_wrong_part(
    host: HostileStorage, tmp_path: Path
) -> None:
    """kill -9, then the part is damaged: the rerun's check refuses it and fetches it whole."""
    host.put("day.csv.gz", GZ)
    await killed_mid_download(host, tmp_path / "day.csv.gz", 250_000)
    part = tmp_path / "day.csv.gz.part"
    damaged = bytearray(part.read_bytes())
    damaged[1000:2000] = bytes(1000)
    part.write_bytes(bytes(damaged))
    rerun = await child(host, tmp_path / "day.csv.gz", "v1")
    assert await asyncio.wait_for(rerun.wait(), 60) == 0
    assert (tmp_path / "day.csv.gz").read_bytes() == GZ
    assert [seen.range for seen in host.requests] == [None, "bytes=250000-", None]
    assert names(tmp_path) == ["day.csv.gz"]


async def test_a_download_cancelled_while_its_part_opens_leaves_no_open_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while the part is opened and flushed in a thread: that file is closed."""
    opened: list[IO[bytes]] = []
    started = threading.Event()
    real = dl._open_part

    def slow(*args: Any) -> IO[bytes]:
        started.set()
        time.sleep(0.2)  # an fsync on a busy disk
        handle = real(*args)
        opened.append(handle)
        return handle

    monkeypatch.setattr(dl, "_open_part", slow)
    part = tmp_path / "a.csv.part"
    task = asyncio.create_task(dl._opened(part, tmp_path / "a.csv.part.version", "v", 0))
    await asyncio.to_thread(started.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(opened) == 1 and opened[0].closed
