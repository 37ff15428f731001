"""8. A paced export, where users are: the API's latency and its ceiling, time scaled.

CentrePoint answers in about 150 ms and allows 500 requests a minute (a sliding window). Here
the fake answers in 100 to 200 ms (uniform jitter, 150 ms on average) and allows 500 per 60 s,
both times multiplied by SCALE (a run takes a minute or two; at a smaller scale the typed
client's CPU, on a shared machine, would be the limit instead of the API's); each client paces
itself with ``RateLimit(500, period=60 * SCALE)``, the default limiter's shape.

The honest measure first: the typed history export (every field, header and payload read) at
concurrency 4, 8 and 16, against the plain aiohttp copy at equal concurrency (orjson on the
outer JSON, the same ``RateLimit``, 429s waited out). Per run: the share of the ceiling used
(requests in whole windows / the server's limit), 429s, wall time, the requests per item
against the minimum (``floor(items / 100) + 1`` pages), the client's CPU and peak RSS. Each
client runs in a process of its own; the server in this one, a fresh one per run (an empty
window); medians of REPEATS interleaved repeats (about half an hour in all). A busiest window
under the limiter's budget (485) means the client never reached the ceiling: something else
(its CPU) held it.

With ``CENTREPOINT_BENCH_OTHER=/path/to/python`` (the interpreter of another version of the
package, an older checkout's venv) the typed export runs with that version too, interleaved
with this one, against the same server code, in the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from centrepoint_async.testing import Dataset, FakeCentrePoint

from ._common import OTHER_PYTHON, STUDY, WEBHOOK, share_of_ceiling, table

SCALE = 0.5  # 60 s windows and 150 ms answers, twice as fast
LIMIT = 500
PERIOD = 60.0 * SCALE
LATENCY, JITTER = 0.100 * SCALE, 0.100 * SCALE  # 100 ms plus up to 100 ms
PAGE = 100
DELIVERIES = 150_000  # three windows and more at the ceiling
REPEATS = 3
CONCURRENCIES = (4, 8, 16)
CLIENT = Path(__file__).with_name("_paced_client.py")
PLAIN = "plain aiohttp, equal concurrency"


async def run(python: str, mode: str, concurrency: int) -> dict[str, Any]:
    """One export against a fresh fake; the client's figures and the server's."""
    dataset = Dataset.generate(0, studies=1, webhooks_per_study=1, deliveries=DELIVERIES)
    async with FakeCentrePoint(
        dataset=dataset,
        latency=LATENCY,
        latency_jitter=JITTER,
        rate_limit=LIMIT,
        rate_period=PERIOD,
    ) as fake:
        job = {
            "mode": mode,
            "url": fake.url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "study": STUDY,
            "webhook": WEBHOOK,
            "concurrency": concurrency,
            "limit": LIMIT,
            "period": PERIOD,
        }
        process = await asyncio.create_subprocess_exec(
            python, str(CLIENT), json.dumps(job), cwd="/", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, (python, mode, concurrency)
        result: dict[str, Any] = json.loads(out.splitlines()[-1])
        assert result["items"] == DELIVERIES, (python, mode, result)
        answered = [r for r in fake.requests if r.status != 429 and "/centrepoint/" in r.path]
        result["share"], result["busiest"] = share_of_ceiling(
            [r.at for r in answered], PERIOD, LIMIT
        )
        result["429s"] = fake.rate_limited
        pages = sum(1 for r in answered if r.path.lower().endswith("/history"))
        result["per_minimum"] = pages / (DELIVERIES // PAGE + 1)
        return result


def row(runs: list[dict[str, Any]], plain: list[dict[str, Any]]) -> str:
    """Medians over the repeats; the ratio to the plain copy is taken within each repeat."""
    shares = [r["share"] for r in runs]
    to_plain = statistics.median(
        r["seconds"] / p["seconds"] for r, p in zip(runs, plain, strict=True)
    )

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    return (
        f"{median('share'):.1%} of the ceiling ({min(shares):.1%}-{max(shares):.1%}, busiest "
        f"window {max(r['busiest'] for r in runs)}), {sum(r['429s'] for r in runs)} x 429, "
        f"{median('seconds'):.1f} s ({to_plain:.2f}x plain), "
        f"{median('per_minimum'):.3f}x the minimum requests, "
        f"CPU {median('cpu') / DELIVERIES * 1e6:.0f} us/item, "
        f"peak RSS {max(r['peak_rss_mb'] for r in runs):.0f} MB"
    )


async def main() -> dict[str, float]:
    clients = {"SDK typed export": (sys.executable, "sdk")}
    if OTHER_PYTHON:
        clients[f"the same, {OTHER_PYTHON}"] = (OTHER_PYTHON, "sdk")
    clients[PLAIN] = (sys.executable, "aiohttp")
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {
        (name, c): [] for c in CONCURRENCIES for name in clients
    }
    for _ in range(REPEATS):  # interleaved: a busy moment of the machine hits every client
        for concurrency in CONCURRENCIES:
            for name, how in clients.items():
                runs[name, concurrency].append(await run(*how, concurrency))
    rows: list[tuple[str, str]] = []
    results: dict[str, float] = {}
    for concurrency in CONCURRENCIES:
        plain = runs[PLAIN, concurrency]
        for name in clients:
            rows.append((f"{name}, concurrency {concurrency}", row(runs[name, concurrency], plain)))
        sdk = runs["SDK typed export", concurrency]
        results[f"share_{concurrency}"] = statistics.median(r["share"] for r in sdk)
        results[f"429s_{concurrency}"] = sum(r["429s"] for r in sdk)
    table(
        f"8. paced export: {DELIVERIES:,} deliveries, answers in 100-200 ms, {LIMIT} requests a "
        f"minute, time x {SCALE:g} (windows of {PERIOD:g} s), medians of {REPEATS}",
        rows,
    )
    return results


if __name__ == "__main__":
    asyncio.run(main())
