"""export_history: the file protocol that makes interrupted exports resumable."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import centrepoint_async as cp
from centrepoint_async._export import export_history
from centrepoint_async.testing import FakeCentrePoint

from .conftest import STUDY, WEBHOOK, one_history


def lines(path: Path) -> list[object]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_half_written_line_after_the_checkpoint_is_cut(tmp_path: Path) -> None:
    """Bytes past the checkpoint (a line cut by a crash) are dropped on resume."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(300), rate_limit=None) as fake:
        async with fake.client() as client:
            await export_history(client, STUDY, [WEBHOOK], target, page_size=100, resume=False)
            complete = target.read_bytes()
            # as if killed after two pages and in the middle of writing the third
            part = Path(f"{target}.part")
            two_pages = b"".join(complete.splitlines(keepends=True)[:200])
            part.write_bytes(two_pages + b'{"id": 12, "webhookId": 10')
            checkpoint = {
                "job": {"study_id": STUDY, "webhook_ids": [WEBHOOK], "format": "jsonl"},
                "offsets": {str(WEBHOOK): 200},
                "bytes": len(two_pages),
            }
            Path(f"{target}.checkpoint").write_bytes(orjson.dumps(checkpoint))
            target.unlink()
            result = await export_history(client, STUDY, [WEBHOOK], target, resume=True)
        assert result.items == 100
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)
        assert not part.exists() and not Path(f"{target}.checkpoint").exists()


async def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    """A finished export, another job's checkpoint, or a corrupt one: a clear error."""
    target = tmp_path / "h.jsonl"
    checkpoint = Path(f"{target}.checkpoint")
    async with FakeCentrePoint(dataset=one_history(50), rate_limit=None) as fake:
        async with fake.client() as client:
            await export_history(client, STUDY, [WEBHOOK], target)
            with pytest.raises(cp.ConfigurationError, match="already complete"):
                await export_history(client, STUDY, [WEBHOOK], target, resume=True)
            job = {"study_id": STUDY, "webhook_ids": [WEBHOOK], "format": "jsonl"}
            checkpoint.write_bytes(orjson.dumps({"job": job, "offsets": {}, "bytes": 0}))
            with pytest.raises(cp.ConfigurationError, match="already complete"):
                await export_history(client, STUDY, [WEBHOOK], target, resume=True)
            assert not checkpoint.exists()  # the finished export's leftover is cleaned up
            checkpoint.write_bytes(
                orjson.dumps({"job": {**job, "format": "csv"}, "offsets": {}, "bytes": 0})
            )
            with pytest.raises(cp.ConfigurationError, match="another export"):
                await export_history(client, STUDY, [WEBHOOK], target, resume=True)
            checkpoint.write_bytes(b"not json")
            with pytest.raises(cp.ConfigurationError, match="not a checkpoint"):
                await export_history(client, STUDY, [WEBHOOK], target, resume=True)
            with pytest.raises(cp.ConfigurationError, match="standard output"):
                await export_history(client, STUDY, [WEBHOOK], "-", resume=True)
