"""The ``centrepoint-async`` command: ``demo``, ``export-history`` and ``fake-server``.

Exit statuses: 0 done; 1 a data or server problem (a checkpoint that does not verify, an output
another export is writing, the API failing for good); 2 a usage problem (bad arguments, missing
credentials, an output that exists or cannot be a file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import attrs
import orjson

from . import __version__
from . import _protocol as proto
from ._client import CentrePointClient
from ._deliveries import WebhookDelivery
from ._display import ExportDisplay, LogHandler, cli_logging, summary_line
from ._exceptions import CentrePointError, ConfigurationError
from ._export import (
    CheckpointError,
    ExportError,
    ExportResult,
    NothingToResumeError,
    OutputExistsError,
    OutputPathError,
    export_history,
)
from ._fetch_raw import SCOPES as RAW_SCOPES
from ._fetch_raw import add_fetch_raw_parser, demo_raw_fetch, fetch_raw_command
from ._models import UnknownEvent, Webhook
from ._ratelimit import RateLimit, RateLimiter

if TYPE_CHECKING:
    from .redis import RedisRateLimit

__all__ = ["main"]

USAGE, DATA = 2, 1  # exit statuses


class UsageError(Exception):
    """A problem with what the user typed or set: one line on stderr, exit 2."""


def _checked(check: Callable[[int], object]) -> Callable[[str], int]:
    """An argparse type: a whole number, validated by the library's own check.

    The library's ``ConfigurationError`` message becomes argparse's, so the command line and
    the library say the same thing about the same value.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        try:
            check(value)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def _at_least_one(name: str) -> Callable[[int], object]:
    return functools.partial(proto.check_count, name=name)


def _id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a numeric id, got {text!r}")
    return int(text)


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    """-q/-v on a parser; given to the main parser and to each command, so both places work."""
    # SUPPRESS: a command's parser must not reset what was given before the command name
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bar or summary: errors only (for cron)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every request",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="centrepoint-async",
        description="Export CentrePoint webhook history, or try it all against a built-in fake.",
        epilog=f"Credentials come from {proto.ENV_CLIENT_ID} and {proto.ENV_CLIENT_SECRET}; "
        f"URLs from {proto.ENV_BASE_URL} and {proto.ENV_AUTH_URL} (defaults: ActiGraph's hosts). "
        "Exit status: 0 done, 1 a data or server problem, 2 a usage problem, 130 interrupted.",
    )
    _add_verbosity(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="export every history from a built-in fake server (no credentials needed)",
        description="Start a fake CentrePoint in-process with a realistic dataset, export every "
        "webhook history of every study concurrently, and print a summary.",
    )
    demo.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    demo.add_argument(
        "--size", default="demo", choices=["tiny", "small", "demo", "large"], help="dataset size"
    )
    demo.add_argument("--output-dir", type=Path, help="keep the JSONL files here")

    export = commands.add_parser(
        "export-history",
        help="export webhook delivery history to JSON Lines or CSV",
        description="Export the delivery history of one webhook, or of every webhook of a "
        "study. Output is written through PATH.part and PATH.checkpoint under a lock "
        "(PATH.lock), so an interrupted export never leaves a truncated line, --resume "
        "continues where it stopped, and two exports never write the same file.",
    )
    export.add_argument("--study-id", type=_id, required=True, help="the study")
    export.add_argument("--webhook-id", type=_id, help="one webhook (default: all of the study)")
    export.add_argument("--output", "-o", default="-", help="output file, or - for stdout")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument(
        "--concurrency",
        type=_checked(_at_least_one("--concurrency")),
        default=4,
        help="pages in flight",
    )
    export.add_argument(
        "--page-size",
        type=_checked(proto.check_page_size),
        default=proto.MAX_PAGE_SIZE,
        help=f"1 to {proto.MAX_PAGE_SIZE}",
    )
    export.add_argument(
        "--rate-limit-url",
        metavar="REDIS_URL",
        help="share one rate limit with every process given this Redis URL "
        "(redis://host:6379/0; needs centrepoint-async[redis])",
    )
    again = export.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue an interrupted export")
    again.add_argument(
        "--force", action="store_true", help="start over, replacing an existing output"
    )

    fake = commands.add_parser(
        "fake-server",
        help="run the fake CentrePoint server for other programs' tests",
        description="Serve a seeded fake CentrePoint on loopback until interrupted, and print "
        "the URL and credentials to use.",
    )
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=0, help="default: any free port")
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--size", default="small", choices=["tiny", "small", "demo", "large"])
    fake.add_argument(
        "--deliveries",
        type=_checked(_at_least_one("--deliveries")),
        help="deliveries per webhook (overrides --size)",
    )
    fake.add_argument("--client-secret", help="fixed secret (default: a random one)")
    fake.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    fake.add_argument(
        "--rate-limit", type=int, default=500, help="requests per window (0: no limit)"
    )
    fake.add_argument(
        "--rate-period", type=float, default=60.0, help="window of the rate limit, in seconds"
    )
    fake.add_argument("--page-cache", type=int, default=0, help="history pages kept serialized")
    fetch = add_fetch_raw_parser(commands)
    for command in (demo, export, fake, fetch):
        _add_verbosity(command)
    return parser


@attrs.frozen
class _Options:
    """What every command is given besides its own arguments."""

    args: argparse.Namespace
    quiet: bool
    verbose: bool
    stderr: IO[str]
    log: LogHandler


def _shared_rate_limit(url: str | None) -> RedisRateLimit | None:
    """``--rate-limit-url``: one RedisRateLimit for every process given the same Redis URL."""
    if not url:
        return None
    try:
        from .redis import RedisRateLimit  # the optional [redis] extra, loaded only when asked
    except ImportError:
        raise UsageError("--rate-limit-url needs: pip install 'centrepoint-async[redis]'") from None
    return RedisRateLimit(url)


def _client_from_env(rate_limit: RateLimiter | None = None) -> CentrePointClient:
    """The client of ``CentrePointClient.from_env``, with a usage error if credentials are unset."""
    if not (os.environ.get(proto.ENV_CLIENT_ID) and os.environ.get(proto.ENV_CLIENT_SECRET)):
        raise UsageError(
            f"set {proto.ENV_CLIENT_ID} and {proto.ENV_CLIENT_SECRET} "
            "to your CentrePoint API credentials"
        )
    return CentrePointClient.from_env(rate_limit=rate_limit or RateLimit())


def _show_bar(options: _Options) -> bool:
    return not options.quiet and options.stderr.isatty()


async def _export_command(options: _Options) -> int:
    args = options.args
    if args.output == "-" and (args.resume or args.force):
        raise UsageError("--resume and --force need an output file (-o FILE)")
    output: Path | IO[bytes] = sys.stdout.buffer if args.output == "-" else Path(args.output)
    started = time.monotonic()
    shared = _shared_rate_limit(args.rate_limit_url)
    async with shared or contextlib.nullcontext(), _client_from_env(shared) as client:
        display = ExportDisplay(
            f"study {args.study_id}",
            enabled=_show_bar(options),
            stream=options.stderr,
            limiter=client.rate_limit,
            handler=options.log,
        )
        async with display:
            result = await export_history(
                client,
                args.study_id,
                None if args.webhook_id is None else [args.webhook_id],
                output,
                format=args.format,
                concurrency=args.concurrency,
                page_size=args.page_size,
                resume=args.resume,
                overwrite=args.force,
                progress=display.update,
            )
    if not options.quiet:
        line = summary_line(
            result,
            output="standard output" if args.output == "-" else args.output,
            retries=client.stats.retries,
            rate_limited=client.stats.rate_limited,
            elapsed=time.monotonic() - started,
        )
        print(line, file=options.stderr)
    return 0


async def _fake_command(options: _Options) -> int:
    from .testing import Dataset, FakeCentrePoint

    args = options.args
    dataset = Dataset.sized(args.size, args.seed, deliveries=args.deliveries or None)
    fake = FakeCentrePoint(
        dataset=dataset,
        host=args.host,
        port=args.port,
        client_secret=args.client_secret,
        latency=args.latency,
        rate_limit=args.rate_limit or None,
        rate_period=args.rate_period,
        page_cache=args.page_cache,
    )
    async with fake:
        print(f"FakeCentrePoint serving at {fake.url} (Ctrl-C to stop)")
        for name, value in fake.env().items():
            print(f"export {name}={value}", flush=True)
        await asyncio.Event().wait()
    return 0


# --- demo ------------------------------------------------------------------------------------


@attrs.define
class DemoStats:
    """What the demo counted while it exported."""

    deliveries: int = 0
    pages: int = 0
    failed: collections.Counter[str] = attrs.field(factory=collections.Counter)
    events: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def count(self, delivery: WebhookDelivery) -> None:
        """Count one delivery: its event type and, if it failed, why."""
        self.deliveries += 1
        payload = delivery.request.payload
        name = type(payload).__name__ if payload is not None else "(empty)"
        if isinstance(payload, UnknownEvent):
            unreadable = " (body not JSON)" if isinstance(payload.data, str) else ""
            name = f"UnknownEvent: {payload.name or '?'}{unreadable}"
        self.events[name] += 1
        if delivery.failed:
            if delivery.error_message:
                reason = delivery.error_message.rsplit(": ", 1)[-1]
            elif delivery.response is not None:
                reason = f"answered {delivery.response.response_code}"
            else:
                reason = "no answer"
            self.failed[reason] += 1


async def _demo_command(options: _Options) -> int:
    from .testing import Dataset, FakeCentrePoint, fast_retry

    args = options.args
    time_scale = 20  # the 500-a-minute window, run 20 times faster
    period = 60.0 / time_scale
    dataset = Dataset.sized(args.size, args.seed)
    fake = FakeCentrePoint(dataset=dataset, rate_period=period)
    fake.chaos(0.02, seed=args.seed, kinds=("status", "drop"), retry_after=0.05)
    output_dir = args.output_dir or Path(tempfile.mkdtemp(prefix="centrepoint-demo-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    stats = DemoStats()
    started = time.perf_counter()
    async with (
        fake,
        fake.client(
            rate_limit=RateLimit(500, period),
            retry=fast_retry(),
        ) as client,
    ):
        hooks = await _demo_webhooks(client)
        served = sum(len(fake.history_items(*hook)) for hook in hooks)
        display = ExportDisplay(
            "exporting", enabled=_show_bar(options), stream=options.stderr, handler=options.log
        )
        async with display:
            await _demo_walk(client, hooks, output_dir, stats, display)
        if not options.quiet:
            summary = _demo_summary(
                studies=len({study_id for study_id, _ in hooks}),
                webhooks=len(hooks),
                stats=stats,
                client=client,
                faults=sum(1 for r in fake.requests if r.fault),
                elapsed=time.perf_counter() - started,
                output_dir=output_dir,
            )
            print(summary)
        # the raw-data loop: the fake announces new raw data, a receiver requests it and
        # downloads it when data_retrieval_complete arrives
        async with fake.client(scopes=RAW_SCOPES, retry=client.retry) as raw_client:
            raw = await demo_raw_fetch(fake, raw_client, output_dir / "raw")
        if not options.quiet:
            for path in raw:
                print(f"  raw data  {path} ({path.stat().st_size:,} bytes)")
    if stats.deliveries != served:
        print(f"error: exported {stats.deliveries} of {served} deliveries", file=options.stderr)
        return DATA
    return 0


async def _demo_webhooks(client: CentrePointClient) -> list[tuple[int, int]]:
    """(study id, webhook id) of every webhook of every study."""
    hooks: list[Webhook] = []
    async for study in client.studies.list():
        if study.id is not None:
            hooks += await client.webhooks.list(study.id).collect()
    return [(h.study_id, h.id) for h in hooks if h.id is not None and h.study_id is not None]


async def _demo_walk(
    client: CentrePointClient,
    hooks: list[tuple[int, int]],
    output_dir: Path,
    stats: DemoStats,
    display: ExportDisplay,
) -> None:
    """Export every webhook's history at once, one JSONL file each, counting as it goes."""
    progress = ExportResult(expected=0)

    async def one(study_id: int, webhook_id: int) -> None:
        pager = client.webhooks.history(study_id, webhook_id, concurrency=4)
        path = output_dir / f"study-{study_id}-webhook-{webhook_id}.jsonl"
        with open(path, "wb") as out:  # noqa: ASYNC230 (a local file, written page by page)
            async for page in pager.pages():
                if page.offset == 0 and page.total_count is not None:
                    progress.expected = (progress.expected or 0) + page.total_count
                out.write(b"".join(orjson.dumps(d.raw) + b"\n" for d in page.items))
                for delivery in page.items:
                    stats.count(delivery)
                stats.pages += 1
                progress.items += len(page.items)
                progress.pages += 1
                display.update(progress)

    await asyncio.gather(*(one(*hook) for hook in hooks))


def _demo_summary(
    *,
    studies: int,
    webhooks: int,
    stats: DemoStats,
    client: CentrePointClient,
    faults: int,
    elapsed: float,
    output_dir: Path,
) -> str:
    rows: list[tuple[str, str]] = [
        ("studies", str(studies)),
        ("webhooks", str(webhooks)),
        ("deliveries", str(stats.deliveries)),
        ("failed deliveries", str(sum(stats.failed.values()))),
    ]
    rows += [(f"  {reason}", str(n)) for reason, n in stats.failed.most_common()]
    rows.append(("events by type", ""))
    rows += [(f"  {name}", str(n)) for name, n in stats.events.most_common()]
    rows += [
        ("pages", str(stats.pages)),
        ("requests", str(client.stats.requests)),
        ("faults injected by the fake", str(faults)),
        ("retries", str(client.stats.retries)),
        ("rate limited (429)", str(client.stats.rate_limited)),
        ("elapsed", f"{elapsed:.2f} s"),
        ("items/s", f"{stats.deliveries / elapsed:,.0f}"),
        ("JSONL files", str(output_dir)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "centrepoint-async demo: every webhook history exported from the fake", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)


# --- entry point -----------------------------------------------------------------------------


async def _fetch_raw_command(options: _Options) -> int:
    return await fetch_raw_command(options.args, quiet=options.quiet, stderr=options.stderr)


_COMMANDS = {
    "demo": _demo_command,
    "export-history": _export_command,
    "fake-server": _fake_command,
    "fetch-raw": _fetch_raw_command,
}
# what to do about an export error, said in the command's words
_HINTS: dict[type[ExportError], str] = {
    OutputExistsError: " (--resume continues it, --force starts over)",
    CheckpointError: " (--force starts over)",
}


def _status_of(exc: BaseException) -> int:
    usage = (UsageError, ConfigurationError, OutputExistsError, OutputPathError)
    return USAGE if isinstance(exc, (*usage, NothingToResumeError)) else DATA


def _error_line(exc: BaseException) -> str:
    hint = next((h for cls, h in _HINTS.items() if isinstance(exc, cls)), "")
    return f"centrepoint-async: error: {exc}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    if quiet and verbose:
        parser.error("-q/--quiet and -v/--verbose exclude each other")
    # the demo counts retries in its summary instead of logging each one
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    if args.command == "demo" and not verbose:
        level = logging.ERROR
    stderr = sys.stderr
    with cli_logging(level, stderr) as handler:
        handler.show_retries = verbose
        options = _Options(args, quiet, verbose, stderr, handler)
        try:
            return asyncio.run(_COMMANDS[args.command](options))
        except (UsageError, CentrePointError) as exc:
            print(_error_line(exc), file=stderr)
            return _status_of(exc)
        except KeyboardInterrupt:
            hint = " (run again with --resume)" if args.command == "export-history" else ""
            print(f"centrepoint-async: interrupted{hint}", file=stderr)
            return 130
        except OSError as exc:
            print(f"centrepoint-async: error: {exc}", file=stderr)
            return DATA


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
