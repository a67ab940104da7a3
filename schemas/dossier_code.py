"""Dossier code ``V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX`` and agency code ``V1V2V3.Z1Z2.Y1Y2.MX1X2``.

- agency code: 3 digits, 2 digits, 2 digits and a letter with two digits, dot-separated
  (``000.00.04.H04``), the receiving agency's code in the national list of agency codes;
- ``YYMMDD`` the receipt date (20YY), which must be a real date;
- ``XXXX`` the agency's daily serial, 0001–9999.

Example: ``000.00.04.H04-261126-0007``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

from schemas.errors import InvalidDossierCode
from schemas.patterns import AGENCY_CODE as _AGENCY

AGENCY_CODE_PATTERN = re.compile(_AGENCY, re.ASCII)
_DOSSIER = re.compile(rf"({_AGENCY})-([0-9]{{6}})-([0-9]{{4}})", re.ASCII)
#: ``_DOSSIER`` with a serial other than 0000, the receipt day (``YYMMDD``) its one group
_DOSSIER_NONZERO_SERIAL = re.compile(rf"{_AGENCY}-([0-9]{{6}})-(?!0000)[0-9]{{4}}", re.ASCII)


@dataclass(frozen=True, slots=True)
class DossierCodeParts:
    """The fields of a dossier code."""

    agency_code: str
    received_on: date
    serial: int


def validate_agency_code(s: str, *, field: str = "agency_code") -> str:
    """``s`` unchanged when an agency code (``000.00.04.H04``); else ``InvalidDossierCode``."""
    if not isinstance(s, str) or AGENCY_CODE_PATTERN.fullmatch(s) is None:
        raise InvalidDossierCode(
            f"{field} must be NNN.NN.NN.LNN (digits, and a capital letter then two digits)",
            field=field,
        )
    return s


def parse_dossier_code(s: str, *, field: str = "dossier_code") -> DossierCodeParts:
    """The parts of ``s``; ``InvalidDossierCode`` naming what is wrong."""
    if not isinstance(s, str):
        raise InvalidDossierCode(f"{field} must be a string", field=field)
    match = _DOSSIER.fullmatch(s)
    if match is None:
        raise InvalidDossierCode(
            f"{field} must be NNN.NN.NN.LNN-YYMMDD-NNNN (agency code, receipt date, serial)",
            field=field,
        )
    agency, day, serial_text = match.groups()
    try:
        received_on = date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError as exc:
        raise InvalidDossierCode(
            f"{field} receipt date YYMMDD is not a real date", field=field
        ) from exc
    serial = int(serial_text)
    if serial == 0:
        raise InvalidDossierCode(f"{field} serial must be 0001-9999", field=field)
    return DossierCodeParts(agency_code=agency, received_on=received_on, serial=serial)


@lru_cache(maxsize=4096)
def _is_real_receipt_day(day: str) -> bool:
    """True when ``day`` (``YYMMDD``, six ASCII digits) is a real date of 20YY."""
    try:
        date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError:
        return False
    return True


def is_dossier_code(s: object) -> bool:
    """True exactly when :func:`parse_dossier_code` accepts ``s``, building no parts (a
    dossier code is checked several times along one request: the header, the purpose, the log)."""
    if not isinstance(s, str):
        return False
    match = _DOSSIER_NONZERO_SERIAL.fullmatch(s)
    return match is not None and _is_real_receipt_day(match[1])


def validate_dossier_code(s: str) -> str:
    """``s`` unchanged when it is a valid dossier code; ``InvalidDossierCode`` otherwise."""
    match = _DOSSIER_NONZERO_SERIAL.fullmatch(s) if isinstance(s, str) else None
    if match is None or not _is_real_receipt_day(match[1]):  # is_dossier_code, inline
        parse_dossier_code(s)  # raises, naming what is wrong
    return s


def make_dossier_code(agency_code: str, received_on: date, serial: int) -> str:
    """The dossier code for these parts (``received_on`` in 2000–2099, serial 1–9999)."""
    validate_agency_code(agency_code)
    if not 2000 <= received_on.year <= 2099:
        raise InvalidDossierCode("received_on must be in 2000-2099", field="received_on")
    if not 1 <= serial <= 9999:
        raise InvalidDossierCode("serial must be between 1 and 9999", field="serial")
    return f"{agency_code}-{received_on:%y%m%d}-{serial:04d}"


#: pydantic field types
DossierCode = Annotated[str, AfterValidator(validate_dossier_code)]
AgencyCode = Annotated[str, AfterValidator(validate_agency_code)]
