"""The ``centrepoint-async`` command: ``demo``, ``export-history`` and ``fake-server``."""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from . import __version__
from . import _protocol as proto
from ._client import CentrePointClient
from ._deliveries import WebhookDelivery
from ._exceptions import CentrePointError, ConfigurationError
from ._export import export_history
from ._models import UnknownEvent, Webhook
from ._ratelimit import RateLimit
from ._retry import RetryPolicy

__all__ = ["main"]


class UsageError(Exception):
    """A problem with what the user typed or set: one line on stderr, exit 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a numeric id, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    # -q/-v work before or after the command name
    common = argparse.ArgumentParser(add_help=False)
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bar or summary",
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every request",
    )
    parser = argparse.ArgumentParser(
        prog="centrepoint-async",
        description="Export CentrePoint webhook history, or try it all against a built-in fake.",
        epilog=f"Credentials come from {proto.ENV_CLIENT_ID} and {proto.ENV_CLIENT_SECRET}; "
        f"URLs from {proto.ENV_BASE_URL} and {proto.ENV_AUTH_URL} (defaults: ActiGraph's hosts).",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(quiet=False, verbose=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        parents=[common],
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
        parents=[common],
        help="export webhook delivery history to JSON Lines or CSV",
        description="Export the delivery history of one webhook, or of every webhook of a "
        "study. Output is written through PATH.part and PATH.checkpoint, so an interrupted "
        "export never leaves a truncated line and --resume continues where it stopped.",
    )
    export.add_argument("--study-id", type=_id, required=True, help="the study")
    export.add_argument("--webhook-id", type=_id, help="one webhook (default: all of the study)")
    export.add_argument("--output", "-o", default="-", help="output file, or - for stdout")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--concurrency", type=_positive_int, default=4, help="pages in flight")
    export.add_argument("--page-size", type=_positive_int, default=100, help="1 to 100")
    export.add_argument("--resume", action="store_true", help="continue an interrupted export")

    fake = commands.add_parser(
        "fake-server",
        parents=[common],
        help="run the fake CentrePoint server for other programs' tests",
        description="Serve a seeded fake CentrePoint on loopback until interrupted, and print "
        "the URL and credentials to use.",
    )
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=0, help="default: any free port")
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--size", default="small", choices=["tiny", "small", "demo", "large"])
    fake.add_argument(
        "--deliveries", type=_positive_int, help="deliveries per webhook (overrides --size)"
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
    return parser


def _client_from_env() -> CentrePointClient:
    client_id, secret = os.environ.get(proto.ENV_CLIENT_ID), os.environ.get(proto.ENV_CLIENT_SECRET)
    if not client_id or not secret:
        raise UsageError(
            f"set {proto.ENV_CLIENT_ID} and {proto.ENV_CLIENT_SECRET} "
            "to your CentrePoint API credentials"
        )
    return CentrePointClient(
        client_id,
        secret,
        base_url=os.environ.get(proto.ENV_BASE_URL, proto.DEFAULT_BASE_URL),
        auth_url=os.environ.get(proto.ENV_AUTH_URL, proto.DEFAULT_AUTH_URL),
    )


def _progress_bar(enabled: bool, description: str, total: int | None = None) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=" deliveries",
        desc=description,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )


async def _export_command(args: argparse.Namespace) -> int:
    if args.page_size > proto.MAX_PAGE_SIZE:
        raise UsageError("--page-size must be from 1 to 100")
    async with _client_from_env() as client:
        if args.webhook_id is not None:
            webhook_ids = [args.webhook_id]
        else:
            hooks = await client.webhooks.list(args.study_id).collect()
            webhook_ids = [h.id for h in hooks if h.id is not None]
        show = not args.quiet and sys.stderr.isatty()
        with _progress_bar(show, f"study {args.study_id}") as bar:
            result = await export_history(
                client,
                args.study_id,
                webhook_ids,
                args.output if args.output == "-" else Path(args.output),
                fmt=args.format,
                concurrency=args.concurrency,
                page_size=args.page_size,
                resume=args.resume,
                progress=bar.update,
            )
    if not args.quiet:
        print(
            f"exported {result.items} deliveries of {result.webhooks} webhook(s) "
            f"in {result.pages} pages to {args.output}",
            file=sys.stderr,
        )
    return 0


async def _fake_command(args: argparse.Namespace) -> int:
    from .testing import SIZES, Dataset, FakeCentrePoint

    studies, per_study, deliveries = SIZES[args.size]
    dataset = Dataset.generate(
        args.seed,
        studies=studies,
        webhooks_per_study=per_study,
        deliveries=args.deliveries or deliveries,
    )
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


async def _demo_command(args: argparse.Namespace) -> int:
    from .testing import Dataset, FakeCentrePoint

    time_scale = 20  # the 500-a-minute window, run 20 times faster
    period = 60.0 / time_scale
    dataset = Dataset.sized(args.size, args.seed)
    fake = FakeCentrePoint(dataset=dataset, rate_period=period)
    fake.chaos(0.02, seed=args.seed, kinds=("status", "drop"), retry_after=0.05)
    output_dir = args.output_dir or Path(tempfile.mkdtemp(prefix="centrepoint-demo-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {
        "failed": collections.Counter(),
        "events": collections.Counter(),
        "deliveries": 0,
        "pages": 0,
    }
    started = time.perf_counter()
    async with (
        fake,
        fake.client(
            rate_limit=RateLimit(500, period),
            retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.5),
        ) as client,
    ):
        studies = await client.studies.list().collect()
        hooks: list[Webhook] = []
        for study in studies:
            if study.id is not None:
                hooks += await client.webhooks.list(study.id).collect()
        total = sum(len(dataset.histories[h.id]) for h in hooks if h.id in dataset.histories)
        show = not args.quiet and sys.stderr.isatty()
        with _progress_bar(show, "exporting", total) as bar:
            await asyncio.gather(
                *(_demo_export(client, hook, output_dir, stats, bar.update) for hook in hooks)
            )
        elapsed = time.perf_counter() - started
        stats["faults"] = sum(1 for r in fake.requests if r.fault)
        if not args.quiet:
            print(_demo_summary(len(studies), len(hooks), stats, client, elapsed, output_dir))
    served = sum(len(dataset.histories[h.id]) for h in hooks if h.id in dataset.histories)
    if stats["deliveries"] != served:
        print(f"error: exported {stats['deliveries']} of {served} deliveries", file=sys.stderr)
        return 1
    return 0


async def _demo_export(
    client: CentrePointClient,
    hook: Webhook,
    output_dir: Path,
    stats: dict[str, Any],
    progress: Any,
) -> None:
    if hook.id is None or hook.study_id is None:
        return
    pager = client.webhooks.history(hook.study_id, hook.id, concurrency=4)
    path = output_dir / f"study-{hook.study_id}-webhook-{hook.id}.jsonl"
    with open(path, "wb") as out:  # noqa: ASYNC230 (a local file, written page by page)
        async for page in pager.pages():
            stats["pages"] += 1
            for delivery in page.items:
                out.write(orjson.dumps(delivery.raw) + b"\n")
                _count(delivery, stats)
            progress(len(page.items))


def _count(delivery: WebhookDelivery, stats: dict[str, Any]) -> None:
    stats["deliveries"] += 1
    payload = delivery.request.payload
    name = type(payload).__name__ if payload is not None else "(empty)"
    if isinstance(payload, UnknownEvent):
        unreadable = isinstance(payload.data, str)
        name = f"UnknownEvent: {payload.name or '?'}{' (body not JSON)' if unreadable else ''}"
    stats["events"][name] += 1
    if delivery.failed:
        if delivery.error_message:
            reason = delivery.error_message.rsplit(": ", 1)[-1]
        elif delivery.response is not None:
            reason = f"answered {delivery.response.response_code}"
        else:
            reason = "no answer"
        stats["failed"][reason] += 1


def _demo_summary(
    studies: int,
    webhooks: int,
    stats: dict[str, Any],
    client: CentrePointClient,
    elapsed: float,
    output_dir: Path,
) -> str:
    rows: list[tuple[str, str]] = [
        ("studies", str(studies)),
        ("webhooks", str(webhooks)),
        ("deliveries", str(stats["deliveries"])),
        ("failed deliveries", str(sum(stats["failed"].values()))),
    ]
    rows += [(f"  {reason}", str(n)) for reason, n in stats["failed"].most_common()]
    rows.append(("events by type", ""))
    rows += [(f"  {name}", str(n)) for name, n in stats["events"].most_common()]
    rows += [
        ("pages", str(stats["pages"])),
        ("requests", str(client.stats.requests)),
        ("faults injected by the fake", str(stats["faults"])),
        ("retries", str(client.stats.retries)),
        ("rate limited (429)", str(client.stats.rate_limited)),
        ("elapsed", f"{elapsed:.2f} s"),
        ("items/s", f"{stats['deliveries'] / elapsed:,.0f}"),
        ("JSONL files", str(output_dir)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "centrepoint-async demo: every webhook history exported from the fake", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)


# --- entry point -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = args.quiet or (args.command == "demo" and not args.verbose)  # the demo counts retries
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR if quiet else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    commands = {
        "demo": _demo_command,
        "export-history": _export_command,
        "fake-server": _fake_command,
    }
    try:
        return asyncio.run(commands[args.command](args))
    except UsageError as exc:
        print(f"centrepoint-async: error: {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"centrepoint-async: error: {exc}", file=sys.stderr)
        return 2
    except CentrePointError as exc:
        print(f"centrepoint-async: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = " (run again with --resume)" if args.command == "export-history" else ""
        print(f"centrepoint-async: interrupted{hint}", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"centrepoint-async: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
