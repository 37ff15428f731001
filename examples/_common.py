"""Shared by the examples: a client from the environment, or the built-in fake."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint


@asynccontextmanager
async def client_from_env_or_fake() -> AsyncGenerator[cp.CentrePointClient, None]:
    """Real credentials from CENTREPOINT_CLIENT_ID/SECRET if set, else a FakeCentrePoint."""
    client_id = os.environ.get("CENTREPOINT_CLIENT_ID")
    secret = os.environ.get("CENTREPOINT_CLIENT_SECRET")
    if client_id and secret:
        async with cp.CentrePointClient(client_id, secret) as client:
            yield client
        return
    async with FakeCentrePoint() as fake, fake.client() as client:
        print(f"(no credentials set: using a fake CentrePoint at {fake.url})")
        yield client
