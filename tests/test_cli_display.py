"""The export display in-process: what the bar says, and where log lines go."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import centrepoint_async as cp
from centrepoint_async._hooks import HookName
from centrepoint_async.cli._display import ExportDisplay, cli_logging, summary_line, wait_reason
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, WEBHOOK, lines, one_history

log = logging.getLogger("centrepoint_async")


def last_line(stream: io.StringIO) -> str:
    """What a terminal shows last: the text after the final carriage return or newline."""
    text = stream.getvalue().replace("\n", "\r")
    return next(part for part in reversed(text.split("\r")) if part.strip()).rstrip()


def event(name: HookName, **fields: Any) -> cp.HookEvent:
    """A hook event as the client makes it, for GET /x."""
    return cp.HookEvent(name, "GET", "https://api.example/x", 1, **fields)


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


async def test_every_wait_is_the_bars_status_with_its_reason() -> None:
    """The client's hooks put each wait on the bar: the limiter, Retry-After, 429, backoff."""
    stream = io.StringIO()
    async with ExportDisplay("study 7", stream=stream) as display:
        display.update(cp.ExportResult(expected=10))
        [on_wait] = display.hooks()["wait"]
        [on_retry] = display.hooks()["retry"]
        cases = [
            (on_wait, event("wait", reason="rate limit", wait=38.0), "waiting 38 s: rate limit]"),
            (on_wait, event("wait", reason="Retry-After", wait=50.0), "waiting 50 s: Retry-After]"),
            (
                on_retry,
                event("retry", status=429, reason="status 429", wait=60.0),
                "waiting 60 s: rate limited (429)]",
            ),
            (
                on_retry,
                event("retry", status=503, reason="status 503", wait=70.0),
                "waiting 70 s: backoff after 503]",
            ),
        ]
        for hook, happened, shown in cases:  # each wait longer than the last: it shows
            await hook(happened)
            assert last_line(stream).endswith(shown)


async def test_the_eta_counts_the_wait_under_way() -> None:
    """Half done in 10 s, then a 30 s wait: the ETA is 40 s (the wait, then 10 s at the
    average rate), not the 10 s a frozen rate would say."""
    stream = io.StringIO()
    async with ExportDisplay("study 7", stream=stream, mininterval=0) as display:
        display.update(cp.ExportResult(expected=100))
        display.bar.start_t -= 10.0  # started 10 s ago
        display.update(cp.ExportResult(items=50, pages=5, expected=100))
        assert "<00:10," in last_line(stream)
        display.waiting(30.0, "rate limit")
        shown = re.search(r"<00:(\d\d),", last_line(stream))
        assert shown is not None and int(shown[1]) in (39, 40)


async def test_retry_lines_stay_off_unless_asked_for() -> None:
    """A retry's log record is not printed (the bar and the summary say it) unless -v asks;
    other records are written above the bar."""
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
            log.warning("something else")
            assert "WARNING centrepoint_async: something else\n" in stream.getvalue()
            assert last_line(stream).startswith("study 7:")  # drawn again below the log line
        assert "retrying" not in stream.getvalue()
        handler.show_retries = True
        log.warning("retrying GET /x", extra={"wait": 1.0, "reason": "status 503"})
        log.warning("after the bar")
    assert stream.getvalue().endswith(
        "WARNING centrepoint_async: retrying GET /x\nWARNING centrepoint_async: after the bar\n"
    )


async def test_the_clients_own_limiter_shows_and_is_summed_up(tmp_path: Path) -> None:
    """An export held by the client's rate limiter: the bar says 'rate limit' while it waits,
    and the summary says how long requests waited for it."""
    stream = io.StringIO()
    display = ExportDisplay("study 7", stream=stream, mininterval=0)
    async with FakeCentrePoint(dataset=one_history(120), rate_limit=None) as fake:
        limit = cp.RateLimit(4, 1.0)  # 4 requests a second: pages 5 and later wait
        async with fake.client(rate_limit=limit, event_hooks=display.hooks()) as client:
            async with display:
                result = await cp.export_history(
                    client,
                    STUDY,
                    [WEBHOOK],
                    tmp_path / "h.jsonl",
                    page_size=10,
                    concurrency=1,
                    progress=display.update,
                )
        assert lines(tmp_path / "h.jsonl") == fake.history_items(STUDY, WEBHOOK)
    assert ": rate limit]" in stream.getvalue()
    waited = client.stats.rate_limit_waited
    assert waited >= 1.5  # 14 requests at 4 a second
    line = summary_line(
        result, output="h.jsonl", retries=0, rate_limited=0, elapsed=4.0, waited=waited
    )
    assert f", {waited:.0f} s waiting for the rate limit, 4.0 s" in line


async def test_disabled_display_draws_nothing() -> None:
    """--quiet, or no terminal: no bar at all."""
    stream = io.StringIO()
    async with ExportDisplay("study 7", enabled=False, stream=stream) as display:
        display.update(cp.ExportResult(items=5, expected=10))
        display.waiting(3, "rate limit")
        await display.hooks()["wait"][0](event("wait", reason="rate limit", wait=3.0))
    assert stream.getvalue() == ""


def test_wait_reasons_and_the_summary_read_well() -> None:
    """Wait causes in words; the summary names items, pages, retries, 429s and time."""
    assert wait_reason(event("retry", status=429, reason="status 429")) == "rate limited (429)"
    assert wait_reason(event("retry", status=502, reason="status 502")) == "backoff after 502"
    assert (
        wait_reason(event("retry", reason="ConnectError: refused")) == "backoff after ConnectError"
    )
    assert wait_reason(event("wait", reason="Retry-After")) == "Retry-After"
    result = cp.ExportResult(items=1200, pages=12, webhooks=2, resumed_items=300)
    line = summary_line(result, output="h.jsonl", retries=1, rate_limited=0, elapsed=3.04)
    assert line == (
        "exported 1,500 deliveries (300 from before the resume) of 2 webhook(s) in 12 pages "
        "to h.jsonl: 1 retry, 0 rate limited (429), 3.0 s"
    )
    line = summary_line(
        result, output="h.jsonl", retries=0, rate_limited=2, elapsed=130.0, waited=100.2
    )
    assert line.endswith(
        ": 0 retries, 2 rate limited (429), 100 s waiting for the rate limit, 130.0 s"
    )
