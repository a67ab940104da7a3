"""Procedure → processing time in working days: the table due dates are computed from.

The portal's catalogue gives each procedure's ``ThoiHanGiaiQuyet`` (working days). The store
keeps the table (``procedure_deadlines``) so every adapter process and the command line agree;
:class:`ProcedureDeadlines` is the copy in memory that the write path reads without a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.times import utc_now
from store.tables.dossiers import procedure_deadlines

#: the longest processing time believed (a catalogue value above it is refused as malformed)
MAX_WORKING_DAYS = 365


@dataclass(frozen=True, slots=True)
class ProcedureDeadline:
    """One procedure's processing time."""

    procedure_code: str
    working_days: int
    name: str | None = None
    sector_code: str | None = None


class ProcedureDeadlines:
    """Procedure code → working days, in memory; replaced whole by :meth:`replace`."""

    def __init__(self, days: Mapping[str, int] | None = None) -> None:
        self._days: dict[str, int] = dict(days or {})

    def get(self, procedure_code: str) -> int | None:
        """The procedure's processing time in working days, or None when unknown."""
        return self._days.get(procedure_code)

    def replace(self, days: Mapping[str, int]) -> None:
        """Take ``days`` as the whole table."""
        self._days = dict(days)

    def __len__(self) -> int:
        return len(self._days)


def usable(deadlines: Iterable[ProcedureDeadline]) -> list[ProcedureDeadline]:
    """The entries whose working days are believable (0 to ``MAX_WORKING_DAYS``)."""
    return [d for d in deadlines if 0 <= d.working_days <= MAX_WORKING_DAYS]


async def store_deadlines(session: AsyncSession, deadlines: Iterable[ProcedureDeadline]) -> int:
    """Insert or update ``deadlines`` in the store's table; how many were written."""
    rows = [
        {
            "procedure_code": d.procedure_code,
            "working_days": d.working_days,
            "name": d.name[:512] if d.name else None,
            "sector_code": d.sector_code,
            "updated_at": utc_now(),
        }
        for d in usable(deadlines)
    ]
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(procedure_deadlines)
    statement = statement.on_conflict_do_update(
        index_elements=["procedure_code"],
        set_={
            "working_days": statement.excluded.working_days,
            "name": statement.excluded.name,
            "sector_code": statement.excluded.sector_code,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await session.execute(statement, rows)
    return len(rows)


async def load_deadlines(session: AsyncSession) -> dict[str, int]:
    """The store's table as ``procedure code -> working days``."""
    result = await session.execute(
        select(procedure_deadlines.c.procedure_code, procedure_deadlines.c.working_days)
    )
    return {row.procedure_code: int(row.working_days) for row in result}
