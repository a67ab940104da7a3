"""Access-log key rotation on the real store (SQLite and PostgreSQL): rows made before a rotation
are still found by citizen after it, new rows carry the new key id, a hash matches only rows of its
own key, and migration 0003 on a database that already holds rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from store.access_log import AccessLogEntry, citizen_key, list_for_citizen, record_lookup
from store.access_log_keys import KeyRing, load_access_log_keys, rotate_access_log_key
from store.db import alembic_config, create_engine, normalize_url, upgrade_async
from store.log_keys import access_log_key, key_id
from store.logs import AccessLogWriter
from store.tables.access_log import access_log
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    access_entry,
    log_db_url,
    log_engine_on_both,
)

CITIZEN = "001190000007"
OTHER = "079203000042"
T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
A, B = b"a" * 32, b"b" * 32


def _entry(citizen_id: str, n: int) -> AccessLogEntry:
    return access_entry(citizen_id, n, at=T0 + dt.timedelta(minutes=n))


async def _record(engine: AsyncEngine, ring: KeyRing, *entries: AccessLogEntry) -> None:
    async with AsyncSession(engine) as session, session.begin():
        for entry in entries:
            await record_lookup(session, entry, key=ring)


async def _found(engine: AsyncEngine, ring: KeyRing, citizen_id: str = CITIZEN) -> list[str]:
    async with AsyncSession(engine) as session:
        page = await list_for_citizen(session, citizen_id, key=ring)
    return [str(item.request_id) for item in page.items]


async def _key_ids(engine: AsyncEngine) -> dict[str, str | None]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(access_log.c.request_id, access_log.c.key_id))).all()
    return {row.request_id: row.key_id for row in rows}


async def test_rows_made_before_a_rotation_are_found_after_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Lookups recorded under the first key, then under the key a rotation made: the ring loaded
    after the rotation finds all of them, newest first, and pages across the two keys."""
    keys = tmp_path / "keys"
    before = load_access_log_keys(keys)
    await _record(engine, before, _entry(CITIZEN, 1), _entry(OTHER, 2), _entry(CITIZEN, 3))
    rotate_access_log_key(keys)
    after = load_access_log_keys(keys)
    await _record(engine, after, _entry(CITIZEN, 4), _entry(CITIZEN, 5))

    assert await _found(engine, after) == ["req-5", "req-4", "req-3", "req-1"]
    assert await _found(engine, after, OTHER) == ["req-2"]
    assert await _found(engine, before) == ["req-3", "req-1"]  # the old ring lacks the new key
    seen: list[str] = []
    cursor: str | None = None
    async with AsyncSession(engine) as session:
        while True:
            page = await list_for_citizen(session, CITIZEN, key=after, limit=3, cursor=cursor)
            seen += [str(item.request_id) for item in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == ["req-5", "req-4", "req-3", "req-1"]


async def test_rows_after_a_rotation_carry_the_new_key_id(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Each row records the id of the key that made it: the first key's before the rotation,
    the new key's after it — through a session and through the group-commit writer alike."""
    keys = tmp_path / "keys"
    before = load_access_log_keys(keys)
    await _record(engine, before, _entry(CITIZEN, 1))
    rotation = rotate_access_log_key(keys)
    after = load_access_log_keys(keys)
    await _record(engine, after, _entry(CITIZEN, 2))
    writer = AccessLogWriter(engine, after)
    await writer.record(_entry(CITIZEN, 3))
    await writer.aclose()

    assert rotation.retired_id == before.current_id
    assert await _key_ids(engine) == {
        "req-1": before.current_id,
        "req-2": rotation.new_id,
        "req-3": rotation.new_id,
    }
    async with engine.connect() as conn:
        stored = (await conn.execute(select(access_log.c.citizen_key))).scalars().all()
    assert sorted(stored) == sorted(
        [citizen_key(before.current, CITIZEN)] + [citizen_key(after.current, CITIZEN)] * 2
    )


async def test_a_hash_matches_only_rows_of_its_own_key(engine: AsyncEngine) -> None:
    """With A current and B retired (and legacy), a row whose hash one key made but whose key
    id names the other key is not found, nor is an unlabelled row hashed under A; the rows
    whose hash and key id agree are, and so is an unlabelled row hashed under the legacy key."""
    ring = KeyRing(A, (B,), key_id(B))
    rows = [
        ("right-a", key_id(A), citizen_key(A, CITIZEN)),
        ("right-b", key_id(B), citizen_key(B, CITIZEN)),
        ("legacy-b", None, citizen_key(B, CITIZEN)),
        ("a-hash-b-id", key_id(B), citizen_key(A, CITIZEN)),
        ("b-hash-a-id", key_id(A), citizen_key(B, CITIZEN)),
        ("legacy-a-hash", None, citizen_key(A, CITIZEN)),
        ("foreign-id", "0123456789abcdef", citizen_key(A, CITIZEN)),
    ]
    async with engine.begin() as conn:
        for n, (request_id, made_by, digest) in enumerate(rows):
            await conn.execute(
                insert(access_log).values(
                    citizen_key=digest,
                    key_id=made_by,
                    occurred_at=T0 + dt.timedelta(minutes=n),
                    client_id="province-app",
                    organisation="UBND",
                    operation="GetCitizen",
                    fields=[],
                    request_id=request_id,
                )
            )
    assert await _found(engine, ring) == ["legacy-b", "right-b", "right-a"]
    assert await _found(engine, KeyRing(A)) == ["legacy-a-hash", "right-a"]


# --- migration 0003 on a database that holds rows -------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a SQLite folder, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield normalize_url(tmp_path / "data")
        return
    import psycopg2

    server: str = request.getfixturevalue("postgres_dsn")
    name = f"lienthong_migration_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield normalize_url(server.rsplit("/", 1)[0] + f"/{name}")
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_migration_keeps_existing_rows_findable_through_rotations(
    empty_database: str, tmp_path: Path
) -> None:
    """Rows written at revision 0002 (no key id) get ``key_id`` NULL from 0003 and are found
    under the key that made them, before and after two rotations, beside rows of the new keys;
    downgrading drops the column and keeps the rows."""
    keys = tmp_path / "keys"
    old_key = access_log_key(keys)
    await upgrade_async(empty_database, "0002_logs_records")
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as conn:  # as the code before key ids wrote them
            for n, citizen_id in enumerate([CITIZEN, OTHER, CITIZEN]):
                entry = _entry(citizen_id, n)
                await conn.execute(
                    insert(access_log).values(
                        citizen_key=citizen_key(old_key, entry.citizen_id),
                        occurred_at=entry.occurred_at,
                        client_id=entry.client_id,
                        organisation=entry.organisation,
                        official=entry.official,
                        dossier_code=entry.dossier_code,
                        operation=entry.operation,
                        fields=list(entry.fields),
                        request_id=entry.request_id,
                        message_id=entry.message_id,
                    )
                )
        await upgrade_async(empty_database)
        assert await _key_ids(engine) == {"req-0": None, "req-1": None, "req-2": None}
        assert await _found(engine, load_access_log_keys(keys)) == ["req-2", "req-0"]

        rotate_access_log_key(keys)
        await _record(engine, load_access_log_keys(keys), _entry(CITIZEN, 3))
        rotate_access_log_key(keys)
        ring = load_access_log_keys(keys)
        assert ring.legacy == key_id(old_key) != ring.current_id
        await _record(engine, ring, _entry(CITIZEN, 4))
        assert await _found(engine, ring) == ["req-4", "req-3", "req-2", "req-0"]
        assert await _found(engine, ring, OTHER) == ["req-1"]

        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0002_logs_records")
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("access_log")}
            )
            count = len((await conn.execute(select(access_log.c.id))).all())
        assert "key_id" not in columns
        assert count == 5
    finally:
        await engine.dispose()
