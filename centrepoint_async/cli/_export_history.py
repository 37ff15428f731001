"""``centrepoint-async export-history``: webhook delivery history to JSON Lines or CSV."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import IO

from .. import _protocol as proto
from .._client import CentrePointClient
from .._exceptions import CentrePointError
from .._export import (
    CheckpointError,
    ExportError,
    ExportResult,
    NothingToResumeError,
    OutputExistsError,
    export_history,
)
from .._ratelimit import RateLimit
from ._base import (
    DATA,
    OK,
    Command,
    Context,
    UsageError,
    checked,
    client_from_env,
    count,
    numeric_id,
    shared_rate_limit,
)
from ._display import ExportDisplay, summary_line

__all__ = ["COMMAND"]

RESUME_HINT = "the same command with --resume continues it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``export-history``."""
    parser.add_argument("--study-id", type=numeric_id, required=True, metavar="N", help="the study")
    parser.add_argument(
        "--webhook-id",
        type=numeric_id,
        metavar="N",
        help="one webhook (default: every webhook of the study)",
    )
    parser.add_argument(
        "--output", "-o", default="-", metavar="FILE", help="output file, or - for stdout"
    )
    parser.add_argument(
        "--format",
        choices=["jsonl", "csv"],
        default="jsonl",
        help="jsonl: each delivery as the API sent it; csv: the typed fields (default jsonl)",
    )
    parser.add_argument(
        "--concurrency",
        type=count("--concurrency"),
        default=4,
        metavar="N",
        help="pages in flight (default 4)",
    )
    parser.add_argument(
        "--page-size",
        type=checked(proto.check_page_size),
        default=proto.MAX_PAGE_SIZE,
        metavar="N",
        help=f"items per page, 1 to {proto.MAX_PAGE_SIZE} (default {proto.MAX_PAGE_SIZE})",
    )
    parser.add_argument(
        "--rate-limit-url",
        metavar="REDIS_URL",
        help="share one rate limit with every process given this Redis URL "
        "(redis://host:6379/0; needs centrepoint-async[redis])",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a listing ends before the total the server announced (default: "
        "a warning, exit 0)",
    )
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue an interrupted export of the same FILE"
    )
    again.add_argument("--force", action="store_true", help="start over, replacing FILE")


def _output(args: argparse.Namespace) -> Path | IO[bytes]:
    if args.output == "-":
        if args.resume or args.force:
            raise UsageError("--resume and --force need an output file (-o FILE)")
        return sys.stdout.buffer
    return Path(args.output)


async def run(ctx: Context) -> int:
    """Run ``export-history``: the export, its summary, and a word on any short listing."""
    args = ctx.args
    output = _output(args)
    shared = shared_rate_limit(args.rate_limit_url)
    display = ExportDisplay(
        f"study {args.study_id}", enabled=ctx.show_bar(), stream=ctx.stderr, handler=ctx.log
    )
    client = client_from_env(rate_limit=shared or RateLimit(), event_hooks=display.hooks())
    started = time.monotonic()
    try:
        async with shared or contextlib.nullcontext(), client, display:
            result = await _export(ctx, client, output, display)
    except NothingToResumeError as exc:
        ctx.say(f"centrepoint-async: {exc}")
        return OK
    _report(ctx, result, client, time.monotonic() - started)
    return DATA if args.strict and result.shortfalls else OK


async def _export(
    ctx: Context, client: CentrePointClient, output: Path | IO[bytes], display: ExportDisplay
) -> ExportResult:
    """The export, with what to do next added to an error (and to an interruption)."""
    args = ctx.args
    try:
        return await export_history(
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
    except asyncio.CancelledError:
        if _resumable(output):
            ctx.interrupted_hint = f" ({RESUME_HINT})"
        raise
    except OutputExistsError as exc:
        exc.add_note("--resume continues it, --force starts over")
        raise
    except CheckpointError as exc:
        exc.add_note("--force starts over")
        raise
    except CentrePointError as exc:
        if not isinstance(exc, ExportError) and _resumable(output):
            exc.add_note(RESUME_HINT)
        raise


def _resumable(output: Path | IO[bytes]) -> bool:
    """True when an interrupted export of ``output`` left something to resume."""
    return isinstance(output, Path) and output.with_name(output.name + ".part").exists()


def _report(ctx: Context, result: ExportResult, client: CentrePointClient, elapsed: float) -> None:
    """The summary line, and one line per webhook whose listing ended early."""
    args = ctx.args
    line = summary_line(
        result,
        output="standard output" if args.output == "-" else args.output,
        retries=client.stats.retries,
        rate_limited=client.stats.rate_limited,
        waited=client.stats.rate_limit_waited,
        elapsed=elapsed,
    )
    ctx.say(line)
    kind = "error" if args.strict else "warning"
    for short in result.shortfalls:
        text = (
            f"centrepoint-async: {kind}: webhook {short.webhook_id}: the listing ended after "
            f"{short.got:,} of the {short.expected:,} deliveries its totalCount announced"
        )
        if args.strict:
            print(text, file=ctx.stderr)
        else:
            ctx.say(f"{text} (--strict makes this an error)")


COMMAND = Command(
    name="export-history",
    help="export webhook delivery history to JSON Lines or CSV",
    description="Export the delivery history of one webhook, or of every webhook of a study. "
    "Output is written through FILE.part and FILE.checkpoint under a lock (FILE.lock), so an "
    "interrupted export never leaves a truncated line, --resume continues where it stopped, "
    "and two exports never write the same file. Exit 0 also when --resume finds the export "
    "complete (nothing to resume).",
    add_arguments=add_arguments,
    run=run,
)
