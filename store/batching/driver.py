"""Statements run straight on the database driver, for the log writers' hot path.

Measured on this machine, SQLAlchemy's async engine spends ~150 µs of CPU per statement on
aiosqlite (a cursor opened, executed, fetched and closed, each a hop to the driver's thread) and
~65 µs on asyncpg, against ~12 µs for the driver call alone. A log batch is a few fixed
statements, so the writers run them on the pooled connection's driver (aiosqlite or asyncpg)
directly, inside a transaction taken as the store takes any other:

* SQLite: a pooled connection, ``BEGIN IMMEDIATE`` on it (the write lock up front, as
  ``store.db`` takes it), the statements, ``COMMIT``: what is queued runs in one job on the
  driver's thread, so a transaction that needs no rows back before its commit costs one trip
  there (one wake of the event loop), its rollback on failure included; the connection goes
  back to the pool without another (``store.db`` rolls back on return only a transaction left
  open). SQLAlchemy's own begin and commit would cost ~200 µs more per transaction; what is
  skipped is ``store.db``'s in-process writer lock,
  which only matters with several pooled write connections: the adapter gives writes one
  (``lienthong.bootstrap``), so its writers queue on the pool, and elsewhere a writer that
  finds the lock taken waits in SQLite's busy handler;
* PostgreSQL: a pooled connection and an asyncpg transaction on it.

Values go through each column's own SQLAlchemy bind processor (a time column's with a shortcut
for UTC times, ``store.types.UtcDateTime.driver_bind_processor``), so what is stored is exactly
what a Core ``insert`` would store; driver errors are raised as the store's ``DatabaseUnavailable``,
``ConstraintViolation`` or ``DatabaseFailure`` (``store.db_errors.from_driver``, the driver's
error as their cause), as on any other path of the store.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import LargeBinary, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from store.db_errors import from_driver
from store.types import UtcDateTime

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """One SQL statement in the driver's parameter style, with a bind processor per parameter."""

    sql: str
    processors: tuple[Processor, ...]
    #: the parameters that have a processor, and it (most have none: strings, integers)
    _processed: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)
    #: how many parameters the statement takes
    _count: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        processed = tuple((n, p) for n, p in enumerate(self.processors) if p is not None)
        object.__setattr__(self, "_processed", processed)
        object.__setattr__(self, "_count", len(self.processors))

    def params(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """``values`` (one per parameter, in order) as the driver takes them (None is bound as
        it is: SQLAlchemy's processors give None for it; no processor is called with it)."""
        if len(values) != self._count:
            raise ValueError(f"{self._count} values expected, not {len(values)}")
        processed = self._processed
        if not processed:
            return tuple(values)
        params = list(values)
        for index, process in processed:
            value = params[index]
            if value is not None:
                params[index] = process(value)
        return tuple(params)


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
        if isinstance(kind, UtcDateTime):  # the same values, bound with less work
            return kind.driver_bind_processor(self.dialect)
        impl = kind.dialect_impl(self.dialect)
        dbapi = self.dialect.dbapi
        if type(impl).bind_processor is LargeBinary.bind_processor and dbapi is not None:
            # SQLAlchemy's processor of bytes is the DB-API's ``Binary`` of what is not None,
            # and ``DriverStatement.params`` passes no None: ``Binary`` itself, one call less
            # (tests/unit/test_store_types.py)
            binary: Callable[[Any], Any] = dbapi.Binary
            return binary
        return impl.bind_processor(self.dialect)

    def _names(self, columns: Sequence[str]) -> list[str]:
        return [self._quote(self.table.c[name].name) for name in columns]

    def insert(
        self,
        columns: Sequence[str],
        *,
        ignore_conflicts_on: Sequence[str] = (),
        remembered: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> DriverStatement:
        """``INSERT INTO table (columns) VALUES (…)``; with ``ignore_conflicts_on``, a row whose
        key already exists is skipped (``ON CONFLICT (key) DO NOTHING``).

        ``remembered`` maps a column whose few values repeat to what turns its (hashable) value
        into the one its processor takes (``list`` for a tuple of names bound to a JSON list):
        the processor's result is remembered by value (:func:`_remembering`)."""
        sql = (
            # names from the table's metadata, quoted; values are parameters
            f"INSERT INTO {self._quote(self.table.name)} ({', '.join(self._names(columns))}) "  # noqa: S608
            f"VALUES ({', '.join(self._placeholders(len(columns)))})"
        )
        if ignore_conflicts_on:
            sql += f" ON CONFLICT ({', '.join(self._names(ignore_conflicts_on))}) DO NOTHING"
        processors = [self._processor(name) for name in columns]
        for name, bindable in (remembered or {}).items():
            index = list(columns).index(name)
            processors[index] = _remembering(processors[index], bindable)
        return DriverStatement(sql, tuple(processors))

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


#: how many values of a remembered parameter are kept (all of them are forgotten past it)
_REMEMBERED = 64


def _remembering(process: Processor, bindable: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process(bindable(value))``, remembered by ``value`` (hashable; equal values must bind
    the same, as tuples of strings do): for a parameter whose few values repeat, such as the
    access log's field lists, bound to JSON by SQLAlchemy's processor on every row otherwise."""
    if process is None:
        return bindable
    processor = process
    memo: dict[Any, Any] = {}

    def process_remembered(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            pass
        if len(memo) >= _REMEMBERED:
            memo.clear()
        processed = memo[value] = processor(bindable(value))
        return processed

    return process_remembered


class GuardFailed(Exception):
    """A guard statement (:meth:`DriverTransaction.queue_guard`) returned no row: the
    transaction was rolled back, nothing of it is kept; write it again on fresh reads."""


class DriverTransaction(Protocol):
    """Statements in one open transaction on the driver's connection.

    ``queue`` / ``queue_many`` / ``queue_guard`` hold statements whose rows are not needed; they
    run, in order, before the next ``execute`` or at commit. On SQLite everything that runs
    together is one trip to the driver's thread: ``BEGIN IMMEDIATE`` goes with the first,
    ``COMMIT`` with the last, so a transaction that only queues is one trip in all.
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

    def queue_guard(self, statement: DriverStatement, values: Sequence[Any] = ()) -> None:
        """Run ``statement`` like ``queue``; if it returns no row (e.g. an ``UPDATE … WHERE``
        what this writer last read, ``RETURNING`` a column), what follows it is not run, the
        transaction is rolled back and the block raises :class:`GuardFailed`."""
        ...

    async def execute(self, statement: DriverStatement, values: Sequence[Any] = ()) -> list[Any]:
        """Run what is queued, then ``statement``; the rows it returns (``RETURNING``, …)."""
        ...


#: what a queued operation does with its parameters
_ONE, _MANY, _GUARD = "one", "many", "guard"
#: one queued operation: (kind, sql, parameters — or rows of parameters for ``_MANY``)
_Operation = tuple[str, str, Any]


class _FailedOperation(Exception):
    """Operation ``index`` failed on the driver (``error``); the transaction is rolled back."""

    def __init__(self, index: int, error: sqlite3.Error) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


class _MissedGuard(Exception):
    """A guard returned no row; the transaction is rolled back."""


def _run_operations(connection: sqlite3.Connection, operations: list[_Operation]) -> list[Any]:
    """Run ``operations`` on a sqlite3 connection (in its thread); the last one's rows.

    If one fails (or a guard returns no row), the open transaction is rolled back right here,
    in the same trip, and :class:`_FailedOperation` (:class:`_MissedGuard`) raised.
    """
    rows: list[Any] = []
    try:
        for index, (kind, sql, params) in enumerate(operations):
            try:
                if kind == _MANY:
                    connection.executemany(sql, params).close()
                    rows = []
                else:
                    cursor = connection.execute(sql, params)
                    rows = cursor.fetchall()
                    cursor.close()
            except sqlite3.Error as exc:
                raise _FailedOperation(index, exc) from exc
            if kind == _GUARD and not rows:
                raise _MissedGuard
    except BaseException:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        raise
    return rows


def _roll_back(connection: sqlite3.Connection) -> None:
    """Roll back the transaction still open on ``connection`` (in its thread), if any."""
    if connection.in_transaction:
        connection.execute("ROLLBACK")


class _Queue:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._operations: list[_Operation] = []

    def queue(self, statement: DriverStatement, values: Sequence[Any] = ()) -> None:
        self._operations.append((_ONE, statement.sql, statement.params(values)))

    def queue_many(self, statement: DriverStatement, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            params = list(map(statement.params, rows))
            self._operations.append((_MANY, statement.sql, params))

    def queue_guard(self, statement: DriverStatement, values: Sequence[Any] = ()) -> None:
        self._operations.append((_GUARD, statement.sql, statement.params(values)))

    def _take(self, last: _Operation | None = None) -> list[_Operation]:
        operations, self._operations = self._operations, []
        if last is not None:
            operations.append(last)
        return operations


class _SqliteTransaction(_Queue):
    """Statements on an aiosqlite connection, each flush one trip to its thread.

    The trip runs :func:`_run_operations` on the driver's own thread (aiosqlite's ``_execute``,
    the one primitive all its public methods are built on, there since before the 0.20 the
    project requires): the statements, and the rollback when one fails, in one job, so the
    event loop is woken once per flush.
    """

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._driver = driver
        self._operations.append((_ONE, "BEGIN IMMEDIATE", ()))  # runs with the first flush
        # the transaction may be open in the driver's thread: BEGIN was sent, and neither its
        # commit nor a rollback came back
        self._maybe_open = False

    async def _flush(self, operations: list[_Operation]) -> list[Any]:
        self._maybe_open = True
        try:
            rows: list[Any] = await self._in_thread(_run_operations, operations)
        except _FailedOperation as failed:
            self._maybe_open = False
            raise from_driver(failed.error) from failed.error
        except _MissedGuard:
            self._maybe_open = False
            raise GuardFailed("a guard statement returned no row") from None
        return rows

    async def execute(self, statement: DriverStatement, values: Sequence[Any] = ()) -> list[Any]:
        return await self._flush(self._take((_ONE, statement.sql, statement.params(values))))

    async def commit(self) -> None:
        await self._flush(self._take((_ONE, "COMMIT", ())))
        self._maybe_open = False

    async def rollback(self) -> None:
        """Drop what is queued; roll back in the driver's thread only if BEGIN went there and
        nothing ended the transaction since (a failed flush rolled back already)."""
        self._operations = []
        if self._maybe_open:
            self._maybe_open = False
            with contextlib.suppress(Exception):
                await self._in_thread(_roll_back)

    async def _in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(connection, *args)`` run on the driver's thread, as one job."""
        return await self._driver._execute(function, self._driver._conn, *args)


class _PostgresTransaction(_Queue):
    """Statements on an asyncpg connection (prepared once, cached by asyncpg)."""

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        super().__init__(dialect)
        self._driver = driver

    async def flush(self, operations: list[_Operation]) -> list[Any]:
        rows: list[Any] = []
        for kind, sql, params in operations:
            try:
                if kind == _MANY:
                    await self._driver.executemany(sql, params)
                    rows = []
                else:
                    rows = list(await self._driver.fetch(sql, *params))
            except Exception as exc:
                raise from_driver(exc) from exc
            if kind == _GUARD and not rows:
                raise GuardFailed("a guard statement returned no row")
        return rows

    async def execute(self, statement: DriverStatement, values: Sequence[Any] = ()) -> list[Any]:
        return await self.flush(self._take((_ONE, statement.sql, statement.params(values))))


def driver_transaction(engine: AsyncEngine) -> AbstractAsyncContextManager[DriverTransaction]:
    """One write transaction on ``engine``, its statements run on the driver (see above).

    Committed when the block ends (after what is still queued), rolled back if it raises.
    The connection comes straight from ``engine``'s pool and goes back to it when the block
    ends: no SQLAlchemy ``Connection`` around it (its setup and teardown cost ~30 µs per
    transaction, for nothing: the statements run on the driver); the pool's checkout
    (``StorePool``, the pre-ping on PostgreSQL) and its reset on return (``store.db``) are the
    same.
    """
    return _DriverTransactionBlock(engine)


class _DriverTransactionBlock:
    """The block of :func:`driver_transaction`, written as a class: what
    ``contextlib.asynccontextmanager`` runs around a generator (two of them, nested) cost more
    Python than the block's own work, on every transaction of the logs."""

    __slots__ = ("_engine", "_pooled", "_postgres", "_sqlite", "_transaction")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite: _SqliteTransaction | None = None

    async def __aenter__(self) -> DriverTransaction:
        engine = self._engine
        dialect = engine.dialect
        if dialect.name == "sqlite":
            pooled = self._pooled = await engine.raw_connection()
            tx = self._sqlite = _SqliteTransaction(pooled.driver_connection, dialect)
            return tx
        if dialect.name != "postgresql":
            raise ValueError(f"unsupported database {dialect.name!r}")
        pooled = self._pooled = await engine.raw_connection()
        try:
            driver = pooled.driver_connection
            transaction = self._transaction = driver.transaction()  # type: ignore[union-attr]
            try:
                await transaction.start()
            except Exception as exc:
                raise from_driver(exc) from exc
        except BaseException:
            await greenlet_spawn(pooled.close)
            raise
        pg = self._postgres = _PostgresTransaction(driver, dialect)
        return pg

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        pooled = self._pooled
        try:
            tx = self._sqlite
            if tx is not None:
                if kind is not None:
                    await tx.rollback()
                    return
                try:
                    await tx.commit()
                except BaseException:
                    await tx.rollback()
                    raise
                return
            pg, transaction = self._postgres, self._transaction
            if kind is not None:
                await _roll_back_postgres(pooled, transaction)
                return
            try:
                await pg.flush(pg._take())
            except BaseException:
                await _roll_back_postgres(pooled, transaction)
                raise
            try:
                await transaction.commit()
            except Exception as exc:
                raise from_driver(exc) from exc
        finally:
            # the transaction is over (committed or rolled back above): nothing for the pool's
            # reset to wait on, unless a rollback was cut short; then the pool discards it
            await greenlet_spawn(pooled.close)


async def _roll_back_postgres(pooled: PoolProxiedConnection, transaction: Any) -> None:
    """Roll back an asyncpg ``transaction``; if that fails, the connection is gone: the pool
    discards it."""
    try:
        await transaction.rollback()
    except Exception:
        pooled.invalidate()


__all__ = [
    "DriverStatement",
    "DriverTransaction",
    "GuardFailed",
    "StatementBuilder",
    "driver_transaction",
]
