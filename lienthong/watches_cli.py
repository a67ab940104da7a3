"""``lienthong records``: import watch lists, refresh watched records, bulk-verify citizens.

- ``import FILE``: register the watches of a CSV/JSON file (columns ``kind``, ``id``,
  ``purpose``, and optionally ``client`` and ``official``). Good rows are imported in one
  transaction, bad rows are listed with their line and reason (``--report`` writes them as CSV);
  exit 3 when some rows were rejected, 1 when the import failed and nothing was imported.
- ``refresh``: run one refresh pass (or resume the interrupted one); ``--every`` repeats it. Exit
  3 when an upstream outage cut the pass short (the next run resumes it).
- ``verify FILE``: check ``citizen_id``, ``full_name``, ``date_of_birth`` rows with the population
  database's verify-citizen operation; a CSV report of match / mismatch / invalid / error rows goes
  to ``--out`` (stdout by default), the counts to stderr; exit 3 when some rows got no answer.

Settings come from the config file, ``LIENTHONG_*`` and the flags like ``lienthong serve``'s (same
store, keys, clients, mock port); the first line names the store, which must exist (``lienthong db
upgrade``). Personal data go only to the reports asked for, never to the logs.

The code is the ``watches`` package; the group keeps its name ``records`` and every command its
name, as integrators' scripts call them.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

import store.tables  # noqa: F401 - registers every table on the metadata
from connectors.base import CallContext
from lienthong import bootstrap
from lienthong.logs import configure_logging
from lienthong.options import (
    OneLineError,
    clients_option,
    command_settings,
    existing_store,
    keys_option,
    mock_port_option,
    store_options,
)
from lienthong.preflight import StartupError, load_client_registry
from lienthong.settings import Settings
from schemas.citizen_id import validate_citizen_id
from schemas.dossier_code import validate_dossier_code
from schemas.errors import SchemaError
from schemas.times import utc_now
from store.db import create_engine, create_sessionmaker
from store.watches.watch_list import count_watched_records
from watches.errors import SourceFileError
from watches.files import read_rows
from watches.purposes import ClientWatchPolicy
from watches.rate_budget import RateBudget
from watches.refresh import RefreshReport, RefreshSettings, WatchRefresher
from watches.registration import WATCH_COLUMN_ALIASES, WATCH_COLUMNS, ImportReport, import_watches
from watches.verify import (
    VERIFY_COLUMN_ALIASES,
    VERIFY_COLUMNS,
    CitizenVerifier,
    VerifyOutcome,
    VerifyResult,
    summarise,
    verify_rows,
    write_report,
)

#: exit status when the command did its work but some rows or records need another go
EXIT_PARTIAL = 3

# --- shared options and wiring --------------------------------------------------------------


def _store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The store, key folder, clients file and mocks' port, as every command takes them."""
    for option in (mock_port_option, clients_option, keys_option, store_options):
        command = option(command)
    return command


_progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)


def _settings() -> Settings:
    """The command's settings (logs set up by them); the store named first and found migrated."""
    settings = command_settings().settings
    configure_logging(settings.log_level, settings.log_format)
    existing_store(settings)
    return settings


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the configured store (which exists: nothing is created here)."""
    engine = create_engine(settings.resolved_database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@dataclass
class _Upstreams:
    population: Any
    registry: Any


@asynccontextmanager
async def _upstreams(settings: Settings) -> AsyncIterator[_Upstreams]:
    """The population and registry connectors as ``lienthong serve`` builds them."""
    async with bootstrap.upstream_connectors(settings) as (population, registry):
        yield _Upstreams(population, registry)


@contextmanager
def _bar(total: int, unit: str, enabled: bool | None) -> Any:
    with tqdm(total=total, unit=unit, file=sys.stderr, disable=_disabled(enabled)) as bar:
        yield bar


def _disabled(enabled: bool | None) -> bool | None:
    # tqdm: None disables the bar when the stream is not a terminal
    return None if enabled is None else not enabled


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except StartupError as exc:
        raise OneLineError(str(exc)) from None
    except KeyboardInterrupt:  # pragma: no cover - interactive
        raise click.Abort() from None


# --- the group ------------------------------------------------------------------------------


@click.group()
def records() -> None:
    """Watch national records, refresh them, and bulk-verify citizens."""


@records.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--client", help="Client the rows are watched for (a 'client' column wins).")
@click.option(
    "--official",
    help="Official (VN+CCCD) accountable for citizen rows (an 'official' column wins).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rejected rows (line, kind, id, code, reason) to this CSV file.",
)
@_store_options
@_progress_option
def import_command(
    file: Path,
    client: str | None,
    official: str | None,
    report_path: Path | None,
    progress: bool | None,
) -> None:
    """Register the watches listed in FILE (CSV with a header row, or JSON)."""
    try:
        rows = read_rows(file, required=WATCH_COLUMNS, aliases=WATCH_COLUMN_ALIASES)
    except SourceFileError as exc:
        raise click.ClickException(f"{exc}; nothing was imported") from exc
    settings = _settings()

    async def run() -> ImportReport:
        policy = ClientWatchPolicy(load_client_registry(settings))
        async with _store(settings) as sessions:
            with _bar(len(rows), "row", progress) as bar:
                return await import_watches(
                    sessions,
                    rows,
                    policy=policy,
                    default_client=client,
                    default_official=official,
                    now=utc_now(),
                    on_progress=bar.update,
                )

    try:
        report = _run(run())
    except click.ClickException:
        raise
    except Exception as exc:
        # the type only: a database error's text can hold the rows' values
        raise click.ClickException(
            f"the import failed ({type(exc).__name__}) and was rolled back: nothing was imported"
        ) from exc
    for rejected in report.rejected:
        click.echo(f"line {rejected.line}: {rejected.code}: {rejected.message}", err=True)
    if report_path is not None:
        _write_rejected(report, report_path)
    click.echo(
        f"imported {report.imported} of {report.rows} rows "
        f"({report.created} new, {report.updated} updated), rejected {len(report.rejected)}"
    )
    if report.rejected:
        sys.exit(EXIT_PARTIAL)


def _write_rejected(report: ImportReport, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["line", "kind", "id", "code", "reason"])
        for row in report.rejected:
            writer.writerow([row.line, row.kind, row.record_id, row.code, row.message])


def _check_official(user_id: str | None) -> None:
    if user_id is None:
        return
    try:
        if not user_id.startswith("VN"):
            raise SchemaError("no VN prefix")
        validate_citizen_id(user_id[2:])
    except SchemaError as exc:
        raise click.BadParameter("must be VN followed by a CCCD", param_hint="--user-id") from exc


@records.command("refresh")
@_store_options
@_progress_option
@click.option(
    "--population-rate",
    type=float,
    default=20.0,
    show_default=True,
    help="Population lookups per second at most.",
)
@click.option(
    "--registry-rate",
    type=float,
    default=20.0,
    show_default=True,
    help="Registry lookups per second at most.",
)
@click.option("--batch-size", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option(
    "--user-id",
    default=None,
    help="Official (VN+CCCD) named in lookups of watches registered without one.",
)
@click.option(
    "--every",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Run a pass every N seconds until interrupted (one pass when absent).",
)
def refresh_command(
    progress: bool | None,
    population_rate: float,
    registry_rate: float,
    batch_size: int,
    concurrency: int,
    user_id: str | None,
    every: float | None,
) -> None:
    """Re-read the watched records nationally and record what changed."""
    _check_official(user_id)
    settings = _settings()
    budget = RateBudget({"population": population_rate, "registry": registry_rate})
    refresh_settings = RefreshSettings(
        batch_size=batch_size, concurrency=concurrency, user_id=user_id
    )

    async def run() -> RefreshReport:
        async with _store(settings) as sessions, _upstreams(settings) as upstreams:
            while True:
                async with sessions() as session:
                    total = await count_watched_records(session)
                with _bar(total, "record", progress) as bar:
                    refresher = WatchRefresher(
                        sessions,
                        population=upstreams.population,
                        registry=upstreams.registry,
                        budget=budget,
                        settings=refresh_settings,
                        on_progress=bar.update,
                    )
                    report = await refresher.run_once()
                click.echo(json.dumps(report.as_dict(), sort_keys=True))
                if every is None:
                    return report
                await asyncio.sleep(every)

    report = _run(run())
    if report.interrupted or report.busy:
        sys.exit(EXIT_PARTIAL)


@records.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="Where the CSV report goes (stdout by default).",
)
@click.option("--client", default=None, help="Client named in the lookups (this adapter's party).")
@click.option(
    "--user-id", required=True, help="Official accountable for the lookups (VN + their CCCD)."
)
@click.option(
    "--issue", required=True, help="Code of the registered dossier (task) the lookups serve."
)
@click.option(
    "--rate", type=float, default=50.0, show_default=True, help="Verifications per second at most."
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@_store_options
@_progress_option
def verify_command(
    file: Path,
    out: TextIO,
    client: str | None,
    user_id: str,
    issue: str,
    rate: float,
    concurrency: int,
    progress: bool | None,
) -> None:
    """Check ID + full name + date of birth rows of FILE against the population database."""
    try:
        rows = read_rows(file, required=VERIFY_COLUMNS, aliases=VERIFY_COLUMN_ALIASES)
    except SourceFileError as exc:
        raise click.ClickException(str(exc)) from exc
    _check_official(user_id)
    try:
        validate_dossier_code(issue)
    except SchemaError as exc:
        raise click.BadParameter("not a dossier code", param_hint="--issue") from exc
    settings = _settings()
    caller = client or settings.party

    def context() -> CallContext:
        return CallContext.new(caller, user_id=user_id, issue=issue)

    async def run() -> list[VerifyResult]:
        async with _upstreams(settings) as upstreams:
            with _bar(len(rows), "row", progress) as bar:
                return await verify_bulk(
                    rows, upstreams.population, context, rate, concurrency, bar.update
                )

    results = _run(run())
    write_report(results, out)
    counts = summarise(results)
    click.echo(
        ", ".join(f"{name} {count}" for name, count in counts.items()) + f" of {len(results)} rows",
        err=True,
    )
    if counts[VerifyOutcome.ERROR.value]:
        sys.exit(EXIT_PARTIAL)


async def verify_bulk(
    rows: Any,
    population: CitizenVerifier,
    context: Callable[[], CallContext],
    rate: float,
    concurrency: int,
    on_progress: Callable[[int], None] | None = None,
) -> list[VerifyResult]:
    """Bulk verification within a rate budget (the command's core, for the bench too)."""
    return await verify_rows(
        rows,
        population,
        context=context,
        budget=RateBudget({"population": rate}),
        concurrency=concurrency,
        on_progress=on_progress,
    )


__all__ = ["EXIT_PARTIAL", "records", "verify_bulk"]
