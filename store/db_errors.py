"""The database's errors as the store's own: the one place that knows SQLAlchemy's and the
drivers' error classes.

Every engine the store makes (``store.db.create_engine``) translates what the database raises
into a :class:`~store.errors.DatabaseFailure`, wherever the statement ran — in a store function,
in a session a caller opened, in a migration:

* a statement or transaction failing on the database (SQLAlchemy's ``DBAPIError`` family) is
  translated by a ``handle_error`` listener on the engine's dialect (:func:`translate_errors`);
* no pooled connection free in time (SQLAlchemy's pool ``TimeoutError``) by the engine's pool
  (:class:`StorePool`);
* a driver's error on the batching path, where statements run on the driver itself
  (``store.batching.driver``), by :func:`from_driver`.

What fails to connect or is lost, locked or busy becomes ``DatabaseUnavailable``; a refused
constraint ``ConstraintViolation``; anything else ``DatabaseFailure``. The original error is the
translation's ``__cause__``; the translation's message names only the kind of error. SQLAlchemy's
errors that do not come from the database (a misused API: a bug) are left as they are.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from store.errors import ConstraintViolation, DatabaseFailure, DatabaseUnavailable


def from_sqlalchemy(exc: BaseException | None) -> DatabaseFailure | None:
    """The store's error for a SQLAlchemy error raised by the database; None for any other."""
    if isinstance(exc, IntegrityError):
        return ConstraintViolation("IntegrityError")
    if isinstance(exc, OperationalError | InterfaceError):
        return DatabaseUnavailable(type(exc).__name__)
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("TimeoutError")
    if isinstance(exc, DBAPIError):
        return DatabaseFailure(type(exc).__name__)
    return None


def from_driver(exc: BaseException) -> DatabaseFailure:
    """The store's error for an error raised by the driver itself (aiosqlite's sqlite3, asyncpg),
    named as SQLAlchemy would have named it."""
    if isinstance(exc, sqlite3.IntegrityError) or type(exc).__name__.endswith("ViolationError"):
        return ConstraintViolation("IntegrityError")
    if isinstance(exc, sqlite3.OperationalError | OSError | ConnectionError) or _connection_lost(
        exc
    ):
        return DatabaseUnavailable("OperationalError")
    return DatabaseFailure("DatabaseError")


def _connection_lost(exc: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError)


def _on_error(context: ExceptionContext) -> None:
    if context.is_pre_ping:  # the pool's liveness check handles its own failures
        return
    translated = from_sqlalchemy(context.sqlalchemy_exception)
    if translated is not None:
        # SQLAlchemy raises it in place of its own error, after its cleanup (an invalidated
        # connection is still discarded), chained to the driver's error
        raise translated


def translate_errors(engine: AsyncEngine) -> None:
    """Make ``engine`` raise the store's errors for what its database raises."""
    event.listen(engine.sync_engine, "handle_error", _on_error)


class StorePool(AsyncAdaptedQueuePool):
    """The async queue pool, raising ``DatabaseUnavailable`` when no connection is free in
    time (instead of SQLAlchemy's ``TimeoutError``)."""

    # log as the pool it extends, under SQLAlchemy's quiet namespace (not as a store module)
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except PoolTimeout as exc:
            raise DatabaseUnavailable("TimeoutError") from exc


__all__ = ["StorePool", "from_driver", "from_sqlalchemy", "translate_errors"]
