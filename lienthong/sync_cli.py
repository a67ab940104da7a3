"""``lienthong sync``: run the worker; operate the queue (status, dead letters, retry, reconcile).

Every command takes ``--data DIR`` (SQLite) or ``--database-url URL`` (PostgreSQL). ``run`` and
``reconcile`` talk to the portal and take ``--portal-url`` and ``--keys``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine
from tqdm import tqdm

from lienthong.connect import DEFAULT_KEYS_DIR, DEFAULT_PORTAL_URL, PortalOptions, open_portal
from lienthong.db_cli import data_option, database_url_option, resolve_url
from store.db import create_engine
from store.errors import OutboxItemNotFound
from store.outbox import QueueStats, SqlOutbox
from sync.backoff import RetryPolicy
from sync.errors import SyncError
from sync.reconcile import reconcile
from sync.worker import SyncWorker, WorkerSettings

_T = TypeVar("_T")


def _portal_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--portal-url",
            envvar="LIENTHONG_PORTAL_URL",
            default=DEFAULT_PORTAL_URL,
            show_default=True,
            help="Base URL of the national portal (the sandbox mock by default).",
        ),
        click.option(
            "--keys",
            "keys_dir",
            envvar="LIENTHONG_KEYS_DIR",
            type=click.Path(file_okay=False, path_type=Path),
            default=DEFAULT_KEYS_DIR,
            show_default=True,
            help="Key folder (`lienthong keys init`): the adapter's key, the portal's certificate.",
        ),
        click.option("--portal-username", envvar="LIENTHONG_PORTAL_USERNAME", default="lienthong"),
        click.option("--portal-password", envvar="LIENTHONG_PORTAL_PASSWORD", default="sandbox"),
        click.option("--portal-agency", envvar="LIENTHONG_PORTAL_AGENCY", default="000.00.04.H04"),
        click.option(
            "--message-log/--no-message-log",
            default=True,
            show_default=True,
            help="Record every exchange with the portal in the message log.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(
    portal_url: str, keys_dir: Path, username: str, password: str, agency: str
) -> PortalOptions:
    return PortalOptions(
        url=portal_url, keys_dir=keys_dir, username=username, password=password, agency=agency
    )


async def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[_T]]) -> _T:
    engine = create_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _run(coroutine: Awaitable[_T]) -> _T:
    try:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def sync() -> None:
    """Operate the dossier sync queue to the National Public Service Portal."""


@sync.command("run")
@data_option
@database_url_option
@_portal_options
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--concurrency", default=2, show_default=True, help="Claim-and-deliver lanes.")
@click.option("--batch", default=200, show_default=True, help="Dossiers per claim.")
@click.option("--lease", default=60.0, show_default=True, help="Seconds a claim is held.")
@click.option("--max-attempts", default=500, show_default=True, help="Attempts before dead.")
@click.option(
    "--backoff-cap", default=300.0, show_default=True, help="Longest wait between attempts (s)."
)
def run_command(
    data_dir: str,
    database_url: str | None,
    portal_url: str,
    keys_dir: Path,
    portal_username: str,
    portal_password: str,
    portal_agency: str,
    message_log: bool,
    once: bool,
    concurrency: int,
    batch: int,
    lease: float,
    max_attempts: int,
    backoff_cap: float,
) -> None:
    """Deliver the outbox to the portal until stopped (SIGINT/SIGTERM finish the batch first)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    url = resolve_url(data_dir, database_url)
    settings = WorkerSettings(
        dossiers_per_claim=batch,
        lease=dt.timedelta(seconds=lease),
        concurrency=concurrency,
        retry=RetryPolicy(cap=backoff_cap, max_attempts=max_attempts),
    )
    options = _options(portal_url, keys_dir, portal_username, portal_password, portal_agency)

    async def work(engine: AsyncEngine) -> None:
        async with open_portal(options, message_log=engine if message_log else None) as portal:
            worker = SyncWorker(SqlOutbox(engine), portal, settings=settings)
            if once:
                result = await worker.drain()
                click.echo(
                    f"delivered {result.delivered}, retrying {result.retrying}, dead {result.dead}"
                )
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            click.echo(f"sync worker {worker.worker_id} running", err=True)
            await worker.run(stop)

    _run(_with_engine(url, work))


@sync.command("status")
@data_option
@database_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(data_dir: str, database_url: str | None, as_json: bool) -> None:
    """Queue depth by state, dossiers in flight or backing off, the oldest pending item's age."""
    url = resolve_url(data_dir, database_url)
    stats = _run(_with_engine(url, lambda engine: SqlOutbox(engine).stats()))
    if as_json:
        click.echo(json.dumps(_stats_json(stats), indent=2))
        return
    age = stats.oldest_pending_age
    click.echo(f"pending       {stats.pending}")
    click.echo(f"delivered     {stats.delivered}")
    click.echo(f"dead          {stats.dead}")
    click.echo(f"in flight     {stats.in_flight} dossiers")
    click.echo(f"backing off   {stats.backing_off} dossiers")
    click.echo(f"oldest pending {_age(age) if age is not None else '-'}")


def _stats_json(stats: QueueStats) -> dict[str, object]:
    age = stats.oldest_pending_age
    return {
        "pending": stats.pending,
        "delivered": stats.delivered,
        "dead": stats.dead,
        "in_flight": stats.in_flight,
        "backing_off": stats.backing_off,
        "oldest_pending_at": stats.oldest_pending_at.isoformat()
        if stats.oldest_pending_at
        else None,
        "oldest_pending_age_seconds": age.total_seconds() if age is not None else None,
    }


def _age(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s"


@sync.command("dead-letters")
@data_option
@database_url_option
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dead_letters_command(
    data_dir: str, database_url: str | None, limit: int, as_json: bool
) -> None:
    """Deliveries given up on, oldest first, with the error that ended them."""
    url = resolve_url(data_dir, database_url)
    letters = _run(_with_engine(url, lambda engine: SqlOutbox(engine).dead_letters(limit=limit)))
    if as_json:
        rows = [
            {
                "id": letter.id,
                "dossier_code": letter.dossier_code,
                "kind": letter.kind,
                "attempts": letter.attempts,
                "last_error": letter.last_error,
                "last_attempt_at": letter.last_attempt_at.isoformat()
                if letter.last_attempt_at
                else None,
            }
            for letter in letters
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not letters:
        click.echo("no dead letters")
        return
    for letter in letters:
        when = (
            letter.last_attempt_at.isoformat(timespec="seconds") if letter.last_attempt_at else "-"
        )
        click.echo(
            f"{letter.id}\t{letter.dossier_code}\t{letter.kind}\t"
            f"attempts={letter.attempts}\t{when}\t{letter.last_error or ''}"
        )


@sync.command("retry")
@data_option
@database_url_option
@click.argument("item_id", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter.")
def retry_command(
    data_dir: str, database_url: str | None, item_id: int | None, retry_all: bool
) -> None:
    """Give a dead letter (or all of them) a fresh budget; its dossier resumes in order."""
    if (item_id is None) == (not retry_all):
        raise click.UsageError("give a dead letter's ID or --all (not both)")
    url = resolve_url(data_dir, database_url)
    if retry_all:
        count = _run(_with_engine(url, lambda engine: SqlOutbox(engine).retry_all()))
        click.echo(f"{count} dead letters queued again")
        return
    assert item_id is not None
    try:
        _run(_with_engine(url, lambda engine: SqlOutbox(engine).retry(item_id)))
    except OutboxItemNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"dead letter {item_id} queued again")


@sync.command("reconcile")
@data_option
@database_url_option
@_portal_options
@click.option("--dry-run", is_flag=True, help="Report only; enqueue nothing.")
@click.option("--concurrency", default=8, show_default=True, help="Lookups at once.")
def reconcile_command(
    data_dir: str,
    database_url: str | None,
    portal_url: str,
    keys_dir: Path,
    portal_username: str,
    portal_password: str,
    portal_agency: str,
    message_log: bool,
    dry_run: bool,
    concurrency: int,
) -> None:
    """Compare every local dossier with the portal; enqueue what is missing, behind or drifted."""
    url = resolve_url(data_dir, database_url)
    options = _options(portal_url, keys_dir, portal_username, portal_password, portal_agency)

    async def work(engine: AsyncEngine) -> Any:
        async with open_portal(options, message_log=engine if message_log else None) as portal:
            with tqdm(unit="dossier", desc="reconcile", leave=False) as bar:

                def total(n: int) -> None:
                    bar.total = n
                    bar.refresh()

                def advance(n: int) -> None:
                    bar.update(n)

                return await reconcile(
                    engine,
                    portal,
                    dry_run=dry_run,
                    concurrency=concurrency,
                    on_total=total,
                    on_progress=advance,
                )

    report = _run(_with_engine(url, work))
    click.echo(
        f"checked {report.checked}: {report.in_sync} in sync, {report.missing} missing, "
        f"{report.behind} behind, {report.drifted} drifted, {report.in_flight} still in the queue, "
        f"{report.lookup_failed} lookups failed; {report.enqueued} deliveries enqueued"
        + (" (dry run)" if dry_run else "")
    )


__all__ = ["sync"]
