"""The command line, run as a subprocess against the fake server."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sys
from asyncio.subprocess import DEVNULL, PIPE, Process
from pathlib import Path

import orjson
import pytest

import centrepoint_async as cp
from centrepoint_async.testing import Dataset, FakeCentrePoint, fake_server_process

from .conftest import STUDY, WEBHOOK, one_history


def env_for(fake: FakeCentrePoint | None, **extra: str) -> dict[str, str]:
    """This process's environment without CENTREPOINT_*, then the fake's variables, then extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTREPOINT_")}
    return env | (fake.env() if fake is not None else {}) | extra


async def spawn(*args: str, env: dict[str, str], output: int | None = PIPE) -> Process:
    """Start the CLI in a subprocess, so this loop keeps serving the fake meanwhile."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "centrepoint_async", *args, env=env, stdout=output, stderr=output
    )


async def run(
    *args: str,
    fake: FakeCentrePoint | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, str, str]:
    """Run the CLI to the end; its exit status, stdout and stderr."""
    process = await spawn(*args, env=env_for(fake, **(extra_env or {})))
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def lines(path: Path) -> list[object]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_help_reads_well() -> None:
    """--help lists the three commands; each command has its own help."""
    code, out, _ = await run("--help")
    assert code == 0
    for command in ("demo", "export-history", "fake-server", "CENTREPOINT_CLIENT_ID"):
        assert command in out
    code, out, _ = await run("--version")
    assert code == 0
    assert out.strip() == f"centrepoint-async {cp.__version__}"
    code, out, _ = await run("export-history", "--help")
    assert code == 0 and "--resume" in out and "--concurrency" in out


async def test_export_jsonl_equals_served_items(tmp_path: Path) -> None:
    """JSONL holds exactly the served items, in order, for one webhook and for a study."""
    async with FakeCentrePoint(dataset=Dataset.sized("small", 3), rate_period=5.0) as fake:
        one = tmp_path / "one.jsonl"
        code, _, err = await run(
            "export-history", "--study-id", "101", "--webhook-id", "1101", "-o", str(one), fake=fake
        )
        assert code == 0, err
        assert lines(one) == fake.history_items(101, 1101)
        every = tmp_path / "all.jsonl"
        code, _, err = await run(
            "export-history", "--study-id", "101", "-o", str(every), "--concurrency", "8", fake=fake
        )
        assert code == 0, err
        assert lines(every) == fake.history_items(101, 1100) + fake.history_items(101, 1101)
        assert "exported 500 deliveries of 2 webhook(s)" in err
        assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.checkpoint"))


async def test_export_to_stdout_and_csv(tmp_path: Path) -> None:
    """'-o -' writes JSONL to stdout; --format csv flattens the typed fields."""
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        code, out, _ = await run(
            "export-history",
            "--study-id",
            str(STUDY),
            "--webhook-id",
            str(WEBHOOK),
            "-q",
            fake=fake,
        )
        assert code == 0
        assert [orjson.loads(x) for x in out.splitlines()] == fake.history_items(STUDY, WEBHOOK)
        target = tmp_path / "h.csv"
        code, _, _ = await run(
            "export-history",
            "--study-id",
            str(STUDY),
            "--format",
            "csv",
            "-o",
            str(target),
            fake=fake,
        )
        assert code == 0
        rows = list(csv.DictReader(io.StringIO(target.read_text())))
        served = fake.history_items(STUDY, WEBHOOK)
        assert [int(r["id"]) for r in rows] == [i["id"] for i in served]
        assert [r["request_body"] for r in rows] == [i["request"]["body"] for i in served]


async def test_killed_export_resumes_with_nothing_lost_or_repeated(tmp_path: Path) -> None:
    """SIGKILL mid-export, then --resume: every item exactly once, in order."""
    target = tmp_path / "history.jsonl"
    async with FakeCentrePoint(dataset=one_history(1500), latency=0.03, rate_limit=None) as fake:
        args = (
            "export-history",
            "--study-id",
            str(STUDY),
            "-o",
            str(target),
            "--page-size",
            "20",
            "--concurrency",
            "2",
        )
        process = await spawn(*args, env=env_for(fake), output=DEVNULL)
        for _ in range(400):
            if len(fake.api_requests("/history")) >= 15:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert not target.exists()
        assert Path(f"{target}.checkpoint").exists() and Path(f"{target}.part").exists()
        code, _, err = await run(*args, "--resume", fake=fake)
        assert code == 0, err
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (("export-history", "--study-id", "100"), "CENTREPOINT_CLIENT_ID", 2),
        (("export-history", "--study-id", "abc"), "numeric id", 2),
        (("export-history", "--study-id", "1", "--page-size", "500"), "1 to 100", 2),
    ],
)
async def test_bad_input_gets_one_clear_line(
    args: tuple[str, ...], message: str, status: int
) -> None:
    """Missing credentials or a bad id: a clear message and a non-zero exit, no traceback."""
    env = {"CENTREPOINT_CLIENT_ID": "x", "CENTREPOINT_CLIENT_SECRET": "y"} if "500" in args else {}
    code, _, err = await run(*args, extra_env=env)
    assert code == status
    assert message in err and "Traceback" not in err


async def test_unknown_study_is_a_clear_error(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """A study that does not exist: one line naming the 404, exit 1."""
    code, _, err = await run(
        "export-history", "--study-id", "4242", "-o", str(tmp_path / "x"), fake=fake
    )
    assert code == 1 and "404" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


async def test_demo_runs_without_credentials(tmp_path: Path) -> None:
    """The demo works with no credentials and prints its summary."""
    code, out, err = await run("demo", "--size", "small", "--output-dir", str(tmp_path))
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
