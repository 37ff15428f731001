"""``centrepoint-async sync`` in this process and in real ones: usage, summary, dry run, the bar,
kill -9 at any moment, two shards at once on one directory, one Redis limiter for many hosts."""

from __future__ import annotations

import asyncio
import io
import os
import random
import re
import signal
import subprocess
import sys
from asyncio.subprocess import DEVNULL, PIPE, Process
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs installed

import centrepoint_async as cp
from centrepoint_async.cli._demo_sync import demo_sync
from centrepoint_async.cli._sync import SyncDisplay, human_bytes
from centrepoint_async.testing import FakeCentrePoint, RedisServerProcess
from centrepoint_async.testing import _access as fake_access

from .cli_support import InProcess, env_for, run, spawn, wait_until
from .mirror_support import (
    STUDY,
    expected,
    mirrored,
    no_backoff,  # noqa: F401 (autouse: no backoff here)
    small_study,
)

ROOT = Path(__file__).parent.parent
RAW, TEMP = "raw-accelerometer", "temperature"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """The command line in this process (its own event loop, in a thread)."""
    return InProcess(monkeypatch, capsys)


def sync(root: Path, *more: str) -> tuple[str, ...]:
    return ("sync", "--study-id", str(STUDY), "-o", str(root), *more)


def mirror_path(blob_path: str) -> str:
    """The place in the mirror of a day file the storage host served at ``blob_path``."""
    found = re.fullmatch(r"/study-\d+/subject-(\d+)/([a-z0-9-]+)/\d+/\d+/\d+/([^/]+)", blob_path)
    assert found is not None, blob_path
    return f"subject-{int(found[1])}/{found[2]}/{found[3]}"


def fetched(fake: FakeCentrePoint, since: int = 0) -> list[str]:
    """Mirror paths of the day files the storage host was asked for (GET) after ``since``."""
    return [mirror_path(r.path) for r in fake.blob_requests[since:] if r.method == "GET"]


# --- usage, summary, exit statuses (in this process) -------------------------------------------


async def test_usage_errors_exit_2_before_any_request(cli: InProcess, tmp_path: Path) -> None:
    """Bad shard, category, format, range, concurrency, a file as DIR: exit 2, nothing sent."""
    target = tmp_path / "file"
    target.write_text("")
    async with FakeCentrePoint(dataset=small_study()) as fake:
        bad = [
            ("--shard", "2/2"),
            ("--shard", "1"),
            ("--shard", "a/b"),
            ("--category", "Raw Accelerometer"),
            ("--format", "gt3x"),
            ("--start", "2024-02-02", "--end", "2024-02-01"),
            ("--start", "yesterday"),
            ("--concurrency", "0"),
            ("--concurrency", "65"),
            ("--subject", "x"),
        ]
        for more in bad:
            code, _, err = await cli(*sync(tmp_path / "m", *more), fake=fake)
            assert code == 2, (more, err)
        code, _, err = await cli("sync", "--study-id", "100", "-o", str(target), fake=fake)
        assert code == 2 and "not a directory" in err
        assert fake.requests == []
    code, _, err = await cli(*sync(tmp_path / "m"))  # no credentials
    assert code == 2 and "CENTREPOINT_CLIENT_ID" in err


async def test_a_sync_and_its_rerun_say_what_was_fetched_and_what_was_unchanged(
    cli: InProcess, tmp_path: Path
) -> None:
    """Exit 0; the summary names files fetched (bytes), unchanged and failed; the rerun
    fetches nothing."""
    root = tmp_path / "m"
    async with FakeCentrePoint(dataset=small_study()) as fake:
        code, out, err = await cli(*sync(root, "--category", RAW, "--category", TEMP), fake=fake)
        assert code == 0, err
        assert mirrored(root) == expected(fake, [RAW, TEMP])
        n = len(expected(fake, [RAW, TEMP]))
        assert f"4 subject(s), {n} file(s) listed: {n} fetched (" in err
        assert "0 unchanged, 0 failed" in err and out == ""
        code, _, err = await cli(*sync(root, "--category", RAW, "--category", TEMP), fake=fake)
        assert code == 0 and f"0 fetched (0 B), {n} unchanged, 0 failed" in err


async def test_failed_files_exit_1_and_are_named_even_when_quiet(
    cli: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with an unsafe name: exit 1, the file and the reason on stderr with -q; the
    other files are in place."""
    async with FakeCentrePoint(dataset=small_study()) as fake:
        subject = fake.dataset.subjects[STUDY][0]["id"]
        day = fake.dataset.span(subject).start
        original = fake_access.file_name

        def file_name(dataset: Any, subject_id: int, category: str, value: date, fmt: str) -> str:
            name = original(dataset, subject_id, category, value, fmt)
            return "../up.csv.gz" if (subject_id, value) == (subject, day) else name

        monkeypatch.setattr(fake_access, "file_name", file_name)
        code, out, err = await cli(*sync(tmp_path / "m", "-q"), fake=fake)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"centrepoint-async: failed: subject-{subject}/{RAW}/'../up.csv.gz': unsafe file name "
        "from the server: '../up.csv.gz' (a path separator)"
    ]
    assert len(mirrored(tmp_path / "m")) == len(expected(fake, [RAW])) - 1


async def test_dry_run_lists_what_would_be_fetched_and_writes_nothing(
    cli: InProcess, tmp_path: Path
) -> None:
    """--dry-run: each file to fetch on stdout (path, size from the storage host, new or
    changed), counts and bytes on stderr; no download, and DIR is not even created."""
    root = tmp_path / "m"
    async with FakeCentrePoint(dataset=small_study()) as fake:
        subject = fake.dataset.subjects[STUDY][0]["id"]
        await cli(*sync(root, "--subject", str(subject)), fake=fake)  # one subject in place
        day = fake.dataset.span(subject).start
        fake.dataset.bump_day(STUDY, subject, RAW, day)
        blobs = len(fake.blob_requests)
        code, out, err = await cli(*sync(tmp_path / "m", "--dry-run"), fake=fake)
        assert code == 0, err
        want = expected(fake, [RAW])
        rows = [line.split("\t") for line in out.splitlines()]
        on_disk = set(mirrored(root))
        assert {Path(p).relative_to(root).as_posix() for p, _, _ in rows} == (
            set(want) - on_disk
            | {p for p in want if p.startswith(f"subject-{subject}/") and str(day) in p}
        )
        sizes = {Path(p).relative_to(root).as_posix(): int(size) for p, size, _ in rows}
        assert all(size == len(want[path]) for path, size in sizes.items())
        assert sorted(reason for _, _, reason in rows).count("changed") == 1
        total = human_bytes(sum(sizes.values()))
        assert f"{len(rows)} to fetch ({len(rows) - 1} new, 1 changed; {total})" in err
        assert "nothing fetched or written" in err
        assert all(r.method == "HEAD" for r in fake.blob_requests[blobs:])
        assert set(mirrored(root)) == on_disk


async def test_dry_run_of_a_new_directory_does_not_create_it(
    cli: InProcess, tmp_path: Path
) -> None:
    """--dry-run into a directory that does not exist yet: listed, and still no directory."""
    async with FakeCentrePoint(dataset=small_study()) as fake:
        code, out, _ = await cli(*sync(tmp_path / "new" / "m", "--dry-run", "-q"), fake=fake)
    assert code == 0 and len(out.splitlines()) == len(expected(fake, [RAW]))
    assert not (tmp_path / "new").exists()


# --- the progress display ------------------------------------------------------------------


def last_line(stream: io.StringIO) -> str:
    text = stream.getvalue().replace("\n", "\r")
    return next(part for part in reversed(text.split("\r")) if part.strip()).rstrip()


async def test_the_bar_shows_files_bytes_rate_eta_and_why_it_waits() -> None:
    """Files done of those listed, bytes (of about how many), the byte rate, an ETA from the
    files fetched (files found in place do not speed it up), and the reason of a wait: the
    rate limit, Retry-After, URL renewal."""
    stream = io.StringIO()
    async with SyncDisplay("study 7", stream=stream, mininterval=0) as display:
        display.started -= 10.0
        display.bar.start_t -= 10.0  # 10 s ago
        result = cp.MirrorResult(files_listed=100, files_skipped=50)
        display.progress(result)
        result.files_downloaded, result.bytes_downloaded = 10, 20_000_000
        display.progress(result)
        display.waiting(0, "")  # redraw the status now (the display ticks once a second)
        line = last_line(stream)
        assert " 60/100 " in line and re.search(r"20\.0 MB at (1\.9\d|2\.00) MB/s\]", line)
        assert "<00:40," in line  # 40 files left at 1 file a second (the 50 in place excluded)
        result.files_downloaded, result.bytes_downloaded = 25, 50_000_000
        display.progress(result)
        display.waiting(0, "")
        assert re.search(r"50\.0 MB of ~100 MB at (4\.9\d|5\.00) MB/s", last_line(stream))
        [on_wait] = display.hooks()["wait"]
        await on_wait(cp.HookEvent("wait", "GET", "https://x", 1, reason="Retry-After", wait=30))
        assert last_line(stream).endswith("waiting 30 s: Retry-After]")
        await on_wait(cp.HookEvent("wait", "GET", "https://x", 1, reason="rate limit", wait=45))
        assert last_line(stream).endswith("waiting 45 s: rate limit]")
        result.renewing = 2
        display.progress(result)
        display.waiting(0, "")
        assert "waiting: URL renewal (2 expired link(s))" in last_line(stream)


async def test_quiet_prints_nothing_when_all_is_well(cli: InProcess, tmp_path: Path) -> None:
    """-q on success: no bar, no summary, nothing at all (for cron)."""
    async with FakeCentrePoint(dataset=small_study(subjects=2)) as fake:
        code, out, err = await cli(*sync(tmp_path / "m", "-q"), fake=fake)
    assert (code, out, err) == (0, "", "")


# --- kill -9 at any moment, many processes (real subprocesses) ------------------------------


async def test_kill_9_at_any_moment_loses_no_finished_file_and_the_rerun_completes(
    tmp_path: Path,
) -> None:
    """sync killed (SIGKILL) at random moments, one download stalled mid-body each time: after
    each kill every file under its final name is whole and right; the last run completes the
    mirror, continues the parts, and fetches no file that was finished before it."""
    root = tmp_path / "m"
    rng = random.Random(11)
    async with FakeCentrePoint(dataset=small_study(subjects=8, days=4, size=96 * 1024)) as fake:
        args = sync(root, "--concurrency", "3")
        want = expected(fake, [RAW])
        parts = 0
        for _ in range(6):
            if len(mirrored(root)) >= len(want) - 8:
                break
            fake.inject_blob("stall", after_bytes=rng.randint(1_000, 80_000))
            process = await spawn(*args, env=env_for(fake), output=DEVNULL)
            goal = len(fake.blob_requests) + rng.randint(2, 5)

            def due(goal: int = goal, process: Process = process) -> bool:
                return len(fake.blob_requests) >= goal or process.returncode is not None

            await wait_until(due, 60)
            await asyncio.sleep(rng.uniform(0, 0.05))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            on_disk = mirrored(root)
            assert all(on_disk[path] == want[path] for path in on_disk)  # none half-done
            parts += sum(1 for _ in root.rglob("*.part"))
        assert parts > 0  # kills did land in the middle of downloads
        fake.blobs.faults.clear()
        finished, blobs = set(mirrored(root)), len(fake.blob_requests)
        left = [p for p in root.rglob("*.part") if p.stat().st_size]
        assert 0 < len(finished) < len(want)
        code, _, err = await run(*args, "-q", fake=fake)
        assert (code, err) == (0, "")
        assert mirrored(root) == want
        assert not set(fetched(fake, blobs)) & finished
        # parts were continued (by a later killed run, or by the last one if any were left)
        assert any(r.range for r in fake.blob_requests[blobs if left else 0 :])
        assert not list(root.rglob("*.part*"))


async def test_two_shards_at_once_on_one_directory_never_conflict(
    tmp_path: Path, redis_server: RedisServerProcess
) -> None:
    """--shard 0/2 and 1/2 started together on one DIR, one Redis limiter: both exit 0, the
    mirror is whole, every file was fetched exactly once, and no 429 came back."""
    root = tmp_path / "m"
    async with FakeCentrePoint(dataset=small_study(subjects=10, days=3)) as fake:
        shared = ("--rate-limit-url", redis_server.url, "-q", "--category", RAW, "--category", TEMP)
        shards = [
            await spawn(*sync(root, "--shard", f"{k}/2", *shared), env=env_for(fake))
            for k in range(2)
        ]
        ends = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in shards)), 120)
        assert [p.returncode for p in shards] == [0, 0], ends
        want = expected(fake, [RAW, TEMP])
        assert mirrored(root) == want
        assert sorted(fetched(fake)) == sorted(want)  # each exactly once
        assert fake.rate_limited == 0


SHARD = """
import asyncio, contextlib, sys
import centrepoint_async as cp
from centrepoint_async.redis import RedisRateLimit

async def main() -> None:
    root, k, n, url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    shared = url != "-"
    limit = RedisRateLimit(url, max_requests=20, period=1.0) if shared else cp.RateLimit(20, 1.0)
    owner = limit if shared else contextlib.nullcontext()
    print("ready", flush=True)
    sys.stdin.readline()  # every shard starts at once
    async with owner, cp.CentrePointClient.from_env(rate_limit=limit) as client:
        result = await cp.mirror_study(client, 100, root, categories=["temperature"], shard=(k, n))
    sys.exit(1 if result.failed else 0)

asyncio.run(main())
"""


async def shards_at_once(fake: FakeCentrePoint, root: Path, url: str) -> list[int | None]:
    """Two processes mirroring a shard each, started together; their exit statuses."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", SHARD, str(root), str(k), "2", url, env=env_for(fake),
            stdin=PIPE, stdout=PIPE, stderr=PIPE,
        )
        for k in range(2)
    ]  # fmt: skip
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 120)
    return [p.returncode for p in processes]


async def test_one_redis_limiter_keeps_many_shards_under_the_ceiling(
    tmp_path: Path, redis_server: RedisServerProcess
) -> None:
    """Two shards against a server allowing 20 requests a second: each with a limiter of its
    own, together they go over (429s); sharing a RedisRateLimit, they never do."""
    data = small_study(subjects=40, days=1, size=256)
    async with FakeCentrePoint(dataset=data, rate_limit=20, rate_period=1.0) as fake:
        assert await shards_at_once(fake, tmp_path / "apart", "-") == [0, 0]
        assert fake.rate_limited > 0  # the control: the test can see going over
    async with FakeCentrePoint(dataset=data, rate_limit=20, rate_period=1.0) as fake:
        assert await shards_at_once(fake, tmp_path / "shared", redis_server.url) == [0, 0]
        assert fake.rate_limited == 0
        assert mirrored(tmp_path / "shared") == expected(fake, [TEMP])
        assert len(fake.requests) > 40  # more than the server allows in two seconds


# --- the demo and the examples ---------------------------------------------------------------


async def test_the_demo_mirrors_then_fetches_only_the_day_processed_again(tmp_path: Path) -> None:
    """The demo's sync step: every file fetched once, then exactly the re-processed day."""
    async with FakeCentrePoint(size="tiny") as fake, fake.client() as client:
        first, again = await demo_sync(fake, client, tmp_path)
    assert first.files_downloaded == first.files_listed > 0 and first.failed == []
    assert (again.files_downloaded, again.files_skipped) == (1, first.files_listed - 1)


async def test_the_slurm_example_runs_its_shard(
    tmp_path: Path, redis_server: RedisServerProcess
) -> None:
    """examples/sync_slurm.sh run as array tasks 0 and 1 of 2: together, the whole study."""
    script = ROOT / "examples" / "sync_slurm.sh"
    async with FakeCentrePoint(dataset=small_study()) as fake:
        for task in ("0", "1"):
            env = env_for(
                fake,
                SLURM_ARRAY_TASK_ID=task,
                SLURM_ARRAY_TASK_COUNT="2",
                MIRROR_DIR=str(tmp_path / "m"),
                STUDY_ID=str(STUDY),
                REDIS_URL=redis_server.url,
                PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            )
            process = await asyncio.create_subprocess_exec(
                "bash", str(script), env=env, stdout=PIPE, stderr=PIPE
            )
            _, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, err.decode()
        assert mirrored(tmp_path / "m") == expected(fake, [RAW])


def test_the_kubernetes_example_runs_n_indexed_shards_with_one_limiter() -> None:
    """examples/sync_kubernetes.yaml: an Indexed Job of N completions, each pod's --shard the
    completion index over N, one Redis URL for all, a volume shared by the pods."""
    documents = list(yaml.safe_load_all((ROOT / "examples" / "sync_kubernetes.yaml").read_text()))
    job = next(d for d in documents if d["kind"] == "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    n = spec["completions"]
    assert n >= 2 and spec["parallelism"] == n
    [container] = spec["template"]["spec"]["containers"]
    command = " ".join(container["command"] + container.get("args", []))
    assert f"--shard $(JOB_COMPLETION_INDEX)/{n}" in command or (
        "--shard" in command and f"/{n}" in command and "JOB_COMPLETION_INDEX" in command
    )
    assert "--rate-limit-url" in command and "sync" in command
    claims = [v["persistentVolumeClaim"] for v in spec["template"]["spec"]["volumes"]]
    assert claims and any(d["kind"] == "PersistentVolumeClaim" for d in documents)
    pvc = next(d for d in documents if d["kind"] == "PersistentVolumeClaim")
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]  # one DIR for every pod


def test_the_slurm_example_is_a_job_array_of_one_shard_per_task() -> None:
    """The Slurm script asks for an array and gives each task its shard of the array size."""
    text = (ROOT / "examples" / "sync_slurm.sh").read_text()
    assert re.search(r"#SBATCH --array=0-\d+", text)
    assert "--shard" in text and "SLURM_ARRAY_TASK_ID" in text and "--rate-limit-url" in text
    checked = subprocess.run(["/bin/bash", "-n", str(ROOT / "examples" / "sync_slurm.sh")])
    assert checked.returncode == 0  # bash reads it
