"""``connectors.echo.echoes_faithfully`` answers as its previous form did, on any header.

The check now finds the X-Road elements with lxml (``iterchildren``), compares an identifier's
parts first exactly as they were sent (one list of ``(tag, text)`` built in C) and only then the
lenient way (any order, padded texts), and remembers what a client and a service must echo by
the identity of the objects instead of an ``lru_cache`` on their hashes. The previous form is
kept here as the reference: on the cases of ``test_connectors_echo``, on headers changed at
random in their structure (elements repeated, removed, moved, renamed into or out of the X-Road
namespaces, comments and instructions put anywhere, attributes and texts changed) and on
headers sent with other clients and services, both answer the same, and a True is always
accepted by the plain reading too.
"""

from __future__ import annotations

import dataclasses
import hmac
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors import echo
from connectors.echo import echoes_faithfully
from schemas.files import XROAD_ID_NS, XROAD_NS
from schemas.wire.xroad import (
    HEADER_ELEMENTS,
    OBJECT_TYPE,
    REQUEST_HASH_ALGORITHM,
    XRoadClient,
    XRoadHeader,
    XRoadService,
    request_hash,
)
from tests.unit.test_connectors_echo import CASES, REQUEST, SENT, SENT_VARIANTS, _header, _plain

# --- the previous form, as it was -----------------------------------------------------------

_CLIENT, _SERVICE, _ID, _USER_ID, _ISSUE, _PROTOCOL_VERSION, _REQUEST_HASH = HEADER_ELEMENTS
_XROAD_PREFIX = "{" + XROAD_NS + "}"
_PARTS = {
    name: f"{{{XROAD_ID_NS}}}{name}"
    for name in (
        "xRoadInstance",
        "memberClass",
        "memberCode",
        "subsystemCode",
        "serviceCode",
        "serviceVersion",
    )
}


def _clean(text: str | None) -> bool:
    return bool(text) and text == text.strip()  # type: ignore[union-attr]


@lru_cache(maxsize=64)
def _identifier_parts(identifier: XRoadClient | XRoadService) -> dict[str, str] | None:
    values = {
        "xRoadInstance": identifier.x_road_instance,
        "memberClass": identifier.member_class,
        "memberCode": identifier.member_code,
    }
    optional: dict[str, str | None] = {"subsystemCode": identifier.subsystem_code}
    if isinstance(identifier, XRoadService):
        values["serviceCode"] = identifier.service_code
        optional["serviceVersion"] = identifier.service_version
    if not all(_clean(value) for value in values.values()):
        return None
    for name, value in optional.items():
        if value is not None:
            if not _clean(value):
                return None
            values[name] = value
    return {_PARTS[name]: value for name, value in values.items()}


def reference(sent: XRoadHeader, header: etree._Element, expected_hash: str) -> bool:
    """``echoes_faithfully`` before this change, unchanged."""
    client_parts = _identifier_parts(sent.client)
    service_parts = _identifier_parts(sent.service)
    if (
        client_parts is None
        or service_parts is None
        or not sent.protocol_version.startswith("4.")
        or not expected_hash.isascii()
    ):
        return False
    identifiers = {
        _CLIENT: (("SUBSYSTEM", "MEMBER"), client_parts),
        _SERVICE: (("SERVICE",), service_parts),
    }
    texts = {
        _ID: sent.message_id,
        _USER_ID: sent.user_id,
        _ISSUE: sent.issue,
        _PROTOCOL_VERSION: sent.protocol_version,
        _REQUEST_HASH: expected_hash,
    }
    for child in header:
        tag = child.tag
        if tag in texts:
            echoed = (child.text or "").strip()
            if tag == _REQUEST_HASH:
                if child.get("algorithmId") != REQUEST_HASH_ALGORITHM or not echoed.isascii():
                    return False
                if not hmac.compare_digest(echoed, texts.pop(tag)):
                    return False
            elif echoed != texts.pop(tag) or not echoed:
                return False
        elif tag in identifiers:
            allowed, parts = identifiers.pop(tag)
            if child.get(OBJECT_TYPE) not in allowed or len(child) != len(parts):
                return False
            if {part.tag: (part.text or "").strip() for part in child} != parts:
                return False
        elif isinstance(tag, str) and tag.startswith(_XROAD_PREFIX):
            return False
    return not texts and not identifiers


# --- the same answers ------------------------------------------------------------------------

EXPECTED_HASH = request_hash(REQUEST)


def _both(sent: XRoadHeader, header: etree._Element, expected_hash: str = EXPECTED_HASH) -> bool:
    fast = echoes_faithfully(sent, header, expected_hash)
    assert fast == reference(sent, header, expected_hash)
    if fast:
        assert _plain(sent, header) is None
    return fast


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_is_answered_as_before(name: str) -> None:
    _both(SENT, _header(SENT, CASES[name]))


@pytest.mark.parametrize("name", sorted(SENT_VARIANTS))
def test_every_header_sent_is_answered_as_before(name: str) -> None:
    sent = SENT_VARIANTS[name]
    _both(sent, _header(sent, None))
    _both(SENT, _header(sent, None))  # the echo of another header
    _both(sent, _header(SENT, None))


@pytest.mark.parametrize(
    "expected_hash", ["", "é" * 44, request_hash(b"other"), " " + EXPECTED_HASH]
)
def test_other_expected_hashes_are_answered_as_before(expected_hash: str) -> None:
    assert not _both(SENT, _header(SENT, None), expected_hash)


X = f"{{{XROAD_NS}}}"
ID = f"{{{XROAD_ID_NS}}}"
#: tags an element may be renamed to: every X-Road and identifier tag, near misses, others
_TAGS = [
    *HEADER_ELEMENTS,
    *(ID + name for name in ("xRoadInstance", "memberClass", "memberCode", "subsystemCode")),
    *(ID + name for name in ("serviceCode", "serviceVersion")),
    X + "extra",
    ID + "extra",
    "{urn:other}client",
    "client",
    "{" + XROAD_NS + "/}id",
]
_TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "VN", "GOV", "H04", "4.0", "4.1", "\xa0H04", EXPECTED_HASH]),
    st.text(alphabet=st.sampled_from(" \t\n\xa0é4.Aa-=H0"), max_size=4),
)


@st.composite
def _hostile_headers(draw: st.DrawFn) -> etree._Element:
    """The faithful echo of ``SENT`` (padded or not), then up to 6 structural changes."""
    header = _header(SENT, None)
    if draw(st.booleans()):
        for element in header.iter():
            if element.text:
                element.text = f" {element.text}\n"
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        elements = [e for e in header.iter() if e is not header]
        if not elements:
            break
        target = draw(st.sampled_from(elements))
        change = draw(
            st.sampled_from(
                ["repeat", "remove", "move", "rename", "comment", "instruction", "attr", "text"]
            )
        )
        parent = target.getparent()
        if change == "repeat" and isinstance(target.tag, str):
            target.addnext(etree.fromstring(etree.tostring(target)))
        elif change == "remove" and parent is not None:
            parent.remove(target)
        elif change == "move" and parent is not None:
            parent.remove(target)
            parent.insert(draw(st.integers(min_value=0, max_value=len(parent))), target)
        elif change == "rename" and isinstance(target.tag, str):
            target.tag = draw(st.sampled_from(_TAGS))
        elif change == "comment":
            target.addprevious(etree.Comment("c"))
        elif change == "instruction":
            target.addnext(etree.ProcessingInstruction("pi", "x"))
        elif change == "attr" and isinstance(target.tag, str):
            name = draw(st.sampled_from([OBJECT_TYPE, "algorithmId", "objectType"]))
            value = draw(
                st.sampled_from(
                    ["SUBSYSTEM", "MEMBER", "SERVICE", "", "sha1", REQUEST_HASH_ALGORITHM]
                )
            )
            target.set(name, value)
        elif change == "text" and isinstance(target.tag, str):
            target.text = draw(_TEXTS)
    return header


@settings(max_examples=1500, deadline=None)
@given(header=_hostile_headers())
def test_headers_changed_at_random_are_answered_as_before(header: etree._Element) -> None:
    _both(SENT, header)


_IDS = st.sampled_from(["", " ", "H04", " H04", "H05", "GOV", "VN"])


@st.composite
def _sent_headers(draw: st.DrawFn) -> XRoadHeader:
    client = XRoadClient(
        member_code=draw(_IDS),
        subsystem_code=draw(st.one_of(st.none(), _IDS)),
        x_road_instance=draw(st.sampled_from(["VN", "", "VN "])),
    )
    service = XRoadService(
        member_code=draw(_IDS),
        service_code=draw(st.sampled_from(["GetCitizen", "", " GetCitizen", "VerifyCitizen"])),
        subsystem_code=draw(st.one_of(st.none(), _IDS)),
        service_version=draw(st.one_of(st.none(), st.sampled_from(["v1", "", " v1"]))),
    )
    return dataclasses.replace(SENT, client=client, service=service)


@settings(max_examples=400, deadline=None)
@given(sent=_sent_headers(), echoed=_sent_headers())
def test_other_clients_and_services_are_answered_as_before(
    sent: XRoadHeader, echoed: XRoadHeader
) -> None:
    """Whoever was sent, and whatever header echoed: the same answers, and a faithful echo of
    what was sent is taken by the fast path exactly when the previous form took it."""
    _both(sent, _header(echoed, None))
    _both(sent, _header(sent, None))


def test_what_an_echo_must_hold_is_found_by_identity_not_equality() -> None:
    """Equal objects get the same answer as the ones remembered; a service's echo does not
    pass for another's, whichever was checked last; the memory stays bounded."""
    other = dataclasses.replace(SENT, service=dataclasses.replace(SENT.service, service_code="X"))
    equal = dataclasses.replace(
        SENT, client=dataclasses.replace(SENT.client), service=dataclasses.replace(SENT.service)
    )
    for _ in range(2):
        assert _both(SENT, _header(SENT, None))
        assert not _both(other, _header(SENT, None))
        assert _both(other, _header(other, None))
        assert not _both(SENT, _header(other, None))
        assert _both(equal, _header(SENT, None))
        # the same service with another client: not the client remembered for it
        member = dataclasses.replace(SENT, client=XRoadClient(member_code="H05"))
        assert not _both(member, _header(SENT, None))
        assert _both(member, _header(member, None))
    for code in range(100):
        service = dataclasses.replace(SENT.service, service_code=f"Op{code}")
        sent = dataclasses.replace(SENT, service=service)
        assert _both(sent, _header(sent, None))
        assert not _both(sent, _header(SENT, None))
    assert len(echo._EXPECTED) <= 64
