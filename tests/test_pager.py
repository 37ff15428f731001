"""AsyncPager against the fake server: every item once, in order, whatever totalCount says."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, WEBHOOK, fast_retry, one_history


def ids(items: list[Any]) -> list[int]:
    return [item["id"] if isinstance(item, dict) else item.id for item in items]


@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 1000])
@pytest.mark.parametrize("page_size", [1, 7, 100])
async def test_every_item_once_in_order(total: int, page_size: int) -> None:
    """Page sizes 1, 7, 100 over totals 0..1000: exactly the served items, in order."""
    if page_size == 1 and total == 1000:
        total = 250  # same boundaries, a quarter of the requests
    async with FakeCentrePoint(dataset=one_history(total), rate_limit=None) as fake:
        async with fake.client() as client:
            got = await client.webhooks.history(STUDY, WEBHOOK, page_size=page_size).collect()
        assert ids(got) == ids(fake.history_items(STUDY, WEBHOOK))
        pages = len(fake.api_requests("/history"))
        assert pages == total // page_size + 1  # the last page is short or empty


@pytest.mark.parametrize("error", [-1000, -150, -1, 1, 150, 1000])
@pytest.mark.parametrize("concurrency", [1, 8])
async def test_lying_total_count(error: int, concurrency: int) -> None:
    """totalCount wrong both ways loses nothing, repeats nothing, and stops."""
    fake_server = FakeCentrePoint(
        dataset=one_history(450), rate_limit=None, total_count_error=error
    )
    async with fake_server as fake, fake.client() as client:
        pager = client.webhooks.history(STUDY, WEBHOOK, page_size=50, concurrency=concurrency)
        got = await pager.collect()
        assert ids(got) == ids(fake.history_items(STUDY, WEBHOOK))
        requests = len(fake.api_requests("/history"))
        if concurrency == 1:
            assert requests == 10  # nine full pages and one empty one
        else:
            assert requests <= 10 + concurrency


async def test_documented_history_with_total_count_one_for_two_items(fake: FakeCentrePoint) -> None:
    """The seed example reports totalCount 1 with two items: both are yielded."""
    async with fake.client() as client:
        got = await client.webhooks.history(8, 236, concurrency=4).collect()
    assert ids(got) == [34, 35]


async def test_concurrency_gives_identical_sequences_and_bounded_parallelism() -> None:
    """Concurrency 1 and 8 yield the same sequence; the server sees >1 but <=8 in flight."""
    async with FakeCentrePoint(dataset=one_history(2000), latency=0.02, rate_limit=None) as fake:
        async with fake.client() as client:
            sequential = await client.webhooks.history(STUDY, WEBHOOK, page_size=50).collect()
            assert fake.peak_concurrency == 1
            parallel = await client.webhooks.history(
                STUDY, WEBHOOK, page_size=50, concurrency=8
            ).collect()
    assert ids(parallel) == ids(sequential) == ids(fake.history_items(STUDY, WEBHOOK))
    assert 1 < fake.peak_concurrency <= 8


async def test_pages_and_max_items(fake: FakeCentrePoint) -> None:
    """pages() yields Page objects; max_items stops early without extra requests."""
    async with fake.client() as client:
        pages = [p async for p in client.webhooks.history(STUDY, WEBHOOK, page_size=100).pages()]
        assert [p.offset for p in pages] == [0, 100, 200]
        assert [len(p.items) for p in pages] == [100, 100, 50]
        assert pages[0].limit == 100 and pages[0].total_count == 250
        before = len(fake.api_requests())
        got = await client.webhooks.history(STUDY, WEBHOOK, page_size=30, max_items=45).collect()
        assert ids(got) == ids(fake.history_items(STUDY, WEBHOOK))[:45]
        assert len(fake.api_requests()) - before == 2
        first = await client.webhooks.history(STUDY, WEBHOOK, offset=240).collect()
        assert ids(first) == ids(fake.history_items(STUDY, WEBHOOK))[240:]


async def test_bad_pager_arguments_raise_before_any_request(fake: FakeCentrePoint) -> None:
    """page_size outside 1..100, negative offsets and zero concurrency raise at once."""
    async with fake.client() as client:
        for kwargs in (
            {"page_size": 0},
            {"page_size": 101},
            {"offset": -1},
            {"concurrency": 0},
            {"max_items": -1},
        ):
            with pytest.raises(cp.ConfigurationError):
                client.webhooks.history(STUDY, WEBHOOK, **kwargs)
    assert fake.requests == []


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_inserts_during_listing_are_not_repeated(concurrency: int) -> None:
    """Items inserted at the head shift offsets; repeats across a page boundary are dropped."""
    async with FakeCentrePoint(dataset=one_history(500), rate_limit=None) as fake:
        original = ids(fake.history_items(STUDY, WEBHOOK))
        async with fake.client() as client:
            got: list[int] = []
            pager = client.webhooks.history(STUDY, WEBHOOK, page_size=50, concurrency=concurrency)
            async for page in pager.pages():
                got += ids(page.items)
                if page.offset in (0, 100):
                    fake.insert_deliveries(STUDY, WEBHOOK, 3)
    assert len(got) == len(set(got))
    if concurrency == 1:
        assert got == original  # every original item, once, in order
    else:
        assert set(original) <= set(got) | set(original[:150])  # in flight pages were earlier


async def test_same_page_again_raises_instead_of_looping(fake: FakeCentrePoint) -> None:
    """A server that ignores offset (the same full page every time) cannot loop forever."""
    first_page = fake.history_items(STUDY, WEBHOOK)[:10]

    async def fetch(offset: int, limit: int) -> cp.Page[dict[str, Any]]:
        return cp.Page(first_page, offset, limit, 250)

    pager: cp.AsyncPager[dict[str, Any]] = cp.AsyncPager(
        fetch, page_size=10, key=lambda item: item["id"]
    )
    got = []
    with pytest.raises(cp.PaginationError) as info:
        async for item in pager:
            got.append(item)
    assert got == first_page and info.value.resume_offset == 10


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_error_carries_resume_offset_that_completes_the_listing(concurrency: int) -> None:
    """An error mid-listing carries resume_offset; a new pager there finishes the job."""
    async with FakeCentrePoint(dataset=one_history(700), rate_limit=None) as fake:
        fake.inject("status", status=404, path="offset=300")
        async with fake.client(retry=fast_retry()) as client:
            got: list[int | None] = []
            with pytest.raises(cp.NotFoundError) as info:
                async for item in client.webhooks.history(
                    STUDY, WEBHOOK, page_size=50, concurrency=concurrency
                ):
                    got.append(item.id)
            assert info.value.resume_offset == 300 == len(got)
            rest = client.webhooks.history(
                STUDY, WEBHOOK, page_size=50, offset=info.value.resume_offset
            )
            got += ids(await rest.collect())
    assert got == ids(fake.history_items(STUDY, WEBHOOK))


async def test_resume_offset_after_early_break() -> None:
    """After a break, resume_offset points just past the last item handed over."""
    async with FakeCentrePoint(dataset=one_history(300), rate_limit=None) as fake:
        async with fake.client() as client:
            pager = client.webhooks.history(STUDY, WEBHOOK, page_size=40, concurrency=4)
            got = []
            async for item in pager:
                got.append(item.id)
                if len(got) == 57:
                    break
            rest = await client.webhooks.history(
                STUDY, WEBHOOK, offset=pager.resume_offset
            ).collect()
    assert got + ids(rest) == ids(fake.history_items(STUDY, WEBHOOK))


def fetching() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "fetch" in repr(t) and not t.done()]


async def test_early_break_and_cancel_leave_nothing_running() -> None:
    """Breaking out or cancelling the consumer cancels page requests in flight."""
    async with FakeCentrePoint(dataset=one_history(3000), latency=0.2, rate_limit=None) as fake:
        async with fake.client() as client:
            async with client.webhooks.history(
                STUDY, WEBHOOK, page_size=10, concurrency=8
            ) as pager:
                async for _ in pager:
                    break
            assert fetching() == []  # async with: closed before the block ends

            async for _ in client.webhooks.history(STUDY, WEBHOOK, page_size=10, concurrency=8):
                break
            for _ in range(100):  # a plain break: closed when the walk is collected, promptly
                if not fetching():
                    break
                await asyncio.sleep(0.01)
            assert fetching() == []

            async def consume() -> None:
                async for _ in client.webhooks.history(STUDY, WEBHOOK, page_size=10, concurrency=8):
                    pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.3)
            assert fake.concurrency > 0
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.01)
            assert client._session is not None  # and no response is left open:
            assert len(client._session.connector._acquired) == 0  # type: ignore[union-attr]


async def test_pages_error_carries_resume_offset_too() -> None:
    """An error raised out of pages() carries the offset of the first page not yielded."""
    async with FakeCentrePoint(dataset=one_history(500), rate_limit=None) as fake:
        fake.inject("status", status=404, path="offset=200")
        async with fake.client() as client:
            offsets: list[int] = []
            pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=3)
            with pytest.raises(cp.NotFoundError) as info:
                async for page in pager.pages():
                    offsets.append(page.offset)
    assert offsets == [0, 100]
    assert info.value.resume_offset == pager.resume_offset == 200
