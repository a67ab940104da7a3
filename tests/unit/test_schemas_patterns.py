"""The identifier shapes in ``schemas.patterns`` agree with the validators and are not copied."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.patterns import (
    CITIZEN_ID_PATTERN,
    DOSSIER_CODE_PATTERN,
    OFFICIAL_PATTERN,
    TAX_CODE_PATTERN,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (CITIZEN_ID_PATTERN, "001085012345", ["00108501234", "00108501234x", "0010850123456"]),
        (OFFICIAL_PATTERN, "VN001085012345", ["001085012345", "vn001085012345", "VN00108501234"]),
        (
            DOSSIER_CODE_PATTERN,
            "000.00.04.H04-261126-0007",
            ["000.00.04.H04-261126-007", "000.00.04.h04-261126-0007", "000.00.04.H04-26112-0007"],
        ),
        (TAX_CODE_PATTERN, "0100109106", ["010010910", "0100109106-01", "0100109106-0011"]),
    ],
)
def test_each_pattern_accepts_its_shape_and_nothing_else(
    pattern: str, good: str, bad: list[str]
) -> None:
    """A well-shaped identifier matches; one digit short, long or mis-cased does not."""
    assert re.fullmatch(pattern, good)
    assert [b for b in bad if re.fullmatch(pattern, b)] == []


def test_no_package_writes_an_identifier_pattern_of_its_own() -> None:
    """The patterns' literal text appears in ``schemas/patterns.py`` only, nowhere else in code."""
    needles = (r"[0-9]{12}", r"[0-9]{10}(-[0-9]{3})", r"\.[A-Z][0-9]{2}")
    copies = [
        f"{path.relative_to(ROOT)}: {needle}"
        for package in ("adapter_api", "store", "sync", "watches", "lienthong", "console", "push")
        if (ROOT / package).is_dir()
        for path in sorted((ROOT / package).rglob("*.py"))
        for needle in needles
        if needle in path.read_text(encoding="utf-8")
    ]
    assert copies == []
