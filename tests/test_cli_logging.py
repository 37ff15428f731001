"""``CENTREPOINT_LOG``: the library's log records on stderr without a line of code, in any
program and in the command line (each line once)."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from centrepoint_async.testing import FakeCentrePoint

from .cli_support import env_for, run
from .conftest import STUDY, one_history

# a program that configures no logging at all: it calls the API once, and says nothing itself
PROGRAM = """
import asyncio, centrepoint_async as cp

async def main():
    async with cp.CentrePointClient.from_env() as client:
        await client.studies.get(100)

asyncio.run(main())
"""


async def program_stderr(fake: FakeCentrePoint, **env: str) -> str:
    """The stderr of :data:`PROGRAM` run against ``fake`` with ``env`` set."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROGRAM, env=env_for(fake, **env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    return err.decode()


@pytest.mark.parametrize(
    ("value", "requests_logged"),
    [("debug", True), ("DEBUG", True), ("info", False), ("", False)],
)
async def test_centrepoint_log_turns_logging_on_without_code(
    value: str, requests_logged: bool
) -> None:
    """CENTREPOINT_LOG=debug logs every request on stderr; info does not; unset says nothing."""
    async with FakeCentrePoint() as fake:
        err = await program_stderr(fake, CENTREPOINT_LOG=value)
    lines = err.splitlines()
    assert bool(lines) is requests_logged
    if requests_logged:
        path = r"/centrepoint/v3/Studies/100 -> 200 \(\d+ bytes, \d+ ms\)"
        assert any(re.search(r" DEBUG centrepoint_async: GET http://\S+" + path, x) for x in lines)
        assert all(" DEBUG centrepoint_async: " in line for line in lines)


async def test_an_unknown_value_is_said_once() -> None:
    """CENTREPOINT_LOG=loud: one line saying the values it takes; the program runs on."""
    async with FakeCentrePoint() as fake:
        err = await program_stderr(fake, CENTREPOINT_LOG="loud")
    assert err == (
        "centrepoint_async: CENTREPOINT_LOG='loud' is not one of debug, info, warning, error; "
        "ignored\n"
    )


async def test_the_command_line_logs_each_request_once() -> None:
    """In the CLI, CENTREPOINT_LOG=debug logs requests as -v does, each line once."""
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        # one page at a time: no request probed ahead and cancelled before its answer
        args = ("export-history", "--study-id", str(STUDY), "-o", "-", "-q", "--concurrency", "1")
        code, _, err = await run(*args, env=env_for(fake, CENTREPOINT_LOG="debug"))
        served = len(fake.api_requests("/history"))
        quiet_code, _, quiet_err = await run(*args, fake=fake)
    assert (code, quiet_code, quiet_err) == (0, 0, "")
    history = [line for line in err.splitlines() if "/history?" in line]
    assert len(history) == served  # each request once: no second handler
    assert all(line.startswith("DEBUG centrepoint_async: GET ") for line in history)
