"""The desks the API asks (``watches.desk``, ``chains.desk``, ``timeliness.desk``): their answers,
the caller's visibility rule, and what one request does in one transaction, on both databases."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from chains.definitions import ChainDefinition
from chains.desk import ChainDesk
from chains.errors import ChainConflict
from chains.intake import ChainFiling
from chains.runtime import ChainRuntime
from schemas.citizen_id import Sex, make_citizen_id
from schemas.times import VN_TZ
from store.db import create_sessionmaker
from store.dossier_batch import DossierWrite, PutDossier, record_writes
from store.dossier_reads import DossierReads
from store.errors import ConstraintViolation
from store.sessions import SessionRunner
from store.watches.types import Watch, WatchKind
from tests.support.stores import make_dossier
from timeliness.apology import Apology, ApologyState
from timeliness.desk import TimelinessDesk
from timeliness.errors import ApologyAlreadyDecided, ApologyNotFound
from timeliness.service import Timeliness
from watches.desk import Registered, WatchDesk
from watches.registration import Refusal

_T = TypeVar("_T")
CITIZEN = make_citizen_id("001", 1985, Sex.MALE, 1)
REFUSED = Refusal("purpose_not_granted", "not granted")


class _GrantsAllBut:
    """A watch policy refusing one purpose (the desk's part, not the policy's, is tested)."""

    def __init__(self, refused_purpose: str) -> None:
        self.refused_purpose = refused_purpose

    def knows_client(self, client: str) -> bool:
        return True

    async def refusal(self, session: AsyncSession, watch: Watch) -> Refusal | None:
        return REFUSED if watch.purpose == self.refused_purpose else None


async def test_a_refused_watch_is_not_stored_and_a_granted_one_is_created_once(
    engine: AsyncEngine,
) -> None:
    """Registering answers the stored watch and whether it is new; a refused purpose stores
    nothing; removal and the list see only the client's own watches."""
    desk = WatchDesk(SessionRunner(engine), _GrantsAllBut("secret"))
    client, other = f"c-{uuid.uuid4().hex[:12]}", f"o-{uuid.uuid4().hex[:12]}"
    now = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
    refused = Watch(WatchKind.CITIZEN, CITIZEN, client, "secret", "VN" + CITIZEN)
    assert await desk.register(refused, now=now) == REFUSED
    assert await desk.watches_of(client, kind=None, limit=10) == []

    first = await desk.register(Watch(WatchKind.CITIZEN, CITIZEN, client, "p1", None), now=now)
    assert isinstance(first, Registered)
    assert (first.created, first.watch.purpose, first.watch.client) == (True, "p1", client)
    again = await desk.register(Watch(WatchKind.CITIZEN, CITIZEN, client, "p2", None), now=now)
    assert isinstance(again, Registered)
    assert (again.created, again.watch.purpose) == (False, "p2")
    await desk.register(Watch(WatchKind.CITIZEN, CITIZEN, other, "p1", None), now=now)

    listed = await desk.watches_of(client, kind=None, limit=10)
    assert [(w.client, w.purpose) for w in listed] == [(client, "p2")]
    assert await desk.watches_of(client, kind=WatchKind.BUSINESS, limit=10) == []
    assert await desk.remove(WatchKind.CITIZEN, CITIZEN, client) is True
    assert await desk.remove(WatchKind.CITIZEN, CITIZEN, client) is False
    assert [w.client for w in await desk.watches_of(other, kind=None, limit=10)] == [other]


class _LosesRaces(SessionRunner):
    """A runner whose first ``losses`` writes fail as a row taken by a concurrent writer."""

    def __init__(self, engine: AsyncEngine, losses: int) -> None:
        super().__init__(engine)
        self.losses = losses
        self.writes = 0

    async def write(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        self.writes += 1
        if self.losses:
            self.losses -= 1
            raise ConstraintViolation("unique")
        return await super().write(work)


def _filing(serial: int, *, child: str = "Nguyễn Thị Bé") -> ChainFiling:
    mother = make_citizen_id("001", 1990, Sex.FEMALE, serial)
    return ChainFiling(
        chain_id="birth-residence-card",
        dossier_code=f"000.00.04.H04-261126-{serial:04d}",
        agency_code="000.00.04.H04",
        applicant_name="Người Nộp Thử",
        applicant_id=mother,
        received_at=dt.datetime(2026, 11, 26, 9, 0, tzinfo=VN_TZ),
        subject={
            "child_full_name": child,
            "child_date_of_birth": "2026-11-20",
            "child_sex": "female",
            "mother_id": mother,
            "address": "Số 1 Đường Thử, Phường Thử, Hà Nội",
        },
    )


def _chains(engine: AsyncEngine, runner: SessionRunner) -> tuple[ChainDesk, ChainDefinition]:
    """A desk on ``runner`` and the birth-registration chain's definition."""
    desk = ChainDesk(ChainRuntime.build(create_sessionmaker(engine), {}), runner)
    definition = desk.definition("birth-residence-card")
    assert definition is not None
    assert desk.definition("no-such-chain") is None
    return desk, definition


async def test_a_chain_lost_to_a_concurrent_filing_is_looked_at_once_more(
    engine: AsyncEngine,
) -> None:
    """One lost race: the desk takes the filing in on its second try; two in a row: the
    ``ConstraintViolation`` reaches the caller (the API's 409) and nothing is stored."""
    twice = _LosesRaces(engine, losses=2)
    desk, birth = _chains(engine, twice)
    with pytest.raises(ConstraintViolation):
        await desk.take_in(birth, _filing(1))
    assert twice.writes == 2
    assert await DossierReads(engine).record(_filing(1).dossier_code, visible=_all) is None

    once = _LosesRaces(engine, losses=1)
    desk, birth = _chains(engine, once)
    taken = await desk.take_in(birth, _filing(1))
    assert (once.writes, taken.created) == (2, True)
    repeated = await desk.take_in(birth, _filing(1))
    assert (repeated.created, repeated.due_at) == (False, taken.due_at)
    with pytest.raises(ChainConflict):
        await desk.take_in(birth, _filing(1, child="Nguyễn Văn Khác"))


async def test_a_chain_shows_only_the_steps_of_the_callers_sectors(engine: AsyncEngine) -> None:
    """The view reads the chain and its steps; a ministry sees its sectors' steps only."""
    desk, birth = _chains(engine, SessionRunner(engine))
    await desk.take_in(birth, _filing(2))
    code = _filing(2).dossier_code
    everything = await desk.view(code, sectors=None)
    assert [s.sector for s in everything.steps] == ["TP.HT", "CA.CT", "BHXH.BHYT"]
    police = await desk.view(code, sectors={"CA.CT"})
    assert [s.sector for s in police.steps] == ["CA.CT"]


def _all(sector: str | None) -> bool:
    return True


VN_DUE = dt.datetime(2026, 11, 27, 17, 0, tzinfo=VN_TZ)


async def _overdue_dossier(engine: AsyncEngine) -> Timeliness:
    """Dossier 1 (sector TP, due Fri 27 Nov 17:00), stored with one apology drafted."""
    parts = Timeliness.build(extension_working_days=3)
    parts.procedures.replace({"1.001234": 1})

    async def work(session: AsyncSession) -> None:
        (write,) = await record_writes(session, [PutDossier(make_dossier(1))], rules=parts.rules)
        assert isinstance(write, DossierWrite)
        assert write.record.dossier.due_at == VN_DUE

    await SessionRunner(engine).write(work)
    drafted = await parts.draft_apologies(
        create_sessionmaker(engine), dt.datetime(2026, 11, 30, 9, 0, tzinfo=VN_TZ)
    )
    assert drafted == 1
    return parts


async def test_apologies_are_shown_for_a_visible_dossier_only(engine: AsyncEngine) -> None:
    """A dossier the caller may not see reads as absent (None), its apologies included; the
    printable apology comes with its dossier, and a wrong id is ``ApologyNotFound``."""
    await _overdue_dossier(engine)
    desk, code = TimelinessDesk(SessionRunner(engine)), make_dossier(1).code
    (apology,) = await desk.apologies(state=ApologyState.DRAFT, sectors={"TP"}, limit=10)
    assert await desk.apologies(state=None, sectors={"HT"}, limit=10) == []
    listed = await desk.dossier_apologies(code, visible=lambda sector: sector == "TP")
    assert listed is not None
    assert [a.id for a in listed] == [apology.id]
    assert await desk.dossier_apologies(code, visible=lambda sector: False) is None
    assert await desk.dossier_apologies(make_dossier(2).code, visible=_all) is None

    printable = await desk.printable(code, apology.id, visible=_all)
    assert printable is not None
    assert (printable.apology.id, printable.dossier.code) == (apology.id, code)
    assert await desk.printable(code, apology.id, visible=lambda sector: False) is None
    with pytest.raises(ApologyNotFound):
        await desk.printable(code, apology.id + 1, visible=_all)


async def test_a_confirmation_moves_the_due_date_in_its_transaction(engine: AsyncEngine) -> None:
    """Confirming answers the confirmed apology, and the dossier's due date has moved with it;
    a second confirmation is refused and changes nothing."""
    parts = await _overdue_dossier(engine)
    desk, code = TimelinessDesk(SessionRunner(engine)), make_dossier(1).code
    (draft,) = await desk.apologies(state=ApologyState.DRAFT, sectors=None, limit=10)
    now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=VN_TZ)

    async def confirm() -> Apology:
        return await desk.confirm(
            code,
            draft.id,
            by="province-app",
            now=now,
            rules=parts.rules,
            new_due_at=None,
            sectors=None,
        )

    confirmed = await confirm()
    assert (confirmed.state, confirmed.confirmed_by) == (ApologyState.CONFIRMED, "province-app")
    record = await DossierReads(engine).record(code, visible=_all)
    assert record is not None
    assert record.dossier.due_at == confirmed.proposed_due_at
    with pytest.raises(ApologyAlreadyDecided):
        await confirm()
    again = await DossierReads(engine).record(code, visible=_all)
    assert again is not None
    assert again.dossier.due_at == confirmed.proposed_due_at
