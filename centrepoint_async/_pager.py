"""Offset/limit pagination: :class:`AsyncPager` and :class:`Page`.

How a listing is walked (the public documents show ``links`` empty or pointing elsewhere, and a
``totalCount`` that can be wrong both ways):

- Pages are requested by ``offset``/``limit`` only. The listing ends at the first page shorter
  than the limit asked for (or empty), never because of ``totalCount`` alone.
- With ``concurrency > 1`` the pages after the first that ``totalCount`` promises are fetched
  up to ``concurrency`` at a time and yielded in order; past that promise pages are probed
  one at a time, so a ``totalCount`` that is too low costs speed, never items, and one that is
  too high costs at most the requests already in flight (cancelled at the end).
- Items repeated across a page boundary (an ``id`` already yielded from the previous page:
  offsets shift when the server inserts items meanwhile) are dropped. A full page identical to
  the previous one raises :class:`PaginationError` instead of looping forever.
- ``resume_offset`` is the offset of the first item not yet yielded; errors raised out of the
  pager carry it, so a new pager started there finishes the listing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import attrs

from ._exceptions import CentrePointError, ConfigurationError, PaginationError
from ._protocol import check_page_size

__all__ = ["AsyncPager", "Page"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing, as the server sent it (minus repeats of the previous page)."""

    items: list[T]
    offset: int  # the offset this page was requested at
    limit: int  # the limit it was requested with
    total_count: int | None  # the server's totalCount: a hint, may be wrong

    @property
    def end(self) -> int:
        """The offset just past this page's last position."""
        return self.offset + self.limit


FetchPage = Callable[[int, int], Awaitable[Page[T]]]


@attrs.frozen
class _Chunk(Generic[T]):
    """A page ready to yield: kept items with the listing position of each."""

    page: Page[T]
    positions: list[int]
    end: int  # position just past the last item the server sent


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")


class AsyncPager(Generic[T]):
    """The items of a paginated listing, fetched lazily.

    ``async for item in pager`` yields items in the server's order, each once;
    :meth:`pages` yields :class:`Page` objects; :meth:`collect` returns a list. Each iteration
    starts a fresh walk at ``offset``. Memory is bounded by about ``concurrency`` pages.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
        key: Callable[[T], Hashable | None] | None = None,
    ) -> None:
        self._fetch = fetch
        self.page_size = check_page_size(page_size)
        self.offset = _check_count("offset", offset, 0)
        self.max_items = None if max_items is None else _check_count("max_items", max_items, 0)
        self.concurrency = _check_count("concurrency", concurrency, 1)
        self._key = key
        #: Offset of the first item not yet yielded.
        self.resume_offset = self.offset

    def __repr__(self) -> str:
        return (
            f"AsyncPager(page_size={self.page_size}, offset={self.offset}, "
            f"concurrency={self.concurrency}, resume_offset={self.resume_offset})"
        )

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def collect(self) -> list[T]:
        """Every item of the listing, in order."""
        return [item async for item in self]

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

    def _limit_at(self, offset: int) -> int | None:
        if self.max_items is None:
            return self.page_size
        remaining = self.offset + self.max_items - offset
        return min(self.page_size, remaining) if remaining > 0 else None

    async def _chunks(self) -> AsyncIterator[_Chunk[T]]:
        self.resume_offset = offset = scheduled = self.offset
        promised = 0  # end of the listing according to the latest totalCount
        inflight: deque[asyncio.Task[Page[T]]] = deque()
        previous: list[Hashable | None] = []
        try:
            while (limit := self._limit_at(offset)) is not None:
                if inflight:
                    page = await inflight.popleft()
                else:
                    page = await self._fetch(offset, limit)
                    scheduled = offset + limit
                chunk, previous = self._dedupe(page, previous)
                if chunk.page.items:
                    yield chunk
                if len(page.items) < limit:
                    return  # a short (or empty) page ends the listing
                offset += limit
                if page.total_count is not None:
                    promised = page.total_count
                while self.concurrency > 1 and len(inflight) < self.concurrency:
                    next_limit = self._limit_at(scheduled)
                    if next_limit is None or scheduled >= promised:
                        break
                    inflight.append(asyncio.ensure_future(self._fetch(scheduled, next_limit)))
                    scheduled += next_limit
        finally:
            for task in inflight:
                task.cancel()
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)

    def _dedupe(
        self, page: Page[T], previous: list[Hashable | None]
    ) -> tuple[_Chunk[T], list[Hashable | None]]:
        positions = range(page.offset, page.offset + len(page.items))
        end = page.offset + len(page.items)
        if self._key is None:
            return _Chunk(page, list(positions), end), []
        keys = [self._key(item) for item in page.items]
        if previous and keys == previous and len(keys) == page.limit:
            raise PaginationError(
                f"the server answered offset {page.offset} with the same "
                f"{len(keys)} items as the page before it; stopping instead of looping"
            )
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
