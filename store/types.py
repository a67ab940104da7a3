"""Column types shared by the store's tables.

``UtcDateTime`` keeps times timezone-aware on both databases: SQLite has no time zone type and
drops offsets, so every time is converted to UTC before it is written and comes back as aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

UTC = dt.UTC
_DATETIME = dt.datetime
#: SQLAlchemy's text for a ``DATETIME`` on SQLite (its default storage format)
_SQLITE_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"

#: A 64-bit integer primary key that stays SQLite's auto-incrementing ``INTEGER PRIMARY KEY``.
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")

#: JSON documents: ``JSONB`` on PostgreSQL, text JSON on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware ``datetime`` stored as UTC; naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def driver_bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """This type's bind processor on ``dialect``, with a shortcut for the value it nearly
        always gets: a plain ``datetime`` in UTC (``dt.UTC``, what ``schemas.times.utc_now``
        gives). On SQLite that is the text SQLAlchemy's ``DATETIME`` stores, from its fields
        in one formatting (no conversion, no second processor); on PostgreSQL the value itself,
        as it is already in UTC. Anything else goes through SQLAlchemy's own processor, which
        is what decides: the store's driver statements (``store.batching.StatementBuilder``)
        bind with this, and what they store is what a Core insert stores
        (tests/unit/test_store_types.py).
        """
        plain = self.dialect_impl(dialect).bind_processor(dialect)
        if plain is None:
            return None
        if dialect.name == "sqlite":

            def process(value: Any) -> Any:
                if type(value) is _DATETIME and value.tzinfo is UTC:
                    return _SQLITE_TEXT % (
                        value.year,
                        value.month,
                        value.day,
                        value.hour,
                        value.minute,
                        value.second,
                        value.microsecond,
                    )
                return plain(value)

            return process
        if dialect.name == "postgresql":

            def process(value: Any) -> Any:
                if type(value) is _DATETIME and value.tzinfo is UTC:
                    return value
                return plain(value)

            return process
        return plain

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


__all__ = ["BigIntPk", "JsonDocument", "UtcDateTime"]
