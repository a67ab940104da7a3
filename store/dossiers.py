"""Dossiers and their events, each change recorded together with its delivery to the portal.

Every function takes an ``AsyncSession`` and leaves the transaction to its caller (the unit of
work): ``record_dossier`` or ``record_event`` and the outbox items they enqueue commit together or
not at all. Both are ``store.dossier_batch.record_writes`` with one write; the API groups the
writes of concurrent requests into one such call (``store.dossier_queue``). Writers lock
the dossier's row first (``FOR UPDATE`` on PostgreSQL; on SQLite the ``BEGIN IMMEDIATE`` of
``store.db`` already serialises writers) and take the feed counter last.

An illegal status move raises ``schemas.errors.IllegalTransition`` before anything is written.
Events carry their ``sequence``: the next one is appended; one equal to the stored event of that
sequence is a replay (nothing written, ``replayed=True``), so a client retrying after a lost
response does not record a step twice; anything else is a ``SequenceConflict``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.models import Dossier, DossierEvent
from schemas.text import STORED
from schemas.times import utc_now
from store.deadline_rules import facts_from_row
from store.dossier_batch import (
    DossierRecord,
    DossierWrite,
    EventWrite,
    PostEvent,
    PutDossier,
    Write,
    record_writes,
)
from store.errors import DossierNotFound
from store.outbox import DeliveryKind, ItemState, enqueue, mark_in_doubt
from store.tables.dossiers import dossier_events, dossiers
from store.tables.outbox import outbox


class SyncStatus(StrEnum):
    """A dossier's delivery to the portal: something waits, all delivered, or something died."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class SyncState:
    """A dossier's sync state for the API: status, counts, the last delivery and last error."""

    status: SyncStatus
    pending: int
    dead: int
    delivered: int
    last_delivered_at: dt.datetime | None
    last_error: str | None = None


async def record_dossier(
    session: AsyncSession, dossier: Dossier, *, now: dt.datetime | None = None
) -> DossierWrite:
    """Register a new dossier or update a stored one, and enqueue its ``sync_dossier`` delivery.

    A new dossier must start submitted or accepted (``InvalidInitialStatus``). An update that
    changes the status is checked against the lifecycle (``IllegalTransition``) and recorded as an
    event too, pushed before the updated dossier. ``now`` also forces the store time (tests).
    """
    result = await _one(session, PutDossier(dossier), now)
    assert isinstance(result, DossierWrite)
    return result


async def record_event(
    session: AsyncSession,
    event: DossierEvent,
    *,
    assign_sequence: bool = False,
    now: dt.datetime | None = None,
) -> EventWrite:
    """Append ``event`` to its dossier, move the dossier's status, enqueue ``push_progress``.

    With ``assign_sequence`` the event gets the dossier's next sequence whatever it carries (no
    replay detection then). Raises ``DossierNotFound``, ``IllegalTransition``, ``SequenceConflict``.
    """
    result = await _one(session, PostEvent(event, assign_sequence=assign_sequence), now)
    assert isinstance(result, EventWrite)
    return result


async def _one(session: AsyncSession, write: Write, now: dt.datetime | None) -> Any:
    (result,) = await record_writes(session, [write], now=now)
    if isinstance(result, Exception):
        raise result
    return result


async def get_dossier(session: AsyncSession, dossier_code: str) -> DossierRecord | None:
    """The stored dossier, or None."""
    row = (
        await session.execute(select(dossiers).where(dossiers.c.code == dossier_code))
    ).one_or_none()
    return None if row is None else record_from_row(row)


async def history(session: AsyncSession, dossier_code: str) -> list[DossierEvent]:
    """The dossier's events in sequence order; ``DossierNotFound`` when it is not stored."""
    rows = (
        await session.execute(
            select(dossier_events.c.payload)
            .where(dossier_events.c.dossier_code == dossier_code)
            .order_by(dossier_events.c.sequence)
        )
    ).all()
    if not rows:
        exists = await session.scalar(
            select(dossiers.c.code).where(dossiers.c.code == dossier_code)
        )
        if exists is None:
            raise DossierNotFound(dossier_code)
    return [DossierEvent.model_validate(row.payload, context=STORED) for row in rows]


async def histories(
    session: AsyncSession, dossier_codes: Iterable[str]
) -> dict[str, list[DossierEvent]]:
    """The events of many dossiers, each list in sequence order (dossiers without events absent)."""
    codes = sorted(set(dossier_codes))
    found: dict[str, list[DossierEvent]] = {}
    if not codes:
        return found
    rows = await session.execute(
        select(dossier_events.c.dossier_code, dossier_events.c.payload)
        .where(dossier_events.c.dossier_code.in_(codes))
        .order_by(dossier_events.c.dossier_code, dossier_events.c.sequence)
    )
    for row in rows:
        found.setdefault(row.dossier_code, []).append(DossierEvent.model_validate(row.payload))
    return found


async def sync_state(session: AsyncSession, dossier_code: str) -> SyncState | None:
    """The dossier's sync state, or None when nothing was ever enqueued for it."""
    return (await sync_states(session, [dossier_code])).get(dossier_code)


async def sync_states(session: AsyncSession, dossier_codes: Iterable[str]) -> dict[str, SyncState]:
    """``sync_state`` for many dossiers at once (for a feed page)."""
    codes = sorted(set(dossier_codes))
    if not codes:
        return {}
    counts: dict[str, dict[str, int]] = {}
    last_delivered: dict[str, dt.datetime] = {}
    rows = await session.execute(
        select(
            outbox.c.dossier_code,
            outbox.c.state,
            func.count().label("n"),
            func.max(outbox.c.delivered_at).label("last"),
        )
        .where(outbox.c.dossier_code.in_(codes))
        .group_by(outbox.c.dossier_code, outbox.c.state)
    )
    for row in rows:
        counts.setdefault(row.dossier_code, {})[row.state] = int(row.n)
        if row.state == ItemState.DELIVERED.value and row.last is not None:
            last_delivered[row.dossier_code] = _aware(row.last)
    errors: dict[str, str] = {}
    failing = await session.execute(
        select(outbox.c.dossier_code, outbox.c.last_error)
        .where(
            outbox.c.dossier_code.in_(codes),
            outbox.c.state.in_([ItemState.PENDING.value, ItemState.DEAD.value]),
            outbox.c.last_error.is_not(None),
        )
        .order_by(outbox.c.id)
    )
    for row in failing:
        errors.setdefault(row.dossier_code, row.last_error)
    states = {}
    for code, by_state in counts.items():
        pending = by_state.get(ItemState.PENDING.value, 0)
        dead = by_state.get(ItemState.DEAD.value, 0)
        status = (
            SyncStatus.DEAD if dead else SyncStatus.PENDING if pending else SyncStatus.DELIVERED
        )
        states[code] = SyncState(
            status=status,
            pending=pending,
            dead=dead,
            delivered=by_state.get(ItemState.DELIVERED.value, 0),
            last_delivered_at=last_delivered.get(code),
            last_error=errors.get(code),
        )
    return states


async def dossier_page(
    session: AsyncSession, *, after: str | None = None, limit: int = 500
) -> list[DossierRecord]:
    """Dossiers in code order after ``after`` (keyset pages for whole-table walks)."""
    query = select(dossiers).order_by(dossiers.c.code).limit(limit)
    if after is not None:
        query = query.where(dossiers.c.code > after)
    return [record_from_row(row) for row in await session.execute(query)]


async def count_dossiers(session: AsyncSession) -> int:
    """How many dossiers are stored."""
    return int(await session.scalar(select(func.count()).select_from(dossiers)) or 0)


async def requeue(
    session: AsyncSession, dossier_code: str, *, from_scratch: bool, now: dt.datetime | None = None
) -> int:
    """Have the worker bring the portal level with ``dossier_code`` (reconciliation); return how
    many items were enqueued (one).

    The dossier as it is now is enqueued and its head marked in doubt, so the worker first reads
    back what the portal holds, creates the dossier again if it is missing (``from_scratch``: as
    it was registered, then every step acknowledged before), pushes only the steps the portal
    lacks, and then sends the dossier as it is. Nothing is sent twice: the portal would apply a
    step sent twice twice. The feed position does not move.
    """
    now = now or utc_now()
    row = await _lock(session, dossier_code)
    if row is None:
        raise DossierNotFound(dossier_code)
    current = Dossier.model_validate(row.payload, context=STORED)
    if from_scratch:
        await session.execute(
            update(dossiers).where(dossiers.c.code == dossier_code).values(on_portal=False)
        )
    await _enqueue_dossier(session, current, now)
    await mark_in_doubt(session, dossier_code)
    return 1


# --- internals ---------------------------------------------------------------------------------


def _json(model: Dossier | DossierEvent) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _aware(value: dt.datetime) -> dt.datetime:
    # aggregates (max) bypass the column type on SQLite and may come back naive
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def _lock(session: AsyncSession, code: str) -> Any:
    result = await session.execute(
        select(dossiers).where(dossiers.c.code == code).with_for_update()
    )
    return result.one_or_none()


async def _enqueue_dossier(session: AsyncSession, dossier: Dossier, now: dt.datetime) -> None:
    await enqueue(
        session,
        dossier_code=dossier.code,
        kind=DeliveryKind.SYNC_DOSSIER,
        payload=_json(dossier),
        idempotency_key=f"{dossier.code}@{now.isoformat()}",
        now=now,
    )


def record_from_row(row: Any) -> DossierRecord:
    """A ``DossierRecord`` from a row of ``dossiers`` (for other read models such as the feed)."""
    return DossierRecord(
        dossier=Dossier.model_validate(row.payload, context=STORED),
        created_at=row.created_at,
        stored_at=row.updated_at,
        change_seq=int(row.change_seq),
        last_sequence=int(row.last_sequence),
        deadline=facts_from_row(row),
    )


__all__ = [
    "DossierRecord",
    "DossierWrite",
    "EventWrite",
    "SyncState",
    "SyncStatus",
    "count_dossiers",
    "dossier_page",
    "get_dossier",
    "histories",
    "history",
    "record_dossier",
    "record_event",
    "record_from_row",
    "requeue",
    "sync_state",
    "sync_states",
]
