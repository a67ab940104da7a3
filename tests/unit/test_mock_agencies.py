"""The mock agency systems' state: no deduplication, days that pass, verification, refusals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from mock_endpoints.agency_state import (
    AgencyBook,
    AgencyClock,
    AgencyInputError,
    Behaviour,
    agency_books,
)
from mock_endpoints.data import SyntheticData
from mock_endpoints.errors import InvalidChange
from mock_endpoints.records import MockRecords


@dataclass
class Sandbox:
    """The population records and the three agency books sharing them."""

    records: MockRecords
    books: dict[str, AgencyBook]

    def people(self, count: int) -> list[str]:
        return [c.record.citizen_id for c in self.records.citizens(count)]


@pytest.fixture
def sandbox() -> Sandbox:
    records = MockRecords(SyntheticData(7, citizens=5, businesses=0))
    return Sandbox(records, agency_books(records, AgencyClock()))


def _birth(mother: str) -> dict[str, str]:
    return {
        "child_full_name": "Trần Văn Con",
        "child_date_of_birth": "2026-11-01",
        "child_sex": "male",
        "mother_id": mother,
    }


def test_the_same_reference_twice_is_two_requests(sandbox: Sandbox) -> None:
    """The harsh reading: a request sent twice is applied twice (two certificates, two PINs)."""
    civil = sandbox.books["civil-status"]
    mother = sandbox.people(1)[0]
    _, first = civil.submit("R1", "register_birth", _birth(mother))
    _, second = civil.submit("R1", "register_birth", _birth(mother))
    assert first["result"]["certificate_number"] != second["result"]["certificate_number"]
    assert civil.summary()["doubled"] == 1
    # read back by reference: the first one
    assert civil.find("R1")["number"] == 1
    pin = first["result"]["pin"]
    assert sandbox.records.citizen(pin) is not None


def test_dedupe_is_the_kinder_reading_when_asked(sandbox: Sandbox) -> None:
    """With ``dedupe`` the same reference answers the request already held."""
    civil = sandbox.books["civil-status"]
    civil.behaviour = Behaviour(dedupe=True)
    mother = sandbox.people(1)[0]
    created, _ = civil.submit("R2", "register_birth", _birth(mother))
    again, _ = civil.submit("R2", "register_birth", _birth(mother))
    assert (created, again) == (True, False)


def test_verification_and_slowness_last_until_the_clock_says(
    sandbox: Sandbox,
) -> None:
    """A request is decided when the agencies' clock reaches its day; until then it says
    ``verification`` (or ``processing``)."""
    residence = sandbox.books["residence"]
    residence.behaviour = Behaviour(mode="verify", days=2)
    people = sandbox.people(2)
    fields = {
        "citizen_id": people[0],
        "birth_certificate": "KS-1",
        "address": "Số 2 Phố Thử",
        "head_of_household_id": people[1],
    }
    _, view = residence.submit("R3", "register_permanent_residence", fields)
    assert view["state"] == "verification"
    residence.clock.advance(1)
    assert residence.find("R3")["state"] == "verification"
    residence.clock.advance(1.01)
    decided = residence.find("R3")
    assert decided["state"] == "issued"
    assert decided["result"]["residence_number"].startswith("TT-")


def test_refusals_say_why(sandbox: Sandbox) -> None:
    """An agency refuses by its behaviour, or because the person is unknown to the population
    database; ``count`` limits a behaviour to the next requests."""
    social = sandbox.books["social-security"]
    social.behaviour = Behaviour(mode="refuse", reason="không đủ điều kiện", count=1)
    fields = {"citizen_id": "001099012345", "birth_certificate": "KS-1", "residence": "TT-1"}
    _, first = social.submit("R4", "issue_health_card", fields)
    assert (first["state"], first["reason"]) == ("refused", "không đủ điều kiện")
    _, second = social.submit("R5", "issue_health_card", fields)
    assert second["state"] == "refused"
    assert second["reason"] == "the child is not in the population database"


def test_unreadable_requests_are_input_errors(sandbox: Sandbox) -> None:
    """Unknown actions and missing fields are 400s, not decisions."""
    civil = sandbox.books["civil-status"]
    with pytest.raises(AgencyInputError):
        civil.submit("R6", "register_marriage", {})
    with pytest.raises(AgencyInputError):
        civil.submit("R6", "register_death", {"deceased_id": "x"})
    with pytest.raises(InvalidChange):
        Behaviour.from_json({"mode": "sometimes"})


def test_the_clock_moves_by_days() -> None:
    """The clock is real time plus a settable offset."""
    clock = AgencyClock(lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    clock.advance(2.5)
    assert clock.now() == dt.datetime(2026, 1, 3, 12, tzinfo=dt.UTC)
    clock.set_offset(0)
    assert clock.now().day == 1
