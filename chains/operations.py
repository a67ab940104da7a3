"""What an operator does to chains: retry dead steps, reconcile steps with the agencies.

``retry`` gives dead steps a fresh budget and makes them claimable now: the worker reads each
back at its agency first (it was taken before), so a retry never sends a step twice.

``reconcile`` asks each agency what it holds for the steps that are not settled (pending after an
attempt, at the agency, dead) and for the done ones, and reports where the two disagree. Steps
that are not settled are made claimable now (the worker reads them back and settles what the
agency decided); a dead step the agency holds goes back to being polled. A done step the agency
does not hold is reported, never sent again on its own: what a chain produced is not redone
without a person deciding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chains.errors import StepNotRetryable
from chains.states import StepState
from chains.worker import AgencyClient
from connectors.base import CallContext
from connectors.errors import ConnectorError
from schemas.times import utc_now
from store.tables.chains import chain_steps
from sync.delivery import describe

_UNSETTLED = (
    StepState.PENDING.value,
    StepState.SUBMITTED.value,
    StepState.VERIFICATION.value,
    StepState.DEAD.value,
)


async def retry_dead(
    session: AsyncSession, dossier_code: str | None = None, *, now: dt.datetime | None = None
) -> int:
    """Make the dead steps (of one chain, or all) claimable now; return how many."""
    now = now or utc_now()
    query = (
        update(chain_steps)
        .where(chain_steps.c.state == StepState.DEAD.value)
        .values(
            state=StepState.PENDING.value,
            failures=0,
            first_attempt_at=None,
            available_at=now,
            claim_token=None,
            claimed_by=None,
        )
    )
    if dossier_code is not None:
        query = query.where(chain_steps.c.dossier_code == dossier_code)
    result = await session.execute(query)
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if dossier_code is not None and count == 0:
        raise StepNotRetryable(f"chain {dossier_code} has no dead step")
    return count


@dataclass(frozen=True, slots=True)
class Drift:
    """One step compared with its agency: what we hold, what the agency holds, what was done."""

    dossier_code: str
    step: str
    agency: str
    ours: str
    theirs: str
    action: str


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    agencies: Mapping[str, AgencyClient],
    *,
    dossier_code: str | None = None,
    limit: int = 1000,
    client_id: str = "adapter",
    clock: Callable[[], dt.datetime] = utc_now,
) -> list[Drift]:
    """Compare steps with their agencies (see the module docstring); return every comparison."""
    async with sessions() as session, session.begin():
        query = (
            select(
                chain_steps.c.id,
                chain_steps.c.dossier_code,
                chain_steps.c.name,
                chain_steps.c.agency,
                chain_steps.c.reference,
                chain_steps.c.state,
                chain_steps.c.attempts,
            )
            .where(chain_steps.c.state.in_([*_UNSETTLED, StepState.DONE.value]))
            .order_by(chain_steps.c.id)
            .limit(limit)
        )
        if dossier_code is not None:
            query = query.where(chain_steps.c.dossier_code == dossier_code)
        rows = (await session.execute(query)).all()
    found: list[Drift] = []
    for row in rows:
        if row.state == StepState.PENDING.value and not row.attempts:
            continue  # never taken to its agency: nothing to compare
        agency = agencies.get(row.agency)
        ctx = CallContext.new(client_id, issue=row.dossier_code)
        try:
            if agency is None:
                raise LookupError(row.agency)
            answer = await agency.find(row.reference, ctx)
            theirs = "absent" if answer is None else answer.state
        except (ConnectorError, LookupError) as exc:
            theirs = describe(exc) if isinstance(exc, ConnectorError) else "no connector"
            found.append(Drift(row.dossier_code, row.name, row.agency, row.state, theirs, "none"))
            continue
        action = "none"
        if row.state == StepState.DONE.value:
            action = "reported" if answer is None else "none"
        else:
            action = await _wake(sessions, row.id, row.state, answer is not None, clock())
        found.append(Drift(row.dossier_code, row.name, row.agency, row.state, theirs, action))
    return found


async def _wake(
    sessions: async_sessionmaker[AsyncSession],
    step_id: int,
    state: str,
    at_agency: bool,
    now: dt.datetime,
) -> str:
    """Make an unsettled step claimable now (not one a worker holds under a live lease)."""
    values: dict[str, object] = {"available_at": now, "claim_token": None, "claimed_by": None}
    if state == StepState.DEAD.value:
        values.update(
            state=(StepState.SUBMITTED if at_agency else StepState.PENDING).value,
            failures=0,
            first_attempt_at=None,
        )
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(chain_steps)
            .where(
                chain_steps.c.id == step_id,
                chain_steps.c.state == state,
                or_(chain_steps.c.claim_token.is_(None), chain_steps.c.available_at <= now),
            )
            .values(**values)
        )
    return "woken" if result.rowcount else "busy"  # type: ignore[attr-defined]


__all__ = ["Drift", "reconcile", "retry_dead"]
