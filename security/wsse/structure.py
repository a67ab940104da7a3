"""The shape of a signed envelope: its Header, Body, X-Road headers, Security header and ids."""

from __future__ import annotations

from typing import Any, cast

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
    C14N_METHOD,
    ENVELOPE,
    HEADER,
    KEY_INFO,
    SECURITY,
    SIGNATURE,
    SIGNATURE_VALUE,
    SIGNED_INFO,
    TIMESTAMP,
    WSU_NS,
    XROAD_NS,
)

# Every wsu:Id attribute of the document, in one pass (//*/@ visits elements only: the same set
# as //@, and quicker); as "smart" strings, each result knows the element that carries it.
# regexp=False: no EXSLT regular-expression functions registered for each call (none is used).
_WSU_IDS = etree.XPath("//*/@wsu:Id", namespaces={"wsu": WSU_NS}, regexp=False)
_parent_of = etree._ElementUnicodeResult.getparent


def child_elements(parent: etree._Element) -> tuple[list[etree._Element], list[str]]:
    """The element children of ``parent`` and their tags (comments and processing instructions,
    whose tag is not a string, left out)."""
    children = []
    tags = []
    for child in parent:
        tag = child.tag
        if isinstance(tag, str):
            children.append(child)
            tags.append(tag)
    return children, tags


def envelope_parts(
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


def security_parts(
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


def signature_parts(
    signature: etree._Element,
) -> tuple[etree._Element, etree._Element, etree._Element, etree._Element]:
    """SignedInfo, SignatureValue, KeyInfo (nothing else) and SignedInfo's first child, the
    CanonicalizationMethod."""
    parts, tags = child_elements(signature)
    if len(parts) != 3 or tags[0] != SIGNED_INFO or tags[1] != SIGNATURE_VALUE:
        raise InvalidSignature("the signature does not have the required structure")
    signed_info, signature_value, key_info = parts
    if tags[2] != KEY_INFO:
        raise MissingSignature("the signature has no KeyInfo", reason="missing_certificate")
    c14n_method = signed_info[0] if len(signed_info) else None
    if c14n_method is None or c14n_method.tag != C14N_METHOD:
        raise InvalidSignature("SignedInfo does not have the required structure")
    return signed_info, signature_value, key_info, c14n_method


def document_ids(root: etree._Element) -> dict[str, etree._Element]:
    """Every ``wsu:Id`` of the document and the element carrying it; no identifier may repeat."""
    found = cast(list[Any], _WSU_IDS(root))
    # Keyed by the results themselves (str subclasses: a plain str finds them), without copies.
    ids = cast(dict[str, etree._Element], dict(zip(found, map(_parent_of, found), strict=True)))
    if len(ids) != len(found):
        raise SignatureWrapping("an identifier occurs more than once", reason="duplicate_id")
    return ids
