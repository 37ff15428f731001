"""``centrepoint-async fake-server``: the fake CentrePoint for other programs' tests.

It prints its URL and credentials as ``export NAME=VALUE`` lines. With ``--send-webhooks-to
URL`` it also sends webhooks there, signed with the secret of ``--webhook-secret`` or
``CENTREPOINT_WEBHOOK_SECRET`` (as CentrePoint does: ``X-ActiGraph-Signature``): its own
(``data_retrieval_complete`` when a request completes), and one of each ``--trigger EVENT``
once it listens, as ``stripe trigger`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from .._events import EVENT_TYPES
from ._base import OK, Command, Context, UsageError, count, http_url, seconds

__all__ = ["COMMAND", "ENV_WEBHOOK_SECRET"]

ENV_WEBHOOK_SECRET = "CENTREPOINT_WEBHOOK_SECRET"  # noqa: S105 (a variable's name)
SIZES = ["tiny", "small", "demo", "large"]
#: What ``--trigger`` takes: every event but the validation handshake.
TRIGGERS = [name for name in EVENT_TYPES if name != "validation"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fake-server``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=count("--port", minimum=0, below=65536),
        metavar="N",
        default=0,
        help="port to listen on (default 0: any free port, printed)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="dataset seed (default 0)")
    parser.add_argument(
        "--size", default="small", choices=SIZES, help="dataset size (default small)"
    )
    parser.add_argument(
        "--deliveries",
        type=count("--deliveries"),
        metavar="N",
        help="deliveries per webhook (overrides --size)",
    )
    parser.add_argument(
        "--client-secret", metavar="SECRET", help="the client secret to accept (default: random)"
    )
    parser.add_argument(
        "--latency",
        type=seconds("--latency"),
        default=0.0,
        metavar="SECONDS",
        help="seconds added to each answer (default 0)",
    )
    parser.add_argument(
        "--rate-limit",
        type=count("--rate-limit", minimum=0),
        metavar="N",
        default=500,
        help="requests per window (default 500; 0: no limit)",
    )
    parser.add_argument(
        "--rate-period",
        type=seconds("--rate-period", positive=True),
        metavar="SECONDS",
        default=60.0,
        help="window of the rate limit, in seconds (default 60)",
    )
    parser.add_argument(
        "--page-cache",
        type=count("--page-cache", minimum=0),
        metavar="N",
        default=0,
        help="history pages kept serialized, for benchmarks (default 0)",
    )
    _add_webhook_arguments(parser)


def _add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--send-webhooks-to",
        type=http_url,
        metavar="URL",
        help="send webhooks to this receiver: data_retrieval_complete as requests complete, "
        "and every --trigger",
    )
    parser.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help=f"HMAC secret that signs them (default: ${ENV_WEBHOOK_SECRET})",
    )
    parser.add_argument(
        "--trigger",
        action="append",
        default=[],
        choices=TRIGGERS,
        metavar="EVENT",
        help=f"send one sample EVENT once listening (repeatable): {', '.join(TRIGGERS)}",
    )


def _webhook_secret(args: argparse.Namespace) -> str | None:
    """The secret that signs sent webhooks; a usage error if they are sent and it is unset."""
    secret = args.webhook_secret or os.environ.get(ENV_WEBHOOK_SECRET) or None
    if args.trigger and not args.send_webhooks_to:
        raise UsageError("--trigger needs --send-webhooks-to URL")
    if args.send_webhooks_to and not secret:
        raise UsageError(f"--send-webhooks-to needs --webhook-secret or {ENV_WEBHOOK_SECRET}")
    return secret


async def run(ctx: Context) -> int:
    """Serve until interrupted."""
    from ..testing import Dataset, FakeCentrePoint
    from ..testing._sender import trigger

    args = ctx.args
    secret = _webhook_secret(args)
    fake = FakeCentrePoint(
        dataset=Dataset.sized(args.size, args.seed, deliveries=args.deliveries),
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
        if args.send_webhooks_to:
            fake.send_webhooks_to(args.send_webhooks_to, secret=secret)
            for event in args.trigger:
                sent = await trigger(fake, event)
                answer = f"answered {sent.status}" if sent.status else "no answer"
                print(f"sent {event} (delivery {sent.delivery_id}): {answer}", flush=True)
        await asyncio.Event().wait()
    return OK


COMMAND = Command(
    name="fake-server",
    help="run the fake CentrePoint server for other programs' tests",
    description="Serve a seeded fake CentrePoint on loopback until interrupted, and print the "
    "URL and credentials to use. With --send-webhooks-to it also sends signed webhooks to a "
    "receiver under test.",
    add_arguments=add_arguments,
    run=run,
)
