"""The shape of a signed envelope: its Header, Body, X-Road headers, Security header and ids."""

from __future__ import annotations

from typing import cast

from lxml import etree

from security.errors import (
    InvalidSignature,
    MissingSignature,
    SignatureWrapping,
    StaleMessage,
)
from security.wsse.names import (
    BODY,
    BST,
    ENVELOPE,
    HEADER,
    SECURITY,
    SIGNATURE,
    TIMESTAMP,
    WSU_ID,
    WSU_NS,
    XROAD_NS,
)

# Every wsu:Id of the document (//*/@ visits elements only: the same set as //@, and quicker).
_WSU_IDS = etree.XPath("//*/@wsu:Id", namespaces={"wsu": WSU_NS}, smart_strings=False)
_COUNT_WSU_IDS = etree.XPath("count(//*/@wsu:Id)", namespaces={"wsu": WSU_NS})


def _envelope_parts(
    root: etree._Element,
) -> tuple[etree._Element, etree._Element, list[etree._Element], etree._Element]:
    """Header, Body, the X-Road header elements and wsse:Security, checking the envelope's shape."""
    if root.tag != ENVELOPE:
        raise InvalidSignature(
            "the document is not a SOAP 1.1 envelope", reason="malformed_envelope"
        )
    header: etree._Element | None = None
    body: etree._Element | None = None
    for child in root:
        tag = child.tag
        if tag == HEADER and header is None and body is None:
            header = child
        elif tag == BODY and body is None:
            body = child
        elif isinstance(tag, str):
            raise SignatureWrapping(
                "the envelope holds elements other than one Header and one Body",
                reason="malformed_envelope",
            )
    if body is None:
        raise InvalidSignature("the envelope has no Body", reason="malformed_envelope")
    if header is None:
        raise MissingSignature("the envelope has no header, so no signature")
    xroad: list[etree._Element] = []
    security: etree._Element | None = None
    xroad_prefix = "{" + XROAD_NS + "}"
    for child in header:
        tag = child.tag
        if tag == SECURITY:
            if security is not None:
                raise SignatureWrapping("the envelope has more than one wsse:Security header")
            security = child
        elif isinstance(tag, str):
            if not tag.startswith(xroad_prefix):
                raise SignatureWrapping(
                    "the header holds an element that is not signed", reason="unsigned_header"
                )
            xroad.append(child)
    if security is None:
        raise MissingSignature("the envelope has no wsse:Security header")
    return header, body, xroad, security


def _security_parts(
    security: etree._Element,
) -> tuple[etree._Element, etree._Element, list[etree._Element]]:
    """The Timestamp, the Signature and the tokens of the Security header (nothing else)."""
    timestamp: etree._Element | None = None
    signature: etree._Element | None = None
    tokens: list[etree._Element] = []
    for child in security:
        tag = child.tag
        if tag == TIMESTAMP:
            if timestamp is not None:
                raise SignatureWrapping("more than one Timestamp", reason="duplicate_element")
            timestamp = child
        elif tag == SIGNATURE:
            if signature is not None:
                raise SignatureWrapping("more than one Signature", reason="duplicate_element")
            signature = child
        elif tag == BST:
            tokens.append(child)
        elif isinstance(tag, str):
            raise SignatureWrapping(
                "the Security header holds an unexpected element", reason="unexpected_element"
            )
    if signature is None:
        raise MissingSignature("the Security header holds no signature")
    if timestamp is None:
        raise StaleMessage("the Security header holds no Timestamp", reason="missing_timestamp")
    return timestamp, signature, tokens


def _all_ids(root: etree._Element) -> list[str]:
    return cast(list[str], _WSU_IDS(root))


def _signed_part_ids(
    root: etree._Element, parts: tuple[etree._Element, ...], tokens: list[etree._Element]
) -> dict[str, etree._Element]:
    """The signed parts by ``wsu:Id``, after checking that no ``wsu:Id`` occurs twice anywhere.

    When the document holds no other ``wsu:Id`` than those of the parts and the tokens (one
    count over the tree tells), distinct values there mean distinct values everywhere; otherwise
    every identifier of the document is listed and compared.
    """
    expected: dict[str, etree._Element] = {}
    known = 0
    for element in parts:
        element_id = element.get(WSU_ID)
        if element_id is not None:
            expected[element_id] = element
            known += 1
    seen = set(expected)
    for token in tokens:
        token_id = token.get(WSU_ID)
        if token_id is not None:
            seen.add(token_id)
            known += 1
    if len(seen) != known or cast(float, _COUNT_WSU_IDS(root)) != known:
        all_ids = _all_ids(root)
        if len(all_ids) != len(set(all_ids)):
            raise SignatureWrapping("an identifier occurs more than once", reason="duplicate_id")
    return expected
