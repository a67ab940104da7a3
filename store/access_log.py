"""The access log: each lookup of a citizen — who, their organisation, the official, the dossier
it served, when, which fields were returned, whether it was answered or refused — for
``GET /v1/access-log/{citizen_id}``.

Citizens are found by ``citizen_key`` = HMAC-SHA256(key, citizen ID), and each row keeps
``key_id``, the public id of the key that made it (``store.log_keys.key_id``). The clear ID is
not stored: answering "who looked at this citizen" needs only the ID the asker already holds, and
a copy of the table alone neither says whom it is about nor lists the citizens looked up.

The key is rotated, not re-keyed (``store.access_log_keys``, ``lienthong log rotate-access-key``):
new rows are written with the ring's current key, and a search hashes the ID under every key of
the ring in one query, each hash matched only against rows of its own key id. Rows stored before
rows recorded their key (``key_id`` NULL) are matched under the ring's legacy key only, the one
in use before the first rotation. A process keeps the ring it was given (the adapter loads it at
start), so a rotation reaches it when it restarts. Losing a key of the ring makes its rows
unsearchable. Only field names are stored, never their values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ColumnElement

from schemas.times import utc_now
from store.access_log_keys import KeyRing
from store.batching import DriverStatement, DriverTransaction, StatementBuilder
from store.cursors import ACCESS_LOG_CURSOR
from store.log_keys import key_id
from store.tables.access_log import access_log

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
    #: ``answered``, or ``refused`` when the lookup's purpose did not hold (nothing was asked)
    outcome: str = "answered"


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
    outcome: str = "answered"


@dataclass(frozen=True, slots=True)
class AccessLogPage:
    """A page of lookups, newest first; ``next_cursor`` fetches the older ones (None: no more)."""

    items: Sequence[AccessLogItem]
    next_cursor: str | None


def citizen_key(key: bytes, citizen_id: str) -> str:
    """The keyed hash the access log finds a citizen by (HMAC-SHA256, hex)."""
    return hmac.digest(key, citizen_id.encode("utf-8"), "sha256").hex()


#: the HMAC pads (RFC 2104) as byte translations, as the standard library's ``hmac`` has them
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))
_BLOCK = hashlib.sha256().block_size


class CitizenKeyer:
    """:func:`citizen_key` under one key, for many citizens: the key's padded blocks are hashed
    once (RFC 2104) and each ID costs two copies of those states, half of what ``hmac.digest``
    costs per call (OpenSSL sets its HMAC up anew each time). The same hex
    (tests/unit/test_access_log_keyer.py); ``key_id`` is the key's public id."""

    __slots__ = ("_inner", "_outer", "key", "key_id")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.key_id = key_id(key)
        block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_INNER_PAD))
        self._outer = hashlib.sha256(block.translate(_OUTER_PAD))

    def __call__(self, citizen_id: str) -> str:
        """``citizen_key(key, citizen_id)``."""
        inner = self._inner.copy()
        inner.update(citizen_id.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


async def record_lookup(
    session: AsyncSession, entry: AccessLogEntry, *, key: bytes | KeyRing
) -> None:
    """Add ``entry`` to the access log in the session's transaction (the caller commits).

    The row is keyed with ``key`` (a ring's current key) and records that key's id.
    """
    current = _current(key)
    await session.execute(insert(access_log).values(**_row(entry, *current)))


async def record_lookups(
    session: AsyncSession | AsyncConnection,
    entries: Sequence[AccessLogEntry],
    *,
    key: bytes | KeyRing,
) -> None:
    """Add several entries in one statement (group commit by the API); the caller commits."""
    if entries:
        current = _current(key)
        await session.execute(insert(access_log), [_row(entry, *current) for entry in entries])


#: the columns :func:`insert_lookups` writes, in order
_COLUMNS = (
    "citizen_key",
    "key_id",
    "occurred_at",
    "client_id",
    "organisation",
    "official",
    "dossier_code",
    "operation",
    "fields",
    "request_id",
    "message_id",
    "outcome",
)
_INSERTS: dict[str, DriverStatement] = {}


async def insert_lookups(
    tx: DriverTransaction, entries: Sequence[AccessLogEntry], *, key: bytes | KeyRing
) -> None:
    """:func:`record_lookups` on the database driver, inside a log group commit's transaction
    (``store.batching``): the same rows, without SQLAlchemy's per-statement work.

    The rows are built in one pass, as tuples; the field names are bound as a tuple (the one
    the entry holds), whose JSON is remembered (``StatementBuilder.insert``'s ``remembered``:
    a handful of lists).
    """
    if entries:
        queue_lookups(tx, entries, CitizenKeyer(current_key(key)))


def queue_lookups(
    tx: DriverTransaction, entries: Sequence[AccessLogEntry], keyer: CitizenKeyer
) -> None:
    """:func:`insert_lookups` with the current key's :class:`CitizenKeyer` (which a writer keeps
    from one batch to the next)."""
    statement = _INSERTS.get(tx.dialect.name)
    if statement is None:
        statement = StatementBuilder(access_log, tx.dialect).insert(
            _COLUMNS, remembered={"fields": list}
        )
        _INSERTS[tx.dialect.name] = statement
    made_by = keyer.key_id
    rows = [
        _values(entry, keyer(entry.citizen_id), made_by, fields=tuple(entry.fields))
        for entry in entries
    ]
    tx.queue_many(statement, rows)


def current_key(key: bytes | KeyRing) -> bytes:
    """The key new rows are made with (a ring's current key)."""
    return key.current if isinstance(key, KeyRing) else key


def _current(key: bytes | KeyRing) -> tuple[bytes, str]:
    """The key new rows are made with, and its id."""
    current = current_key(key)
    return current, key_id(current)


def _values(
    entry: AccessLogEntry, citizen: str, made_by: str, *, fields: object
) -> tuple[object, ...]:
    """The row of ``entry`` (``citizen`` its keyed hash), values in :data:`_COLUMNS` order
    (``fields`` as it is bound)."""
    return (
        citizen,
        made_by,
        entry.occurred_at or utc_now(),
        entry.client_id,
        entry.organisation,
        entry.official,
        entry.dossier_code,
        entry.operation,
        fields,
        entry.request_id,
        entry.message_id,
        entry.outcome,
    )


def _row(entry: AccessLogEntry, key: bytes, made_by: str) -> dict[str, object]:
    citizen = citizen_key(key, entry.citizen_id)
    return dict(
        zip(_COLUMNS, _values(entry, citizen, made_by, fields=list(entry.fields)), strict=True)
    )


async def list_for_citizen(
    session: AsyncSession,
    citizen_id: str,
    *,
    key: bytes | KeyRing,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AccessLogPage:
    """The lookups of ``citizen_id``, newest first, ``limit`` at a time from ``cursor``.

    ``key`` is the key ring (or one key, a ring of one): rows made under any of its keys are
    found, in one query. Raises ``store.errors.InvalidCursor`` for a cursor this function did
    not issue.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    query = (
        select(access_log)
        .where(_made_for(citizen_id, KeyRing.of(key)))
        .order_by(access_log.c.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(access_log.c.id < ACCESS_LOG_CURSOR.decode(cursor))
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
            outcome=row.outcome,
        )
        for row in rows[:limit]
    ]
    next_cursor = ACCESS_LOG_CURSOR.encode(items[-1].id) if len(rows) > limit else None
    return AccessLogPage(items, next_cursor)


def _made_for(citizen_id: str, ring: KeyRing) -> ColumnElement[bool]:
    """Rows of ``citizen_id`` under any key of ``ring``: each keyed hash only with its key id
    (rows without a key id: the legacy key's hash). The ``IN`` keeps the ``citizen_key`` index
    in use; the pairs reject a hash that some other key made."""
    hashes = {kid: citizen_key(key, citizen_id) for kid, key in ring.keys.items()}
    made_by = [
        and_(access_log.c.key_id == kid, access_log.c.citizen_key == digest)
        for kid, digest in hashes.items()
    ]
    unlabelled = and_(
        access_log.c.key_id.is_(None), access_log.c.citizen_key == hashes[ring.legacy]
    )
    return and_(access_log.c.citizen_key.in_(list(hashes.values())), or_(*made_by, unlabelled))


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "AccessLogEntry",
    "AccessLogItem",
    "AccessLogPage",
    "CitizenKeyer",
    "citizen_key",
    "current_key",
    "insert_lookups",
    "list_for_citizen",
    "queue_lookups",
    "record_lookup",
    "record_lookups",
]
