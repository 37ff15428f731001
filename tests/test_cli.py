"""The command line against the fake server: in-process where it can be, processes where the
point is a process (kills, two writers, a full disk, the fake-server command)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib
import io
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
from asyncio.subprocess import DEVNULL
from pathlib import Path

import orjson
import pytest
import redis
from aiohttp import web

import centrepoint_async as cp
from centrepoint_async.cli import build_parser
from centrepoint_async.testing import Dataset, FakeCentrePoint, RedisServerProcess

from .cli_support import InProcess, env_for, kill_after, run, spawn
from .conftest import STUDY, WEBHOOK, lines, one_history

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """Run ``main(argv)`` in this process."""
    return InProcess(monkeypatch, capsys)


CLI = InProcess


def export_args(target: Path | str, *more: str) -> tuple[str, ...]:
    return ("export-history", "--study-id", str(STUDY), "-o", str(target), *more)


async def test_help_reads_well(cli: CLI) -> None:
    """--help lists the commands and the exit statuses; each command has its own help."""
    code, out, _ = await cli("--help")
    assert code == 0
    commands = ("demo", "export-history", "fetch-raw", "fake-server")
    for text in (*commands, "CENTREPOINT_CLIENT_ID", "CENTREPOINT_LOG", "Exit status"):
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
    """A study that does not exist: one line naming the 404, exit 1, nothing left behind."""
    code, _, err = await cli(
        "export-history", "--study-id", "4242", "-o", str(tmp_path / "x"), fake=fake
    )
    assert list(tmp_path.iterdir()) == []
    assert code == 1 and "404" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "resume_offset" not in err  # a note for programs, not for the person reading


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
    """An existing output is refused (exit 2, saying what to do); --resume of a finished export
    says there is nothing to resume (exit 0, for cron); --force starts over."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        assert (await cli(*export_args(target), fake=fake))[0] == 0
        target.write_bytes(b"kept\n")
        code, _, err = await cli(*export_args(target), fake=fake)
        assert code == 2 and "--resume continues it, --force starts over" in err
        assert target.read_bytes() == b"kept\n"
        target.unlink()
        assert (await cli(*export_args(target), fake=fake))[0] == 0
        code, _, err = await cli(*export_args(target, "--resume"), fake=fake)
        assert (code, err) == (
            0,
            f"centrepoint-async: {target} is complete; there is nothing to resume\n",
        )
        target.write_bytes(b"kept\n")
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
    # each request the server saw holds its place a window after its answer; a page fetched
    # ahead and cancelled once the listing ended may have taken one the server never saw
    # (kept: whether its bytes left cannot be known), at most one per place on the wire
    assert sent <= held <= sent + 4  # the export's default concurrency


def _options() -> dict[str, list[argparse.Action]]:
    """Every option of every command (and of the main parser, under ""), by command."""
    parser = build_parser()
    found = {"": [a for a in parser._actions if a.option_strings]}
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        found[name] = [a for a in sub._actions if a.option_strings]
    return found


def test_every_option_has_help_and_is_in_the_docs() -> None:
    """Each option of each command has help text, and docs/cli.md lists it (and the defaults
    it shows are the real ones)."""
    docs = (ROOT / "docs" / "cli.md").read_text()
    options = _options()
    assert set(options) == {
        "",
        "demo",
        "export-history",
        "export-analytics",
        "fetch-raw",
        "sync",
        "fake-server",
    }
    for command, actions in options.items():
        for action in actions:
            assert action.help and action.help != argparse.SUPPRESS, (command, action.dest)
            if action.dest not in ("help", "version"):
                assert max(action.option_strings, key=len) in docs, (command, action.dest)
    port = next(a for a in options["fake-server"] if a.dest == "port")
    assert port.default == 0 and "any free port" in docs and "8080" not in docs


LOADED = """
import sys
from centrepoint_async.cli import main
try:
    code = main(sys.argv[1:])
finally:
    loaded = [m for m in sys.modules if m.startswith("centrepoint_async.testing")]
    print(f"testing loaded: {bool(loaded)}", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (("--help",), False),
        (("export-history", "--study-id", str(STUDY), "-o", "-", "-q"), False),
        (("export-history", "--study-id", "x"), False),  # a usage error
        (("demo", "--size", "tiny", "-q"), True),  # the check sees the fake when it is loaded
    ],
)
async def test_the_fake_is_loaded_only_by_commands_that_run_it(
    args: tuple[str, ...], loaded: bool
) -> None:
    """A fresh process running export-history (or just --help) never imports the test fake."""
    async with FakeCentrePoint(dataset=one_history(10)) as fake:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOADED, *args,
            env=env_for(fake), stdout=DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert err.decode().splitlines()[-1] == f"testing loaded: {loaded}"


async def test_a_failure_before_the_first_item_leaves_nothing_behind(
    cli: CLI, tmp_path: Path
) -> None:
    """A wrong --webhook-id (404) leaves no .part or .checkpoint; the corrected command runs."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(30)) as fake:
        code, _, err = await cli(*export_args(target, "--webhook-id", "999"), fake=fake)
        assert code == 1 and "404" in err
        assert list(tmp_path.iterdir()) == []
        code, _, err = await cli(*export_args(target, "--webhook-id", str(WEBHOOK)), fake=fake)
        assert code == 0, err
    assert lines(target) == fake.history_items(STUDY, WEBHOOK)


async def test_a_failure_after_some_items_says_how_to_continue(cli: CLI, tmp_path: Path) -> None:
    """A 404 in the middle of an export: one line that says --resume continues it, and it does."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(100)) as fake:
        fake.inject("status", status=404, path="offset=57")  # pages of 20 start at their anchor
        args = export_args(target, "--page-size", "20", "--concurrency", "1")
        code, _, err = await cli(*args, fake=fake)
        assert code == 1
        assert "answered 404" in err
        assert err.endswith(" (the same command with --resume continues it)\n")
        assert len(err.strip().splitlines()) == 1
        code, _, err = await cli(*args, "--resume", fake=fake)
        assert code == 0, err
    assert lines(target) == fake.history_items(STUDY, WEBHOOK)


async def test_ctrl_c_says_how_to_continue(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) during an export: exit 130, 'interrupted' and how to resume, no trace."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(1000), latency=0.05, rate_limit=None) as fake:
        args = export_args(target, "--page-size", "20", "--concurrency", "1")
        process = await spawn(*args, env=env_for(fake))
        for _ in range(3000):
            if len(fake.api_requests("/history")) >= 4:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130
    assert err.decode() == (
        "centrepoint-async: interrupted (the same command with --resume continues it)\n"
    )


async def test_a_listing_short_of_its_total_warns_or_fails_with_strict(
    cli: CLI, tmp_path: Path
) -> None:
    """A history that ends at 537 items while totalCount says 2,000: a warning and exit 0, or
    exit 1 with --strict; the summary and the line say expected and got."""
    async with FakeCentrePoint(dataset=one_history(537)) as fake:
        history = fake.dataset.histories[WEBHOOK]
        history.total_count_override = 2000
        words = "the listing ended after 537 of the 2,000 deliveries its totalCount announced"
        code, _, err = await cli(*export_args(tmp_path / "a.jsonl"), fake=fake)
        assert code == 0
        assert f"warning: webhook {WEBHOOK}: {words} (--strict makes this an error)" in err
        code, _, err = await cli(*export_args(tmp_path / "b.jsonl", "--strict", "-q"), fake=fake)
        assert code == 1
        assert err == f"centrepoint-async: error: webhook {WEBHOOK}: {words}\n"
        history.total_count_override = None
        code, _, err = await cli(*export_args(tmp_path / "c.jsonl", "--strict"), fake=fake)
        assert code == 0 and "warning" not in err and "error" not in err
    assert len(lines(tmp_path / "a.jsonl")) == 537


async def test_a_dns_failure_is_one_line_naming_the_host() -> None:
    """An unknown host: one line naming it and the variable to check; no aiohttp warnings."""
    url = "https://centrepoint.invalid"
    env = env_for(None, CENTREPOINT_CLIENT_ID="id", CENTREPOINT_CLIENT_SECRET="secret")
    env |= {"CENTREPOINT_BASE_URL": url, "CENTREPOINT_AUTH_URL": url}
    code, _, err = await run("export-history", "--study-id", "1", "-o", "-", env=env)
    assert code == 1
    assert err.startswith(
        "centrepoint-async: error: cannot find host centrepoint.invalid (DNS lookup failed) "
        "(after 5 attempts): check CENTREPOINT_AUTH_URL and the network"
    )
    assert len(err.splitlines()) == 1


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server TLS context with a certificate no client trusts (made by openssl now)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a test certificate (apt-get install openssl)"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_tls_failure_is_one_line_naming_the_host(self_signed: ssl.SSLContext) -> None:
    """A certificate the system does not trust: one line naming the host and why."""
    runner = web.AppRunner(web.Application(), handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed).start()
        port = runner.addresses[0][1]
        env = env_for(None, CENTREPOINT_CLIENT_ID="id", CENTREPOINT_CLIENT_SECRET="secret")
        url = f"https://127.0.0.1:{port}"
        env |= {"CENTREPOINT_BASE_URL": url, "CENTREPOINT_AUTH_URL": url}
        code, _, err = await run("export-history", "--study-id", "1", "-o", "-", env=env)
    finally:
        await runner.cleanup()
    assert code == 1
    assert re.fullmatch(
        rf"centrepoint-async: error: TLS with 127\.0\.0\.1:{port} failed: certificate verify "
        r"failed: self.signed certificate \(after 5 attempts\): check CENTREPOINT_AUTH_URL, "
        r"the system's CA certificates \(SSL_CERT_FILE\) or a proxy in between\n",
        err,
    ), err


async def test_the_demo_leaves_nothing_in_the_temporary_directory(tmp_path: Path) -> None:
    """Without --output-dir the demo's files (JSONL, raw data) are removed at the end."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    code, out, err = await run("demo", "--size", "tiny", env=env_for(None, TMPDIR=str(temporary)))
    assert code == 0, err
    assert "(a temporary directory, removed)" in out and "raw data" in out
    assert list(temporary.iterdir()) == []


def test_the_short_listing_field_is_public() -> None:
    """ExportResult says expected and got per webhook, through the exported Shortfall."""
    result = cp.ExportResult(shortfalls=[cp.Shortfall(WEBHOOK, expected=2000, got=537)])
    assert not result.complete and cp.ExportResult().complete
