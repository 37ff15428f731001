"""The one backoff of the SDK, and the testing switch that turns it off."""

import random

import pytest

from centrepoint_async import RetryPolicy
from centrepoint_async._retry import backoff
from centrepoint_async.testing import set_testing


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    """Waits stay within [0, min(maximum, initial * 2**(n-1))] and use the whole range."""
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        waits = [backoff(attempt, initial=0.5, maximum=30.0, rng=rng) for _ in range(400)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > 0.9 * ceiling and min(waits) < 0.1 * ceiling


def test_set_testing_turns_every_backoff_off() -> None:
    """Under set_testing() a policy's backoff and a Retry-After wait are both 0 seconds."""
    policy = RetryPolicy(rng=random.Random(1))
    assert policy.backoff(3) > 0
    set_testing(True)
    try:
        assert policy.backoff(3) == 0.0
        assert backoff(5, initial=1.0, maximum=60.0) == 0.0
    finally:
        set_testing(False)
    assert policy.backoff(3) > 0


@pytest.fixture(autouse=True)
def _testing_off() -> None:
    set_testing(False)
