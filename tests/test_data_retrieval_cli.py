"""The fetch-raw command and the demo's raw-data step, against the fake."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from centrepoint_async.cli._demo_raw import demo_raw_fetch
from centrepoint_async.cli._fetch_raw import SCOPES
from centrepoint_async.testing import FakeCentrePoint, fast_retry

from .cli_support import InProcess, env_for, run, spawn, wait_until

SUBJECT = ("--study-id", "100", "--subject-id", "100002")
RANGE = ("--begin", "2024-01-01T00:00:00Z", "--end", "2024-01-20")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """Run ``main(argv)`` in this process."""
    return InProcess(monkeypatch, capsys)


async def test_fetch_raw_command_downloads_into_the_directory(
    cli: InProcess, tmp_path: Path
) -> None:
    """fetch-raw with credentials from the environment writes the files and lists them."""
    async with FakeCentrePoint(retrieval_delay=0.05) as fake:
        args = ("fetch-raw", *SUBJECT, *RANGE, "--format", "gt3x", "--poll-interval", "0.01")
        code, out, err = await cli(*args, "-o", str(tmp_path / "raw"), fake=fake)
    assert code == 0, err
    assert len(fake.retrievals.requests) == 2  # 19 days of GT3X: two requests
    listed = out.splitlines()
    assert len(listed) == 4 and all(Path(line.split("\t")[0]).exists() for line in listed)
    for tracking_id in fake.retrievals.requests:  # each said as soon as it was made
        assert f"tracking id {tracking_id}\n" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--study-id", "x", *RANGE[:2]), "expected a numeric id"),
        ((*SUBJECT, "--begin", "monday", "--end", "2024-01-02"), "expected an ISO 8601 time"),
        ((*SUBJECT, "--begin", "2024-01-02", "--end", "2024-01-01"), "--end must be after"),
        ((*SUBJECT, "--begin", "2024-01-02"), "give --study-id, --subject-id, --begin and --end"),
        ((*SUBJECT, *RANGE, "--tracking-id", "abc-1"), "leave out --study-id"),
        (("--tracking-id", "../x"), "expected a tracking id"),
        ((*SUBJECT, *RANGE, "--format", "gt3x", "--end", "2025-01-01"), "at most 150 days"),
        ((*SUBJECT, *RANGE, "--poll-interval", "0"), "--poll-interval must be"),
        ((*SUBJECT, *RANGE, "-o", "{file}"), "exists and is not a directory"),
    ],
)
async def test_arguments_and_output_are_checked_before_any_request(
    cli: InProcess, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """Bad arguments, or -o naming an existing file: exit 2, one line, no request at all."""
    existing = tmp_path / "file"
    existing.write_bytes(b"kept")
    argv = [a.format(file=existing) for a in args]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "raw")]
    async with FakeCentrePoint() as fake:
        code, _, err = await cli("fetch-raw", *argv, fake=fake)
        assert fake.requests == []
    assert code == 2 and message in err and "Traceback" not in err
    assert existing.read_bytes() == b"kept"


async def test_ctrl_c_prints_the_tracking_id_and_tracking_id_downloads_it(tmp_path: Path) -> None:
    """Ctrl-C while the request runs: exit 130 naming the tracking id and the command that
    downloads it; that command (--tracking-id) then downloads the same request's files."""
    directory = tmp_path / "raw"
    async with FakeCentrePoint(retrieval_delay=4.0) as fake:
        args = ("fetch-raw", *SUBJECT, *RANGE, "-o", str(directory), "--poll-interval", "0.05")
        process = await spawn(*args, env=env_for(fake))
        await wait_until(lambda: fake.retrievals.requests)
        await wait_until(lambda: len(fake.api_requests("RawActivityRequests/")) >= 2)  # waiting
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 130, err
        [tracking_id] = fake.retrievals.requests
        said = err.decode().splitlines()
        assert said[0].endswith(f" UTC: tracking id {tracking_id}")  # as soon as it existed
        assert said[1:] == [  # and nothing else: no traceback, no aiohttp warning
            f"centrepoint-async: request {tracking_id} goes on at CentrePoint; download it "
            f"with: centrepoint-async fetch-raw --tracking-id {tracking_id} -o {directory}",
            "centrepoint-async: interrupted",
        ]
        code, out, err2 = await run(
            "fetch-raw",
            "--tracking-id",
            tracking_id,
            "-o",
            str(directory),
            "--poll-interval",
            "0.1",
            fake=fake,
        )
        assert code == 0, err2
        assert len(fake.retrievals.requests) == 1  # no new request
    listed = [Path(line.split("\t")[0]) for line in out.splitlines()]
    assert len(listed) == 2 and all(p.parent == directory and p.exists() for p in listed)
    assert re.search(r"downloaded 2 file\(s\) to ", err2)


async def test_the_demo_step_runs_the_webhook_loop(tmp_path: Path) -> None:
    """The demo's step: fake event -> receiver -> request -> event -> downloaded files."""
    async with FakeCentrePoint(retrieval_delay=0.05) as fake, fake.client(scopes=SCOPES) as client:
        paths = await demo_raw_fetch(fake, client, tmp_path)
    assert len(paths) == 2 and all(p.exists() for p in paths)
    events = [w.event for w in fake.webhooks_sent]
    assert events == ["raw_processing_complete", "data_retrieval_complete"]


async def test_the_demo_step_survives_the_demos_chaos(tmp_path: Path) -> None:
    """With the demo's random faults (here ten times as many), the step still completes."""
    async with FakeCentrePoint(retrieval_delay=0.05) as fake:
        fake.chaos(0.2, seed=3, kinds=("status", "drop"), retry_after=0.01)
        async with fake.client(scopes=SCOPES, retry=fast_retry()) as client:
            paths = await demo_raw_fetch(fake, client, tmp_path)
    assert len(paths) == 2 and all(p.exists() for p in paths)
    assert any(r.fault for r in fake.requests)  # faults did happen
