"""The apology the one-stop-shop rules require when a dossier runs late.

When an open dossier passes its due instant (or, if configured, comes within the at-risk
window) :func:`draft_apologies` writes a draft *phiếu xin lỗi và hẹn lại ngày trả kết quả* with
a proposed new appointment: ``extension_working_days`` working days after today (or after the
old due day, if that is later), at closing time. The one-stop shop lists the drafts, confirms
one (:func:`confirm_apology`, optionally with another date) and prints it
(``timeliness.apology_pdf``). Confirming moves the dossier's due date in the same transaction
as the dossier write that sends it to the portal (``NgayHenTra``). One apology per due date: a
dossier that runs late again after a confirmed apology gets a new draft.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.errors import SchemaError
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from store.deadline_rules import DeadlineRules
from store.dossier_batch import DossierWrite, PutDossier, record_writes
from store.dossiers import get_dossier
from store.errors import StoreError
from store.tables.dossiers import apologies, dossiers
from timeliness.classify import Classifier, TimelinessClass
from timeliness.errors import (
    ApologyAlreadyDecided,
    ApologyNotFound,
    InvalidAppointment,
)

DEFAULT_REASON = "Hồ sơ chưa được giải quyết trong thời hạn quy định."
_OPEN = [
    int(s)
    for s in DossierStatus
    if s
    not in {
        DossierStatus.REFUSED,
        DossierStatus.WITHDRAWN,
        DossierStatus.STOPPED,
        DossierStatus.PROCESSED,
        DossierStatus.RESULT_DELIVERED,
    }
]


class ApologyState(StrEnum):
    """A draft waits for the one-stop shop; a confirmed one moved the due date."""

    DRAFT = "draft"
    CONFIRMED = "confirmed"


class ApologyTrigger(StrEnum):
    """What drafted the apology."""

    OVERDUE = "overdue"
    AT_RISK = "at_risk"


@dataclass(frozen=True, slots=True)
class Apology:
    """One apology record."""

    id: int
    dossier_code: str
    state: ApologyState
    trigger: ApologyTrigger
    original_due_at: datetime
    proposed_due_at: datetime
    reason: str | None
    created_at: datetime
    confirmed_at: datetime | None
    confirmed_by: str | None

    @classmethod
    def from_row(cls, row: Any) -> Apology:
        """An apology from a row of ``apologies``."""
        return cls(
            id=int(row.id),
            dossier_code=row.dossier_code,
            state=ApologyState(row.state),
            trigger=ApologyTrigger(row.trigger),
            original_due_at=row.original_due_at,
            proposed_due_at=row.proposed_due_at,
            reason=row.reason,
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
            confirmed_by=row.confirmed_by,
        )


@dataclass(frozen=True)
class ApologyPolicy:
    """When apologies are drafted and which date they propose."""

    classifier: Classifier
    on_at_risk: bool = False
    extension_working_days: int = 5

    def proposed_date(self, due_at: datetime, now: datetime) -> datetime:
        """The new appointment: ``extension_working_days`` after today or the old due day."""
        calendar = self.classifier.calendar
        start = max(now.astimezone(VN_TZ).date(), due_at.astimezone(VN_TZ).date())
        return calendar.close_of(calendar.add_working_days(start, self.extension_working_days))

    def horizon(self, now: datetime) -> datetime:
        """Due instants before this may need an apology now (a cheap bound for the query)."""
        if not self.on_at_risk:
            return now
        calendar = self.classifier.calendar
        days = math.ceil(self.classifier.at_risk_hours / 8) + 1
        return calendar.close_of(calendar.add_working_days(now.astimezone(VN_TZ).date(), days))


async def draft_apologies(
    session: AsyncSession, policy: ApologyPolicy, now: datetime, *, limit: int = 1000
) -> list[Apology]:
    """Draft an apology for each open dossier that has fallen overdue (or at risk) and has
    none for its current due date; at most ``limit`` per call (call again for more)."""
    already = exists().where(
        and_(
            apologies.c.dossier_code == dossiers.c.code,
            apologies.c.original_due_at == dossiers.c.due_at,
        )
    )
    candidates = await session.execute(
        select(dossiers.c.code, dossiers.c.due_at)
        .where(
            dossiers.c.outcome.is_(None),
            dossiers.c.due_at.is_not(None),
            dossiers.c.due_at < policy.horizon(now),
            dossiers.c.status.in_(_OPEN),
            dossiers.c.paused_since.is_(None),
            ~already,
        )
        .order_by(dossiers.c.due_at)
        .limit(limit)
    )
    rows = []
    for code, due_at in candidates:
        state = policy.classifier.open_class(due_at, now)
        if state is TimelinessClass.OVERDUE:
            trigger = ApologyTrigger.OVERDUE
        elif state is TimelinessClass.AT_RISK and policy.on_at_risk:
            trigger = ApologyTrigger.AT_RISK
        else:
            continue
        rows.append(
            {
                "dossier_code": code,
                "state": ApologyState.DRAFT.value,
                "trigger": trigger.value,
                "original_due_at": due_at,
                "proposed_due_at": policy.proposed_date(due_at, now),
                "reason": DEFAULT_REASON,
                "created_at": now,
            }
        )
    if not rows:
        return []
    await session.execute(insert(apologies), rows)
    codes = [row["dossier_code"] for row in rows]
    result = await session.execute(
        select(apologies)
        .where(apologies.c.dossier_code.in_(codes), apologies.c.created_at == now)
        .order_by(apologies.c.id)
    )
    return [Apology.from_row(row) for row in result]


async def list_apologies(
    session: AsyncSession,
    *,
    dossier_code: str | None = None,
    state: ApologyState | None = None,
    sectors: Collection[str] | None = None,
    limit: int = 100,
) -> list[Apology]:
    """Apologies, newest first, of one dossier or all, in ``sectors`` when given."""
    query = select(apologies).join(dossiers, dossiers.c.code == apologies.c.dossier_code)
    if dossier_code is not None:
        query = query.where(apologies.c.dossier_code == dossier_code)
    if state is not None:
        query = query.where(apologies.c.state == state.value)
    if sectors is not None:
        query = query.where(dossiers.c.sector.in_(sorted(sectors)))
    result = await session.execute(query.order_by(apologies.c.id.desc()).limit(limit))
    return [Apology.from_row(row) for row in result]


async def get_apology(session: AsyncSession, dossier_code: str, apology_id: int) -> Apology:
    """The apology ``apology_id`` of ``dossier_code`` (``ApologyNotFound`` otherwise)."""
    row = (
        await session.execute(
            select(apologies).where(
                apologies.c.id == apology_id, apologies.c.dossier_code == dossier_code
            )
        )
    ).one_or_none()
    if row is None:
        raise ApologyNotFound(f"no apology {apology_id} for this dossier")
    return Apology.from_row(row)


async def confirm_apology(
    session: AsyncSession,
    dossier_code: str,
    apology_id: int,
    *,
    by: str,
    now: datetime,
    rules: DeadlineRules | None,
    new_due_at: datetime | None = None,
    sectors: Collection[str] | None = None,
) -> tuple[Apology, DossierWrite]:
    """Confirm a draft: the dossier's due date becomes the appointment (the proposed one or
    ``new_due_at``) and the dossier is queued for the portal, in the caller's transaction."""
    row = (
        await session.execute(
            select(apologies)
            .where(apologies.c.id == apology_id, apologies.c.dossier_code == dossier_code)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise ApologyNotFound(f"no apology {apology_id} for this dossier")
    apology = Apology.from_row(row)
    if apology.state is not ApologyState.DRAFT:
        raise ApologyAlreadyDecided(f"apology {apology_id} is already {apology.state.value}")
    appointment = new_due_at or apology.proposed_due_at
    if appointment <= apology.original_due_at or appointment <= now:
        raise InvalidAppointment("the new appointment must be later than the old one and now")
    record = await get_dossier(session, dossier_code)
    if record is None or (sectors is not None and record.dossier.sector_code not in sectors):
        raise ApologyNotFound(f"no apology {apology_id} for this dossier")
    moved = record.dossier.model_copy(
        update={"due_at": appointment, "updated_at": max(now, record.dossier.updated_at)}
    )
    (result,) = await record_writes(
        session, [PutDossier(moved, sectors, new_appointment=True)], now=None, rules=rules
    )
    if isinstance(result, (StoreError, SchemaError)):
        raise result
    assert isinstance(result, DossierWrite)
    await session.execute(
        update(apologies)
        .where(apologies.c.id == apology_id)
        .values(
            state=ApologyState.CONFIRMED.value,
            proposed_due_at=appointment,
            confirmed_at=now,
            confirmed_by=by,
        )
    )
    confirmed = replace(
        apology,
        state=ApologyState.CONFIRMED,
        proposed_due_at=appointment,
        confirmed_at=now,
        confirmed_by=by,
    )
    return confirmed, result
