"""``is_citizen_id`` and ``is_dossier_code`` agree with the parsers they stand in for.

They answer without building the parts (a frozen dataclass) for the places that only need to
know, ``validate_citizen_id`` / ``validate_dossier_code`` among them; a refusal still comes from
the parser, with its message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.citizen_id import (
    BIRTH_DIGITS,
    Sex,
    birth_year_and_sex,
    is_citizen_id,
    make_citizen_id,
    parse_citizen_id,
    validate_citizen_id,
)
from schemas.dossier_code import is_dossier_code, parse_dossier_code, validate_dossier_code
from schemas.errors import SchemaError
from tests.support.schemas_strategies import citizen_ids, dossier_codes

ID = make_citizen_id("001", 1990, Sex.FEMALE, 7)


def _parses(parse: Callable[[Any], object], value: object) -> bool:
    try:
        parse(value)
    except SchemaError:
        return False
    return True


_ID_LIKE = st.one_of(
    citizen_ids,
    st.from_regex(r"\A[0-9]{12}\Z"),
    st.text(alphabet="0123456789٠١ \n", min_size=10, max_size=13),
    st.text(max_size=14),
)


@given(value=_ID_LIKE)
def test_is_citizen_id_agrees_with_the_parser(value: str) -> None:
    """``is_citizen_id`` is True exactly when ``parse_citizen_id`` accepts."""
    assert is_citizen_id(value) is _parses(parse_citizen_id, value)


@pytest.mark.parametrize(
    "value",
    [None, 1, b"001190000007", ["001190000007"], ID, " " + ID, ID + "\n", ID[:11], "999" + ID[3:]],
)
def test_is_citizen_id_on_odd_inputs(value: object) -> None:
    """Non-strings and near misses: the same answer as the parser."""
    assert is_citizen_id(value) is _parses(parse_citizen_id, value)


_CODE_LIKE = st.one_of(
    dossier_codes,
    st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{6}-[0-9]{4}\Z"),
    st.text(max_size=30),
)


@given(value=_CODE_LIKE)
def test_is_dossier_code_agrees_with_the_parser(value: str) -> None:
    """``is_dossier_code`` is True exactly when ``parse_dossier_code`` accepts, and so is
    ``validate_dossier_code``."""
    accepted = _parses(parse_dossier_code, value)
    assert is_dossier_code(value) is accepted
    assert _parses(validate_dossier_code, value) is accepted


@pytest.mark.parametrize(
    "value",
    [
        "000.00.04.H04-261126-0007",
        "000.00.04.H04-261126-0000",
        "000.00.04.H04-260230-0007",
        "000.00.04.H04-240229-0007",
        "000.00.04.H04-230229-0007",
        "000.00.04.H04-261326-0007",
        "000.00.04.H04-261100-0007",
        "000.00.04.h04-261126-0007",
        "000.00.04.H04-261126-0007\n",
        None,
        7,
    ],
)
def test_is_dossier_code_on_edge_cases(value: object) -> None:
    """Serial zero, impossible and leap days, case, a trailing newline, non-strings; a refusal
    is the parser's own error."""
    assert is_dossier_code(value) is _parses(parse_dossier_code, value)
    if not is_dossier_code(value):
        with pytest.raises(SchemaError) as validated:
            validate_dossier_code(value)  # type: ignore[arg-type]
        with pytest.raises(SchemaError) as parsed:
            parse_dossier_code(value)  # type: ignore[arg-type]
        assert validated.value.message == parsed.value.message


@pytest.mark.parametrize("value", ["", " " + ID, ID[:11], "999" + ID[3:], "٠" + ID[1:], None])
def test_validate_citizen_id_refuses_with_the_parsers_error(value: Any) -> None:
    """A refusal is the parser's, message and all; an acceptance returns the value itself."""
    with pytest.raises(SchemaError) as validated:
        validate_citizen_id(value)
    with pytest.raises(SchemaError) as parsed:
        parse_citizen_id(value)
    assert validated.value.message == parsed.value.message
    assert validate_citizen_id(ID) is ID


@given(citizen_id=citizen_ids)
def test_birth_year_and_sex_are_the_parsed_parts(citizen_id: str) -> None:
    """What a record's consistency check reads is what the parser reads."""
    parts = parse_citizen_id(citizen_id)
    assert birth_year_and_sex(citizen_id) == (parts.birth_year, parts.sex)


def test_is_citizen_id_agrees_with_the_parser_for_every_region_prefix() -> None:
    """Every three-digit start (the region codes are written into one pattern, as a tree of
    their digits), with good and bad tails; non-ASCII digits and odd strings around them."""
    tails = ("190000007", "000000000", "99999999", "9999999999", "19000000٧", "19000000 ")
    for prefix in (f"{n:03d}" for n in range(1000)):
        for value in (prefix + tail for tail in tails):
            assert is_citizen_id(value) is _parses(parse_citizen_id, value), value
            assert _parses(validate_citizen_id, value) is is_citizen_id(value), value
    for value in ("", "0" * 12, "٠٠١190000007", "００１190000007", "001190000007\n", "\n" + ID):
        assert is_citizen_id(value) is _parses(parse_citizen_id, value), value


class _Id(str):
    """A ``str`` subclass: accepted as a ``str`` both ways."""


@given(value=_ID_LIKE)
def test_validate_citizen_id_accepts_what_the_parser_accepts(value: str) -> None:
    """``validate_citizen_id`` (the check written inline) accepts exactly what the parser
    accepts, returning the value itself."""
    accepted = _parses(parse_citizen_id, value)
    assert _parses(validate_citizen_id, value) is accepted
    assert _parses(validate_citizen_id, _Id(value)) is accepted
    if accepted:
        assert validate_citizen_id(value) is value


def test_birth_digits_are_what_birth_year_and_sex_reads() -> None:
    """For every ID's digits 4-6: ``BIRTH_DIGITS`` gives them for exactly the (year, sex) that
    ``birth_year_and_sex`` reads from them, and for no other (year, sex), any year."""
    assert len(set(BIRTH_DIGITS.values())) == len(BIRTH_DIGITS) == 1000
    for digits in (f"{n:03d}" for n in range(1000)):
        year, sex = birth_year_and_sex(f"001{digits}000007")
        assert BIRTH_DIGITS[year, sex] == digits
    assert all(year in range(1900, 2400) for year, _ in BIRTH_DIGITS)
    assert BIRTH_DIGITS.get((1899, Sex.MALE)) is None
    assert BIRTH_DIGITS.get((2400, Sex.FEMALE)) is None


def test_is_dossier_code_agrees_with_the_parser_for_every_serial() -> None:
    """Serials 0000-9999 (0000 refused by the pattern itself), on a real and an impossible
    day; and each refusal of ``validate_dossier_code`` is the parser's own error."""
    for day in ("261126", "260230"):
        for serial in (f"{n:04d}" for n in range(10000)):
            value = f"000.00.04.H04-{day}-{serial}"
            accepted = _parses(parse_dossier_code, value)
            assert is_dossier_code(value) is accepted, value
            assert _parses(validate_dossier_code, value) is accepted, value
    for value in ("000.00.04.H04-261126-0000", "000.00.04.H04-260230-0001", "x", None, 7):
        with pytest.raises(SchemaError) as validated:
            validate_dossier_code(value)  # type: ignore[arg-type]
        with pytest.raises(SchemaError) as parsed:
            parse_dossier_code(value)  # type: ignore[arg-type]
        assert validated.value.message == parsed.value.message
