"""Run the benchmarks: ``python -m benchmarks [NAME ...]`` (names: the keys of BENCHMARKS)."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import sys
from collections.abc import Callable
from typing import Any

from . import (
    bench_analytics,
    bench_cpu,
    bench_download,
    bench_fake,
    bench_import,
    bench_latency,
    bench_memory,
    bench_mirror,
    bench_paced,
    bench_ratelimit,
    bench_receiver,
    bench_redis,
    bench_structuring,
)
from ._common import machine

BENCHMARKS: dict[str, Callable[[], Any]] = {
    "import": bench_import.main,
    "latency": bench_latency.main,
    "cpu": bench_cpu.main,
    "ratelimit": bench_ratelimit.main,
    "paced": bench_paced.main,
    "memory": bench_memory.main,
    "structuring": bench_structuring.main,
    "fake": bench_fake.main,
    "download": bench_download.main,
    "redis": bench_redis.main,
    "receiver": bench_receiver.main,
    "analytics": bench_analytics.main,
    "mirror": bench_mirror.main,
}


def main(names: list[str]) -> None:
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    print(f"centrepoint-async benchmarks, {datetime.date.today()}, {machine()}")
    for name, run in BENCHMARKS.items():
        if names and name not in names:
            continue
        if inspect.iscoroutinefunction(run):
            asyncio.run(run())
        else:
            run()


if __name__ == "__main__":
    main(sys.argv[1:])
