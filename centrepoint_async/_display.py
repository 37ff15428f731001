"""What the command line shows while it exports: a progress bar that says what it waits for.

- The bar (tqdm) has the expected total (the server's ``totalCount``, a hint), a percentage,
  the rate and an ETA, and a status after the rate: ``waiting 38 s: rate limited`` while a
  ``Retry-After`` or a retry's backoff holds requests, counting down once a second.
- Log lines are written through the bar (cleared, printed, drawn again), never into it.
- Waits are learnt from the client's retry log records (logger ``centrepoint_async``: their
  ``wait`` and ``reason`` fields) and from the rate limiter's ``paused_for``;
  :meth:`ExportDisplay.waiting` is the one entry point, so a retry event hook can call it
  instead of the log handler.
- :func:`summary_line` is the one line printed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import IO, Any, Self

import attrs
from tqdm import tqdm

from ._export import ExportResult

__all__ = ["ExportDisplay", "LogHandler", "cli_logging", "summary_line", "wait_reason"]

LOGGER = "centrepoint_async"


def wait_reason(reason: str) -> str:
    """A retry's cause as the status line says it: 'rate limited', 'server answered 503'."""
    if reason == "status 429":
        return "rate limited"
    if reason.startswith("status "):
        return f"server answered {reason.removeprefix('status ')}"
    return reason


class _Bar(tqdm):  # type: ignore[misc]  # tqdm has no type information
    monitor_interval = 0  # no monitor thread: the display refreshes the bar itself


class LogHandler(logging.Handler):
    """Writes log records through the bar when there is one, and tells it about waits."""

    def __init__(self, stream: IO[str], display: ExportDisplay | None = None) -> None:
        super().__init__()
        self.stream = stream
        self.display = display
        self.show_retries = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            # a retry record of RetryPolicy.call carries its wait and reason as fields
            wait, reason = getattr(record, "wait", None), getattr(record, "reason", None)
            display = self.display
            if (
                record.name == LOGGER
                and isinstance(wait, int | float)
                and isinstance(reason, str)
                and display is not None
                and display.bar is not None
            ):
                display.waiting(float(wait), wait_reason(reason))
                if not self.show_retries:
                    return  # the bar's status says it
            if display is not None and display.bar is not None:
                display.bar.write(message, file=self.stream)
            else:
                self.stream.write(message + "\n")
                self.stream.flush()
        except Exception:  # logging must never break the export
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(level: int, stream: IO[str] | None = None) -> Iterator[LogHandler]:
    """Route the library's log records (level ``level`` and up) to ``stream`` for one run."""
    logger = logging.getLogger(LOGGER)
    handler = LogHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # one line per record, whatever the host program configured
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


@attrs.define
class ExportDisplay:
    """The progress bar of one export; a no-op when ``enabled`` is false.

    Use as ``async with``: it ticks once a second (the countdown of a wait) until closed. Give
    :meth:`update` as the export's ``progress`` callback.
    """

    description: str
    enabled: bool = True
    stream: IO[str] = attrs.field(factory=lambda: sys.stderr)
    limiter: Any = None  # the client's rate limiter; its paused_for shows as a wait
    handler: LogHandler | None = None  # the CLI's log handler, to write through the bar
    mininterval: float = 0.1  # seconds between redraws (tqdm's own throttle)
    bar: Any = attrs.field(default=None, init=False)
    _wait_until: float = attrs.field(default=0.0, init=False)
    _wait_reason: str = attrs.field(default="", init=False)
    _status: str = attrs.field(default="", init=False)
    _ticker: asyncio.Task[None] | None = attrs.field(default=None, init=False)

    async def __aenter__(self) -> Self:
        if self.enabled:
            self.bar = _Bar(
                total=None,
                unit=" deliveries",
                desc=self.description,
                file=self.stream,
                dynamic_ncols=True,
                mininterval=self.mininterval,
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
            self._set_status("")
            if exc_info[0] is None and self.bar.total is not None:
                # done: what was written is the total, whatever totalCount promised
                self.bar.total = self.bar.n
            self.bar.close()
            self.bar = None

    def update(self, result: ExportResult) -> None:
        """Show an export's progress (the ``progress`` callback of ``export_history``)."""
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
        left = self._wait_until - time.monotonic()
        reason = self._wait_reason
        paused = getattr(self.limiter, "paused_for", 0.0)
        if isinstance(paused, float) and paused > max(left, 0.0):
            left, reason = paused, "rate limited"
        self._set_status(f"waiting {left:.0f} s: {reason}" if left >= 0.5 else "")

    def _set_status(self, status: str) -> None:
        if status != self._status and self.bar is not None:
            self._status = status
            self.bar.set_postfix_str(status, refresh=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._refresh_status()
            self.bar.refresh()


def summary_line(
    result: ExportResult, *, output: str, retries: int, rate_limited: int, elapsed: float
) -> str:
    """The one line printed after an export: items, pages, retries, 429s, elapsed."""
    resumed = f" ({result.resumed_items:,} from before the resume)" if result.resumed_items else ""
    return (
        f"exported {result.total_items:,} deliveries{resumed} of {result.webhooks} webhook(s) "
        f"in {result.pages:,} pages to {output}: {retries} {'retry' if retries == 1 else 'retries'}"
        f", {rate_limited} rate limited (429), {elapsed:.1f} s"
    )
