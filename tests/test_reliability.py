"""Reliability: exports under seeded faults end with every served item, once, in order.

``python -m tests.test_reliability`` prints the table of faults and results for the README.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re

import aiohttp
import attrs
import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import (
    STUDY,
    WEBHOOK,
    CountingLimiter,
    bearer_recording_session,
    fast_retry,
    one_history,
)

TIMEOUT = 0.3  # client timeout; "slow" faults answer after twice that


def chaos_retry() -> cp.RetryPolicy:
    return fast_retry(max_attempts=10)  # chaos needs more tries than the default five


@attrs.define
class Report:
    seed: int
    concurrency: int
    served: int = 0
    exported: int = 0
    lost: int = 0
    repeated: int = 0
    in_order: bool = True
    faults: collections.Counter[str] = attrs.field(factory=collections.Counter)
    retries: int = 0
    token_grants: int = 0


async def chaos_export(
    seed: int, concurrency: int, *, size: int = 5000, probability: float = 0.15
) -> Report:
    """Export one history while the fake injects seeded faults and expires tokens midway."""
    async with FakeCentrePoint(dataset=one_history(size, seed), rate_limit=None) as fake:
        fake.chaos(
            probability,
            seed=seed,
            kinds=("status", "drop", "truncate", "slow"),
            retry_after=0.01,
            delay=TIMEOUT * 2,
        )

        async def expire_midway() -> None:
            while len(fake.api_requests("/history")) < 20:  # noqa: ASYNC110 (polls the fake)
                await asyncio.sleep(0.005)
            fake.expire_tokens()

        expiry = asyncio.create_task(expire_midway())
        async with fake.client(timeout=TIMEOUT, retry=chaos_retry()) as client:
            pager = client.webhooks.history(STUDY, WEBHOOK, page_size=50, concurrency=concurrency)
            got = [d.id for d in await pager.collect()]
            retries = client.stats.retries
        expiry.cancel()
        served = [item["id"] for item in fake.history_items(STUDY, WEBHOOK)]
        faults = collections.Counter(r.fault for r in fake.requests if r.fault)
        faults["401 (token expired)"] = sum(r.status == 401 for r in fake.requests)
        return Report(
            seed=seed,
            concurrency=concurrency,
            served=len(served),
            exported=len(got),
            lost=len(set(served) - set(got)),
            repeated=len(got) - len(set(got)),
            in_order=got == served,
            faults=faults,
            retries=retries,
            token_grants=fake.token_grants,
        )


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("seed", [1, 2])
async def test_chaos_export_loses_nothing(seed: int, concurrency: int) -> None:
    """Seeded 429/5xx/drops/truncation/timeouts and a token expiry: every item once, in order."""
    report = await chaos_export(seed, concurrency)
    assert report.lost == 0 and report.repeated == 0 and report.in_order
    assert report.exported == report.served == 5000
    injected = sum(report.faults.values()) - report.faults["401 (token expired)"]
    assert injected >= 5 and report.retries >= injected // 2
    assert report.faults["401 (token expired)"] >= 1 and report.token_grants >= 2


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_non_retryable_fault_carries_a_resume_offset_that_completes(concurrency: int) -> None:
    """A 404 mid-export under chaos ends in NotFoundError; resuming there completes the export."""
    async with FakeCentrePoint(dataset=one_history(2000, 5), rate_limit=None) as fake:
        fake.chaos(0.1, seed=5, kinds=("status", "drop", "truncate"), retry_after=0.01)
        fake.inject("status", status=404, path="offset=1176")  # pages after the first: 49 on
        async with fake.client(timeout=TIMEOUT, retry=chaos_retry()) as client:
            got: list[int | None] = []
            pager = client.webhooks.history(STUDY, WEBHOOK, page_size=50, concurrency=concurrency)
            with pytest.raises(cp.NotFoundError) as info:
                async for delivery in pager:
                    got.append(delivery.id)
            assert info.value.resume_offset == 1177 == len(got)
            rest = client.webhooks.history(
                STUDY, WEBHOOK, page_size=50, concurrency=concurrency, offset=1177
            )
            got += [d.id for d in await rest.collect()]
        assert got == [item["id"] for item in fake.history_items(STUDY, WEBHOOK)]


async def test_retries_spent_ends_in_typed_error_then_resume_completes() -> None:
    """A page failing past every retry: ServerError with attempts and resume_offset; resume."""
    async with FakeCentrePoint(dataset=one_history(1000), rate_limit=None) as fake:
        fake.inject("status", status=503, path="offset=495", count=4)  # the sixth page
        policy = fast_retry(max_attempts=3)
        async with fake.client(retry=policy) as client:
            pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=4)
            got: list[int | None] = []
            with pytest.raises(cp.ServerError) as info:
                async for delivery in pager:
                    got.append(delivery.id)
            assert info.value.attempts == 3 and info.value.resume_offset == 496
            assert "after 3 attempts" in str(info.value)
            rest = await client.webhooks.history(
                STUDY, WEBHOOK, offset=pager.resume_offset
            ).collect()
        assert got + [d.id for d in rest] == [i["id"] for i in fake.history_items(STUDY, WEBHOOK)]


async def test_no_secret_in_logs_or_errors_under_chaos(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, through retries, refreshes and a final failure, no secret or token leaks."""
    caplog.set_level(logging.DEBUG)
    async with FakeCentrePoint(dataset=one_history(500), rate_limit=None) as fake:
        fake.chaos(0.2, seed=9, kinds=("status", "drop", "truncate"), retry_after=0.01)
        texts: list[str] = []
        async with (
            bearer_recording_session() as (session, tokens),
            fake.client(retry=chaos_retry(), session=session) as client,
        ):
            await client.webhooks.history(STUDY, WEBHOOK, page_size=20, concurrency=4).collect()
            fake.expire_tokens()
            fake.inject("status", status=500, count=50)
            try:
                await client.webhooks.history(STUDY, WEBHOOK).collect()
            except cp.CentrePointError as exc:
                texts += [str(exc), repr(exc), str(exc.__context__), repr(exc.__cause__)]
        texts += [record.getMessage() for record in caplog.records]
        texts += [str(record.args) for record in caplog.records]
    assert any("retrying" in t for t in texts) and tokens  # the tokens really sent
    joined = "\n".join(texts)
    for secret in [fake.client_secret, *tokens]:
        assert secret not in joined
    assert re.search(r"(?i)bearer [A-Za-z0-9_\-]{8,}", joined) is None


async def test_exception_mid_listing_leaves_no_task_or_connection() -> None:
    """After an error with pages in flight: no request running, no connection held."""
    latency = 0.05
    limiter = CountingLimiter()  # held from send to answer: the client's requests in flight
    async with FakeCentrePoint(dataset=one_history(3000), latency=latency, rate_limit=None) as fake:
        fake.inject("status", status=404, path="offset=297")
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session,
            fake.client(session=session, rate_limit=limiter) as client,
        ):
            with pytest.raises(cp.NotFoundError):
                await client.webhooks.history(STUDY, WEBHOOK, concurrency=8).collect()
            assert limiter.held == 0 and limiter.peak == 8
            started = len(fake.requests) + fake.concurrency
            await asyncio.sleep(latency * 3)
            assert fake.concurrency == 0 and len(fake.requests) == started  # nothing followed
            # every connection of the pool is free again: eight calls can run at once
            await asyncio.wait_for(
                asyncio.gather(*(client.studies.get(STUDY) for _ in range(8))), 10
            )


def table(reports: list[Report]) -> str:
    kinds = sorted({k for r in reports for k in r.faults})
    header = [
        "seed",
        "concurrency",
        *kinds,
        "retries",
        "served",
        "exported",
        "lost",
        "repeated",
        "in order",
    ]
    rows = [
        [
            str(r.seed),
            str(r.concurrency),
            *(str(r.faults[k]) for k in kinds),
            str(r.retries),
            str(r.served),
            str(r.exported),
            str(r.lost),
            str(r.repeated),
            "yes" if r.in_order else "NO",
        ]
        for r in reports
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


async def _report() -> list[Report]:
    return [await chaos_export(seed, c) for seed in (1, 2, 3, 4) for c in (1, 8)]


if __name__ == "__main__":
    print(table(asyncio.run(_report())))
