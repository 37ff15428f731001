"""Shared by the examples: a client from the environment, or the built-in fake."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint


@asynccontextmanager
async def client_from_env_or_fake() -> AsyncGenerator[cp.CentrePointClient, None]:
    """Real credentials from CENTREPOINT_CLIENT_ID/SECRET if set, else a FakeCentrePoint."""
    if os.environ.get("CENTREPOINT_CLIENT_ID") and os.environ.get("CENTREPOINT_CLIENT_SECRET"):
        async with cp.CentrePointClient.from_env() as client:
            yield client
        return
    async with FakeCentrePoint() as fake, fake.client() as client:
        print(f"(no credentials set: using a fake CentrePoint at {fake.url})")
        yield client


def run_with_client(main: Callable[[cp.CentrePointClient], Awaitable[object]]) -> None:
    """Run ``main(client)`` to the end, the client from :func:`client_from_env_or_fake`."""

    async def run() -> None:
        async with client_from_env_or_fake() as client:
            await main(client)

    asyncio.run(run())
