"""Citizen ID (CCCD, *căn cước công dân*): 12 digits ``RRR C YY SSSSSS``.

- ``RRR`` a province code, or a country code for citizens born abroad (``schemas.regions``);
- ``C`` century and sex: the birth year's hundreds are ``19 + C // 2`` and odd means female
  (0 male / 1 female born 1900–1999, 2 / 3 born 2000–2099, 4 / 5 born 2100–2199, …);
- ``YY`` the birth year's last two digits; ``SSSSSS`` a serial.

Errors never echo the ID: it is personal data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

from schemas.errors import InvalidCitizenId
from schemas.regions import COUNTRY_CODES, PROVINCE_CODES, is_region_code

MIN_BIRTH_YEAR = 1900
MAX_BIRTH_YEAR = 2399  # century digit 9: (19 + 4) * 100 + 99


class Sex(StrEnum):
    """Sex as recorded in the population database."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class CitizenIdParts:
    """The fields a citizen ID encodes."""

    region_code: str
    birth_year: int
    sex: Sex
    serial: str

    @property
    def born_abroad(self) -> bool:
        """True when the region code is a country code, not a province code."""
        return self.region_code in COUNTRY_CODES

    @property
    def century_digit(self) -> int:
        """Digit 4 of the ID."""
        return (self.birth_year // 100 - 19) * 2 + (1 if self.sex is Sex.FEMALE else 0)


def _is_ascii_digits(s: str, length: int) -> bool:
    return len(s) == length and s.isascii() and s.isdigit()


def parse_citizen_id(s: str, *, field: str = "citizen_id") -> CitizenIdParts:
    """The parts of ``s``; ``InvalidCitizenId`` naming what is wrong (never the value)."""
    if not isinstance(s, str):
        raise InvalidCitizenId(f"{field} must be a string of 12 digits", field=field)
    if len(s) != 12:
        raise InvalidCitizenId(f"{field} must be exactly 12 digits long", field=field)
    if not _is_ascii_digits(s, 12):
        raise InvalidCitizenId(f"{field} must contain only the digits 0-9", field=field)
    region = s[:3]
    if not is_region_code(region):
        raise InvalidCitizenId(
            f"{field} region code (digits 1-3) is not a known province or country code",
            field=field,
        )
    year, sex = birth_year_and_sex(s)
    return CitizenIdParts(region_code=region, birth_year=year, sex=sex, serial=s[6:])


def birth_year_and_sex(s: str) -> tuple[int, Sex]:
    """The birth year and sex a well-formed citizen ID encodes (``s`` already validated: a
    record's consistency check needs only these, not all the parts parsed again)."""
    century_digit = int(s[3])
    year = (19 + century_digit // 2) * 100 + int(s[4:6])
    return year, Sex.FEMALE if century_digit % 2 else Sex.MALE


def _alternatives(codes: Iterable[str]) -> str:
    """A regular expression matching exactly ``codes`` (digit strings of one length), written
    as a tree of their digits: ``0(?:0[12]|1[0])`` for 001, 002 and 010. A flat ``001|002|010``
    would try the codes one by one, up to 79 of them, for each ID."""
    codes = sorted(codes)
    if all(len(code) == 1 for code in codes):
        return f"[{''.join(codes)}]"
    by_first: dict[str, list[str]] = {}
    for code in codes:
        by_first.setdefault(code[0], []).append(code[1:])
    branches = [first + _alternatives(rests) for first, rests in by_first.items()]
    return f"(?:{'|'.join(branches)})" if len(branches) > 1 else branches[0]


#: ``CITIZEN_ID_RE.fullmatch(s)`` matches exactly the ``str`` values :func:`parse_citizen_id`
#: accepts: a known region code (``is_region_code``: the tables are fixed, so written into the
#: pattern once) and nine more ASCII digits
CITIZEN_ID_RE = re.compile(_alternatives([*PROVINCE_CODES, *COUNTRY_CODES]) + "[0-9]{9}")


def is_citizen_id(s: object) -> bool:
    """True exactly when :func:`parse_citizen_id` accepts ``s`` (a ``str``): a check that
    builds no parts, for the many places that only need to know (once per field per request)."""
    return isinstance(s, str) and CITIZEN_ID_RE.fullmatch(s) is not None


def _birth_digits(birth_year: int, sex: Sex) -> str:
    """Digits 4–6 of the ID of someone born in ``birth_year`` (1900–2399) with ``sex``."""
    century_digit = (birth_year // 100 - 19) * 2 + (1 if sex is Sex.FEMALE else 0)
    return f"{century_digit}{birth_year % 100:02d}"


#: (birth year, sex) -> digits 4–6 of the IDs that encode them, for every year an ID can
#: encode: ``BIRTH_DIGITS.get((year, sex)) == s[3:6]`` exactly when
#: ``birth_year_and_sex(s) == (year, sex)`` (a well-formed ``s``), without parsing ``s``
BIRTH_DIGITS: Mapping[tuple[int, Sex], str] = {
    (year, sex): _birth_digits(year, sex)
    for year in range(MIN_BIRTH_YEAR, MAX_BIRTH_YEAR + 1)
    for sex in Sex
}


def validate_citizen_id(s: str) -> str:
    """``s`` unchanged when it is a well-formed citizen ID; ``InvalidCitizenId`` otherwise."""
    if not isinstance(s, str) or CITIZEN_ID_RE.fullmatch(s) is None:  # is_citizen_id, inline
        parse_citizen_id(s)  # raises, naming what is wrong
    return s


def make_citizen_id(region_code: str, birth_year: int, sex: Sex | str, serial: int | str) -> str:
    """The citizen ID encoding these parts (``serial`` 0–999999, zero-padded to 6 digits)."""
    if region_code not in PROVINCE_CODES and region_code not in COUNTRY_CODES:
        raise InvalidCitizenId(
            "region_code is not a known province or country code", field="region_code"
        )
    if not MIN_BIRTH_YEAR <= birth_year <= MAX_BIRTH_YEAR:
        raise InvalidCitizenId(
            f"birth_year must be between {MIN_BIRTH_YEAR} and {MAX_BIRTH_YEAR}", field="birth_year"
        )
    try:
        sex = Sex(sex)
    except ValueError as exc:
        raise InvalidCitizenId("sex must be 'male' or 'female'", field="sex") from exc
    if isinstance(serial, str):
        if not _is_ascii_digits(serial, 6):
            raise InvalidCitizenId("serial must be 6 digits", field="serial")
        serial_text = serial
    else:
        if not 0 <= serial <= 999_999:
            raise InvalidCitizenId("serial must be between 0 and 999999", field="serial")
        serial_text = f"{serial:06d}"
    return f"{region_code}{_birth_digits(birth_year, sex)}{serial_text}"


#: a pydantic field type: a well-formed citizen ID
CitizenId = Annotated[str, AfterValidator(validate_citizen_id)]
