"""An aiohttp app that receives CentrePoint webhooks, verified by HMAC signature.

    CENTREPOINT_WEBHOOK_SECRET=... python examples/receive_webhooks.py

Point a CentrePoint webhook at https://<your host>/centrepoint/webhooks (behind TLS).
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

import centrepoint_async as cp
from centrepoint_async.receiver import InboundEvent, WebhookReceiver

log = logging.getLogger("receive_webhooks")
UPLOADS = web.AppKey("uploads", list[int | None])  # upload ids seen, for the demo


def make_app(secret: str) -> web.Application:
    """The app: one route, handlers by event type."""
    receiver = WebhookReceiver(secret=secret, handler_timeout=2.0)
    app = web.Application()
    app[UPLOADS] = []

    @receiver.on("upload")
    async def on_upload(event: InboundEvent) -> None:
        upload = event.payload
        if isinstance(upload, cp.UploadEvent):
            app[UPLOADS].append(upload.upload_id)
            log.info(
                "upload %s of subject %s: %s", upload.upload_id, upload.subject_id, upload.status
            )

    @receiver.on()
    async def on_any(event: InboundEvent) -> None:
        log.info("event %s (delivery %s)", event.name, event.delivery_id)

    receiver.mount(app, "/centrepoint/webhooks")
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(os.environ["CENTREPOINT_WEBHOOK_SECRET"]), port=8080)
