"""11. Analytics as tables: a study-wide minute summary export against the API's ceiling, and
the memory of a Parquet export as the table grows.

Ceiling: the fake (in a process of its own) enforces 500 requests a sliding window and answers
after a realistic latency, 150 ms on average (120 ms plus up to 60 ms of jitter). Time runs
:data:`SCALE` times faster than the real API's so that the run takes under two minutes: the
window is 60 s / SCALE, the latency 150 ms / SCALE, and the client's
``RateLimit(500, period=60 / SCALE)`` matches the window. The share of the ceiling used is the
server's count of answered requests in each whole window from the first request, over 500 a
window. Goal: >= 95% of the ceiling, zero 429s.

Memory: peak RSS growth of a fresh process exporting a study's minute summaries to Parquet
(fetch, then the table written in row groups), at two sizes (72,000 and 288,000 rows, one
row group and four and a half); the fake runs in its own process
(no limit, no latency) so that only the exporting process is measured. Baseline at the small
size: the rows collected in a list and made a table at once (``pyarrow.Table.from_pylist``),
as scripts do. Goal: the growth flat in the number of rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

import centrepoint_async as cp
from centrepoint_async import _endpoints
from centrepoint_async.testing import Dataset, FakeCentrePoint, FakeServerProcess

from ._common import STUDY, rss_peak_growth, table

SCALE = 3  # time runs three times faster than the API's: a 20 s window
PERIOD = 60.0 / SCALE
LIMIT = 500
LATENCY, JITTER = 0.120 / SCALE, 0.060 / SCALE  # 150 ms on average, in real time
SUBJECTS, DAYS = 20, 9  # 259,200 minutes in about 2,640 pages: some 5.5 windows
MB = 1024 * 1024


# --- the fake, in a process of its own --------------------------------------------------------


async def serve(subjects: int, days: int, limited: bool, record: str) -> None:
    """Serve a study of ``subjects`` x ``days`` until SIGTERM; then write what it answered
    (time, status) to ``record``."""
    dataset = Dataset.generate(
        0,
        studies=1,
        webhooks_per_study=0,
        subjects_per_study=subjects,
        days=days,
        include_seed_example=False,
    )
    fake = FakeCentrePoint(
        dataset=dataset,
        rate_limit=LIMIT if limited else None,
        rate_period=PERIOD,
        latency=LATENCY if limited else 0.0,
        latency_jitter=JITTER if limited else 0.0,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with fake:
        for name, value in fake.env().items():
            print(f"export {name}={value}", flush=True)
        await stop.wait()
        answered = [(r.at, r.status) for r in fake.api_requests()]
    await asyncio.to_thread(Path(record).write_bytes, orjson.dumps(answered))


@contextlib.asynccontextmanager
async def fake_process(
    subjects: int, days: int, *, limited: bool, record: Path
) -> AsyncIterator[FakeServerProcess]:
    """The fake of :func:`serve` in a process of its own, for the block."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_analytics",
        "serve",
        str(subjects),
        str(days),
        "limited" if limited else "free",
        str(record),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        env: dict[str, str] = {}
        while not env.keys() >= set(FakeCentrePoint.ENV_NAMES):
            line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
            if not line:
                raise RuntimeError("the fake exited before saying where it listens")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value
        yield FakeServerProcess(env)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


# --- the ceiling -------------------------------------------------------------------------------


def windows(times: list[float]) -> list[int]:
    """Answered requests in each whole window of PERIOD seconds from the first request."""
    start = min(times)
    counts = [0] * int((max(times) - start) // PERIOD)
    for t in times:
        k = int((t - start) // PERIOD)
        if k < len(counts):
            counts[k] += 1
    return counts


async def ceiling() -> dict[str, float]:
    """The study-wide export under the scaled ceiling: share used, 429s, rows, time."""
    with tempfile.TemporaryDirectory() as directory:
        record = Path(directory) / "answered.json"
        async with fake_process(SUBJECTS, DAYS, limited=True, record=record) as server:
            limit = cp.RateLimit(LIMIT, PERIOD)
            async with server.client(rate_limit=limit) as client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                result = await cp.export_analytics(
                    client, STUDY, "minute-summaries", Path(directory) / "minutes.jsonl"
                )
                elapsed = loop.time() - started
        answered = orjson.loads(record.read_bytes())
    times = [at for at, status in answered if status != 429]
    counts = windows(times)
    return {
        "share": sum(counts) / (len(counts) * LIMIT),
        "limited": sum(status == 429 for _, status in answered),
        "busiest": max(counts),
        "windows": len(counts),
        "rows": result.total_items,
        "pages": result.pages,
        "real_minutes": elapsed * SCALE / 60,
    }


# --- memory ---------------------------------------------------------------------------------


async def growth(days: int, *, collect_first: bool = False) -> tuple[float, int]:
    """Peak RSS growth (MB) of this process exporting 5 subjects x ``days`` to Parquet, and
    the rows; ``collect_first``: the baseline (every row in a list, then one table)."""
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "minutes.parquet"
        record = Path(directory) / "answered.json"
        async with (
            fake_process(5, days, limited=False, record=record) as server,
            server.client(rate_limit=None) as client,
        ):
            await client.subjects.list(STUDY).collect()  # connection, token, imports
            importlib.import_module("pyarrow.parquet")  # loaded by both ways alike: not counted
            gc.collect()

            async def export() -> int:
                if collect_first:
                    return await _collect_then_write(client, target)
                result = await cp.export_analytics(client, STUDY, "minute-summaries", target)
                return result.total_items

            rows, grown = await rss_peak_growth(export())
    return grown / MB, rows


async def _collect_then_write(client: cp.CentrePointClient, target: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    async for subject in client.subjects.list(STUDY):
        pager = _endpoints.MINUTE_SUMMARIES.pager(client, STUDY, subject.id, paging={}, raw=True)
        rows += await pager.collect()
    pq.write_table(pa.Table.from_pylist(rows), target)
    return len(rows)


async def measure(days: int, *, collect_first: bool = False) -> tuple[float, int]:
    """:func:`growth` in a fresh process: memory an earlier run left behind never counts."""
    args = ["rss", str(days), *(["--collect"] if collect_first else [])]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_analytics", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    grown, rows = out.decode().split()
    return float(grown), int(rows)


async def main() -> dict[str, float]:
    found = await ceiling()
    small, small_rows = await measure(10)
    large, large_rows = await measure(40)
    naive, _ = await measure(10, collect_first=True)
    table(
        f"11. analytics as tables (time {SCALE}x faster than the API: {PERIOD:.0f} s windows, "
        f"{LATENCY * 1000:.0f}-{(LATENCY + JITTER) * 1000:.0f} ms latency)",
        [
            (
                f"minute summaries, {SUBJECTS} subjects x {DAYS} days",
                f"{found['rows']:,.0f} rows, {found['pages']:,.0f} pages, "
                f"{found['real_minutes']:.1f} min in real time",
            ),
            (
                "share of the ceiling used",
                f"{found['share']:.1%} over {found['windows']:.0f} whole windows, "
                f"busiest {found['busiest']:.0f}, {found['limited']:.0f} x 429",
            ),
            ("goal", ">= 95% of the ceiling, 0 x 429"),
            (f"Parquet export, {small_rows:,} rows", f"{small:.1f} MB peak RSS growth"),
            (f"Parquet export, {large_rows:,} rows", f"{large:.1f} MB peak RSS growth"),
            (f"{large_rows / small_rows:.0f}x the rows cost", f"{large - small:+.1f} MB"),
            (f"baseline: collect, then one table, {small_rows:,}", f"{naive:.1f} MB"),
            ("goal", "growth flat in the number of rows"),
        ],
    )
    return {"share": found["share"], "rate_limited": found["limited"], "growth_mb": large}


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        subjects, days, mode, record = sys.argv[2:6]
        asyncio.run(serve(int(subjects), int(days), mode == "limited", record))
    elif sys.argv[1:2] == ["rss"]:
        grown, rows = asyncio.run(growth(int(sys.argv[2]), collect_first="--collect" in sys.argv))
        print(grown, rows)
    else:
        asyncio.run(main())
