"""``clean_line`` / ``clean_multiline`` judge every text as the plain checks do.

The shortcut in ``schemas.text`` accepts clean non-ASCII text (NFC, no control, bidi,
zero-width or noncharacter, nothing astral, not blank) after one search of a short character
class; anything else takes the plain checks, which refuse it and say why. Here each value is
judged with the shortcut on and off (its search made to match anything): the same cleaned value,
or the same refusal (type and message, which names the position).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from schemas import text
from tests.support.schemas_strategies import TEXT_VALUES


@contextmanager
def _plain_text_checks() -> Iterator[None]:
    """``schemas.text`` with its shortcut off: every non-ASCII value takes the plain checks."""
    anything = re.compile(r"[\s\S]")
    with (
        mock.patch.object(text, "_SUSPECT_LINE", anything),
        mock.patch.object(text, "_SUSPECT_MULTILINE", anything),
    ):
        yield


def _text_outcome(clean: Callable[[str], str], value: str) -> tuple[str, str]:
    try:
        return ("clean", clean(value))
    except PydanticCustomError as exc:
        return (exc.type, exc.message())


def _same_text_both_ways(value: str) -> None:
    for clean in (text.clean_line, text.clean_multiline):
        with _plain_text_checks():
            plain = _text_outcome(clean, value)
        assert _text_outcome(clean, value) == plain


@pytest.mark.parametrize("value", TEXT_VALUES)
def test_hostile_text_is_judged_the_same_both_ways(value: str) -> None:
    """Controls, bidi, zero-width, noncharacters, odd spaces, decomposed and blank text."""
    _same_text_both_ways(value)
    _same_text_both_ways(f"{value}\n{value}")


_any_text = st.text(
    alphabet=st.characters(
        categories=("L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Co", "Cn", "Cs"),
    ),
    max_size=16,
) | st.lists(st.sampled_from(TEXT_VALUES), max_size=3).map("".join)


@settings(max_examples=500)
@given(value=_any_text)
def test_any_text_is_judged_the_same_both_ways(value: str) -> None:
    """Generated text of every category (surrogates and unassigned code points included)."""
    _same_text_both_ways(value)


def test_every_bmp_character_is_judged_the_same_both_ways() -> None:
    """Each character of the BMP, alone and between Vietnamese letters."""
    values = [v for cp in range(0x10000) for v in (chr(cp), f"Hà{chr(cp)}Nội")]
    cleans = (text.clean_line, text.clean_multiline)
    with _plain_text_checks():
        plain = [_text_outcome(clean, value) for value in values for clean in cleans]
    assert [_text_outcome(clean, value) for value in values for clean in cleans] == plain


def test_the_shortcut_is_taken_for_clean_vietnamese() -> None:
    """Clean NFC text never reaches the plain checks (they would fail here, switched off)."""
    with (
        mock.patch.object(text, "_UNCLEAN_LINE", None),
        mock.patch.object(text, "_UNCLEAN_MULTILINE", None),
    ):
        value = "1 Tràng Tiền, Hoàn Kiếm, Hà Nội"
        assert text.clean_line(value) == value
        assert text.clean_multiline(f"{value}\n\t{value}") == f"{value}\n\t{value}"
