"""pytest plugin: ``centrepoint_fake`` (a running :class:`FakeCentrePoint`) and
``centrepoint_client`` (a :class:`CentrePointClient` of it, closed after the test).

Registered through the ``pytest11`` entry point; needs pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .._client import CentrePointClient
from ._fake import FakeCentrePoint


@pytest_asyncio.fixture
async def centrepoint_fake() -> AsyncIterator[FakeCentrePoint]:
    """A FakeCentrePoint with the small seeded dataset, running on loopback."""
    async with FakeCentrePoint() as fake:
        yield fake


@pytest_asyncio.fixture
async def centrepoint_client(
    centrepoint_fake: FakeCentrePoint,
) -> AsyncIterator[CentrePointClient]:
    """A client of ``centrepoint_fake``, with fast retries."""
    from .._retry import RetryPolicy

    async with centrepoint_fake.client(
        retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    ) as client:
        yield client
