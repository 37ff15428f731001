"""FakeCentrePoint in a process of its own: ``centrepoint-async fake-server``, started and read."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from .._client import CentrePointClient
from ._fake import ENV_BASE_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET, FakeCentrePoint

__all__ = ["FakeServerProcess", "fake_server_process"]


@attrs.frozen
class FakeServerProcess:
    """Where a fake server started by :func:`fake_server_process` listens, and its credentials."""

    env: dict[str, str]  # the variables it printed, as ``FakeCentrePoint.env()`` gives them

    @property
    def url(self) -> str:
        return self.env[ENV_BASE_URL]

    @property
    def client_id(self) -> str:
        return self.env[ENV_CLIENT_ID]

    @property
    def client_secret(self) -> str:
        return self.env[ENV_CLIENT_SECRET]

    def client(self, **kwargs: Any) -> CentrePointClient:
        """A client of this server; ``kwargs`` go to the client."""
        return CentrePointClient(
            self.client_id, self.client_secret, base_url=self.url, auth_url=self.url, **kwargs
        )


@asynccontextmanager
async def fake_server_process(
    *args: str, timeout: float = 30.0
) -> AsyncIterator[FakeServerProcess]:
    """Run ``centrepoint-async fake-server ARGS`` for the duration of the block.

    For a fake that must not share the caller's CPU core or event loop (benchmarks, programs
    under test). The server's ``export NAME=VALUE`` lines are read for its URL and credentials.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "centrepoint_async",
        "fake-server",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        env: dict[str, str] = {}
        # until every variable the fake announces is read, however many there are
        while not env.keys() >= set(FakeCentrePoint.ENV_NAMES):
            line = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode()
            if not line:
                raise RuntimeError(f"fake-server exited before printing its address: {args}")
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                env[name] = value
        yield FakeServerProcess(env)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
