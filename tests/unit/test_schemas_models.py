"""Canonical models: consistency checks, immutability, and errors that never show values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.citizen_id import Sex, make_citizen_id
from schemas.errors import InconsistentRecord, SchemaError
from schemas.models import (
    Business,
    BusinessStatus,
    Citizen,
    Dossier,
    DossierEvent,
    Representative,
)
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from tests.support.schemas_strategies import citizens, dossier_events, dossiers, region_codes

CITIZEN_ID = make_citizen_id("001", 1990, Sex.FEMALE, 123456)


def citizen(**changes: Any) -> Citizen:
    fields: dict[str, Any] = {
        "citizen_id": CITIZEN_ID,
        "full_name": "Nguyễn Thị Lan",
        "date_of_birth": date(1990, 3, 14),
        "sex": "female",
        "place_of_origin": "Gia Lâm, Hà Nội",
        "permanent_address": "Hoàn Kiếm, Hà Nội",
    }
    fields.update(changes)
    return Citizen(**fields)


def dossier(**changes: Any) -> Dossier:
    fields: dict[str, Any] = {
        "code": "000.00.04.H04-261126-0007",
        "procedure_code": "1.001612",
        "agency_code": "000.00.04.H04",
        "sector_code": "G09-TP01",
        "applicant_name": "Nguyễn Thị Lan",
        "applicant_id": CITIZEN_ID,
        "status": DossierStatus.ACCEPTED,
        "received_at": datetime(2026, 11, 26, 8, 15, tzinfo=VN_TZ),
        "updated_at": datetime(2026, 11, 26, 8, 15, tzinfo=VN_TZ),
        "title": "Đăng ký khai sinh",
    }
    fields.update(changes)
    return Dossier(**fields)


def _schema_errors(caught: pytest.ExceptionInfo[ValidationError]) -> list[SchemaError]:
    return [e["ctx"]["error"] for e in caught.value.errors() if "error" in e.get("ctx", {})]


def test_consistent_citizen_is_accepted_with_defaults() -> None:
    """A record that agrees with its ID is built; nationality defaults to VN."""
    person = citizen()
    assert person.sex is Sex.FEMALE
    assert person.nationality == "VN"
    assert person.current_address is None
    assert person.ethnicity is None


def test_birth_year_contradicting_the_id_is_refused() -> None:
    """date_of_birth in another year than the ID encodes fails with InconsistentRecord."""
    with pytest.raises(ValidationError) as caught:
        citizen(date_of_birth=date(1991, 3, 14))
    errors = _schema_errors(caught)
    assert len(errors) == 1
    assert isinstance(errors[0], InconsistentRecord)
    assert "citizen ID birth year does not match date_of_birth" in str(errors[0])
    assert "sex" not in str(errors[0])
    assert CITIZEN_ID not in str(caught.value)


def test_sex_contradicting_the_id_is_refused() -> None:
    """A male record with a female ID digit fails, naming the sex digit."""
    with pytest.raises(ValidationError) as caught:
        citizen(sex="male")
    (error,) = _schema_errors(caught)
    assert isinstance(error, InconsistentRecord)
    assert "citizen ID sex digit does not match sex" in str(error)
    assert CITIZEN_ID not in str(caught.value)


@given(
    region_codes,
    st.dates(min_value=date(1902, 1, 1), max_value=date(2025, 12, 31)),
    st.sampled_from(list(Sex)),
    st.sampled_from(list(Sex)),
    st.integers(-2, 2),
)
def test_citizen_is_valid_exactly_when_it_agrees_with_its_id(
    region: str, born: date, id_sex: Sex, record_sex: Sex, year_shift: int
) -> None:
    """Over random records: accepted iff the ID's year and sex are the record's."""
    citizen_id = make_citizen_id(region, born.year + year_shift, id_sex, 1)
    consistent = year_shift == 0 and id_sex == record_sex
    if consistent:
        assert citizen(citizen_id=citizen_id, date_of_birth=born, sex=record_sex).sex is record_sex
    else:
        with pytest.raises(ValidationError) as caught:
            citizen(citizen_id=citizen_id, date_of_birth=born, sex=record_sex)
        errors = _schema_errors(caught)
        assert errors
        assert all(isinstance(e, InconsistentRecord) for e in errors)


@given(citizens())
def test_generated_citizens_survive_a_json_round_trip(person: Citizen) -> None:
    """model_dump_json then model_validate_json gives an equal citizen."""
    assert Citizen.model_validate_json(person.model_dump_json()) == person


def test_invalid_fields_are_named_without_their_values() -> None:
    """A bad citizen ID and a blank name name their fields; the input is not shown."""
    bad_id = "003190123456"
    with pytest.raises(ValidationError) as caught:
        citizen(citizen_id=bad_id, full_name="   ")
    text = str(caught.value)
    assert bad_id not in text
    assert "input_value" not in text
    locations = {e["loc"][0] for e in caught.value.errors()}
    assert locations == {"citizen_id", "full_name"}


def test_models_are_frozen_and_closed() -> None:
    """Fields cannot be reassigned and unknown fields are refused."""
    person = citizen()
    with pytest.raises(ValidationError):
        person.full_name = "X"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        citizen(nickname="Lan")
    assert hash(person) == hash(citizen())


def test_business_holds_representatives_as_a_tuple() -> None:
    """A list of representatives becomes an immutable tuple; a bad tax code is named."""
    rep = Representative(citizen_id=CITIZEN_ID, full_name="Nguyễn Thị Lan", position="Giám đốc")
    business = Business(
        tax_code="0100107518",
        name="Công ty A",
        status=BusinessStatus.ACTIVE,
        legal_form="Công ty cổ phần",
        registered_on=date(2012, 5, 27),
        head_office_address="Hà Nội",
        representatives=[rep],
    )
    assert business.representatives == (rep,)
    with pytest.raises(ValidationError) as caught:
        Business.model_validate({**business.model_dump(), "tax_code": "0100107519"})
    assert caught.value.errors()[0]["loc"] == ("tax_code",)
    assert "check digit" in caught.value.errors()[0]["msg"]
    assert "0100107519" not in str(caught.value)


@pytest.mark.parametrize("applicant_id", [CITIZEN_ID, "0100107518", "0100107518-012"])
def test_applicant_may_be_a_citizen_or_a_business(applicant_id: str) -> None:
    """applicant_id takes a CCCD, an MST or a branch MST."""
    assert dossier(applicant_id=applicant_id).applicant_id == applicant_id


@pytest.mark.parametrize("applicant_id", ["003190123456", "0100107519", "12345", "A01234567"])
def test_bad_applicant_id_is_named(applicant_id: str) -> None:
    """Anything else fails naming applicant_id and not the value."""
    with pytest.raises(ValidationError) as caught:
        dossier(applicant_id=applicant_id)
    assert caught.value.errors()[0]["loc"] == ("applicant_id",)
    assert applicant_id not in str(caught.value)


def test_receipt_near_midnight_is_judged_in_vietnam_time() -> None:
    """Received 17:30 UTC on the 25th is the 26th in Hanoi, matching code date 261126."""
    received = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    assert dossier(received_at=received, updated_at=received).received_at == received
    earlier = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
    with pytest.raises(ValidationError, match="receipt date does not match received_at"):
        dossier(received_at=earlier, updated_at=received)


def test_dossier_times_must_be_ordered_and_aware() -> None:
    """due_at and updated_at before received_at are refused, as are naive times."""
    received = datetime(2026, 11, 26, 8, 15, tzinfo=VN_TZ)
    with pytest.raises(ValidationError, match="due_at is before received_at"):
        dossier(due_at=received - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="updated_at is before received_at"):
        dossier(updated_at=received - timedelta(days=1))
    with pytest.raises(ValidationError) as caught:
        dossier(received_at=datetime(2026, 11, 26, 8, 15))
    assert caught.value.errors()[0]["type"] == "timezone_aware"


@given(dossiers())
def test_generated_dossiers_survive_a_json_round_trip(record: Dossier) -> None:
    """model_dump_json then model_validate_json gives an equal dossier."""
    assert Dossier.model_validate_json(record.model_dump_json()) == record


def test_event_sequence_starts_at_one_and_keys_are_stable() -> None:
    """sequence is a strict integer ≥ 1; the idempotency key is the code and the sequence."""
    fields: dict[str, Any] = {
        "dossier_code": "000.00.04.H04-261126-0007",
        "status": 4,
        "occurred_at": datetime(2026, 11, 27, 9, 40, tzinfo=VN_TZ),
    }
    event = DossierEvent(sequence=3, **fields)
    assert event.idempotency_key == "000.00.04.H04-261126-0007#3"
    assert DossierEvent(sequence=3, **fields).idempotency_key == event.idempotency_key
    for bad in (0, -1, True, "3", 2.0):
        with pytest.raises(ValidationError) as caught:
            DossierEvent(sequence=bad, **fields)
        assert caught.value.errors()[0]["loc"] == ("sequence",)


@given(dossier_events)
def test_generated_events_survive_a_json_round_trip(event: DossierEvent) -> None:
    """model_dump_json then model_validate_json gives an equal event."""
    assert DossierEvent.model_validate_json(event.model_dump_json()) == event
