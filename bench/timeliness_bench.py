"""The timeliness report over a year of a province, and whether it grows with older years.

Run: ``.venv/bin/python bench/timeliness_bench.py [--rows 1000000] [--outside 2000000]
[--backend sqlite|postgresql|both] [--dsn postgresql://root@127.0.0.1:5432/test]``

For each store it migrates a fresh database (SQLite in a temporary folder; a new PostgreSQL
database on the server ``--dsn`` names, dropped afterwards), generates ``--rows`` dossiers
received during 2026 inside the database (``generate_series`` / a recursive CTE: status, outcome,
due date and the other report columns filled as the write path fills them), and times the report
for the whole of 2026 grouped by agency, sector, procedure and month (best of three each). Then
it adds ``--outside`` dossiers received in 2023-2025 and times the same reports again: the ratio
after/before shows whether the years kept outside the range cost anything. Figures are printed
and written to ``bench/results/timeliness.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from store.db import create_engine, create_sessionmaker, normalize_url, upgrade
from timeliness.report import GroupBy, ReportQuery, timeliness_report

RESULTS = Path(__file__).parent / "results" / "timeliness.json"
NOW = dt.datetime(2027, 1, 15, tzinfo=dt.UTC)

_PG_INSERT = """
INSERT INTO dossiers (code, sector, status, payload, last_sequence, on_portal, created_at,
    updated_at, change_seq, procedure_code, agency_code, received_at, due_at, resolved_at,
    paused_working_days, outcome)
SELECT 'B' || (:offset + i), 'S' || (i % 13),
    CASE WHEN i % 10 < 7 THEN 9 WHEN i % 10 = 7 THEN 4 WHEN i % 10 = 8 THEN 7 ELSE 5 END,
    '{}'::jsonb, 0, false, t, t, :offset + i, 'P' || (i % 31), 'A' || (i % 11), t,
    t + interval '6 days',
    CASE WHEN i % 10 < 7 THEN t + (i % 9) * interval '1 day' END,
    i % 3,
    CASE WHEN i % 10 < 7 THEN 1 + (i % 3) END
FROM (SELECT i, CAST(:start AS timestamptz) + (i * :step) * interval '1 second' AS t
      FROM generate_series(1, :n) AS i) AS s
"""

_SQLITE_INSERT = """
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
INSERT INTO dossiers (code, sector, status, payload, last_sequence, on_portal, created_at,
    updated_at, change_seq, procedure_code, agency_code, received_at, due_at, resolved_at,
    paused_working_days, outcome)
SELECT 'B' || (:offset + i), 'S' || (i % 13),
    CASE WHEN i % 10 < 7 THEN 9 WHEN i % 10 = 7 THEN 4 WHEN i % 10 = 8 THEN 7 ELSE 5 END,
    '{}', 0, 0, t, t, :offset + i, 'P' || (i % 31), 'A' || (i % 11), t,
    strftime('%Y-%m-%d %H:%M:%f', t, '+6 days'),
    CASE WHEN i % 10 < 7 THEN strftime('%Y-%m-%d %H:%M:%f', t, '+' || (i % 9) || ' days') END,
    i % 3,
    CASE WHEN i % 10 < 7 THEN 1 + (i % 3) END
FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (i * :step) || ' seconds') AS t
      FROM seq)
"""


async def _fill(url: str, *, rows: int, start: dt.datetime, end: dt.datetime, offset: int) -> float:
    engine = create_engine(url)
    step = (end - start).total_seconds() / (rows + 1)
    began = time.perf_counter()
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(
                    text(_PG_INSERT),
                    {"n": rows, "offset": offset, "start": start, "step": step},
                )
            else:
                await connection.execute(
                    text(_SQLITE_INSERT),
                    {
                        "n": rows,
                        "offset": offset,
                        "start": start.strftime("%Y-%m-%d %H:%M:%S"),
                        "step": step,
                    },
                )
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE dossiers"))
        else:
            async with engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - began


async def _time_reports(url: str, repeats: int = 3) -> dict[str, Any]:
    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        sessions = create_sessionmaker(engine)
        for group in GroupBy:
            query = ReportQuery.parse("2026-01-01", "2026-12-31", group.value)
            best = float("inf")
            received = 0
            for _ in range(repeats):
                async with sessions() as session:
                    began = time.perf_counter()
                    report = await timeliness_report(session, query, NOW)
                    best = min(best, time.perf_counter() - began)
                received = report.total.received
            out[group.value] = {"seconds": round(best, 4), "received": received}
    finally:
        await engine.dispose()
    return out


async def _bench(url: str, rows: int, outside: int) -> dict[str, Any]:
    year = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC))
    older = (dt.datetime(2023, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC))
    fill_in = await _fill(url, rows=rows, start=year[0], end=year[1], offset=0)
    before = await _time_reports(url)
    fill_out = (
        await _fill(url, rows=outside, start=older[0], end=older[1], offset=rows)
        if (outside)
        else 0.0
    )
    after = await _time_reports(url) if outside else None
    result: dict[str, Any] = {
        "rows_in_range": rows,
        "rows_outside": outside,
        "fill_seconds": [round(fill_in, 1), round(fill_out, 1)],
        "report_in_range_only": before,
    }
    if after is not None:
        result["report_with_outside"] = after
        result["ratio_after_over_before"] = {
            g: round(after[g]["seconds"] / before[g]["seconds"], 2) for g in before
        }
    return result


def _pg_database(dsn: str) -> tuple[str, str]:
    """A new database on the server of ``dsn``: (its DSN, the admin DSN to drop it with)."""
    import psycopg2

    name = f"bench_timeliness_{uuid.uuid4().hex[:8]}"
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return make_url(dsn).set(database=name).render_as_string(hide_password=False), dsn


def _pg_drop(admin_dsn: str, dsn: str) -> None:
    import psycopg2

    name = make_url(dsn).database
    connection = psycopg2.connect(admin_dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--outside", type=int, default=2_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--dsn", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
    }
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            url = normalize_url(Path(folder) / "data")
            upgrade(url)
            results["sqlite"] = asyncio.run(_bench(url, args.rows, args.outside))
            print("sqlite", json.dumps(results["sqlite"], indent=1))
    if args.backend in ("postgresql", "both"):
        dsn, admin = _pg_database(args.dsn)
        try:
            upgrade(dsn)
            results["postgresql"] = asyncio.run(_bench(normalize_url(dsn), args.rows, args.outside))
            print("postgresql", json.dumps(results["postgresql"], indent=1))
        finally:
            _pg_drop(admin, dsn)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
