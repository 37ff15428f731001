"""List every study's webhooks and the last deliveries of each, with failures highlighted.

python examples/list_webhooks_and_history.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import centrepoint_async as cp


async def main(client: cp.CentrePointClient, per_webhook: int = 5) -> None:
    """Print each webhook of each study, then its first deliveries."""
    async for study in client.studies.list():
        print(f"study {study.id}: {study.name}")
        async for hook in client.webhooks.list(study.id):
            events = ", ".join(e.name or "?" for e in hook.webhook_events)
            print(f"  webhook {hook.id} -> {hook.url} [{events}]")
            history = client.webhooks.history(study.id, hook.id, max_items=per_webhook)
            async for delivery in history:
                status = "FAILED" if delivery.failed else "ok"
                payload = type(delivery.request.payload).__name__
                print(f"    {delivery.id} {delivery.event_name:<30} {payload:<32} {status}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
    from examples._common import run_with_client

    run_with_client(main)
