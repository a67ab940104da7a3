"""The X-Road echo of a verified reply, checked against the header sent: a fast path.

The plain check reads the reply's X-Road header into an ``XRoadHeader``
(:func:`schemas.wire.xroad.read_header`, which validates every field: present once, not empty,
``protocolVersion`` 4.x, identifiers complete, ``requestHash`` algorithm) and then compares it
field by field with the header sent (:func:`connectors.soap.echo_mismatch`, which also checks
``requestHash``). When the echo is faithful, the validation is redundant: a field equal to one
we sent, and built valid, is valid. :func:`echoes_faithfully` shadows that pair: it compares the
reply's elements with the values sent directly, building nothing, and answers True only when
the plain check would accept the reply; on anything else (a difference, a repeat, an unknown
X-Road element, a comment inside an identifier) it answers False and the plain check runs, to
accept or to name the field at fault. Why: it spares a connector the reading and validation of
an echo that only has to be the same as what it sent (about half of what reading a reply costs
beyond verifying its signature).
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


@lru_cache(maxsize=64)
def _identifiers(
    client: XRoadClient, service: XRoadService
) -> dict[str, tuple[tuple[str, ...], dict[str, str]]] | None:
    """Identifier element tag -> (the objectTypes it may have, its parts), for a faithful echo
    of ``client`` and ``service``; None when no echo could be read back equal to one of them."""
    client_parts = _identifier_parts(client)
    service_parts = _identifier_parts(service)
    if client_parts is None or service_parts is None:
        return None
    return {_CLIENT: (_CLIENT_TYPES, client_parts), _SERVICE: (_SERVICE_TYPES, service_parts)}


def echoes_faithfully(sent: XRoadHeader, header: etree._Element, expected_hash: str) -> bool:
    """True when ``header`` (a reply's ``soapenv:Header``) echoes ``sent`` exactly, with
    ``requestHash`` = ``expected_hash``: then the plain read and comparison accept it too.

    False: not shown here; the plain check decides (and names the field at fault).

    One pass over the header's children: each X-Road element is taken off what is still
    expected when it matches, so a repeat or an unknown one finds nothing and answers False.
    An echoed text must equal the one sent once stripped, and not be empty (as the plain
    reading strips it and refuses it empty); an identifier must hold exactly the parts sent,
    nothing else (not even a comment: the plain check decides then).
    """
    expected = _identifiers(sent.client, sent.service)
    if (
        expected is None
        or not sent.protocol_version.startswith("4.")
        or not expected_hash.isascii()
    ):
        return False
    identifiers = dict(expected)
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
                return False  # len counts comments and processing instructions too
            if {part.tag: (part.text or "").strip() for part in child} != parts:
                return False
        elif isinstance(tag, str) and tag.startswith(_XROAD_PREFIX):
            return False  # a repeat, or an X-Road element this check does not know
        # else wsse:Security, another header, a comment: the plain reading passes over them too
    return not texts and not identifiers


__all__ = ["echoes_faithfully"]
