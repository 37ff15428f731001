"""7. Import time: ``import centrepoint_async`` for a program that only calls the API, against
``import aiohttp`` alone (the floor any aiohttp client pays) and against the same import with
the receiver's aiohttp adapter, which loads aiohttp's server stack (what every import cost
before the receiver was loaded lazily). The receiver's core is timed too: it must not load
``aiohttp.web`` either.

Each measurement is a fresh interpreter (nothing cached in ``sys.modules``); medians of 9.
Bytecode is cached as an installed package's is (in a temporary ``PYTHONPYCACHEPREFIX``, after
one warm-up import, even where ``PYTHONDONTWRITEBYTECODE`` is set): compiling the sources
anew at every import is not what users pay.
Goal: a client pays no more than the client's own modules; the server stack only on use.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from ._common import OTHER_PYTHON, table

RUNS = 9

#: name: (import statement, whether it should load aiohttp's server stack)
SNIPPETS: dict[str, tuple[str, bool | None]] = {
    "aiohttp": ("import aiohttp", False),
    "client": ("import centrepoint_async", False),
    "receiver": ("import centrepoint_async, centrepoint_async.receiver", False),
    "eager": ("import centrepoint_async, centrepoint_async.receiver._aiohttp", True),
}


def import_seconds(
    python: str, statement: str, loads_web: bool | None, env: dict[str, str]
) -> float:
    """Seconds ``statement`` takes in a fresh interpreter (interpreter start-up excluded)."""
    code = (
        f"import sys, time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)\n"
    )
    if loads_web is not None:
        code += f"assert ('aiohttp.web' in sys.modules) is {loads_web}\n"
    out = subprocess.run(  # noqa: S603
        [python, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return float(out.stdout)


def main() -> dict[str, float]:
    runs = {name: (sys.executable, *snippet) for name, snippet in SNIPPETS.items()}
    if OTHER_PYTHON:  # another version's client, for a comparison in the same run
        runs["other"] = (OTHER_PYTHON, "import centrepoint_async", None)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for python, statement, loads_web in runs.values():  # warm-up: bytecode written once
            import_seconds(python, statement, loads_web, env)
        # interleaved, so that a busy moment of the shared machine hits every variant alike
        for _ in range(RUNS):
            for name, run in runs.items():
                samples[name].append(import_seconds(*run, env))
    median = {name: statistics.median(times) for name, times in samples.items()}
    floor, client = median["aiohttp"], median["client"]
    rows = [
        ("import aiohttp (floor)", f"{floor * 1e3:.0f} ms"),
        (
            "import centrepoint_async (receiver lazy)",
            f"{client * 1e3:.0f} ms: {client / floor:.2f}x of aiohttp, "
            f"{client / median['eager']:.2f}x of the eager import",
        ),
        ("centrepoint_async + centrepoint_async.receiver", f"{median['receiver'] * 1e3:.0f} ms"),
        (
            "eager: + the receiver's aiohttp adapter (as 0.1 did)",
            f"{median['eager'] * 1e3:.0f} ms",
        ),
    ]
    if "other" in median:
        rows.append(
            (
                f"import centrepoint_async, {OTHER_PYTHON}",
                f"{median['other'] * 1e3:.0f} ms: this version is {client / median['other']:.2f}x",
            )
        )
    table(f"7. import time, fresh interpreter (median of {RUNS})", rows)
    return {
        "client_vs_aiohttp": client / floor,
        "client_vs_eager": client / median["eager"],
        "receiver_vs_eager": median["receiver"] / median["eager"],
    }


if __name__ == "__main__":
    main()
