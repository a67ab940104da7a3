"""``lienthong notify``: run the push workers; operate webhooks and notices.

``status`` counts webhook deliveries and notices by state (and notices by channel);
``dead-letters`` lists both kinds given up on; ``retry webhook|notice ID`` (or ``--all``) queues
them again; ``run`` delivers webhooks and sends notices until stopped (SIGINT/SIGTERM), as
``lienthong serve`` does beside the API. Every command takes ``--data DIR`` (SQLite) or
``--database-url URL``. Nothing printed carries a phone number or a name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from adapter_api.clients import ClientConfigError
from lienthong.bootstrap import load_client_registry
from lienthong.options import command_settings, existing_store, store_options
from lienthong.push_wiring import build_push
from push.errors import DeliveryNotFound, NoticeNotFound, PushError
from push.notices.outbox import SqlNotices
from push.webhooks.outbox import SqlWebhookOutbox
from security.http_signatures import HttpSigner
from security.keys import load_party
from store.db import create_engine

_T = TypeVar("_T")


async def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[_T]]) -> _T:
    engine = create_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _run(coroutine: Awaitable[_T]) -> _T:
    try:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    except (PushError, ClientConfigError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def notify() -> None:
    """Webhooks to ministries and notices to citizens: run, inspect, retry."""


@notify.command("status")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(as_json: bool) -> None:
    """Webhook deliveries by state; notices by state and channel."""
    url = existing_store(command_settings().settings)

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        webhooks = await SqlWebhookOutbox(engine).stats()
        return {
            "webhooks": {
                "pending": webhooks.pending,
                "delivered": webhooks.delivered,
                "dead": webhooks.dead,
                "in_flight": webhooks.leased,
                "backing_off": webhooks.waiting,
            },
            "notices": await SqlNotices(engine).stats(),
        }

    report = _run(_with_engine(url, work))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo("webhooks")
    for name, value in report["webhooks"].items():
        click.echo(f"  {name:<12} {value}")
    click.echo("notices")
    if not report["notices"]:
        click.echo("  none")
    for state, channels in sorted(report["notices"].items()):
        detail = ", ".join(f"{channel} {n}" for channel, n in sorted(channels.items()))
        click.echo(f"  {state:<12} {sum(channels.values())} ({detail})")


@notify.command("dead-letters")
@store_options
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dead_letters_command(limit: int, as_json: bool) -> None:
    """Webhook deliveries and notices given up on, oldest first, with their last error."""
    url = existing_store(command_settings().settings)

    async def work(engine: AsyncEngine) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {
                "kind": "webhook",
                "id": d.id,
                "dossier_code": d.dossier_code,
                "detail": f"subscription {d.subscription_id} {d.event_type}",
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in await SqlWebhookOutbox(engine).dead_letters(limit=limit)
        ]
        rows += [
            {
                "kind": "notice",
                "id": n.id,
                "dossier_code": None,
                "detail": f"{n.event} by {n.channel or '-'}",
                "attempts": n.attempts,
                "last_error": n.last_error,
            }
            for n in await SqlNotices(engine).dead_letters(limit=limit)
        ]
        return rows

    rows = _run(_with_engine(url, work))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no dead letters")
    for row in rows:
        click.echo(
            f"{row['kind']}\t{row['id']}\t{row['dossier_code'] or '-'}\t{row['detail']}\t"
            f"attempts={row['attempts']}\t{row['last_error'] or ''}"
        )


@notify.command("retry")
@store_options
@click.argument("kind", type=click.Choice(["webhook", "notice"]))
@click.argument("item_id", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter of that kind.")
def retry_command(kind: str, item_id: int | None, retry_all: bool) -> None:
    """Queue a dead webhook delivery or notice (or all of that kind) again."""
    if (item_id is None) == (not retry_all):
        raise click.UsageError("give a dead letter's ID or --all (not both)")
    url = existing_store(command_settings().settings)

    async def work(engine: AsyncEngine) -> int:
        if kind == "webhook":
            outbox = SqlWebhookOutbox(engine)
            if item_id is None:
                return await outbox.retry_all()
            await outbox.retry(item_id)
            return 1
        return await SqlNotices(engine).retry(item_id)

    try:
        count = _run(_with_engine(url, work))
    except (DeliveryNotFound, NoticeNotFound) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{count} {kind} dead letter(s) queued again")


@notify.command("run")
@store_options
@click.option(
    "--keys",
    "keys_dir",
    envvar="LIENTHONG_KEYS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Key folder: the adapter's key signs the webhooks [.lienthong/keys].",
)
@click.option(
    "--clients",
    "clients_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Clients file (webhook allow-lists); the sandbox clients when absent.",
)
@click.option(
    "--mock-url",
    default="http://127.0.0.1:8001",
    show_default=True,
    help="The sandbox mock endpoints (ZNS, SMS, the ministry receiver).",
)
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def run_command(
    keys_dir: Path | None,
    clients_file: Path | None,
    mock_url: str,
    once: bool,
) -> None:
    """Deliver webhooks and send notices until stopped (SIGINT/SIGTERM finish the batch first)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    mock = urlsplit(mock_url)
    try:
        settings = command_settings(
            keys_dir=keys_dir,
            clients_file=clients_file,
            mock_host=mock.hostname or "127.0.0.1",
            mock_port=mock.port or 80,
        ).settings
        clients = load_client_registry(settings)
    except (ValueError, ClientConfigError) as exc:
        raise click.ClickException(str(exc)) from exc
    url = existing_store(settings)
    signer = HttpSigner(
        load_party(settings.keys_dir, settings.party), ttl=settings.signature_ttl_seconds
    )

    async def work(engine: AsyncEngine) -> None:
        push = build_push(settings, engine, signer, clients)
        service = push.service
        assert service.webhooks is not None
        assert service.notifier is not None
        if once:
            try:
                sent = await service.webhooks.drain()
                noticed = await service.notifier.drain()
            finally:
                await service.stop()
            click.echo(f"webhook deliveries handled {sent}, notices handled {noticed}")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await service.start()
        click.echo("push workers running", err=True)
        await stop.wait()
        await service.stop()

    _run(_with_engine(url, work))


__all__ = ["notify"]
