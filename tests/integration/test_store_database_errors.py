"""The database's errors come out of the store as the store's own (``store.db_errors``).

Whatever runs a statement on an engine the store made — a store function, a session a caller
opened, the batching driver — gets a ``DatabaseFailure`` (``DatabaseUnavailable``,
``ConstraintViolation``) instead of SQLAlchemy's or the driver's error, and the API answers it
as it answered SQLAlchemy's: 503 ``store_unavailable`` when the store cannot be reached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from adapter_api.handlers import ErrorBoundary, install_handlers
from adapter_api.problems import PROBLEM_MEDIA_TYPE
from store.db import create_engine, normalize_url
from store.db_errors import StorePool, from_sqlalchemy
from store.errors import ConstraintViolation, DatabaseFailure, DatabaseUnavailable, StoreError
from store.tables.message_log import message_log_head
from tests.support.message_log import log_db_url, log_engine_on_both  # noqa: F401 - fixtures
from tests.support.servers import free_port

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
#: a value that must not appear in an error's message
VALUE = "f" * 64


async def test_a_refused_row_is_a_constraint_violation(engine: AsyncEngine) -> None:
    """A row refused for its key, written through a session as any caller writes, raises the
    store's ``ConstraintViolation`` — not SQLAlchemy's — with the database's error as its cause
    and no value in its message; the engine stays usable."""
    row = {"id": 99, "seq": 1, "digest": VALUE, "updated_at": T0}
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(insert(message_log_head).values(**row))
    with pytest.raises(ConstraintViolation) as raised:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(insert(message_log_head).values(**row))
    assert not isinstance(raised.value, SQLAlchemyError)
    assert raised.value.kind == "IntegrityError"
    assert raised.value.__cause__ is not None
    assert VALUE not in str(raised.value)
    async with engine.begin() as connection:
        await connection.execute(delete(message_log_head).where(message_log_head.c.id == 99))


async def test_a_failing_statement_is_a_database_failure(engine: AsyncEngine) -> None:
    """A statement the database cannot run (a table it does not have) raises a
    ``DatabaseFailure``, a ``StoreError`` like every other error the store raises."""
    with pytest.raises(DatabaseFailure) as raised:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT x FROM no_such_table_here"))
    assert isinstance(raised.value, StoreError)
    assert not isinstance(raised.value, SQLAlchemyError)


async def test_an_operational_error_is_unavailable(tmp_path: Path) -> None:
    """A statement SQLite refuses with its ``OperationalError`` (here: a write on a read-only
    connection) raises ``DatabaseUnavailable``, as SQLAlchemy's ``OperationalError`` was
    answered before."""
    engine = create_engine(tmp_path / "data")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("PRAGMA query_only = ON"))
            with pytest.raises(DatabaseUnavailable) as raised:
                await connection.execute(text("CREATE TABLE probe (x INTEGER)"))
    finally:
        await engine.dispose()
    assert raised.value.kind == "OperationalError"


def _exhausted_engine(tmp_path: Path) -> AsyncEngine:
    """An engine on the store's pool with one connection and a 50 ms wait for it."""
    return create_async_engine(
        normalize_url(tmp_path / "data"),
        poolclass=StorePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.05,
    )


async def test_no_pooled_connection_in_time_is_unavailable(tmp_path: Path) -> None:
    """The store's pool raises ``DatabaseUnavailable`` when no connection is free in time
    (SQLAlchemy's pool ``TimeoutError`` before)."""
    engine = _exhausted_engine(tmp_path)
    try:
        async with engine.connect():
            with pytest.raises(DatabaseUnavailable) as raised:
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()
    assert raised.value.kind == "TimeoutError"


def test_only_errors_of_the_database_are_translated() -> None:
    """SQLAlchemy errors that do not come from the database (a misused API) are left alone."""
    assert from_sqlalchemy(SQLAlchemyError("misuse")) is None
    assert from_sqlalchemy(None) is None


async def test_an_unavailable_store_is_answered_503_store_unavailable(tmp_path: Path) -> None:
    """Over HTTP a route whose store has no connection to give answers as before: 503
    problem+json with the stable code ``store_unavailable`` (through the handlers and the
    last-resort boundary alike)."""
    engine = _exhausted_engine(tmp_path)
    app = FastAPI()

    @app.get("/probe")
    async def probe() -> dict[str, str]:
        async with AsyncSession(engine) as session:
            await session.execute(text("SELECT 1"))
        return {}

    bare = FastAPI()
    bare.add_api_route("/probe", probe)
    install_handlers(app, StoreError)
    app.add_middleware(ErrorBoundary)
    bare.add_middleware(ErrorBoundary)
    try:
        for served in (app, bare):
            transport = httpx.ASGITransport(app=served)
            async with (
                engine.connect(),  # the pool's one connection, taken
                httpx.AsyncClient(transport=transport, base_url="http://test") as http,
            ):
                response = await http.get("/probe")
            assert response.status_code == 503
            assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
            assert response.json()["code"] == "store_unavailable"
    finally:
        await engine.dispose()


async def test_a_refused_connection_is_unavailable() -> None:
    """A PostgreSQL server that is not listening (asyncpg raises the socket's
    ``ConnectionRefusedError``, which SQLAlchemy lets through) raises ``DatabaseUnavailable``
    whose cause is the refusal."""
    engine = create_engine(f"postgresql+asyncpg://nobody:secret@127.0.0.1:{free_port()}/test")
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert raised.value.kind == "ConnectionRefusedError"
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    assert "secret" not in str(raised.value)


@pytest.mark.postgres
async def test_a_connection_lost_mid_statement_is_unavailable(postgres_dsn: str) -> None:
    """A connection the server drops while a statement runs (an administrator's terminate, as a
    restart does) reaches SQLAlchemy as a plain ``DBAPIError`` under asyncpg; it raises
    ``DatabaseUnavailable``, not the ``DatabaseFailure`` of a statement that failed."""
    engine = create_engine(postgres_dsn)
    other = create_engine(postgres_dsn)

    async def terminate(pid: int) -> None:
        async with other.connect() as connection:
            while not await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND state = 'active'"),
                {"pid": pid},
            ):
                await asyncio.sleep(0.02)
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    try:
        async with engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            killer = asyncio.create_task(terminate(pid))
            with pytest.raises(DatabaseUnavailable) as raised:
                await connection.execute(text("SELECT pg_sleep(30)"))
            await killer
    finally:
        await engine.dispose()
        await other.dispose()
    assert raised.value.kind == "DBAPIError"


def _plain_dbapi_error(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated)


def test_a_plain_dbapi_error_is_unavailable_only_when_the_connection_is_gone() -> None:
    """A plain ``DBAPIError`` is ``DatabaseUnavailable`` when SQLAlchemy invalidated the
    connection or the driver's error (or its cause) is a lost or refused connection; any
    other plain one stays a ``DatabaseFailure``, and a refused row a ``ConstraintViolation``."""
    import asyncpg

    lost = RuntimeError("adapter error")
    lost.__cause__ = asyncpg.ConnectionDoesNotExistError("closed in the middle of operation")
    for unavailable in (
        _plain_dbapi_error(lost),
        _plain_dbapi_error(ConnectionResetError()),
        _plain_dbapi_error(RuntimeError("gone"), invalidated=True),
    ):
        assert type(from_sqlalchemy(unavailable)) is DatabaseUnavailable
    failure = from_sqlalchemy(_plain_dbapi_error(RuntimeError("value too long")))
    assert type(failure) is DatabaseFailure
    refused = from_sqlalchemy(IntegrityError("INSERT", {}, RuntimeError("duplicate key")))
    assert type(refused) is ConstraintViolation
