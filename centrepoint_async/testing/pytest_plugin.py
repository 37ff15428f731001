"""pytest fixtures: ``centrepoint_fake`` (a running :class:`FakeCentrePoint`) and
``centrepoint_client`` (a :class:`CentrePointClient` of it, closed after the test).

Opt in from your top-level ``conftest.py`` (as aiohttp's plugin is enabled)::

    pytest_plugins = ["centrepoint_async.testing.pytest_plugin"]

or with ``pytest -p centrepoint_async.testing.pytest_plugin``. The fixtures are async and need
pytest-asyncio (``pip install pytest-asyncio``). Installing the SDK registers nothing with
pytest on its own, so a project that does not ask for the fixtures never loads this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

try:
    import pytest_asyncio
except ModuleNotFoundError as exc:  # say what to install, instead of a bare import error
    raise ImportError(
        "centrepoint_async.testing.pytest_plugin needs pytest-asyncio: "
        "pip install pytest-asyncio (or drop the plugin from pytest_plugins)"
    ) from exc

from .._client import CentrePointClient
from ._fake import FakeCentrePoint
from ._policies import fast_retry

__all__ = ["centrepoint_client", "centrepoint_fake"]


@pytest_asyncio.fixture
async def centrepoint_fake() -> AsyncIterator[FakeCentrePoint]:
    """A FakeCentrePoint with the small seeded dataset, running on loopback."""
    async with FakeCentrePoint() as fake:
        yield fake


@pytest_asyncio.fixture
async def centrepoint_client(
    centrepoint_fake: FakeCentrePoint,
) -> AsyncIterator[CentrePointClient]:
    """A client of ``centrepoint_fake``, with fast retries (``testing.fast_retry()``)."""
    async with centrepoint_fake.client(retry=fast_retry()) as client:
        yield client
