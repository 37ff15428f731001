"""The pytest plugin users get by installing the package (the ``pytest11`` entry point)."""

from __future__ import annotations

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint


async def test_fixtures_give_a_running_fake_and_its_client(
    centrepoint_fake: FakeCentrePoint, centrepoint_client: cp.CentrePointClient
) -> None:
    """centrepoint_fake is running; centrepoint_client is a client of it, with fast retries."""
    centrepoint_fake.inject("status", status=503, count=2)
    studies = await centrepoint_client.studies.list().collect()
    assert [s.id for s in studies] == [s["id"] for s in centrepoint_fake.dataset.studies]
    assert centrepoint_client.stats.retries == 2
    assert centrepoint_client.base_url == centrepoint_fake.url
