"""What the worker needs from the outbox: the ``Outbox`` role.

``store.outbox.SqlOutbox`` (the transactional outbox on SQLite or PostgreSQL) satisfies it;
``sync.fake_outbox`` ships ``FakeOutbox``, in memory, for tests. A worker leases dossier heads
(``claim``: each ``Claim`` holds one dossier's oldest pending items, in order), delivers them,
and records what became of each claim (``settle``: an ``Outcome`` is a delivered prefix, then at
most one failure with its retry time, or with none for a dead letter). The types the role speaks
in are the store's (``store.outbox``), exported here: sync takes them from this module only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from store.outbox import Claim, DeliveryKind, ItemState, OutboxItem, Outcome


class Outbox(Protocol):
    """The outbox operations the sync worker uses (claim, settle)."""

    async def claim(
        self,
        worker: str,
        *,
        dossiers_limit: int = ...,
        items_per_dossier: int = ...,
        lease: dt.timedelta = ...,
    ) -> list[Claim]:
        """Lease up to ``dossiers_limit`` available dossier heads, each with up to
        ``items_per_dossier`` of its pending items in order; a head whose last claim never
        settled comes back ``in_doubt``."""
        ...

    async def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record each claim's delivered items and failure, and move its head on (a claim whose
        lease another worker took over leaves the head alone)."""
        ...


__all__ = ["Claim", "DeliveryKind", "ItemState", "Outbox", "OutboxItem", "Outcome"]
