"""export-analytics on the command line: usage errors before any request, a kill -9 resumed
with nothing lost or repeated, the summary, and pyarrow missing said clearly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from asyncio.subprocess import DEVNULL
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from centrepoint_async.testing import FakeCentrePoint

from .cli_support import InProcess, env_for, run, spawn
from .conftest import STUDY, lines
from .test_export_analytics import by_subject, same_items, served, study, table_rows


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """Run ``main(argv)`` in this process."""
    return InProcess(monkeypatch, capsys)


def args_for(table: str, target: Path | str, *more: str) -> tuple[str, ...]:
    return (
        "export-analytics",
        "--study-id",
        str(STUDY),
        "--table",
        table,
        "-o",
        str(target),
        *more,
    )


async def test_exports_and_sums_up(cli: InProcess, tmp_path: Path) -> None:
    """A study's table to Parquet, then one line saying rows, subjects, pages, 429s; a 429 on
    the way is waited out and counted."""
    target = tmp_path / "minutes.parquet"
    async with FakeCentrePoint(dataset=study(3, days=1)) as fake:
        fake.inject("status", status=429, retry_after=0.05, path="/MinuteSummaries")
        code, _, err = await cli(*args_for("minute-summaries", target), fake=fake)
        expected = served(fake, "minute-summaries")
    total = sum(map(len, expected.values()))
    assert code == 0, err
    pages = len([1 for r in fake.api_requests("/MinuteSummaries") if r.status == 200])
    assert err.startswith(
        f"exported {total:,} rows of minute-summaries of 3 subject(s) in {pages:,} pages to "
        f"{target}: 1 retry, 1 rate limited (429)"
    )
    assert pq.read_table(target).num_rows == total


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (("--table", "minutes"), "invalid choice: 'minutes'"),
        (("--format", "xml"), "invalid choice: 'xml'"),
        (("--from", "yesterday"), "expected a date (YYYY-MM-DD) or an ISO 8601 time"),
        (("--from", "2024-02-01", "--to", "2024-01-01"), "is after to_date"),
        (("--subject", "abc"), "expected a numeric id"),
        (("--concurrency", "0"), "--concurrency must be"),
        (("--resume", "--force"), "not allowed with"),
        (("-o", "{tmp}/m.txt"), "cannot tell the format from 'm.txt'"),
        (("-o", "{tmp}/missing/m.csv"), "not an existing directory"),
    ],
)
async def test_usage_errors_exit_2_before_any_request(
    cli: InProcess, tmp_path: Path, more: tuple[str, ...], message: str
) -> None:
    """Bad options, dates, formats or outputs: an error line saying what, exit 2, no request
    and no file."""
    more = tuple(m.format(tmp=tmp_path) for m in more)
    async with FakeCentrePoint(dataset=study(2)) as fake:
        code, _, err = await cli(
            *args_for("minute-summaries", tmp_path / "m.jsonl"), *more, fake=fake
        )
        assert fake.requests == []
    assert code == 2 and message in err, err
    assert message in err.strip().splitlines()[-1] and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


async def test_an_unknown_subject_exits_1_before_any_row_is_asked(
    cli: InProcess, tmp_path: Path
) -> None:
    """--subject naming a subject the study does not have: exit 1 naming it, nothing asked of
    the table, nothing left behind."""
    async with FakeCentrePoint(dataset=study(2)) as fake:
        code, _, err = await cli(
            *args_for("daily-statistics", tmp_path / "d.csv", "--subject", "4242"), fake=fake
        )
        assert fake.api_requests("/DailyStatistics") == []
    assert code == 1 and f"study {STUDY} has no subject 4242" in err
    assert list(tmp_path.iterdir()) == []


def saved_items(target: Path) -> int:
    """Rows the checkpoint of ``target`` vouches for (0 while there is none)."""
    try:
        saved = orjson.loads(Path(f"{target}.checkpoint").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return 0
    return sum(s["items"] for s in saved["subjects"].values())


async def kill_after_a_save(
    process: asyncio.subprocess.Process, fake: FakeCentrePoint, target: Path, pages: int
) -> None:
    """SIGKILL ``process`` ``pages`` minute summary pages after its checkpoint next grew (so
    the part holds rows the checkpoint does not vouch for yet)."""
    before = saved_items(target)
    for _ in range(6000):  # a loaded machine may take seconds to start a process
        if saved_items(target) > before or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    goal = len(fake.api_requests("/MinuteSummaries")) + pages
    for _ in range(3000):
        if len(fake.api_requests("/MinuteSummaries")) >= goal or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
async def test_killed_again_and_again_resumes_with_nothing_lost_or_repeated(
    tmp_path: Path, fmt: str
) -> None:
    """SIGKILLs at several moments of a study-wide export (each after a checkpoint, with rows
    written past it), each followed by --resume: the output holds every item of every subject
    exactly once, and only it is left."""
    target = tmp_path / f"minutes.{fmt}"
    # 116 pages at 0.1 s each, two at a time: about 6 s of fetching, so each run after a kill
    # still saves (every second) before it could finish.
    async with FakeCentrePoint(dataset=study(4, days=2), latency=0.1, rate_limit=None) as fake:
        args = args_for("minute-summaries", target, "--concurrency", "2")
        process = await spawn(*args, env=env_for(fake), output=DEVNULL)
        for pages in (3, 7, 5):
            await kill_after_a_save(process, fake, target, pages)
            assert process.returncode == -signal.SIGKILL
            assert not target.exists() and saved_items(target) > 0
            process = await spawn(*args, "--resume", env=env_for(fake), output=DEVNULL)
        assert await asyncio.wait_for(process.wait(), 120) == 0
        expected = served(fake, "minute-summaries")
    if fmt == "jsonl":
        assert same_items(by_subject(lines(target)), expected)
    else:
        rows = table_rows(target)
        assert len(rows) == sum(map(len, expected.values()))
        keys = {(r["subject_id"], r["timestamp_utc"].isoformat()) for r in rows}
        assert len(keys) == len(rows)  # none twice
        assert keys == {
            (s, item["timestampUtc"]) for s, items in expected.items() for item in items
        }
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


NO_PYARROW = """
import asyncio, importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("no pyarrow here")

for name in [n for n in sys.modules if n == "pyarrow" or n.startswith("pyarrow.")]:
    del sys.modules[name]
sys.meta_path.insert(0, Refuse())

import centrepoint_async as cp
from centrepoint_async.cli import main
from centrepoint_async.testing import FakeCentrePoint

async def library(output):
    async with FakeCentrePoint() as fake:
        async with fake.client() as client:
            try:
                await cp.export_analytics(client, 100, "minute-summaries", output)
            except cp.ConfigurationError as exc:
                print("library:", exc)
        print("requests:", len(fake.requests))
        return fake.env()

env = asyncio.run(library(sys.argv[1] + "/a.parquet"))
import os
os.environ.update(env)
code = main(["export-analytics", "--study-id", "100", "--table", "sleep-periods",
             "-o", sys.argv[1] + "/b.jsonl", "--format", "parquet"])
print("exit:", code)
print("files:", os.listdir(sys.argv[1]))
"""


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    """Where pyarrow cannot be imported the package still imports; a Parquet export is a
    ConfigurationError naming the extra, before any request, and the command exits 2."""
    done = subprocess.run(
        [sys.executable, "-c", NO_PYARROW, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    extra = "pip install 'centrepoint-async[parquet]'"
    assert done.stdout.splitlines() == [
        f"library: format 'parquet' needs pyarrow, which is not installed: {extra}",
        "requests: 0",
        "exit: 2",
        "files: []",
    ]
    assert f"error: format 'parquet' needs pyarrow, which is not installed: {extra}" in done.stderr


async def test_a_finished_export_resumed_says_so_and_exits_0(
    cli: InProcess, tmp_path: Path
) -> None:
    """--resume of a complete export: 'nothing to resume', exit 0 (for cron); without it the
    existing FILE is refused (exit 2, saying what to do)."""
    target = tmp_path / "e.csv"
    async with FakeCentrePoint(dataset=study(3)) as fake:
        assert (await cli(*args_for("event-markers", target), fake=fake))[0] == 0
        code, _, err = await cli(*args_for("event-markers", target, "--resume"), fake=fake)
        assert (code, err) == (
            0,
            f"centrepoint-async: {target} is complete; there is nothing to resume\n",
        )
        code, _, err = await cli(*args_for("event-markers", target), fake=fake)
        assert code == 2 and "--resume continues it, --force starts over" in err
        code, _, err = await run(*args_for("event-markers", target, "--force", "-q"), fake=fake)
        assert (code, err) == (0, "")
