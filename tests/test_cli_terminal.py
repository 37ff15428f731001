"""What the export shows in a real terminal: tmux runs it, ``capture-pane`` reads the screen."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, one_history

WIDTH, HEIGHT = 120, 16


class Terminal:
    """A detached tmux session of its own (private socket) running one shell script."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    async def tmux(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, f"tmux {args[0]} failed"
        return out.decode()

    async def start(self, script: Path) -> None:
        await self.tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "sh", str(script))
        await self.tmux("set-option", "-g", "remain-on-exit", "on")

    async def screen(self) -> list[str]:
        """The visible screen plus scrollback, wrapped lines joined, trailing blanks dropped."""
        text = await self.tmux("capture-pane", "-p", "-J", "-S", "-")
        # tmux adds "Pane is dead ..." once the script has exited (remain-on-exit): not output
        lines = [line.rstrip() for line in text.splitlines()]
        lines = [line for line in lines if not line.startswith("Pane is dead")]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    async def wait_for(self, found: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
        """Poll the screen until ``found(screen)``; the screen it was found on."""
        for _ in range(int(timeout / 0.1)):
            screen = await self.screen()
            if found(screen):
                return screen
            await asyncio.sleep(0.1)
        raise AssertionError("not seen on the terminal:\n" + "\n".join(await self.screen()))


@pytest.fixture
async def terminal(request: pytest.FixtureRequest) -> AsyncIterator[Terminal]:
    assert shutil.which("tmux"), "tmux is needed for the terminal tests (apt-get install tmux)"
    term = Terminal(f"centrepoint-test-{id(request)}")
    try:
        yield term
    finally:
        kill = await asyncio.create_subprocess_exec("tmux", "-L", term.socket, "kill-server")
        await kill.wait()


def script(tmp_path: Path, fake: FakeCentrePoint, *args: str) -> Path:
    """A shell script that runs the CLI with the fake's credentials."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in fake.env().items())
    command = shlex.join([sys.executable, "-m", "centrepoint_async", *args])
    path = tmp_path / "run.sh"
    path.write_text(f"cd {shlex.quote(str(Path.cwd()))}\n{exports}{command}\n")
    return path


def bar_line(screen: list[str]) -> str:
    return next((line for line in reversed(screen) if line.startswith(f"study {STUDY}:")), "")


async def test_bar_shows_total_rate_eta_and_what_it_waits_for(
    terminal: Terminal, tmp_path: Path
) -> None:
    """The bar has total, percentage, rate and ETA; a 429's wait is its status, with its reason;
    one summary, which says how long requests waited for the rate limit."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(1500), latency=0.05, rate_limit=None) as fake:
        args = ("export-history", "--study-id", str(STUDY), "-o", str(target), "--page-size", "20")
        # a 429 at 40%, however fast or slow the machine runs the export
        # (pages after the first start at their anchor: offsets 19 apart)
        fake.inject("status", status=429, retry_after=4, path="offset=608")
        await terminal.start(script(tmp_path, fake, *args, "--concurrency", "2"))
        running = await terminal.wait_for(lambda s: "/1500 [" in bar_line(s))
        bar = bar_line(running)
        assert "%|" in bar and "deliveries/s" in bar and "<" in bar  # percentage, rate, ETA
        waiting = await terminal.wait_for(lambda s: "waiting" in bar_line(s))
        # the request that got the 429 waits as it asked; the others wait for the limiter,
        # paused by it for the Retry-After
        assert re.search(
            r", waiting \d s: (rate limited \(429\)|Retry-After)\]$", bar_line(waiting)
        )
        done = await terminal.wait_for(lambda s: any(x.startswith("exported") for x in s))
    assert bar_line(done).startswith(f"study {STUDY}: 100%|")
    assert "1500/1500" in bar_line(done)
    summary = done[-1]
    assert summary.startswith(f"exported 1,500 deliveries of 1 webhook(s) in 79 pages to {target}")
    assert re.search(
        r": 1 retry, 1 rate limited \(429\), [34] s waiting for the rate limit, ", summary
    )
    assert not any("WARNING" in line for line in done)  # the retry is on the bar, not a log line
    assert target.exists()


async def test_logs_are_written_above_the_bar_never_into_it(
    terminal: Terminal, tmp_path: Path
) -> None:
    """With -v every request is logged on its own line; the bar stays whole at the bottom."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(300), latency=0.05, rate_limit=None) as fake:
        fake.inject("status", status=503, path="/history")
        args = ("-v", "export-history", "--study-id", str(STUDY), "-o", str(target))
        await terminal.start(script(tmp_path, fake, *args, "--page-size", "20"))
        done = await terminal.wait_for(lambda s: any(x.startswith("exported") for x in s))
    kinds = (
        "DEBUG centrepoint_async: ",
        "WARNING centrepoint_async: retrying",
        "study",
        "exported",
    )
    assert all(line.startswith(kinds) for line in done if line), "\n".join(done)
    assert sum("study" in line for line in done) == 1  # one bar, drawn again in place
    assert sum(line.startswith("DEBUG") and "/history?" in line for line in done) >= 16
    assert any(line.startswith("WARNING") for line in done)  # -v shows retries as log lines
