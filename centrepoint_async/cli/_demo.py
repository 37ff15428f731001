"""``centrepoint-async demo``: export every history from a built-in fake, and summarise it.

Needs no credentials and no network. The files go to ``--output-dir``, or to a temporary
directory that is removed at the end (nothing is left behind).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import orjson

from .._client import CentrePointClient
from .._deliveries import WebhookDelivery
from .._export import ExportResult
from .._models import UnknownEvent
from .._ratelimit import RateLimit
from ._base import DATA, OK, Command, Context, UsageError
from ._display import ExportDisplay
from ._fetch_raw import SCOPES

if TYPE_CHECKING:
    from ..testing import FakeCentrePoint

__all__ = ["COMMAND", "DemoStats"]

SIZES = ["tiny", "small", "demo", "large"]
TIME_SCALE = 20  # the 500-a-minute window, run 20 times faster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``demo``."""
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="dataset seed (default 0)")
    parser.add_argument("--size", default="demo", choices=SIZES, help="dataset size (default demo)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="keep the JSONL and raw data files here (default: a temporary directory, removed)",
    )


@attrs.define
class DemoStats:
    """What the demo counted while it exported."""

    deliveries: int = 0
    pages: int = 0
    sync_failed: int = 0  # day files the sync step could not mirror
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


@contextlib.contextmanager
def _directory(given: Path | None) -> Iterator[Path]:
    """``--output-dir`` (checked, made if missing), or a temporary directory removed after."""
    if given is None:
        with tempfile.TemporaryDirectory(prefix="centrepoint-demo-") as name:
            yield Path(name)
        return
    if given.exists() and not given.is_dir():
        raise UsageError(f"--output-dir {given}: it exists and is not a directory")
    given.mkdir(parents=True, exist_ok=True)
    yield given


async def run(ctx: Context) -> int:
    """Run ``demo``: exit 1 if any served delivery was not exported."""
    from ..testing import Dataset, FakeCentrePoint

    args = ctx.args
    with _directory(args.output_dir) as directory:
        fake = FakeCentrePoint(
            dataset=Dataset.sized(args.size, args.seed), rate_period=60.0 / TIME_SCALE
        )
        fake.chaos(0.02, seed=args.seed, kinds=("status", "drop"), retry_after=0.05)
        async with fake:
            stats, served = await _export_all(ctx, fake, directory)
    if stats.deliveries != served:
        print(f"error: exported {stats.deliveries} of {served} deliveries", file=ctx.stderr)
        return DATA
    if stats.sync_failed:
        print(f"error: {stats.sync_failed} day file(s) not mirrored", file=ctx.stderr)
        return DATA
    return OK


async def _export_all(
    ctx: Context, fake: FakeCentrePoint, directory: Path
) -> tuple[DemoStats, int]:
    """Every history, then the raw-data loop; the counts, and the deliveries served."""
    from ..testing import fast_retry
    from ._demo_raw import demo_raw_fetch
    from ._demo_sync import demo_sync, demo_sync_lines

    stats = DemoStats()
    started = time.perf_counter()
    limit = RateLimit(500, 60.0 / TIME_SCALE)
    async with fake.client(rate_limit=limit, retry=fast_retry()) as client:
        hooks = await _demo_webhooks(client)
        served = sum(len(fake.history_items(*hook)) for hook in hooks)
        display = ExportDisplay(
            "exporting", enabled=ctx.show_bar(), stream=ctx.stderr, handler=ctx.log
        )
        async with display:
            await _demo_walk(client, hooks, directory, stats, display)
        summary = _demo_summary(
            studies=len({study_id for study_id, _ in hooks}),
            webhooks=len(hooks),
            stats=stats,
            client=client,
            faults=sum(1 for r in fake.requests if r.fault),
            elapsed=time.perf_counter() - started,
            output=str(directory) if ctx.args.output_dir else "(a temporary directory, removed)",
        )
        if not ctx.quiet:
            print(summary)
        # the raw-data loop: the fake announces new raw data, a receiver requests it and
        # downloads it when data_retrieval_complete arrives
        async with fake.client(scopes=SCOPES, retry=client.retry) as raw_client:
            raw = await demo_raw_fetch(fake, raw_client, directory / "raw")
        # the study on disk: day files mirrored, one day re-processed, the mirror brought up
        # to date (a client with each call's own scope: CentrePoint and DataAccess)
        async with fake.client(rate_limit=limit, retry=client.retry) as sync_client:
            first, again = await demo_sync(fake, sync_client, directory / "mirror")
        stats.sync_failed = len(first.failed) + len(again.failed)
    if not ctx.quiet:
        for path in raw:
            shown = path if ctx.args.output_dir else path.name
            print(f"  raw data  {shown} ({path.stat().st_size:,} bytes)")
        mirror = directory / "mirror" if ctx.args.output_dir else "mirror/"
        print("\n".join(demo_sync_lines(first, again, str(mirror))))
    return stats, served


async def _demo_webhooks(client: CentrePointClient) -> list[tuple[int, int]]:
    """(study id, webhook id) of every webhook of every study."""
    return [
        (study.id, hook.id)
        async for study in client.studies.list()
        async for hook in client.webhooks.list(study.id)
    ]


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
    output: str,
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
        ("waiting for the rate limit", f"{client.stats.rate_limit_waited:.1f} s"),
        ("elapsed", f"{elapsed:.2f} s"),
        ("items/s", f"{stats.deliveries / elapsed:,.0f}"),
        ("JSONL files", output),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "centrepoint-async demo: every webhook history exported from the fake", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)


COMMAND = Command(
    name="demo",
    help="export every history from a built-in fake server (no credentials needed)",
    description="Start a fake CentrePoint in-process with a realistic dataset, export every "
    "webhook history of every study concurrently, fetch one subject's raw data through the "
    "webhook loop, mirror a study's day files (and again after a day is re-processed), and "
    "print a summary. Nothing is left behind unless --output-dir is given.",
    add_arguments=add_arguments,
    run=run,
)
