"""``lienthong report timeliness``: the on-time report from the store, as a table, CSV or JSON."""

from __future__ import annotations

import asyncio
import json

import click

from lienthong.options import command_settings, existing_store, store_options
from schemas.times import utc_now
from store.db import create_engine, create_sessionmaker
from timeliness.errors import InvalidReportQuery
from timeliness.report import (
    REPORT_COLUMNS,
    GroupBy,
    Report,
    ReportQuery,
    report_csv,
    timeliness_report,
)


@click.group()
def report() -> None:
    """Reports computed by the database."""


@report.command("timeliness")
@click.option("--from", "start", required=True, help="First day of receipt (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day of receipt (YYYY-MM-DD).")
@click.option(
    "--group-by",
    type=click.Choice([g.value for g in GroupBy]),
    default=GroupBy.AGENCY.value,
    show_default=True,
)
@click.option("--sector", "sectors", multiple=True, help="Only these sectors (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--count-paused", is_flag=True, help="Paused time counts against the agency.")
@store_options
def timeliness(
    start: str,
    end: str,
    group_by: str,
    sectors: tuple[str, ...],
    fmt: str,
    count_paused: bool,
) -> None:
    """Dossiers received FROM..TO: resolved early, on time, late; open and overdue; rates."""
    try:
        query = ReportQuery.parse(start, end, group_by, list(sectors) or None)
    except InvalidReportQuery as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.field.replace('_', '-')}") from exc
    url = existing_store(command_settings().settings)
    result = asyncio.run(_run(url, query, count_paused))
    click.echo(render(result, fmt), nl=False)


async def _run(url: str, query: ReportQuery, count_paused: bool) -> Report:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await timeliness_report(
                session, query, utc_now(), counts_paused_time=count_paused
            )
    finally:
        await engine.dispose()


def render(result: Report, fmt: str) -> str:
    """The report as ``table``, ``csv`` or ``json`` text."""
    rows = [r.as_dict() for r in [*result.rows, result.total]]
    if fmt == "json":
        document = {
            "from_date": result.query.start.isoformat(),
            "to_date": result.query.end.isoformat(),
            "group_by": result.query.group_by.value,
            "computed_at": result.now.isoformat(),
            "rows": rows[:-1],
            "total": rows[-1],
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return report_csv(result)
    cells = [[_cell(row[c]) for c in REPORT_COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(REPORT_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(REPORT_COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2%}"
    return str(value)
