"""Offset/limit pagination: :class:`AsyncPager` and :class:`Page`.

The API pages by ``offset``/``limit`` only, its ``links`` are empty or point elsewhere, and its
``totalCount`` can be wrong both ways. Offsets also move: the webhook history is newest first,
so every delivery that arrives during a walk pushes the older ones to higher offsets. How a
listing is walked, so that nothing is lost or repeated:

- **The end** is the first page shorter than the limit asked for (or empty), never
  ``totalCount`` alone.
- **An anchor.** With a ``key`` (the item's id) and pages of at least two items, each page after
  the first is requested from the position of the last item yielded (one item of overlap). That
  item, the anchor, must come back first. Where it comes back later in the page, items were
  inserted before it: the repeats before it are dropped. Where it does not come back at all:

  - the page holds only items yielded within the last :data:`LOOP_WINDOW` pages: the listing
    moved ahead by more than a page (deliveries that arrived during a long pause); the walk
    goes on one page further, yielding nothing, until it finds the anchor again;
  - the page was requested before the page that yielded the anchor was read (a page fetched
    ahead while an earlier one waited for a retry): it may predate inserts that page saw, so
    it is requested again, and the pages fetched ahead with it are dropped;
  - otherwise (the anchor was deleted): the page is taken as it is, less any repeats.

  So a page is only trusted when it provably continues the one before it, whatever order the
  server read them in.
- **Loops.** Items yielded long before coming back at the end of a full page (a server
  wrapping ``offset % totalCount``), or :data:`LOOP_WINDOW` full pages in a row that bring
  nothing new, raise :class:`PaginationError` (after the new items before the loop). Items
  yielded are remembered in a fixed-size filter (:data:`SEEN_FILTER_BYTES`), so memory does
  not grow with the listing; a loop is only called when its run of repeats is too long for
  the filter's false positives to make (one chance in 10**12).
- **Concurrency.** With ``concurrency > 1`` the first ``concurrency`` pages are requested at
  once, before any ``totalCount`` is known; then the pages ``totalCount`` promises are fetched
  up to ``concurrency`` at a time, a new request starting as soon as one finishes, and yielded
  in order. No new request starts while ``concurrency`` answered pages wait for the consumer.
  Past the promise, pages are probed one at a time.
- ``resume_offset`` is the offset of the first item not yet yielded; errors raised out of the
  pager carry it, so a new pager started there finishes the listing.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Generic, Self, TypedDict, TypeVar

import attrs

from ._exceptions import CentrePointError, PaginationError
from ._protocol import MAX_PAGE_SIZE, check_count, check_page_size

__all__ = ["AsyncPager", "Page", "Paging"]

T = TypeVar("T")

#: Pages whose ids are remembered exactly (repeats across boundaries, the listing moving
#: ahead); also the number of full pages in a row without a new item that is taken as a loop.
LOOP_WINDOW = 16

#: Size of the filter remembering the ids a walk yielded before its last LOOP_WINDOW pages (a
#: Bloom filter, 3 hashes; made once a walk is that long): items seen long ago coming back are
#: a loop. A false alarm needs a run of false positives the filter's fill makes unlikely.
SEEN_FILTER_BYTES = 4 * 1024 * 1024
_HASHES = 3


class Paging(TypedDict, total=False):
    """The paging options every list call takes (see :class:`AsyncPager`)."""

    page_size: int  # 1 to MAX_PAGE_SIZE (100); default 100
    offset: int  # where the listing starts; default 0
    max_items: int | None  # stop after this many positions; default all
    concurrency: int  # pages fetched at once; default 1


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing, as the server sent it (minus repeats of the pages before it)."""

    items: list[T]
    offset: int  # the offset this page was requested at
    limit: int  # the limit it was requested with
    total_count: int | None  # the server's totalCount: a hint, may be wrong


FetchPage = Callable[[int, int], Awaitable[Page[Any]]]


class AsyncPager(Generic[T]):
    """The items of a paginated listing, fetched lazily.

    ``async for item in pager`` yields items in the server's order, each once;
    :meth:`pages` yields :class:`Page` objects; :meth:`collect` returns a list. Each iteration
    starts a fresh walk at ``offset``. Memory is bounded by about ``concurrency`` pages.

    ``fetch(offset, limit)`` returns a :class:`Page` of items; ``key(item)`` gives the id that
    anchors pages and drops repeats (without one, pages are trusted as they come).
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        page_size: int = MAX_PAGE_SIZE,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
        key: Callable[[T], Hashable | None] | None = None,
    ) -> None:
        self._fetch = fetch
        self.page_size = check_page_size(page_size)
        self.offset = check_count(offset, "offset", 0)
        self.max_items = None if max_items is None else check_count(max_items, "max_items", 0)
        self.concurrency = check_count(concurrency, "concurrency")
        self._key = key
        #: Offset of the first item not yet yielded.
        self.resume_offset = self.offset
        # the windows of walks under way (a window holds no reference back to the pager, so a
        # pager dropped after a break is freed at once, its walk's cleanup included)
        self._windows: set[_Window] = set()

    def __repr__(self) -> str:
        return (
            f"AsyncPager(page_size={self.page_size}, offset={self.offset}, "
            f"concurrency={self.concurrency}, resume_offset={self.resume_offset})"
        )

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every walk of this pager now, cancelling its page requests in flight.

        Breaking out of ``async for`` does this too, a moment later (when the walk is
        collected); use ``async with pager:`` to have it done before the block ends.
        """
        for window in list(self._windows):
            await window.cancel()

    async def collect(self) -> list[T]:
        """Every item of the listing, in order."""
        items: list[T] = []
        async for page in self.pages():  # a page at a time: no generator step per item
            items += page.items
        return items

    async def pages(self) -> AsyncIterator[Page[T]]:
        """The listing page by page (pages that bring no new item are skipped)."""
        try:
            async for chunk in self._walk():
                self.resume_offset = chunk.end
                yield chunk.page
        except CentrePointError as exc:
            exc.resume_offset = self.resume_offset
            raise

    async def _items(self) -> AsyncIterator[T]:
        try:
            async for chunk in self._walk():
                positions, last = chunk.positions, len(chunk.positions) - 1
                for i, item in enumerate(chunk.page.items):
                    # set before handing the item over: a consumer that stops after it
                    # must resume past it
                    self.resume_offset = positions[i + 1] if i < last else chunk.end
                    yield item
        except CentrePointError as exc:
            exc.resume_offset = self.resume_offset
            raise

    async def _walk(self) -> AsyncIterator[_Chunk[T]]:
        """Pages with new items, with the position of each item."""
        walk = _Walk(self.page_size, self.offset, self.max_items, self._key)
        window = _Window(self._fetch, self.concurrency, walk.step, walk.limit_at)
        self._windows.add(window)
        try:
            while (request := walk.next_request()) is not None:
                page, fresh = await window.take(*request)
                chunk = walk.check(page, fresh)
                if chunk is None:
                    window.restart()  # the pages fetched ahead with it are no better
                    continue
                if chunk.page.items:
                    yield chunk
        finally:
            self._windows.discard(window)
            await window.cancel()


@attrs.frozen
class _Chunk(Generic[T]):
    """A page ready to yield: its new items with the listing position of each."""

    page: Page[T]
    positions: list[int]
    end: int  # position just past the last item the server sent


class _Walk(Generic[T]):
    """The state of one walk: where the next page starts, its anchor, what was yielded.

    Positions are listing offsets as the server counted them at the last page.
    """

    def __init__(
        self,
        page_size: int,
        start: int,
        max_items: int | None,
        key: Callable[[T], Hashable | None] | None,
    ) -> None:
        self.page_size = page_size
        self.stop_at = None if max_items is None else start + max_items
        self.key = key
        # one item of overlap needs pages of two at least, and ids to compare
        self.overlap = 1 if key is not None and page_size > 1 else 0
        self.step = page_size - self.overlap  # new positions a full page covers
        self.position = start  # of the first item not yet yielded
        self.anchor: Hashable | None = None  # id of the last item yielded
        self.recent: deque[set[Hashable]] = deque(maxlen=LOOP_WINDOW)
        self.seen = _SeenFilter()
        self.idle = 0  # full pages in a row that brought nothing new
        self.ended = False
        self.looping: PaginationError | None = None  # raised at the next page

    def next_request(self) -> tuple[int, int] | None:
        """The offset and limit of the next page; ``None`` once the walk is over."""
        if self.looping is not None:
            raise self.looping
        if self.ended:
            return None
        back = self.overlap if self.anchor is not None else 0
        limit = self.limit_at(self.position - back, back)
        return None if limit is None else (self.position - back, limit)

    def limit_at(self, offset: int, back: int | None = None) -> int | None:
        """The limit of a page at ``offset`` that starts ``back`` items before the new ones
        (the overlap, by default); ``None`` once ``max_items`` positions are covered."""
        if self.stop_at is None:
            return self.page_size
        need = self.stop_at - offset
        if need <= (self.overlap if back is None else back):
            return None
        return min(self.page_size, need)

    def check(self, page: Page[T], fresh: bool) -> _Chunk[T] | None:
        """The new items of ``page``, or ``None`` to request it again; moves the walk on.

        Raises :class:`PaginationError` when the server pages in a loop, after the items the
        page brought before the loop began.
        """
        end = page.offset + len(page.items)
        if self.key is None:
            self.ended = len(page.items) < page.limit
            self.position = end
            return _Chunk(page, list(range(page.offset, end)), end)
        keys = [self.key(item) for item in page.items]
        recent: set[Hashable] = set().union(*self.recent)
        start = self._after_anchor(keys, recent, fresh)
        if start is None:
            return None
        kept = [
            (page.offset + i, page.items[i], k)
            for i, k in enumerate(keys[start:], start)
            if k is None or k not in recent
        ]
        kept = self._before_loop(page, kept)
        ids = {k for _, _, k in kept if k is not None}
        if len(self.recent) == self.recent.maxlen:  # the oldest page leaves the exact window:
            self.seen.add_all(self.recent[0])  # the filter remembers its ids from now on
        self.recent.append(ids)
        self.ended = len(page.items) < page.limit
        self.position = (
            end if self.looping is None else (kept[-1][0] + 1 if kept else page.offset + start)
        )
        last = next((k for _, _, k in reversed(kept) if k is not None), None)
        if last is not None:
            self.anchor = last
        items = Page([item for _, item, _ in kept], page.offset, page.limit, page.total_count)
        return _Chunk(items, [pos for pos, _, _ in kept], self.position)

    def _after_anchor(
        self, keys: list[Hashable | None], recent: set[Hashable], fresh: bool
    ) -> int | None:
        """Index of the first item after the anchor; ``None`` to request the page again."""
        if self.anchor is None or not self.overlap:
            return 0
        try:
            return keys.index(self.anchor) + 1
        except ValueError:
            pass
        if keys and all(k in recent for k in keys if k is not None):
            return len(keys)  # all repeats: the listing moved ahead; look one page further
        if not fresh:
            return None  # read before the anchor's page was: it may predate inserts
        return 0  # the anchor is gone (deleted): take the page as it is

    def _before_loop(
        self, page: Page[T], kept: list[tuple[int, T, Hashable | None]]
    ) -> list[tuple[int, T, Hashable | None]]:
        """``kept`` up to where the server began to page in a loop (if it did).

        A loop shows as items yielded long before (the filter knows them, the recent pages do
        not) at the end of a full page: at least :meth:`_SeenFilter.sure_run` of them in a
        row, a run the filter's false positives cannot make. Those and what follows are not
        handed over; the walk raises :class:`PaginationError` next. A full page that brings
        nothing new, :data:`LOOP_WINDOW` times in a row, is a loop too.
        """
        if len(page.items) < page.limit:
            return kept  # the last page
        run = 0
        for _, _, key in reversed(kept):
            if key is None or not self.seen.has(key):
                break
            run += 1
        if run and run >= min(len(kept), self.seen.sure_run()):
            self.looping = PaginationError(
                f"the server answered offset {page.offset} with {run} items yielded before in "
                "this listing; stopping instead of looping"
            )
            return kept[: len(kept) - run]
        self.idle = 0 if kept else self.idle + 1
        if self.idle >= LOOP_WINDOW:
            raise PaginationError(
                f"{self.idle} full pages in a row up to offset {page.offset} brought no new "
                "item; stopping instead of looping"
            )
        return kept


class _SeenFilter:
    """A Bloom filter of the ids yielded in a walk: fixed memory, no false negatives."""

    __slots__ = ("_bits", "_mask", "count")

    def __init__(self, size: int = SEEN_FILTER_BYTES) -> None:
        # allocated on first use: only walks longer than LOOP_WINDOW pages need it
        self._bits: bytearray | None = None
        self._mask = size * 8 - 1
        self.count = 0  # ids added

    def sure_run(self) -> int:
        """How many false positives in a row are as unlikely as 1 in 10**12, at this fill."""
        rate = (1 - math.exp(-_HASHES * self.count / (self._mask + 1))) ** _HASHES
        if rate <= 0:
            return 1
        if rate >= 1:
            return sys.maxsize
        return max(1, math.ceil(math.log(1e-12) / math.log(rate)))

    def _places(self, key: Hashable) -> tuple[int, int, int]:
        mask = self._mask
        return hash((key, 1)) & mask, hash((key, 2)) & mask, hash((key, 3)) & mask

    def add_all(self, keys: set[Hashable]) -> None:
        if self._bits is None:
            self._bits = bytearray((self._mask + 1) // 8)
        bits = self._bits
        self.count += len(keys)
        for key in keys:
            for place in self._places(key):
                bits[place >> 3] |= 1 << (place & 7)

    def has(self, key: Hashable) -> bool:
        bits = self._bits
        if bits is None:
            return False
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._places(key))


class _Window:
    """The pages fetched ahead of the consumer, in offset order.

    The first ``concurrency`` pages are requested together before any answer; after that a
    page request starts as soon as another one finishes (from its done callback), not when
    the consumer gets to it, up to ``concurrency`` on the wire, while fewer than
    ``concurrency`` answered pages wait. Pages past what ``totalCount`` promised are fetched
    by the consumer itself, one at a time.
    """

    def __init__(
        self,
        fetch: FetchPage,
        concurrency: int,
        step: int,
        limit_at: Callable[[int], int | None],
    ) -> None:
        self.fetch = fetch
        self.concurrency = concurrency
        self.step = step
        self.limit_at = limit_at
        #: Pages requested ahead, in offset order: (offset, pages taken when asked, task).
        self.tasks: deque[tuple[int, int, asyncio.Task[Page[Any]]]] = deque()
        self.dropped: set[asyncio.Task[Page[Any]]] = set()  # cancelled by a restart
        self.running = 0
        self.next_offset: int | None = None  # of the next page to request ahead
        self.waves = 0  # pages requested before any totalCount was known
        self.promised: int | None = None  # end of the listing by the latest totalCount
        self.stopped = False  # a short page or a failure was seen: request nothing more
        self.taken = 0  # pages handed to the consumer so far

    async def take(self, offset: int, limit: int) -> tuple[Page[Any], bool]:
        """The page at ``offset``, and whether it was requested after the page before it was
        handed over (fresh: it cannot predate what that page showed)."""
        if self.tasks and self.tasks[0][0] == offset:
            _, asked_at, task = self.tasks.popleft()
            page = await task
        else:
            self.restart()  # not the page planned: plan again from here
            if self.concurrency > 1:
                self.next_offset = offset
                self.refill()
            if self.tasks:
                _, asked_at, task = self.tasks.popleft()
                page = await task
            else:  # sequential, or past what totalCount promised: one page at a time
                asked_at = self.taken
                page = await self.fetch(offset, limit)
                self._learn(page)
        fresh = asked_at >= self.taken
        self.taken += 1
        if self.next_offset is None:
            self.next_offset = offset + self.step
        self.refill()
        return page, fresh

    def restart(self) -> None:
        """Drop the pages fetched ahead; the next :meth:`take` plans again from its offset."""
        for _, _, task in self.tasks:
            task.cancel()
            self.dropped.add(task)
        self.tasks.clear()
        self.running = 0
        self.next_offset = None
        self.stopped = False

    def refill(self) -> None:
        """Start page requests while there is room and ``totalCount`` promises more."""
        while self.concurrency > 1 and self.next_offset is not None and not self.stopped:
            if self.running >= self.concurrency:
                return
            if len(self.tasks) - self.running >= self.concurrency:
                return  # as many answered pages wait for the consumer: more would be memory
            if self.promised is None:
                if self.waves >= self.concurrency:
                    return  # the first wave is out: wait for a totalCount
                self.waves += 1
            elif self.next_offset >= self.promised:
                return
            offset = self.next_offset
            limit = self.limit_at(offset)
            if limit is None:
                return
            task = asyncio.ensure_future(self.fetch(offset, limit))
            task.add_done_callback(self._finished)
            self.tasks.append((offset, self.taken, task))
            self.running += 1
            self.next_offset += self.step

    def _finished(self, task: asyncio.Task[Page[Any]]) -> None:
        failed = task.cancelled() or task.exception() is not None  # (retrieves the error)
        if task in self.dropped:
            self.dropped.discard(task)
            return
        self.running -= 1
        if failed:
            self.stopped = True  # the consumer raises it when it gets there
            return
        self._learn(task.result())
        self.refill()

    def _learn(self, page: Page[Any]) -> None:
        """Where the listing claims to end, or that it ended."""
        if len(page.items) < page.limit:
            self.stopped = True
            for offset, _, task in self.tasks:
                if offset > page.offset:
                    task.cancel()  # past the end
        else:
            self.promised = page.total_count or 0

    async def cancel(self) -> None:
        """Cancel what is still running and wait for it, leaving nothing behind."""
        self.stopped = True
        tasks = [task for _, _, task in self.tasks] + list(self.dropped)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        self.dropped.clear()
