"""Running the command line from tests: in this process (``InProcess``) or in a process of its
own (``spawn``, ``run``), with a fake's credentials in the environment."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from asyncio.subprocess import PIPE, Process
from collections.abc import Callable

import pytest

from centrepoint_async.cli import main
from centrepoint_async.testing import FakeCentrePoint

__all__ = ["InProcess", "Result", "env_for", "kill_after", "run", "spawn", "wait_until"]

Result = tuple[int, str, str]  # exit status, stdout, stderr


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
    env: dict[str, str] | None = None,
) -> Result:
    """Run the CLI in a process to the end; its exit status, stdout and stderr."""
    environ = env if env is not None else env_for(fake)
    process = await spawn(*args, env=environ, limit_file_size=limit_file_size)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def wait_until(done: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``done()`` (a callable) every 10 ms until it is true; fail after ``timeout``."""
    for _ in range(int(timeout / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached within {timeout} s")


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


class InProcess:
    """Run ``main(argv)`` in this process (in a thread: it runs its own event loop)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    async def __call__(self, *args: str, fake: FakeCentrePoint | None = None) -> Result:
        for name in [n for n in os.environ if n.startswith("CENTREPOINT_")]:
            self.monkeypatch.delenv(name)
        for name, value in (fake.env() if fake is not None else {}).items():
            self.monkeypatch.setenv(name, value)

        def entry() -> int:
            try:
                return main(list(args))
            except SystemExit as exc:  # argparse: --help, --version, bad arguments
                return int(exc.code or 0)

        code = await asyncio.to_thread(entry)
        out, err = self.capsys.readouterr()
        return code, out, err
