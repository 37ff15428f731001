"""``centrepoint-async export-history``: webhook delivery history to JSON Lines or CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO

from .. import _protocol as proto
from .._client import CentrePointClient
from .._export import (
    ExportResult,
    export_history,
)
from ._base import (
    DATA,
    OK,
    Command,
    Context,
    UsageError,
    add_rate_limit_url,
    add_resume_or_force,
    checked,
    count,
    next_steps,
    numeric_id,
    run_export,
)
from ._display import ExportDisplay, summary_line

__all__ = ["COMMAND"]


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
    add_rate_limit_url(parser)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a listing ends before the total the server announced (default: "
        "a warning, exit 0)",
    )
    add_resume_or_force(parser)


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
    done = await run_export(
        ctx,
        f"study {args.study_id}",
        lambda client, display: _export(ctx, client, output, display),
    )
    if done is None:
        return OK
    result, client, elapsed = done
    _report(ctx, result, client, elapsed)
    return DATA if args.strict and result.shortfalls else OK


async def _export(
    ctx: Context, client: CentrePointClient, output: Path | IO[bytes], display: ExportDisplay
) -> ExportResult:
    """The export, with what to do next added to an error (and to an interruption)."""
    args = ctx.args
    part = output.with_name(output.name + ".part") if isinstance(output, Path) else None
    with next_steps(ctx, part):
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
