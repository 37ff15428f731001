"""7. Import time: ``import centrepoint_async`` for a program that only calls the API, against
the same import that also loads the receiver (what every import cost before the receiver was
loaded lazily) and against ``import aiohttp`` alone (the floor any aiohttp client pays).

Each measurement is a fresh interpreter (nothing cached in ``sys.modules``); medians of 9.
Goal: a client pays no more than the client's own modules; the server stack only on use.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from ._common import table

RUNS = 9

#: name: (import statement, whether it should load aiohttp's server stack)
SNIPPETS = {
    "aiohttp": ("import aiohttp", False),
    "client": ("import centrepoint_async", False),
    "eager": ("import centrepoint_async, centrepoint_async.receiver", True),
}


def import_seconds(statement: str, loads_web: bool) -> float:
    """Seconds ``statement`` takes in a fresh interpreter (interpreter start-up excluded)."""
    code = (
        f"import sys, time\nt = time.perf_counter()\n{statement}\n"
        "print(time.perf_counter() - t)\n"
        f"assert ('aiohttp.web' in sys.modules) is {loads_web}\n"
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return float(out.stdout)


def main() -> dict[str, float]:
    # interleaved, so that a busy moment of the shared machine hits every variant alike
    samples: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    for _ in range(RUNS):
        for name, (statement, loads_web) in SNIPPETS.items():
            samples[name].append(import_seconds(statement, loads_web))
    floor, client, eager = (statistics.median(samples[n]) for n in ("aiohttp", "client", "eager"))
    table(
        f"7. import time, fresh interpreter (median of {RUNS})",
        [
            ("import aiohttp (floor)", f"{floor * 1e3:.0f} ms"),
            ("import centrepoint_async + receiver (0.1)", f"{eager * 1e3:.0f} ms"),
            (
                "import centrepoint_async (receiver lazy)",
                f"{client * 1e3:.0f} ms: {client / eager:.2f}x of 0.1, "
                f"{client / floor:.2f}x of aiohttp",
            ),
        ],
    )
    return {"client_vs_eager": client / eager, "client_vs_aiohttp": client / floor}


if __name__ == "__main__":
    main()
