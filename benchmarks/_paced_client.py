"""One client of ``bench_paced``, in a process of its own: ``python _paced_client.py JSON``.

Run as a file by any interpreter that has *a* version of centrepoint-async installed (this one,
or an older checkout's, to compare): it imports nothing from ``benchmarks`` and calls only the
public API that every version has. Prints one JSON line: items, seconds, client CPU seconds
and peak RSS.

- ``sdk``: the typed history export a user writes, every field, header and payload read,
  ``concurrency`` pages at once, paced by ``RateLimit(limit, period=period)``.
- ``aiohttp``: the plain copy at equal concurrency: ``concurrency`` workers taking the next
  offset, orjson on the outer JSON, each request holding a place of the same ``RateLimit``, a
  429 waited out (``Retry-After``, for every worker) and asked again.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import aiohttp
import orjson

import centrepoint_async as cp

PAGE = 100


def read_all(d: cp.WebhookDelivery) -> None:
    """Touch every value a reader of the typed delivery reads (as ``bench_cpu`` does)."""
    d.id, d.webhook_id, d.webhook_event_id, d.webhook_event  # noqa: B018
    d.created_date, d.last_sent_date, d.error_message  # noqa: B018
    d.request.headers, d.request.payload  # noqa: B018
    if d.response is not None:
        d.response.headers  # noqa: B018


async def sdk(job: dict[str, Any], limit: cp.RateLimit) -> int:
    """The typed export; the token and first connection are made before the clock starts."""
    url = job["url"]
    async with cp.CentrePointClient(
        job["client_id"], job["client_secret"], base_url=url, auth_url=url, rate_limit=limit
    ) as client:
        await client.studies.get(job["study"])
        job["started"] = time.perf_counter(), time.process_time()
        count = 0
        history = client.webhooks.history
        async for delivery in history(job["study"], job["webhook"], concurrency=job["concurrency"]):
            read_all(delivery)
            count += 1
        return count


async def plain(job: dict[str, Any], limit: cp.RateLimit) -> int:
    """The plain aiohttp copy at equal concurrency (see the module docstring)."""
    url = job["url"]
    history = f"{url}/centrepoint/v3/Studies/{job['study']}/Webhooks/{job['webhook']}/history"
    async with aiohttp.ClientSession() as session:
        form = {
            "client_id": job["client_id"],
            "client_secret": job["client_secret"],
            "grant_type": "client_credentials",
            "scope": "CentrePoint",
        }
        async with session.post(f"{url}/connect/token", data=form) as response:
            headers = {"Authorization": f"Bearer {(await response.json())['access_token']}"}
        job["started"] = time.perf_counter(), time.process_time()
        state = {"next": 0, "count": 0, "ended": False}

        async def page(offset: int) -> list[Any]:
            params = {"limit": str(PAGE), "offset": str(offset)}
            while True:
                async with limit.slot(), session.get(history, params=params, headers=headers) as r:
                    body, wait = await r.read(), r.headers.get("Retry-After")
                    status = r.status
                if status != 429:
                    r.raise_for_status()
                    items: list[Any] = orjson.loads(body)["items"]
                    return items
                await limit.pause(float(wait or 1))

        async def worker() -> None:
            while not state["ended"]:
                offset = state["next"]
                state["next"] += PAGE
                items = await page(offset)
                state["count"] += len(items)
                if len(items) < PAGE:
                    state["ended"] = True

        await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
        return int(state["count"])


def peak_rss_mb() -> float:
    """This process's peak RSS. On Linux from ``VmHWM``: ``ru_maxrss`` there keeps the peak of
    the parent it was forked from, which is the benchmark's, not this client's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes; bytes on macOS
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


async def main(job: dict[str, Any]) -> None:
    limit = cp.RateLimit(job["limit"], period=job["period"])
    count = await (sdk if job["mode"] == "sdk" else plain)(job, limit)
    wall, cpu = job["started"]
    result = {
        "items": count,
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
