"""The ministries' feed: keyset pages by change order, sectors, updated_since, opaque cursors."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import record_dossier, record_event
from store.errors import InvalidCursor
from store.feed import decode_cursor, encode_cursor, feed
from tests.support.stores import make_dossier, make_event

T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)


async def _register(engine: AsyncEngine, serials: range, *, sector: str = "TP") -> None:
    sessions = create_sessionmaker(engine)
    for serial in serials:
        async with sessions() as session, session.begin():
            await record_dossier(
                session,
                make_dossier(serial, sector=sector),
                now=T0 + dt.timedelta(minutes=serial),
            )


async def test_pages_cover_every_dossier_once_in_change_order(engine: AsyncEngine) -> None:
    """Following the cursor visits each dossier exactly once, in the order they changed."""
    await _register(engine, range(1, 8))
    sessions = create_sessionmaker(engine)
    seen: list[str] = []
    cursor = None
    async with sessions() as session:
        for _ in range(10):
            page = await feed(session, cursor=cursor, limit=3)
            seen += [record.dossier.code for record in page.items]
            cursor = page.cursor
            if not page.has_more:
                break
    assert seen == [make_dossier(n).code for n in range(1, 8)]


async def test_a_changed_dossier_comes_again_after_the_cursor(engine: AsyncEngine) -> None:
    """A dossier changed after a reader's cursor shows up on the reader's next poll."""
    await _register(engine, range(1, 4))
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        page = await feed(session, limit=100)
    assert not page.has_more
    async with sessions() as session, session.begin():
        await record_event(session, make_event(1, 1, DossierStatus.ACCEPTED))
    async with sessions() as session:
        empty_then_one = await feed(session, cursor=page.cursor)
    assert [r.dossier.code for r in empty_then_one.items] == [make_dossier(1).code]
    assert empty_then_one.items[0].dossier.status is DossierStatus.ACCEPTED


async def test_sector_filter_merges_sectors_in_change_order(engine: AsyncEngine) -> None:
    """Only the asked sectors are returned, merged by change order across sectors."""
    await _register(engine, range(1, 4), sector="TP")
    await _register(engine, range(4, 7), sector="YT")
    await _register(engine, range(7, 9), sector="GD")
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        page = await feed(session, sectors=["YT", "GD"], limit=4)
        rest = await feed(session, sectors=["YT", "GD"], cursor=page.cursor, limit=4)
        nothing = await feed(session, sectors=[])
    codes = [r.dossier.code for r in page.items + rest.items]
    assert codes == [make_dossier(n).code for n in range(4, 9)]
    assert page.has_more
    assert not rest.has_more
    assert nothing.items == []


async def test_updated_since_starts_at_the_first_change_at_or_after_it(
    engine: AsyncEngine,
) -> None:
    """updated_since returns the dossiers stored at or after that time, and no older one."""
    await _register(engine, range(1, 6))
    sessions = create_sessionmaker(engine)
    since = T0 + dt.timedelta(minutes=3)
    async with sessions() as session:
        page = await feed(session, updated_since=since)
        later = await feed(session, updated_since=T0 + dt.timedelta(days=1))
    assert [r.dossier.code for r in page.items] == [make_dossier(n).code for n in (3, 4, 5)]
    assert all(r.stored_at >= since for r in page.items)
    assert later.items == []
    async with sessions() as session:
        after_later = await feed(session, cursor=later.cursor)
    assert after_later.items == []


def test_cursor_round_trips_and_foreign_cursors_are_refused() -> None:
    """A cursor decodes to its position; anything else raises InvalidCursor."""
    assert decode_cursor(encode_cursor(12345)) == 12345
    for bad in ("", "not-a-cursor", encode_cursor(1)[:-2] + "!!", "ZmVlZDE6LTE"):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)
