"""SOAP 1.1 envelopes the population mock answers with: responses and faults.

Responses echo the request's X-Road header elements and add ``xrd:requestHash``; faults are
``soapenv:Client`` / ``soapenv:Server`` with a ``faultstring`` that says why (never a value from
the request) and ``detail/pop:fault/pop:code``. Signing is the caller's job
(``security.wsse.sign_envelope``): these functions only build the unsigned element tree.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from lxml import etree

from schemas.wire.population import FaultCode, build_fault_detail
from schemas.wire.xroad import NSMAP as XROAD_NSMAP
from schemas.wire.xroad import REQUEST_HASH_ALGORITHM
from security.wsse import SIGNING_NSMAP, SOAP11_NS, WSU_ID

ENVELOPE = f"{{{SOAP11_NS}}}Envelope"
HEADER = f"{{{SOAP11_NS}}}Header"
BODY = f"{{{SOAP11_NS}}}Body"
FAULT = f"{{{SOAP11_NS}}}Fault"
XROAD_NS = XROAD_NSMAP["xrd"]
REQUEST_HASH = f"{{{XROAD_NS}}}requestHash"

#: namespaces declared once on the response envelope, so signed parts carry short prefixes
RESPONSE_NSMAP: dict[str, str] = {"soapenv": SOAP11_NS, **XROAD_NSMAP, **SIGNING_NSMAP}


def new_envelope() -> tuple[etree._Element, etree._Element, etree._Element]:
    """An empty envelope with its Header and Body: ``(envelope, header, body)``."""
    envelope = etree.Element(ENVELOPE, nsmap=RESPONSE_NSMAP)
    header = etree.SubElement(envelope, HEADER)
    body = etree.SubElement(envelope, BODY)
    return envelope, header, body


def echo_header(
    header: etree._Element,
    request_header: Iterable[etree._Element],
    request_hash: str,
    *,
    take: bool = False,
) -> None:
    """Append copies of the request's X-Road elements to ``header``, then ``xrd:requestHash``.

    The copies lose the request's ``wsu:Id`` (the response's signature gives its own). With
    ``take`` the elements themselves are moved out of the request instead of copied: cheaper,
    for a request that is answered and then dropped.
    """
    xroad_prefix = "{" + XROAD_NS + "}"
    for element in list(request_header) if take else request_header:
        tag = element.tag
        if isinstance(tag, str) and tag.startswith(xroad_prefix):
            if tag == REQUEST_HASH:
                continue
            echoed = element if take else copy.deepcopy(element)
            echoed.attrib.pop(WSU_ID, "")
            header.append(echoed)
    hashed = etree.SubElement(header, REQUEST_HASH)
    hashed.set("algorithmId", REQUEST_HASH_ALGORITHM)
    hashed.text = request_hash


def fault_envelope(
    code: FaultCode,
    faultstring: str,
    *,
    request_header: Iterable[etree._Element] | None = None,
    request_hash: str | None = None,
) -> etree._Element:
    """A fault envelope; with the request's X-Road header echoed when it could be read."""
    envelope, header, body = new_envelope()
    if request_header is not None and request_hash is not None:
        echo_header(header, request_header, request_hash)
    fault = etree.SubElement(body, FAULT)
    etree.SubElement(fault, "faultcode").text = f"soapenv:{code.faultcode}"
    etree.SubElement(fault, "faultstring").text = faultstring
    detail = etree.SubElement(fault, "detail")
    detail.append(build_fault_detail(code))
    return envelope


__all__ = ["BODY", "ENVELOPE", "FAULT", "HEADER", "echo_header", "fault_envelope", "new_envelope"]
