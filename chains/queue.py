"""The chain steps as a durable queue: claim under a lease, settle what the agencies answered.

The guarantees are the dossier outbox's:

- **durable**: a step exists from the transaction that took the chain in (or settled the step
  before it); a worker killed at any point leaves it claimable again when its lease ends;
- **in order**: a chain's steps are claimable one at a time, the next only once the one before
  is done, in the transaction that records that;
- **exactly once in effect**: nothing is recorded before the agency answered; a step taken
  before (``attempts`` > 1 at its claim: a timeout, a dropped answer, a worker killed between
  the agency's answer and ``settle``) is read back at the agency by its reference before it is
  sent again — the agencies do not deduplicate;
- **retries and dead letters**: a transient failure is retried with backoff
  (``sync.backoff.RetryPolicy``), a permanent one (or an exhausted budget) makes the step
  ``dead`` until an operator retries it.

``settle`` records each outcome in one transaction with the portal progress it causes: the step's
new state, the next step made claimable with its deadline, the chain completed or stopped, and a
progress event on the chain dossier (``store.dossiers.record_event``: the dossier outbox takes it
to the portal). A claim whose lease another worker took over changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chains.deadlines import WorkingDays, due
from chains.definitions import ChainDefinition, StepDefinition
from chains.states import ACTIVE_STATES, ChainState, StepState
from connectors.agencies import AgencyAnswer
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import utc_now
from store.dossiers import get_dossier, record_dossier, record_event
from store.outbox import any_of
from store.tables.chains import chain_dossiers, chain_steps


@dataclass(frozen=True, slots=True)
class ClaimedStep:
    """A step leased to a worker, with what it needs to be sent."""

    id: int
    dossier_code: str
    chain_id: str
    position: int
    name: str
    agency: str
    action: str
    reference: str
    state: StepState
    attempts: int
    failures: int
    first_attempt_at: dt.datetime | None
    token: str
    subject: Mapping[str, Any]
    results: Mapping[str, Mapping[str, Any]]

    @property
    def taken_before(self) -> bool:
        """Whether a worker took this step to its agency before (read back before resending)."""
        return self.attempts > 1 or self.state is not StepState.PENDING


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What became of a claimed step: the agency's answer, or a failure to get one.

    ``retry_at`` None with an ``error`` makes the step dead.
    """

    step: ClaimedStep
    answer: AgencyAnswer | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SettleFigures:
    """What one ``settle`` changed."""

    done: int = 0
    refused: int = 0
    waiting_at_agency: int = 0
    retrying: int = 0
    dead: int = 0
    lost_lease: int = 0


class SqlChainQueue:
    """Claims and settles chain steps on the store (SQLite or PostgreSQL)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        definitions: Mapping[str, ChainDefinition],
        calendar: WorkingDays,
        *,
        poll_interval: dt.timedelta = dt.timedelta(seconds=60),
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._sessions = sessions
        self._definitions = definitions
        self._calendar = calendar
        self._poll = poll_interval
        self._clock = clock

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The sessions this queue writes with (operations share them)."""
        return self._sessions

    # --- claiming ------------------------------------------------------------------------------

    async def claim(
        self, worker: str, *, limit: int = 100, lease: dt.timedelta = dt.timedelta(seconds=60)
    ) -> list[ClaimedStep]:
        """Lease up to ``limit`` steps due now, each with its chain's filing and earlier results."""
        now = self._clock()
        token = str(uuid.uuid4())
        async with self._sessions() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            picked = select(chain_steps.c.id).where(chain_steps.c.available_at <= now)
            picked = picked.order_by(chain_steps.c.available_at).limit(limit)
            if postgres:
                picked = picked.with_for_update(skip_locked=True)
            ids = [int(i) for i in (await session.scalars(picked)).all()]
            if not ids:
                return []
            rows = (
                await session.execute(
                    update(chain_steps)
                    .where(any_of(chain_steps.c.id, "ids", postgres=postgres))
                    .values(
                        available_at=now + lease,
                        claim_token=token,
                        claimed_by=worker[:128],
                        attempts=chain_steps.c.attempts + 1,
                    )
                    .returning(*chain_steps.c),
                    {"ids": ids},
                )
            ).all()
            codes = sorted({row.dossier_code for row in rows})
            chains = {
                row.dossier_code: row
                for row in await session.execute(
                    select(
                        chain_dossiers.c.dossier_code,
                        chain_dossiers.c.chain_id,
                        chain_dossiers.c.subject,
                    ).where(any_of(chain_dossiers.c.dossier_code, "codes", postgres=postgres)),
                    {"codes": codes},
                )
            }
            results: dict[str, dict[str, dict[str, Any]]] = {code: {} for code in codes}
            for row in await session.execute(
                select(chain_steps.c.dossier_code, chain_steps.c.name, chain_steps.c.result).where(
                    any_of(chain_steps.c.dossier_code, "codes", postgres=postgres),
                    chain_steps.c.state == StepState.DONE.value,
                ),
                {"codes": codes},
            ):
                results[row.dossier_code][row.name] = dict(row.result or {})
        return [
            ClaimedStep(
                id=int(row.id),
                dossier_code=row.dossier_code,
                chain_id=chains[row.dossier_code].chain_id,
                position=int(row.position),
                name=row.name,
                agency=row.agency,
                action=row.action,
                reference=row.reference,
                state=StepState(row.state),
                attempts=int(row.attempts),
                failures=int(row.failures),
                first_attempt_at=row.first_attempt_at,
                token=token,
                subject=dict(chains[row.dossier_code].subject),
                results=results[row.dossier_code],
            )
            for row in sorted(rows, key=lambda r: (r.dossier_code, r.position))
        ]

    # --- settling ------------------------------------------------------------------------------

    async def settle(self, outcomes: Sequence[StepOutcome]) -> SettleFigures:
        """Record every outcome and the progress it causes, in one transaction."""
        if not outcomes:
            return SettleFigures()
        now = self._clock()
        counts: dict[str, int] = {}
        async with self._sessions() as session, session.begin():
            for outcome in sorted(outcomes, key=lambda o: o.step.dossier_code):
                kind = await self._settle_one(session, outcome, now)
                counts[kind] = counts.get(kind, 0) + 1
        return SettleFigures(**counts)

    async def _settle_one(
        self, session: AsyncSession, outcome: StepOutcome, now: dt.datetime
    ) -> str:
        step = outcome.step
        definition = self._definitions[step.chain_id]
        spec = definition.steps[step.position - 1]
        answer = outcome.answer
        if answer is None:
            dead = outcome.retry_at is None
            changed = await self._update_step(
                session,
                step,
                state=(StepState.DEAD if dead else step.state).value,
                available_at=outcome.retry_at,
                failures=step.failures + 1,
                first_attempt_at=step.first_attempt_at or now,
                last_error=(outcome.error or "unknown error")[:1000],
            )
            return "lost_lease" if not changed else "dead" if dead else "retrying"
        if answer.state == "issued":
            result = dict(answer.result or {})
            reference = result.get(spec.reference)
            if not await self._update_step(
                session,
                step,
                state=StepState.DONE.value,
                available_at=None,
                failures=0,
                first_attempt_at=None,
                last_error=None,
                result=result,
                result_ref=None if reference is None else str(reference)[:128],
                finished_at=now,
            ):
                return "lost_lease"
            await self._after_done(session, definition, spec, step, reference, now)
            return "done"
        if answer.state == "refused":
            reason = (answer.reason or "refused without a reason")[:1000]
            if not await self._update_step(
                session,
                step,
                state=StepState.REFUSED.value,
                available_at=None,
                failures=0,
                first_attempt_at=None,
                last_error=None,
                reason=reason,
                finished_at=now,
            ):
                return "lost_lease"
            await self._after_refusal(session, definition, spec, step, reason, now)
            return "refused"
        # processing or verification: the agency has it and decides later; ask again then
        state = StepState.VERIFICATION if answer.state == "verification" else StepState.SUBMITTED
        values: dict[str, Any] = {}
        if state is StepState.VERIFICATION:
            values["verification"] = True
        if not await self._update_step(
            session,
            step,
            state=state.value,
            available_at=now + self._poll,
            failures=0,
            first_attempt_at=None,
            last_error=None,
            **values,
        ):
            return "lost_lease"
        if state is StepState.VERIFICATION:
            await self._verification(session, definition, spec, step, now)
        if state is not step.state:
            text = "đang xác minh" if state is StepState.VERIFICATION else "đã tiếp nhận"
            await self._progress(session, step.dossier_code, _note(spec, text), now)
        return "waiting_at_agency"

    async def _update_step(self, session: AsyncSession, step: ClaimedStep, **values: Any) -> bool:
        """Update the claimed step if its lease is still ours; False when it was taken over."""
        result = await session.execute(
            update(chain_steps)
            .where(chain_steps.c.id == step.id, chain_steps.c.claim_token == step.token)
            .values(claim_token=None, claimed_by=None, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _after_done(
        self,
        session: AsyncSession,
        definition: ChainDefinition,
        spec: StepDefinition,
        step: ClaimedStep,
        reference: Any,
        now: dt.datetime,
    ) -> None:
        done = f"đã có kết quả, số {reference}" if reference is not None else "đã có kết quả"
        await self._progress(session, step.dossier_code, _note(spec, done), now)
        if step.position == len(definition.steps):
            await session.execute(
                update(chain_dossiers)
                .where(chain_dossiers.c.dossier_code == step.dossier_code)
                .values(state=ChainState.COMPLETED.value, finished_at=now, updated_at=now)
            )
            await self._progress(
                session,
                step.dossier_code,
                "Liên thông hoàn thành: mọi bước đã có kết quả",
                now,
                status=DossierStatus.PROCESSED,
            )
            return
        following = definition.steps[step.position]
        await session.execute(
            update(chain_steps)
            .where(
                chain_steps.c.dossier_code == step.dossier_code,
                chain_steps.c.position == step.position + 1,
                chain_steps.c.state == StepState.WAITING.value,
            )
            .values(
                state=StepState.PENDING.value,
                available_at=now,
                started_at=now,
                due_at=due(
                    self._calendar, now, following.limit(verification=False), definition.cutoff
                ),
            )
        )
        await session.execute(
            update(chain_dossiers)
            .where(chain_dossiers.c.dossier_code == step.dossier_code)
            .values(updated_at=now)
        )

    async def _after_refusal(
        self,
        session: AsyncSession,
        definition: ChainDefinition,
        spec: StepDefinition,
        step: ClaimedStep,
        reason: str,
        now: dt.datetime,
    ) -> None:
        await session.execute(
            update(chain_steps)
            .where(
                chain_steps.c.dossier_code == step.dossier_code,
                chain_steps.c.position > step.position,
            )
            .values(state=StepState.NOT_REACHED.value, available_at=None)
        )
        await session.execute(
            update(chain_dossiers)
            .where(chain_dossiers.c.dossier_code == step.dossier_code)
            .values(
                state=ChainState.STOPPED.value,
                stopped_step=step.name,
                stopped_reason=reason,
                finished_at=now,
                updated_at=now,
            )
        )
        kept = (
            await session.execute(
                select(chain_steps.c.name, chain_steps.c.result_ref)
                .where(
                    chain_steps.c.dossier_code == step.dossier_code,
                    chain_steps.c.state == StepState.DONE.value,
                )
                .order_by(chain_steps.c.position)
            )
        ).all()
        earlier = "; ".join(
            f"{definition.step(row.name).title} số {row.result_ref}" for row in kept
        )
        note = f"Liên thông dừng ở bước {spec.title}: {reason}"
        if earlier:
            note += f". Kết quả đã có, giữ nguyên: {earlier}"
        await self._progress(session, step.dossier_code, note, now, status=DossierStatus.STOPPED)

    async def _verification(
        self,
        session: AsyncSession,
        definition: ChainDefinition,
        spec: StepDefinition,
        step: ClaimedStep,
        now: dt.datetime,
    ) -> None:
        """An agency asked for verification: the step's and the chain's deadlines move."""
        started = await session.scalar(
            select(chain_steps.c.started_at).where(chain_steps.c.id == step.id)
        )
        if started is not None:
            await session.execute(
                update(chain_steps)
                .where(chain_steps.c.id == step.id)
                .values(
                    due_at=due(
                        self._calendar,
                        started,
                        spec.limit(verification=True),
                        definition.cutoff,
                    )
                )
            )
        chain = (
            await session.execute(
                select(chain_dossiers.c.received_at, chain_dossiers.c.verification).where(
                    chain_dossiers.c.dossier_code == step.dossier_code
                )
            )
        ).one()
        if chain.verification:
            return
        due_at = self._calendar.due_at(
            chain.received_at, definition.limit(verification=True), definition.cutoff
        )
        await session.execute(
            update(chain_dossiers)
            .where(chain_dossiers.c.dossier_code == step.dossier_code)
            .values(verification=True, due_at=due_at, updated_at=now)
        )
        record = await get_dossier(session, step.dossier_code)
        if record is not None:
            moved = record.dossier.model_copy(update={"due_at": due_at, "updated_at": now})
            await record_dossier(session, Dossier.model_validate(moved.model_dump()), now=now)

    async def _progress(
        self,
        session: AsyncSession,
        dossier_code: str,
        note: str,
        now: dt.datetime,
        *,
        status: DossierStatus = DossierStatus.PROCESSING,
    ) -> None:
        """A progress step on the chain dossier, queued for the portal in this transaction."""
        event = DossierEvent(
            dossier_code=dossier_code, sequence=1, status=status, occurred_at=now, note=note
        )
        await record_event(session, event, assign_sequence=True, now=now)


def _note(spec: StepDefinition, text: str) -> str:
    return f"{spec.title} ({spec.agency}): {text}"


__all__ = ["ACTIVE_STATES", "ClaimedStep", "SettleFigures", "SqlChainQueue", "StepOutcome"]
