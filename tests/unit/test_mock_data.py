"""Synthetic data of the mocks: deterministic, valid, Vietnamese in the right order."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mock_endpoints.data import REFERENCE_DATE, SyntheticData, ascii_upper, is_adult
from mock_endpoints.names import FAMILY_NAMES, GIVEN_NAMES, MIDDLE_NAMES, full_name
from mock_endpoints.procedures import PROCEDURES, SECTORS
from schemas.citizen_id import Sex, parse_citizen_id
from schemas.regions import PROVINCE_CODES
from schemas.tax_code import validate_tax_code

FAMILY = {name for name, _ in FAMILY_NAMES}


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return SyntheticData(seed=7, citizens=400, businesses=80)


def test_same_seed_gives_the_same_data() -> None:
    """Two draws with one seed are equal record for record; another seed differs."""
    first, second = SyntheticData(3, 50, 10), SyntheticData(3, 50, 10)
    assert first.citizens == second.citizens
    assert first.businesses == second.businesses
    assert SyntheticData(4, 50, 10).citizens != first.citizens


def test_counts_are_honoured(data: SyntheticData) -> None:
    """As many citizens and businesses as asked for, each ID and tax code once."""
    assert len(data.citizens) == 400
    assert len(data.businesses) == 80
    assert len({c.citizen_id for c in data.citizens}) == 400
    assert len({b.tax_code for b in data.businesses}) == 80


def test_citizen_ids_agree_with_birth_date_and_sex(data: SyntheticData) -> None:
    """Each CCCD encodes the citizen's birth year and sex (the model refuses otherwise)."""
    for citizen in data.citizens:
        parts = parse_citizen_id(citizen.citizen_id)
        assert parts.birth_year == citizen.date_of_birth.year
        assert parts.sex is citizen.sex


def test_place_of_origin_is_in_the_province_of_the_id(data: SyntheticData) -> None:
    """For citizens born in Vietnam, the ID's province is named in their place of origin."""
    checked = 0
    for citizen in data.citizens:
        region = citizen.citizen_id[:3]
        if region in PROVINCE_CODES:
            assert citizen.place_of_origin.endswith(PROVINCE_CODES[region])
            checked += 1
    assert checked > 350


def test_addresses_name_real_provinces(data: SyntheticData) -> None:
    """Every permanent address ends with a province of the CCCD region table."""
    provinces = set(PROVINCE_CODES.values())
    for citizen in data.citizens:
        assert any(citizen.permanent_address.endswith(name) for name in provinces)


def test_names_are_family_name_first(data: SyntheticData) -> None:
    """Family name, middle name, given name — the given name matches the sex."""
    for citizen in data.citizens:
        words = citizen.full_name.split()
        assert words[0] in FAMILY
        assert words[-1] in GIVEN_NAMES[citizen.sex]
        middles = {name for name, _ in MIDDLE_NAMES[citizen.sex]}
        assert " ".join(words[1:-1]) in middles


def test_family_names_follow_their_frequency() -> None:
    """Nguyễn is the most common family name, at about 38 %."""
    rng = random.Random(1)
    counts = Counter(full_name(rng, Sex.MALE).split()[0] for _ in range(5000))
    assert counts.most_common(1)[0][0] == "Nguyễn"
    assert 0.3 < counts["Nguyễn"] / 5000 < 0.46


def test_most_citizens_are_kinh(data: SyntheticData) -> None:
    """Kinh is the ethnicity of most citizens, and not of all."""
    counts = Counter(c.ethnicity for c in data.citizens)
    assert counts["Kinh"] / len(data.citizens) > 0.7
    assert len(counts) > 1


def test_tax_codes_are_valid(data: SyntheticData) -> None:
    """Every tax code passes the check-digit rule; branches have the 13-character form."""
    for business in data.businesses:
        assert validate_tax_code(business.tax_code) == business.tax_code
    assert any(len(b.tax_code) == 14 for b in SyntheticData(1, 100, 200).businesses)


def test_representatives_are_adult_citizens(data: SyntheticData) -> None:
    """Each representative is a citizen of the population data, of age, with the same name."""
    people = {c.citizen_id: c for c in data.citizens}
    for business in data.businesses:
        assert business.representatives
        for person in business.representatives:
            citizen = people[person.citizen_id]
            assert citizen.full_name == person.full_name
            assert is_adult(citizen, REFERENCE_DATE)


def test_company_names_are_vietnamese(data: SyntheticData) -> None:
    """Names start with a Vietnamese legal form; English names carry no diacritics."""
    prefixes = ("Công ty", "Doanh nghiệp tư nhân", "Chi nhánh")
    for business in data.businesses:
        assert business.name.startswith(prefixes)
        if business.english_name:
            assert business.english_name.isascii()


def test_ascii_upper_removes_diacritics() -> None:
    """``Đại Việt`` becomes ``DAI VIET``."""
    assert ascii_upper("Đại Việt Phú Thịnh") == "DAI VIET PHU THINH"


def test_businesses_need_citizens() -> None:
    """Businesses without citizens to represent them are refused."""
    with pytest.raises(ValueError, match="citizens"):
        SyntheticData(1, 0, 5)


def test_procedures_have_realistic_codes() -> None:
    """Procedure codes look like ``1.001234`` and name a known sector; codes are unique."""
    codes = [p.code for p in PROCEDURES]
    assert len(codes) == len(set(codes))
    for procedure in PROCEDURES:
        level, _, number = procedure.code.partition(".")
        assert level in ("1", "2")
        assert len(number) == 6
        assert number.isdigit()
        assert procedure.sector_code in SECTORS
