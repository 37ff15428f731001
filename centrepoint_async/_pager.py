"""Offset/limit pagination: :class:`AsyncPager` and :class:`Page`.

How a listing is walked (the public documents show ``links`` empty or pointing elsewhere, and a
``totalCount`` that can be wrong both ways):

- Pages are requested by ``offset``/``limit`` only. The listing ends at the first page shorter
  than the limit asked for (or empty), never because of ``totalCount`` alone.
- With ``concurrency > 1`` the first ``concurrency`` pages are requested at once, before any
  ``totalCount`` is known (probing ahead: a listing shorter than that costs a few empty
  pages, never time); then the pages ``totalCount`` promises are fetched up to
  ``concurrency`` at a time, a new request starting the moment one finishes (whatever the
  consumer is doing), and yielded in order. As many more requests are made ready (URL,
  token, span) and wait at a gate the client holds around each exchange, so the next one
  goes on the wire as soon as an answer's last byte is read, while that answer is decoded.
  Past that promise pages are probed one at a time, so a ``totalCount`` that is too low
  costs speed, never items, and one that is too high costs at most the requests already on
  the wire (those made ready past the end are dropped as soon as a short page shows it).
- Items repeated across a page boundary (an ``id`` already yielded from the previous page:
  offsets shift when the server inserts items meanwhile) are dropped. A full page whose ids
  were all seen within the last :data:`LOOP_WINDOW` pages raises :class:`PaginationError`:
  a server cycling through pages (the same page again, or two pages alternating) would
  otherwise be walked forever.
- A page that cannot be parsed (no ``items`` list, an item the model refuses) raises a
  :class:`DecodeError`; like every error out of the pager it carries ``resume_offset``.
- ``resume_offset`` is the offset of the first item not yet yielded; errors raised out of the
  pager carry it, so a new pager started there finishes the listing.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any, Generic, Self, TypeVar

import attrs

from ._exceptions import CentrePointError, DecodeError, PaginationError
from ._protocol import MAX_PAGE_SIZE, check_count, check_page_size

__all__ = ["AsyncPager", "Page"]

T = TypeVar("T")

#: Pages remembered by the loop detection: a full page made only of ids seen within this
#: many pages is a cycle, not progress.
LOOP_WINDOW = 16

#: Items typed between two yields to the event loop (see ``AsyncPager._typed``).
PARSE_SLICE = 20

#: Set in the page requests a pager runs ahead: the client holds it around each HTTP exchange
#: (from sending to the last byte of the answer), so ``concurrency`` bounds requests on the
#: wire while the next ones are made ready and the finished ones decoded outside it.
exchange_gate: ContextVar[_Gate | None] = ContextVar("exchange_gate", default=None)


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing, as the server sent it (minus repeats of the previous page)."""

    items: list[T]
    offset: int  # the offset this page was requested at
    limit: int  # the limit it was requested with
    total_count: int | None  # the server's totalCount: a hint, may be wrong


FetchPage = Callable[[int, int], Awaitable[Page[Any]]]


@attrs.frozen
class _Chunk(Generic[T]):
    """A page ready to yield: kept items with the listing position of each."""

    page: Page[T]
    positions: list[int]
    end: int  # position just past the last item the server sent


class AsyncPager(Generic[T]):
    """The items of a paginated listing, fetched lazily.

    ``async for item in pager`` yields items in the server's order, each once;
    :meth:`pages` yields :class:`Page` objects; :meth:`collect` returns a list. Each iteration
    starts a fresh walk at ``offset``. Memory is bounded by about ``concurrency`` pages.

    ``fetch(offset, limit)`` returns a :class:`Page`; each call in progress counts against
    ``concurrency``. (The client's own listings count only their HTTP exchanges, so that the
    next request is ready to go while an answer is decoded: ``_exchange_gated``.)
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        parse: Callable[[Any], T] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
        key: Callable[[T], Hashable | None] | None = None,
        _exchange_gated: bool = False,
        _locate: Callable[[DecodeError, int, int], None] | None = None,
    ) -> None:
        self._fetch = fetch
        # fetch holds exchange_gate around its HTTP exchanges itself (the client's does)
        self._exchange_gated = _exchange_gated
        # tells an item's DecodeError which answer it came from: (error, page offset, limit)
        self._locate = _locate
        self._parse = parse
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
        """The listing page by page."""
        try:
            async for chunk in self._chunks():
                self.resume_offset = chunk.end
                yield chunk.page
        except CentrePointError as exc:
            exc.resume_offset = self.resume_offset
            raise

    async def _items(self) -> AsyncIterator[T]:
        try:
            async for chunk in self._chunks():
                items, positions = chunk.page.items, chunk.positions
                last = len(items) - 1
                for i, item in enumerate(items):
                    # set before handing the item over: a consumer that stops after it
                    # must resume past it
                    self.resume_offset = positions[i + 1] if i < last else chunk.end
                    yield item
                self.resume_offset = chunk.end
        except CentrePointError as exc:
            exc.resume_offset = self.resume_offset
            raise

    async def _chunks(self) -> AsyncIterator[_Chunk[T]]:
        self.resume_offset = offset = self.offset
        limit_at = functools.partial(_limit_at, self.page_size, self.offset, self.max_items)
        window = _Window(
            self._fetch,
            self.concurrency,
            limit_at,
            offset,
            self.page_size,
            exchange_gated=self._exchange_gated,
        )
        self._windows.add(window)
        previous: list[Hashable | None] = []
        recent: deque[set[Hashable]] = deque(maxlen=LOOP_WINDOW)
        try:
            window.refill()  # with concurrency, the first wave goes out before any totalCount
            while (limit := limit_at(offset)) is not None:
                if window.tasks:
                    raw = await window.tasks.popleft()
                else:  # sequential, or past what totalCount promised: one page at a time
                    raw = await window.fetch_here(offset, limit)
                window.refill()  # before parsing: requests go out while this page is parsed
                page = await self._typed(raw)
                chunk, previous = self._dedupe(page, previous, recent)
                if chunk.page.items:
                    yield chunk
                if len(page.items) < limit:
                    return  # a short (or empty) page ends the listing
                offset += limit
        finally:
            self._windows.discard(window)
            await window.cancel()

    async def _typed(self, page: Page[Any]) -> Page[T]:
        if self._parse is None:
            return page
        parse, raw = self._parse, page.items
        items: list[T] = []
        for start in range(0, len(raw), PARSE_SLICE):
            if start:
                # let finished requests be replaced while a page is typed: the loop would
                # otherwise hold every connection that came free meanwhile until the page is done
                await asyncio.sleep(0)
            try:
                items += [parse(item) for item in raw[start : start + PARSE_SLICE]]
            except DecodeError as error:
                if self._locate is not None:
                    self._locate(error, page.offset, page.limit)
                raise
        return Page(items, page.offset, page.limit, page.total_count)

    def _dedupe(
        self, page: Page[T], previous: list[Hashable | None], recent: deque[set[Hashable]]
    ) -> tuple[_Chunk[T], list[Hashable | None]]:
        positions = range(page.offset, page.offset + len(page.items))
        end = page.offset + len(page.items)
        if self._key is None:
            return _Chunk(page, list(positions), end), []
        keys = [self._key(item) for item in page.items]
        ids = {k for k in keys if k is not None}
        if len(keys) == page.limit and len(ids) == len(keys) and _all_seen(ids, recent):
            raise PaginationError(
                f"the server answered offset {page.offset} with {len(keys)} items all sent "
                f"within the last {len(recent)} pages; stopping instead of looping"
            )
        recent.append(ids)
        seen = {k for k in previous if k is not None}
        if not seen.intersection(keys):
            return _Chunk(page, list(positions), end), keys
        kept = [
            (pos, item)
            for pos, item, k in zip(positions, page.items, keys, strict=True)
            if k is None or k not in seen
        ]
        trimmed = attrs.evolve(page, items=[item for _, item in kept])
        return _Chunk(trimmed, [pos for pos, _ in kept], end), keys


def _all_seen(ids: set[Hashable], recent: deque[set[Hashable]]) -> bool:
    """True if every id in ``ids`` was in one of the ``recent`` pages."""
    probe = next(iter(ids), None)
    if probe is not None and not any(probe in page for page in recent):
        return False  # the usual answer, from one id instead of every page's set difference
    unseen = set(ids)
    for page in recent:
        unseen -= page
        if not unseen:
            return True
    return False


def _limit_at(page_size: int, start: int, max_items: int | None, offset: int) -> int | None:
    """The limit to ask for at ``offset``; None once ``max_items`` positions are covered."""
    if max_items is None:
        return page_size
    remaining = start + max_items - offset
    return min(page_size, remaining) if remaining > 0 else None


class _Gate:
    """The places on the wire of one pager's requests, and the requests holding one.

    A request leaving hands its place over at once: when another waits for it, the one leaving
    lets it go on the wire before going on itself (to decode its answer, typically).
    """

    def __init__(self, places: int) -> None:
        self._places = asyncio.Semaphore(places)
        self.holders: set[asyncio.Task[Any] | None] = set()
        self._waiting = 0  # requests ready to send, waiting for a place

    async def __aenter__(self) -> None:
        self._waiting += 1
        try:
            await self._places.acquire()
        finally:
            self._waiting -= 1
        self.holders.add(asyncio.current_task())

    async def __aexit__(self, *exc_info: object) -> None:
        self.holders.discard(asyncio.current_task())
        self._places.release()
        if self._waiting:
            # one turn of the loop: the woken request is sent before this answer is decoded
            # (concurrency 16: 1.16-1.18x to 1.12-1.13x of ideal, interleaved runs)
            await asyncio.sleep(0)


class _Window:
    """The pages fetched ahead of the consumer, in offset order.

    The first ``concurrency`` pages are requested together before any answer (the probe
    ahead); after that a page request is started as soon as another one finishes (from its
    done callback), not when the consumer gets to it, so slow parsing or a slow consumer does
    not idle the connections. Up to twice ``concurrency`` page requests run, but only
    ``concurrency`` of them on the wire: each exchange holds a place of ``gate``
    (:data:`exchange_gate`), and the others wait there ready to send. No new request starts
    while ``concurrency`` answered pages wait for the consumer (a consumer slower than the
    wire gains nothing from more, and measured faster with fewer pages alive); at most twice
    ``concurrency`` pages are held, so memory stays bounded by the concurrency, not by the
    listing.
    """

    def __init__(
        self,
        fetch: FetchPage,
        concurrency: int,
        limit_at: Callable[[int], int | None],
        start: int,
        page_size: int,
        *,
        exchange_gated: bool,
    ) -> None:
        self.fetch = fetch
        self.exchange_gated = exchange_gated
        self.concurrency = concurrency
        self.gate = _Gate(concurrency)  # requests on the wire (see exchange_gate)
        self.limit_at = limit_at
        self.tasks: deque[asyncio.Task[Page[Any]]] = deque()
        #: The page requests under way (ready or on the wire), by offset.
        self.offsets: dict[asyncio.Task[Page[Any]], int] = {}
        self.scheduled = start  # offset of the next page to request
        self.first_wave_end = start + concurrency * page_size  # probed before any totalCount
        #: End of the listing according to the latest totalCount; None before any answer.
        self.promised: int | None = None
        self.stopped = False  # a short page or a failure was seen: request nothing more

    async def fetch_here(self, offset: int, limit: int) -> Page[Any]:
        """Fetch the next page in the consumer's own task (no request ahead of it)."""
        self.scheduled = offset + limit
        page = await self.fetch(offset, limit)
        self.note(page)
        return page

    def note(self, page: Page[Any]) -> None:
        """Learn from a finished page: where the listing claims to end, or that it ended."""
        if len(page.items) < page.limit:
            self.stopped = True
            for task, offset in list(self.offsets.items()):
                if offset > page.offset and task not in self.gate.holders:
                    task.cancel()  # past the end and not sent: it never will be
        else:  # no totalCount: nothing promised, the consumer probes on one page at a time
            self.promised = page.total_count or 0

    def refill(self) -> None:
        """Start page requests while there is room and totalCount promises more."""
        if self.concurrency == 1:
            return
        while not self.stopped and len(self.tasks) < 2 * self.concurrency:
            if len(self.tasks) - len(self.offsets) >= self.concurrency:
                return  # as many answered pages wait for the consumer: more would be memory
            limit = self.limit_at(self.scheduled)
            if limit is None:
                return
            if self.promised is None:
                if self.scheduled >= self.first_wave_end:
                    return
            elif self.scheduled > self.promised:
                return
            task = asyncio.ensure_future(self._gated(self.scheduled, limit))
            task.add_done_callback(self._finished)
            self.offsets[task] = self.scheduled
            self.tasks.append(task)
            self.scheduled += limit

    async def _gated(self, offset: int, limit: int) -> Page[Any]:
        """``fetch``, its exchanges holding a place of the gate (the whole fetch, if not gated)."""
        if self.exchange_gated:
            exchange_gate.set(self.gate)  # in this task's own context only
            return await self.fetch(offset, limit)
        async with self.gate:
            return await self.fetch(offset, limit)

    def _finished(self, task: asyncio.Task[Page[Any]]) -> None:
        del self.offsets[task]
        if task.cancelled():
            return
        if task.exception() is not None:
            self.stopped = True  # the consumer raises it when it gets there
            return
        self.note(task.result())
        self.refill()

    async def cancel(self) -> None:
        """Cancel what is still running and wait for it, leaving nothing behind."""
        self.stopped = True
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
