"""The ``fetch-raw`` command and the demo's raw-data step, for ``cli.py`` to wire in.

``add_fetch_raw_parser(commands, parents)`` adds the sub-command;
``await fetch_raw_command(args)`` runs it; ``await demo_raw_fetch(fake, client, directory)``
is the demo's step: one raw-data fetch through the webhook loop on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from ._client import CentrePointClient
from ._exceptions import ConfigurationError
from ._models import DataRetrievalCompleteEvent, RawProcessingCompleteEvent
from .receiver import InboundEvent, WebhookReceiver
from .testing import FakeCentrePoint, serve_app

__all__ = ["SCOPES", "add_fetch_raw_parser", "demo_raw_fetch", "fetch_raw_command"]

#: The scopes the command asks for: the subject lives under CentrePoint, the data under
#: DataRetrieval.
SCOPES = ("CentrePoint", "DataRetrieval")


def _aware(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC (the API's requests are in UTC)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a numeric id, got {text!r}")
    return int(text)


def add_fetch_raw_parser(
    commands: Any, parents: Sequence[argparse.ArgumentParser] = ()
) -> argparse.ArgumentParser:
    """Add ``fetch-raw`` to ``commands`` (the result of ``add_subparsers``); returns it."""
    fetch: argparse.ArgumentParser = commands.add_parser(
        "fetch-raw",
        parents=list(parents),
        help="request a subject's raw data, wait for it, and download its files",
        description="Request raw activity data of one subject for a time range (GT3X ranges "
        "over 15 days are split), wait until it is ready, and download every file into "
        "DIR (resumable; each file checked against its size and renamed into place when "
        "whole). Needs the DataRetrieval scope.",
    )
    fetch.add_argument("--study-id", type=_id, required=True)
    fetch.add_argument("--subject-id", type=_id, required=True)
    fetch.add_argument("--begin", type=_aware, required=True, help="ISO 8601 (UTC if no zone)")
    fetch.add_argument("--end", type=_aware, required=True, help="ISO 8601 (UTC if no zone)")
    fetch.add_argument("--output-dir", "-o", type=Path, required=True, metavar="DIR")
    fetch.add_argument("--format", choices=["csv", "avro", "gt3x"], default="csv")
    fetch.add_argument(
        "--poll-interval", type=float, default=5.0, help="first wait between status checks (s)"
    )
    return fetch


async def fetch_raw_command(
    args: argparse.Namespace, *, quiet: bool = False, stderr: IO[str] | None = None
) -> int:
    """Run ``fetch-raw``: credentials and URLs from the ``CENTREPOINT_*`` variables.

    Prints each file's path and size (tab-separated) on stdout, a summary on ``stderr``.
    """
    if args.end <= args.begin:
        raise ConfigurationError("--end must be after --begin")
    async with CentrePointClient.from_env(scopes=SCOPES) as client:
        paths = await client.data_retrieval.fetch_raw(
            args.study_id,
            args.subject_id,
            args.begin,
            args.end,
            args.output_dir,
            file_format=args.format,
            poll_interval=args.poll_interval,
        )
    for path in paths:
        print(f"{path}\t{path.stat().st_size}")
    if not quiet:
        print(f"downloaded {len(paths)} file(s) to {args.output_dir}", file=stderr or sys.stderr)
    return 0


async def demo_raw_fetch(
    fake: FakeCentrePoint, client: CentrePointClient, directory: Path, *, timeout: float = 60.0
) -> list[Path]:
    """The demo's step: the fake announces a processed upload; a loopback receiver's handler
    requests the data; ``data_retrieval_complete`` hands the finished request to
    ``fetch_raw``-style waiting, and its files are downloaded. Returns their paths.

    ``client`` must hold the DataRetrieval scope.
    """
    secret = "demo-webhook-secret"  # noqa: S105 (loopback only, made up here)
    receiver = WebhookReceiver(secret=secret)
    requested: asyncio.Queue[str] = asyncio.Queue()

    @receiver.on(RawProcessingCompleteEvent)
    async def request_data(event: InboundEvent[RawProcessingCompleteEvent]) -> None:
        raw = event.payload
        study, subject = raw.study_id, raw.subject_id
        first, last = raw.min_event_timestamp, raw.max_event_timestamp
        if study is None or subject is None or first is None or last is None:
            return
        request = await client.data_retrieval.request_raw(study, subject, first, last)
        await requested.put(request.id)

    @receiver.on(DataRetrievalCompleteEvent)
    async def ready(event: InboundEvent[DataRetrievalCompleteEvent]) -> None:
        client.data_retrieval.notify(event.payload)

    app = web.Application()
    receiver.mount(app, "/centrepoint/webhooks")
    async with serve_app(app) as url:
        fake.send_webhooks_to(f"{url}/centrepoint/webhooks", secret=secret)
        study_id = next(iter(fake.dataset.subjects))
        subject_id = fake.dataset.subjects[study_id][0]["id"]
        end = datetime.now(UTC).replace(microsecond=0)
        await fake.complete_raw_processing(study_id, subject_id, end - timedelta(days=1), end)
        tracking_id = await asyncio.wait_for(requested.get(), timeout)
        await client.data_retrieval.wait(tracking_id, wait="event", timeout=timeout)
        return await client.data_retrieval.download_all(tracking_id, directory)
