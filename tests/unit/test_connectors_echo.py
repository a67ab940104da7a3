"""``connectors.echo`` accepts a reply's X-Road echo only where the plain read and comparison do.

Each case is a reply header built from the header sent, faithful or changed: fields padded,
reordered, repeated, emptied, different or unknown; identifiers with another objectType, a
missing, repeated or extra part, a comment; ``requestHash`` wrong, missing, non-ASCII or with
another algorithm. On each, the fast path and the plain reading (``read_header`` then
``echo_mismatch``) run on the same header: where the fast path accepts, the plain one accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.echo import echoes_faithfully
from connectors.soap import SOAP11_NS, echo_mismatch
from schemas.errors import SchemaError
from schemas.files import XROAD_ID_NS, XROAD_NS
from schemas.wire.xroad import (
    OBJECT_TYPE,
    XRoadClient,
    XRoadHeader,
    XRoadService,
    build_header_elements,
    read_header,
    request_hash,
)

REQUEST = b"<soapenv:Envelope>the request as sent</soapenv:Envelope>"
SENT = XRoadHeader(
    client=XRoadClient(member_code="H04", subsystem_code="lienthong"),
    service=XRoadService(
        member_code="CSDLQGDC",
        service_code="GetCitizen",
        subsystem_code="population",
        service_version="v1",
    ),
    message_id="0b6f3e4c-5a2d-4f1e-9c8b-7d6a5e4f3c2b",
    user_id="VN079085004321",
    issue="000.00.04.H04-261126-0007",
)
X = f"{{{XROAD_NS}}}"
ID = f"{{{XROAD_ID_NS}}}"
Change = Callable[[etree._Element], None]


def _child(header: etree._Element, name: str) -> etree._Element:
    found = header.find(X + name)
    assert found is not None
    return found


def _text(name: str, text: str) -> Change:
    def change(header: etree._Element) -> None:
        _child(header, name).text = text

    return change


def _part(identifier: str, part: str, text: str | None) -> Change:
    """Set (or with None remove) one part of the client or service identifier."""

    def change(header: etree._Element) -> None:
        element = _child(header, identifier).find(ID + part)
        assert element is not None
        if text is None:
            _child(header, identifier).remove(element)
        else:
            element.text = text

    return change


def _attribute(name: str, attribute: str, value: str) -> Change:
    def change(header: etree._Element) -> None:
        _child(header, name).set(attribute, value)

    return change


def _repeat(name: str) -> Change:
    def change(header: etree._Element) -> None:
        element = _child(header, name)
        element.addnext(etree.fromstring(etree.tostring(element)))

    return change


def _repeat_part(identifier: str, part: str) -> Change:
    def change(header: etree._Element) -> None:
        element = _child(header, identifier).find(ID + part)
        assert element is not None
        element.addnext(etree.fromstring(etree.tostring(element)))

    return change


def _swap_part(identifier: str, part: str, other: str) -> Change:
    """``part`` removed and ``other`` repeated: as many parts as sent, not the same ones."""

    def change(header: etree._Element) -> None:
        _part(identifier, part, None)(header)
        _repeat_part(identifier, other)(header)

    return change


def _extra(parent: str | None, tag: str) -> Change:
    def change(header: etree._Element) -> None:
        target = header if parent is None else _child(header, parent)
        etree.SubElement(target, tag).text = "x"

    return change


def _pad(header: etree._Element) -> None:
    for element in header.iter():
        if element.text:
            element.text = f"  {element.text}\n"


def _reverse(header: etree._Element) -> None:
    children = list(header)
    for child in children:
        header.remove(child)
    header.extend(reversed(children))


def _remove(name: str) -> Change:
    def change(header: etree._Element) -> None:
        header.remove(_child(header, name))

    return change


def _comment(header: etree._Element) -> None:
    _child(header, "client")[0].addnext(etree.Comment("a comment"))


def _comment_between_fields(header: etree._Element) -> None:
    _child(header, "id").addnext(etree.Comment("a comment"))


def _instruction(header: etree._Element) -> None:
    _child(header, "service")[0].addnext(etree.ProcessingInstruction("pi", "x"))


CASES: dict[str, Change | None] = {
    "faithful": None,
    "padded": _pad,
    "reordered": _reverse,
    "with a comment": _comment,
    "with a comment between fields": _comment_between_fields,
    "with a processing instruction": _instruction,
    "beside another header": _extra(None, "{urn:other}note"),
    "client as MEMBER": _attribute("client", OBJECT_TYPE, "MEMBER"),
    "client as SERVICE": _attribute("client", OBJECT_TYPE, "SERVICE"),
    "service as SUBSYSTEM": _attribute("service", OBJECT_TYPE, "SUBSYSTEM"),
    "another id": _text("id", "another"),
    "empty id": _text("id", " "),
    "another user": _text("userId", "VN001090000001"),
    "another issue": _text("issue", "000.00.04.H04-261126-0008"),
    "protocol 4.1": _text("protocolVersion", "4.1"),
    "protocol 5.0": _text("protocolVersion", "5.0"),
    "id repeated": _repeat("id"),
    "client repeated": _repeat("client"),
    "no requestHash": _remove("requestHash"),
    "no client": _remove("client"),
    "wrong requestHash": _text("requestHash", request_hash(b"another request")),
    "non-ASCII requestHash": _text("requestHash", "é" * 44),
    "requestHash by SHA-1": _attribute("requestHash", "algorithmId", "sha1"),
    "unknown X-Road element": _extra(None, X + "extra"),
    "client without subsystem": _part("client", "subsystemCode", None),
    "client subsystem empty": _part("client", "subsystemCode", ""),
    "client of another member": _part("client", "memberCode", "H05"),
    "client member repeated": _repeat_part("client", "memberCode"),
    "client subsystem swapped for a repeat": _swap_part("client", "subsystemCode", "memberCode"),
    "client with an extra part": _extra("client", ID + "extra"),
    "client with a foreign part": _extra("client", "{urn:other}extra"),
    "service without version": _part("service", "serviceVersion", None),
    "service without code": _part("service", "serviceCode", None),
    "service of another operation": _part("service", "serviceCode", "VerifyCitizen"),
}
#: the cases the fast path itself accepts (the others it leaves to the plain reading)
FAST = {
    "faithful",
    "padded",
    "reordered",
    "with a comment between fields",
    "beside another header",
    "client as MEMBER",
}
#: the cases the fast path leaves to the plain reading, which accepts them: a comment or a
#: processing instruction inside an identifier (no upstream sends one; the fast path counts
#: an identifier's children without looking at each one's kind)
PLAIN_ONLY = {"with a comment", "with a processing instruction"}


def _header(sent: XRoadHeader, change: Change | None) -> etree._Element:
    header = etree.Element(f"{{{SOAP11_NS}}}Header")
    header.extend(build_header_elements(sent.response(REQUEST)))
    if change is not None:
        change(header)
    return header


def _plain(sent: XRoadHeader, header: etree._Element) -> str | None:
    try:
        echoed = read_header(header, response=True)
    except SchemaError:
        return "malformed_header"
    return echo_mismatch(sent, echoed, REQUEST)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fast_echo_check_accepts_only_what_the_plain_one_accepts(name: str) -> None:
    header = _header(SENT, CASES[name])
    fast = echoes_faithfully(SENT, header, request_hash(REQUEST))
    if fast or name in PLAIN_ONLY:
        assert _plain(SENT, header) is None
    assert fast == (name in FAST)


SENT_VARIANTS = {
    "a member without subsystem": dataclasses.replace(
        SENT, client=XRoadClient(member_code="H04", subsystem_code=None)
    ),
    "a service without version": dataclasses.replace(
        SENT, service=dataclasses.replace(SENT.service, service_version=None)
    ),
    "an empty subsystem": dataclasses.replace(
        SENT, client=XRoadClient(member_code="H04", subsystem_code="")
    ),
    "a padded user": dataclasses.replace(SENT, user_id=" VN079085004321"),
    "an empty issue": dataclasses.replace(SENT, issue=""),
    "protocol 3.0": dataclasses.replace(SENT, protocol_version="3.0"),
}


@pytest.mark.parametrize("name", sorted(SENT_VARIANTS))
def test_what_was_sent_decides_too(name: str) -> None:
    """A header sent with values no echo can read back equal is left to the plain reading."""
    sent = SENT_VARIANTS[name]
    header = _header(sent, None)
    fast = echoes_faithfully(sent, header, request_hash(REQUEST))
    if fast:
        assert _plain(sent, header) is None
    assert fast == (name in {"a member without subsystem", "a service without version"})


def test_a_hash_of_another_request_is_not_accepted() -> None:
    header = _header(SENT, None)
    assert not echoes_faithfully(SENT, header, request_hash(b"another request"))
    assert echo_mismatch(SENT, read_header(header, response=True), b"another") == "requestHash"


#: what an echoed text may be changed into: emptied, padded (any whitespace), cut, lengthened,
#: another case, non-ASCII
_ODD_TEXTS = st.text(alphabet=st.sampled_from(" \t\n\xa0\u3000\u200bé4.Aa-="), max_size=3)
_TEXT_FIELDS = ("id", "userId", "issue", "protocolVersion", "requestHash")
_PARTS = {
    "client": ("xRoadInstance", "memberClass", "memberCode", "subsystemCode"),
    "service": (
        "xRoadInstance",
        "memberClass",
        "memberCode",
        "subsystemCode",
        "serviceCode",
        "serviceVersion",
    ),
}


@st.composite
def _changed_echoes(draw: st.DrawFn) -> etree._Element:
    """The faithful echo of ``SENT``, a few of its texts changed around or inside."""
    header = _header(SENT, None)
    targets = [_child(header, name) for name in _TEXT_FIELDS]
    targets += [
        _child(header, name).find(ID + part) for name, parts in _PARTS.items() for part in parts
    ]
    for element in draw(st.lists(st.sampled_from(targets), max_size=3)):
        text = element.text or ""
        at = draw(st.integers(min_value=0, max_value=len(text)))
        cut = draw(st.integers(min_value=at, max_value=len(text)))
        element.text = text[:at] + draw(_ODD_TEXTS) + text[cut:]
    return header


@settings(max_examples=300, deadline=None)
@given(header=_changed_echoes())
def test_changed_echoes_are_accepted_fast_only_where_the_plain_check_accepts(
    header: etree._Element,
) -> None:
    """Texts changed in any way: the fast path accepts only what the plain check accepts."""
    if echoes_faithfully(SENT, header, request_hash(REQUEST)):
        assert _plain(SENT, header) is None
