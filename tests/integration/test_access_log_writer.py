"""The access-log writer: committed before ``record`` returns, batched, failures isolated."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import store.tables  # noqa: F401 - registers every table
from store.access_log import AccessLogEntry, citizen_key
from store.db import create_engine
from store.logs import AccessLogWriter
from store.metadata import metadata
from store.tables.access_log import access_log

KEY = b"k" * 32


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite store with the access-log table."""
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}", pool_size=1)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, tables=[access_log])
    try:
        yield engine
    finally:
        await engine.dispose()


def _entry(citizen_id: str, operation: str = "GetCitizen") -> AccessLogEntry:
    return AccessLogEntry(
        citizen_id=citizen_id,
        client_id="province-app",
        organisation="UBND",
        official="VN001085000123",
        dossier_code="000.00.04.H04-261126-0001",
        operation=operation,
        fields=("citizen_id", "full_name"),
        request_id="r",
        message_id="m",
    )


async def test_record_returns_once_committed(engine: AsyncEngine) -> None:
    """After ``record`` returns, another connection sees the row (keyed, not in clear)."""
    writer = AccessLogWriter(engine, KEY)
    await writer.record(_entry("001085000123"))
    async with engine.connect() as connection:
        keys = (await connection.execute(select(access_log.c.citizen_key))).scalars().all()
    assert keys == [citizen_key(KEY, "001085000123")]


async def test_concurrent_entries_share_transactions(engine: AsyncEngine) -> None:
    """Entries queued together are written in fewer transactions than entries."""
    writer = AccessLogWriter(engine, KEY)
    await asyncio.gather(*(writer.record(_entry(f"00108500{i:04d}")) for i in range(50)))
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(access_log))
    assert count == 50
    assert writer.group.items == 50
    assert writer.group.transactions < 50


async def test_a_bad_entry_fails_only_its_own_call(engine: AsyncEngine) -> None:
    """One entry the database refuses fails its caller; the others of its batch are written."""
    writer = AccessLogWriter(engine, KEY)
    bad = dataclasses.replace(_entry("001085000999"), client_id=None)  # type: ignore[arg-type]
    results = await asyncio.gather(
        writer.record(_entry("001085000001")),
        writer.record(bad),
        writer.record(_entry("001085000002")),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], Exception)
    assert results[2] is None
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(access_log))
    assert count == 2
