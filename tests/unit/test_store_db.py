"""Engines, URLs, UTC times and migrations of the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

import store.tables
from lienthong.db_cli import db
from store.db import current, database_url, head_revision, normalize_url
from store.errors import DatabaseUrlError
from store.metadata import metadata
from store.types import UtcDateTime


def test_urls_for_postgres_sqlite_and_a_folder(tmp_path: Path) -> None:
    """DSNs get async drivers; a folder (made if missing) holds the SQLite file."""
    assert normalize_url("postgresql://u:p@db:5432/x") == "postgresql+asyncpg://u:p@db:5432/x"
    assert normalize_url("postgres://db/x") == "postgresql+asyncpg://db/x"
    assert normalize_url("sqlite:////tmp/a.db") == "sqlite+aiosqlite:////tmp/a.db"
    folder = tmp_path / "new" / "data"
    url = normalize_url(folder)
    assert folder.is_dir()
    assert url == f"sqlite+aiosqlite:///{folder.resolve()}/lienthong.db"
    assert database_url(data_dir=folder, database_url="postgresql://db/x").startswith("postgres")
    with pytest.raises(DatabaseUrlError):
        normalize_url("mysql://db/x")


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    """SQLite connections use WAL, enforce foreign keys and wait (briefly) on a busy database."""
    from store.db import create_engine

    engine = create_engine(tmp_path)
    try:
        async with engine.connect() as connection:
            mode = await connection.scalar(text("PRAGMA journal_mode"))
            keys = await connection.scalar(text("PRAGMA foreign_keys"))
            busy = await connection.scalar(text("PRAGMA busy_timeout"))
    finally:
        await engine.dispose()
    assert (mode, keys) == ("wal", 1)
    assert busy >= 1000


async def test_sqlite_rolls_back_on_return_only_a_transaction_left_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection returned to the pool with a transaction open is rolled back (its row is
    gone, the write lock free); one returned with nothing open costs no trip to the driver."""
    from store.db import create_engine

    engine = create_engine(tmp_path, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE kept (n INTEGER)"))
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO kept VALUES (1)")
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            assert not driver.in_transaction
            trips: list[Any] = []
            run_in_thread = driver._execute

            async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
                trips.append(fn)
                return await run_in_thread(fn, *args, **kwargs)

            monkeypatch.setattr(driver, "_execute", counted)
        assert trips == []
        monkeypatch.undo()
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO kept VALUES (2)"))
            rows = (await connection.execute(text("SELECT n FROM kept"))).scalars().all()
    finally:
        await engine.dispose()
    assert rows == [2]


async def test_times_come_back_aware_utc_and_naive_ones_are_refused(engine: AsyncEngine) -> None:
    """A time written with any offset reads back as the same instant in UTC; naive is refused."""
    table = Table(
        "t_times", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime)
    )
    plus7 = dt.timezone(dt.timedelta(hours=7))
    written = dt.datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=plus7)
    async with engine.begin() as connection:
        await connection.run_sync(table.create)
        await connection.execute(table.insert().values(id=1, at=written))
        read = await connection.scalar(select(table.c.at))
        with pytest.raises(StatementError):
            await connection.execute(table.insert().values(id=2, at=dt.datetime(2026, 1, 1)))
    async with engine.begin() as connection:
        await connection.run_sync(table.drop)
    assert read == written
    assert read.tzinfo == dt.UTC


@pytest.mark.parametrize("area", store.tables.AREAS, ids=lambda area: area.__name__)
async def test_migrations_match_the_tables(engine: AsyncEngine, area: ModuleType) -> None:
    """After `db upgrade`, the database has exactly each area's tables, columns and indexes."""
    names = {value.name for value in vars(area).values() if isinstance(value, Table)}
    assert names, f"{area.__name__} defines no table"

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in names

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include}
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


def test_db_cli_upgrades_and_reports_the_revision(tmp_path: Path) -> None:
    """`lienthong db upgrade --data DIR` migrates to the newest revision; `current` says so."""
    runner = CliRunner()
    data = str(tmp_path / "data")
    result = runner.invoke(db, ["upgrade", "--data", data])
    assert result.exit_code == 0, result.output
    assert current(normalize_url(data)) == head_revision()
    again = runner.invoke(db, ["upgrade", "--data", data])
    assert again.exit_code == 0
    status = runner.invoke(db, ["current", "--data", data])
    assert status.exit_code == 0
    assert "up to date" in status.output
