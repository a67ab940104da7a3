"""Clean text: what a name, a code or a note may hold before it is stored or sent on.

Text that reaches the store, the population database (in XML) and the portal is checked once,
here, by the text types of ``schemas.models``; every entry point that builds a model gets the
same rules. A value is NFC-normalised (a name typed in decomposed form, as some keyboards and
macOS file names produce, is stored and sent composed) and refused when it holds:

- a control character (C0, DEL or C1; NUL included) — one line of text holds no tab or line
  break; multi-line text (``clean_multiline``) may hold tab and line feed, and CR LF becomes LF;
- a bidirectional control: embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069,
  marks U+200E, U+200F and U+061C (they reorder what an official reads on screen);
- a lone surrogate or a noncharacter (U+FFFE, U+FFFF): not text, and PostgreSQL refuses them;
- in one line of text, a zero-width character (U+200B–U+200D, U+2060, U+FEFF): two names that
  look the same must be the same;
- nothing visible at all (only spaces and zero-width characters).

Records read back from the store were checked when they came in, perhaps under older rules;
validating them with ``context=STORED`` skips these checks (and the time windows), so a record
stored before a rule existed can still be read, moved on and delivered.

Refusals raise ``PydanticCustomError`` with a stable type (``control_character``,
``bidi_control``, ``invalid_character``, ``zero_width``, ``zero_width_only``) and a message
that names the kind and the position, never the value: these fields hold personal data.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

_BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_ZERO_WIDTH = "\u200b-\u200d\u2060\ufeff"
_BMP_NONCHARACTERS = "\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
_NONCHARACTERS = _BMP_NONCHARACTERS + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17)
)
_CONTROLS = "\x00-\x1f\x7f-\x9f"
_CONTROLS_MULTILINE = "\x00-\x08\x0b-\x1f\x7f-\x9f"  # tab and line feed allowed
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_MULTILINE = re.compile(f"[{_CONTROLS_MULTILINE}]")
#: anything that is not plain printable ASCII: only such values need the slower checks
_NOT_PLAIN = re.compile(r"[^\x20-\x7e]")
_UNCLEAN_LINE = re.compile(f"[{_BIDI}{_ZERO_WIDTH}{_NONCHARACTERS}]")
_UNCLEAN_MULTILINE = re.compile(f"[{_BIDI}{_NONCHARACTERS}]")
_IS_BIDI = re.compile(f"[{_BIDI}]")
_IS_ZERO_WIDTH = re.compile(f"[{_ZERO_WIDTH}]")
#: any character the checks below refuse, and every astral one: text without them (most
#: non-ASCII text) is clean when NFC and not blank, shown by one search of a short class
#: (``_UNCLEAN_LINE`` lists the astral noncharacters one by one: a search ~5x slower)
_ASTRAL = "\U00010000-\U0010ffff"
#: those characters for one line of text, as the inside of a regular expression's ``[...]``:
#: :func:`clean_line` returns a value without them unchanged when it is NFC and not blank
LINE_SUSPECTS = f"{_CONTROLS}{_BIDI}{_ZERO_WIDTH}{_BMP_NONCHARACTERS}{_ASTRAL}"
_SUSPECT_LINE = re.compile(f"[{LINE_SUSPECTS}]")
_SUSPECT_MULTILINE = re.compile(f"[{_CONTROLS_MULTILINE}{_BIDI}{_BMP_NONCHARACTERS}{_ASTRAL}]")

#: the validation context of records read back from the store: input checks are not re-applied
STORED: dict[str, Any] = {"stored_record": True}


def is_stored(info: ValidationInfo | None) -> bool:
    """True when the model is being validated from the store (``context=STORED``)."""
    context = info.context if info is not None else None
    return isinstance(context, dict) and context.get("stored_record") is True


#: the refusal types a text value may get
TEXT_ERRORS = frozenset(
    {"control_character", "bidi_control", "invalid_character", "zero_width", "zero_width_only"}
)


def _refuse(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _check(value: str, control: re.Pattern[str], *, single_line: bool) -> str:
    if _NOT_PLAIN.search(value) is None:
        return value  # printable ASCII: nothing to normalise, nothing to refuse
    suspect = _SUSPECT_LINE if single_line else _SUSPECT_MULTILINE
    if suspect.search(value) is None and unicodedata.is_normalized("NFC", value):
        # nothing below refuses or changes it, unless it is blank (a line holds no zero-width)
        visible = value if single_line else _IS_ZERO_WIDTH.sub("", value)
        if visible.strip():
            return value
    found = control.search(value)
    if found is not None:
        raise _refuse("control_character", f"holds a control character at position {found.start()}")
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    found = (_UNCLEAN_LINE if single_line else _UNCLEAN_MULTILINE).search(value)
    if found is not None:
        position, char = found.start(), found.group()
        if _IS_BIDI.fullmatch(char):
            raise _refuse("bidi_control", f"holds a bidirectional control at position {position}")
        if _IS_ZERO_WIDTH.fullmatch(char):
            raise _refuse("zero_width", f"holds a zero-width character at position {position}")
        raise _refuse("invalid_character", f"holds a non-character at position {position}")
    if not _IS_ZERO_WIDTH.sub("", value).strip():
        raise _refuse("zero_width_only", "holds nothing visible")
    return value


def clean_line(value: str) -> str:
    """``value`` NFC-normalised, when it is one line of clean text (see the module docstring)."""
    return _check(value, _CONTROL, single_line=True)


def line_validator(value: str, info: ValidationInfo) -> str:
    """:func:`clean_line` as a pydantic validator (skipped for records from the store)."""
    return value if is_stored(info) else clean_line(value)


def multiline_validator(value: str, info: ValidationInfo) -> str:
    """:func:`clean_multiline` as a pydantic validator (skipped for records from the store)."""
    return value if is_stored(info) else clean_multiline(value)


def clean_multiline(value: str) -> str:
    """``value`` NFC-normalised with CR LF as LF, when it is clean text that may span lines."""
    if "\r" in value:
        value = value.replace("\r\n", "\n")
    return _check(value, _CONTROL_MULTILINE, single_line=False)


__all__ = [
    "LINE_SUSPECTS",
    "STORED",
    "TEXT_ERRORS",
    "clean_line",
    "clean_multiline",
    "is_stored",
    "line_validator",
    "multiline_validator",
]
