"""Where a chain stands: each step's agency, state, result reference, deadline, days used.

Read models for the API (``GET /v1/chains/{dossier}``) and the command line
(``lienthong chains status``). A step's result itself (which may hold a personal identification
number) is never shown: only its reference (the certificate, registration or card number).
A caller limited to sectors (a ministry) sees only the steps of its sectors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chains.deadlines import WorkingDays, is_late, working_days_used
from chains.definitions import ChainDefinition
from chains.errors import ChainNotFound
from chains.states import StepState
from schemas.times import utc_now
from store.tables.chains import chain_dossiers, chain_steps

_NOT_STARTED = (StepState.WAITING.value, StepState.NOT_REACHED.value)


@dataclass(frozen=True, slots=True)
class StepView:
    """One step as shown to people."""

    position: int
    name: str
    title: str
    agency: str
    sector: str
    state: str
    reference: str | None
    result_reference: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    due_at: dt.datetime | None
    working_days_used: int | None
    late: bool
    verification: bool
    attempts: int
    reason: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ChainView:
    """A chain dossier as shown to people."""

    dossier_code: str
    chain_id: str
    title: str
    state: str
    received_at: dt.datetime
    due_at: dt.datetime
    working_days_limit: int
    working_days_used: int
    late: bool
    verification: bool
    finished_at: dt.datetime | None
    stopped_step: str | None
    stopped_reason: str | None
    steps: tuple[StepView, ...]


@dataclass(frozen=True, slots=True)
class ChainCounts:
    """How many chains are in each state, and steps in each state."""

    chains: Mapping[str, int]
    steps: Mapping[str, int]


async def chain_view(
    session: AsyncSession,
    dossier_code: str,
    definitions: Mapping[str, ChainDefinition],
    calendar: WorkingDays,
    *,
    sectors: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> ChainView:
    """The chain ``dossier_code``; ``ChainNotFound`` when absent or none of its steps is visible."""
    now = now or utc_now()
    chain = (
        await session.execute(
            select(chain_dossiers).where(chain_dossiers.c.dossier_code == dossier_code)
        )
    ).one_or_none()
    if chain is None or chain.chain_id not in definitions:
        raise ChainNotFound(f"no chain dossier {dossier_code}")
    definition = definitions[chain.chain_id]
    rows = (
        await session.execute(
            select(chain_steps)
            .where(chain_steps.c.dossier_code == dossier_code)
            .order_by(chain_steps.c.position)
        )
    ).all()
    steps = tuple(
        _step_view(row, definition, calendar, now)
        for row in rows
        if sectors is None or row.sector in sectors
    )
    if not steps:
        raise ChainNotFound(f"no chain dossier {dossier_code}")
    return ChainView(
        dossier_code=dossier_code,
        chain_id=chain.chain_id,
        title=definition.title,
        state=chain.state,
        received_at=chain.received_at,
        due_at=chain.due_at,
        working_days_limit=definition.limit(verification=bool(chain.verification)),
        working_days_used=working_days_used(
            calendar, chain.received_at, chain.finished_at or now, definition.cutoff
        ),
        late=is_late(chain.due_at, chain.finished_at, now),
        verification=bool(chain.verification),
        finished_at=chain.finished_at,
        stopped_step=chain.stopped_step,
        stopped_reason=chain.stopped_reason,
        steps=steps,
    )


def _step_view(
    r: Any, definition: ChainDefinition, calendar: WorkingDays, now: dt.datetime
) -> StepView:
    """``r``: a row of ``chain_steps``."""
    spec = definition.step(r.name)
    started = r.started_at
    finished = r.finished_at
    used = (
        None
        if started is None
        else working_days_used(calendar, started, finished or now, definition.cutoff)
    )
    return StepView(
        position=int(r.position),
        name=r.name,
        title=spec.title,
        agency=r.agency,
        sector=r.sector,
        state=r.state,
        reference=r.reference,
        result_reference=r.result_ref,
        started_at=started,
        finished_at=finished,
        due_at=r.due_at,
        working_days_used=used,
        late=is_late(r.due_at, finished, now),
        verification=bool(r.verification),
        attempts=int(r.attempts),
        reason=r.reason,
        last_error=r.last_error,
    )


async def chain_codes(
    session: AsyncSession, *, state: str | None = None, limit: int = 100
) -> list[str]:
    """Chain dossier codes, newest first (``state`` narrows)."""
    query = select(chain_dossiers.c.dossier_code).order_by(chain_dossiers.c.created_at.desc())
    if state is not None:
        query = query.where(chain_dossiers.c.state == state)
    return list((await session.scalars(query.limit(limit))).all())


async def chain_counts(session: AsyncSession) -> ChainCounts:
    """Chains by state and steps by state (for ``status`` and the bench)."""
    chains = {
        row.state: int(row.n)
        for row in await session.execute(
            select(chain_dossiers.c.state, func.count().label("n")).group_by(chain_dossiers.c.state)
        )
    }
    steps = {
        row.state: int(row.n)
        for row in await session.execute(
            select(chain_steps.c.state, func.count().label("n")).group_by(chain_steps.c.state)
        )
    }
    return ChainCounts(chains, steps)


__all__ = ["ChainCounts", "ChainView", "StepView", "chain_codes", "chain_counts", "chain_view"]
