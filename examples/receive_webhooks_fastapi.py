"""A FastAPI app that receives CentrePoint webhooks into a SQLite inbox (Bearer token).

    CENTREPOINT_WEBHOOK_TOKEN=... uvicorn --factory examples.receive_webhooks_fastapi:main

Point a CentrePoint webhook at https://<your host>/centrepoint/webhooks/ (behind TLS; note the
final slash: a mounted ASGI app serves the paths below its mount point). Each delivery is
committed to ``webhooks.db`` before CentrePoint gets its 202, and handled by background workers
with retries; ``GET /dead-letters`` lists the ones whose handler kept failing. The app's
lifespan starts the receiver (deliveries stored before a restart are handled at once) and
closes it at shutdown: Starlette runs no lifespan of a mounted application, so the receiver's
is given to the app, composed here with one of the app's own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

import centrepoint_async as cp
from centrepoint_async.receiver import InboundEvent, SQLiteInbox, WebhookReceiver

log = logging.getLogger("receive_webhooks_fastapi")
TOKEN_VARIABLE = "CENTREPOINT_WEBHOOK_TOKEN"


def make_app(token: str, inbox: Path) -> FastAPI:
    """The app: the receiver mounted, started and closed by the app's lifespan, and a
    dead-letter listing."""
    receiver = WebhookReceiver(bearer_token=token, inbox=SQLiteInbox(inbox))
    uploads: list[int | None] = []

    @receiver.on(cp.UploadEvent)
    async def on_upload(event: InboundEvent[cp.UploadEvent]) -> None:
        uploads.append(event.payload.upload_id)
        log.info("upload %s: %s", event.payload.upload_id, event.payload.status)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        async with receiver.lifespan(app):  # alone: FastAPI(lifespan=receiver.lifespan)
            log.info("receiving webhooks")  # the app's own start-up and shutdown go here
            yield

    app = FastAPI(lifespan=lifespan)
    app.mount("/centrepoint/webhooks", receiver.asgi())
    app.state.uploads = uploads

    @app.get("/dead-letters")
    async def dead_letters() -> list[dict[str, object]]:
        return [
            {"delivery_id": d.delivery_id, "event": d.name, "error": d.last_error}
            for d in await receiver.dead_letters()
        ]

    return app


def main() -> FastAPI:
    """The app uvicorn runs (``--factory``): the token from the environment, or an exit that
    says it is missing."""
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise SystemExit(f"{TOKEN_VARIABLE} is not set: give it the webhook's Bearer token")
    logging.basicConfig(level=logging.INFO)
    return make_app(token, Path("webhooks.db"))
