"""The part of Structured Field Values (RFC 8941) that HTTP Message Signatures need.

Parses and serializes Dictionaries whose members are Items or Inner Lists, with Parameters; bare
items are Integers, Decimals, Strings, Tokens, Byte Sequences and Booleans. Parsing is strict
(RFC 8941 §4.2): anything malformed raises ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from decimal import Decimal


class Token(str):
    """An sf-token (distinct from an sf-string)."""

    __slots__ = ()


BareItem = int | Decimal | str | Token | bytes | bool
Params = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    """A bare item with its parameters."""

    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """An inner list of items with its parameters."""

    items: list[Item]
    params: Params = field(default_factory=dict)


Member = Item | InnerList

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,3})?")
_STRING_BODY = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class _Parser:
    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise ValueError("structured fields are ASCII")
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"malformed structured field: {what} at {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def key(self) -> str:
        found = _KEY.match(self.text, self.pos)
        if found is None:
            raise self.fail("key expected")
        self.pos = found.end()
        return found.group()

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == '"':
            return self.string()
        if char == ":":
            found = _BYTES.match(self.text, self.pos)
            if found is None:
                raise self.fail("byte sequence")
            self.pos = found.end()
            try:
                return base64.b64decode(found.group(1), validate=True)
            except binascii.Error as exc:
                raise self.fail("byte sequence") from exc
        if char == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in ("0", "1"):
                raise self.fail("boolean")
            self.pos += 2
            return value == "1"
        if char == "-" or char.isdigit():
            found = _NUMBER.match(self.text, self.pos)
            if found is None:
                raise self.fail("number")
            self.pos = found.end()
            text = found.group()
            return Decimal(text) if "." in text else int(text)
        found = _TOKEN.match(self.text, self.pos)
        if found is None:
            raise self.fail("item expected")
        self.pos = found.end()
        return Token(found.group())

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            found = _STRING_BODY.match(self.text, self.pos)
            assert found is not None
            out.append(found.group())
            self.pos = found.end()
            char = self.peek()
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                following = self.text[self.pos + 1 : self.pos + 2]
                if following not in ('"', "\\"):
                    raise self.fail("string escape")
                out.append(following)
                self.pos += 2
                continue
            raise self.fail("string")

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_sp()
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.params())

    def member(self) -> Member:
        if self.peek() != "(":
            return self.item()
        self.pos += 1
        items: list[Item] = []
        while True:
            self.skip_sp()
            if self.peek() == ")":
                self.pos += 1
                return InnerList(items, self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("inner list")

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        self.skip_sp()
        while self.pos < len(self.text):
            key = self.key()
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.member()
            else:
                members[key] = Item(True, self.params())
            self.skip_ows()
            if self.pos >= len(self.text):
                return members
            if self.peek() != ",":
                raise self.fail("dictionary")
            self.pos += 1
            self.skip_ows()
            if self.pos >= len(self.text):
                raise self.fail("trailing comma")
        return members


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an sf-dictionary (RFC 8941 §4.2.2)."""
    return _Parser(text.strip(" ")).dictionary()


def parse_item(text: str) -> Item:
    """Parse an sf-item, e.g. a component identifier such as ``"signature";key="sig1"``."""
    parser = _Parser(text.strip(" "))
    item = parser.item()
    if parser.pos != len(parser.text):
        raise parser.fail("trailing characters")
    return item


def serialize_bare_item(value: BareItem) -> str:
    """Serialize one bare item."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value.quantize(Decimal("0.001")).normalize(), "f")
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_params(params: Params) -> str:
    """Serialize parameters (``;key=value``, a true boolean as ``;key``)."""
    return "".join(
        f";{key}" if value is True else f";{key}={serialize_bare_item(value)}"
        for key, value in params.items()
    )


def serialize_item(item: Item) -> str:
    """Serialize an item with its parameters."""
    return serialize_bare_item(item.value) + serialize_params(item.params)


def serialize_member(member: Member) -> str:
    """Serialize an item or an inner list."""
    if isinstance(member, InnerList):
        inner = " ".join(serialize_item(item) for item in member.items)
        return f"({inner}){serialize_params(member.params)}"
    return serialize_item(member)


def serialize_dictionary(members: dict[str, Member]) -> str:
    """Serialize an sf-dictionary."""
    out = []
    for key, member in members.items():
        if isinstance(member, Item) and member.value is True:
            out.append(key + serialize_params(member.params))
        else:
            out.append(f"{key}={serialize_member(member)}")
    return ", ".join(out)


__all__ = [
    "InnerList",
    "Item",
    "Token",
    "parse_dictionary",
    "parse_item",
    "serialize_dictionary",
    "serialize_item",
    "serialize_member",
    "serialize_params",
]
