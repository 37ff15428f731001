"""List every study's webhooks and the last deliveries of each, with failures highlighted.

python examples/list_webhooks_and_history.py
"""

from __future__ import annotations

import asyncio

import centrepoint_async as cp

try:
    from ._common import client_from_env_or_fake
except ImportError:  # run as a script
    from _common import client_from_env_or_fake  # type: ignore[no-redef,import-not-found]


async def main(client: cp.CentrePointClient, per_webhook: int = 5) -> None:
    """Print each webhook of each study, then its first deliveries."""
    async for study in client.studies.list():
        # ids are required from 0.2 (#18): these guards then go, and the ignores with them
        if study.id is None:  # pyright: ignore[reportUnnecessaryComparison]
            continue
        print(f"study {study.id}: {study.name}")
        async for hook in client.webhooks.list(study.id):
            if hook.id is None:  # pyright: ignore[reportUnnecessaryComparison]
                continue
            events = ", ".join(e.name or "?" for e in hook.webhook_events)
            print(f"  webhook {hook.id} -> {hook.url} [{events}]")
            history = client.webhooks.history(study.id, hook.id, max_items=per_webhook)
            async for delivery in history:
                status = "FAILED" if delivery.failed else "ok"
                payload = type(delivery.request.payload).__name__
                print(f"    {delivery.id} {delivery.event_name:<30} {payload:<32} {status}")


async def run() -> None:
    async with client_from_env_or_fake() as client:
        await main(client)


if __name__ == "__main__":
    asyncio.run(run())
