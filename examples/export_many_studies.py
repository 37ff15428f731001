"""Export the full history of every webhook of every study, concurrently, to JSON Lines.

    python examples/export_many_studies.py OUTPUT_DIR

Webhooks are exported a few at a time, each with several pages in flight; the client's rate
limit keeps the whole job under CentrePoint's 500 requests a minute.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

import centrepoint_async as cp


async def export_webhook(
    client: cp.CentrePointClient, study_id: int, webhook_id: int, out_dir: Path
) -> int:
    """Write one webhook's history, one delivery per line, exactly as the API sent it."""
    count = 0
    path = out_dir / f"{study_id}-{webhook_id}.jsonl"
    with path.open("wb") as out:
        async for delivery in client.webhooks.history(study_id, webhook_id, concurrency=4):
            out.write(orjson.dumps(delivery.raw) + b"\n")
            count += 1
    return count


async def main(client: cp.CentrePointClient, out_dir: Path, parallel_webhooks: int = 4) -> int:
    """Export everything; returns the number of deliveries written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[int, int]] = []
    async for study in client.studies.list():
        jobs += [(study.id, hook.id) async for hook in client.webhooks.list(study.id)]
    gate = asyncio.Semaphore(parallel_webhooks)

    async def one(study_id: int, webhook_id: int) -> int:
        async with gate:
            return await export_webhook(client, study_id, webhook_id, out_dir)

    counts = await asyncio.gather(*(one(s, w) for s, w in jobs))
    print(f"{sum(counts)} deliveries of {len(jobs)} webhooks written to {out_dir}")
    return sum(counts)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
    from examples._common import run_with_client

    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "centrepoint-export")
    run_with_client(lambda client: main(client, out_dir))
