"""``FakeOutbox``: the ``Outbox`` role in memory, with the SQL outbox's rules, for tests.

It keeps what ``store.outbox.SqlOutbox`` keeps — items with their state, attempts and last error;
one head per dossier with undelivered items, pointing at its oldest pending one, available from a
time (``None``: a dead letter holds the dossier until an operator's ``retry``), leased by a claim
token — and applies the same rules: a claim takes available heads oldest first under a lease, a
head whose last claim never settled comes back in doubt (with the steps the portal acknowledged
before and the status the dossier was registered with), a settle whose claim was taken over
leaves the head alone. No database: a worker's decisions can be watched item by item.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from schemas.models import Dossier, DossierEvent
from schemas.times import utc_now
from sync.outbox import Claim, DeliveryKind, ItemState, Outbox, OutboxItem, Outcome


@dataclass
class FakeItem:
    """One delivery the fake holds: the item as claimed, and what became of it."""

    item: OutboxItem
    state: ItemState = ItemState.PENDING
    last_error: str | None = None


@dataclass
class FakeHead:
    """A dossier's head: its oldest pending item, when it may be claimed, who holds it."""

    head_id: int
    available_at: dt.datetime | None
    token: str | None = None
    in_doubt: bool = False


class FakeOutbox:
    """An in-memory ``Outbox`` (see the module docstring); ``enqueue`` fills it."""

    def __init__(self, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._clock = clock
        self.items: dict[int, FakeItem] = {}
        self.heads: dict[str, FakeHead] = {}
        self.on_portal: set[str] = set()
        self.dossiers: dict[str, dict[str, Any]] = {}
        self.registered: dict[str, int] = {}
        self.claims = 0
        self.settles = 0

    # --- filling it -----------------------------------------------------------------------------

    def enqueue(
        self, dossier_code: str, kind: DeliveryKind, payload: dict[str, Any], idempotency_key: str
    ) -> int:
        """Add a delivery (as ``store.outbox.enqueue`` does); its id. A dossier snapshot is also
        the dossier as stored now, and the first one its registered status."""
        item_id = len(self.items) + 1
        now = self._clock()
        item = OutboxItem(item_id, dossier_code, kind, payload, idempotency_key, 0, now, None)
        self.items[item_id] = FakeItem(item)
        self.heads.setdefault(dossier_code, FakeHead(item_id, now))
        if kind is DeliveryKind.SYNC_DOSSIER:
            self.dossiers[dossier_code] = payload
            self.registered.setdefault(dossier_code, int(payload["status"]))
        return item_id

    def add(self, dossier: Dossier, events: Iterable[DossierEvent] = ()) -> list[int]:
        """Enqueue ``dossier``'s snapshot and then its ``events`` as the store would; the ids."""
        ids = [
            self.enqueue(
                dossier.code,
                DeliveryKind.SYNC_DOSSIER,
                dossier.model_dump(mode="json"),
                f"{dossier.code}@{self._clock().isoformat()}",
            )
        ]
        for event in events:
            payload = event.model_dump(mode="json")
            kind = DeliveryKind.PUSH_PROGRESS
            ids.append(self.enqueue(event.dossier_code, kind, payload, event.idempotency_key))
        return ids

    def retry(self, item_id: int) -> None:
        """Give dead letter ``item_id`` a fresh budget; its dossier is claimable now, in doubt."""
        stored = self.items[item_id]
        assert stored.state is ItemState.DEAD, "only a dead letter is retried"
        stored.state = ItemState.PENDING
        stored.item = replace(stored.item, attempts=0, first_attempt_at=None)
        self.heads[stored.item.dossier_code] = FakeHead(item_id, self._clock(), in_doubt=True)

    # --- what tests look at ---------------------------------------------------------------------

    def state(self, item_id: int) -> ItemState:
        """Where item ``item_id`` is: pending, delivered or dead."""
        return self.items[item_id].state

    def with_state(self, state: ItemState) -> list[int]:
        """The ids of the items in ``state``, in order."""
        return [item_id for item_id, stored in self.items.items() if stored.state is state]

    # --- the Outbox role ------------------------------------------------------------------------

    async def claim(
        self,
        worker: str,
        *,
        dossiers_limit: int = 100,
        items_per_dossier: int = 20,
        lease: dt.timedelta = dt.timedelta(seconds=60),
    ) -> list[Claim]:
        """Lease up to ``dossiers_limit`` available heads (oldest first) with their items."""
        self.claims += 1
        now = self._clock()
        lease_until, token = now + lease, str(uuid.uuid4())
        available = sorted(
            (head.available_at, code)
            for code, head in self.heads.items()
            if head.available_at is not None and head.available_at <= now
        )
        codes = sorted(code for _, code in available[:dossiers_limit])
        claims = []
        for code in codes:
            head = self.heads[code]
            head.in_doubt = head.in_doubt or head.token is not None
            head.available_at, head.token = lease_until, token
            pending = [s.item for s in self.items.values() if _pending_of(s, code)]
            history, registered = self._history(code) if head.in_doubt else ((), None)
            claims.append(
                Claim(
                    code,
                    token,
                    lease_until,
                    code in self.on_portal,
                    tuple(pending[:items_per_dossier]),
                    dossier=self.dossiers.get(code),
                    in_doubt=head.in_doubt,
                    history=history,
                    registered_status=registered,
                )
            )
        return claims

    async def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record deliveries and failures and move each claimed head on."""
        self.settles += 1
        now = self._clock()
        for outcome in outcomes:
            for item_id in outcome.delivered:
                stored = self.items[item_id]
                if stored.state is ItemState.PENDING:
                    stored.state = ItemState.DELIVERED
                    stored.item = _attempted(stored.item, now, failed=False)
            if outcome.on_portal:
                self.on_portal.add(outcome.claim.dossier_code)
        for outcome in outcomes:
            code, head = outcome.claim.dossier_code, self.heads.get(outcome.claim.dossier_code)
            mine = head is not None and head.token == outcome.claim.token
            if outcome.failed is not None:
                self._fail(outcome, now)
                if mine:
                    retry_at, doubt = outcome.retry_at, outcome.in_doubt
                    self.heads[code] = FakeHead(outcome.failed, retry_at, in_doubt=doubt)
            elif mine:
                following = [i for i, s in self.items.items() if _pending_of(s, code)]
                if following:
                    self.heads[code] = FakeHead(following[0], now)
                else:
                    del self.heads[code]

    # --- internals ------------------------------------------------------------------------------

    def _fail(self, outcome: Outcome, now: dt.datetime) -> None:
        assert outcome.failed is not None
        stored = self.items[outcome.failed]
        if stored.state is not ItemState.PENDING:
            return
        stored.item = _attempted(stored.item, now, failed=True)
        stored.last_error = outcome.error or "unknown error"
        stored.state = ItemState.DEAD if outcome.retry_at is None else ItemState.PENDING

    def _history(self, code: str) -> tuple[tuple[dict[str, Any], ...], int | None]:
        """The steps of ``code`` the portal acknowledged (in order), and its registered status."""
        acknowledged = [
            s.item.payload
            for s in self.items.values()
            if s.item.dossier_code == code
            and s.item.kind is DeliveryKind.PUSH_PROGRESS
            and s.state is ItemState.DELIVERED
        ]
        acknowledged.sort(key=lambda payload: int(payload["sequence"]))
        return tuple(acknowledged), self.registered.get(code)


def _pending_of(stored: FakeItem, code: str) -> bool:
    return stored.item.dossier_code == code and stored.state is ItemState.PENDING


def _attempted(item: OutboxItem, now: dt.datetime, *, failed: bool) -> OutboxItem:
    return replace(
        item,
        attempts=item.attempts + (1 if failed else 0),
        first_attempt_at=item.first_attempt_at or now,
    )


def _is_an_outbox(outbox: FakeOutbox) -> Outbox:
    return outbox  # mypy checks that FakeOutbox plays the Outbox role


__all__ = ["FakeHead", "FakeItem", "FakeOutbox"]
