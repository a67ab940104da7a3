"""The dossier reads the API asks (``store.dossier_reads``) and the session runner under them."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from schemas.status import DossierStatus
from store.dossier_reads import DossierReads
from store.dossiers import record_dossier, record_event
from store.sessions import SessionRunner
from tests.support.stores import make_dossier, make_event


async def _stored(engine: AsyncEngine) -> None:
    async def work(session: AsyncSession) -> None:
        await record_dossier(session, make_dossier(1, sector="TP"))
        await record_event(session, make_event(1, 1, DossierStatus.ACCEPTED))

    await SessionRunner(engine).write(work)


async def test_a_dossier_is_found_only_when_its_sector_is_visible(engine: AsyncEngine) -> None:
    """The caller's rule decides: a dossier it may not see reads as one not stored."""
    await _stored(engine)
    reads, code = DossierReads(engine), make_dossier(1).code
    seen: list[str | None] = []

    def only_tp(sector: str | None) -> bool:
        seen.append(sector)
        return sector == "TP"

    found = await reads.visible_dossier(code, visible=only_tp)
    assert found is not None
    assert found.record.dossier.code == code
    assert found.sync is not None
    assert found.sync.pending == 2  # the dossier and its step
    assert await reads.visible_dossier(code, visible=lambda sector: False) is None
    assert await reads.visible_dossier(make_dossier(2).code, visible=only_tp) is None
    assert seen == ["TP"]  # a missing dossier asks nothing of the rule
    record = await reads.record(code, visible=only_tp)
    assert record is not None
    assert record.dossier.code == code
    assert await reads.record(code, visible=lambda sector: False) is None
    assert await reads.record(make_dossier(2).code, visible=only_tp) is None
    timeline = await reads.timeline(code, visible=only_tp)
    assert timeline is not None
    assert [(e.sequence, e.status) for e in timeline.events] == [(1, DossierStatus.ACCEPTED)]
    assert await reads.timeline(code, visible=lambda sector: False) is None


async def test_the_feed_page_comes_with_the_sync_states_of_its_dossiers(
    engine: AsyncEngine,
) -> None:
    """A feed page and the states of the dossiers on it, for the caller's sectors only."""
    await _stored(engine)
    reads = DossierReads(engine)
    found = await reads.feed_page(updated_since=None, cursor=None, sectors=["TP"], limit=10)
    assert [r.dossier.code for r in found.page.items] == [make_dossier(1).code]
    assert set(found.sync) == {make_dossier(1).code}
    other = await reads.feed_page(updated_since=None, cursor=None, sectors=["HT"], limit=10)
    assert (other.page.items, other.sync) == ([], {})


async def test_a_write_that_fails_leaves_nothing(engine: AsyncEngine) -> None:
    """``SessionRunner.write`` is one transaction: work that raises commits none of its rows."""

    async def half_done(session: AsyncSession) -> None:
        await record_dossier(session, make_dossier(1))
        raise RuntimeError("stopped halfway")

    with pytest.raises(RuntimeError):
        await SessionRunner(engine).write(half_done)
    assert await DossierReads(engine).purpose(make_dossier(1).code) is None
    await _stored(engine)
    assert await DossierReads(engine).purpose(make_dossier(1).code) is not None
