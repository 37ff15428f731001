"""5. Structuring: the converter against hand-written dict-to-object code, same objects.

A 100-item history page (the fake's realistic mix): the delivery envelope (fields, headers,
response) by the converter vs by hand; and payloads of the upload, raw-processing and
data-retrieval events, by the converter vs by hand. Aim: the converter within 1.3x of hand-written.
The largest payloads, daily statistics (about 140 fields in six nested models), are timed by the
converter alone, in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

import centrepoint_async as cp
from centrepoint_async._converter import parse_payload
from centrepoint_async._deliveries import structure_delivery
from centrepoint_async.testing import Dataset

from ._common import table


def _dt(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    value = datetime.fromisoformat(text)
    return value.astimezone(UTC) if value.tzinfo is not None else value


def hand_delivery(item: dict[str, Any]) -> cp.WebhookDelivery:
    """What a careful developer writes by hand for the envelope (headers parsed when read)."""
    request = item.get("request") or {}
    raw_headers = request.get("headers") or ""
    response = item.get("response")
    return cp.WebhookDelivery(
        id=int(item["id"]),
        webhook_id=item.get("webhookId"),
        webhook_event_id=item.get("webhookEventId"),
        webhook_event=item.get("webhookEvent"),
        created_date=_dt(item.get("createdDate")),
        last_sent_date=_dt(item.get("lastSentDate")),
        error_message=item.get("errorMessage"),
        request=cp.DeliveryRequest(
            body=request.get("body") or "",
            raw_headers=raw_headers,
            fallback_event=item.get("webhookEvent"),
        ),
        response=None
        if response is None
        else cp.DeliveryResponse(
            response_code=response.get("responseCode"),
            body=response.get("body") or "",
            raw_headers=response.get("headers") or "",
        ),
        raw=item,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def hand_payload(name: str, body: str) -> Any:
    """Hand-written payload classes for three event types (what a careful developer writes)."""
    d = orjson.loads(body)
    if name == "upload":
        return cp.UploadEvent(
            status=d.get("status"),
            upload_id=_int(d.get("uploadId")),
            study_id=_int(d.get("studyId")),
            subject_id=_int(d.get("subjectId")),
            message=d.get("message"),
            first_epoch_utc=_dt(d.get("firstEpochUTC")),
            first_epoch_subject_tz=_dt(d.get("firstEpochSubjectTZ")),
            last_epoch_utc=_dt(d.get("lastEpochUTC")),
            last_epoch_subject_tz=_dt(d.get("lastEpochSubjectTZ")),
        )
    if name == "raw_processing_complete":
        return cp.RawProcessingCompleteEvent(
            study_id=d.get("study_id"),
            subject_id=d.get("subject_id"),
            subject_identifier=d.get("subject_identifier"),
            monitor_serial=d.get("monitor_serial"),
            created_at_utc=_dt(d.get("created_at_utc")),
            min_event_timestamp=_dt(d.get("min_event_timestamp")),
            max_event_timestamp=_dt(d.get("max_event_timestamp")),
            status=d.get("status"),
            error_message=d.get("error_message"),
        )
    return cp.DataRetrievalCompleteEvent(
        client_id=d.get("client_id"),
        tracking_id=d.get("tracking_id"),
        study_id=d.get("study_id"),
        subject_id=d.get("subject_id"),
        subject_identifier=d.get("subject_identifier"),
        created_at_utc=_dt(d.get("created_at_utc")),
        started_at_utc=_dt(d.get("started_at_utc")),
        completed_at_utc=_dt(d.get("completed_at_utc")),
        request_status=d.get("request_status"),
        error_message=d.get("error_message"),
        files=tuple(
            cp.DataFile(
                monitor_serial=f.get("monitor_serial"),
                file_type=f.get("file_type"),
                min_event_timestamp=_dt(f.get("min_event_timestamp")),
                max_event_timestamp=_dt(f.get("max_event_timestamp")),
                file_size=f.get("file_size"),
                file_index=f.get("file_index"),
                file_name=f.get("file_name"),
            )
            for f in d.get("files") or ()
        ),
    )


def typed_bodies(history: Any, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """100 payload bodies of the events ``names`` that fit their class with no extra keys."""
    bodies: list[tuple[str, str]] = []
    for item in history:
        delivery = structure_delivery(item)
        payload = delivery.request.payload
        if delivery.event_name in names and not getattr(payload, "extra", True):
            bodies.append((delivery.event_name or "", delivery.request.body))
        if len(bodies) == 100:
            break
    assert len(bodies) == 100, names
    return bodies


def medians(
    runs: dict[str, Callable[[], object]], rounds: int = 7, repeat: int = 20
) -> list[float]:
    """Seconds per call of each run: the median of ``rounds``, interleaved (a shared machine)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            started = time.perf_counter()
            for _ in range(repeat):
                fn()
            times[name].append((time.perf_counter() - started) / repeat)
    return [statistics.median(t) for t in times.values()]


def main() -> dict[str, float]:
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, deliveries=2000)
    history = dataset.histories[1000]
    page = history.slice(0, 100)
    assert [hand_delivery(i) for i in page] == [structure_delivery(i) for i in page]
    bodies = typed_bodies(history, ("upload", "raw_processing_complete", "data_retrieval_complete"))
    assert [hand_payload(n, b) for n, b in bodies] == [parse_payload(n, b) for n, b in bodies]
    daily = typed_bodies(history, ("daily_statistics_complete",))
    envelope_sdk, envelope_hand, payload_sdk, payload_hand, daily_sdk = medians(
        {
            "envelope_sdk": lambda: [structure_delivery(i) for i in page],
            "envelope_hand": lambda: [hand_delivery(i) for i in page],
            "payload_sdk": lambda: [parse_payload(n, b) for n, b in bodies],
            "payload_hand": lambda: [hand_payload(n, b) for n, b in bodies],
            "daily_sdk": lambda: [parse_payload(n, b) for n, b in daily],
        }
    )
    table(
        "5. structuring 100 items: converter vs hand-written (same objects, median of 7)",
        [
            ("envelope: converter", f"{envelope_sdk * 1e3:.2f} ms per page"),
            ("envelope: by hand", f"{envelope_hand * 1e3:.2f} ms per page"),
            ("envelope ratio (aim <= 1.3x)", f"{envelope_sdk / envelope_hand:.2f}x"),
            ("payloads: converter", f"{payload_sdk * 1e3:.2f} ms per 100"),
            ("payloads: by hand", f"{payload_hand * 1e3:.2f} ms per 100"),
            ("payload ratio (aim <= 1.3x)", f"{payload_sdk / payload_hand:.2f}x"),
            ("daily statistics payloads: converter", f"{daily_sdk * 1e3:.2f} ms per 100"),
        ],
    )
    return {"envelope": envelope_sdk / envelope_hand, "payload": payload_sdk / payload_hand}


if __name__ == "__main__":
    main()
