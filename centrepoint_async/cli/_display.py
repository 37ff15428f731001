"""What the command line shows while it exports: a progress bar that says what it waits for.

- The bar (tqdm) has the expected total (the server's ``totalCount``, a hint), a percentage,
  the rate and an ETA, and a status after the rate, counting down once a second while requests
  wait: ``waiting 38 s: rate limit`` (the client's own limiter), ``Retry-After`` (a pause the
  server asked for), ``rate limited (429)``, ``backoff after 503``.
- Waits are learnt from the client's event hooks (:meth:`ExportDisplay.hooks`: ``"wait"`` and
  ``"retry"``), never from log lines.
- The rate is the average since the start, waits included, and the ETA is the wait still to
  come plus the items left at that rate: a wait is counted in the ETA, never hidden by it.
- Log lines are written through the bar (cleared, printed, drawn again), never into it; retry
  records are left out unless asked for (``-v``, ``CENTREPOINT_LOG``): the bar and the summary
  say them.
- :func:`summary_line` is the one line printed at the end of ``export-history``;
  :func:`requests_summary` its account of the requests, which every export's line ends with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import IO, Any, Protocol, Self

import attrs
from tqdm import tqdm

from .._export import ExportResult
from .._hooks import Hook, HookEvent, HookName
from .._logging import LOGGER, detached

__all__ = [
    "ExportDisplay",
    "LogHandler",
    "Progressing",
    "cli_logging",
    "requests_summary",
    "summary_line",
    "wait_reason",
]

#: The bar's layout: tqdm's own, with the ETA (``left``) computed here.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{left}, {rate_fmt}{postfix}]"


def wait_reason(event: HookEvent) -> str:
    """Why requests wait, in the bar's words: 'rate limit', 'backoff after 503', ..."""
    if event.name == "wait":
        return event.reason or "rate limit"  # "rate limit" or "Retry-After"
    if event.status == 429:
        return "rate limited (429)"
    if event.status is not None:
        return f"backoff after {event.status}"
    cause = (event.reason or "").partition(":")[0]  # "ConnectError: ..." -> "ConnectError"
    return f"backoff after {cause}" if cause else "backoff"


class _Bar(tqdm):  # type: ignore[misc]  # tqdm has no type information
    monitor_interval = 0  # no monitor thread: the display refreshes the bar itself
    wait_left = 0.0  # seconds the current wait still holds requests

    @property
    def format_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = super().format_dict
        values["left"] = self._left(values)
        return values

    def _left(self, values: dict[str, Any]) -> str:
        """The ETA: the wait still to come, then the items left at the average rate."""
        total, n, elapsed = values["total"], values["n"], values["elapsed"]
        done = n - values["initial"]
        if not total or done <= 0 or elapsed <= 0:
            return "?"
        return str(self.format_interval(self.wait_left + max(total - n, 0) * elapsed / done))


def _is_retry_record(record: logging.LogRecord) -> bool:
    """A record of RetryPolicy's retries (it carries its ``wait`` and ``reason``)."""
    return hasattr(record, "wait") and hasattr(record, "reason")


class LogHandler(logging.Handler):
    """Writes log records through the bar when there is one; retries only if asked."""

    def __init__(self, stream: IO[str], display: ExportDisplay | None = None) -> None:
        super().__init__()
        self.stream = stream
        self.display = display
        self.show_retries = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not self.show_retries and _is_retry_record(record):
                return  # the bar's status and the summary say it
            message = self.format(record)
            display = self.display
            if display is not None and display.bar is not None:
                display.bar.write(message, file=self.stream)
            else:
                self.stream.write(message + "\n")
                self.stream.flush()
        except Exception:  # logging must never break the export
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(level: int, stream: IO[str] | None = None) -> Iterator[LogHandler]:
    """Route the library's log records (level ``level`` and up) to ``stream`` for one run.

    A ``CENTREPOINT_LOG`` handler is taken off meanwhile, so that no line is written twice.
    """
    logger = logging.getLogger(LOGGER)
    handler = LogHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = logger.level, logger.propagate
    with detached():
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False  # one line per record, whatever the host program configured
        try:
            yield handler
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous[0])
            logger.propagate = previous[1]


class Progressing(Protocol):
    """What the bar reads of an export's result (``ExportResult`` and its kind)."""

    @property
    def total_items(self) -> int: ...
    @property
    def expected(self) -> int | None: ...
    @property
    def pages(self) -> int: ...


@attrs.define
class ExportDisplay:
    """The progress bar of one export; a no-op when ``enabled`` is false.

    Give :meth:`hooks` to the client (``event_hooks=``) and :meth:`update` as the export's
    ``progress`` callback; use as ``async with``: it ticks once a second (the countdown of a
    wait) until closed.
    """

    description: str
    enabled: bool = True
    stream: IO[str] = attrs.field(factory=lambda: sys.stderr)
    handler: LogHandler | None = None  # the CLI's log handler, to write through the bar
    mininterval: float = 0.1  # seconds between redraws (tqdm's own throttle)
    unit: str = " deliveries"  # what is counted, as the bar says it after a number
    bar: Any = attrs.field(default=None, init=False)
    _wait_until: float = attrs.field(default=0.0, init=False)
    _wait_reason: str = attrs.field(default="", init=False)
    _status: str = attrs.field(default="", init=False)
    _ticker: asyncio.Task[None] | None = attrs.field(default=None, init=False)

    def hooks(self) -> dict[HookName, list[Hook]]:
        """The client's ``event_hooks`` that tell this display about every wait."""
        return {"wait": [self._on_wait], "retry": [self._on_wait]}

    async def _on_wait(self, event: HookEvent) -> None:
        self.waiting(event.wait or 0.0, wait_reason(event))

    async def __aenter__(self) -> Self:
        if self.enabled:
            self.bar = _Bar(
                total=None,
                unit=self.unit,
                desc=self.description,
                file=self.stream,
                dynamic_ncols=True,
                mininterval=self.mininterval,
                smoothing=0,  # the average since the start: waits slow the rate, as they do
                bar_format=BAR_FORMAT,
            )
            if self.handler is not None:
                self.handler.display = self
            self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.handler is not None:
            self.handler.display = None
        if self.bar is not None:
            self._wait_until = 0.0
            self._refresh_status()
            if exc_info[0] is None and self.bar.total is not None:
                # done: what was written is the total, whatever totalCount promised
                self.bar.total = self.bar.n
            self.bar.close()
            self.bar = None

    def update(self, result: Progressing) -> None:
        """Show an export's progress (the ``progress`` callback of an export)."""
        bar = self.bar
        if bar is None:
            return
        done = result.total_items
        if result.expected is not None:
            bar.total = max(result.expected, done)
        if bar.n == 0 and done and not result.pages:
            # resumed: start where the part stands, and measure the rate from there
            bar.initial = bar.n = bar.last_print_n = done
            bar.refresh()
        else:
            bar.update(done - bar.n)

    def waiting(self, seconds: float, reason: str) -> None:
        """Requests are held for ``seconds`` because of ``reason``: say so on the bar."""
        until = time.monotonic() + seconds
        if until >= self._wait_until:
            self._wait_until, self._wait_reason = until, reason
        self._refresh_status()

    def _refresh_status(self) -> None:
        if self.bar is None:
            return
        left = max(self._wait_until - time.monotonic(), 0.0)
        self.bar.wait_left = left
        waiting = f"waiting {left:.0f} s: {self._wait_reason}" if left >= 0.5 else ""
        status = ", ".join(part for part in (self.detail(), waiting) if part)
        if status != self._status:
            self._status = status
            self.bar.set_postfix_str(status, refresh=True)

    def detail(self) -> str:
        """Text shown before the wait status (none here; a subclass may say more)."""
        return ""

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._refresh_status()
            self.bar.refresh()


def summary_line(
    result: ExportResult,
    *,
    output: str,
    retries: int,
    rate_limited: int,
    elapsed: float,
    waited: float = 0.0,
) -> str:
    """The one line printed after an export: items, pages, retries, 429s, waits, elapsed.

    ``waited``: seconds requests waited for the rate limiter (``ClientStats.rate_limit_waited``).
    """
    resumed = f" ({result.resumed_items:,} from before the resume)" if result.resumed_items else ""
    return (
        f"exported {result.total_items:,} deliveries{resumed} of {result.webhooks} webhook(s) "
        f"in {result.pages:,} pages to {output}: "
        + requests_summary(
            retries=retries, rate_limited=rate_limited, elapsed=elapsed, waited=waited
        )
    )


def requests_summary(*, retries: int, rate_limited: int, elapsed: float, waited: float) -> str:
    """'2 retries, 1 rate limited (429), 100 s waiting for the rate limit, 162.4 s'."""
    waits = f", {waited:.0f} s waiting for the rate limit" if waited >= 0.5 else ""
    return (
        f"{retries} {'retry' if retries == 1 else 'retries'}, {rate_limited} rate limited (429)"
        f"{waits}, {elapsed:.1f} s"
    )
