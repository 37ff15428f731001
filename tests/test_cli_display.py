"""The export display in-process: what the bar says, and where log lines go."""

from __future__ import annotations

import asyncio
import io
import logging

import centrepoint_async as cp
from centrepoint_async._display import ExportDisplay, cli_logging, summary_line, wait_reason

log = logging.getLogger("centrepoint_async")


def last_line(stream: io.StringIO) -> str:
    """What a terminal shows last: the text after the final carriage return or newline."""
    text = stream.getvalue().replace("\n", "\r")
    return next(part for part in reversed(text.split("\r")) if part.strip())


async def test_bar_has_the_total_and_moves_with_each_page() -> None:
    """The bar shows items of the expected total; a resumed export starts where it stood."""
    stream = io.StringIO()
    async with ExportDisplay("study 7", stream=stream, mininterval=0) as display:
        display.update(cp.ExportResult(resumed_items=40, expected=100))
        assert "40/100" in last_line(stream)
        display.update(cp.ExportResult(items=30, pages=1, resumed_items=40, expected=100))
        assert last_line(stream).startswith("study 7:  70%|")
        assert "70/100" in last_line(stream)
    # finished: the items written are the total, whatever totalCount said
    assert last_line(stream).startswith("study 7: 100%|")
    assert "70/70" in last_line(stream)


async def test_waits_are_the_bars_status_and_retry_lines_stay_off_it() -> None:
    """A retry's wait is on the bar ('waiting 38 s: rate limited'); the log line is not printed."""
    stream = io.StringIO()
    with cli_logging(logging.WARNING, stream) as handler:
        handler.show_retries = False
        async with ExportDisplay("study 7", stream=stream, handler=handler) as display:
            display.update(cp.ExportResult(expected=10))
            log.warning(  # the record RetryPolicy.call writes, with its fields
                "retrying %s in %.2f s (attempt %d of %d): %s",
                "GET /x",
                38,
                2,
                5,
                "status 429",
                extra={"attempt": 2, "wait": 38.0, "reason": "status 429"},
            )
            assert last_line(stream).endswith("waiting 38 s: rate limited]")
            log.warning("something else")
            assert "WARNING centrepoint_async: something else\n" in stream.getvalue()
            assert last_line(stream).startswith("study 7:")  # drawn again below the log line
        assert "retrying" not in stream.getvalue()
        log.warning("after the bar")
    assert stream.getvalue().endswith("WARNING centrepoint_async: after the bar\n")


async def test_a_paused_limiter_shows_as_a_countdown() -> None:
    """While the rate limiter is paused (a 429 seen by another request) the bar says so."""
    limiter = cp.RateLimit()
    await limiter.pause(3.0)
    stream = io.StringIO()
    async with ExportDisplay("study 7", stream=stream, limiter=limiter) as display:
        display.update(cp.ExportResult(expected=10))
        await asyncio.sleep(1.1)  # one tick of the countdown
        assert "waiting 2 s: rate limited" in last_line(stream)


async def test_disabled_display_draws_nothing() -> None:
    """--quiet, or no terminal: no bar at all."""
    stream = io.StringIO()
    async with ExportDisplay("study 7", enabled=False, stream=stream) as display:
        display.update(cp.ExportResult(items=5, expected=10))
        display.waiting(3, "rate limited")
    assert stream.getvalue() == ""


def test_wait_reasons_and_the_summary_read_well() -> None:
    """Retry causes in words; the summary names items, pages, retries, 429s and time."""
    assert wait_reason("status 429") == "rate limited"
    assert wait_reason("status 503") == "server answered 503"
    assert wait_reason("ConnectError: refused") == "ConnectError: refused"
    result = cp.ExportResult(items=1200, pages=12, webhooks=2, resumed_items=300)
    line = summary_line(result, output="h.jsonl", retries=1, rate_limited=0, elapsed=3.04)
    assert line == (
        "exported 1,500 deliveries (300 from before the resume) of 2 webhook(s) in 12 pages "
        "to h.jsonl: 1 retry, 0 rate limited (429), 3.0 s"
    )
