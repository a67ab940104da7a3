"""Citizen ID (CCCD): parsing, building, and refusing malformed IDs without echoing them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas.citizen_id import (
    CitizenId,
    CitizenIdParts,
    Sex,
    make_citizen_id,
    parse_citizen_id,
    validate_citizen_id,
)
from schemas.errors import InvalidCitizenId, SchemaError
from schemas.regions import COUNTRY_CODES, PROVINCE_CODES, REGION_TABLE_VERSION
from tests.support.schemas_strategies import (
    REGION_CODES,
    birth_years,
    citizen_ids,
    region_codes,
    serials,
    sexes,
)


def test_known_id_is_parsed_into_its_parts() -> None:
    """001 1 90 123456 is a woman born in 1990 in Hà Nội."""
    parts = parse_citizen_id("001190123456")
    assert parts == CitizenIdParts(
        region_code="001", birth_year=1990, sex=Sex.FEMALE, serial="123456"
    )
    assert PROVINCE_CODES[parts.region_code] == "Hà Nội"
    assert not parts.born_abroad


@pytest.mark.parametrize(
    ("digit", "year", "sex"),
    [
        (0, 1985, Sex.MALE),
        (1, 1985, Sex.FEMALE),
        (2, 2085, Sex.MALE),
        (3, 2085, Sex.FEMALE),
        (4, 2185, Sex.MALE),
        (5, 2185, Sex.FEMALE),
        (9, 2385, Sex.FEMALE),
    ],
)
def test_century_digit_gives_century_and_sex(digit: int, year: int, sex: Sex) -> None:
    """Digit 4: hundreds of the birth year are 19 + d // 2; odd means female."""
    parts = parse_citizen_id(f"079{digit}85000001")
    assert (parts.birth_year, parts.sex, parts.century_digit) == (year, sex, digit)


def test_region_table_has_the_63_provinces_and_disjoint_country_codes() -> None:
    """The province table is the 63 CCCD codes 001–096; country codes never collide with them."""
    assert len(PROVINCE_CODES) == 63
    assert min(PROVINCE_CODES) == "001"
    assert max(PROVINCE_CODES) == "096"
    assert PROVINCE_CODES["096"] == "Cà Mau"
    assert PROVINCE_CODES["079"] == "Hồ Chí Minh"
    assert not set(PROVINCE_CODES) & set(COUNTRY_CODES)
    assert all(len(code) == 3 and code.isdigit() for code in REGION_CODES)
    assert REGION_TABLE_VERSION


def test_id_of_a_citizen_born_abroad_is_recognised() -> None:
    """A country code in digits 1–3 marks a citizen born abroad."""
    parts = parse_citizen_id(make_citizen_id("392", 2003, Sex.MALE, 42))
    assert parts.born_abroad
    assert parts.region_code == "392"


@given(region_codes, birth_years, sexes, serials)
def test_every_valid_id_round_trips(region: str, year: int, sex: Sex, serial: int) -> None:
    """make_citizen_id then parse_citizen_id gives back the same parts."""
    citizen_id = make_citizen_id(region, year, sex, serial)
    assert len(citizen_id) == 12
    assert validate_citizen_id(citizen_id) == citizen_id
    assert parse_citizen_id(citizen_id) == CitizenIdParts(region, year, sex, f"{serial:06d}")


def _check_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidCitizenId) as caught:
        parse_citizen_id(value)
    message = str(caught.value)
    assert reason in message
    assert "citizen_id" in message
    if len(value) >= 4:
        assert value not in message
    assert caught.value.field == "citizen_id"


@given(st.text(alphabet="0123456789", max_size=20).filter(lambda s: len(s) != 12))
def test_wrong_length_is_refused(value: str) -> None:
    """An ID that is not 12 characters long is refused with 'exactly 12 digits'."""
    _check_refused(value, "12 digits")


@given(citizen_ids, st.integers(0, 11), st.characters(codec="utf-8"))
def test_non_digit_is_refused(citizen_id: str, position: int, char: str) -> None:
    """Any character other than 0-9 (including non-ASCII digits) is refused as non-digit."""
    if char in "0123456789":
        char = "x"
    value = citizen_id[:position] + char + citizen_id[position + 1 :]
    _check_refused(value, "only the digits")


@given(
    st.from_regex(r"\A[0-9]{3}\Z").filter(lambda c: c not in REGION_CODES),
    st.from_regex(r"\A[0-9]{9}\Z"),
)
def test_unknown_region_is_refused(region: str, rest: str) -> None:
    """A code in digits 1–3 that is neither a province nor a country is refused."""
    _check_refused(region + rest, "region code")


def test_non_string_is_refused() -> None:
    """An integer is not a citizen ID (leading zeros would be lost)."""
    with pytest.raises(InvalidCitizenId, match="string"):
        parse_citizen_id(1190123456)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"region_code": "003"}, "region_code"),
        ({"birth_year": 1899}, "birth_year"),
        ({"birth_year": 2400}, "birth_year"),
        ({"sex": "other"}, "sex"),
        ({"serial": 1_000_000}, "serial"),
        ({"serial": -1}, "serial"),
        ({"serial": "12345"}, "serial"),
    ],
)
def test_make_refuses_impossible_parts(kwargs: dict[str, object], field: str) -> None:
    """make_citizen_id names the part it cannot encode."""
    args: dict[str, object] = {"region_code": "001", "birth_year": 1990, "sex": "male", "serial": 1}
    args.update(kwargs)
    with pytest.raises(InvalidCitizenId) as caught:
        make_citizen_id(**args)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert field in str(caught.value)


def test_pydantic_type_refuses_without_echoing() -> None:
    """The CitizenId field type fails as a validation error that does not show the value."""
    adapter = TypeAdapter(CitizenId)
    assert adapter.validate_python("079085004321") == "079085004321"
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python("003085004321")
    assert isinstance(caught.value.errors()[0]["ctx"]["error"], SchemaError)
    assert "region code" in caught.value.errors()[0]["msg"]
    with pytest.raises(ValidationError):
        adapter.validate_python(79085004321)
