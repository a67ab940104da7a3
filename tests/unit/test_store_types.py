"""``UtcDateTime.driver_bind_processor``: the driver statements' shortcut binds what SQLAlchemy's
own processor binds, on SQLite and PostgreSQL, for UTC times and everything else (other zones,
naive times, other types: the same refusal); so do their bytes (``LargeBinary``), and a whole
message-log row."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import create_async_engine

from store.batching import StatementBuilder
from store.message_log.writer import RECORD_COLUMNS
from store.tables.message_log import message_log
from store.types import UtcDateTime

DIALECTS = [aiosqlite.dialect(), asyncpg.dialect()]


class _Moment(dt.datetime):
    """A datetime subclass: only SQLAlchemy's processor handles it."""


def _outcome(function: Callable[[], Any]) -> Any:
    try:
        value = function()
    except Exception as exc:
        return ("raised", type(exc))
    return (type(value), value, getattr(value, "tzinfo", None))


def _both(dialect: Dialect) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    kind = UtcDateTime()
    plain = kind.dialect_impl(dialect).bind_processor(dialect)
    fast = kind.driver_bind_processor(dialect)
    assert plain is not None
    assert fast is not None
    return fast, plain


VALUES: list[Any] = [
    dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 26, 8, 0, 0, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 26, 8, 0, 0, 1, fold=1, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 26, 15, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=7))),
    dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.timezone(dt.timedelta(0), "UTC but not dt.UTC")),
    dt.datetime(2026, 11, 26, 8, 0, tzinfo=zoneinfo.ZoneInfo("UTC")),
    dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2026, 11, 26, 8, 0, 0),  # naive: refused
    _Moment(2026, 11, 26, 8, 0, 0, 7, tzinfo=dt.UTC),
    dt.date(2026, 11, 26),
    "2026-11-26 08:00:00",
    1_800_000_000,
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda dialect: dialect.name)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_shortcut_binds_what_sqlalchemy_binds(dialect: Dialect, value: Any) -> None:
    """The same value (type, text or instant, zone) or the same refusal."""
    fast, plain = _both(dialect)
    assert _outcome(lambda: fast(value)) == _outcome(lambda: plain(value))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda dialect: dialect.name)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.datetimes(
        timezones=st.one_of(st.none(), st.just(dt.UTC), st.timezones(), st.just(dt.UTC))
    )
)
def test_the_shortcut_agrees_on_generated_times(dialect: Dialect, value: dt.datetime) -> None:
    """Any datetime hypothesis makes, UTC most often, in any zone, or naive."""
    fast, plain = _both(dialect)
    assert _outcome(lambda: fast(value)) == _outcome(lambda: plain(value))


#: dialects of engines (never connected): their DB-API modules are loaded, as in the store
ENGINE_DIALECTS = [
    create_async_engine("sqlite+aiosqlite://").dialect,
    create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none").dialect,
]

BYTES: list[Any] = [b"", b"\x00", b"abc\r\n\xff", b"x" * 5000, bytearray(b"ba"), memoryview(b"mv")]


def _bound(value: Any) -> Any:
    """What a bound value is: its type and, for a buffer, its bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        return (type(value), bytes(value))
    return (type(value), value)


@pytest.mark.parametrize("dialect", ENGINE_DIALECTS, ids=lambda dialect: dialect.name)
@pytest.mark.parametrize("value", BYTES, ids=lambda value: repr(value)[:20])
def test_bytes_are_bound_as_sqlalchemy_binds_them(dialect: Dialect, value: Any) -> None:
    """A ``LargeBinary`` column's driver processor (the DB-API's ``Binary`` itself, the
    statements passing no None) binds what SQLAlchemy's processor binds."""
    kind = message_log.c.request_wire.type
    plain = kind.dialect_impl(dialect).bind_processor(dialect)
    fast = StatementBuilder(message_log, dialect)._processor("request_wire")
    assert plain is not None
    assert fast == dialect.dbapi.Binary
    assert _bound(fast(value)) == _bound(plain(value))
    assert plain(None) is None


@pytest.mark.parametrize("dialect", ENGINE_DIALECTS, ids=lambda dialect: dialect.name)
@pytest.mark.parametrize("response", [b"<r/>", None], ids=repr)
def test_a_record_row_is_bound_as_sqlalchemy_binds_it(dialect: Dialect, response: Any) -> None:
    """The message log's insert binds every value of a row, None included, as each column's
    own SQLAlchemy processor binds it (times in UTC, other zones, bytes, None)."""
    statement = StatementBuilder(message_log, dialect).insert(RECORD_COLUMNS)
    values: dict[str, Any] = {name: f"text-{name}" for name in RECORD_COLUMNS}
    values.update(
        seq=7,
        attempt=1,
        status=None,
        user_id=None,
        started_at=dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 11, 26, 15, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))),
        request_wire=b"\x01request",
        response_wire=response,
    )
    row = [values[name] for name in RECORD_COLUMNS]
    expected = []
    for name, value in zip(RECORD_COLUMNS, row, strict=True):
        kind = message_log.c[name].type
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        expected.append(_bound(process(value) if process is not None else value))
    assert [_bound(value) for value in statement.params(row)] == expected
