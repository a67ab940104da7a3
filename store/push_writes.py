"""The write side of push: webhook deliveries and applicant notices, enqueued with the change.

``store.dossier_batch`` calls :func:`enqueue_changes` inside the transaction that records a batch
of dossier changes (the dossiers' rows are locked, in code order): each change becomes one
``push_deliveries`` row per subscription (active or paused) whose sectors hold the dossier's, with
a ``push_heads`` row for each (subscription, dossier) that had none; each status change that
matters to the applicant becomes one ``push_notices`` row. All commit with the change or not at
all. Delivery ids grow in commit order for a dossier (its row lock), which is the order a
subscriber receives them in.

:func:`enqueue_notice` adds a notice for an event that is not a status change (an apology with a
new date): the hook for whoever records such an event, in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from schemas.status import DossierStatus
from schemas.times import utc_now
from store.db import insert_ignoring
from store.tables.push import push_deliveries, push_heads, push_notices, push_subscriptions


class NoticeEvent(StrEnum):
    """An event that matters to a dossier's applicant, and so is worth a notice."""

    ACCEPTED = "accepted"
    DOCUMENTS_REQUESTED = "documents_requested"
    FEES_DUE = "fees_due"
    RESULT_READY = "result_ready"
    DELIVERED = "delivered"
    APOLOGY = "apology"


#: the statuses whose arrival is noticed, and the notice they make
NOTICE_STATUSES: Mapping[DossierStatus, NoticeEvent] = {
    DossierStatus.ACCEPTED: NoticeEvent.ACCEPTED,
    DossierStatus.MORE_DOCUMENTS_REQUESTED: NoticeEvent.DOCUMENTS_REQUESTED,
    DossierStatus.FEES_DUE: NoticeEvent.FEES_DUE,
    DossierStatus.PROCESSED: NoticeEvent.RESULT_READY,
    DossierStatus.RESULT_DELIVERED: NoticeEvent.DELIVERED,
}


class ItemState(StrEnum):
    """Where a webhook delivery or a notice is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SKIPPED = "skipped"


class SubscriptionState(StrEnum):
    """A subscription receives (active), keeps its deliveries queued (paused), or is gone."""

    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class PushChange:
    """One change of a dossier as subscribers see it (``event_type`` ``dossier.*``)."""

    dossier_code: str
    sector: str | None
    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    """A notice to enqueue: the event, and what identifies it once (``key``)."""

    dossier_code: str
    event: NoticeEvent
    key: str
    sequence: int | None = None
    extra: Mapping[str, Any] | None = None


def tracking_id(dossier_code: str, event: NoticeEvent | str, key: str) -> str:
    """The notice's tracking id: the same event always gives the same id (no personal data)."""
    digest = hashlib.sha256(f"{dossier_code}\x1f{event}\x1f{key}".encode()).hexdigest()
    return digest[:32]


def _is_postgres(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


_SUBSCRIBERS = select(push_subscriptions.c.id, push_subscriptions.c.sectors).where(
    push_subscriptions.c.state != SubscriptionState.DELETED.value
)
_INSERT_NUMBERED = insert(push_deliveries)
_INSERT_RETURNING = insert(push_deliveries).returning(
    push_deliveries.c.id, sort_by_parameter_order=True
)
_HIGHEST = select(func.max(push_deliveries.c.id))
_HEADS = insert_ignoring(push_heads, ["subscription_id", "dossier_code"])
_NOTICES = insert_ignoring(push_notices, ["tracking_id"])


async def enqueue_changes(
    connection: AsyncConnection,
    changes: Sequence[PushChange],
    notices: Sequence[NoticeRequest],
    now: dt.datetime,
) -> None:
    """Fan ``changes`` out to the subscribers of their sectors and queue ``notices``."""
    if changes:
        await _enqueue_deliveries(connection, changes, now)
    if notices:
        await connection.execute(
            _NOTICES[_is_postgres(connection)], [_notice_row(n, now) for n in notices]
        )


async def _enqueue_deliveries(
    connection: AsyncConnection, changes: Sequence[PushChange], now: dt.datetime
) -> None:
    subscribers = [
        (row.id, frozenset(row.sectors)) for row in await connection.execute(_SUBSCRIBERS)
    ]
    if not subscribers:
        return
    rows: list[dict[str, Any]] = []
    for change in changes:
        for subscription_id, sectors in subscribers:
            if change.sector is not None and change.sector in sectors:
                rows.append(
                    {
                        "subscription_id": subscription_id,
                        "dossier_code": change.dossier_code,
                        "event_type": change.event_type,
                        "payload": change.payload,
                        "state": ItemState.PENDING.value,
                        "attempts": 0,
                        "created_at": now,
                    }
                )
    if not rows:
        return
    postgres = _is_postgres(connection)
    if postgres:
        ids = [int(r.id) for r in await connection.execute(_INSERT_RETURNING, rows)]
    else:  # the only writer (BEGIN IMMEDIATE): number the rows, in order, after the highest
        last = int(await connection.scalar(_HIGHEST) or 0)
        ids = list(range(last + 1, last + 1 + len(rows)))
        for row, number in zip(rows, ids, strict=True):
            row["id"] = number
        await connection.execute(_INSERT_NUMBERED, rows)
    heads: dict[tuple[str, str], int] = {}
    for row, number in zip(rows, ids, strict=True):
        heads.setdefault((row["subscription_id"], row["dossier_code"]), number)
    await connection.execute(
        _HEADS[postgres],
        [
            {"subscription_id": sub, "dossier_code": code, "head_id": head, "available_at": now}
            for (sub, code), head in heads.items()
        ],
    )


def _notice_row(notice: NoticeRequest, now: dt.datetime) -> dict[str, Any]:
    return {
        "tracking_id": tracking_id(notice.dossier_code, notice.event, notice.key),
        "dossier_code": notice.dossier_code,
        "event": notice.event.value,
        "sequence": notice.sequence,
        "extra": dict(notice.extra or {}),
        "state": ItemState.PENDING.value,
        "channel": None,
        "attempts": 0,
        "available_at": now,
        "created_at": now,
    }


async def enqueue_notice(
    bind: AsyncSession | AsyncConnection,
    dossier_code: str,
    event: NoticeEvent,
    *,
    key: str,
    extra: Mapping[str, Any] | None = None,
    sequence: int | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Queue a notice of ``event`` (e.g. an apology with ``extra={"new_due_at": …}``).

    ``key`` names the event once (the same key again adds nothing): the tracking id is derived
    from it. Runs in the caller's transaction; returns the tracking id.
    """
    connection = await bind.connection() if isinstance(bind, AsyncSession) else bind
    request = NoticeRequest(dossier_code, event, key, sequence, extra)
    await enqueue_changes(connection, (), [request], now or utc_now())
    return tracking_id(dossier_code, event, key)


__all__ = [
    "NOTICE_STATUSES",
    "ItemState",
    "NoticeEvent",
    "NoticeRequest",
    "PushChange",
    "SubscriptionState",
    "enqueue_changes",
    "enqueue_notice",
    "tracking_id",
]
