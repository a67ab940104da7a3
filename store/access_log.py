"""The access log: each lookup of a citizen — who, their organisation, the official, the dossier
it served, when, which fields were returned — for ``GET /v1/access-log/{citizen_id}``.

Citizens are found by ``citizen_key`` = HMAC-SHA256(key, citizen ID), the key being
``adapter/accesslog.key`` of the key folder (``store.log_keys.access_log_key``). The clear ID is
not stored: answering "who looked at this citizen" needs only the ID the asker already holds, and
a copy of the table alone neither says whom it is about nor lists the citizens looked up. Losing
the key makes the log unsearchable; rotating it means re-keying the rows (see docs/design.md).
Only field names are stored, never their values.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from store.errors import InvalidCursor
from store.message_log.driver_sql import DriverStatement, DriverTransaction, StatementBuilder
from store.tables.access_log import access_log
from store.types import utc_now

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    """One lookup to record: the citizen, who asked, for whom and what for, what they got."""

    citizen_id: str
    client_id: str
    organisation: str
    official: str | None
    dossier_code: str | None
    operation: str
    fields: tuple[str, ...]
    request_id: str | None = None
    message_id: str | None = None
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AccessLogItem:
    """One recorded lookup as listed (the citizen is the one asked about)."""

    id: int
    occurred_at: dt.datetime
    client_id: str
    organisation: str
    official: str | None
    dossier_code: str | None
    operation: str
    fields: tuple[str, ...]
    request_id: str | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class AccessLogPage:
    """A page of lookups, newest first; ``next_cursor`` fetches the older ones (None: no more)."""

    items: Sequence[AccessLogItem]
    next_cursor: str | None


def citizen_key(key: bytes, citizen_id: str) -> str:
    """The keyed hash the access log finds a citizen by (HMAC-SHA256, hex)."""
    return hmac.new(key, citizen_id.encode("utf-8"), hashlib.sha256).hexdigest()


def _encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"al:{entry_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("the access-log cursor was not issued here") from exc
    prefix, _, number = text.partition(":")
    if prefix != "al" or not number.isdigit():
        raise InvalidCursor("the access-log cursor was not issued here")
    return int(number)


async def record_lookup(session: AsyncSession, entry: AccessLogEntry, *, key: bytes) -> None:
    """Add ``entry`` to the access log in the session's transaction (the caller commits)."""
    await session.execute(insert(access_log).values(**_row(entry, key)))


async def record_lookups(
    session: AsyncSession | AsyncConnection, entries: Sequence[AccessLogEntry], *, key: bytes
) -> None:
    """Add several entries in one statement (group commit by the API); the caller commits."""
    if entries:
        await session.execute(insert(access_log), [_row(entry, key) for entry in entries])


#: the columns :func:`insert_lookups` writes, in order
_COLUMNS = (
    "citizen_key",
    "occurred_at",
    "client_id",
    "organisation",
    "official",
    "dossier_code",
    "operation",
    "fields",
    "request_id",
    "message_id",
)
_INSERTS: dict[str, DriverStatement] = {}


async def insert_lookups(
    tx: DriverTransaction, entries: Sequence[AccessLogEntry], *, key: bytes
) -> None:
    """:func:`record_lookups` on the database driver, inside a log group commit's transaction
    (``store.message_log.group_commit``): the same rows, without SQLAlchemy's per-statement work.
    """
    if not entries:
        return
    statement = _INSERTS.get(tx.dialect.name)
    if statement is None:
        statement = StatementBuilder(access_log, tx.dialect).insert(_COLUMNS)
        _INSERTS[tx.dialect.name] = statement
    rows = []
    for entry in entries:
        row = _row(entry, key)
        rows.append(tuple(row[name] for name in _COLUMNS))
    tx.queue_many(statement, rows)


def _row(entry: AccessLogEntry, key: bytes) -> dict[str, object]:
    return {
        "citizen_key": citizen_key(key, entry.citizen_id),
        "occurred_at": entry.occurred_at or utc_now(),
        "client_id": entry.client_id,
        "organisation": entry.organisation,
        "official": entry.official,
        "dossier_code": entry.dossier_code,
        "operation": entry.operation,
        "fields": list(entry.fields),
        "request_id": entry.request_id,
        "message_id": entry.message_id,
    }


async def list_for_citizen(
    session: AsyncSession,
    citizen_id: str,
    *,
    key: bytes,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AccessLogPage:
    """The lookups of ``citizen_id``, newest first, ``limit`` at a time from ``cursor``.

    Raises ``store.errors.InvalidCursor`` for a cursor this function did not issue.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    query = (
        select(access_log)
        .where(access_log.c.citizen_key == citizen_key(key, citizen_id))
        .order_by(access_log.c.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(access_log.c.id < _decode_cursor(cursor))
    rows = (await session.execute(query)).all()
    items = [
        AccessLogItem(
            id=row.id,
            occurred_at=row.occurred_at,
            client_id=row.client_id,
            organisation=row.organisation,
            official=row.official,
            dossier_code=row.dossier_code,
            operation=row.operation,
            fields=tuple(row.fields),
            request_id=row.request_id,
            message_id=row.message_id,
        )
        for row in rows[:limit]
    ]
    next_cursor = _encode_cursor(items[-1].id) if len(rows) > limit else None
    return AccessLogPage(items, next_cursor)


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "AccessLogEntry",
    "AccessLogItem",
    "AccessLogPage",
    "citizen_key",
    "insert_lookups",
    "list_for_citizen",
    "record_lookup",
    "record_lookups",
]
