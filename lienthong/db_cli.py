"""``lienthong db``: create and migrate the database (SQLite in a data folder, or PostgreSQL).

``upgrade`` is the one command that makes a store (with ``serve``); ``current`` only reads it.
Both take the store from the settings (``--config``, ``LIENTHONG_*``, ``--data``,
``--database-url``) and name it on their first line.
"""

from __future__ import annotations

import asyncio

import click

from lienthong.options import (
    BadConfig,
    OneLineError,
    UnusableStore,
    announce_store,
    command_settings,
    store_options,
)
from lienthong.stores import StoreUnavailable, sqlite_file, store_label
from store.db import current, current_async, head_revision, normalize_url, upgrade
from store.errors import StoreError


def _url(raw: str) -> str:
    try:
        return normalize_url(raw)
    except StoreError as exc:
        raise BadConfig(str(exc)) from None


@click.group()
def db() -> None:
    """Create and migrate the database."""


@db.command("upgrade")
@store_options
@click.option("--revision", default="heads", show_default=True, help="Target revision.")
def upgrade_command(revision: str) -> None:
    """Apply the migrations (creates the database and its tables on first use)."""
    settings = command_settings().settings
    raw = announce_store(settings)
    path = sqlite_file(raw)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    url = _url(raw)
    try:
        upgrade(url, revision)
    except Exception as exc:
        raise OneLineError(
            f"{store_label(url)} cannot be migrated ({type(exc).__name__})"
        ) from None
    click.echo(f"database at {current(url)}")


@db.command("current")
@store_options
def current_command() -> None:
    """Print the database's revision and whether it is the newest (creates nothing)."""
    settings = command_settings().settings
    raw = announce_store(settings)
    path = sqlite_file(raw)
    if path is not None and not path.is_file():
        raise UnusableStore(f"no database at {path} (make it with 'lienthong db upgrade')")
    url = _url(raw)
    try:
        revision = asyncio.run(current_async(url))
    except Exception as exc:
        message = f"{store_label(url)} cannot be reached ({type(exc).__name__})"
        raise UnusableStore(message) from None
    head = head_revision()
    state = "up to date" if revision == head else f"behind (newest is {head})"
    click.echo(f"{revision or 'empty'}: {state}")


__all__ = ["StoreUnavailable", "db"]
