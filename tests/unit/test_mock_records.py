"""Admin changes to the mock's records, and the registry's tokens."""

from __future__ import annotations

import pytest

from mock_endpoints.data import SyntheticData
from mock_endpoints.errors import InvalidChange, UnknownRecord
from mock_endpoints.records import MockRecords
from mock_endpoints.tokens import TokenStore
from schemas.models import BusinessStatus


@pytest.fixture
def records() -> MockRecords:
    return MockRecords(SyntheticData(11, 20, 5))


def test_moving_a_citizen_changes_the_address_and_version(records: MockRecords) -> None:
    """``province_code`` gives a new address in that province and bumps the version."""
    first = records.citizens(1)[0]
    moved = records.change_citizen(first.record.citizen_id, {"province_code": "079"})
    assert moved.version == 2
    assert moved.changed_at is not None
    assert moved.record.permanent_address.endswith("Hồ Chí Minh")
    assert records.citizen(first.record.citizen_id) == moved.record


def test_identity_fields_cannot_change(records: MockRecords) -> None:
    """Birth date, sex and ID are not changeable; an unknown citizen is UnknownRecord."""
    citizen_id = records.citizens(1)[0].record.citizen_id
    with pytest.raises(InvalidChange, match="date_of_birth"):
        records.change_citizen(citizen_id, {"date_of_birth": "2000-01-01"})
    with pytest.raises(InvalidChange):
        records.change_citizen(citizen_id, {"province_code": "999"})
    with pytest.raises(UnknownRecord):
        records.change_citizen("001090000001", {"full_name": "X"})


def test_dissolving_a_business(records: MockRecords) -> None:
    """A status given as a value or the registry's Vietnamese text is applied."""
    tax_code = records.businesses(1)[0].record.tax_code
    assert records.change_business(tax_code, {"status": "dissolved"}).record.status is (
        BusinessStatus.DISSOLVED
    )
    changed = records.change_business(tax_code, {"status": "Tạm ngừng kinh doanh"})
    assert changed.record.status is BusinessStatus.SUSPENDED
    assert changed.version == 3
    with pytest.raises(InvalidChange, match="status"):
        records.change_business(tax_code, {"status": "gone"})
    with pytest.raises(InvalidChange):
        records.change_business(tax_code, {"tax_code": "0100109106"})


def test_tokens_expire() -> None:
    """A token is live until its lifetime passes; unknown tokens are never live."""
    now = [0.0]
    store = TokenStore({"c": "s"}, ttl=10, clock=lambda: now[0])
    assert store.client_ok("c", "s")
    assert not store.client_ok("c", "x")
    assert not store.client_ok("other", "s")
    token = store.issue("c")
    assert store.check(token.value) is not None
    now[0] = 10.5
    assert store.check(token.value) is None
    assert store.check("made-up") is None
