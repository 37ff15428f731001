"""``centrepoint-async export-analytics``: a study's analytics table to JSON Lines, CSV or
Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._analytics_export import FORMATS, SUFFIXES, TABLES, AnalyticsExportResult, export_analytics
from .._client import CentrePointClient
from ._base import (
    OK,
    Command,
    Context,
    add_rate_limit_url,
    add_resume_or_force,
    count,
    day_or_time,
    next_steps,
    numeric_id,
    run_export,
)
from ._display import ExportDisplay, requests_summary

__all__ = ["COMMAND"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``export-analytics``."""
    parser.add_argument("--study-id", type=numeric_id, required=True, metavar="N", help="the study")
    parser.add_argument(
        "--table", choices=list(TABLES), required=True, help="the analytics table to export"
    )
    parser.add_argument(
        "--output", "-o", type=Path, required=True, metavar="FILE", help="the output file"
    )
    parser.add_argument(
        "--format",
        choices=list(FORMATS),
        help="jsonl: each item as the API sent it; csv, parquet: one flat row per item "
        f"(default: the one FILE's suffix names: {', '.join(SUFFIXES)}; parquet needs "
        "centrepoint-async[parquet])",
    )
    parser.add_argument(
        "--from",
        dest="from_date",
        type=day_or_time,
        metavar="DATE",
        help="first day or time (inclusive): YYYY-MM-DD or ISO 8601 (without a zone: the "
        "subject's local time)",
    )
    parser.add_argument(
        "--to",
        dest="to_date",
        type=day_or_time,
        metavar="DATE",
        help="last day or time (inclusive)",
    )
    parser.add_argument(
        "--subject",
        dest="subjects",
        type=numeric_id,
        action="append",
        metavar="ID",
        help="a subject to export; repeat for several (default: every subject of the study)",
    )
    parser.add_argument(
        "--concurrency",
        type=count("--concurrency"),
        default=4,
        metavar="N",
        help="requests in flight: subjects listed at once (default 4)",
    )
    add_rate_limit_url(parser)
    add_resume_or_force(parser)


async def run(ctx: Context) -> int:
    """Run ``export-analytics``: the export and its summary."""
    args = ctx.args
    done = await run_export(
        ctx,
        f"study {args.study_id} {args.table}",
        lambda client, display: _export(ctx, client, display),
        unit=" rows",
    )
    if done is not None:
        ctx.say(_summary(ctx, *done))
    return OK


async def _export(
    ctx: Context, client: CentrePointClient, display: ExportDisplay
) -> AnalyticsExportResult:
    """The export, with what to do next added to an error (and to an interruption)."""
    args = ctx.args
    with next_steps(ctx, args.output.with_name(args.output.name + ".part")):
        return await export_analytics(
            client,
            args.study_id,
            args.table,
            args.output,
            subjects=args.subjects,
            from_date=args.from_date,
            to_date=args.to_date,
            format=args.format,
            concurrency=args.concurrency,
            resume=args.resume,
            overwrite=args.force,
            progress=display.update,
        )


def _summary(
    ctx: Context, result: AnalyticsExportResult, client: CentrePointClient, elapsed: float
) -> str:
    """The one line said at the end."""
    resumed = f" ({result.resumed_items:,} from before the resume)" if result.resumed_items else ""
    stats = client.stats
    return (
        f"exported {result.total_items:,} rows{resumed} of {ctx.args.table} of "
        f"{result.subjects} subject(s) in {result.pages:,} pages to {ctx.args.output}: "
        + requests_summary(
            retries=stats.retries,
            rate_limited=stats.rate_limited,
            elapsed=elapsed,
            waited=stats.rate_limit_waited,
        )
    )


COMMAND = Command(
    name="export-analytics",
    help="export a study's minute summaries, daily statistics, sleep periods or event markers",
    description="Export one analytics table of every subject of a study (or those given) to "
    "JSON Lines (each item as the API sent it), CSV or Parquet (one flat row per item, a "
    "subject_id column, the documented columns in a fixed order). Output is written through "
    "FILE.part and FILE.checkpoint under a lock (FILE.lock): FILE appears only once the export "
    "is complete, --resume continues an interrupted one with nothing lost or repeated, and "
    "two exports never write the same file. Exit 0 also when --resume finds the export "
    "complete (nothing to resume).",
    add_arguments=add_arguments,
    run=run,
)
