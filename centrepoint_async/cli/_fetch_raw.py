"""``centrepoint-async fetch-raw``: request a subject's raw data, wait for it, download it.

Everything is checked before the first request (a data retrieval request holds one of the
account's ten slots for hours): the arguments, the credentials, and the output directory,
created if missing. Each request's tracking id is said as soon as it exists, and again when
Ctrl-C stops the command: ``fetch-raw --tracking-id ID -o DIR`` downloads it later.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from .._client import CentrePointClient
from .._data_retrieval import GT3X_MAX_SPAN, MAX_ACTIVE, split_range
from ._base import OK, Command, Context, UsageError, client_from_env, numeric_id, seconds

__all__ = ["COMMAND", "SCOPES"]

#: The scopes the command asks for: the subject lives under CentrePoint, the data under
#: DataRetrieval.
SCOPES = ("CentrePoint", "DataRetrieval")
_TRACKING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,99}")
_RANGE = ("study_id", "subject_id", "begin", "end")


def _aware(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC (the API's requests are in UTC)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _tracking_id(text: str) -> str:
    if not _TRACKING_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected a tracking id (letters, digits, -), got {text!r}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fetch-raw``."""
    parser.add_argument("--study-id", type=numeric_id, metavar="N", help="the subject's study")
    parser.add_argument("--subject-id", type=numeric_id, metavar="N", help="the subject")
    parser.add_argument(
        "--begin", type=_aware, metavar="ISO", help="first instant, ISO 8601 (UTC if no zone)"
    )
    parser.add_argument(
        "--end", type=_aware, metavar="ISO", help="last instant, ISO 8601 (UTC if no zone)"
    )
    parser.add_argument(
        "--tracking-id",
        type=_tracking_id,
        metavar="ID",
        help="download an existing request instead (printed by an earlier fetch-raw); "
        "replaces --study-id, --subject-id, --begin and --end",
    )
    parser.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory for the files (created if missing)",
    )
    parser.add_argument(
        "--format",
        choices=["csv", "avro", "gt3x"],
        default="csv",
        help="file format of a new request (default csv)",
    )
    parser.add_argument(
        "--poll-interval",
        type=seconds("--poll-interval", positive=True),
        default=5.0,
        metavar="SECONDS",
        help="first wait between status checks, in seconds (default 5; it grows to 60)",
    )


def _check(args: argparse.Namespace) -> list[tuple[datetime, datetime]]:
    """Usage errors before any request; the time ranges to request (none for --tracking-id)."""
    given = [f"--{name.replace('_', '-')}" for name in _RANGE if getattr(args, name) is not None]
    if args.tracking_id is not None:
        if given:
            raise UsageError(f"--tracking-id downloads an existing request: leave out {given[0]}")
        pieces = []
    elif len(given) < len(_RANGE):
        raise UsageError("give --study-id, --subject-id, --begin and --end (or --tracking-id)")
    elif args.end <= args.begin:
        raise UsageError("--end must be after --begin")
    else:
        span = GT3X_MAX_SPAN if args.format == "gt3x" else args.end - args.begin
        pieces = split_range(args.begin, args.end, span)
        if len(pieces) > MAX_ACTIVE:
            days = GT3X_MAX_SPAN.days * MAX_ACTIVE
            raise UsageError(f"a GT3X range is at most {days} days per command; split it")
    _check_directory(args.output_dir)
    return pieces


def _check_directory(directory: Path) -> None:
    """``directory`` exists (made now if missing) and takes new files, or a usage error."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"-o {directory}: it exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"-o {directory}: cannot create it: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"-o {directory}: not writable")


async def run(ctx: Context) -> int:
    """Run ``fetch-raw``: each file's path and size (tab-separated) on stdout."""
    args = ctx.args
    pieces = _check(args)
    ids: list[str] = [] if args.tracking_id is None else [args.tracking_id]
    async with client_from_env(scopes=SCOPES) as client:
        try:
            for begin, end in pieces:
                request = await client.data_retrieval.request_raw(
                    args.study_id, args.subject_id, begin, end, file_format=args.format
                )
                ids.append(request.id)
                ctx.say(
                    f"requested raw data {begin:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: "
                    f"tracking id {request.id}"
                )
            paths = await _collect(client, ids, args)
        except asyncio.CancelledError:
            _interrupted(ctx, ids)
            raise
    for path in paths:
        print(f"{path}\t{path.stat().st_size}")
    ctx.say(f"downloaded {len(paths)} file(s) to {args.output_dir}")
    return OK


async def _collect(
    client: CentrePointClient, ids: list[str], args: argparse.Namespace
) -> list[Path]:
    """Wait for each request to complete, then download its files; every path, in order."""
    paths: list[Path] = []
    for tracking_id in ids:
        await client.data_retrieval.wait(tracking_id, poll_interval=args.poll_interval)
        paths += await client.data_retrieval.download_all(tracking_id, args.output_dir)
    return paths


def _interrupted(ctx: Context, ids: list[str]) -> None:
    """Ctrl-C: the requests go on at CentrePoint; say how to download them later."""
    for tracking_id in ids:
        print(
            f"centrepoint-async: request {tracking_id} goes on at CentrePoint; download it with: "
            f"centrepoint-async fetch-raw --tracking-id {tracking_id} -o {ctx.args.output_dir}",
            file=ctx.stderr,
        )


COMMAND = Command(
    name="fetch-raw",
    help="request a subject's raw data, wait for it, and download its files",
    description="Request raw activity data of one subject for a time range (GT3X ranges over "
    "15 days are split), wait until it is ready, and download every file into DIR "
    "(resumable; each file checked against its size and renamed into place when whole). "
    "--tracking-id downloads a request made earlier. Needs the DataRetrieval scope.",
    add_arguments=add_arguments,
    run=run,
)
