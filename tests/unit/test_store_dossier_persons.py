"""What purpose binding asks the store of a dossier: its sector, its persons, when it closed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.models import PersonRole, RelatedPerson
from store.db import create_sessionmaker
from store.dossier_persons import dossier_persons, purpose_facts
from store.dossiers import record_dossier
from tests.support.stores import make_dossier

T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)


async def test_purpose_facts_name_the_applicant_and_related_persons(engine: AsyncEngine) -> None:
    """A registered dossier gives its sector, applicant and related persons, and no close time."""
    dossier = make_dossier(3, sector="HT").model_copy(
        update={
            "related_persons": (RelatedPerson(citizen_id="001225012345", role=PersonRole.CHILD),)
        }
    )
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, dossier, now=T0)
    async with sessions() as session:
        facts = await purpose_facts(session, dossier.code)
        unknown = await purpose_facts(session, make_dossier(4).code)
    assert facts is not None
    assert facts.sector == "HT"
    assert facts.persons == frozenset({"001099012345", "001225012345"})
    assert facts.closed_at is None
    assert unknown is None


def test_dossier_persons_ignores_what_is_not_a_person() -> None:
    """Only string ids of the applicant and of related persons count; odd shapes give none."""
    payload = {
        "applicant_id": "001099012345",
        "related_persons": [{"citizen_id": "001225012345"}, "junk", {"citizen_id": 7}],
    }
    assert dossier_persons(payload) == frozenset({"001099012345", "001225012345"})
    assert dossier_persons(None) == frozenset()
    assert dossier_persons({"related_persons": None}) == frozenset()
