"""4. Memory: peak RSS growth while streaming a history to JSONL (export-history's code path).

200,000 deliveries against 20,000 in the same run: the growth should not depend on the length.
Goal: under 50 MB of growth, flat.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
from pathlib import Path

import orjson

from centrepoint_async import export_history

from ._common import STUDY, WEBHOOK, fake_server, rss_peak_growth, table

MB = 1024 * 1024


async def peak_growth(deliveries: int, *, collect_first: bool = False) -> tuple[float, int]:
    """Peak RSS growth (MB) of this process while exporting ``deliveries`` to a file.

    ``collect_first``: the baseline many scripts are: collect the whole history, then write.
    """
    args = ("--deliveries", str(deliveries), "--rate-limit", "0")
    async with fake_server(*args) as server, server.client(rate_limit=None) as client:
        await client.studies.get(STUDY)  # connection, token and imports, before measuring
        gc.collect()
        with tempfile.TemporaryDirectory() as directory:
            target = Path(directory) / "history.jsonl"

            async def write() -> int:
                if collect_first:
                    items = await client.webhooks.history(STUDY, WEBHOOK, concurrency=8).collect()
                    target.write_bytes(b"".join(orjson.dumps(d.raw) + b"\n" for d in items))
                    return len(items)
                result = await export_history(client, STUDY, [WEBHOOK], target, concurrency=8)
                return result.items

            count, growth = await rss_peak_growth(write())
            size = target.stat().st_size
    assert count == deliveries
    return growth / MB, size


async def measure(deliveries: int, *, collect_first: bool = False) -> tuple[float, int]:
    """:func:`peak_growth` in a fresh process: memory an earlier run left behind never counts."""
    args = [str(deliveries), *(["--collect"] if collect_first else [])]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_memory", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    growth, size = out.decode().split()
    return float(growth), int(size)


async def main() -> dict[str, float]:
    small, small_size = await measure(20_000)
    large, large_size = await measure(200_000)
    naive, _ = await measure(20_000, collect_first=True)
    table(
        "4. memory while streaming a history to JSONL (peak RSS growth, a process each)",
        [
            ("SDK export, 20,000 deliveries", f"{small:.1f} MB (file {small_size / MB:.0f} MB)"),
            ("SDK export, 200,000 deliveries", f"{large:.1f} MB (file {large_size / MB:.0f} MB)"),
            ("10x the history costs", f"{large - small:+.1f} MB"),
            ("baseline: collect() then write, 20,000", f"{naive:.1f} MB"),
            ("goal", "< 50 MB growth, independent of length"),
        ],
    )
    return {"growth_mb": large, "difference_mb": large - small}


if __name__ == "__main__":
    if len(sys.argv) > 1:  # one measurement, in this fresh process
        growth, size = asyncio.run(
            peak_growth(int(sys.argv[1]), collect_first="--collect" in sys.argv)
        )
        print(growth, size)
    else:
        asyncio.run(main())
