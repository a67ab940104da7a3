"""What purpose binding needs of a registered dossier: its sector, its persons, when it closed.

A citizen lookup (``adapter_api.issues``) and a citizen watch (``watches.purposes``) both hold
only when a dossier names the citizen; they ask here rather than read the dossiers table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables.dossiers import dossiers


@dataclass(frozen=True, slots=True)
class PurposeFacts:
    """A dossier as a purpose: its sector, the citizens it names, when it closed (if it has)."""

    sector: str | None
    persons: frozenset[str]
    closed_at: dt.datetime | None


def dossier_persons(payload: Any) -> frozenset[str]:
    """The applicant and related persons of a stored dossier's JSON (validated on the way in)."""
    if not isinstance(payload, dict):
        return frozenset()
    ids = {payload.get("applicant_id")}
    for person in payload.get("related_persons") or ():
        if isinstance(person, dict):
            ids.add(person.get("citizen_id"))
    return frozenset(i for i in ids if isinstance(i, str))


async def purpose_facts(session: AsyncSession, dossier_code: str) -> PurposeFacts | None:
    """The dossier ``dossier_code`` as a purpose, or ``None`` when it is not registered."""
    row = (
        await session.execute(
            select(dossiers.c.sector, dossiers.c.payload, dossiers.c.closed_at).where(
                dossiers.c.code == dossier_code
            )
        )
    ).first()
    if row is None:
        return None
    return PurposeFacts(row.sector, dossier_persons(row.payload), row.closed_at)


__all__ = ["PurposeFacts", "dossier_persons", "purpose_facts"]
