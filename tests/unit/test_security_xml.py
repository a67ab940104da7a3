"""Hardened XML parsing: no DTD, no entities, no network, size and depth limits."""

from __future__ import annotations

import pytest

from security.errors import UnsafeXml
from security.xml import XmlLimits, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"""

XXE_NETWORK = b"""<?xml version="1.0"?>
<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/evil.dtd">
<foo/>"""


def _reason(data: bytes, limits: XmlLimits | None = None) -> str:
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(data, limits or XmlLimits())
    return caught.value.reason


def test_parses_ordinary_xml() -> None:
    """Well-formed XML with namespaces, predefined entities and char refs parses."""
    root = parse_xml(b'<a xmlns:x="urn:x"><x:b>&amp;&#65;</x:b></a>')
    assert root[0].text == "&A"


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE_FILE, XXE_NETWORK])
def test_refuses_any_dtd(payload: bytes) -> None:
    """Entity-expansion bombs, external entities and external DTDs are refused as dtd_forbidden."""
    assert _reason(payload) == "dtd_forbidden"


def test_refuses_a_dtd_hidden_behind_a_comment() -> None:
    """A DTD after a prolog comment that looks like markup is still refused."""
    assert _reason(b"<!-- <x --><!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>") == "dtd_forbidden"


def test_refuses_a_dtd_in_utf16() -> None:
    """A DTD is found in a UTF-16 document too."""
    payload = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'.encode("utf-16")
    assert _reason(payload) == "dtd_forbidden"


def test_refuses_undeclared_entity_references() -> None:
    """A reference to a non-predefined entity is refused as entity_forbidden."""
    assert _reason(b"<a>&secret;</a>") == "entity_forbidden"


def test_refuses_an_oversized_document() -> None:
    """A document over max_bytes is refused before parsing."""
    assert _reason(b"<a>" + b"x" * 2000 + b"</a>", XmlLimits(max_bytes=1000)) == "xml_too_large"


def test_refuses_a_too_deep_document() -> None:
    """Nesting below max_depth is refused; exactly max_depth is accepted."""
    deep = b"<a>" * 11 + b"</a>" * 11
    assert _reason(deep, XmlLimits(max_depth=10)) == "xml_too_deep"
    assert parse_xml(b"<a>" * 10 + b"</a>" * 10, XmlLimits(max_depth=10)).tag == "a"


@pytest.mark.parametrize("payload", [b"<a>", b"<a></b>", b"", b"   ", b"not xml"])
def test_refuses_malformed_xml(payload: bytes) -> None:
    """Malformed or empty documents are refused as malformed_xml."""
    assert _reason(payload) == "malformed_xml"


def test_refusal_message_does_not_echo_the_document() -> None:
    """The message says why, without quoting content from the payload."""
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<citizen>001095000001 secret-name</wrong>")
    assert "001095000001" not in str(caught.value)
    assert "secret-name" not in str(caught.value)


def test_xinclude_is_not_processed() -> None:
    """An XInclude element stays an element; nothing is read from the file system."""
    root = parse_xml(
        b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>'
    )
    assert root[0].tag == "{http://www.w3.org/2001/XInclude}include"
    assert "root" not in (root.text or "")


def test_comments_and_processing_instructions_are_dropped() -> None:
    """Comments and PIs vanish while parsing; text around a comment is joined."""
    root = parse_xml(b"<a><n>Al<!-- x -->ice</n><?pi data?></a>")
    assert root[0].text == "Alice"
    assert len(root) == 1
