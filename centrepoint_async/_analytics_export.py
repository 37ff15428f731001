"""Bulk export of a study's analytics table to JSON Lines, CSV or Parquet: resumable, verified.

:func:`export_analytics` lists every page of one table (minute summaries, daily statistics,
sleep periods or event markers) for every subject of a study, or those given, between
``from_date`` and ``to_date``, several subjects at once under the client's rate limit. The
output is written as ``export_history``'s is (``centrepoint_async._resumable``): one writer
under ``PATH.lock``, ``PATH.part`` and a checkpoint sealed by a digest after every batch of
pages, ``resume=True`` to continue after any interruption (``kill -9`` included) with nothing
lost or repeated, ``overwrite=True`` to start over, and ``PATH`` whole under its name only
once the job is.

- **Subjects at once.** Each subject is one stream of the checkpoint (``"subjects"``); up to
  ``concurrency`` of them are listed at the same time, each in the server's order, and their
  pages are written as they come (the output groups rows by page, not by subject). With fewer
  subjects than ``concurrency``, each one's listing fetches pages ahead instead.
- **JSON Lines** hold each item exactly as the API sent it. **CSV and Parquet** hold one row
  per item, flattened as ``centrepoint_async._tables`` says (flat ``parent.child`` columns in
  snake_case, a ``subject_id`` column, a column order taken from the documented fields, types
  kept in Parquet). For those two the part holds the items as sent (with their subject), and
  at the end they are converted into ``PATH.writing``, which becomes ``PATH``: the part is
  what a resume verifies, so a conversion cut short is simply done again.
- **The job is fixed at its start.** The subjects listed when it began (new subjects belong to
  the next export), the table, the dates and the format are in the checkpoint; a resume with
  other ones is refused (:class:`CheckpointError`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

import attrs
import orjson

from . import _endpoints as ep
from ._client import CentrePointClient
from ._exceptions import ConfigurationError, ExportError
from ._pager import AsyncPager
from ._protocol import check_count, check_id
from ._resumable import (
    Encoded,
    Id,
    Layout,
    Resume,
    Run,
    Tally,
    Writer,
    as_id,
    remaining,
    write_through,
)
from ._tables import COLUMNS, require_pyarrow, stage, staged_item, write_csv, write_parquet

__all__ = ["TABLES", "AnalyticsExportResult", "export_analytics"]

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
#: The format an output's suffix names, when ``format`` is not given.
SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: Every table that can be exported, by name, and its listing.
TABLES: dict[str, ep.Endpoint[Any]] = {
    "minute-summaries": ep.MINUTE_SUMMARIES,
    "daily-statistics": ep.DAILY_STATISTICS,
    "sleep-periods": ep.SLEEP_PERIODS,
    "event-markers": ep.EVENT_MARKERS,
}
#: Seconds between checkpoints while pages keep coming (and one when the export stops, however
#: it stops): a kill -9 costs at most this much fetching again.
SAVE_EVERY = 1.0
#: The checkpoint: one stream per subject, several under way, the last record's subject named.
LAYOUT = Layout(version=1, streams="subjects", listed="subjects", last_key="last_record_subject")


@attrs.define
class AnalyticsExportResult:
    """What an analytics export wrote; updated as it runs (progress callbacks receive it)."""

    items: int = 0  # rows written by this run
    pages: int = 0  # pages written by this run
    subjects: int = 0  # subjects finished by this run
    resumed_items: int = 0  # rows the part held already when this run resumed it
    #: Rows to expect in all, from the listings' ``totalCount``: a hint, estimated from the
    #: subjects listed so far until every subject's first page is in (None: nothing known).
    expected: int | None = None

    @property
    def total_items(self) -> int:
        """Rows in the output, those of an interrupted run included."""
        return self.resumed_items + self.items


Progress = Callable[[AnalyticsExportResult], object]
When = date | datetime


# --- the plan: every argument checked, before any request -------------------------------------


def _format_of(format: object, target: Path) -> Format:
    if format is None:
        found = SUFFIXES.get(target.suffix.lower())
        if found is None:
            raise ConfigurationError(
                f"cannot tell the format from {target.name!r}: give format= "
                f"({', '.join(FORMATS)}) or name the file {', '.join(SUFFIXES)}"
            )
        return found
    for fmt in FORMATS:
        if format == fmt:
            return fmt
    raise ConfigurationError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")


def _check_dates(from_date: object, to_date: object) -> None:
    for name, value in (("from_date", from_date), ("to_date", to_date)):
        if value is not None and not isinstance(value, date):
            raise ConfigurationError(f"{name} must be a date or a datetime, got {value!r}")

    def moment(value: date) -> datetime:
        return value if isinstance(value, datetime) else datetime.combine(value, time())

    if isinstance(from_date, date) and isinstance(to_date, date):
        low, high = moment(from_date), moment(to_date)
        if (low.tzinfo is None) == (high.tzinfo is None) and low > high:
            raise ConfigurationError(f"from_date {from_date} is after to_date {to_date}")


def _subject_ids(subjects: Sequence[int] | None) -> list[int] | None:
    if subjects is None:
        return None
    if isinstance(subjects, str | bytes) or not isinstance(subjects, Sequence):
        raise ConfigurationError(f"subjects must be a list of subject ids, got {subjects!r}")
    ids = list(dict.fromkeys(check_id(s, "subject id") for s in subjects))
    if not ids:
        raise ConfigurationError("subjects is empty (None exports every subject of the study)")
    return ids


@attrs.frozen
class _Plan:
    """One export, its arguments checked."""

    client: CentrePointClient
    study_id: int
    table: str
    fmt: Format
    subjects: list[int] | None  # those given (None: every subject of the study)
    from_date: When | None
    to_date: When | None
    concurrency: int
    progress: Progress | None

    @property
    def endpoint(self) -> ep.Endpoint[Any]:
        return TABLES[self.table]

    def job(self, subjects: list[int]) -> dict[str, Any]:
        """The job as the checkpoint records it (dates as they are sent)."""
        return {
            "export": "analytics",
            "study_id": self.study_id,
            "table": self.table,
            "subjects": subjects,
            "from_date": _sent(self.from_date, "from_date"),
            "to_date": _sent(self.to_date, "to_date"),
            "format": self.fmt,
        }

    def key(self, item: Any) -> Id:
        """An item's identity as the listing anchors it: its id, or the fields that make it
        one (a minute: its time and setting), as one text."""
        names = self.endpoint.key
        values = [item.get(name) for name in names] if isinstance(item, dict) else [None]
        if any(as_id(v) is None for v in values):
            return None
        return as_id(values[0]) if len(values) == 1 else " ".join(str(v) for v in values)


def _sent(value: When | None, name: str) -> str | None:
    return None if value is None else ep.query_values(value, name)[0]


def _describe(job: dict[str, Any]) -> str:
    subjects = job.get("subjects")
    count = f"{len(subjects)} subjects" if isinstance(subjects, list) else "subjects ?"
    dates = f"{job.get('from_date') or '...'} to {job.get('to_date') or '...'}"
    return (
        f"study {job.get('study_id')}, {job.get('table')}, {count}, {dates}, "
        f"format {job.get('format')}"
    )


# --- the public function -------------------------------------------------------------------


async def export_analytics(
    client: CentrePointClient,
    study_id: int,
    table: str,
    output: str | os.PathLike[str],
    *,
    subjects: Sequence[int] | None = None,
    from_date: date | datetime | None = None,
    to_date: date | datetime | None = None,
    format: Format | None = None,
    concurrency: int = 4,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> AnalyticsExportResult:
    """Export one analytics ``table`` of a study to ``output`` (a path).

    ``table``: ``"minute-summaries"``, ``"daily-statistics"``, ``"sleep-periods"`` or
    ``"event-markers"``. ``subjects``: the subject ids to export (default:
    every subject of the study when the export starts). ``from_date``/``to_date``: inclusive
    bounds, sent as ``fromDate``/``toDate`` (a ``date`` as ``YYYY-MM-DD``, an aware
    ``datetime`` in UTC, a naive one as is: the subject's local time). ``format``:
    ``"jsonl"``, ``"csv"`` or ``"parquet"`` (the extra ``[parquet]``); by default the one
    ``output``'s suffix names. ``concurrency``: requests in flight (subjects listed at once).
    ``resume=True`` continues an interrupted export of the same job; ``overwrite=True``
    replaces an existing output. ``progress(result)`` is called at the start and after every
    batch of pages written.

    Raises :class:`ConfigurationError` for invalid arguments (pyarrow missing for Parquet
    included) and an :class:`ExportError` when the output cannot be written or resumed, both
    before any request is sent (but an :class:`ExportError` naming a subject the study does
    not have, found by listing its subjects); then the client's errors (``APIError``,
    ``TransportError``) when the server fails for good, after which ``resume=True``
    continues.
    """
    plan = _plan(client, study_id, table, output, subjects, from_date, to_date, format)
    if resume and overwrite:
        raise ConfigurationError("resume and overwrite exclude each other")
    plan = attrs.evolve(
        plan, concurrency=check_count(concurrency, "concurrency"), progress=progress
    )
    return await write_through(Path(output), _run(plan, resume, overwrite))


def _plan(
    client: CentrePointClient,
    study_id: int,
    table: str,
    output: object,
    subjects: Sequence[int] | None,
    from_date: object,
    to_date: object,
    format: object,
) -> _Plan:
    """The export's arguments checked (ConfigurationError for any that is not right)."""
    check_id(study_id, "study_id")
    if table not in TABLES:
        raise ConfigurationError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
    if not isinstance(output, str | os.PathLike):
        raise ConfigurationError(f"output must be a path, got {type(output).__name__}")
    fmt = _format_of(format, Path(output))
    if fmt == "parquet":
        require_pyarrow()
    _check_dates(from_date, to_date)
    ids = _subject_ids(subjects)
    low = from_date if isinstance(from_date, date) else None
    high = to_date if isinstance(to_date, date) else None
    return _Plan(client, study_id, table, fmt, ids, low, high, 1, None)


def _run(plan: _Plan, resume: bool, overwrite: bool) -> Run[AnalyticsExportResult]:
    """How the export begins (listing the subjects), walks, and ends (a conversion)."""

    async def begin() -> tuple[dict[str, Any], bytes]:
        return plan.job(await _subjects(plan)), b""

    async def walk(writer: Writer) -> AnalyticsExportResult:
        return await _walk(plan, writer)

    def record_id(record: bytes) -> Id:
        try:
            item = orjson.loads(record) if plan.fmt == "jsonl" else staged_item(record)
        except orjson.JSONDecodeError:
            return None
        return plan.key(item)

    again = None
    if resume:
        given = plan.subjects
        again = Resume(
            LAYOUT,
            lambda listed: plan.job(listed if given is None else given),
            _describe,
            record_id,
        )
    columns = COLUMNS[plan.table]
    convert = {
        "jsonl": None,
        "csv": lambda files, _: write_csv(files.part, files.writing, columns),
        "parquet": lambda files, _: write_parquet(files.part, files.writing, columns),
    }[plan.fmt]
    return Run(LAYOUT, again, overwrite, begin, walk, convert)


async def _subjects(plan: _Plan) -> list[int]:
    """The subjects of the job: the study's, or those given (each checked to be the study's)."""
    listed = [s.id for s in await plan.client.subjects.list(plan.study_id).collect()]
    if plan.subjects is None:
        return listed
    known = set(listed)
    missing = [s for s in plan.subjects if s not in known]
    if missing:
        raise ExportError(
            f"study {plan.study_id} has no subject {', '.join(map(str, missing))} "
            f"(it has {len(listed)} subjects)"
        )
    return plan.subjects


# --- the walk --------------------------------------------------------------------------------


@attrs.frozen
class _Page:
    subject: int
    items: list[Any]
    end: int  # listing position just past the page


@attrs.frozen
class _Done:
    subject: int


@attrs.frozen
class _Failed:
    error: Exception


@attrs.frozen
class _End:
    """One fetcher has no subject left."""


_Entry = _Page | _Done | _Failed | _End


@attrs.define
class _Walk:
    """The subjects left, their listings' totals, and the queue of pages to write."""

    plan: _Plan
    writer: Writer
    todo: list[int]
    queue: asyncio.Queue[_Entry]
    tallies: dict[int, Tally] = attrs.field(factory=dict)
    result: AnalyticsExportResult = attrs.field(factory=AnalyticsExportResult)

    @property
    def fetchers(self) -> int:
        return min(self.plan.concurrency, len(self.todo))

    def pager_at(self, subject: int) -> Callable[[int], AsyncPager[Any]]:
        """The subject's listing from an offset: raw items, pages ahead when subjects are few."""
        plan = self.plan
        ahead = max(1, plan.concurrency // max(1, len(self.todo)))

        def at(offset: int) -> AsyncPager[Any]:
            return plan.endpoint.pager(
                plan.client,
                plan.study_id,
                subject,
                paging={"offset": offset, "concurrency": ahead},
                raw=True,
                from_date=plan.from_date,
                to_date=plan.to_date,
            )

        return at

    async def fetch(self, subjects: Iterator[int]) -> None:
        """List the subjects this fetcher takes from ``subjects`` (shared), page by page."""
        plan, checkpoint = self.plan, self.writer.checkpoint
        try:
            for subject in subjects:
                state = checkpoint.state(subject)
                tally = self.tallies[subject] = Tally(got=state.items)

                def gone(anchor: Id, start: int, subject: int = subject) -> str:
                    return (
                        f"item {anchor}, the last one written of subject {subject}, is no "
                        f"longer in its {plan.table} at or after offset {start}; the export "
                        "cannot continue without a gap"
                    )

                pages = remaining(self.pager_at(subject), state, plan.key, tally, gone)
                async for items, end in pages:
                    await self.queue.put(_Page(subject, items, end))
                await self.queue.put(_Done(subject))
        except Exception as exc:  # handed to the writer (cancellation is not)
            await self.queue.put(_Failed(exc))
            return
        await self.queue.put(_End())

    def expected(self) -> int | None:
        """Rows to expect: those of subjects done, the totals of those listed, and for the
        rest the average of those (None while nothing is known)."""
        checkpoint = self.writer.checkpoint
        known: list[int] = []
        unknown = 0
        for subject in checkpoint.job["subjects"]:
            state, tally = checkpoint.state(subject), self.tallies.get(subject)
            if state.done:
                known.append(state.items)
            elif tally is not None and tally.expected is not None:
                known.append(max(tally.expected, state.items))
            else:
                unknown += 1
        if not known:
            return None
        return sum(known) + round(unknown * sum(known) / len(known))

    def report(self) -> None:
        if self.plan.progress is not None:
            self.result.expected = self.expected()
            self.plan.progress(self.result)


async def _walk(plan: _Plan, writer: Writer) -> AnalyticsExportResult:
    """Write every subject's pages from where it stands, saving as it goes (see
    :data:`SAVE_EVERY`) and whenever it stops: what was written is never fetched again."""
    checkpoint = writer.checkpoint
    todo = [s for s in checkpoint.job["subjects"] if not checkpoint.state(s).done]
    walk = _Walk(plan, writer, todo, asyncio.Queue(maxsize=2 * plan.concurrency))
    walk.result.resumed_items = checkpoint.items_written()
    walk.report()
    shared = iter(todo)  # each subject goes to the first fetcher free to take it
    tasks = [asyncio.create_task(walk.fetch(shared)) for _ in range(walk.fetchers)]
    loop = asyncio.get_running_loop()
    saved_at, unsaved = loop.time(), False
    try:
        running = len(tasks)
        while running:
            entries = await _take(walk.queue)
            unsaved = True
            running -= _write(walk, entries)
            if loop.time() >= saved_at + SAVE_EVERY:
                writer.save()
                saved_at, unsaved = loop.time(), False
            walk.report()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if unsaved:
            writer.save()  # also on the way out of an error or Ctrl-C: keep what was written
    return walk.result


async def _take(queue: asyncio.Queue[_Entry]) -> list[_Entry]:
    """The next entry, and every other one waiting already."""
    entries = [await queue.get()]
    while not queue.empty():
        entries.append(queue.get_nowait())
    return entries


def _write(walk: _Walk, entries: list[_Entry]) -> int:
    """Write a batch of entries (not saved yet); raise a fetcher's error once its batch is
    written. Returns how many fetchers ended."""
    writer, result = walk.writer, walk.result
    for entry in entries:
        if isinstance(entry, _Page):
            writer.write_page(entry.subject, _encode(entry, walk.plan))
            walk.tallies[entry.subject].got += len(entry.items)
            result.items += len(entry.items)
            result.pages += 1
        elif isinstance(entry, _Done):
            writer.checkpoint.finish(entry.subject)
            result.subjects += 1
    for entry in entries:
        if isinstance(entry, _Failed):
            raise entry.error
    return sum(isinstance(e, _End) for e in entries)


def _encode(page: _Page, plan: _Plan) -> Encoded:
    """A page as the part's records: items as sent (JSON Lines), or staged with their subject
    (CSV, Parquet: converted at the end)."""
    if plan.fmt == "jsonl":
        records = [orjson.dumps(item) + b"\n" for item in page.items]
    else:
        records = [stage(page.subject, item) for item in page.items]
    ids = [plan.key(page.items[-1])]
    return Encoded(b"".join(records), len(records[-1]), ids, page.end, len(records))
