"""``lienthong chains``: see, retry, reconcile and run inter-agency chains.

    lienthong chains status [DOSSIER] [--state S] [--limit N] [--json]
    lienthong chains retry (DOSSIER | --all)
    lienthong chains reconcile [DOSSIER]
    lienthong chains work [--once]

The store, keys and agency URLs come from the same settings as ``lienthong serve``
(``LIENTHONG_*``; ``--data``, ``--database-url`` and ``--keys`` override them). Errors are one
line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from chains.errors import ChainError
from chains.operations import reconcile, retry_dead
from chains.runtime import ChainRuntime
from chains.views import chain_codes, chain_counts, chain_view
from lienthong import bootstrap
from lienthong.settings import Settings
from store.db import create_engine, create_sessionmaker

_T = TypeVar("_T")


def _settings(data: Path | None, database_url: str | None, keys: Path | None) -> Settings:
    overrides: dict[str, Any] = {"data_dir": data, "database_url": database_url, "keys_dir": keys}
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


@asynccontextmanager
async def _runtime(settings: Settings) -> AsyncIterator[ChainRuntime]:
    await bootstrap.prepare_async(settings)
    engine = create_engine(settings.resolved_database_url, pool_size=2)
    runtime = bootstrap.chain_runtime(settings, create_sessionmaker(engine))
    try:
        yield runtime
    finally:
        for agency in runtime.agencies.values():
            await agency.aclose()  # type: ignore[attr-defined]
        await engine.dispose()


def _run(settings: Settings, work: Callable[[ChainRuntime], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        async with _runtime(settings) as runtime:
            return await work(runtime)

    try:
        return asyncio.run(main())
    except ChainError as exc:
        raise click.ClickException(exc.message) from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def _store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in (
        click.option("--keys", type=click.Path(path_type=Path), help="Key folder."),
        click.option("--database-url", help="SQLAlchemy URL of the store."),
        click.option("--data", type=click.Path(path_type=Path), help="Data folder (SQLite)."),
    ):
        command = option(command)
    return command


@click.group()
def chains() -> None:
    """See, retry, reconcile and run inter-agency chains."""


@chains.command()
@click.argument("dossier", required=False)
@click.option("--state", type=click.Choice(["running", "completed", "stopped"]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@_store_options
def status(
    dossier: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
    data: Path | None,
    database_url: str | None,
    keys: Path | None,
) -> None:
    """Counts of chains and steps by state, then each chain (or one chain's steps)."""

    async def work(runtime: ChainRuntime) -> list[dict[str, Any]] | dict[str, Any]:
        sessions = runtime.queue.sessions
        async with sessions() as session:
            codes = [dossier] if dossier else await chain_codes(session, state=state, limit=limit)
            views = [
                dataclasses.asdict(
                    await chain_view(session, code, runtime.definitions, runtime.calendar)
                )
                for code in codes
            ]
            if dossier:
                return views[0]
            counts = await chain_counts(session)
            return [{"chains": dict(counts.chains), "steps": dict(counts.steps)}, *views]

    result = _run(_settings(data, database_url, keys), work)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, default=str, indent=2))
        return
    views = [result] if isinstance(result, dict) else result[1:]
    if isinstance(result, list):
        click.echo(f"chains: {result[0]['chains']}  steps: {result[0]['steps']}")
    for view in views:
        click.echo(
            f"{view['dossier_code']}  {view['chain_id']}  {view['state']}  "
            f"due {view['due_at']}  used {view['working_days_used']}"
            f"/{view['working_days_limit']} working days" + ("  LATE" if view["late"] else "")
        )
        for step in view["steps"]:
            extra = step["result_reference"] or step["reason"] or step["last_error"] or ""
            click.echo(
                f"  {step['position']}. {step['name']:<10} {step['agency']:<16} "
                f"{step['state']:<12} {extra}"
            )


@chains.command()
@click.argument("dossier", required=False)
@click.option("--all", "every", is_flag=True, help="Retry every dead step.")
@_store_options
def retry(
    dossier: str | None,
    every: bool,
    data: Path | None,
    database_url: str | None,
    keys: Path | None,
) -> None:
    """Give dead steps a fresh budget (they are read back at their agency before any resend)."""
    if bool(dossier) == every:
        raise click.UsageError("name one chain dossier, or --all")

    async def work(runtime: ChainRuntime) -> int:
        async with runtime.queue.sessions() as session, session.begin():
            return await retry_dead(session, dossier)

    count = _run(_settings(data, database_url, keys), work)
    click.echo(f"{count} step(s) queued again")


@chains.command(name="reconcile")
@click.argument("dossier", required=False)
@_store_options
def reconcile_command(
    dossier: str | None, data: Path | None, database_url: str | None, keys: Path | None
) -> None:
    """Compare steps with what their agencies hold; wake the unsettled ones."""

    async def work(runtime: ChainRuntime) -> list[Any]:
        return await reconcile(runtime.queue.sessions, runtime.agencies, dossier_code=dossier)

    drifts = _run(_settings(data, database_url, keys), work)
    for drift in drifts:
        click.echo(
            f"{drift.dossier_code}  {drift.step:<10} {drift.agency:<16} ours={drift.ours:<12} "
            f"agency={drift.theirs:<12} {drift.action}"
        )
    reported = sum(1 for d in drifts if d.action == "reported")
    click.echo(f"{len(drifts)} step(s) compared, {reported} done here but absent at the agency")
    if reported:
        sys.exit(1)


@chains.command()
@click.option("--once", is_flag=True, help="Drain what is due now, then stop.")
@_store_options
def work(once: bool, data: Path | None, database_url: str | None, keys: Path | None) -> None:
    """Run the chain worker outside the adapter (until SIGTERM or Ctrl-C)."""

    async def run(runtime: ChainRuntime) -> int:
        worker = runtime.worker()
        if once:
            return await worker.drain()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"chain worker {worker.worker_id} running", err=True)
        await worker.run(stop)
        return 0

    settled = _run(_settings(data, database_url, keys), run)
    if once:
        click.echo(f"{settled} step(s) settled")


__all__ = ["chains"]
