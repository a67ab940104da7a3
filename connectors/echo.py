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
from operator import attrgetter
from typing import NamedTuple

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
_HEADER_TAGS = frozenset(HEADER_ELEMENTS)
#: the children of the X-Road namespace (``iterchildren`` filters them in C): elements only,
#: as the tags ``{XROAD_NS}…`` are
_ANY_XROAD = "{" + XROAD_NS + "}*"
_CLIENT_TYPES = ("SUBSYSTEM", "MEMBER")
_SERVICE_TYPES = ("SERVICE",)
#: an element's tag; its tag and text (a comment's or an instruction's tag is not a string)
_TAG = attrgetter("tag")
_TAG_AND_TEXT = attrgetter("tag", "text")
#: identifier part names, in the order ``build_header_elements`` writes them
_PART_NAMES = (
    "xRoadInstance",
    "memberClass",
    "memberCode",
    "subsystemCode",
    "serviceCode",
    "serviceVersion",
)
_ID_PREFIX = "{" + XROAD_ID_NS + "}"


def _clean(text: str | None) -> bool:
    """True when ``text`` is what a faithful echo reads back: not empty, no outer whitespace."""
    return bool(text) and text == text.strip()  # type: ignore[union-attr]


class _Identifier(NamedTuple):
    """What a faithful echo of one identifier (client or service) holds."""

    #: its parts, tag -> text, each exactly once (in any order, texts maybe padded)
    parts: dict[str, str]
    #: its children exactly as sent: ``(tag, text)`` in the order they were written
    as_sent: list[tuple[str, str]]


def _identifier(identifier: XRoadClient | XRoadService) -> _Identifier | None:
    """What a faithful echo of ``identifier`` holds; None when no echo could be read back equal
    to it (an empty or padded value, a service without code): the plain check then decides."""
    values: dict[str, str | None] = {
        "xRoadInstance": identifier.x_road_instance,
        "memberClass": identifier.member_class,
        "memberCode": identifier.member_code,
        "subsystemCode": identifier.subsystem_code,
    }
    required = ["xRoadInstance", "memberClass", "memberCode"]
    if isinstance(identifier, XRoadService):
        values["serviceCode"] = identifier.service_code
        values["serviceVersion"] = identifier.service_version
        required.append("serviceCode")
    as_sent: list[tuple[str, str]] = []
    for name in _PART_NAMES:
        value = values.get(name)
        if value is None and name not in required:
            continue  # an optional part not sent: not echoed either
        if not _clean(value):
            return None
        as_sent.append((_ID_PREFIX + name, value))  # type: ignore[arg-type]
    return _Identifier(dict(as_sent), as_sent)


#: what a faithful echo of a client and a service holds (None: the plain check decides)
_Expected = tuple[_Identifier, _Identifier] | None

#: id(service) -> (client, service, _Expected of them). Looked up by identity, with no hashing
#: of the two dataclasses per lookup: a connector sends the same client and service objects on
#: every call. The objects are held here, so their ids are not reused while they are.
_EXPECTED: dict[int, tuple[XRoadClient, XRoadService, _Expected]] = {}


def _expected(client: XRoadClient, service: XRoadService) -> _Expected:
    """What a faithful echo of ``client`` and ``service`` holds, remembered for the next call."""
    client_parts = _identifier(client)
    service_parts = _identifier(service)
    expected = (
        None if client_parts is None or service_parts is None else (client_parts, service_parts)
    )
    if len(_EXPECTED) >= 64:
        _EXPECTED.clear()
    _EXPECTED[id(service)] = (client, service, expected)
    return expected


def echoes_faithfully(sent: XRoadHeader, header: etree._Element, expected_hash: str) -> bool:
    """True when ``header`` (a reply's ``soapenv:Header``) echoes ``sent`` exactly, with
    ``requestHash`` = ``expected_hash``: then the plain read and comparison accept it too.

    False: not shown here; the plain check decides (and names the field at fault).

    The X-Road elements must be the seven, each once, and no other of the X-Road namespace
    (other headers, wsse:Security, comments are passed over, as the plain reading does). An
    echoed text must equal the one sent once stripped, and not be empty (as the plain reading
    strips it and refuses it empty); an identifier must hold exactly the parts sent, nothing
    else (not even a comment: the plain check decides then).
    """
    client, service = sent.client, sent.service
    known = _EXPECTED.get(id(service))
    if known is not None and known[0] is client and known[1] is service:
        expected = known[2]
    else:
        expected = _expected(client, service)
    if (
        expected is None
        or not sent.protocol_version.startswith("4.")
        or not expected_hash.isascii()
    ):
        return False
    xroad = list(header.iterchildren(_ANY_XROAD))
    # tag -> element: a repeated tag leaves fewer entries than elements
    found = dict(zip(map(_TAG, xroad), xroad, strict=True))
    if len(xroad) != len(HEADER_ELEMENTS) or found.keys() != _HEADER_TAGS:
        return False  # one missing or repeated, or an X-Road element this check does not know
    if (
        (found[_ID].text or "").strip() != sent.message_id
        or (found[_USER_ID].text or "").strip() != sent.user_id
        or (found[_ISSUE].text or "").strip() != sent.issue
        or (found[_PROTOCOL_VERSION].text or "").strip() != sent.protocol_version
        or not (sent.message_id and sent.user_id and sent.issue)  # echoed empty
    ):
        return False
    hashed = found[_REQUEST_HASH]
    echoed_hash = (hashed.text or "").strip()
    if (
        hashed.get("algorithmId") != REQUEST_HASH_ALGORITHM
        or not echoed_hash.isascii()  # compare_digest takes ASCII text only
        or not hmac.compare_digest(echoed_hash, expected_hash)
    ):
        return False
    client_parts, service_parts = expected
    client_element, service_element = found[_CLIENT], found[_SERVICE]
    if (
        client_element.get(OBJECT_TYPE) not in _CLIENT_TYPES
        or service_element.get(OBJECT_TYPE) not in _SERVICE_TYPES
    ):
        return False
    # each identifier's children exactly as sent (one list built in C), or else the same parts
    # the lenient way (in another order, texts padded)
    return (
        list(map(_TAG_AND_TEXT, client_element)) == client_parts.as_sent
        or _holds(client_element, client_parts.parts)
    ) and (
        list(map(_TAG_AND_TEXT, service_element)) == service_parts.as_sent
        or _holds(service_element, service_parts.parts)
    )


def _holds(identifier: etree._Element, parts: dict[str, str]) -> bool:
    """Whether ``identifier`` holds ``parts`` (tag -> text), each once, nothing else, the texts
    stripped; ``len`` counts comments and processing instructions too."""
    if len(identifier) != len(parts):
        return False
    return {part.tag: (part.text or "").strip() for part in identifier} == parts


__all__ = ["echoes_faithfully"]
