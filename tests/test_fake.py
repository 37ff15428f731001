"""FakeCentrePoint enforces what the real API enforces, and is cheap to run."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import aiohttp
import orjson

import centrepoint_async.testing as testing
from centrepoint_async.testing import Dataset, FakeCentrePoint

from .conftest import STUDY, WEBHOOK, one_history

API = "/centrepoint/v3"


async def token(session: aiohttp.ClientSession, fake: FakeCentrePoint) -> str:
    form = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "grant_type": "client_credentials",
        "scope": "CentrePoint",
    }
    async with session.post(f"{fake.url}/connect/token", data=form) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    value: str = answer["access_token"]
    return value


async def test_requests_without_a_valid_token_get_401(fake: FakeCentrePoint) -> None:
    """No token, a wrong token, or an expired one: 401."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.url}{API}/Studies") as response:
            assert response.status == 401
        bad = {"Authorization": "Bearer nope"}
        async with session.get(f"{fake.url}{API}/Studies", headers=bad) as response:
            assert response.status == 401
        form = {
            "client_id": fake.client_id,
            "client_secret": "wrong",
            "grant_type": "client_credentials",
        }
        async with session.post(f"{fake.url}/connect/token", data=form) as response:
            assert response.status == 400 and (await response.json())["error"] == "invalid_client"


async def test_page_two_of_three_is_exactly_the_middle_items() -> None:
    """offset/limit select exactly the documented slice; links are empty."""
    async with FakeCentrePoint(dataset=one_history(30)) as fake, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await token(session, fake)}"}
        url = f"{fake.url}{API}/Studies/{STUDY}/Webhooks/{WEBHOOK}/history?limit=10&offset=10"
        async with session.get(url, headers=headers) as response:
            page = orjson.loads(await response.read())
        assert page["items"] == fake.history_items(STUDY, WEBHOOK)[10:20]
        assert page["links"] == {} and page["totalCount"] == 30
        assert (page["limit"], page["offset"]) == (10, 10)
        for bad in ("limit=0", "limit=101", "limit=x", "offset=-1"):
            async with session.get(f"{fake.url}{API}/Studies?{bad}", headers=headers) as response:
                assert response.status == 400
                assert response.content_type == "text/plain"
        async with session.get(
            f"{fake.url}{API}/Studies/{STUDY}/Webhooks/5/history", headers=headers
        ) as response:
            assert response.status == 404


async def test_window_lets_500_through_and_refuses_the_501st() -> None:
    """The sliding window: 500 requests pass, the 501st gets 429 with Retry-After."""
    async with FakeCentrePoint(rate_period=60.0) as fake, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await token(session, fake)}"}
        statuses = []
        for _ in range(499):
            async with session.get(f"{fake.url}{API}/WebhookEvents", headers=headers) as response:
                statuses.append(response.status)
        assert statuses == [200] * 499  # the token request counted too
        async with session.get(f"{fake.url}{API}/WebhookEvents", headers=headers) as response:
            assert response.status == 429
            assert 0 < int(response.headers["Retry-After"]) <= 60


def test_data_is_deterministic_and_a_million_costs_little() -> None:
    """Same seed, same data; a million-delivery history is generated lazily."""
    a = Dataset.generate(7, studies=1, webhooks_per_study=1, deliveries=1_000_000)
    b = Dataset.generate(7, studies=1, webhooks_per_study=1, deliveries=1_000_000)
    history = a.histories[WEBHOOK]
    assert len(history) == 1_000_000
    assert history.slice(999_950, 100) == b.histories[WEBHOOK].slice(999_950, 100)
    assert len(history.slice(999_950, 100)) == 50
    assert history.inserted == []  # nothing materialised


async def test_start_and_serve_a_page_in_milliseconds() -> None:
    """Starting the fake and serving a 100-item history page is fast (generous bound)."""
    started = time.perf_counter()
    async with FakeCentrePoint(dataset=one_history(1_000_000)) as fake, fake.client() as client:
        page = await client.webhooks.history(
            STUDY, WEBHOOK, offset=500_000, max_items=100
        ).collect()
    assert len(page) == 100
    assert time.perf_counter() - started < 2.0


async def test_records_requests_and_seeded_quirks(fake: FakeCentrePoint) -> None:
    """The fake records requests; its histories carry the documented quirks."""
    items = [i for h in fake.dataset.histories.values() for i in h]
    bodies = [i["request"]["body"] for i in items]
    assert any(b.startswith("<html>") for b in bodies)  # not JSON
    assert any('"uploadId":"' in b for b in bodies)  # ids as strings
    # dates with exactly seven fractional digits, other than the seed's all-zero ones
    seven = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(?!0000000)\d{7}"')
    assert any(seven.search(b) for b in bodies)
    assert any("errorMessage" in i and "response" not in i for i in items)
    assert any("sleep_score_complete" in i["request"]["headers"] for i in items)
    async with fake.client() as client:
        await client.webhook_events.list().collect()
    assert [r.path for r in fake.api_requests()] == [f"{API}/WebhookEvents"]


async def test_page_cache_serves_the_same_pages_and_sees_inserts() -> None:
    """With page_cache, pages are the same as without, and inserts are not hidden by it."""
    async with FakeCentrePoint(dataset=one_history(250), page_cache=10) as fake:
        async with fake.client() as client:
            first = [d.raw for d in await client.webhooks.history(STUDY, WEBHOOK).collect()]
            again = [d.raw for d in await client.webhooks.history(STUDY, WEBHOOK).collect()]
            fake.insert_deliveries(STUDY, WEBHOOK, 2)
            after = [d.raw for d in await client.webhooks.history(STUDY, WEBHOOK).collect()]
    assert first == again == fake.history_items(STUDY, WEBHOOK)[2:]
    assert after == fake.history_items(STUDY, WEBHOOK)


def test_the_fake_is_an_oracle_sharing_no_protocol_constant() -> None:
    """The fake's modules import nothing from _protocol: a wrong SDK constant cannot agree."""
    for module in Path(testing.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text())
        imported = {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert not any("_protocol" in name for name in imported), module.name
