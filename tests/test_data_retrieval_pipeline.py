"""The raw-data pipeline example runs end to end: event, request, event, verified files."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from examples import raw_data_pipeline

ROOT = Path(__file__).parent.parent


async def test_the_webhook_loop_downloads_the_requested_data(tmp_path: Path) -> None:
    """raw_processing_complete -> request -> data_retrieval_complete -> files on disk."""
    paths = await raw_data_pipeline.main(tmp_path)
    assert len(paths) == 2 and all(p.parent == tmp_path for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    data = next(p for p in paths if p.suffix == ".csv")
    assert data.stat().st_size == 256 * 1024


async def test_the_example_runs_as_a_script(tmp_path: Path) -> None:
    """As a script it prints each downloaded file and its size."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "raw_data_pipeline.py"),
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"(262144 bytes)" in out and b"requested raw data" in err
