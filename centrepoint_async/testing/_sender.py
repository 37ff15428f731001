"""Sample webhooks on demand, as ``stripe trigger`` sends them: :func:`trigger`.

The fake sends its own webhooks (``data_retrieval_complete`` when a request completes) to the
receiver set by :meth:`FakeCentrePoint.send_webhooks_to`; :func:`trigger` sends one delivery
of any event there too, its payload made as the dataset makes the history's, signed the same
way. ``centrepoint-async fake-server --send-webhooks-to URL --trigger EVENT`` uses it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from ._data import _PAYLOADS
from ._fake import FakeCentrePoint, SentWebhook

__all__ = ["TRIGGERS", "trigger"]

#: The events :func:`trigger` can send.
TRIGGERS: tuple[str, ...] = tuple(_PAYLOADS)


async def trigger(fake: FakeCentrePoint, event: str, *, study_id: int | None = None) -> SentWebhook:
    """Send one ``event`` delivery (a sample payload) to the fake's webhook receiver.

    ``study_id`` defaults to the dataset's first study. Returns the last attempt as recorded
    in ``fake.webhooks_sent`` (its ``status`` is the receiver's answer, 0 for none). Raises
    ``ValueError`` for an event it cannot make or when no receiver is set.
    """
    if event not in _PAYLOADS:
        raise ValueError(f"cannot trigger {event!r}; choose from {', '.join(TRIGGERS)}")
    sent = len(fake.webhooks_sent)
    study = study_id if study_id is not None else fake.dataset.studies[0]["id"]
    payload = _PAYLOADS[event](secrets.randbits(63), study, datetime.now(UTC))
    await fake._send_webhook(event, payload)
    if len(fake.webhooks_sent) == sent:
        raise ValueError("no receiver to send to: call fake.send_webhooks_to(url) first")
    return fake.webhooks_sent[-1]
