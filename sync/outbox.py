"""What the worker needs from the outbox: the ``Outbox`` role.

``store.outbox.SqlOutbox`` (the transactional outbox on SQLite or PostgreSQL) satisfies it;
``sync.fake_outbox`` ships ``FakeOutbox``, in memory, for tests. A worker ``claim``\\ s dossier
heads under a lease — each ``Claim`` holds one dossier's oldest pending items, in order — delivers
them, and ``settle``\\ s what became of each claim (an ``Outcome``: a delivered prefix, then at most
one failure with its retry time, or none for a dead letter).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from store.outbox import Claim, OutboxItem, Outcome


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


__all__ = ["Claim", "Outbox", "OutboxItem", "Outcome"]
