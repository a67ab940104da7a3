"""The database's errors as the store's own: the one place that knows SQLAlchemy's and the
drivers' error classes.

Every engine the store makes (``store.db.create_engine``) translates what the database raises
into a :class:`~store.errors.DatabaseFailure`, wherever the statement ran — in a store function,
in a session a caller opened, in a migration:

* a statement or transaction failing on the database (SQLAlchemy's ``DBAPIError`` family) is
  translated by a ``handle_error`` listener on the engine's dialect (:func:`translate_errors`);
* no pooled connection free in time (SQLAlchemy's pool ``TimeoutError``) by the engine's pool
  (:class:`StorePool`);
* a connection the driver cannot open because the server is not there (asyncpg raises the
  socket's ``OSError`` itself, ``ConnectionRefusedError`` most often, which SQLAlchemy lets
  through untouched) by a ``do_connect`` listener on the engine (:func:`translate_errors`);
* a driver's error on the batching path, where statements run on the driver itself
  (``store.batching.driver``), by :func:`from_driver`.

What fails to connect or is lost, locked or busy becomes ``DatabaseUnavailable``; a refused
constraint ``ConstraintViolation``; anything else ``DatabaseFailure``. A connection lost under
asyncpg (the server shut down or restarted, the socket reset) reaches SQLAlchemy as a plain
``DBAPIError``, the class asyncpg's server errors all share: it is told apart by SQLAlchemy's
own verdict (``connection_invalidated``) or by the driver's error it carries. The original
error is the translation's ``__cause__``; the translation's message names only the kind of
error. SQLAlchemy's errors that do not come from the database (a misused API: a bug) are left
as they are.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from store.errors import ConstraintViolation, DatabaseFailure, DatabaseUnavailable


def from_sqlalchemy(exc: BaseException | None) -> DatabaseFailure | None:
    """The store's error for a SQLAlchemy error raised by the database; None for any other."""
    if isinstance(exc, IntegrityError):
        return ConstraintViolation("IntegrityError")
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and _lost_connection(exc)
    ):
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
    if isinstance(exc, sqlite3.OperationalError) or _unreachable(exc):
        return DatabaseUnavailable("OperationalError")
    return DatabaseFailure("DatabaseError")


def _lost_connection(exc: DBAPIError) -> bool:
    """Whether SQLAlchemy's error says the connection is gone: SQLAlchemy judged it a
    disconnect, or the driver's error it wraps (or that error's own cause) says so."""
    if exc.connection_invalidated:
        return True
    orig: BaseException | None = exc.orig
    return orig is not None and (_unreachable(orig) or _unreachable(orig.__cause__))


def _unreachable(exc: BaseException | None) -> bool:
    """Whether a driver's error says the server cannot be reached, dropped the connection or
    takes no more: a socket error, asyncpg's connection errors (SQLSTATE class 08), its
    interface errors, a server shutting down or starting up (57P01-57P03), too many
    connections (53300)."""
    if exc is None:
        return False
    if isinstance(exc, OSError):  # ConnectionError, a reset socket, a connect timeout, DNS
        return True
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(
        exc,
        pg.PostgresConnectionError
        | pg.InterfaceError
        | pg.AdminShutdownError
        | pg.CrashShutdownError
        | pg.CannotConnectNowError
        | pg.TooManyConnectionsError,
    )


def _on_error(context: ExceptionContext) -> None:
    if context.is_pre_ping:  # the pool's liveness check handles its own failures
        return
    translated = from_sqlalchemy(context.sqlalchemy_exception)
    if translated is not None:
        # SQLAlchemy raises it in place of its own error, after its cleanup (an invalidated
        # connection is still discarded), chained to the driver's error
        raise translated


def _connect(
    dialect: Dialect, _record: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any]
) -> DBAPIConnection:
    # SQLAlchemy wraps only the driver's own error classes; the socket's error (the server is
    # not listening) would leave the store as it came
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise DatabaseUnavailable(type(exc).__name__) from exc


def translate_errors(engine: AsyncEngine) -> None:
    """Make ``engine`` raise the store's errors for what its database raises, connecting
    included."""
    event.listen(engine.sync_engine, "handle_error", _on_error)
    event.listen(engine.sync_engine, "do_connect", _connect)


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
