"""11. The study on disk: ``mirror_study`` against what labs write today, and against the floor.

- **Requests**: API requests a mirror sends per listed file, against the minimum any client
  needs (the subject pages, and one listing request per 100 files of each subject and
  category), for a week of data per subject and for a year. Goal <= 1.1x.
- **Throughput** of a ~1 GB mirror (32 MB day files) against a plain aiohttp streaming copy of
  the same URLs at the same concurrency (8), in the same run, interleaved rounds, the median of
  the rounds' ratios; and this process's CPU per GB. Goal >= 0.9x.
- **Memory**: peak RSS growth of the process while it mirrors the ~1 GB study. Goal < 50 MB.
- **A rerun** on the unchanged study: bytes downloaded (goal 0) and the requests it sends.
- **Against what labs write today** (a sequential loop: list subjects, list each subject's
  files, download each whole into memory, then write it; the first page of each listing only,
  as the scripts in the data notes do): the same study, wall time and files obtained.
- **The content check** of a ``.csv.gz``: CPU per GB of a real gzip file, and per GB of the
  fake's day files (whose DEFLATE blocks are *stored*: real sizes, but none of real gzip's
  inflating work).

The fake (API and storage host) runs in a process of its own, with 100 ms of latency on each
API answer where the lab comparison is made (the real API's order of magnitude); the copies are
written to a RAM disk where there is one, as in the download benchmark.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import attrs

import centrepoint_async as cp
from centrepoint_async._files import GzipStream
from centrepoint_async.testing import Dataset, FakeCentrePoint

from ._common import rss_peak_growth, table
from .bench_download import gzip_check_cost

STUDY = 100  # records raw-accelerometer, temperature and imu
RAW, TEMP = "raw-accelerometer", "temperature"
MB = 1_000_000
ROUNDS = 5
CONCURRENCY = 8


async def _serve(subjects: int, days: int, size: int, latency: float, link: Link) -> None:
    """The fake with this study shape, until stdin closes (run in a child process)."""
    data = Dataset.generate(
        0,
        studies=1,
        webhooks_per_study=1,
        deliveries=1,
        subjects_per_study=subjects,
        include_seed_example=False,
        days=days,
        day_file_size=size,
    )
    async with FakeCentrePoint(dataset=data, latency=latency) as fake:
        fake.blobs.link_rate, fake.blobs.first_byte_delay = link.rate or None, link.first_byte
        for name, value in fake.env().items():
            print(f"export {name}={value}", flush=True)
        await asyncio.to_thread(sys.stdin.read)


@attrs.frozen
class Link:
    """The storage host's link: bytes a second per download (0: loopback's own speed), and
    the wait before a download's first byte."""

    rate: float = 0.0
    first_byte: float = 0.0


#: A storage host across a network, as labs reach cloud storage: 4 MB/s a connection (32 MB/s,
#: 256 Mbit/s, at concurrency 8) and 30 ms before the first byte.
NETWORK = Link(rate=4e6, first_byte=0.03)


@asynccontextmanager
async def fake_study(
    subjects: int, days: int, size: int, latency: float = 0.0, link: Link = Link()
) -> AsyncIterator[dict[str, str]]:
    """A fake serving one study of this shape from another process: its environment."""
    args = [str(subjects), str(days), str(size), str(latency), str(link.rate), str(link.first_byte)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_mirror", "serve", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        env: dict[str, str] = {}
        while not env.keys() >= set(FakeCentrePoint.ENV_NAMES):
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            if not line:
                raise RuntimeError("the fake exited before printing its address")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value
        yield env
    finally:
        process.stdin.close()
        await process.wait()


class Counted:
    """A client of the fake whose API requests (token requests apart) are counted."""

    def __init__(self, env: dict[str, str]) -> None:
        self.requests = 0
        self.client = cp.CentrePointClient(
            env["CENTREPOINT_CLIENT_ID"],
            env["CENTREPOINT_CLIENT_SECRET"],
            base_url=env["CENTREPOINT_BASE_URL"],
            auth_url=env["CENTREPOINT_AUTH_URL"],
            event_hooks={"request": [self._count]},
        )

    async def _count(self, event: cp.HookEvent) -> None:
        if "/connect/token" not in event.url:
            self.requests += 1


def _folder_counts(root: Path) -> list[int]:
    """Files in each category folder of a mirror (its record and parts left out)."""
    return [
        sum(1 for p in folder.iterdir() if not p.name.startswith(".") and ".part" not in p.name)
        for folder in root.glob("subject-*/*")
        if folder.is_dir()
    ]


def minimum_requests(subjects: int, per_folder: list[int]) -> int:
    """Subject pages, and one listing request per 100 files of each subject and category."""
    return math.ceil(subjects / 100) + sum(max(1, math.ceil(n / 100)) for n in per_folder)


async def requests_per_file(subjects: int, days: int, category: str) -> dict[str, float]:
    """A mirror's API requests against the minimum, for one study shape."""
    folder = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    try:
        async with fake_study(subjects, days, 4096) as env:
            counted = Counted(env)
            async with counted.client as client:
                result = await cp.mirror_study(
                    client, STUDY, folder, categories=[category], concurrency=CONCURRENCY
                )
        floor = minimum_requests(subjects, _folder_counts(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert not result.failed
    assert result.files_downloaded == subjects * days
    return {
        "files": result.files_listed,
        "requests": counted.requests,
        "minimum": floor,
        "ratio": counted.requests / floor,
    }


async def lab_loop(env: dict[str, str], target: Path) -> int:
    """What lab scripts do: sequential, first page of each listing, whole bodies in memory."""
    base = env["CENTREPOINT_BASE_URL"]
    form = {
        "client_id": env["CENTREPOINT_CLIENT_ID"],
        "client_secret": env["CENTREPOINT_CLIENT_SECRET"],
        "grant_type": "client_credentials",
        "scope": "CentrePoint DataAccess",
    }
    files = 0
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{env['CENTREPOINT_AUTH_URL']}/connect/token", data=form) as r:
            headers = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        url = f"{base}/centrepoint/v3/Studies/{STUDY}/Subjects?limit=100&offset=0"
        async with session.get(url, headers=headers) as r:
            subjects = (await r.json())["items"]
        for subject in subjects:
            listing = (
                f"{base}/dataaccess/v3/files/studies/{STUDY}/subjects/{subject['id']}/{TEMP}"
                "?fileFormat=csv&limit=100&offset=0"
            )
            async with session.get(listing, headers=headers) as r:
                items = (await r.json())["items"]
            for item in items:
                async with session.get(item["downloadUrl"]) as r:
                    body = await r.read()
                (target / f"{subject['id']}_{item['fileName']}").write_bytes(body)
                files += 1
    return files


async def against_labs() -> dict[str, float]:
    """The lab loop and the mirror on one study of 150 subjects, a week each, 100 ms API.

    Temperature files: the fake makes raw-accelerometer files at a CPU cost of its own that
    would hide the clients' difference (a real storage host has no such cost).
    """
    folder = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    try:
        async with fake_study(150, 7, 64 * 1024, latency=0.1) as env:
            (folder / "lab").mkdir()
            started = time.perf_counter()
            lab_files = await lab_loop(env, folder / "lab")
            lab_time = time.perf_counter() - started
            async with Counted(env).client as client:
                started = time.perf_counter()
                result = await cp.mirror_study(client, STUDY, folder / "mirror", categories=[TEMP])
                mirror_time = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "lab_files": lab_files,
        "lab_s": lab_time,
        "mirror_files": result.files_downloaded,
        "mirror_s": mirror_time,
    }


def _fast_folder() -> Path:
    ram = Path("/dev/shm")  # noqa: S108 (a RAM disk, when the system has one)
    return Path(tempfile.mkdtemp(prefix="bench-mirror-", dir=ram if ram.is_dir() else None))


async def plain_copy(urls: list[tuple[str, Path]], concurrency: int) -> int:
    """A plain aiohttp streaming copy of ``urls``, ``concurrency`` at a time; bytes written."""
    slots = asyncio.Semaphore(concurrency)
    written = 0

    async def one(session: aiohttp.ClientSession, url: str, path: Path) -> None:
        nonlocal written
        async with slots, session.get(url) as response:
            response.raise_for_status()
            with path.open("wb") as out:
                async for chunk in response.content.iter_any():
                    out.write(chunk)
                    written += len(chunk)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, url, path) for url, path in urls))
    return written


async def _urls(client: cp.CentrePointClient, target: Path) -> list[tuple[str, Path]]:
    """Every day file of the study: its (fresh) URL, and a path in ``target``."""
    found = []
    async for subject in client.subjects.list(STUDY):
        async for item in client.data_access.files(STUDY, subject.id, RAW, file_format="csv"):
            assert item.download_url is not None
            found.append((item.download_url, target / f"{subject.id}-{item.file_name}"))
    return found


async def throughput() -> dict[str, Any]:
    """~1 GB: memory growth of the first mirror, a rerun, then interleaved timed rounds."""
    fast = _fast_folder()
    out: dict[str, Any] = {}
    try:
        async with fake_study(8, 4, 32 * 2**20) as env:
            counted = Counted(env)
            async with counted.client as client:
                await client.studies.get(STUDY)  # connection, token, imports: not measured
                gc.collect()
                first, growth = await rss_peak_growth(
                    cp.mirror_study(client, STUDY, fast / "m", concurrency=CONCURRENCY)
                )
                out |= {"growth_mb": growth / MB, "bytes": first.bytes_downloaded}
                before = counted.requests
                again = await cp.mirror_study(client, STUDY, fast / "m")
                out |= {"rerun_bytes": again.bytes_downloaded, "rerun_files": again.files_skipped}
                out["rerun_requests"] = counted.requests - before
                out |= await _rounds(client, fast)
    finally:
        shutil.rmtree(fast, ignore_errors=True)
    return out


async def across_a_network() -> dict[str, float]:
    """The timed rounds again, the storage host behind :data:`NETWORK` (128 MB of 8 MB files)."""
    fast = _fast_folder()
    try:
        async with (
            fake_study(8, 2, 8 * 2**20, link=NETWORK) as env,
            Counted(env).client as client,
        ):
            await client.studies.get(STUDY)
            return await _rounds(client, fast)
    finally:
        shutil.rmtree(fast, ignore_errors=True)


async def _rounds(client: cp.CentrePointClient, fast: Path) -> dict[str, float]:
    """Timed pairs (mirror from scratch, plain copy), interleaved; medians and CPU per GB."""
    times: dict[str, list[float]] = {"mirror": [], "plain": []}
    cpu: dict[str, list[float]] = {"mirror": [], "plain": []}
    size = 0
    for round_ in range(ROUNDS):
        for name in ("mirror", "plain") if round_ % 2 == 0 else ("plain", "mirror"):
            shutil.rmtree(fast / name, ignore_errors=True)
            (fast / name).mkdir()
            urls = await _urls(client, fast / name) if name == "plain" else []
            started, used = time.perf_counter(), time.process_time()
            if name == "mirror":
                result = await cp.mirror_study(client, STUDY, fast / name, concurrency=CONCURRENCY)
                size = result.bytes_downloaded
            else:
                size = await plain_copy(urls, CONCURRENCY)
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - used)
            shutil.rmtree(fast / name)
    ratios = [p / m for m, p in zip(times["mirror"], times["plain"], strict=True)]
    gb = size / 1e9
    return {
        "mirror_mb_s": size / MB / statistics.median(times["mirror"]),
        "plain_mb_s": size / MB / statistics.median(times["plain"]),
        "ratio": statistics.median(ratios),
        "mirror_cpu_s_gb": statistics.median(cpu["mirror"]) / gb,
        "plain_cpu_s_gb": statistics.median(cpu["plain"]) / gb,
    }


def stored_check_cost() -> float:
    """CPU seconds per GB that the gzip check takes on the fake's (stored-deflate) files."""
    data = Dataset.generate(
        0, studies=1, webhooks_per_study=1, deliveries=1, subjects_per_study=1, days=1,
        day_file_size=64 * 2**20, include_seed_example=False,
    )  # fmt: skip
    subject = data.subjects[STUDY][0]["id"]
    chunks = list(data.day_file(STUDY, subject, RAW, data.span(subject).start).chunks())
    used = time.process_time()
    check = GzipStream()
    for chunk in chunks:
        check.feed(chunk)
    check.finish()
    return (time.process_time() - used) * 1e9 / sum(map(len, chunks))


async def main() -> None:
    week = await requests_per_file(150, 7, RAW)
    year = await requests_per_file(20, 365, TEMP)
    labs = await against_labs()
    network = await across_a_network()
    speed = await throughput()
    real_check = gzip_check_cost()
    fake_check = stored_check_cost()
    table(
        "11. The study on disk (mirror_study; fake in its own process, concurrency 8)",
        [
            (
                "API requests, 150 subjects x a week",
                f"{week['requests']:.0f} for {week['files']:.0f} files, minimum "
                f"{week['minimum']:.0f}: {week['ratio']:.2f}x (goal <= 1.1x)",
            ),
            (
                "API requests, 20 subjects x a year",
                f"{year['requests']:.0f} for {year['files']:.0f} files, minimum "
                f"{year['minimum']:.0f}: {year['ratio']:.2f}x (goal <= 1.1x)",
            ),
            (
                "across a network (4 MB/s a download, 30 ms): plain aiohttp copy, 134 MB",
                f"{network['plain_mb_s']:.1f} MB/s, {network['plain_cpu_s_gb']:.2f} CPU s/GB",
            ),
            (
                "mirror_study, same files",
                f"{network['mirror_mb_s']:.1f} MB/s, {network['mirror_cpu_s_gb']:.2f} CPU s/GB  "
                f"({network['ratio']:.2f}x the plain copy, median of {ROUNDS} rounds; "
                "goal >= 0.9x)",
            ),
            (
                f"on loopback: plain aiohttp copy, {speed['bytes'] / 1e9:.2f} GB",
                f"{speed['plain_mb_s']:.0f} MB/s, {speed['plain_cpu_s_gb']:.2f} CPU s/GB",
            ),
            (
                "mirror_study, same files",
                f"{speed['mirror_mb_s']:.0f} MB/s, {speed['mirror_cpu_s_gb']:.2f} CPU s/GB  "
                f"({speed['ratio']:.2f}x the plain copy, median of {ROUNDS} rounds; goal >= 0.9x)",
            ),
            ("peak RSS growth, first mirror", f"{speed['growth_mb']:.1f} MB (goal < 50 MB)"),
            (
                "rerun, unchanged study",
                f"{speed['rerun_bytes']} bytes, {speed['rerun_files']} files unchanged, "
                f"{speed['rerun_requests']} listing requests (goal 0 bytes)",
            ),
            (
                "lab loop (sequential, first page; temperature)",
                f"{labs['lab_files']:.0f} files in {labs['lab_s']:.1f} s",
            ),
            (
                "mirror_study, same study",
                f"{labs['mirror_files']:.0f} files in {labs['mirror_s']:.1f} s  "
                f"({labs['lab_s'] / labs['mirror_s']:.1f}x faster, "
                f"{labs['mirror_files'] - labs['lab_files']:.0f} files the loop never saw)",
            ),
            (
                ".csv.gz check, real gzip (not the fake's)",
                f"{real_check['check_cpu_s_gb']:.1f} CPU s per GB of gzip file",
            ),
            (
                ".csv.gz check, the fake's stored blocks",
                f"{fake_check:.2f} CPU s per GB (in the mirror figures above)",
            ),
        ],
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        subjects, days, size = (int(a) for a in sys.argv[2:5])
        latency, rate, first_byte = (float(a) for a in sys.argv[5:8])
        asyncio.run(_serve(subjects, days, size, latency, Link(rate, first_byte)))
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        asyncio.run(main())
