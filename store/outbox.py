"""The transactional outbox: enqueue beside a dossier change, claim per dossier, settle, operate.

``enqueue`` runs inside the caller's transaction (the one that records the dossier change), so a
change and its delivery exist together or not at all. Workers use ``SqlOutbox``:

- ``claim`` leases up to N dossier heads (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` serialises claimers) and loads each dossier's oldest pending items in order.
  It reads ``outbox_heads`` through its ``available_at`` index only, so its cost follows the batch,
  not the table.
- ``settle`` records what the portal acknowledged and what failed, in one transaction: delivered
  items, a failure's attempt count, error and next attempt (or its death), and each head moved to
  the dossier's next pending item. It locks the settled dossiers' rows first — the same lock every
  writer of a dossier takes — so a head is never dropped while a new item for it is being written.
  A claim whose lease was taken over by another worker (its token no longer matches) leaves the
  head alone.

A head is *in doubt* (``outbox_heads.in_doubt``) when the portal may hold more of its dossier than
the outbox records as delivered: a claim that takes over a head whose last claim never settled
marks it so, and so does a settle whose failure left the outcome unclear. A claim of such a head
carries what the worker needs to read back and mend: the dossier as it is, the steps the portal
acknowledged before (``history``) and the status the dossier was registered with.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import any_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from schemas.times import utc_now
from store.db import insert_ignoring
from store.errors import OutboxItemNotFound
from store.tables.dossiers import dossier_events, dossiers
from store.tables.outbox import outbox, outbox_heads
from store.types import UtcDateTime


class DeliveryKind(StrEnum):
    """What an outbox item asks the worker to do at the portal."""

    SYNC_DOSSIER = "sync_dossier"
    PUSH_PROGRESS = "push_progress"


class ItemState(StrEnum):
    """Where an outbox item is: waiting (or being delivered), acknowledged, or given up on."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One delivery as claimed by a worker."""

    id: int
    dossier_code: str
    kind: DeliveryKind
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int
    created_at: dt.datetime
    first_attempt_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A leased dossier head: the dossier's oldest pending items, in order, until ``lease_until``.

    ``on_portal`` says whether the portal has already acknowledged this dossier once;
    ``dossier`` is the dossier as stored now (its JSON), for the dates progress records carry.
    ``in_doubt``: the portal may hold more than the outbox says (read back before sending);
    then ``history`` holds the events whose steps the portal acknowledged before (their JSON, in
    order) and ``registered_status`` the status the dossier had before its first event.
    """

    dossier_code: str
    token: str
    lease_until: dt.datetime
    on_portal: bool
    items: tuple[OutboxItem, ...]
    dossier: dict[str, Any] | None = None
    in_doubt: bool = False
    history: tuple[dict[str, Any], ...] = ()
    registered_status: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a claim: a delivered prefix of its items, then at most one failure.

    ``failed`` is the id of the first item that was not acknowledged (when delivery stopped on an
    error); it is retried at ``retry_at``, or becomes a dead letter when ``retry_at`` is None.
    Items after ``failed`` (or not reached) stay pending. ``error`` is a short description with no
    personal data. ``on_portal`` is True once the portal is known to hold the dossier.
    ``in_doubt``: the failure left unclear what the portal holds (the head is marked so).
    """

    claim: Claim
    delivered: tuple[int, ...] = ()
    failed: int | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None
    on_portal: bool = False
    in_doubt: bool = False


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The queue at a glance: items by state, heads in flight or backing off, the oldest wait."""

    pending: int
    delivered: int
    dead: int
    in_flight: int
    backing_off: int
    oldest_pending_at: dt.datetime | None
    now: dt.datetime = field(default_factory=utc_now)

    @property
    def oldest_pending_age(self) -> dt.timedelta | None:
        """How long the oldest pending item has waited."""
        if self.oldest_pending_at is None:
            return None
        return max(self.now - self.oldest_pending_at, dt.timedelta(0))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery given up on, with the last error that made it so."""

    id: int
    dossier_code: str
    kind: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None


def _insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT construct (both offer ``on_conflict_do_nothing``/``_do_update``)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to add to the outbox: what to do at the portal for which dossier."""

    dossier_code: str
    kind: DeliveryKind
    payload: dict[str, Any]
    idempotency_key: str


async def enqueue(
    session: AsyncSession,
    *,
    dossier_code: str,
    kind: DeliveryKind,
    payload: dict[str, Any],
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> int:
    """Add a delivery for ``dossier_code`` in the caller's transaction; return its id.

    The caller must hold the dossier's row lock (``store.dossiers`` takes it), so that items of one
    dossier get increasing ids in commit order.
    """
    delivery = NewDelivery(dossier_code, kind, payload, idempotency_key)
    (item_id,) = await enqueue_many(session, [delivery], now=now or utc_now())
    return item_id


_INSERT_ITEMS = insert(outbox).returning(
    outbox.c.id, outbox.c.dossier_code, sort_by_parameter_order=True
)
_INSERT_ITEMS_NUMBERED = insert(outbox)
_HIGHEST_ITEM = select(func.max(outbox.c.id))
_INSERT_HEADS = insert_ignoring(outbox_heads, ["dossier_code"])


async def enqueue_many(
    bind: AsyncSession | AsyncConnection, deliveries: Sequence[NewDelivery], *, now: dt.datetime
) -> list[int]:
    """Add ``deliveries`` in the caller's transaction, in order; return their ids, in order.

    Ids increase in the order of ``deliveries``, so a dossier's deliveries keep it; a dossier
    with no head gets one at its first new delivery (one with a head keeps it: the head moves
    only when ``settle`` moves it). PostgreSQL: one ``INSERT … RETURNING`` sorted by parameter
    order; SQLite, the only writer (``BEGIN IMMEDIATE``): numbered after the highest id. The
    caller holds the dossiers' row locks, as for :func:`enqueue`.
    """
    if not deliveries:
        return []
    connection = await bind.connection() if isinstance(bind, AsyncSession) else bind
    postgres = connection.dialect.name == "postgresql"
    items = [
        {
            "dossier_code": delivery.dossier_code,
            "kind": delivery.kind.value,
            "payload": delivery.payload,
            "idempotency_key": delivery.idempotency_key,
            "state": ItemState.PENDING.value,
            "attempts": 0,
            "created_at": now,
        }
        for delivery in deliveries
    ]
    if postgres:
        ids = [int(row.id) for row in await connection.execute(_INSERT_ITEMS, items)]
    else:
        last = int(await connection.scalar(_HIGHEST_ITEM) or 0)
        ids = list(range(last + 1, last + 1 + len(items)))
        for item, number in zip(items, ids, strict=True):
            item["id"] = number
        await connection.execute(_INSERT_ITEMS_NUMBERED, items)
    heads: dict[str, int] = {}
    for delivery, item_id in zip(deliveries, ids, strict=True):
        heads.setdefault(delivery.dossier_code, item_id)
    await connection.execute(
        _INSERT_HEADS[postgres],
        [
            {"dossier_code": code, "head_id": head, "available_at": now}
            for code, head in heads.items()
        ],
    )
    return ids


_ITEM_COLUMNS = (
    outbox.c.id,
    outbox.c.dossier_code,
    outbox.c.kind,
    outbox.c.payload,
    outbox.c.idempotency_key,
    outbox.c.attempts,
    outbox.c.created_at,
    outbox.c.first_attempt_at,
)


def any_of(column: Any, name: str, *, postgres: bool) -> Any:
    """``column IN (…)`` for a list bound at execution as ``name``.

    On PostgreSQL ``column = ANY(:name)`` with one array parameter: the statement's text does
    not change with the list's length, so asyncpg prepares it once rather than once per length.
    """
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class _Statements:
    """The worker's statements for one dialect, built once (they run for every claim/settle)."""

    def __init__(self, postgres: bool) -> None:
        picked = (
            select(outbox_heads.c.dossier_code)
            .where(outbox_heads.c.available_at <= bindparam("now", type_=UtcDateTime()))
            .order_by(outbox_heads.c.available_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        self.lease = (
            update(outbox_heads)
            .where(outbox_heads.c.dossier_code == picked.c.dossier_code)
            .values(
                available_at=bindparam("lease_until", type_=UtcDateTime()),
                claim_token=bindparam("token"),
                claimed_by=bindparam("worker"),
                # SET sees the row as it was: a claim token still there is a claim never settled
                in_doubt=or_(outbox_heads.c.in_doubt, outbox_heads.c.claim_token.is_not(None)),
            )
            .returning(outbox_heads.c.dossier_code, outbox_heads.c.in_doubt)
        )
        self.on_portal = select(dossiers.c.code, dossiers.c.on_portal, dossiers.c.payload).where(
            any_of(dossiers.c.code, "codes", postgres=postgres)
        )
        self.acknowledged = select(outbox.c.dossier_code, outbox.c.idempotency_key).where(
            any_of(outbox.c.dossier_code, "codes", postgres=postgres),
            outbox.c.state == ItemState.DELIVERED.value,
            outbox.c.kind == DeliveryKind.PUSH_PROGRESS.value,
        )
        self.events = (
            select(
                dossier_events.c.dossier_code,
                dossier_events.c.payload,
                dossier_events.c.previous_status,
            )
            .where(any_of(dossier_events.c.dossier_code, "codes", postgres=postgres))
            .order_by(dossier_events.c.dossier_code, dossier_events.c.sequence)
        )
        rank = (
            func.row_number()
            .over(partition_by=outbox.c.dossier_code, order_by=outbox.c.id)
            .label("rank")
        )
        ranked = (
            select(*_ITEM_COLUMNS, rank)
            .where(
                any_of(outbox.c.dossier_code, "codes", postgres=postgres),
                outbox.c.state == ItemState.PENDING.value,
            )
            .subquery()
        )
        self.items = (
            select(ranked)
            .where(ranked.c.rank <= bindparam("per_dossier"))
            .order_by(ranked.c.dossier_code, ranked.c.id)
        )
        self.lock = (
            select(dossiers.c.code)
            .where(any_of(dossiers.c.code, "codes", postgres=postgres))
            .order_by(dossiers.c.code)
            .with_for_update()
        )
        self.delivered = (
            update(outbox)
            .where(
                any_of(outbox.c.id, "ids", postgres=postgres),
                outbox.c.state == ItemState.PENDING.value,
            )
            .values(
                state=ItemState.DELIVERED.value,
                delivered_at=bindparam("now", type_=UtcDateTime()),
                last_attempt_at=bindparam("now", type_=UtcDateTime()),
                first_attempt_at=func.coalesce(
                    outbox.c.first_attempt_at, bindparam("now", type_=UtcDateTime())
                ),
            )
        )
        self.known = (
            update(dossiers)
            .where(
                any_of(dossiers.c.code, "codes", postgres=postgres), dossiers.c.on_portal.is_(False)
            )
            .values(on_portal=True)
        )
        self.next_heads = (
            select(outbox.c.dossier_code, func.min(outbox.c.id).label("next_id"))
            .where(
                any_of(outbox.c.dossier_code, "codes", postgres=postgres),
                outbox.c.state == ItemState.PENDING.value,
            )
            .group_by(outbox.c.dossier_code)
        )
        same_claim = (
            outbox_heads.c.dossier_code == bindparam("b_code"),
            outbox_heads.c.claim_token == bindparam("b_token"),
        )
        self.move_heads = (
            update(outbox_heads)
            .where(*same_claim)
            .values(
                head_id=bindparam("b_head"),
                available_at=bindparam("b_now", type_=UtcDateTime()),
                claim_token=None,
                claimed_by=None,
                in_doubt=False,
            )
        )
        self.drop_heads = delete(outbox_heads).where(*same_claim)


_STATEMENTS = {postgres: _Statements(postgres) for postgres in (True, False)}


class SqlOutbox:
    """The outbox seen by workers and operators, on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._sql = _STATEMENTS[engine.dialect.name == "postgresql"]

    async def claim(
        self,
        worker: str,
        *,
        dossiers_limit: int = 100,
        items_per_dossier: int = 20,
        lease: dt.timedelta = dt.timedelta(seconds=60),
    ) -> list[Claim]:
        """Lease up to ``dossiers_limit`` available dossier heads and load their pending items."""
        now = self._clock()
        lease_until = now + lease
        token = str(uuid.uuid4())
        sql = self._sql
        async with self._engine.begin() as connection:
            leased = await connection.execute(
                sql.lease,
                {
                    "now": now,
                    "limit": dossiers_limit,
                    "lease_until": lease_until,
                    "token": token,
                    "worker": worker[:128],
                },
            )
            doubt = {row.dossier_code: bool(row.in_doubt) for row in leased}
            codes = sorted(doubt)
            if not codes:
                return []
            known = await connection.execute(sql.on_portal, {"codes": codes})
            stored = {row.code: (bool(row.on_portal), row.payload) for row in known}
            rows = await connection.execute(
                sql.items, {"codes": codes, "per_dossier": items_per_dossier}
            )
            items: dict[str, list[OutboxItem]] = {code: [] for code in codes}
            for row in rows:
                items[row.dossier_code].append(_item(row))
            doubtful = [code for code in codes if doubt[code]]
            histories = await _histories(connection, sql, doubtful) if doubtful else {}
        claims = []
        for code in codes:
            on_portal, payload = stored.get(code, (False, None))
            history, registered = histories.get(code, ((), None))
            claims.append(
                Claim(
                    code,
                    token,
                    lease_until,
                    on_portal,
                    tuple(items[code]),
                    dossier=dict(payload) if payload is not None else None,
                    in_doubt=doubt[code],
                    history=history,
                    registered_status=registered,
                )
            )
        return claims

    async def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record deliveries and failures and move each claimed head on, in one transaction."""
        if not outcomes:
            return
        now = self._clock()
        sql = self._sql
        codes = sorted({outcome.claim.dossier_code for outcome in outcomes})
        async with self._engine.begin() as connection:
            await connection.execute(sql.lock, {"codes": codes})
            delivered = [item_id for outcome in outcomes for item_id in outcome.delivered]
            if delivered:
                await connection.execute(sql.delivered, {"ids": delivered, "now": now})
            known = sorted({o.claim.dossier_code for o in outcomes if o.on_portal})
            if known:
                await connection.execute(sql.known, {"codes": known})
            for outcome in outcomes:
                if outcome.failed is not None:
                    await self._record_failure(connection, outcome, now)
            await self._advance_heads(connection, [o for o in outcomes if o.failed is None], now)

    async def _record_failure(
        self, connection: AsyncConnection, outcome: Outcome, now: dt.datetime
    ) -> None:
        dead = outcome.retry_at is None
        await connection.execute(
            update(outbox)
            .where(outbox.c.id == outcome.failed, outbox.c.state == ItemState.PENDING.value)
            .values(
                attempts=outbox.c.attempts + 1,
                last_error=(outcome.error or "unknown error")[:1000],
                last_attempt_at=now,
                first_attempt_at=func.coalesce(outbox.c.first_attempt_at, now),
                state=(ItemState.DEAD if dead else ItemState.PENDING).value,
            )
        )
        await connection.execute(
            update(outbox_heads)
            .where(
                outbox_heads.c.dossier_code == outcome.claim.dossier_code,
                outbox_heads.c.claim_token == outcome.claim.token,
            )
            .values(
                head_id=outcome.failed,
                available_at=outcome.retry_at,
                claim_token=None,
                claimed_by=None,
                in_doubt=outcome.in_doubt,
            )
        )

    async def _advance_heads(
        self, connection: AsyncConnection, outcomes: Sequence[Outcome], now: dt.datetime
    ) -> None:
        if not outcomes:
            return
        codes = sorted({o.claim.dossier_code for o in outcomes})
        rows = await connection.execute(self._sql.next_heads, {"codes": codes})
        next_ids = {row.dossier_code: int(row.next_id) for row in rows}
        moves = [
            {
                "b_code": o.claim.dossier_code,
                "b_token": o.claim.token,
                "b_head": next_ids[code],
                "b_now": now,
            }
            for o in outcomes
            if (code := o.claim.dossier_code) in next_ids
        ]
        drops = [
            {"b_code": o.claim.dossier_code, "b_token": o.claim.token}
            for o in outcomes
            if o.claim.dossier_code not in next_ids
        ]
        if moves:
            await connection.execute(self._sql.move_heads, moves)
        if drops:
            await connection.execute(self._sql.drop_heads, drops)

    async def stats(self) -> QueueStats:
        """Items by state, heads in flight or backing off, and the oldest pending item's time."""
        now = self._clock()
        async with AsyncSession(self._engine) as session, session.begin():
            counts = dict(
                (row.state, int(row.n))
                for row in await session.execute(
                    select(outbox.c.state, func.count().label("n")).group_by(outbox.c.state)
                )
            )
            leased = await session.scalar(
                select(func.count())
                .select_from(outbox_heads)
                .where(outbox_heads.c.available_at > now, outbox_heads.c.claim_token.is_not(None))
            )
            waiting = await session.scalar(
                select(func.count())
                .select_from(outbox_heads)
                .where(outbox_heads.c.available_at > now, outbox_heads.c.claim_token.is_(None))
            )
            oldest = await session.scalar(
                select(outbox.c.created_at)
                .where(outbox.c.state == ItemState.PENDING.value)
                .order_by(outbox.c.id)
                .limit(1)
            )
        return QueueStats(
            pending=counts.get(ItemState.PENDING.value, 0),
            delivered=counts.get(ItemState.DELIVERED.value, 0),
            dead=counts.get(ItemState.DEAD.value, 0),
            in_flight=int(leased or 0),
            backing_off=int(waiting or 0),
            oldest_pending_at=oldest,
            now=now,
        )

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The dead letters, oldest first."""
        async with AsyncSession(self._engine) as session, session.begin():
            rows = await session.execute(
                select(
                    outbox.c.id,
                    outbox.c.dossier_code,
                    outbox.c.kind,
                    outbox.c.attempts,
                    outbox.c.last_error,
                    outbox.c.created_at,
                    outbox.c.last_attempt_at,
                )
                .where(outbox.c.state == ItemState.DEAD.value)
                .order_by(outbox.c.id)
                .limit(limit)
            )
            return [
                DeadLetter(
                    id=int(row.id),
                    dossier_code=row.dossier_code,
                    kind=row.kind,
                    attempts=int(row.attempts),
                    last_error=row.last_error,
                    created_at=row.created_at,
                    last_attempt_at=row.last_attempt_at,
                )
                for row in rows
            ]

    async def retry(self, item_id: int) -> None:
        """Give dead letter ``item_id`` a fresh budget and make its dossier claimable now.

        The head is marked in doubt: the worker reads back what the portal holds first (a dossier
        the portal lost is created again and its steps replayed)."""
        now = self._clock()
        async with AsyncSession(self._engine) as session, session.begin():
            code = await session.scalar(
                update(outbox)
                .where(outbox.c.id == item_id, outbox.c.state == ItemState.DEAD.value)
                .values(state=ItemState.PENDING.value, attempts=0, first_attempt_at=None)
                .returning(outbox.c.dossier_code)
            )
            if code is None:
                raise OutboxItemNotFound(item_id, ItemState.DEAD.value)
            head = _insert_for(session)(outbox_heads).values(
                dossier_code=code, head_id=item_id, available_at=now, in_doubt=True
            )
            await session.execute(
                head.on_conflict_do_update(
                    index_elements=["dossier_code"],
                    set_={
                        "head_id": item_id,
                        "available_at": now,
                        "claim_token": None,
                        "in_doubt": True,
                    },
                )
            )

    async def retry_all(self) -> int:
        """Retry every dead letter (their heads in doubt, as ``retry``); return how many."""
        now = self._clock()
        async with AsyncSession(self._engine) as session, session.begin():
            result = await session.execute(
                update(outbox)
                .where(outbox.c.state == ItemState.DEAD.value)
                .values(state=ItemState.PENDING.value, attempts=0, first_attempt_at=None)
                .returning(outbox.c.id)
            )
            count = len(result.all())
            await session.execute(
                update(outbox_heads)
                .where(outbox_heads.c.available_at.is_(None))
                .values(available_at=now, claim_token=None, claimed_by=None, in_doubt=True)
            )
        return count


async def mark_in_doubt(session: AsyncSession, dossier_code: str) -> None:
    """Have the next worker read back ``dossier_code`` from the portal before sending (the caller
    has just enqueued an item for it, so its head exists)."""
    await session.execute(
        update(outbox_heads)
        .where(outbox_heads.c.dossier_code == dossier_code)
        .values(in_doubt=True)
    )


async def _histories(
    connection: AsyncConnection, sql: _Statements, codes: list[str]
) -> dict[str, tuple[tuple[dict[str, Any], ...], int | None]]:
    """Per dossier: the events whose steps the portal acknowledged, and the registered status."""
    acknowledged = {
        (row.dossier_code, row.idempotency_key)
        for row in await connection.execute(sql.acknowledged, {"codes": codes})
    }
    events: dict[str, list[dict[str, Any]]] = {code: [] for code in codes}
    registered: dict[str, int] = {}
    for row in await connection.execute(sql.events, {"codes": codes}):
        payload = dict(row.payload)
        registered.setdefault(row.dossier_code, int(row.previous_status))
        key = f"{row.dossier_code}#{payload.get('sequence')}"
        if (row.dossier_code, key) in acknowledged:
            events[row.dossier_code].append(payload)
    return {code: (tuple(events[code]), registered.get(code)) for code in codes}


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=int(row.id),
        dossier_code=row.dossier_code,
        kind=DeliveryKind(row.kind),
        payload=dict(row.payload),
        idempotency_key=row.idempotency_key,
        attempts=int(row.attempts),
        created_at=row.created_at,
        first_attempt_at=row.first_attempt_at,
    )


__all__ = [
    "Claim",
    "DeadLetter",
    "DeliveryKind",
    "ItemState",
    "NewDelivery",
    "OutboxItem",
    "Outcome",
    "QueueStats",
    "SqlOutbox",
    "any_of",
    "enqueue",
    "enqueue_many",
    "mark_in_doubt",
]
