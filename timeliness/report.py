"""The timeliness report: per agency, sector, procedure or month, how many dossiers received in
a period were resolved early, on time or late, and how many are still open past their due date.

One aggregate query over ``ix_dossiers_timeliness`` (``received_at`` first, then every column
the query reads), so the database reads only the index entries of the range asked for: the
time grows with the dossiers in the range, not with the years kept outside it. Nothing is
loaded into Python but one row per group.

Counted per group, over the dossiers *received* in ``[from, to]`` (Vietnam dates, inclusive):
``received``; ``early``, ``on_time``, ``late`` (resolved, by the stored outcome); ``resolved``
(their sum); ``open`` (not resolved, refused, withdrawn nor stopped); ``open_overdue`` (open,
due before ``now``, and not with the applicant unless paused time counts); ``closed``
(refused, withdrawn, stopped); and the rates ``on_time_rate`` ((early + on time) / resolved,
the figure provinces are scored on), ``early_rate`` and ``late_rate``; a rate with nothing
resolved is null.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from schemas.times import VN_TZ
from store.deadline_rules import Outcome
from store.tables.dossiers import dossiers
from timeliness.errors import InvalidReportQuery

#: the longest period one report covers
MAX_SPAN_DAYS = 366 * 5 + 1
_CLOSED = (3, 7, 8)
_NOT_OPEN = (3, 7, 8, 9, 10)
_NOT_OVERDUE = (*_NOT_OPEN, 5, 6)


class GroupBy(StrEnum):
    """What the report's rows are."""

    AGENCY = "agency"
    SECTOR = "sector"
    PROCEDURE = "procedure"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A checked request for the report."""

    start: date
    end: date
    group_by: GroupBy
    sectors: frozenset[str] | None = None

    @classmethod
    def parse(
        cls,
        start: str | None,
        end: str | None,
        group_by: str | None,
        sectors: Collection[str] | None = None,
    ) -> ReportQuery:
        """Check the raw parameters (``InvalidReportQuery`` naming the bad one)."""
        first = _date(start, "from")
        last = _date(end, "to")
        if last < first:
            raise InvalidReportQuery("`to` is before `from`", field="to")
        if (last - first).days > MAX_SPAN_DAYS:
            raise InvalidReportQuery("the period is longer than five years", field="to")
        try:
            grouping = GroupBy(group_by or GroupBy.AGENCY.value)
        except ValueError:
            choices = "|".join(g.value for g in GroupBy)
            raise InvalidReportQuery(
                f"group_by must be one of {choices}", field="group_by"
            ) from None
        return cls(first, last, grouping, frozenset(sectors) if sectors is not None else None)

    @property
    def lower(self) -> datetime:
        """The first instant of the period (midnight of ``start`` in Vietnam)."""
        return datetime.combine(self.start, time(0), tzinfo=VN_TZ)

    @property
    def upper(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=VN_TZ)


def _date(value: str | None, field: str) -> date:
    if not value:
        raise InvalidReportQuery(f"`{field}` is required (YYYY-MM-DD)", field=field)
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidReportQuery(f"`{field}` must be a date YYYY-MM-DD", field=field) from None
    if not 1976 <= parsed.year <= 2199:
        raise InvalidReportQuery(f"`{field}` is out of range", field=field)
    return parsed


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group's counts and rates."""

    key: str
    received: int
    resolved: int
    early: int
    on_time: int
    late: int
    open: int
    open_overdue: int
    closed: int

    @property
    def on_time_rate(self) -> float | None:
        """(early + on time) / resolved."""
        return (self.early + self.on_time) / self.resolved if self.resolved else None

    @property
    def early_rate(self) -> float | None:
        """early / resolved."""
        return self.early / self.resolved if self.resolved else None

    @property
    def late_rate(self) -> float | None:
        """late / resolved."""
        return self.late / self.resolved if self.resolved else None

    def as_dict(self) -> dict[str, Any]:
        """The counts and the rates (rounded to 4 places), for JSON and CSV."""
        out: dict[str, Any] = asdict(self)
        for name in ("on_time_rate", "early_rate", "late_rate"):
            rate = getattr(self, name)
            out[name] = round(rate, 4) if rate is not None else None
        return out


@dataclass(frozen=True, slots=True)
class Report:
    """The report: its query, when it was computed, one row per group and the total."""

    query: ReportQuery
    now: datetime
    rows: list[ReportRow]
    total: ReportRow


def _key(group_by: GroupBy, dialect: str) -> ColumnElement[Any]:
    if group_by is GroupBy.AGENCY:
        return dossiers.c.agency_code
    if group_by is GroupBy.SECTOR:
        return dossiers.c.sector
    if group_by is GroupBy.PROCEDURE:
        return dossiers.c.procedure_code
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Ho_Chi_Minh", dossiers.c.received_at), "YYYY-MM")
    # SQLite keeps UTC text; Vietnam has kept UTC+07:00 since 1975, a fixed offset
    return func.strftime("%Y-%m", dossiers.c.received_at, "+7 hours")


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def report_statement(
    query: ReportQuery, now: datetime, dialect: str, *, counts_paused_time: bool = False
) -> Any:
    """The one aggregate statement of the report (for ``EXPLAIN`` as much as for running).

    An open dossier the applicant holds (documents requested, fees due) is not overdue unless
    paused time counts against the agency: its due date moves with the pause.
    """
    key = _key(query.group_by, dialect).label("key")
    outcome = dossiers.c.outcome
    is_open = dossiers.c.status.not_in(_NOT_OPEN)
    may_be_overdue = is_open if counts_paused_time else dossiers.c.status.not_in(_NOT_OVERDUE)
    statement = (
        select(
            key,
            func.count().label("received"),
            _count(outcome == int(Outcome.EARLY)).label("early"),
            _count(outcome == int(Outcome.ON_TIME)).label("on_time"),
            _count(outcome == int(Outcome.LATE)).label("late"),
            _count(is_open).label("open"),
            _count(may_be_overdue & (dossiers.c.due_at < now)).label("open_overdue"),
            _count(dossiers.c.status.in_(_CLOSED)).label("closed"),
        )
        .where(dossiers.c.received_at >= query.lower, dossiers.c.received_at < query.upper)
        .group_by(key)
        .order_by(key)
    )
    if query.sectors is not None:
        statement = statement.where(dossiers.c.sector.in_(sorted(query.sectors)))
    return statement


async def timeliness_report(
    session: AsyncSession, query: ReportQuery, now: datetime, *, counts_paused_time: bool = False
) -> Report:
    """Run the report in the database (see the module docstring)."""
    dialect = session.get_bind().dialect.name
    statement = report_statement(query, now, dialect, counts_paused_time=counts_paused_time)
    result = await session.execute(statement)
    rows = []
    for row in result:
        early, on_time, late = int(row.early), int(row.on_time), int(row.late)
        rows.append(
            ReportRow(
                key=str(row.key) if row.key is not None else "",
                received=int(row.received),
                resolved=early + on_time + late,
                early=early,
                on_time=on_time,
                late=late,
                open=int(row.open),
                open_overdue=int(row.open_overdue),
                closed=int(row.closed),
            )
        )
    total = ReportRow(
        key="total",
        **{
            field: sum(getattr(r, field) for r in rows)
            for field in (
                "received",
                "resolved",
                "early",
                "on_time",
                "late",
                "open",
                "open_overdue",
                "closed",
            )
        },
    )
    return Report(query=query, now=now, rows=rows, total=total)


#: the columns of a report's CSV and table, in order
REPORT_COLUMNS: tuple[str, ...] = (
    "key",
    "received",
    "resolved",
    "early",
    "on_time",
    "late",
    "open",
    "open_overdue",
    "closed",
    "on_time_rate",
    "early_rate",
    "late_rate",
)


def report_csv(report: Report) -> str:
    """The report as CSV: one line per group, then the total (rates as fractions)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.as_dict() for r in [*report.rows, report.total])
    return out.getvalue()
