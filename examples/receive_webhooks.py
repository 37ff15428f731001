"""An aiohttp app that receives CentrePoint webhooks, verified by HMAC signature.

    CENTREPOINT_WEBHOOK_SECRET=... python examples/receive_webhooks.py [inbox.db]

Point a CentrePoint webhook at https://<your host>/centrepoint/webhooks (behind TLS). With a
file name, deliveries are stored in a SQLite inbox before they are answered and handled in the
background: none is lost to a crash or a restart.
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

    receiver.mount(app, "/centrepoint/webhooks")
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    inbox = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    web.run_app(make_app(os.environ["CENTREPOINT_WEBHOOK_SECRET"], inbox), port=8080)
