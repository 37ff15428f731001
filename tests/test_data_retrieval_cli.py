"""The fetch-raw command and the demo's raw-data step, against the fake."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from centrepoint_async._fetch_raw import (
    SCOPES,
    add_fetch_raw_parser,
    demo_raw_fetch,
    fetch_raw_command,
)
from centrepoint_async.testing import FakeCentrePoint, fast_retry


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_fetch_raw_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["fetch-raw", *argv])


async def test_fetch_raw_command_downloads_into_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fetch-raw with credentials from the environment writes the files and lists them."""
    async with FakeCentrePoint(retrieval_delay=0.05) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        args = parse(
            [
                "--study-id", "100",
                "--subject-id", "100002",
                "--begin", "2024-01-01T00:00:00Z",
                "--end", "2024-01-20",
                "--format", "gt3x",
                "--poll-interval", "0.01",
                "-o", str(tmp_path),
            ]
        )  # fmt: skip
        assert await fetch_raw_command(args) == 0
    assert len(fake.retrievals.requests) == 2  # 19 days of GT3X: two requests
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 4 and all(Path(line.split("\t")[0]).exists() for line in listed)


def test_fetch_raw_arguments_are_checked() -> None:
    """Ids must be numbers and times ISO 8601; a time without a zone is UTC."""
    good = {"--study-id": "1", "--subject-id": "1", "--begin": "2024-01-01", "--end": "2024-01-02"}

    def argv(**changes: str) -> list[str]:
        given = good | {f"--{k.replace('_', '-')}": v for k, v in changes.items()}
        return [*(x for pair in given.items() for x in pair), "-o", "d"]

    for bad in ({"study_id": "x"}, {"begin": "monday"}):
        with pytest.raises(SystemExit):
            parse(argv(**bad))
    args = parse(argv())
    assert args.begin.utcoffset() is not None and args.format == "csv"


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
