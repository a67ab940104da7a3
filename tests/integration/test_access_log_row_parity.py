"""The access log's driver insert (the lookup logs' group commit) stores the rows a Core insert
stores: the same entries — times in other zones or none, no official, no dossier, odd field
lists, a refused lookup, non-ASCII text — written both ways and read back through the driver
are the same to the byte (all but the row id); an entry one way refuses, the other refuses too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from store.access_log import AccessLogEntry, record_lookups
from store.access_log_keys import KeyRing
from store.logs import AccessLogWriter
from store.tables.access_log import access_log
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    log_db_url,
    log_engine_on_both,
)

KEY = b"k" * 32
AT = dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC)
BASE = AccessLogEntry(
    citizen_id="001085000123",
    client_id="province-app",
    organisation="UBND tỉnh Hà Giang",
    official="VN001085000123",
    dossier_code="000.00.04.H04-261126-0001",
    operation="GetCitizen",
    fields=("citizen_id", "full_name"),
    request_id="req-1",
    message_id="msg-1",
    occurred_at=AT,
)
ENTRIES = [
    BASE,
    dataclasses.replace(BASE, occurred_at=AT.astimezone(dt.timezone(dt.timedelta(hours=7)))),
    dataclasses.replace(BASE, occurred_at=AT.replace(microsecond=0)),
    dataclasses.replace(BASE, official=None, dossier_code=None, request_id=None, message_id=None),
    dataclasses.replace(BASE, fields=()),
    dataclasses.replace(BASE, fields=("họ_tên", 'a"b', "citizen_id")),
    dataclasses.replace(BASE, fields=["citizen_id", "full_name"]),  # type: ignore[arg-type]
    dataclasses.replace(BASE, outcome="refused", operation="GetRelatives"),
    dataclasses.replace(BASE, citizen_id="Nguyễn\u2028😀", organisation='x"\\y'),
]


async def _driver_rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    """The table as the driver reads it, without the row id."""
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM access_log ORDER BY id"))
        return [
            tuple(value for name, value in row._mapping.items() if name != "id") for row in result
        ]


@pytest.mark.parametrize("key", [KEY, KeyRing.of(KEY)], ids=["key", "ring"])
async def test_the_driver_insert_stores_what_core_stores(
    engine: AsyncEngine, key: bytes | KeyRing
) -> None:
    writer = AccessLogWriter(engine, key)
    for entry in ENTRIES:
        await writer.record(entry)
    written = await _driver_rows(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(access_log))
        await record_lookups(conn, ENTRIES, key=key)
    assert await _driver_rows(engine) == written


async def test_an_entry_refused_one_way_is_refused_the_other(engine: AsyncEngine) -> None:
    """A naive time (the UTC column refuses it) fails its caller on the driver as on Core."""
    naive = dataclasses.replace(BASE, occurred_at=AT.replace(tzinfo=None))
    with pytest.raises(Exception):  # noqa: B017, PT011 - each path names it its own way
        await AccessLogWriter(engine, KEY).record(naive)
    with pytest.raises(Exception):  # noqa: B017, PT011
        async with engine.begin() as conn:
            await record_lookups(conn, [naive], key=KEY)
    assert await _driver_rows(engine) == []
