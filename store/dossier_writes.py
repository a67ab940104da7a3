"""Writing one dossier change: its events, its outbox items, its feed position — in few round trips.

``write_change`` runs inside the caller's transaction, after the dossier's row was locked (or
inserted) by ``store.dossiers``. It appends the events, enqueues the deliveries (and the
dossier's outbox head when it has none), takes the next feed position from the ``counters`` row
and updates the dossier — in that order, the counter last, so that the counter's row lock is held
only until commit and every writer takes the dossier lock before the counter lock.

On PostgreSQL all of it is one statement (data-modifying CTEs), and the store time is read with
``clock_timestamp()`` once the counter is locked; on SQLite (one writer at a time, the write lock
taken at ``BEGIN IMMEDIATE``) it is a few statements and the time is read inside the transaction.
Either way feed positions and store times grow together, which ``store.feed`` relies on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.models import DossierEvent
from schemas.status import DossierStatus
from store.outbox import DeliveryKind, ItemState
from store.tables.dossiers import FEED_COUNTER, counters, dossier_events, dossiers
from store.tables.outbox import outbox, outbox_heads
from store.types import UtcDateTime, utc_now


@dataclass
class Change:
    """What one write does to a dossier: new column values, events, deliveries (in order)."""

    code: str
    values: dict[str, Any]
    events: list[tuple[DossierEvent, DossierStatus]] = field(default_factory=list)
    deliveries: list[tuple[DeliveryKind, dict[str, Any], str]] = field(default_factory=list)


async def write_change(
    session: AsyncSession, change: Change, *, now: dt.datetime, stamp: dt.datetime | None
) -> tuple[int, dt.datetime]:
    """Apply ``change``; return the dossier's new feed position and store time.

    ``now`` times the events and deliveries; ``stamp`` forces the store time (tests), otherwise
    it is read once the feed counter is locked.
    """
    if session.get_bind().dialect.name == "postgresql":
        return await _write_postgres(session, change, now, stamp)
    return await _write_in_steps(session, change, now, stamp)


def _event_rows(change: Change, now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "dossier_code": change.code,
            "sequence": event.sequence,
            "status": int(event.status),
            "previous_status": int(previous),
            "occurred_at": event.occurred_at,
            "recorded_at": now,
            "payload": event.model_dump(mode="json"),
        }
        for event, previous in change.events
    ]


def _item_rows(change: Change, now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "dossier_code": change.code,
            "kind": kind.value,
            "payload": payload,
            "idempotency_key": key,
            "state": ItemState.PENDING.value,
            "attempts": 0,
            "created_at": now,
        }
        for kind, payload, key in change.deliveries
    ]


async def _write_postgres(
    session: AsyncSession, change: Change, now: dt.datetime, stamp: dt.datetime | None
) -> tuple[int, dt.datetime]:
    statement = update(dossiers).where(dossiers.c.code == change.code)
    if change.events:
        statement = statement.add_cte(
            insert(dossier_events).values(_event_rows(change, now)).cte("new_events")
        )
    if change.deliveries:
        items = insert(outbox).values(_item_rows(change, now)).returning(outbox.c.id).cte("items")
        head = (
            postgresql.insert(outbox_heads)
            .from_select(
                ["dossier_code", "head_id", "available_at"],
                select(
                    literal(change.code, String()),
                    func.min(items.c.id),
                    literal(now, UtcDateTime()),
                ),
            )
            .on_conflict_do_nothing(index_elements=["dossier_code"])
        )
        statement = statement.add_cte(items).add_cte(head.cte("head"))
    position = (
        update(counters)
        .where(counters.c.name == FEED_COUNTER)
        .values(value=counters.c.value + 1)
        .returning(counters.c.value)
        .cte("position")
    )
    stored_at: ColumnElement[Any] = (
        literal(stamp, UtcDateTime()) if stamp is not None else func.clock_timestamp()
    )
    result = await session.execute(
        statement.add_cte(position)
        .values(
            **change.values,
            change_seq=select(position.c.value).scalar_subquery(),
            updated_at=stored_at,
        )
        .returning(dossiers.c.change_seq, dossiers.c.updated_at)
    )
    row = result.one()
    return int(row.change_seq), row.updated_at


async def _write_in_steps(
    session: AsyncSession, change: Change, now: dt.datetime, stamp: dt.datetime | None
) -> tuple[int, dt.datetime]:
    if change.events:
        await session.execute(insert(dossier_events), _event_rows(change, now))
    first_item: int | None = None
    for row in _item_rows(change, now):
        item_id = await session.scalar(insert(outbox).values(row).returning(outbox.c.id))
        first_item = first_item if first_item is not None else item_id
    if first_item is not None:
        await session.execute(
            sqlite.insert(outbox_heads)
            .values(dossier_code=change.code, head_id=first_item, available_at=now)
            .on_conflict_do_nothing(index_elements=["dossier_code"])
        )
    position = await session.scalar(
        update(counters)
        .where(counters.c.name == FEED_COUNTER)
        .values(value=counters.c.value + 1)
        .returning(counters.c.value)
    )
    assert position is not None, "the feed counter row is missing: run `lienthong db upgrade`"
    stored_at = stamp or utc_now()
    await session.execute(
        update(dossiers)
        .where(dossiers.c.code == change.code)
        .values(**change.values, change_seq=position, updated_at=stored_at)
    )
    return int(position), stored_at


__all__ = ["Change", "write_change"]
