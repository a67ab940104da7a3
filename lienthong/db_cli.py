"""``lienthong db``: create and migrate the database (SQLite in a data folder, or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import click
from click.decorators import FC

from store.db import DEFAULT_DATA_DIR, current, database_url, head_revision, upgrade
from store.errors import StoreError


def data_dir_option(help: str) -> Callable[[FC], FC]:
    """``--data`` (``LIENTHONG_DATA_DIR``): the data folder, passed on as ``data_dir``."""
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False),
        envvar="LIENTHONG_DATA_DIR",
        default=DEFAULT_DATA_DIR,
        show_default=True,
        help=help,
    )


data_option = data_dir_option("Data folder holding the SQLite database (made if missing).")
database_url_option = click.option(
    "--database-url",
    envvar="LIENTHONG_DATABASE_URL",
    default=None,
    help="A PostgreSQL DSN or SQLAlchemy URL; wins over --data.",
)


def resolve_url(data_dir: str, url: str | None) -> str:
    """The engine URL for the ``--data``/``--database-url`` options, as a click error if bad."""
    try:
        return database_url(data_dir=data_dir, database_url=url)
    except StoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--database-url") from exc


@click.group()
def db() -> None:
    """Create and migrate the database."""


@db.command("upgrade")
@data_option
@database_url_option
@click.option("--revision", default="heads", show_default=True, help="Target revision.")
def upgrade_command(data_dir: str, database_url: str | None, revision: str) -> None:
    """Apply the migrations (creates the database's tables on first use)."""
    url = resolve_url(data_dir, database_url)
    upgrade(url, revision)
    click.echo(f"database at {current(url)}")


@db.command("current")
@data_option
@database_url_option
def current_command(data_dir: str, database_url: str | None) -> None:
    """Print the database's revision and whether it is the newest."""
    url = resolve_url(data_dir, database_url)
    revision = current(url)
    head = head_revision()
    state = "up to date" if revision == head else f"behind (newest is {head})"
    click.echo(f"{revision or 'empty'}: {state}")
