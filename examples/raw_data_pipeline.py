"""The webhook-driven raw-data pipeline: from ``raw_processing_complete`` to files on disk.

    python examples/raw_data_pipeline.py            # runs the whole loop against the fake

A receiver whose ``raw_processing_complete`` handler requests the subject's raw data for the
processed time range, and whose ``data_retrieval_complete`` handler downloads the files of the
finished request (resumable, verified, renamed into place only when whole). In production,
mount ``make_app(...)`` behind TLS and point the study's webhook at it; here ``main()`` starts
a FakeCentrePoint, has it announce a processed upload, and waits for the files.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

import centrepoint_async as cp
from centrepoint_async.receiver import InboundEvent, WebhookReceiver
from centrepoint_async.testing import FakeCentrePoint, serve_app

log = logging.getLogger("raw_data_pipeline")
DOWNLOADED: web.AppKey[asyncio.Queue[list[Path]]] = web.AppKey("downloaded")
SCOPES = ("CentrePoint", "DataRetrieval")


def _utc(value: datetime) -> datetime:
    # the event's timestamps are UTC; a value sent without a zone is read as UTC too
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def make_app(client: cp.CentrePointClient, secret: str, directory: Path) -> web.Application:
    """The receiving app: request on ``raw_processing_complete``, download on
    ``data_retrieval_complete``; each batch of downloaded paths goes to ``app[DOWNLOADED]``."""
    receiver = WebhookReceiver(secret=secret)
    app = web.Application()
    app[DOWNLOADED] = asyncio.Queue()

    @receiver.on(cp.RawProcessingCompleteEvent)
    async def request_data(event: InboundEvent[cp.RawProcessingCompleteEvent]) -> None:
        raw = event.payload
        study, subject = raw.study_id, raw.subject_id
        first, last = raw.min_event_timestamp, raw.max_event_timestamp
        if (raw.status or "").lower() != "completed":
            return  # the upload's processing failed: nothing to request
        if study is None or subject is None or first is None or last is None:
            log.warning("raw_processing_complete without a subject or range: %r", raw)
            return
        request = await client.data_retrieval.request_raw(
            study, subject, _utc(first), _utc(last), file_format="csv"
        )
        log.info("requested raw data of subject %s: %s", subject, request.id)

    @receiver.on(cp.DataRetrievalCompleteEvent)
    async def download(event: InboundEvent[cp.DataRetrievalCompleteEvent]) -> None:
        ready = event.payload
        if not ready.tracking_id or (ready.request_status or "").lower() != "completed":
            return
        # answering 2xx only after the download means CentrePoint resends if this fails
        paths = await client.data_retrieval.download_all(ready.tracking_id, directory)
        log.info("downloaded %d files of request %s", len(paths), ready.tracking_id)
        await app[DOWNLOADED].put(paths)

    receiver.mount(app, "/centrepoint/webhooks")
    return app


async def main(directory: Path, *, timeout: float = 30.0) -> list[Path]:
    """Run the loop on loopback: fake CentrePoint -> this receiver -> files in ``directory``."""
    secret = "pipeline-example-secret"  # the fake's, made up here
    async with (
        FakeCentrePoint(retrieval_delay=0.2) as fake,
        fake.client(scopes=SCOPES) as client,
    ):
        app = make_app(client, secret, directory)
        async with serve_app(app) as url:
            fake.send_webhooks_to(f"{url}/centrepoint/webhooks", secret=secret)
            subject = fake.dataset.subjects[100][0]
            end = datetime.now(UTC).replace(microsecond=0)
            await fake.complete_raw_processing(100, subject["id"], end - timedelta(days=2), end)
            return await asyncio.wait_for(app[DOWNLOADED].get(), timeout)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="raw-"))
    for path in asyncio.run(main(target)):
        print(f"{path} ({path.stat().st_size} bytes)")
