"""The command line against the fake server: in-process where it can be, processes where the
point is a process (kills, two writers, a full disk, the fake-server command)."""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import os
import random
import resource
import signal
import sys
from asyncio.subprocess import DEVNULL, PIPE, Process
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
import redis

import centrepoint_async as cp
from centrepoint_async.cli import main
from centrepoint_async.testing import (
    Dataset,
    FakeCentrePoint,
    RedisServerProcess,
    fake_server_process,
)

from .conftest import STUDY, WEBHOOK, lines, one_history

Result = tuple[int, str, str]
CLI = Callable[..., Awaitable[Result]]


def env_for(fake: FakeCentrePoint | None, **extra: str) -> dict[str, str]:
    """This process's environment without CENTREPOINT_*, then the fake's variables, then extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTREPOINT_")}
    return env | (fake.env() if fake is not None else {}) | extra


async def spawn(
    *args: str, env: dict[str, str], output: int | None = PIPE, limit_file_size: bool = False
) -> Process:
    """Start the CLI in a subprocess, so this loop keeps serving the fake meanwhile."""

    def no_bigger_files() -> None:  # as if the disk were full: every write past 0 bytes fails
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "centrepoint_async",
        *args,
        env=env,
        stdout=output,
        stderr=output,
        preexec_fn=no_bigger_files if limit_file_size else None,
    )


async def run(
    *args: str,
    fake: FakeCentrePoint | None = None,
    timeout: float = 60,
    limit_file_size: bool = False,
) -> Result:
    """Run the CLI in a process to the end; its exit status, stdout and stderr."""
    process = await spawn(*args, env=env_for(fake), limit_file_size=limit_file_size)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CLI:
    """Run ``main(argv)`` in this process (in a thread: it runs its own event loop)."""

    async def call(*args: str, fake: FakeCentrePoint | None = None) -> Result:
        for name in [n for n in os.environ if n.startswith("CENTREPOINT_")]:
            monkeypatch.delenv(name)
        for name, value in (fake.env() if fake is not None else {}).items():
            monkeypatch.setenv(name, value)

        def entry() -> int:
            try:
                return main(list(args))
            except SystemExit as exc:  # argparse: --help, --version, bad arguments
                return int(exc.code or 0)

        code = await asyncio.to_thread(entry)
        out, err = capsys.readouterr()
        return code, out, err

    return call


def export_args(target: Path | str, *more: str) -> tuple[str, ...]:
    return ("export-history", "--study-id", str(STUDY), "-o", str(target), *more)


async def test_help_reads_well(cli: CLI) -> None:
    """--help lists the commands and the exit statuses; each command has its own help."""
    code, out, _ = await cli("--help")
    assert code == 0
    for text in ("demo", "export-history", "fake-server", "CENTREPOINT_CLIENT_ID", "Exit status"):
        assert text in out
    code, out, _ = await cli("--version")
    assert (code, out.strip()) == (0, f"centrepoint-async {cp.__version__}")
    code, out, _ = await cli("export-history", "--help")
    assert code == 0
    for option in ("--resume", "--force", "--concurrency", "--quiet"):
        assert option in out


def test_python_dash_m_runs_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m centrepoint_async`` is the same command as ``centrepoint-async``."""
    monkeypatch.setattr(sys, "argv", ["centrepoint-async", "--version"])
    with pytest.raises(SystemExit) as exited:
        # importing it runs it (runpy cannot: pytest rewrites this package, a plugin's)
        importlib.import_module("centrepoint_async.__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"centrepoint-async {cp.__version__}"


async def test_export_jsonl_equals_served_items(cli: CLI, tmp_path: Path) -> None:
    """JSONL holds exactly the served items, in order, for one webhook and for a study."""
    async with FakeCentrePoint(dataset=Dataset.sized("small", 3), rate_period=5.0) as fake:
        one = tmp_path / "one.jsonl"
        args = ("export-history", "--study-id", "101", "--webhook-id", "1101", "-o", str(one))
        code, _, err = await cli(*args, fake=fake)
        assert code == 0, err
        assert lines(one) == fake.history_items(101, 1101)
        every = tmp_path / "all.jsonl"
        args = ("export-history", "--study-id", "101", "-o", str(every), "--concurrency", "8")
        code, _, err = await cli(*args, fake=fake)
        assert code == 0, err
        assert lines(every) == fake.history_items(101, 1100) + fake.history_items(101, 1101)
        assert f"exported 500 deliveries of 2 webhook(s) in 6 pages to {every}" in err
        assert "0 retries, 0 rate limited (429)" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["all.jsonl", "one.jsonl"]


async def test_export_to_stdout_and_csv(cli: CLI, tmp_path: Path) -> None:
    """'-o -' writes JSONL to stdout; --format csv flattens the typed fields."""
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        code, out, err = await cli(*export_args("-", "-q"), fake=fake)
        assert (code, err) == (0, "")
        assert [orjson.loads(x) for x in out.splitlines()] == fake.history_items(STUDY, WEBHOOK)
        target = tmp_path / "h.csv"
        code, _, err = await cli(*export_args(target, "--format", "csv"), fake=fake)
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(target.read_text())))
        served = fake.history_items(STUDY, WEBHOOK)
        assert [int(r["id"]) for r in rows] == [i["id"] for i in served]
        assert [r["request_body"] for r in rows] == [i["request"]["body"] for i in served]


@pytest.mark.parametrize(
    ("flags", "summary", "debug"),
    [
        (("-q", "export-history"), False, False),
        (("export-history", "-q"), False, False),
        (("-v", "export-history"), True, True),
        (("export-history", "--verbose"), True, True),
        (("export-history",), True, False),
    ],
)
async def test_quiet_and_verbose_work_before_or_after_the_command(
    cli: CLI, tmp_path: Path, flags: tuple[str, ...], summary: bool, debug: bool
) -> None:
    """-q (errors only, for cron) and -v (every request) work on either side of the command."""
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        args = (*flags, "--study-id", str(STUDY), "-o", str(tmp_path / "h.jsonl"))
        code, _, err = await cli(*args, fake=fake)
    assert code == 0
    assert ("exported 30 deliveries" in err) is summary
    assert ("DEBUG centrepoint_async: GET" in err) is debug
    if not summary:
        assert err == ""


async def test_quiet_and_verbose_together_are_a_usage_error(cli: CLI) -> None:
    """-q and -v contradict each other: exit 2."""
    code, _, err = await cli("-q", "export-history", "--study-id", "1", "-v")
    assert code == 2 and "exclude each other" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export-history", "--study-id", "100"), "CENTREPOINT_CLIENT_ID"),
        (("export-history", "--study-id", "abc"), "numeric id"),
        (("export-history", "--study-id", "1", "--page-size", "500"), "from 1 to 100, got 500"),
        (("export-history", "--study-id", "1", "--page-size", "x"), "whole number"),
        (("export-history", "--study-id", "1", "--concurrency", "0"), "--concurrency must be"),
        (("export-history", "--study-id", "1", "--resume", "--force"), "not allowed with"),
        (("export-history", "--study-id", "1", "--resume"), "need an output file (-o FILE)"),
    ],
)
async def test_bad_input_gets_one_clear_line(cli: CLI, args: tuple[str, ...], message: str) -> None:
    """Missing credentials or a bad argument: a clear message, exit 2, no traceback."""
    code, _, err = await cli(*args)
    assert code == 2
    assert message in err and "Traceback" not in err


async def test_unknown_study_is_a_clear_error(
    cli: CLI, fake: FakeCentrePoint, tmp_path: Path
) -> None:
    """A study that does not exist: one line naming the 404, exit 1."""
    code, _, err = await cli(
        "export-history", "--study-id", "4242", "-o", str(tmp_path / "x"), fake=fake
    )
    assert code == 1 and "404" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("output", "message"),
    [("{tmp}", "is a directory"), ("{tmp}/no/h.jsonl", "not an existing"), ("/sys/h", "cannot")],
)
async def test_output_is_checked_before_the_first_request(
    cli: CLI, tmp_path: Path, output: str, message: str
) -> None:
    """-o naming a directory, a missing folder or an unwritable place: exit 2, no request."""
    async with FakeCentrePoint(dataset=one_history(10)) as fake:
        code, _, err = await cli(*export_args(output.format(tmp=tmp_path)), fake=fake)
        assert fake.requests == []
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1


async def test_full_disk_fails_before_the_first_request(tmp_path: Path) -> None:
    """A disk that takes no more bytes fails at open (the lock file), exit 1, no request."""
    async with FakeCentrePoint(dataset=one_history(10)) as fake:
        code, _, err = await run(
            *export_args(tmp_path / "h.jsonl"), fake=fake, limit_file_size=True
        )
        assert fake.requests == []
    assert code == 1 and f"cannot write {tmp_path / 'h.jsonl.lock'}: File too large" in err
    assert len(err.strip().splitlines()) == 1


async def test_existing_output_needs_resume_or_force(cli: CLI, tmp_path: Path) -> None:
    """Without --resume an existing output is refused (exit 2, saying what to do); --force works."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        assert (await cli(*export_args(target), fake=fake))[0] == 0
        target.write_bytes(b"kept\n")
        code, _, err = await cli(*export_args(target), fake=fake)
        assert code == 2 and "--resume continues it, --force starts over" in err
        assert target.read_bytes() == b"kept\n"
        code, _, err = await cli(*export_args(target, "--resume"), fake=fake)
        assert code == 2 and "nothing to resume" in err
        code, _, err = await cli(*export_args(target, "--force"), fake=fake)
        assert code == 0, err
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)


async def test_corrupt_checkpoint_exits_1_and_leaves_the_part(tmp_path: Path) -> None:
    """Killed, then a checkpoint edited by hand: --resume exits 1 (not 2) and changes nothing."""
    target = tmp_path / "h.jsonl"
    checkpoint, part = Path(f"{target}.checkpoint"), Path(f"{target}.part")
    async with FakeCentrePoint(dataset=one_history(1000), latency=0.02, rate_limit=None) as fake:
        args = export_args(target, "--page-size", "20", "--concurrency", "1")  # a second at least
        await kill_after(await spawn(*args, env=env_for(fake), output=DEVNULL), fake, 8)
        original = checkpoint.read_bytes()
        for key, value in (("bytes", 0), ("bytes", 1.5), ("bytes", -1), ("sha256", "f" * 64)):
            data = orjson.loads(original)
            data[key] = value
            checkpoint.write_bytes(orjson.dumps(data))
            before = part.read_bytes()
            code, _, err = await run(*args, "--resume", fake=fake)
            assert code == 1, err
            assert "checkpoint" in err and "--force starts over" in err
            assert part.read_bytes() == before
        checkpoint.write_bytes(original)
        code, _, err = await run(*args, "--resume", fake=fake)
        assert code == 0, err
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)


async def kill_after(process: Process, fake: FakeCentrePoint, requests: int) -> None:
    """SIGKILL ``process`` once the fake has answered ``requests`` more history requests."""
    goal = len(fake.api_requests("/history")) + requests
    for _ in range(3000):  # a loaded machine may take seconds to start a process
        if len(fake.api_requests("/history")) >= goal or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


async def test_killed_many_times_with_inserts_resumes_to_exactly_the_served_items(
    tmp_path: Path,
) -> None:
    """SIGKILLs at random moments, deliveries inserted between them: every item once, in order.

    The export holds the history as it stood when it started (newer deliveries are the next
    export's), byte for byte what an uninterrupted export of that moment writes.
    """
    target = tmp_path / "history.jsonl"
    rng = random.Random(13)
    async with FakeCentrePoint(dataset=one_history(1500), latency=0.02, rate_limit=None) as fake:
        served = fake.history_items(STUDY, WEBHOOK)
        args = export_args(target, "--page-size", "20", "--concurrency", "3")
        process = await spawn(*args, env=env_for(fake), output=DEVNULL)
        inserted = 0
        for _ in range(5):
            await kill_after(process, fake, rng.randint(2, 12))
            assert process.returncode == -signal.SIGKILL
            assert not target.exists() and Path(f"{target}.part").exists()
            saved = orjson.loads(Path(f"{target}.checkpoint").read_bytes())["webhooks"]
            if saved.get(str(WEBHOOK), {}).get("items"):  # a resume with nothing written
                count = rng.choice([0, 1, 19, 37])  # starts afresh, taking in what is new
                fake.insert_deliveries(STUDY, WEBHOOK, count)
                inserted += count
            process = await spawn(*args, "--resume", env=env_for(fake), output=DEVNULL)
        assert await asyncio.wait_for(process.wait(), 120) == 0
    assert inserted > 0
    assert lines(target) == served
    assert fake.history_items(STUDY, WEBHOOK)[inserted:] == served


async def test_two_exports_of_one_file_one_refused_one_complete(tmp_path: Path) -> None:
    """A second export of the same -o exits at once naming the first; the first completes."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(2000), latency=0.08, rate_limit=None) as fake:
        args = export_args(target, "--page-size", "20", "--concurrency", "1")  # 8 s at least
        first = await spawn(*args, env=env_for(fake))
        for _ in range(1000):
            if len(fake.api_requests("/history")) >= 3:
                break
            await asyncio.sleep(0.01)
        code, _, err = await run(*args, fake=fake, timeout=10)
        assert first.returncode is None, "the first export ended too soon for this test"
        assert code == 1, err
        assert f"is being written by another export (pid {first.pid}, started" in err
        assert len(err.strip().splitlines()) == 1
        _, first_err = await asyncio.wait_for(first.communicate(), 60)
        assert first.returncode == 0, first_err
    assert lines(target) == fake.history_items(STUDY, WEBHOOK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.jsonl"]


async def test_a_run_right_after_another_pauses_once_on_429(cli: CLI, tmp_path: Path) -> None:
    """A window an earlier run filled costs the next run a pause (429 + Retry-After), no error."""
    # the fake's window is 40 requests in 2 s; the CLI's own limiter does not know of the
    # earlier run, so its first requests meet a full window
    async with FakeCentrePoint(dataset=one_history(400), rate_limit=40, rate_period=2.0) as fake:
        async with fake.client(rate_limit=None) as client:
            await asyncio.gather(*(client.webhooks.get(STUDY, WEBHOOK) for _ in range(40)))
        before = fake.rate_limited
        target = tmp_path / "h.jsonl"
        code, _, err = await cli(*export_args(target, "--page-size", "10"), fake=fake)
        rate_limited = fake.rate_limited - before
        assert rate_limited >= 1
    assert code == 0, err
    assert lines(target) == fake.history_items(STUDY, WEBHOOK)
    assert f"{rate_limited} rate limited (429)" in err


async def test_demo_runs_without_credentials(cli: CLI, tmp_path: Path) -> None:
    """The demo works with no credentials and prints its summary."""
    code, out, err = await cli("demo", "--size", "small", "--output-dir", str(tmp_path))
    assert code == 0, err
    for label in (
        "studies",
        "webhooks",
        "deliveries",
        "failed deliveries",
        "events by type",
        "requests",
        "retries",
        "items/s",
    ):
        assert label in out
    assert len(list(tmp_path.glob("*.jsonl"))) == 7


async def test_fake_server_command_prints_credentials() -> None:
    """fake-server prints its URL and credentials (as export lines) and serves them."""
    async with fake_server_process("--size", "tiny", "--client-secret", "s3") as server:
        assert set(server.env) == {
            "CENTREPOINT_BASE_URL",
            "CENTREPOINT_AUTH_URL",
            "CENTREPOINT_CLIENT_ID",
            "CENTREPOINT_CLIENT_SECRET",
        }
        assert server.client_secret == "s3"
        async with server.client() as client:
            assert len(await client.studies.list().collect()) == 2


async def test_fake_server_process_reports_a_server_that_did_not_start() -> None:
    """A fake-server that exits (bad arguments) is a clear error, not a hang."""
    with pytest.raises(RuntimeError, match="exited before printing its address"):
        async with fake_server_process("--size", "enormous"):
            pass


async def test_export_shares_a_redis_rate_limit(
    cli: CLI, tmp_path: Path, redis_server: RedisServerProcess
) -> None:
    """--rate-limit-url: the export's requests hold their places in Redis, for every process."""
    async with FakeCentrePoint(dataset=one_history(250)) as fake:
        target = tmp_path / "h.jsonl"
        args = export_args(target, "--rate-limit-url", redis_server.url, "-q")
        code, _, err = await cli(*args, fake=fake)
        assert (code, err) == (0, "")
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)
        sent = len(fake.requests)  # the token request included: it counts against the IP too
    held = redis.Redis.from_url(redis_server.url).zcard("centrepoint:ratelimit:holds")
    assert held == sent  # each request's place stays a window after its answer
