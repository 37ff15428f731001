"""Run the benchmarks: ``python -m benchmarks [latency cpu ratelimit memory fake structuring]``."""

from __future__ import annotations

import asyncio
import datetime
import sys

from . import (
    bench_cpu,
    bench_fake,
    bench_latency,
    bench_memory,
    bench_ratelimit,
    bench_structuring,
)
from ._common import machine

ASYNC = {
    "latency": bench_latency.main,
    "cpu": bench_cpu.main,
    "ratelimit": bench_ratelimit.main,
    "memory": bench_memory.main,
    "fake": bench_fake.main,
}


def main(names: list[str]) -> None:
    chosen = names or [*ASYNC, "structuring"]
    unknown = set(chosen) - {*ASYNC, "structuring"}
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    print(f"centrepoint-async benchmarks, {datetime.date.today()}, {machine()}")
    for name in chosen:
        if name == "structuring":
            bench_structuring.main()
        else:
            asyncio.run(ASYNC[name]())


if __name__ == "__main__":
    main(sys.argv[1:])
