"""The X-Road echo of a verified reply, checked against the header sent: a fast path.

The plain check reads the reply's X-Road header into an ``XRoadHeader``
(:func:`schemas.wire.xroad.read_header`, which validates every field: present once, not empty,
``protocolVersion`` 4.x, identifiers complete, ``requestHash`` algorithm) and then compares it
field by field with the header sent (:func:`connectors.soap.echo_mismatch`, which also checks
``requestHash``). When the echo is faithful, the validation is redundant: a field equal to one
we sent, and built valid, is valid. :func:`echoes_faithfully` shadows that pair: it compares the
reply's elements with the values sent directly, building nothing, and answers True only when
the plain check would accept the reply; on anything else (a difference, a repeat, another
order of identifier parts than expected, an unknown X-Road element) it answers False and the
plain check runs, to accept or to name the field at fault. Why: it spares a connector the
reading and validation of an echo that only has to be the same as what it sent (about half of
what reading a reply costs beyond verifying its signature).
"""

from __future__ import annotations

import hmac
from functools import lru_cache

from lxml import etree

from schemas.files import XROAD_ID_NS, XROAD_NS
from schemas.wire.xroad import (
    HEADER_ELEMENTS,
    OBJECT_TYPE,
    REQUEST_HASH_ALGORITHM,
    XRoadClient,
    XRoadHeader,
    XRoadService,
)

_CLIENT, _SERVICE, _ID, _USER_ID, _ISSUE, _PROTOCOL_VERSION, _REQUEST_HASH = HEADER_ELEMENTS
_XROAD_PREFIX = "{" + XROAD_NS + "}"
_CLIENT_TYPES = ("SUBSYSTEM", "MEMBER")
_SERVICE_TYPES = ("SERVICE",)

# identifier part -> its tag
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
    """True when ``text`` is what a faithful echo reads back: not empty, no outer whitespace."""
    return bool(text) and text == text.strip()  # type: ignore[union-attr]


@lru_cache(maxsize=64)
def _identifier_parts(identifier: XRoadClient | XRoadService) -> dict[str, str] | None:
    """The parts (tag -> text) a faithful echo of ``identifier`` holds, each exactly once.

    None when no echo could be read back equal to it (an empty or padded value, a service
    without code): the plain check then decides.
    """
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


def _identifier_matches(
    element: etree._Element, allowed: tuple[str, ...], parts: dict[str, str]
) -> bool:
    if element.get(OBJECT_TYPE) not in allowed:
        return False
    seen: set[str] = set()
    for child in element:  # plain iteration: cheaper than iterchildren("*") (no tag matcher)
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction: iterchildren("*") passes over it
        expected = parts.get(tag)
        if expected is None or tag in seen or (child.text or "").strip() != expected:
            return False
        seen.add(tag)
    return len(seen) == len(parts)


def echoes_faithfully(sent: XRoadHeader, header: etree._Element, expected_hash: str) -> bool:
    """True when ``header`` (a reply's ``soapenv:Header``) echoes ``sent`` exactly, with
    ``requestHash`` = ``expected_hash``: then the plain read and comparison accept it too.

    False: not shown here; the plain check decides (and names the field at fault).
    """
    client = _identifier_parts(sent.client)
    service = _identifier_parts(sent.service)
    texts = {
        _ID: sent.message_id,
        _USER_ID: sent.user_id,
        _ISSUE: sent.issue,
        _PROTOCOL_VERSION: sent.protocol_version,
    }
    if client is None or service is None or not all(_clean(text) for text in texts.values()):
        return False
    if not sent.protocol_version.startswith("4.") or not expected_hash.isascii():
        return False
    seen: set[str] = set()
    for child in header:
        tag = child.tag
        if not isinstance(tag, str) or not tag.startswith(_XROAD_PREFIX):
            continue  # wsse:Security, comments: the plain reading passes over them too
        if tag in seen:
            return False
        seen.add(tag)
        if tag == _CLIENT:
            if not _identifier_matches(child, _CLIENT_TYPES, client):
                return False
        elif tag == _SERVICE:
            if not _identifier_matches(child, _SERVICE_TYPES, service):
                return False
        elif tag == _REQUEST_HASH:
            echoed = (child.text or "").strip()
            if child.get("algorithmId") != REQUEST_HASH_ALGORITHM or not echoed.isascii():
                return False
            if not hmac.compare_digest(echoed, expected_hash):
                return False
        elif (child.text or "").strip() != texts.get(tag):
            return False  # another field, or an X-Road element this check does not know
    return len(seen) == len(HEADER_ELEMENTS)


__all__ = ["echoes_faithfully"]
