"""The pytest plugin: opt-in fixtures that never break a project which did not ask for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import centrepoint_async as cp
from centrepoint_async.testing import FakeCentrePoint

PLUGIN = "centrepoint_async.testing.pytest_plugin"


async def test_fixtures_give_a_running_fake_and_its_client(
    centrepoint_fake: FakeCentrePoint, centrepoint_client: cp.CentrePointClient
) -> None:
    """centrepoint_fake is running; centrepoint_client is a client of it, with fast retries."""
    centrepoint_fake.inject("status", status=503, count=2)
    studies = await centrepoint_client.studies.list().collect()
    assert [s.id for s in studies] == [s["id"] for s in centrepoint_fake.dataset.studies]
    assert centrepoint_client.stats.retries == 2
    assert centrepoint_client.base_url == centrepoint_fake.url


def _pytest_without_pytest_asyncio(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``project`` as if pytest-asyncio were not installed.

    pytest-asyncio's own plugin is disabled (``-p no:asyncio``) and a module of that name that
    fails to import shadows it, so anything that imports ``pytest_asyncio`` fails as it would in
    a project with plain pytest (or pytest + anyio).
    """
    shadow = project / "_shadow"
    shadow.mkdir()
    (shadow / "pytest_asyncio.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pytest_asyncio'\", name='pytest_asyncio')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(shadow)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_plain_pytest_project_stays_green_with_the_sdk_installed(tmp_path: Path) -> None:
    """A project with plain pytest (no pytest-asyncio) runs its own tests untouched by the SDK."""
    (tmp_path / "test_mine.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    result = _pytest_without_pytest_asyncio(tmp_path, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_opting_in_without_pytest_asyncio_says_what_to_install(tmp_path: Path) -> None:
    """Asking for the fixtures without pytest-asyncio fails with the package to install."""
    (tmp_path / "conftest.py").write_text(f"pytest_plugins = [{PLUGIN!r}]\n")
    (tmp_path / "test_mine.py").write_text("def test_one():\n    assert True\n")
    result = _pytest_without_pytest_asyncio(tmp_path, "-q")
    assert result.returncode != 0
    assert "needs pytest-asyncio: pip install pytest-asyncio" in result.stdout + result.stderr
