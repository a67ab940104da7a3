"""Taking a chain dossier in, once: the dossier for the portal, the chain, its steps, together.

``take_in`` runs in the caller's transaction. It registers the chain dossier as a dossier
(``store.dossiers.record_dossier``: the portal gets it through the dossier outbox), records the
filing and the chain's deadline, and writes every step: the first one claimable at once, the
others waiting for the one before. The same filing sent again (a client retrying after a lost
answer) changes nothing and says so; a different filing under the same dossier code is a
``ChainConflict``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from chains.deadlines import WorkingDays, due
from chains.definitions import ChainDefinition
from chains.errors import ChainConflict, InvalidFiling
from chains.states import ChainState, StepState
from schemas.errors import SchemaError
from schemas.models import Dossier
from schemas.status import DossierStatus
from schemas.times import utc_now
from store.dossiers import get_dossier, record_dossier
from store.tables.chains import chain_dossiers, chain_steps

MAX_FIELD = 500


@dataclass(frozen=True, slots=True)
class ChainFiling:
    """The one filing of a chain: who files, when it was received, what the steps need."""

    chain_id: str
    dossier_code: str
    agency_code: str
    applicant_name: str
    applicant_id: str
    received_at: dt.datetime
    subject: Mapping[str, str]

    def fingerprint(self) -> str:
        """A digest of the filing (two filings are the same when their digests are)."""
        data = {
            "chain": self.chain_id,
            "agency": self.agency_code,
            "applicant_name": self.applicant_name,
            "applicant_id": self.applicant_id,
            "received_at": self.received_at.astimezone(dt.UTC).isoformat(),
            "subject": dict(sorted(self.subject.items())),
        }
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TakenIn:
    """What ``take_in`` did: ``created`` the chain, or found the same filing taken in before."""

    dossier_code: str
    created: bool
    due_at: dt.datetime


async def take_in(
    session: AsyncSession,
    definition: ChainDefinition,
    filing: ChainFiling,
    calendar: WorkingDays,
    *,
    now: dt.datetime | None = None,
) -> TakenIn:
    """Record ``filing`` as a new chain of ``definition`` (see the module docstring)."""
    now = now or utc_now()
    definition.check_subject(filing.subject)
    for name, value in filing.subject.items():
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise InvalidFiling(
                f"subject.{name} must be text of at most {MAX_FIELD} characters",
                field=f"subject.{name}",
            )
    fingerprint = filing.fingerprint()
    existing = await session.execute(
        select(chain_dossiers.c.fingerprint, chain_dossiers.c.due_at).where(
            chain_dossiers.c.dossier_code == filing.dossier_code
        )
    )
    found = existing.one_or_none()
    if found is not None:
        if found.fingerprint != fingerprint:
            raise ChainConflict("this chain dossier was taken in with a different filing")
        return TakenIn(filing.dossier_code, False, found.due_at)
    if await get_dossier(session, filing.dossier_code) is not None:
        raise ChainConflict("a dossier with this code exists and is not a chain dossier")

    due_at = calendar.due_at(
        filing.received_at, definition.limit(verification=False), definition.cutoff
    )
    dossier = _dossier(definition, filing, due_at, now)
    await record_dossier(session, dossier, now=now)
    await session.execute(
        insert(chain_dossiers).values(
            dossier_code=filing.dossier_code,
            chain_id=definition.id,
            subject=dict(filing.subject),
            fingerprint=fingerprint,
            state=ChainState.RUNNING.value,
            verification=False,
            received_at=filing.received_at,
            due_at=due_at,
            created_at=now,
            updated_at=now,
        )
    )
    first = definition.steps[0]
    await session.execute(
        insert(chain_steps),
        [
            {
                "dossier_code": filing.dossier_code,
                "position": position,
                "name": step.name,
                "agency": step.agency,
                "action": step.action,
                "sector": step.sector,
                "reference": f"{filing.dossier_code}_{step.name}",
                "state": (StepState.PENDING if step is first else StepState.WAITING).value,
                "verification": False,
                "attempts": 0,
                "failures": 0,
                "available_at": now if step is first else None,
                "started_at": filing.received_at if step is first else None,
                "due_at": (
                    due(
                        calendar,
                        filing.received_at,
                        step.limit(verification=False),
                        definition.cutoff,
                    )
                    if step is first
                    else None
                ),
            }
            for position, step in enumerate(definition.steps, start=1)
        ],
    )
    return TakenIn(filing.dossier_code, True, due_at)


def _dossier(
    definition: ChainDefinition, filing: ChainFiling, due_at: dt.datetime, now: dt.datetime
) -> Dossier:
    try:
        return Dossier(
            code=filing.dossier_code,
            procedure_code=definition.procedure_code,
            agency_code=filing.agency_code,
            sector_code=definition.sector,
            applicant_name=filing.applicant_name,
            applicant_id=filing.applicant_id,
            status=DossierStatus.ACCEPTED,
            received_at=filing.received_at,
            due_at=due_at,
            updated_at=max(now, filing.received_at),
            title=definition.title,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        loc = ".".join(str(part) for part in error.get("loc", ()))
        if isinstance(cause, SchemaError):
            raise InvalidFiling(cause.message, field=cause.field or loc or None) from exc
        raise InvalidFiling(f"invalid {loc or 'filing'}", field=loc or None) from exc


__all__ = ["ChainFiling", "TakenIn", "take_in"]
