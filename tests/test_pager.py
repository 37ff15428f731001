"""AsyncPager against the fake server: every item once, in order, whatever totalCount says."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, WEBHOOK, CountingLimiter, fast_retry, one_history


def ids(items: list[Any]) -> list[int]:
    return [item["id"] if isinstance(item, dict) else item.id for item in items]


def requests_for(total: int, page_size: int) -> int:
    """The page requests a walk of ``total`` items makes: each page after the first starts
    at the last item yielded (one item of overlap, the anchor), and a short page ends it."""
    if page_size == 1:
        return total + 1  # no room for an anchor: plain offsets
    requests, offset, position = 0, 0, 0
    while True:
        requests += 1
        got = max(0, min(page_size, total - offset))
        position = offset + got
        if got < page_size:
            return requests
        offset = position - 1


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
        assert pages == requests_for(total, page_size)
        assert pages <= (total // page_size + 1) * page_size / max(1, page_size - 1) + 1


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
        # each page after the first is asked from the last item yielded (the anchor)
        assert [p.offset for p in pages] == [0, 99, 198]
        assert [len(p.items) for p in pages] == [100, 99, 51]
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


async def test_inserts_during_listing_are_not_repeated() -> None:
    """Items inserted at the head shift offsets; repeats across a page boundary are dropped."""
    async with FakeCentrePoint(dataset=one_history(500), rate_limit=None) as fake:
        original = ids(fake.history_items(STUDY, WEBHOOK))
        async with fake.client() as client:
            got: list[int] = []
            pager = client.webhooks.history(STUDY, WEBHOOK, page_size=50)
            async for page in pager.pages():
                got += ids(page.items)
                if page.offset in (0, 100):
                    fake.insert_deliveries(STUDY, WEBHOOK, 3)
    assert got == original  # every original item, once, in order; none of the new ones


@pytest.mark.parametrize("concurrency", [2, 4, 8])
async def test_inserts_during_a_concurrent_listing_lose_and_repeat_nothing(
    concurrency: int,
) -> None:
    """With pages in flight, head inserts still give every original item once, in order."""
    # The server here reads its list when a request starts, in the order requests are made
    # (as a real server does for requests that reach it in order), so every later page sees
    # at least the inserts an earlier page saw: offsets only shift forward, nothing can be
    # skipped, and what a page repeats is the tail of the page before it (dropped).
    listing: list[int] = list(range(1000, 1500))
    original = list(listing)

    async def fetch(offset: int, limit: int) -> cp.Page[int]:
        items = listing[offset : offset + limit]  # read when the request starts
        await asyncio.sleep(0.001)
        return cp.Page(items, offset, limit, len(listing))

    pager: cp.AsyncPager[int] = cp.AsyncPager(
        fetch, page_size=50, concurrency=concurrency, key=lambda i: i
    )
    got: list[int] = []
    inserted = 0
    async for page in pager.pages():
        got += page.items
        if page.offset in (0, 100, 250):
            listing[:0] = range(inserted, inserted + 3)  # new items at the head
            inserted += 3
    assert got == original


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
        # pages of 50 after the first start at their anchor: offsets 0, 49, 98, ... 294
        fake.inject("status", status=404, path="offset=294")
        async with fake.client(retry=fast_retry()) as client:
            got: list[int | None] = []
            with pytest.raises(cp.NotFoundError) as info:
                async for item in client.webhooks.history(
                    STUDY, WEBHOOK, page_size=50, concurrency=concurrency
                ):
                    got.append(item.id)
            assert info.value.resume_offset == 295 == len(got)
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


async def idle_after(fake: FakeCentrePoint, latency: float) -> None:
    """The server finishes what it had started, and no new request follows."""
    started = len(fake.requests) + fake.concurrency
    for _ in range(1000):  # generous: the machine is shared
        if fake.concurrency == 0:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(latency * 2)  # time enough for a request still being made to arrive
    assert fake.concurrency == 0
    assert len(fake.requests) == started  # no request was started after the walk stopped


async def stays_idle(limiter: CountingLimiter, latency: float) -> bool:
    """True once no request has been in flight for a quarter of the latency.

    A walk still running would refill at once, and a request not cancelled stays held for a
    whole latency, so a quiet quarter within twice the latency shows the walk was closed.
    """
    quiet = 0
    for _ in range(40):
        quiet = quiet + 1 if limiter.held == 0 else 0
        if quiet == 5:
            return True
        await asyncio.sleep(latency / 20)
    return False


async def pool_is_whole(client: cp.CentrePointClient, connections: int) -> None:
    """All ``connections`` of the caller's pool can be used at once: none is left held."""
    await asyncio.wait_for(
        asyncio.gather(*(client.studies.get(STUDY) for _ in range(connections))), 10
    )


async def test_early_break_and_cancel_leave_nothing_running() -> None:
    """Breaking out or cancelling the consumer cancels page requests in flight."""
    latency = 0.2
    limiter = CountingLimiter()  # held from send to answer: the client's requests in flight
    async with FakeCentrePoint(dataset=one_history(3000), latency=latency, rate_limit=None) as fake:
        connector = aiohttp.TCPConnector(limit=8)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            fake.client(session=session, rate_limit=limiter) as client,
        ):
            async with client.webhooks.history(
                STUDY, WEBHOOK, page_size=10, concurrency=8
            ) as pager:
                async for _ in pager:
                    break
                assert limiter.held > 0  # pages were in flight
            assert limiter.held == 0  # async with: cancelled before the block ends
            await idle_after(fake, latency)

            async for _ in client.webhooks.history(STUDY, WEBHOOK, page_size=10, concurrency=8):
                break
            # a plain break: closed when the walk is collected, promptly (well within the
            # latency, so requests not cancelled would still be held here)
            assert await stays_idle(limiter, latency)
            await idle_after(fake, latency)

            async def consume() -> None:
                async for _ in client.webhooks.history(STUDY, WEBHOOK, page_size=10, concurrency=8):
                    pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(latency * 1.5)
            for _ in range(500):  # cancel while requests are in flight (generous: shared CPU)
                if fake.concurrency > 0 and limiter.held > 0:
                    break
                await asyncio.sleep(0.01)
            assert fake.concurrency > 0 and limiter.held > 0
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert limiter.held == 0
            await idle_after(fake, latency)
            await pool_is_whole(client, 8)  # and no response is left holding a connection


async def test_the_first_wave_goes_out_before_any_total_count() -> None:
    """With concurrency 8, eight page requests are in flight before the first answer."""
    async with FakeCentrePoint(dataset=one_history(250), latency=0.2, rate_limit=None) as fake:
        async with fake.client() as client:
            await client.studies.get(STUDY)  # the token, outside what is counted
            fake.peak_concurrency = 0
            got = await client.webhooks.history(STUDY, WEBHOOK, concurrency=8).collect()
        assert ids(got) == ids(fake.history_items(STUDY, WEBHOOK))
        assert fake.peak_concurrency == 8  # three pages hold the listing: five probes were spent
        assert len(fake.api_requests("/history")) == 8


async def test_requests_are_refilled_while_the_consumer_is_busy() -> None:
    """A consumer stuck on its first page does not idle the connections: 2 x concurrency wait."""
    concurrency = 4
    async with FakeCentrePoint(dataset=one_history(5000), latency=0.02, rate_limit=None) as fake:
        async with fake.client() as client:
            pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=concurrency)
            async with pager:
                async for _ in pager:
                    await asyncio.sleep(0.5)  # the consumer is busy with the first item
                    break
            # the page it holds, and more than a wave of pages ahead fetched meanwhile, but no
            # more than twice the concurrency: memory stays bounded
            fetched = len(fake.api_requests("/history"))
            assert 1 + concurrency < fetched <= 1 + 2 * concurrency


async def test_no_new_request_while_as_many_answered_pages_wait_as_go_on_the_wire() -> None:
    """A consumer slower than the wire: the next pages already answered are not joined by
    more until fewer than ``concurrency`` of them wait (fewer pages alive, same speed)."""
    concurrency = 4
    async with FakeCentrePoint(dataset=one_history(5000), latency=0.01, rate_limit=None) as fake:
        async with fake.client() as client:
            pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=concurrency)
            made: list[int] = []
            async with pager:
                async for _ in pager.pages():
                    await asyncio.sleep(0.3)  # every request made meanwhile is answered
                    made.append(len(fake.api_requests("/history")))
                    if len(made) == 2 + concurrency:
                        break
    # nothing new while concurrency answered pages or more wait (at most twice the
    # concurrency fetched ahead); then, as the consumer takes them, the window fills up again
    assert len(set(made[:concurrency])) == 1
    assert made[0] <= 1 + 2 * concurrency
    assert made[-1] > made[0]


async def test_pages_error_carries_resume_offset_too() -> None:
    """An error raised out of pages() carries the offset of the first page not yielded."""
    async with FakeCentrePoint(dataset=one_history(500), rate_limit=None) as fake:
        fake.inject("status", status=404, path="offset=198")
        async with fake.client() as client:
            offsets: list[int] = []
            pager = client.webhooks.history(STUDY, WEBHOOK, concurrency=3)
            with pytest.raises(cp.NotFoundError) as info:
                async for page in pager.pages():
                    offsets.append(page.offset)
    assert offsets == [0, 99]  # each page after the first starts at its anchor
    assert info.value.resume_offset == pager.resume_offset == 199


async def test_a_fetch_of_its_own_never_runs_past_concurrency() -> None:
    """A pager's fetch (any AsyncPager of a user's) never runs more than ``concurrency``
    times at once."""
    running = peak = 0

    async def fetch(offset: int, limit: int) -> cp.Page[int]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        return cp.Page(list(range(offset, min(offset + limit, 1000))), offset, limit, 1000)

    pager: cp.AsyncPager[int] = cp.AsyncPager(fetch, page_size=50, concurrency=4)
    assert await pager.collect() == list(range(1000))
    assert peak == 4


class Listing:
    """A newest-first listing served by offset, read when each fetch is made (a real server
    reads its rows when a request reaches it), with hooks to insert items at the head."""

    def __init__(self, size: int) -> None:
        self.items = list(range(size, 0, -1))  # ids, newest first
        self.original = list(self.items)
        self.next_id = size + 1
        self.requests: list[tuple[int, int]] = []

    def insert(self, count: int) -> None:
        self.items[:0] = range(self.next_id + count - 1, self.next_id - 1, -1)
        self.next_id += count

    def page(self, offset: int, limit: int) -> cp.Page[int]:
        self.requests.append((offset, limit))
        return cp.Page(self.items[offset : offset + limit], offset, limit, len(self.items))


@pytest.mark.parametrize("concurrency", [2, 4, 8])
async def test_a_page_retried_after_inserts_loses_nothing(concurrency: int) -> None:
    """A page that waits (a 429, a 503) while later pages are read, and is read again after
    deliveries arrived: every original item is still yielded once, in order (issue 24.1)."""
    listing = Listing(1000)
    later_pages_read = asyncio.Event()
    slow_offset = 3 * 99  # the fourth page (pages after the first start at their anchor)

    async def fetch(offset: int, limit: int) -> cp.Page[int]:
        if offset == slow_offset and not later_pages_read.is_set():
            await later_pages_read.wait()  # the retry's wait: later pages are read meanwhile
            listing.insert(40)  # deliveries arrive before the retry reads its page
        page = listing.page(offset, limit)
        read_past = sum(1 for o, _ in listing.requests if o > slow_offset)
        if read_past >= max(1, concurrency - 1):  # every page the window runs ahead was read
            later_pages_read.set()
        await asyncio.sleep(0.001)
        return page

    pager: cp.AsyncPager[int] = cp.AsyncPager(
        fetch, page_size=100, concurrency=concurrency, key=lambda i: i
    )
    got = await asyncio.wait_for(pager.collect(), 10)
    assert got[: len(listing.original)] == listing.original  # nothing lost, nothing repeated
    assert len(got) == len(set(got))


async def test_a_retried_page_in_a_real_export_loses_nothing() -> None:
    """Against the fake: concurrency 4, a 429 on one page while deliveries arrive during its
    Retry-After; the raw history (the export's listing) still holds every original delivery
    once, in order, and the typed history too."""
    loop = asyncio.get_running_loop()
    for typed in (False, True):
        async with FakeCentrePoint(dataset=one_history(1200), rate_limit=None) as fake:
            original = ids(fake.history_items(STUDY, WEBHOOK))
            fake.inject("status", status=429, retry_after=0.4, path="offset=297")

            async def on_retry(event: cp.HookEvent, fake: FakeCentrePoint = fake) -> None:
                # deliveries arrive while the page waits, after the pages ahead were read
                loop.call_later(0.2, fake.insert_deliveries, STUDY, WEBHOOK, 40)

            async with fake.client(retry=fast_retry(), event_hooks={"retry": [on_retry]}) as c:
                listing = c.webhooks.history if typed else c.webhooks.raw_history
                got = ids(await listing(STUDY, WEBHOOK, concurrency=4).collect())
        assert [i for i in got if i in set(original)] == original
        assert len(got) == len(set(got))


async def test_a_pause_during_which_a_page_of_items_arrives_is_not_a_loop() -> None:
    """Sequential: more than a page of deliveries arrives while a page waits; the walk moves on
    to find its anchor again instead of failing (issue 24.10)."""
    listing = Listing(500)
    paused = False

    async def fetch(offset: int, limit: int) -> cp.Page[int]:
        nonlocal paused
        if offset >= 198 and not paused:
            paused = True
            listing.insert(150)  # a page and a half arrive during the pause
        return listing.page(offset, limit)

    pager: cp.AsyncPager[int] = cp.AsyncPager(fetch, page_size=100, key=lambda i: i)
    got = await pager.collect()
    assert got == listing.original


async def test_a_cycle_longer_than_the_window_raises() -> None:
    """A server wrapping offsets (offset % total) over 17 pages: PaginationError after the first
    repeated page, not an endless walk (issue 24.6)."""
    total = 1700  # 17 pages of 100

    async def fetch(offset: int, limit: int) -> cp.Page[int]:
        return cp.Page([(offset + i) % total for i in range(limit)], offset, limit, total)

    pager: cp.AsyncPager[int] = cp.AsyncPager(fetch, page_size=100, key=lambda i: i)
    got: list[int] = []
    with pytest.raises(cp.PaginationError):
        async for item in pager:
            got.append(item)
    assert got == list(range(total))  # every item once, then the loop is refused
    assert pager.resume_offset == total


async def test_a_cycle_through_the_cli_stops_with_an_error(tmp_path: Any) -> None:
    """The raw history (what export-history writes) over a wrapping server stops too."""
    total = 1700

    async def fetch(offset: int, limit: int) -> cp.Page[dict[str, Any]]:
        items = [{"id": str((offset + i) % total)} for i in range(limit)]  # ids as text
        return cp.Page(items, offset, limit, total)

    from centrepoint_async._namespaces import raw_id

    pager: cp.AsyncPager[Any] = cp.AsyncPager(fetch, page_size=100, key=raw_id, concurrency=4)
    with pytest.raises(cp.PaginationError):
        await asyncio.wait_for(pager.collect(), 10)


async def test_memory_of_a_walk_is_bounded() -> None:
    """The ids a walk remembers take a fixed amount of memory however long the listing."""
    from centrepoint_async._pager import SEEN_FILTER_BYTES, _Walk

    walk: _Walk[int] = _Walk(100, 0, None, lambda i: i)
    for start in range(0, 200_000, 100):
        page = cp.Page(list(range(start, start + 100)), max(0, start - 1), 100, None)
        if start:
            page = cp.Page(list(range(start - 1, start + 99)), start - 1, 100, None)
        assert walk.check(page, True) is not None
    assert len(walk.recent) <= 16
    assert walk.seen._bits is not None and len(walk.seen._bits) == SEEN_FILTER_BYTES
    short: _Walk[int] = _Walk(100, 0, None, lambda i: i)  # a short walk allocates nothing
    for start in range(0, 1000, 99):
        assert short.check(cp.Page(list(range(start, start + 100)), start, 100, None), True)
    assert short.seen._bits is None
