"""OpenTelemetry: one span per API call, a child per HTTP request, no header value anywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, fast_retry

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The in-memory exporter behind the global tracer provider (set once per process)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def children(parent: ReadableSpan, every: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in every if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def get_study_after(status: int) -> tuple[str, str]:
    """studies.get from a fake that first answers ``status``: (the URL called, the secret)."""
    async with FakeCentrePoint() as fake:
        fake.inject("status", status=status, path="/Studies/")
        async with fake.client(retry=fast_retry()) as client:
            with contextlib.suppress(cp.NotFoundError):
                await client.studies.get(STUDY)
        return f"{fake.url}/centrepoint/v3/Studies/{STUDY}", fake.client_secret


async def test_one_span_per_call_with_a_client_span_per_attempt(
    spans: InMemorySpanExporter,
) -> None:
    """A call retried once: one INTERNAL span (retry_count 1), CLIENT children per request."""
    url, _ = await get_study_after(503)
    finished = spans.get_finished_spans()
    calls = [s for s in finished if s.kind == trace.SpanKind.INTERNAL]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "GET" and call.attributes is not None
    assert call.attributes["centrepoint.retry_count"] == 1
    assert call.attributes["url.full"] == url and call.attributes["http.request.method"] == "GET"
    requests = children(call, finished)
    assert [(s.name, s.kind) for s in requests] == [
        ("POST", trace.SpanKind.CLIENT),  # the token request the first attempt needed
        ("GET", trace.SpanKind.CLIENT),
        ("GET", trace.SpanKind.CLIENT),
    ]
    statuses = [s.attributes["http.response.status_code"] for s in requests if s.attributes]
    assert statuses == [200, 503, 200]
    assert requests[2].attributes is not None
    assert requests[2].attributes["http.request.resend_count"] == 1
    assert requests[1].attributes is not None
    assert requests[1].attributes["server.address"] == "127.0.0.1"
    assert requests[1].attributes["error.type"] == "503"


async def test_a_failed_call_is_an_error_span_and_no_span_holds_a_secret(
    spans: InMemorySpanExporter,
) -> None:
    """A call that fails for good ends in an ERROR span naming the error type; no secret."""
    _, secret = await get_study_after(404)
    finished = spans.get_finished_spans()
    call = next(s for s in finished if s.kind == trace.SpanKind.INTERNAL)
    assert call.status.status_code == trace.StatusCode.ERROR
    assert call.attributes is not None and call.attributes["error.type"] == "NotFoundError"
    assert call.attributes["http.response.status_code"] == 404
    values = [str(v) for s in finished for v in (s.attributes or {}).values()]
    values += [event.name for s in finished for event in s.events]
    assert not any(secret in v or "Bearer" in v or v[:2] == "ey" for v in values)
    assert all(
        not key.startswith("http.request.header") for s in finished for key in s.attributes or {}
    )
