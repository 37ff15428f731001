"""The inbox: where a delivery is stored before its 2xx, and where workers lease it from.

The receiver answers a delivery 2xx only once :meth:`Inbox.add` has returned (the delivery is
durably stored and its id claimed), then background workers :meth:`~Inbox.lease` it, run its
handlers and :meth:`~Inbox.complete` or :meth:`~Inbox.fail` it. An implementation is all the
receiver needs to survive restarts (``SQLiteInbox``, one process) or to share work and one
dedupe record between replicas (``centrepoint_async.redis.RedisInbox``).

Life of a delivery inside an inbox::

    add ──> PENDING ──lease──> LEASED ──complete──> DONE (body dropped; only the id is kept,
              ^  ^                │  │                    for at least ``retention`` seconds)
              │  └──release/fail──┘  │
              │    (fail: attempts+1, due again in ``retry_in`` seconds)
              │                      └──fail(retry_in=None)──> DEAD (kept until redriven)
              └───────────redrive(delivery_id)──────────────────┘
    A lease not completed, failed, released or extended within its ``seconds`` expires: the
    delivery is PENDING again and another worker (or replica) takes it. Nothing is ever lost
    because its holder died.

Rules every implementation keeps (the tests in ``tests/test_receiver_inbox.py`` check them and
can be run against any implementation):

1. **Atomic, durable add.** ``add`` stores the delivery *and* claims its id in one step that is
   durable when it returns (SQLite: committed; Redis: one ``MULTI``/script, with the
   persistence the operator configured). It returns ``False`` and stores nothing when the id is
   already known in any state (pending, leased, done within retention, dead): that is the
   dedupe, and two replicas adding the same id at once get one ``True`` between them.
2. **Leases are exclusive and expire.** ``lease`` hands out each due pending delivery to one
   ``owner`` at a time, for ``seconds``, oldest due first. ``extend``, ``fail`` and ``release``
   act only while ``owner`` still holds an unexpired lease, and return ``False`` (doing nothing)
   otherwise: another worker has it now. ``complete`` marks the delivery done whoever holds it
   (its handlers did succeed), and returns whether it was still pending or leased.
3. **Clocks are the inbox's own.** Callers give durations in seconds, never timestamps, so
   replicas with skewed clocks agree (Redis: the server's ``TIME``).
4. **Retention.** Done ids are kept at least ``retention`` seconds (default 7 days: CentrePoint
   resends for days) and their total size is bounded by ``max_dedupe_bytes`` (oldest forgotten
   first, and only then; a warning is logged when ids younger than ``retention`` go). Pending,
   leased and dead deliveries are never dropped by retention: they are data.
5. **Dead letters** keep their body, attempt count and last error, are listed oldest first by
   ``dead_letters``, and go back to pending with ``attempts = 0`` by ``redrive``.
6. ``open`` is idempotent and makes the inbox ready (creates tables or scripts), or raises
   ``ConfigurationError`` when the inbox could not keep rule 1 (``SQLiteInbox``: its file is
   open in another process; ``RedisInbox``: Redis is not durable); ``close`` releases its
   resources; neither drops a delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["DEFAULT_MAX_DEDUPE_BYTES", "DEFAULT_RETENTION", "Inbox", "StoredDelivery"]

#: Done delivery ids are remembered this long by default (seconds): CentrePoint resends a
#: failed delivery a day later, then two days later, and by hand at any time.
DEFAULT_RETENTION = 7 * 24 * 3600.0
#: Default bound on the bytes of remembered ids (ids of ~40 characters: ~1 million of them).
DEFAULT_MAX_DEDUPE_BYTES = 64 * 1024 * 1024


@attrs.frozen
class StoredDelivery:
    """One delivery as an inbox keeps it: what is needed to run its handlers again."""

    delivery_id: str  # X-ActiGraph-Delivery (or one made up when missing): key and dedupe id
    name: str  # the event name, normalised
    webhook_id: int | None  # X-ActiGraph-Webhook-id
    body: bytes = attrs.field(repr=False)  # the raw body, as received and verified
    received_at: float = 0.0  # Unix time of the add, by the inbox's clock
    attempts: int = 0  # handling attempts that failed so far
    last_error: str | None = None  # the last failure in one line (for dead letters)


@runtime_checkable
class Inbox(Protocol):
    """Durable storage of deliveries and their dedupe record (see the module's rules)."""

    async def open(self) -> None:
        """Make the inbox ready; calling it again does nothing."""
        ...

    async def close(self) -> None:
        """Release connections and files; stored deliveries stay stored."""
        ...

    async def add(self, delivery: StoredDelivery) -> bool:
        """Store ``delivery`` as pending and claim its id, atomically and durably.

        ``False`` (nothing stored) when the id is already known in any state.
        """
        ...

    async def lease(self, owner: str, *, limit: int, seconds: float) -> Sequence[StoredDelivery]:
        """Up to ``limit`` due pending deliveries, oldest first, leased to ``owner``."""
        ...

    async def extend(self, delivery_id: str, owner: str, *, seconds: float) -> bool:
        """Renew ``owner``'s lease for ``seconds`` from now; ``False`` if it no longer holds it."""
        ...

    async def complete(self, delivery_id: str, owner: str) -> bool:
        """Handled: drop the body, keep the id for dedupe; ``False`` if it was not pending."""
        ...

    async def fail(
        self, delivery_id: str, owner: str, *, error: str, retry_in: float | None
    ) -> bool:
        """A handler failed: ``attempts + 1``, ``last_error = error``; pending again and due in
        ``retry_in`` seconds, or dead when ``retry_in`` is ``None``. ``False`` if ``owner`` no
        longer holds the lease."""
        ...

    async def release(self, delivery_id: str, owner: str) -> bool:
        """Give the lease back untried (shutdown): pending again at once, ``attempts`` unchanged."""
        ...

    async def dead_letters(self, *, limit: int = 100) -> Sequence[StoredDelivery]:
        """Dead deliveries, oldest first."""
        ...

    async def redrive(self, delivery_id: str) -> bool:
        """A dead delivery back to pending with ``attempts = 0``; ``False`` if it is not dead."""
        ...
