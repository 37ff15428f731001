"""The lean request path: shown URLs, spans, hooks and retries exactly as before, only cheaper."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import orjson
import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, Sleeps, fast_retry

_LATE_PROVIDER = f"""
import asyncio, sys
import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from centrepoint_async.testing import FakeCentrePoint

async def main():
    exporter = InMemorySpanExporter()
    async with FakeCentrePoint() as fake, fake.client() as client:
        before = type(trace.get_tracer_provider()).__name__
        await client.studies.get({STUDY})  # no provider yet: nothing to record
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        await client.studies.get({STUDY})
    spans = [(s.name, s.kind.name) for s in exporter.get_finished_spans()]
    sys.stdout.write(orjson.dumps({{"before": before, "spans": spans}}).decode())

asyncio.run(main())
"""


def test_a_tracer_provider_set_after_the_client_was_used_gets_its_spans() -> None:
    """Tracing configured late (after the first calls) still traces every later call."""
    # a fresh interpreter: OpenTelemetry's global provider can be set once per process
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_LATE_PROVIDER)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    result = orjson.loads(done.stdout)
    assert result["before"] == "ProxyTracerProvider"
    assert result["spans"] == [["GET", "CLIENT"], ["GET", "INTERNAL"]]


async def test_hooks_of_a_retried_call_see_its_one_url_redacted() -> None:
    """Hooks on a retried call see every step (request, response, retry, request, response)
    under the one URL of the call, as shown (no credentials)."""
    seen: list[tuple[str, str]] = []

    async def hook(event: cp.HookEvent) -> None:
        seen.append((event.name, event.url))

    hooks = {"request": [hook], "response": [hook], "retry": [hook]}
    async with FakeCentrePoint() as fake:
        fake.inject("status", status=503, path="/Studies/")
        study, token = f"{fake.url}/centrepoint/v3/Studies/{STUDY}", f"{fake.url}/connect/token"
        async with fake.client(retry=fast_retry(), event_hooks=hooks) as client:
            await client.studies.get(STUDY)
    names = [name for name, url in seen if url == study]
    assert names == ["request", "response", "retry", "request", "response"]
    assert {url for _, url in seen} == {study, token}


async def test_the_retry_budget_counts_from_the_first_try() -> None:
    """A slow first try spends max_delay too: no retry is started that would pass it."""
    sleeps = Sleeps()
    policy = cp.RetryPolicy(max_delay=0.5, sleep=sleeps)
    tries = 0

    async def slow_503() -> None:
        nonlocal tries
        tries += 1
        await asyncio.sleep(0.3)  # the first try alone takes 0.3 s of the 0.5 s budget
        raise cp.ServerError(503, "GET", "https://h/p", retry_after=0.3)

    with pytest.raises(cp.ServerError) as raised:
        await policy.call(slow_503, what="GET https://h/p")
    assert (tries, raised.value.attempts, sleeps.waits) == (1, 1, [])
