"""An aiohttp app that receives CentrePoint webhooks, verified by HMAC signature.

    CENTREPOINT_WEBHOOK_SECRET=... python examples/receive_webhooks.py [inbox.db]

Point a CentrePoint webhook at https://<your host>/centrepoint/webhooks (behind TLS). With a
file name, deliveries are stored in a SQLite inbox before they are answered and handled in the
background: none is lost to a crash or a restart. The receiver's decisions are logged
(``logging.basicConfig``): refusals at INFO, handler failures at ERROR with the traceback, and
one line per delivery at DEBUG (``--debug``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from aiohttp import web

import centrepoint_async as cp
from centrepoint_async.receiver import InboundEvent, SQLiteInbox, WebhookReceiver

log = logging.getLogger("receive_webhooks")
UPLOADS = web.AppKey("uploads", list[int | None])  # upload ids seen, for the demo
SECRET_VARIABLE = "CENTREPOINT_WEBHOOK_SECRET"


def make_app(secret: str, inbox: Path | None = None) -> web.Application:
    """The app: one route, handlers by event type, started and closed with the app."""
    receiver = WebhookReceiver(
        secret=secret, inbox=SQLiteInbox(inbox) if inbox else None, handler_timeout=2.0
    )
    app = web.Application()
    app[UPLOADS] = []

    @receiver.on(cp.UploadEvent)
    async def on_upload(event: InboundEvent[cp.UploadEvent]) -> None:
        upload = event.payload
        app[UPLOADS].append(upload.upload_id)
        log.info("upload %s of subject %s: %s", upload.upload_id, upload.subject_id, upload.status)

    @receiver.on()
    async def on_any(event: InboundEvent) -> None:
        log.info("event %s (delivery %s)", event.name, event.delivery_id)

    @receiver.on_error
    async def alert(event: InboundEvent, error: Exception) -> None:
        log.warning("alert: %s delivery %s failed: %r", event.name, event.delivery_id, error)

    receiver.mount(app, "/centrepoint/webhooks")
    return app


def main(argv: list[str]) -> int:
    """Run the app on port 8080; 2 (and why) when the secret is not set."""
    secret = os.environ.get(SECRET_VARIABLE)
    if not secret:
        print(f"{SECRET_VARIABLE} is not set: give it the webhook's secret", file=sys.stderr)
        return 2
    debug = "--debug" in argv
    args = [arg for arg in argv if arg != "--debug"]
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO)
    web.run_app(make_app(secret, Path(args[0]) if args else None), port=8080)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
