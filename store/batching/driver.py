"""Statements run straight on the database driver, for the log writers' hot path.

Measured on this machine, SQLAlchemy's async engine spends ~150 µs of CPU per statement on
aiosqlite (a cursor opened, executed, fetched and closed, each a hop to the driver's thread) and
~65 µs on asyncpg, against ~12 µs for the driver call alone. A log batch is a few fixed
statements, so the writers run them on the pooled connection's driver (aiosqlite or asyncpg)
directly, inside a transaction taken as the store takes any other:

* SQLite: a pooled connection, ``BEGIN IMMEDIATE`` on it (the write lock up front, as
  ``store.db`` takes it), the statements, ``COMMIT``. SQLAlchemy's own begin and commit would
  cost ~200 µs more per transaction; what is skipped is ``store.db``'s in-process writer lock,
  which only matters with several pooled write connections: the adapter gives writes one
  (``lienthong.bootstrap``), so its writers queue on the pool, and elsewhere a writer that
  finds the lock taken waits in SQLite's busy handler;
* PostgreSQL: a pooled connection and an asyncpg transaction on it.

Values go through each column's own SQLAlchemy bind processor, so what is stored is exactly what
a Core ``insert`` would store; driver errors are raised as the store's ``DatabaseUnavailable``,
``ConstraintViolation`` or ``DatabaseFailure`` (``store.db_errors.from_driver``, the driver's
error as their cause), as on any other path of the store.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db_errors import from_driver

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """One SQL statement in the driver's parameter style, with a bind processor per parameter."""

    sql: str
    processors: tuple[Processor, ...]

    def params(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """``values`` (one per parameter, in order) as the driver takes them."""
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(self.processors, values, strict=True)
        )


class StatementBuilder:
    """Builds :class:`DriverStatement` s for one table on one dialect (SQLite or PostgreSQL)."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        if dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect.name!r}")
        self.table = table
        self.dialect = dialect
        self._quote = dialect.identifier_preparer.quote

    def _placeholders(self, count: int, start: int = 1) -> list[str]:
        if self.dialect.name == "sqlite":
            return ["?"] * count
        return [f"${n}" for n in range(start, start + count)]

    def _processor(self, column: str) -> Processor:
        kind = self.table.c[column].type
        return kind.dialect_impl(self.dialect).bind_processor(self.dialect)

    def _names(self, columns: Sequence[str]) -> list[str]:
        return [self._quote(self.table.c[name].name) for name in columns]

    def insert(
        self, columns: Sequence[str], *, ignore_conflicts_on: Sequence[str] = ()
    ) -> DriverStatement:
        """``INSERT INTO table (columns) VALUES (…)``; with ``ignore_conflicts_on``, a row whose
        key already exists is skipped (``ON CONFLICT (key) DO NOTHING``)."""
        sql = (
            # names from the table's metadata, quoted; values are parameters
            f"INSERT INTO {self._quote(self.table.name)} ({', '.join(self._names(columns))}) "  # noqa: S608
            f"VALUES ({', '.join(self._placeholders(len(columns)))})"
        )
        if ignore_conflicts_on:
            sql += f" ON CONFLICT ({', '.join(self._names(ignore_conflicts_on))}) DO NOTHING"
        return DriverStatement(sql, tuple(self._processor(name) for name in columns))

    def update(
        self, columns: Sequence[str], *, where: Sequence[str], returning: Sequence[str] = ()
    ) -> DriverStatement:
        """``UPDATE table SET columns = … WHERE where = … [RETURNING …]``; parameters are the
        new values, then the ``where`` values."""
        marks = self._placeholders(len(columns) + len(where))
        sets = [f"{n} = {m}" for n, m in zip(self._names(columns), marks, strict=False)]
        conditions = [
            f"{n} = {m}" for n, m in zip(self._names(where), marks[len(columns) :], strict=True)
        ]
        sql = (
            f"UPDATE {self._quote(self.table.name)} SET {', '.join(sets)} "  # noqa: S608
            f"WHERE {' AND '.join(conditions)}"
        )
        if returning:
            sql += f" RETURNING {', '.join(self._names(returning))}"
        processors = tuple(self._processor(name) for name in (*columns, *where))
        return DriverStatement(sql, processors)

    def select(self, columns: Sequence[str], *, limit: int | None = None) -> DriverStatement:
        """``SELECT columns FROM table [LIMIT n]`` (no parameters)."""
        sql = f"SELECT {', '.join(self._names(columns))} FROM {self._quote(self.table.name)}"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return DriverStatement(sql, ())


class DriverTransaction(Protocol):
    """Statements in one open transaction on the driver's connection.

    ``queue`` / ``queue_many`` hold statements whose result is not needed; they run, in order,
    before the next ``execute`` or at commit. On SQLite everything that runs together is one hop
    to the driver's thread (``BEGIN IMMEDIATE`` with the first batch, ``COMMIT`` with the last).
    """

    @property
    def dialect(self) -> Dialect:
        """The dialect the statements must be built for."""
        ...

    def queue(self, statement: DriverStatement, values: Sequence[Any] = ()) -> None:
        """Run ``statement`` once with ``values``, before the next ``execute`` or commit."""
        ...

    def queue_many(self, statement: DriverStatement, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``statement`` once per row of values, before the next ``execute`` or commit."""
        ...

    async def execute(self, statement: DriverStatement, values: Sequence[Any] = ()) -> list[Any]:
        """Run what is queued, then ``statement``; the rows it returns (``RETURNING``, …)."""
        ...


#: one queued operation: (many?, sql, parameters or rows of parameters)
_Operation = tuple[bool, str, Any]


def _run_operations(connection: sqlite3.Connection, operations: list[_Operation]) -> list[Any]:
    """Run ``operations`` on a sqlite3 connection (in its thread); the last one's rows."""
    rows: list[Any] = []
    for index, (many, sql, params) in enumerate(operations):
        try:
            if many:
                connection.executemany(sql, params).close()
                rows = []
            else:
                cursor = connection.execute(sql, params)
                rows = cursor.fetchall()
                cursor.close()
        except sqlite3.Error as exc:
            raise _FailedOperation(index, exc) from exc
    return rows


class _FailedOperation(Exception):
    def __init__(self, index: int, error: sqlite3.Error) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


class _Queue:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._operations: list[_Operation] = []

    def queue(self, statement: DriverStatement, values: Sequence[Any] = ()) -> None:
        self._operations.append((False, statement.sql, statement.params(values)))

    def queue_many(self, statement: DriverStatement, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            params = [statement.params(values) for values in rows]
            self._operations.append((True, statement.sql, params))

    def _take(self, last: _Operation | None = None) -> list[_Operation]:
        operations, self._operations = self._operations, []
        if last is not None:
            operations.append(last)
        return operations


class _SqliteTransaction(_Queue):
    """Statements on an aiosqlite connection, each flush one hop to its thread.

    The hop runs a function on the driver's own thread (aiosqlite's ``_execute``, the one
    primitive all its public methods are built on); without it each statement is its own hop.
    """

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._driver = driver
        self._run_in_thread = getattr(driver, "_execute", None)

    def begin(self) -> None:
        self._operations.append((False, "BEGIN IMMEDIATE", ()))

    async def _flush(self, operations: list[_Operation]) -> list[Any]:
        try:
            if self._run_in_thread is not None:
                result: list[Any] = await self._run_in_thread(
                    _run_operations, self._driver._conn, operations
                )
                return result
            rows: list[Any] = []
            for index, (many, sql, params) in enumerate(operations):
                try:
                    if many:
                        async with self._driver.executemany(sql, params):
                            rows = []
                    else:
                        rows = list(await self._driver.execute_fetchall(sql, params))
                except sqlite3.Error as exc:
                    raise _FailedOperation(index, exc) from exc
            return rows
        except _FailedOperation as failed:
            raise from_driver(failed.error) from failed.error

    async def execute(self, statement: DriverStatement, values: Sequence[Any] = ()) -> list[Any]:
        return await self._flush(self._take((False, statement.sql, statement.params(values))))

    async def commit(self) -> None:
        await self._flush(self._take((False, "COMMIT", ())))

    async def rollback(self) -> None:
        self._operations = []
        with contextlib.suppress(Exception):
            await self._driver.execute_fetchall("ROLLBACK")


class _PostgresTransaction(_Queue):
    """Statements on an asyncpg connection (prepared once, cached by asyncpg)."""

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._driver = driver

    async def flush(self, operations: list[_Operation]) -> list[Any]:
        rows: list[Any] = []
        for many, sql, params in operations:
            try:
                if many:
                    await self._driver.executemany(sql, params)
                    rows = []
                else:
                    rows = list(await self._driver.fetch(sql, *params))
            except Exception as exc:
                raise from_driver(exc) from exc
        return rows

    async def execute(self, statement: DriverStatement, values: Sequence[Any] = ()) -> list[Any]:
        return await self.flush(self._take((False, statement.sql, statement.params(values))))


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[DriverTransaction]:
    """One write transaction on ``engine``, its statements run on the driver (see above).

    Committed when the block ends (after what is still queued), rolled back if it raises.
    """
    dialect = engine.dialect
    if dialect.name == "sqlite":
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            tx = _SqliteTransaction(raw.driver_connection, dialect)
            tx.begin()  # runs with the first flush
            try:
                yield tx
                await tx.commit()
            except BaseException:
                # returning the connection to the pool rolls back too (SQLAlchemy's reset)
                await tx.rollback()
                raise
        return
    if dialect.name != "postgresql":
        raise ValueError(f"unsupported database {dialect.name!r}")
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        transaction = driver.transaction()  # type: ignore[union-attr]
        try:
            await transaction.start()
        except Exception as exc:
            raise from_driver(exc) from exc
        pg = _PostgresTransaction(driver, dialect)
        try:
            yield pg
            await pg.flush(pg._take())
        except BaseException:
            try:
                await transaction.rollback()
            except Exception:  # the connection is gone; the pool discards it
                raw.invalidate()
            raise
        try:
            await transaction.commit()
        except Exception as exc:
            raise from_driver(exc) from exc


__all__ = [
    "DriverStatement",
    "DriverTransaction",
    "StatementBuilder",
    "driver_transaction",
]
