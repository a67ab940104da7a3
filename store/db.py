"""Engines, sessions and migrations: SQLite (WAL, in a data folder) by default, PostgreSQL by DSN.

Every transaction on SQLite starts with ``BEGIN IMMEDIATE`` (the write lock up front), so a
transaction that reads then writes never fails to upgrade its lock; readers that never write can
use ``reader(engine)``, whose transactions start with a plain ``BEGIN``. On PostgreSQL the default
READ COMMITTED isolation is used and writers lock the rows they change (``FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState
from sqlalchemy.sql.dml import Insert
from sqlalchemy.util import await_only

from store.db_errors import StorePool, translate_errors
from store.errors import DatabaseUrlError

#: The SQLite file kept in a data folder.
SQLITE_FILE = "lienthong.db"
#: The data folder used when none is named (the same as ``lienthong serve``'s).
DEFAULT_DATA_DIR = ".lienthong/data"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)


def normalize_url(url_or_folder: str | Path) -> str:
    """An async SQLAlchemy URL for a DSN, a SQLAlchemy URL, or a data folder.

    ``postgresql://`` and ``postgres://`` DSNs get the asyncpg driver, ``sqlite:///`` gets
    aiosqlite, and a folder (made if missing) holds the SQLite file ``lienthong.db``.
    """
    text = str(url_or_folder)
    if "://" not in text:
        folder = Path(text).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(folder / SQLITE_FILE).resolve()}"
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise DatabaseUrlError("the database URL cannot be parsed") from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise DatabaseUrlError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return url.render_as_string(hide_password=False)


def database_url(*, data_dir: str | Path | None = None, database_url: str | None = None) -> str:
    """The URL named by the command-line options: ``--database-url`` wins over ``--data``."""
    if database_url:
        return normalize_url(database_url)
    return normalize_url(data_dir if data_dir is not None else DEFAULT_DATA_DIR)


def create_engine(url: str | Path, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` (see ``normalize_url``); SQLite is set up for concurrent use.

    What its database raises comes out as the store's ``DatabaseFailure`` (``store.db_errors``).
    """
    normalized = normalize_url(url)
    if normalized.startswith("sqlite"):
        engine = create_async_engine(
            normalized,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            poolclass=StorePool,
            pool_reset_on_return=None,  # _set_up_sqlite's reset does it
        )
        _set_up_sqlite(engine)
    else:
        engine = create_async_engine(
            normalized,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            poolclass=StorePool,
        )
    translate_errors(engine)
    return engine


def _set_up_sqlite(engine: AsyncEngine) -> None:
    # SQLite has one writer at a time. Writers of this process queue on an asyncio lock instead
    # of colliding in SQLite's busy handler, whose sleeps (up to 100 ms each) collapse throughput
    # under contention; other processes (a separate worker) still wait in busy_timeout.
    writer = asyncio.Lock()
    held: set[int] = set()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # The pool's rollback on return, only for a transaction still open: each rollback is a
        # trip to aiosqlite's thread, and the logs' group commit (store.batching) returns its
        # connection committed, without SQLAlchemy knowing. With isolation_level None, sqlite3's
        # in_transaction says exactly whether a BEGIN is pending; the connection is idle here.
        if state.transaction_was_reset or not state.asyncio_safe:
            return
        driver = dbapi_connection.driver_connection
        if driver is not None and _transaction_open(driver):
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode != "IMMEDIATE":
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        await_only(writer.acquire())
        held.add(id(connection))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    def _release(connection: Connection) -> None:
        if id(connection) in held:
            held.discard(id(connection))
            writer.release()

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(connection: Connection) -> None:
        _release(connection)

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(connection: Connection) -> None:
        _release(connection)


def _transaction_open(driver: Any) -> bool:
    """Whether an aiosqlite connection has a transaction open (not once it is closed)."""
    try:
        return bool(driver.in_transaction)
    except ValueError:  # closed: the pool discards it, SQLAlchemy's own rollback skips it too
        return False


def insert_ignoring(table: Table, keys: Sequence[str]) -> Mapping[bool, Insert]:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` on ``table`` for each dialect the store runs
    on, keyed by "is PostgreSQL" (both dialects spell it alike, each with its own construct)."""
    return MappingProxyType(
        {
            postgres: (postgresql.insert if postgres else sqlite.insert)(
                table
            ).on_conflict_do_nothing(index_elements=list(keys))
            for postgres in (True, False)
        }
    )


def is_sqlite(bind: AsyncEngine | AsyncConnection | AsyncSession) -> bool:
    """Whether ``bind`` talks to SQLite."""
    engine = bind.bind if isinstance(bind, AsyncSession) else bind
    assert isinstance(engine, AsyncEngine | AsyncConnection)
    return engine.dialect.name == "sqlite"


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine for read-only work: on SQLite its transactions do not take the write lock."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="DEFERRED")
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to ``engine`` that keep their objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic's configuration for the store's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade_async(url: str | Path, revision: str = "heads") -> None:
    """Apply the migrations up to ``revision`` (every branch's newest by default)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_upgrade, revision)
    finally:
        await engine.dispose()


def _run_upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_async(url: str | Path) -> str | None:
    """The revision(s) the database is at (joined by commas), or None before any migration."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: (
                    ",".join(sorted(MigrationContext.configure(sync).get_current_heads())) or None
                )
            )
    finally:
        await engine.dispose()


def upgrade(url: str | Path, revision: str = "heads") -> None:
    """``upgrade_async`` for synchronous callers (the CLI); not from inside an event loop."""
    asyncio.run(upgrade_async(url, revision))


def current(url: str | Path) -> str | None:
    """``current_async`` for synchronous callers (the CLI)."""
    return asyncio.run(current_async(url))


def head_revision() -> str | None:
    """The newest revision among the store's migrations (heads joined by commas if several)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads)) or None


__all__ = [
    "DEFAULT_DATA_DIR",
    "SQLITE_FILE",
    "alembic_config",
    "create_engine",
    "create_sessionmaker",
    "current",
    "current_async",
    "database_url",
    "head_revision",
    "is_sqlite",
    "normalize_url",
    "reader",
    "upgrade",
    "upgrade_async",
]
