"""Shared by the benchmarks: a fake server in its own process, the baselines, a table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

import centrepoint_async as cp

STUDY = 100
WEBHOOK = 1000


class Server:
    """A FakeCentrePoint in a subprocess, so its work does not share the client's core."""

    def __init__(self, url: str, client_id: str, client_secret: str) -> None:
        self.url = url
        self.client_id = client_id
        self.client_secret = client_secret

    def client(self, **kwargs: Any) -> cp.CentrePointClient:
        return cp.CentrePointClient(
            self.client_id, self.client_secret, base_url=self.url, auth_url=self.url, **kwargs
        )

    async def token(self, session: aiohttp.ClientSession) -> str:
        form = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "client_credentials",
            "scope": "CentrePoint",
        }
        async with session.post(f"{self.url}/connect/token", data=form) as response:
            token: str = (await response.json())["access_token"]
        return token


@asynccontextmanager
async def fake_server(*args: str) -> AsyncIterator[Server]:
    """``centrepoint-async fake-server ARGS`` in a subprocess, for the duration."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "centrepoint_async",
        "fake-server",
        "--size",
        "tiny",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        found: dict[str, str] = {}
        while len(found) < 4:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            if line.startswith("export "):
                key, _, value = line[7:].strip().partition("=")
                found[key] = value
        yield Server(
            found["CENTREPOINT_BASE_URL"],
            found["CENTREPOINT_CLIENT_ID"],
            found["CENTREPOINT_CLIENT_SECRET"],
        )
    finally:
        process.terminate()
        await process.wait()


def history_url(server: Server) -> str:
    return f"{server.url}/centrepoint/v3/Studies/{STUDY}/Webhooks/{WEBHOOK}/history"


async def naive_loop(server: Server, page_size: int = 100) -> int:
    """What users write by hand: sequential offsets, stdlib json, nested JSON parsed by hand."""
    count = 0
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await server.token(session)}"}
        offset = 0
        while True:
            params = {"limit": str(page_size), "offset": str(offset)}
            async with session.get(history_url(server), params=params, headers=headers) as r:
                page = json.loads(await r.text())
            for item in page["items"]:
                request = item["request"]
                request["headers"] = json.loads(request["headers"])
                with contextlib.suppress(ValueError):  # a body that is not JSON stays text
                    request["body"] = json.loads(request["body"])
                if item.get("response"):
                    item["response"]["headers"] = json.loads(item["response"]["headers"])
                count += 1
            if len(page["items"]) < page_size:
                return count
            offset += page_size


async def raw_floor_loop(server: Server, page_size: int = 100) -> int:
    """The floor any client pays: aiohttp and orjson on the outer JSON only."""
    count = 0
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await server.token(session)}"}
        offset = 0
        while True:
            params = {"limit": str(page_size), "offset": str(offset)}
            async with session.get(history_url(server), params=params, headers=headers) as r:
                items = orjson.loads(await r.read())["items"]
            count += len(items)
            if len(items) < page_size:
                return count
            offset += page_size


async def timed(coroutine: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await coroutine
    return result, time.perf_counter() - started


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column result table."""
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}\n" + "-" * len(title))
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
