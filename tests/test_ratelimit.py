"""RateLimit against the fake's sliding window (time scaled: 50 requests a second)."""

from __future__ import annotations

import asyncio

import pytest

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, CountingLimiter, busiest_window, fast_retry


async def test_stays_under_the_sliding_window_without_burst() -> None:
    """Many concurrent requests: no 429, never more than the window allows."""
    async with FakeCentrePoint(rate_limit=50, rate_period=1.0) as fake, fake.client() as client:
        await asyncio.gather(*(client.studies.get(STUDY) for _ in range(150)))
    assert fake.rate_limited == 0
    assert busiest_window([r.at for r in fake.requests], 1.0) <= 50


async def test_budget_goes_at_once_and_the_next_waits_for_the_window() -> None:
    """Up to the budget (the limit less 3%) goes without waiting; one more waits."""
    limit = cp.RateLimit(100, period=60.0)
    assert limit.budget == 97
    for _ in range(97):
        await asyncio.wait_for(limit.acquire(), 1)
        limit.release()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limit.acquire(), 0.05)  # the window is a minute long


async def test_a_place_is_held_until_the_answer() -> None:
    """A request in flight holds its place: the window counts it until it is answered."""
    limit = cp.RateLimit(2, period=0.05, margin=0)
    await limit.acquire()
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0.1)  # longer than the window, but both are still in flight
    assert not waiter.done()
    limit.release()
    await asyncio.wait_for(waiter, 1)  # freed a window after the answer
    limit.release()
    limit.release()


async def test_one_limit_shared_by_two_clients() -> None:
    """Two clients sharing one RateLimit stay under the window together."""
    async with FakeCentrePoint(rate_limit=40, rate_period=1.0) as fake:
        shared = cp.RateLimit(40, 1.0)
        async with fake.client(rate_limit=shared) as a, fake.client(rate_limit=shared) as b:
            await asyncio.gather(*(c.studies.get(STUDY) for c in (a, b) for _ in range(50)))
    assert fake.rate_limited == 0
    assert busiest_window([r.at for r in fake.requests], 1.0) <= 40


async def test_without_a_client_limit_the_server_answers_429() -> None:
    """The same load with rate_limit=None gets 429s (so the test above is meaningful)."""
    async with FakeCentrePoint(rate_limit=50, rate_period=1.0) as fake:
        async with fake.client(rate_limit=None, retry=None) as client:
            results = await asyncio.gather(
                *(client.studies.get(STUDY) for _ in range(80)), return_exceptions=True
            )
    assert any(isinstance(r, cp.RateLimitError) for r in results)


async def test_429_pauses_every_request_sharing_the_limit() -> None:
    """After a 429 with Retry-After, no request of that limiter is sent until it has passed."""
    async with FakeCentrePoint(rate_limit=None) as fake:
        fake.inject("status", status=429, retry_after=0.5, path="/Studies/")
        limit = cp.RateLimit(1000, 1.0)
        async with fake.client(rate_limit=limit, retry=fast_retry()) as client:
            first = asyncio.create_task(client.studies.get(STUDY))  # takes the 429
            await asyncio.sleep(0.1)
            limited_at = next(r.at for r in fake.requests if r.status == 429)
            await asyncio.gather(first, *(client.studies.get(STUDY) for _ in range(5)))
        later = [r.at for r in fake.api_requests() if r.status == 200]
        assert min(later) >= limited_at + 0.45
        assert limit.paused_for == 0


async def test_any_rate_limiter_is_accepted_and_wraps_every_request() -> None:
    """A limiter of one's own (slot() and pause()) is held around every request, token included."""
    limiter = CountingLimiter()
    assert isinstance(limiter, cp.RateLimiter)
    async with FakeCentrePoint(rate_limit=None) as fake:
        async with fake.client(rate_limit=limiter) as client:
            await asyncio.gather(*(client.studies.get(STUDY) for _ in range(10)))
        assert limiter.slots == len(fake.requests) == 11  # ten calls and one token request
        assert limiter.held == 0 and limiter.peak >= 2
    with pytest.raises(cp.ConfigurationError):
        cp.CentrePointClient("id", "secret", rate_limit=object())  # type: ignore[arg-type]


async def test_huge_retry_after_pauses_the_limiter_no_longer_than_the_retry_budget() -> None:
    """A 429 with Retry-After 10**9 fails the call at once and pauses the limiter <= max_delay."""
    limiter = CountingLimiter()
    async with FakeCentrePoint(rate_limit=None) as fake:
        fake.inject("status", status=429, retry_after=10**9, path="/Studies/")
        policy = fast_retry(max_delay=5.0)
        async with fake.client(rate_limit=limiter, retry=policy) as client:
            with pytest.raises(cp.RateLimitError) as caught:
                await asyncio.wait_for(client.studies.get(STUDY), 10)
    assert caught.value.retry_after == 10**9
    assert len(limiter.pauses) == 1 and 4.0 < limiter.pauses[0] <= 5.0


async def test_a_shared_limit_paused_by_a_huge_retry_after_resumes_within_the_budget() -> None:
    """After a capped pause, the other clients of a shared RateLimit go on within the budget."""
    limit = cp.RateLimit(1000, 1.0)
    async with FakeCentrePoint(rate_limit=None) as fake:
        fake.inject("status", status=429, retry_after=10**9, path="/Studies/")
        async with (
            fake.client(rate_limit=limit, retry=fast_retry(max_delay=0.5)) as first,
            fake.client(rate_limit=limit, retry=fast_retry()) as second,
        ):
            with pytest.raises(cp.RateLimitError):
                await first.studies.get(STUDY)
            assert 0 < limit.paused_for <= 0.5
            study = await asyncio.wait_for(second.studies.get(STUDY), 5)
    assert study.id == STUDY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": "x"},
        {"margin": 1},
        {"margin": -0.1},
        {"max_requests": 0},
        {"max_requests": 2.5},
        {"max_requests": True},
        {"period": 0},
        {"period": float("inf")},
        {"period": "60"},
    ],
)
def test_bad_rate_limit_arguments_are_configuration_errors(kwargs: dict[str, object]) -> None:
    """Every bad argument (a margin of "x" included) is a ConfigurationError, never a TypeError."""
    with pytest.raises(cp.ConfigurationError):
        cp.RateLimit(**kwargs)  # type: ignore[arg-type]


async def test_waits_for_the_limiter_are_announced_and_counted() -> None:
    """A request held by the limiter is told to the 'wait' hooks (why, how long at least), and
    ClientStats.rate_limit_waited sums the wall-clock time spent waiting."""
    events: list[cp.HookEvent] = []

    async def on_wait(event: cp.HookEvent) -> None:
        events.append(event)

    limit = cp.RateLimit(3, period=0.4, margin=0)
    async with FakeCentrePoint(rate_limit=None) as fake:
        async with fake.client(rate_limit=limit, event_hooks={"wait": [on_wait]}) as client:
            for _ in range(5):  # token + 5 gets: the 4th request waits for the window
                await client.studies.get(STUDY)
    assert events and all(e.name == "wait" and e.reason == "rate limit" for e in events)
    assert all(e.wait is not None and 0 < e.wait <= 0.4 for e in events)
    assert 0.3 <= client.stats.rate_limit_waited < 1.5


async def test_a_pause_after_429_is_announced_as_retry_after() -> None:
    """While a 429's Retry-After holds the limiter, a new request's wait says 'Retry-After'."""
    events: list[cp.HookEvent] = []

    async def on_wait(event: cp.HookEvent) -> None:
        events.append(event)

    async with FakeCentrePoint(rate_limit=None) as fake:
        fake.inject("status", status=429, retry_after=0.3, path="/Studies/")
        limit = cp.RateLimit(1000, 1.0)
        hooks = {"wait": [on_wait]}
        async with fake.client(rate_limit=limit, retry=fast_retry(), event_hooks=hooks) as client:
            first = asyncio.create_task(client.studies.get(STUDY))  # takes the 429
            await asyncio.sleep(0.1)
            await asyncio.gather(first, client.studies.get(STUDY))  # the second one waits
    assert "Retry-After" in [e.reason for e in events]
    wait = next(e.wait for e in events if e.reason == "Retry-After")
    assert wait is not None and 0.1 < wait <= 0.25
