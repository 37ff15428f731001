"""``centrepoint-async sync``: keep a directory a verified copy of a study's day files.

Everything the user typed is checked before the first request (exit 2). Files go to
``DIR/subject-{id}/{category}/{fileName}`` through ``mirror_study``; the command exits 0 when
every listed file is in place, 1 when some failed (each named on stderr, even with ``-q``).
``--dry-run`` prints what would be fetched (path, size, why) on stdout and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from datetime import date, datetime
from pathlib import Path

import attrs
from tqdm import tqdm

from .._client import CentrePointClient
from .._exceptions import ConfigurationError
from .._mirror import MAX_CONCURRENCY, MirrorResult, PlannedFetch, dry_run, mirror_study
from .._namespaces import DATA_CATEGORIES, check_category
from .._ratelimit import RateLimit
from ._base import (
    DATA,
    OK,
    Command,
    Context,
    UsageError,
    client_from_env,
    count,
    day_or_time,
    numeric_id,
    shared_rate_limit,
)
from ._display import ExportDisplay
from ._fetch_raw import _check_directory

__all__ = ["COMMAND", "SyncDisplay", "human_bytes", "sync_summary"]

RESUME_HINT = "the same command continues it: finished files are kept, parts are continued"
#: Files fetched before the bar estimates the bytes of the whole run.
ESTIMATE_AFTER = 20


def _shard(text: str) -> tuple[int, int]:
    """``K/N``: this process takes the subjects whose id modulo N is K (K from 0)."""
    k, slash, n = text.partition("/")
    if not (slash and k.isascii() and k.isdigit() and n.isascii() and n.isdigit()):
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 0/4), got {text!r}")
    if not 0 <= int(k) < int(n):
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be 0 to N-1")
    return int(k), int(n)


def _category(text: str) -> str:
    try:
        return check_category(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sync``."""
    parser.add_argument("--study-id", type=numeric_id, required=True, metavar="N", help="the study")
    parser.add_argument(
        "--output-dir", "-o", type=Path, required=True, metavar="DIR", help="the mirror"
    )
    parser.add_argument(
        "--category",
        type=_category,
        action="append",
        metavar="C",
        help="a data category, repeatable (default raw-accelerometer): "
        + ", ".join(DATA_CATEGORIES),
    )
    parser.add_argument(
        "--format", choices=["csv", "avro"], default="csv", help="file format (default csv)"
    )
    parser.add_argument(
        "--subject",
        type=numeric_id,
        action="append",
        metavar="ID",
        help="only this subject, repeatable (default: every subject of the study)",
    )
    parser.add_argument(
        "--start", type=day_or_time, metavar="ISO", help="first day (a date, or a time)"
    )
    parser.add_argument("--end", type=day_or_time, metavar="ISO", help="last day (inclusive)")
    parser.add_argument(
        "--concurrency",
        type=count("--concurrency", below=MAX_CONCURRENCY + 1),
        default=8,
        metavar="N",
        help=f"downloads at once, 1 to {MAX_CONCURRENCY} (default 8)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="only the subjects whose id modulo N is K (K from 0): N processes, one each",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be fetched (path, size, why) and fetch nothing",
    )
    parser.add_argument(
        "--rate-limit-url",
        metavar="REDIS_URL",
        help="share one rate limit with every process given this Redis URL "
        "(redis://host:6379/0; needs centrepoint-async[redis])",
    )


def _check(args: argparse.Namespace) -> None:
    """Usage errors found before any request."""
    start, end = args.start, args.end
    if start is not None and end is not None and _day(start) > _day(end):
        raise UsageError(f"--start {start} is after --end {end}")
    directory: Path = args.output_dir
    if not args.dry_run:
        _check_directory(directory)
    elif directory.exists() and not directory.is_dir():
        raise UsageError(f"-o {directory}: it exists and is not a directory")


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def human_bytes(count: float) -> str:
    """``5.65 MB``, ``512 B`` (decimal units, as disks are sold)."""
    if count < 1000:
        return f"{count:.0f} B"
    shown = tqdm.format_sizeof(count, "", 1000)  # "5.65M"
    return f"{shown[:-1]} {shown[-1]}B"


@attrs.define
class SyncDisplay(ExportDisplay):
    """The bar of a sync: files done of those listed, bytes and their rate, and what it waits
    for (the limiter, ``Retry-After``, expired links being renewed). Files found in place
    count as done from the start, outside the rate: the ETA is the files still to fetch at
    the rate files are fetched (waits included)."""

    unit: str = " files"
    result: MirrorResult | None = None
    started: float = attrs.field(factory=time.monotonic)

    def progress(self, result: MirrorResult) -> None:
        """Show a mirror's progress (the ``progress`` callback of ``mirror_study``)."""
        self.result = result
        bar = self.bar
        if bar is None:
            return
        done = result.files_downloaded + result.files_skipped + _failed_files(result)
        bar.initial = result.files_skipped
        bar.total = max(result.files_listed, done)
        if done != bar.n:
            bar.update(done - bar.n)

    def detail(self) -> str:
        """Bytes fetched (of about how many) and their rate; links being renewed."""
        result = self.result
        if result is None:
            return ""
        got = result.bytes_downloaded
        rate = got / max(time.monotonic() - self.started, 1e-3)
        text = f"{human_bytes(got)}"
        to_fetch = result.files_listed - result.files_skipped - _failed_files(result)
        # the bytes counted include the files under way: an estimate from a few finished
        # ones would be far off, so none until enough have finished
        if result.files_downloaded >= ESTIMATE_AFTER and to_fetch > result.files_downloaded:
            text += f" of ~{human_bytes(got * to_fetch / result.files_downloaded)}"
        text += f" at {human_bytes(rate)}/s"
        if result.renewing:
            text += f", waiting: URL renewal ({result.renewing} expired link(s))"
        return text


def _failed_files(result: MirrorResult) -> int:
    return sum(1 for failure in result.failed if failure.file_name is not None)


async def run(ctx: Context) -> int:
    """Run ``sync``: the mirror (or the plan, with ``--dry-run``), its summary, what failed."""
    args = ctx.args
    _check(args)
    shared = shared_rate_limit(args.rate_limit_url)
    display = SyncDisplay(
        f"study {args.study_id}", enabled=ctx.show_bar(), stream=ctx.stderr, handler=ctx.log
    )
    client = client_from_env(rate_limit=shared or RateLimit(), event_hooks=display.hooks())
    ctx.interrupted_hint = "" if args.dry_run else f" ({RESUME_HINT})"
    options = {
        "categories": args.category or ("raw-accelerometer",),
        "file_format": args.format,
        "subjects": args.subject,
        "start": args.start,
        "end": args.end,
        "concurrency": args.concurrency,
        "shard": args.shard,
        "progress": display.progress,
    }
    started = time.monotonic()
    planned: list[PlannedFetch] | None = None
    async with shared or contextlib.nullcontext(), client, display:
        if args.dry_run:
            result, planned = await dry_run(client, args.study_id, args.output_dir, **options)
        else:
            result = await mirror_study(client, args.study_id, args.output_dir, **options)
    if planned is not None:
        for fetch in planned:
            print(f"{fetch.path}\t{'?' if fetch.size is None else fetch.size}\t{fetch.reason}")
    ctx.say(sync_summary(args, result, client, time.monotonic() - started, planned))
    for failure in result.failed:
        print(f"centrepoint-async: failed: {failure}", file=ctx.stderr)
    return DATA if result.failed else OK


def sync_summary(
    args: argparse.Namespace,
    result: MirrorResult,
    client: CentrePointClient,
    elapsed: float,
    planned: list[PlannedFetch] | None = None,
) -> str:
    """The lines printed after a sync (or a dry run): what was fetched, unchanged, failed."""
    shard = f" (shard {args.shard[0]}/{args.shard[1]})" if args.shard else ""
    head = (
        f"study {args.study_id}{shard} to {args.output_dir}: {result.subjects:,} subject(s), "
        f"{result.files_listed:,} file(s) listed: "
    )
    failed = f"{len(result.failed):,} failed"
    if planned is not None:
        new = sum(1 for p in planned if p.reason == "new")
        sizes = [p.size for p in planned if p.size is not None]
        unknown = (
            f", {len(planned) - len(sizes):,} of unknown size" if len(sizes) < len(planned) else ""
        )
        return (
            f"dry run of {head}{len(planned):,} to fetch ({new:,} new, {len(planned) - new:,} "
            f"changed; {human_bytes(sum(sizes))}{unknown}), {result.files_skipped:,} unchanged, "
            f"{failed}; nothing fetched or written"
        )
    stats = client.stats
    waited = stats.rate_limit_waited
    return (
        f"synced {head}{result.files_downloaded:,} fetched "
        f"({human_bytes(result.bytes_downloaded)}), "
        f"{result.files_skipped:,} unchanged, {failed}; {result.links_renewed} link(s) renewed, "
        f"{stats.retries} retries, {stats.rate_limited} rate limited (429)"
        + (f", {waited:.0f} s waiting for the rate limit" if waited >= 0.5 else "")
        + f"; {elapsed:.1f} s"
    )


COMMAND = Command(
    name="sync",
    help="keep a directory a verified copy of a study's day files (incremental, resumable)",
    description="Mirror every subject's Data Access day files of a study into "
    "DIR/subject-{id}/{category}/{fileName}: every page, verified before they get their name, "
    "incremental (a rerun fetches only what changed), resumable after any interruption. "
    "--shard K/N splits a study over N processes or hosts sharing DIR; --rate-limit-url keeps "
    "them together under the API's ceiling. Exit 1 when some files failed (named).",
    add_arguments=add_arguments,
    run=run,
)
