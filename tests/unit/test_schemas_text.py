"""Clean text: NFC, and refusals of control, bidi, zero-width and non-characters."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from schemas.text import clean_line, clean_multiline


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("An\x00", "control_character"),
        ("An\nBình", "control_character"),
        ("An\rBình", "control_character"),
        ("An\tBình", "control_character"),
        ("An\x7f", "control_character"),
        ("An\x85", "control_character"),
        ("An \u202eBình", "bidi_control"),
        ("An \u2066Bình\u2069", "bidi_control"),
        ("An\u200fBình", "bidi_control"),
        ("An\u200bBình", "zero_width"),
        ("An\ufeff", "zero_width"),
        ("An\ud800", "invalid_character"),
        ("An\uffff", "invalid_character"),
    ],
)
def test_one_line_refusals_name_their_kind(value: str, kind: str) -> None:
    """Each unclean character is refused with its stable kind, and the message has no value."""
    with pytest.raises(PydanticCustomError) as refused:
        clean_line(value)
    assert refused.value.type == kind
    assert "An" not in refused.value.message()


def test_multiline_text_keeps_tab_and_newline_and_refuses_the_rest() -> None:
    """Notes may span lines (CR LF becomes LF); other controls and bidi are still refused;
    zero-width characters are allowed inside but a value of nothing visible is not."""
    assert clean_multiline("dòng 1\r\ndòng 2\tcột") == "dòng 1\ndòng 2\tcột"
    assert clean_multiline("ký\u200dhiệu") == "ký\u200dhiệu"
    for value, kind in [
        ("a\x00b", "control_character"),
        ("a\rb", "control_character"),
        ("a\u202eb", "bidi_control"),
        ("\u200b\u200c \n", "zero_width_only"),
    ]:
        with pytest.raises(PydanticCustomError) as refused:
            clean_multiline(value)
        assert refused.value.type == kind


def test_decomposed_text_becomes_composed() -> None:
    """NFD in, NFC out; plain ASCII passes untouched."""
    name = "Nguyễn Thị Ánh"
    assert clean_line(unicodedata.normalize("NFD", name)) == unicodedata.normalize("NFC", name)
    assert clean_line("Le Van An") == "Le Van An"


@given(st.text(min_size=1, max_size=30))
def test_whatever_passes_is_nfc_and_free_of_controls(value: str) -> None:
    """Over any text: an accepted value is NFC, with no control, bidi or zero-width character."""
    try:
        cleaned = clean_line(value)
    except PydanticCustomError:
        return
    assert unicodedata.normalize("NFC", cleaned) == cleaned
    assert not any(unicodedata.category(c) == "Cc" for c in cleaned)
    assert not set(cleaned) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert not set(cleaned) & set("\u200b\u200c\u200d\u2060\ufeff")
    cleaned.encode("utf-8")  # no lone surrogate


def test_records_read_back_from_the_store_are_not_checked_again() -> None:
    """A dossier stored under older rules (a zero-width character in a name, a due date past
    2099) is readable with ``context=STORED``; the same data as input is refused."""
    from pydantic import ValidationError

    from schemas.models import Dossier
    from schemas.text import STORED

    old = {
        "code": "000.00.04.H04-261126-0007",
        "procedure_code": "1.001",
        "agency_code": "000.00.04.H04",
        "sector_code": "TP.HT",
        "applicant_name": "Nguyễn\u200bVăn An",
        "applicant_id": "001085000123",
        "status": 1,
        "received_at": "2026-11-26T08:00:00+07:00",
        "due_at": "2101-01-01T00:00:00+07:00",
        "updated_at": "2026-11-26T08:00:00+07:00",
        "title": "Đăng ký khai sinh",
    }
    stored = Dossier.model_validate(old, context=STORED)
    assert stored.applicant_name == old["applicant_name"]
    assert stored.due_at is not None
    assert stored.due_at.year == 2101
    with pytest.raises(ValidationError):
        Dossier.model_validate(old)
