"""Read-only views for operators: a dossier's deliveries, the recent exchanges per upstream.

Each function takes an ``AsyncSession`` (a reader is enough) and reads no body or personal data:
delivery kinds, states and errors; exchange metadata (upstream, operation, outcome, times).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.deadline_rules import DeadlineFacts, facts_from_row
from store.tables.dossiers import dossiers
from store.tables.message_log import message_log
from store.tables.outbox import outbox

#: rows read at most for the per-upstream figures of one window
MAX_WINDOW_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a dossier to the portal, as the outbox holds it."""

    id: int
    kind: str
    idempotency_key: str
    state: str
    attempts: int
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class UpstreamFigures:
    """One upstream's exchanges within a window: how many, how many failed, how long they took."""

    upstream: str
    calls: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        """The share of calls whose outcome was not ``ok`` (0 when there were none)."""
        return self.failures / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class Exchange:
    """One logged exchange's metadata (for finding its message id)."""

    seq: int
    message_id: str
    upstream: str
    operation: str
    issue: str | None
    outcome: str
    status: int | None
    started_at: dt.datetime
    duration_ms: float


@dataclass(frozen=True, slots=True)
class OpenDossier:
    """An open dossier with a due date: where it stands, for the timeliness page."""

    code: str
    status: int
    agency_code: str | None
    sector: str | None
    facts: DeadlineFacts


async def open_due_before(
    session: AsyncSession, before: dt.datetime, *, limit: int = 200
) -> list[OpenDossier]:
    """Open dossiers (not resolved) whose due date is before ``before``, soonest due first."""
    rows = await session.execute(
        select(dossiers)
        .where(
            dossiers.c.resolved_at.is_(None),
            dossiers.c.outcome.is_(None),
            dossiers.c.due_at.is_not(None),
            dossiers.c.due_at < before,
        )
        .order_by(dossiers.c.due_at)
        .limit(limit)
    )
    return [
        OpenDossier(row.code, int(row.status), row.agency_code, row.sector, facts_from_row(row))
        for row in rows
    ]


async def deliveries(
    session: AsyncSession, dossier_code: str, *, limit: int = 200
) -> list[Delivery]:
    """The dossier's deliveries, oldest first."""
    rows = await session.execute(
        select(
            outbox.c.id,
            outbox.c.kind,
            outbox.c.idempotency_key,
            outbox.c.state,
            outbox.c.attempts,
            outbox.c.created_at,
            outbox.c.last_attempt_at,
            outbox.c.delivered_at,
            outbox.c.last_error,
        )
        .where(outbox.c.dossier_code == dossier_code)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [Delivery(**row._mapping) for row in rows]


def _percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(share * len(sorted_values)))
    return sorted_values[index]


async def upstream_figures(
    session: AsyncSession, since: dt.datetime, upstreams: list[str]
) -> list[UpstreamFigures]:
    """Per upstream, the exchanges started since ``since`` (each of ``upstreams`` listed)."""
    rows = await session.execute(
        select(
            message_log.c.upstream,
            message_log.c.outcome,
            message_log.c.started_at,
            message_log.c.finished_at,
        )
        .where(message_log.c.started_at >= since)
        .order_by(message_log.c.started_at.desc())
        .limit(MAX_WINDOW_ROWS)
    )
    durations: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    for row in rows:
        durations[row.upstream].append((row.finished_at - row.started_at).total_seconds() * 1000.0)
        if row.outcome != "ok":
            failures[row.upstream] += 1
    figures = []
    for name in sorted(set(upstreams) | set(durations)):
        values = sorted(durations.get(name, []))
        figures.append(
            UpstreamFigures(
                upstream=name,
                calls=len(values),
                failures=failures.get(name, 0),
                p50_ms=_percentile(values, 0.50),
                p95_ms=_percentile(values, 0.95),
            )
        )
    return figures


async def exchanges(
    session: AsyncSession,
    *,
    dossier_code: str | None = None,
    message_id: str | None = None,
    limit: int = 50,
) -> list[Exchange]:
    """The newest exchanges for a dossier (its ``issue``) or a message id, newest first."""
    query = (
        select(
            message_log.c.seq,
            message_log.c.message_id,
            message_log.c.upstream,
            message_log.c.operation,
            message_log.c.issue,
            message_log.c.outcome,
            message_log.c.status,
            message_log.c.started_at,
            message_log.c.finished_at,
        )
        .order_by(message_log.c.seq.desc())
        .limit(limit)
    )
    if dossier_code is not None:
        query = query.where(message_log.c.issue == dossier_code)
    if message_id is not None:
        query = query.where(message_log.c.message_id == message_id)
    return [
        Exchange(
            seq=int(row.seq),
            message_id=row.message_id,
            upstream=row.upstream,
            operation=row.operation,
            issue=row.issue,
            outcome=row.outcome,
            status=row.status,
            started_at=row.started_at,
            duration_ms=(row.finished_at - row.started_at).total_seconds() * 1000.0,
        )
        for row in await session.execute(query)
    ]


__all__ = [
    "Delivery",
    "Exchange",
    "OpenDossier",
    "UpstreamFigures",
    "deliveries",
    "exchanges",
    "open_due_before",
    "upstream_figures",
]
