"""``lienthong sync``: run the worker; operate the queue (status, dead letters, retry, reconcile).

Every command takes its settings as ``lienthong serve`` does (``--config``, ``LIENTHONG_*``, flags:
``--data``, ``--database-url``), names the store on its first line and never creates one.
``run`` and ``reconcile`` talk to the portal: its URL is the settings' (``--portal-url``, or the
sandbox mock on ``--mock-port``), the key folder ``--keys``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine
from tqdm import tqdm

from lienthong import bootstrap
from lienthong.logs import configure_logging
from lienthong.options import (
    OneLineError,
    command_settings,
    existing_store,
    setting_option,
    store_options,
    upstream_options,
)
from lienthong.preflight import StartupError
from lienthong.settings import Settings
from store.db import create_engine
from store.errors import OutboxItemNotFound
from store.outbox import QueueStats, SqlOutbox
from store.reconciliation import Reconciliation
from sync.backoff import RetryPolicy
from sync.errors import SyncError
from sync.reconcile import reconcile
from sync.worker import SyncWorker, WorkerSettings

_T = TypeVar("_T")

#: exit status of ``reconcile`` when some dossiers could not be looked up
EXIT_PARTIAL = 3


def _portal_login_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--portal-username``, ``--portal-password``, ``--portal-agency`` (kept from before the
    config file; the password is better set in the file or ``LIENTHONG_PORTAL_PASSWORD``)."""
    for option in (
        setting_option("--portal-agency", field="portal_agency", help="Our unit code (dstcode)."),
        setting_option("--portal-password", field="portal_password", help="Portal password."),
        setting_option("--portal-username", field="portal_username", help="Portal user."),
    ):
        func = option(func)
    return func


_message_log_option = click.option(
    "--message-log/--no-message-log",
    default=True,
    show_default=True,
    help="Record every exchange with the portal in the message log.",
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
    except (SyncError, StartupError) as exc:
        raise OneLineError(str(exc)) from exc


def _store(settings: Settings) -> str:
    return existing_store(settings)


@click.group()
def sync() -> None:
    """Operate the dossier sync queue to the National Public Service Portal."""


@sync.command("run")
@store_options
@upstream_options
@_portal_login_options
@_message_log_option
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--concurrency", default=2, show_default=True, help="Claim-and-deliver lanes.")
@click.option("--batch", default=200, show_default=True, help="Dossiers per claim.")
@click.option("--lease", default=60.0, show_default=True, help="Seconds a claim is held.")
@click.option("--max-attempts", default=500, show_default=True, help="Attempts before dead.")
@click.option(
    "--backoff-cap", default=300.0, show_default=True, help="Longest wait between attempts (s)."
)
def run_command(
    message_log: bool,
    once: bool,
    concurrency: int,
    batch: int,
    lease: float,
    max_attempts: int,
    backoff_cap: float,
) -> None:
    """Deliver the outbox to the portal until stopped (SIGINT/SIGTERM finish the batch first)."""
    loaded = command_settings()
    configure_logging(loaded.settings.log_level, loaded.settings.log_format)
    url = _store(loaded.settings)
    settings = WorkerSettings(
        dossiers_per_claim=batch,
        lease=dt.timedelta(seconds=lease),
        concurrency=concurrency,
        retry=RetryPolicy(cap=backoff_cap, max_attempts=max_attempts),
    )

    async def work(engine: AsyncEngine) -> None:
        recorder = engine if message_log else None
        async with bootstrap.portal_connector(loaded.settings, message_log=recorder) as portal:
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
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(as_json: bool) -> None:
    """Queue depth by state, dossiers in flight or backing off, the oldest pending item's age."""
    url = _store(command_settings().settings)
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
@store_options
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dead_letters_command(limit: int, as_json: bool) -> None:
    """Deliveries given up on, oldest first, with the error that ended them."""
    url = _store(command_settings().settings)
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
@store_options
@click.argument("item_id", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter.")
def retry_command(item_id: int | None, retry_all: bool) -> None:
    """Give a dead letter (or all of them) a fresh budget; its dossier resumes in order."""
    if (item_id is None) == (not retry_all):
        raise click.UsageError("give a dead letter's ID or --all (not both)")
    url = _store(command_settings().settings)
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
@store_options
@upstream_options
@_portal_login_options
@_message_log_option
@click.option("--dry-run", is_flag=True, help="Report only; enqueue nothing.")
@click.option("--concurrency", default=8, show_default=True, help="Lookups at once.")
def reconcile_command(message_log: bool, dry_run: bool, concurrency: int) -> None:
    """Compare every local dossier with the portal; mend missing dossiers, drifted fields and
    missing steps; report steps the portal holds that lienthong never sent (never deleted)."""
    settings = command_settings().settings
    url = _store(settings)
    click.echo(f"portal: {settings.resolved_portal_url}", err=True)

    async def work(engine: AsyncEngine) -> Any:
        recorder = engine if message_log else None
        async with bootstrap.portal_connector(settings, message_log=recorder) as portal:
            with tqdm(unit="dossier", desc="reconcile", leave=False) as bar:

                def total(n: int) -> None:
                    bar.total = n
                    bar.refresh()

                def advance(n: int) -> None:
                    bar.update(n)

                return await reconcile(
                    Reconciliation(engine),
                    portal,
                    dry_run=dry_run,
                    concurrency=concurrency,
                    on_total=total,
                    on_progress=advance,
                )

    report = _run(_with_engine(url, work))
    click.echo(
        f"checked {report.checked}: {report.in_sync} in sync, {report.missing} missing, "
        f"{report.behind} behind, {report.drifted} drifted, "
        f"{report.steps_missing} steps missing in {report.dossiers_missing_steps} dossiers, "
        f"{report.foreign_steps} foreign steps, {report.in_flight} still in the queue, "
        f"{report.lookup_failed} lookups failed; {report.enqueued} deliveries enqueued"
        + (" (dry run)" if dry_run else "")
    )
    for code, count in report.foreign:
        click.echo(f"foreign\t{code}\t{count} steps on the portal that lienthong never sent (kept)")
    if report.lookup_failed:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(report.failure_reasons.items()))
        click.echo(f"lookups failed: {reasons}", err=True)
        raise SystemExit(EXIT_PARTIAL)


__all__ = ["sync"]
