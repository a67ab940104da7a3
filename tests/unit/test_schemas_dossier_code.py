"""Dossier code ``V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX``: parsing, building, refusing bad codes."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.dossier_code import (
    DossierCodeParts,
    make_dossier_code,
    parse_dossier_code,
    validate_agency_code,
    validate_dossier_code,
)
from schemas.errors import InvalidDossierCode
from tests.support.schemas_strategies import agency_codes, dossier_serials, receipt_dates


def test_example_code_is_parsed() -> None:
    """000.00.04.H04-261126-0007: agency 000.00.04.H04, received 2026-11-26, serial 7."""
    assert parse_dossier_code("000.00.04.H04-261126-0007") == DossierCodeParts(
        agency_code="000.00.04.H04", received_on=date(2026, 11, 26), serial=7
    )


@given(agency_codes, receipt_dates, dossier_serials)
def test_every_valid_code_round_trips(agency: str, received_on: date, serial: int) -> None:
    """make_dossier_code then parse_dossier_code gives back the same parts."""
    code = make_dossier_code(agency, received_on, serial)
    assert validate_dossier_code(code) == code
    assert parse_dossier_code(code) == DossierCodeParts(agency, received_on, serial)


def test_leap_day_is_a_real_date_only_in_leap_years() -> None:
    """29 February 2028 exists, 29 February 2026 does not."""
    assert parse_dossier_code("000.00.04.H04-280229-0001").received_on == date(2028, 2, 29)
    with pytest.raises(InvalidDossierCode, match="not a real date"):
        parse_dossier_code("000.00.04.H04-260229-0001")


@pytest.mark.parametrize("day", ["261301", "260000", "261100", "260431", "269999"])
def test_impossible_receipt_dates_are_refused(day: str) -> None:
    """Month 13 or 00, day 00, 31 April are refused as not a real date."""
    with pytest.raises(InvalidDossierCode, match="not a real date") as caught:
        parse_dossier_code(f"000.00.04.H04-{day}-0001")
    assert caught.value.field == "dossier_code"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "000.00.04.H04-261126-007",
        "000.00.04.H04-261126-00007",
        "000.00.04.h04-261126-0007",
        "000.00.04.H4-261126-0007",
        "000.00.04.HH4-261126-0007",
        "00.00.04.H04-261126-0007",
        "000.0.04.H04-261126-0007",
        "000.00.04H04-261126-0007",
        "000-00-04-H04-261126-0007",
        "000.00.04.H04_261126_0007",
        "000.00.04.H04-20261126-0007",
        " 000.00.04.H04-261126-0007",
        "000.00.04.H04-261126-0007\n",
        "000.00.04.Ｈ04-261126-0007",
        "٠٠٠.00.04.H04-261126-0007",
    ],
)
def test_malformed_codes_are_refused(value: str) -> None:
    """Wrong group lengths, separators, lower-case or non-ASCII characters are refused."""
    with pytest.raises(InvalidDossierCode, match=re.escape("must be NNN.NN.NN.LNN-YYMMDD-NNNN")):
        validate_dossier_code(value)


def test_serial_zero_is_refused() -> None:
    """Serials run 0001–9999."""
    with pytest.raises(InvalidDossierCode, match="serial"):
        parse_dossier_code("000.00.04.H04-261126-0000")


@pytest.mark.parametrize(
    ("agency", "received_on", "serial", "field"),
    [
        ("000.00.04.H04", date(2026, 11, 26), 0, "serial"),
        ("000.00.04.H04", date(2026, 11, 26), 10_000, "serial"),
        ("000.00.04.H04", date(1999, 12, 31), 1, "received_on"),
        ("000.00.04.H04", date(2100, 1, 1), 1, "received_on"),
        ("000.00.04.h04", date(2026, 11, 26), 1, "agency_code"),
    ],
)
def test_make_refuses_impossible_parts(
    agency: str, received_on: date, serial: int, field: str
) -> None:
    """make_dossier_code names the part it cannot encode."""
    with pytest.raises(InvalidDossierCode) as caught:
        make_dossier_code(agency, received_on, serial)
    assert caught.value.field == field


@given(st.text(max_size=20))
def test_agency_code_validation_accepts_only_the_pattern(value: str) -> None:
    """Random text is an agency code only if it has the NNN.NN.NN.LNN shape."""
    expected = re.fullmatch(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}", value, re.ASCII)
    if expected:
        assert validate_agency_code(value) == value
    else:
        with pytest.raises(InvalidDossierCode, match="agency_code"):
            validate_agency_code(value)
