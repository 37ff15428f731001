"""The demo's raw-data step: one raw-data fetch through the webhook loop, all on loopback.

Imported only by ``demo`` when it runs: it needs the fake and the receiver.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from .._client import CentrePointClient
from .._models import DataRetrievalCompleteEvent, RawProcessingCompleteEvent
from ..receiver import InboundEvent, WebhookReceiver
from ..testing import FakeCentrePoint, serve_app

__all__ = ["demo_raw_fetch"]


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
