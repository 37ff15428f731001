"""Every example runs against the fake."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from centrepoint_async.receiver import sign
from centrepoint_async.testing import FakeCentrePoint
from examples import (
    export_many_studies,
    list_webhooks_and_history,
    receive_webhooks,
    receive_webhooks_fastapi,
)

from .helpers_receiver import serve_asgi

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


async def test_receive_webhooks_app_with_an_inbox(tmp_path: Path) -> None:
    """With a SQLite inbox the aiohttp example stores (202), then handles the upload."""
    app = receive_webhooks.make_app("example-secret", tmp_path / "inbox.db")
    body = b'{"status": "started", "uploadId": "7", "subjectId": "44732", "studyId": "189"}'
    headers = {"X-ActiGraph-Event": "upload", "X-ActiGraph-Delivery": "1"}
    async with TestClient(TestServer(app)) as client:
        signed = headers | {"X-ActiGraph-Signature": sign(body, "example-secret")}
        assert (await client.post("/centrepoint/webhooks", data=body, headers=signed)).status == 202
        for _ in range(400):
            if app[receive_webhooks.UPLOADS]:
                break
            await asyncio.sleep(0.025)
    assert app[receive_webhooks.UPLOADS] == [7]


async def test_receive_webhooks_fastapi_under_uvicorn(tmp_path: Path) -> None:
    """The FastAPI example, served by uvicorn: a delivery is stored, handled, none dead."""
    app = receive_webhooks_fastapi.make_app("tok", tmp_path / "webhooks.db")
    body = b'{"status": "completed", "uploadId": "85045", "subjectId": "1", "studyId": "2"}'
    headers = {
        "Authorization": "Bearer tok",
        "X-ActiGraph-Event": "upload",
        "X-ActiGraph-Delivery": "f-1",
    }
    async with serve_asgi(app) as port, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/centrepoint/webhooks/"
        async with session.post(url, data=body, headers=headers) as response:
            assert response.status == 202
        for _ in range(400):
            if app.state.uploads:
                break
            await asyncio.sleep(0.025)
        async with session.get(f"http://127.0.0.1:{port}/dead-letters") as response:
            assert await response.json() == []
        unauthorized = {**headers, "Authorization": "Bearer nope"}
        async with session.post(url, data=body, headers=unauthorized) as response:
            assert response.status == 401
    assert app.state.uploads == [85045]


@pytest.mark.parametrize(
    ("command", "variable", "code"),
    [
        (["examples/receive_webhooks.py"], "CENTREPOINT_WEBHOOK_SECRET", 2),
        (
            ["-m", "uvicorn", "--factory", "examples.receive_webhooks_fastapi:main"],
            "CENTREPOINT_WEBHOOK_TOKEN",
            1,
        ),
    ],
    ids=["aiohttp", "fastapi"],
)
async def test_receiver_examples_say_which_variable_is_missing(
    command: list[str], variable: str, code: int
) -> None:
    """Run as their docstrings say with their variable unset: a one-line reason naming it and
    a failing exit code, not a KeyError traceback (and no server started)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == code
    assert f"{variable} is not set" in err.decode()
    assert b"Traceback" not in err and out == b""


async def test_export_example_runs_as_a_script(tmp_path: Path) -> None:
    """The export example, run as a script from anywhere, falls back to the fake and writes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "export_many_studies.py"),
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"deliveries of 7 webhooks written to" in out
    assert len(list(tmp_path.glob("*.jsonl"))) == 7


def test_the_client_examples_need_no_ignores() -> None:
    """What users copy has no guards for optional ids and silences no checker."""
    names = ["_common", "export_many_studies", "list_webhooks_and_history", "raw_data_pipeline"]
    for name in names:
        text = (ROOT / "examples" / f"{name}.py").read_text()
        assert "type: ignore" not in text and "pyright: ignore" not in text, name
        assert "ids are required" not in text, name
