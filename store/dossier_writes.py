"""Writing one dossier change: its events, its outbox items, its feed position — in few round trips.

``write_change`` runs inside the caller's transaction, after the dossier's row was locked (or
inserted) by ``store.dossiers``. It appends the events, enqueues the deliveries (and the
dossier's outbox head when it has none), takes the next feed position and updates the dossier —
in that order, the position last. On PostgreSQL the position comes from the ``counters`` row,
whose lock is then held only until commit, and every writer takes the dossier lock before the
counter lock; on SQLite, where writers are serialised anyway, it is the highest one plus one.

On PostgreSQL all of it is one statement (data-modifying CTEs), and the store time is read with
``clock_timestamp()`` once the counter is locked; on SQLite (one writer at a time, the write lock
taken at ``BEGIN IMMEDIATE``) it is a few statements and the time is read inside the transaction.
Either way feed positions and store times grow together, which ``store.feed`` relies on.

This is the hot path of every accepted event, so its statements are built once per shape and
executed with parameters (building and cache-keying SQLAlchemy constructs per call cost more
than the database work).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    SmallInteger,
    String,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.models import DossierEvent
from schemas.status import DossierStatus
from store.outbox import DeliveryKind, ItemState
from store.tables.dossiers import FEED_COUNTER, counters, dossier_events, dossiers
from store.tables.outbox import outbox, outbox_heads
from store.types import JsonDocument, UtcDateTime, utc_now


@dataclass
class Change:
    """What one write does to a dossier: its new state, its events, its deliveries (in order)."""

    code: str
    sector: str | None
    status: int
    payload: dict[str, Any]
    last_sequence: int
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
    return await _write_sqlite(session, change, now, stamp)


def _params(change: Change, now: dt.datetime) -> dict[str, Any]:
    params: dict[str, Any] = {
        "b_code": change.code,
        "b_sector": change.sector,
        "b_status": change.status,
        "b_payload": change.payload,
        "b_last_sequence": change.last_sequence,
        "b_now": now,
        "b_pending": ItemState.PENDING.value,
    }
    for n, (event, previous) in enumerate(change.events):
        params |= {
            f"e{n}_sequence": event.sequence,
            f"e{n}_status": int(event.status),
            f"e{n}_previous": int(previous),
            f"e{n}_occurred_at": event.occurred_at,
            f"e{n}_payload": event.model_dump(mode="json"),
        }
    for n, (kind, payload, key) in enumerate(change.deliveries):
        params |= {f"i{n}_kind": kind.value, f"i{n}_payload": payload, f"i{n}_key": key}
    return params


def _event_insert(n: int) -> Insert:
    return insert(dossier_events).values(
        dossier_code=bindparam("b_code", type_=String()),
        sequence=bindparam(f"e{n}_sequence", type_=Integer()),
        status=bindparam(f"e{n}_status", type_=SmallInteger()),
        previous_status=bindparam(f"e{n}_previous", type_=SmallInteger()),
        occurred_at=bindparam(f"e{n}_occurred_at", type_=UtcDateTime()),
        recorded_at=bindparam("b_now", type_=UtcDateTime()),
        payload=bindparam(f"e{n}_payload", type_=JsonDocument),
    )


def _item_insert(n: int) -> Insert:
    return insert(outbox).values(
        dossier_code=bindparam("b_code", type_=String()),
        kind=bindparam(f"i{n}_kind", type_=String()),
        payload=bindparam(f"i{n}_payload", type_=JsonDocument),
        idempotency_key=bindparam(f"i{n}_key", type_=String()),
        state=bindparam("b_pending", type_=String()),
        attempts=0,
        created_at=bindparam("b_now", type_=UtcDateTime()),
    )


def _dossier_update(change_seq: Any, stored_at: Any) -> Update:
    return (
        update(dossiers)
        .where(dossiers.c.code == bindparam("b_code", type_=String()))
        .values(
            sector=bindparam("b_sector", type_=String()),
            status=bindparam("b_status", type_=SmallInteger()),
            payload=bindparam("b_payload", type_=JsonDocument),
            last_sequence=bindparam("b_last_sequence", type_=Integer()),
            change_seq=change_seq,
            updated_at=stored_at,
        )
    )


_NEXT_POSITION = (
    update(counters)
    .where(counters.c.name == FEED_COUNTER)
    .values(value=counters.c.value + 1)
    .returning(counters.c.value)
)


@functools.cache
def _postgres_statement(events: int, items: int, stamped: bool) -> Update:
    """One statement: events, outbox items, the head, the counter, the dossier (by shape)."""
    position = _NEXT_POSITION.cte("position")
    stored_at: ColumnElement[Any] = (
        bindparam("b_stamp", type_=UtcDateTime()) if stamped else func.clock_timestamp()
    )
    statement = _dossier_update(select(position.c.value).scalar_subquery(), stored_at)
    for n in range(events):
        statement = statement.add_cte(_event_insert(n).cte(f"event_{n}"))
    ctes = [_item_insert(n).returning(outbox.c.id).cte(f"item_{n}") for n in range(items)]
    if ctes:
        head = (
            postgresql.insert(outbox_heads)
            .from_select(
                ["dossier_code", "head_id", "available_at"],
                select(
                    bindparam("b_code", type_=String()),
                    ctes[0].c.id,
                    bindparam("b_now", type_=UtcDateTime()),
                ),
            )
            .on_conflict_do_nothing(index_elements=["dossier_code"])
        )
        statement = statement.add_cte(*ctes, head.cte("head"))
    return statement.add_cte(position).returning(dossiers.c.change_seq, dossiers.c.updated_at)


async def _write_postgres(
    session: AsyncSession, change: Change, now: dt.datetime, stamp: dt.datetime | None
) -> tuple[int, dt.datetime]:
    statement = _postgres_statement(len(change.events), len(change.deliveries), stamp is not None)
    params = _params(change, now) | ({"b_stamp": stamp} if stamp is not None else {})
    row = (await session.execute(statement, params)).one()
    return int(row.change_seq), row.updated_at


_SQLITE_EVENT = _event_insert(0)
_SQLITE_ITEMS = [_item_insert(n).returning(outbox.c.id) for n in range(4)]
_SQLITE_HEAD = (
    sqlite.insert(outbox_heads)
    .values(
        dossier_code=bindparam("b_code", type_=String()),
        head_id=bindparam("b_head", type_=Integer()),
        available_at=bindparam("b_now", type_=UtcDateTime()),
    )
    .on_conflict_do_nothing(index_elements=["dossier_code"])
)
# one writer at a time (BEGIN IMMEDIATE): the next position is simply the highest plus one
_SQLITE_DOSSIER = _dossier_update(
    select(func.coalesce(func.max(dossiers.c.change_seq), 0) + 1).scalar_subquery(),
    bindparam("b_stamp", type_=UtcDateTime()),
).returning(dossiers.c.change_seq)


async def _write_sqlite(
    session: AsyncSession, change: Change, now: dt.datetime, stamp: dt.datetime | None
) -> tuple[int, dt.datetime]:
    params = _params(change, now)
    for n in range(len(change.events)):
        event = {k.replace(f"e{n}_", "e0_"): v for k, v in params.items() if k.startswith(f"e{n}_")}
        await session.execute(_SQLITE_EVENT, params | event)
    head: int | None = None
    for n in range(len(change.deliveries)):
        item_id = await session.scalar(_SQLITE_ITEMS[n], params)
        head = head if head is not None else item_id
    if head is not None:
        await session.execute(_SQLITE_HEAD, params | {"b_head": head})
    stored_at = stamp or utc_now()  # inside BEGIN IMMEDIATE: times grow with positions
    position = await session.scalar(_SQLITE_DOSSIER, params | {"b_stamp": stored_at})
    assert position is not None
    return int(position), stored_at


__all__ = ["Change", "write_change"]
