"""Every example runs against the fake."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from centrepoint_async.receiver import sign
from centrepoint_async.testing import FakeCentrePoint
from examples import export_many_studies, list_webhooks_and_history, receive_webhooks

ROOT = Path(__file__).parent.parent


async def test_list_webhooks_and_history(
    fake: FakeCentrePoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """The listing example prints every study and webhook, with typed deliveries."""
    async with fake.client() as client:
        await list_webhooks_and_history.main(client)
    out = capsys.readouterr().out
    assert "study 100" in out and "webhook 1000" in out and "FAILED" in out


async def test_list_example_runs_as_a_script() -> None:
    """Without credentials the script falls back to the fake and runs to the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "list_webhooks_and_history.py"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"using a fake CentrePoint" in out and b"study 8" in out


async def test_export_many_studies(fake: FakeCentrePoint, tmp_path: Path) -> None:
    """The concurrent export writes every served delivery of every webhook."""
    async with fake.client() as client:
        written = await export_many_studies.main(client, tmp_path)
    served = sum(len(h) for h in fake.dataset.histories.values())
    assert written == served
    items = [orjson.loads(x) for x in (tmp_path / "100-1000.jsonl").read_bytes().splitlines()]
    assert items == fake.history_items(100, 1000)


async def test_receive_webhooks_app() -> None:
    """The receiver example accepts a signed upload and refuses an unsigned one."""
    app = receive_webhooks.make_app("example-secret")
    body = b'{"status": "started", "uploadId": "85045", "subjectId": "44732", "studyId": "189"}'
    headers: dict[str, Any] = {"X-ActiGraph-Event": "upload", "X-ActiGraph-Delivery": "1"}
    async with TestClient(TestServer(app)) as client:
        signed = headers | {"X-ActiGraph-Signature": sign(body, "example-secret")}
        assert (await client.post("/centrepoint/webhooks", data=body, headers=signed)).status == 200
        assert (
            await client.post("/centrepoint/webhooks", data=body, headers=headers)
        ).status == 401
    assert app[receive_webhooks.UPLOADS] == [85045]
