"""Tax code (MST, *mã số thuế*): 10 digits, or ``NNNNNNNNNN-NNN`` (13 digits) for a branch.

The 10th digit checks the first nine: weights 31 29 23 19 17 13 7 5 3, check = 10 − (sum mod 11).
A result of 10 cannot be written in one digit, so nine digits giving it are never issued
(``tax_check_digit`` returns None). Branch suffixes run 001–999.

Every single-digit change is caught: each weight is non-zero mod 11, so changing one digit
changes the sum mod 11, hence the check digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from schemas.errors import InvalidTaxCode

WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_SHAPE = re.compile(r"([0-9]{10})(?:-([0-9]{3}))?", re.ASCII)


@dataclass(frozen=True, slots=True)
class TaxCodeParts:
    """The fields of a tax code."""

    first_nine: str
    check_digit: int
    branch: int | None

    @property
    def head(self) -> str:
        """The 10-digit code of the enterprise (the parent's code for a branch)."""
        return f"{self.first_nine}{self.check_digit}"


def tax_check_digit(first_nine: str) -> int | None:
    """The check digit for ``first_nine`` (9 digits), or None when the result is 10."""
    if not (len(first_nine) == 9 and first_nine.isascii() and first_nine.isdigit()):
        raise InvalidTaxCode("first_nine must be 9 digits", field="first_nine")
    total = sum(weight * int(digit) for weight, digit in zip(WEIGHTS, first_nine, strict=True))
    check = 10 - (total % 11)
    return None if check == 10 else check


def parse_tax_code(s: str, *, field: str = "tax_code") -> TaxCodeParts:
    """The parts of ``s``; ``InvalidTaxCode`` naming what is wrong (never the value)."""
    if not isinstance(s, str):
        raise InvalidTaxCode(f"{field} must be a string", field=field)
    match = _SHAPE.fullmatch(s)
    if match is None:
        raise InvalidTaxCode(
            f"{field} must be 10 digits, or 10 digits, '-' and a 3-digit branch", field=field
        )
    head, branch_text = match.group(1), match.group(2)
    expected = tax_check_digit(head[:9])
    if expected is None:
        raise InvalidTaxCode(
            f"{field} first nine digits are never issued (no check digit)", field=field
        )
    if int(head[9]) != expected:
        raise InvalidTaxCode(f"{field} check digit does not match", field=field)
    branch = None
    if branch_text is not None:
        branch = int(branch_text)
        if branch == 0:
            raise InvalidTaxCode(f"{field} branch suffix must be 001-999", field=field)
    return TaxCodeParts(first_nine=head[:9], check_digit=expected, branch=branch)


def validate_tax_code(s: str) -> str:
    """``s`` unchanged when it is a valid tax code; ``InvalidTaxCode`` otherwise."""
    parse_tax_code(s)
    return s


def make_tax_code(first_nine: str, branch: int | None = None) -> str:
    """The tax code for ``first_nine`` (and a branch 1–999); ``InvalidTaxCode`` if never issued."""
    check = tax_check_digit(first_nine)
    if check is None:
        raise InvalidTaxCode(
            "first_nine gives check digit 10 and is never issued", field="first_nine"
        )
    if branch is None:
        return f"{first_nine}{check}"
    if not 1 <= branch <= 999:
        raise InvalidTaxCode("branch must be between 1 and 999", field="branch")
    return f"{first_nine}{check}-{branch:03d}"


#: a pydantic field type: a valid tax code
TaxCode = Annotated[str, AfterValidator(validate_tax_code)]
