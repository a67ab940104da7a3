"""Tax code (MST): check digit, branches, and catching every single-digit error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import InvalidTaxCode
from schemas.tax_code import (
    WEIGHTS,
    TaxCodeParts,
    make_tax_code,
    parse_tax_code,
    tax_check_digit,
    validate_tax_code,
)
from tests.support.schemas_strategies import (
    branches,
    head_tax_codes,
    issuable_first_nine,
    tax_codes,
)


def test_check_digit_of_a_published_code() -> None:
    """0100107518 (a code in the public registry) has check digit 8 over 010010751."""
    assert tax_check_digit("010010751") == 8
    assert validate_tax_code("0100107518") == "0100107518"


def test_check_digit_arithmetic_at_both_ends() -> None:
    """sum mod 11 == 10 gives check digit 0; sum mod 11 == 0 gives 10, which is never issued."""
    assert sum(w * int(d) for w, d in zip(WEIGHTS, "100000004", strict=True)) % 11 == 10
    assert tax_check_digit("100000004") == 0
    assert validate_tax_code("1000000040")
    assert tax_check_digit("000000000") is None
    with pytest.raises(InvalidTaxCode, match="never issued"):
        validate_tax_code("0000000000")
    with pytest.raises(InvalidTaxCode, match="never issued"):
        make_tax_code("000000000")


@given(st.from_regex(r"\A[0-9]{9}\Z"))
def test_check_digit_follows_the_formula(first_nine: str) -> None:
    """check = 10 − (Σ weight·digit mod 11), None when that is 10."""
    check = 10 - sum(w * int(d) for w, d in zip(WEIGHTS, first_nine, strict=True)) % 11
    assert tax_check_digit(first_nine) == (None if check == 10 else check)


@given(issuable_first_nine, branches)
def test_every_valid_code_round_trips(first_nine: str, branch: int | None) -> None:
    """make_tax_code then parse_tax_code gives back the nine digits and the branch."""
    code = make_tax_code(first_nine, branch)
    assert len(code) == (10 if branch is None else 14)
    parts = parse_tax_code(code)
    assert parts == TaxCodeParts(first_nine, tax_check_digit(first_nine) or 0, branch)
    assert parts.head == code[:10]
    assert validate_tax_code(code) == code


@given(head_tax_codes)
def test_every_single_digit_corruption_is_caught(code: str) -> None:
    """Changing any one of the ten digits to any other digit makes the code invalid."""
    for position in range(10):
        for digit in "0123456789":
            if digit == code[position]:
                continue
            corrupted = code[:position] + digit + code[position + 1 :]
            with pytest.raises(InvalidTaxCode) as caught:
                validate_tax_code(corrupted)
            assert "check digit" in str(caught.value) or "never issued" in str(caught.value)


@given(head_tax_codes)
def test_swapping_adjacent_digits_is_caught_when_they_differ(code: str) -> None:
    """Transposing two different adjacent digits among the first nine is caught too."""
    for position in range(8):
        a, b = code[position], code[position + 1]
        if a == b:
            continue
        swapped = code[:position] + b + a + code[position + 2 :]
        with pytest.raises(InvalidTaxCode):
            validate_tax_code(swapped)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "10 digits"),
        ("010010751", "10 digits"),
        ("01001075188", "10 digits"),
        ("0100107518-1", "10 digits"),
        ("0100107518-0001", "10 digits"),
        ("0100107518/001", "10 digits"),
        ("0100107518 001", "10 digits"),
        ("01001O7518", "10 digits"),
        ("０１００１０７５１８", "10 digits"),
        (" 0100107518", "10 digits"),
        ("0100107518-000", "branch suffix"),
        ("0100107519", "check digit"),
    ],
)
def test_malformed_codes_are_refused_naming_what_is_wrong(value: str, reason: str) -> None:
    """Shape, separator, full-width digits, branch 000 and a wrong check digit are refused."""
    with pytest.raises(InvalidTaxCode) as caught:
        validate_tax_code(value)
    assert reason in str(caught.value)
    assert caught.value.field == "tax_code"
    if value.strip():
        assert value not in str(caught.value)


@given(tax_codes, st.integers(0, 13), st.characters(codec="utf-8"))
def test_any_foreign_character_is_refused(code: str, position: int, char: str) -> None:
    """Replacing a digit with anything that is not 0-9 is refused."""
    if char in "0123456789-":
        char = "a"
    position = min(position, len(code) - 1)
    if code[position] == "-":
        position -= 1
    with pytest.raises(InvalidTaxCode):
        validate_tax_code(code[:position] + char + code[position + 1 :])


@pytest.mark.parametrize("branch", [0, 1000, -1])
def test_make_refuses_branch_out_of_range(branch: int) -> None:
    """Branch suffixes run 001–999."""
    with pytest.raises(InvalidTaxCode, match="branch"):
        make_tax_code("010010751", branch)


def test_first_nine_must_be_nine_digits() -> None:
    """tax_check_digit refuses anything but nine ASCII digits."""
    for bad in ("01001075", "0100107511", "01001075a"):
        with pytest.raises(InvalidTaxCode, match="9 digits"):
            tax_check_digit(bad)
