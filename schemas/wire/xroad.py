"""X-Road message protocol 4.0 SOAP header elements ⇄ ``XRoadHeader``.

Request header: ``xrd:client`` (objectType SUBSYSTEM or MEMBER), ``xrd:service`` (objectType
SERVICE), ``xrd:id`` (a UUID), ``xrd:userId`` (``VN`` + the official's CCCD), ``xrd:issue`` (the
dossier code that justifies the call), ``xrd:protocolVersion`` (``4.0``). The response echoes them
and adds ``xrd:requestHash`` — base64 SHA-256 of the request envelope bytes as received.
Element layout: ``schemas/wsdl/xroad.xsd`` and ``identifiers.xsd``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace

from lxml import etree

from schemas.errors import InvalidWireRecord
from schemas.files import XROAD_ID_NS, XROAD_NS

NSMAP = {"xrd": XROAD_NS, "id": XROAD_ID_NS}
PROTOCOL_VERSION = "4.0"
REQUEST_HASH_ALGORITHM = "http://www.w3.org/2001/04/xmlenc#sha256"
OBJECT_TYPE = f"{{{XROAD_ID_NS}}}objectType"

#: the header elements in document order (requestHash only in responses)
HEADER_ELEMENTS = tuple(
    f"{{{XROAD_NS}}}{name}"
    for name in ("client", "service", "id", "userId", "issue", "protocolVersion", "requestHash")
)
#: header element tag -> its local name
_HEADER_NAMES = {tag: tag.rpartition("}")[2] for tag in HEADER_ELEMENTS}
_ID_PREFIX = f"{{{XROAD_ID_NS}}}"


@dataclass(frozen=True, slots=True)
class XRoadClient:
    """The calling subsystem (``objectType`` SUBSYSTEM, or MEMBER when it has no subsystem)."""

    member_code: str
    subsystem_code: str | None = None
    x_road_instance: str = "VN"
    member_class: str = "GOV"


@dataclass(frozen=True, slots=True)
class XRoadService:
    """The service called (``objectType`` SERVICE)."""

    member_code: str
    service_code: str
    subsystem_code: str | None = None
    service_version: str | None = None
    x_road_instance: str = "VN"
    member_class: str = "GOV"


@dataclass(frozen=True, slots=True)
class XRoadHeader:
    """The X-Road header of one message; ``request_hash`` is set on responses only."""

    client: XRoadClient
    service: XRoadService
    message_id: str
    user_id: str
    issue: str
    protocol_version: str = PROTOCOL_VERSION
    request_hash: str | None = None

    def response(self, request_envelope: bytes) -> XRoadHeader:
        """The response header: this request header echoed, with the hash of the request."""
        return replace(self, request_hash=request_hash(request_envelope))


def user_id_for(citizen_id: str) -> str:
    """The ``xrd:userId`` of an official: ``VN`` + their citizen ID."""
    return f"VN{citizen_id}"


def request_hash(request_envelope: bytes) -> str:
    """base64 SHA-256 of the request envelope bytes as received."""
    return base64.b64encode(hashlib.sha256(request_envelope).digest()).decode("ascii")


# --- building -------------------------------------------------------------------------------


def _xrd(name: str, text: str | None = None) -> etree._Element:
    element = etree.Element(f"{{{XROAD_NS}}}{name}", nsmap=NSMAP)
    if text is not None:
        element.text = text
    return element


def _id(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, f"{{{XROAD_ID_NS}}}{name}").text = text


def build_header_elements(header: XRoadHeader) -> list[etree._Element]:
    """The ``xrd:`` elements to append to ``soapenv:Header``, in order."""
    client = _xrd("client")
    client.set(OBJECT_TYPE, "SUBSYSTEM" if header.client.subsystem_code else "MEMBER")
    _id(client, "xRoadInstance", header.client.x_road_instance)
    _id(client, "memberClass", header.client.member_class)
    _id(client, "memberCode", header.client.member_code)
    _id(client, "subsystemCode", header.client.subsystem_code)
    service = _xrd("service")
    service.set(OBJECT_TYPE, "SERVICE")
    _id(service, "xRoadInstance", header.service.x_road_instance)
    _id(service, "memberClass", header.service.member_class)
    _id(service, "memberCode", header.service.member_code)
    _id(service, "subsystemCode", header.service.subsystem_code)
    _id(service, "serviceCode", header.service.service_code)
    _id(service, "serviceVersion", header.service.service_version)
    elements = [
        client,
        service,
        _xrd("id", header.message_id),
        _xrd("userId", header.user_id),
        _xrd("issue", header.issue),
        _xrd("protocolVersion", header.protocol_version),
    ]
    if header.request_hash is not None:
        hashed = _xrd("requestHash", header.request_hash)
        hashed.set("algorithmId", REQUEST_HASH_ALGORITHM)
        elements.append(hashed)
    return elements


# --- reading --------------------------------------------------------------------------------


def _identifier(element: etree._Element, where: str, allowed: tuple[str, ...]) -> dict[str, str]:
    if element.get(OBJECT_TYPE) not in allowed:
        raise InvalidWireRecord(f"{where} objectType must be {' or '.join(allowed)}", field=where)
    values: dict[str, str] = {}
    for child in element.iterchildren("*"):
        tag: str = child.tag
        name = tag[len(_ID_PREFIX) :]
        if not tag.startswith(_ID_PREFIX) or name in values:
            raise InvalidWireRecord(f"{where} has an unexpected or repeated element", field=where)
        values[name] = (child.text or "").strip()
    for name in ("xRoadInstance", "memberClass", "memberCode"):
        if not values.get(name):
            raise InvalidWireRecord(f"{where} lacks {name}", field=f"{where}/{name}")
    return values


def read_header(header: etree._Element, *, response: bool = False) -> XRoadHeader:
    """The X-Road header among the children of ``soapenv:Header`` (others, e.g. wsse, ignored).

    Every request element is required once; ``response=True`` also requires ``requestHash``.
    """
    found: dict[str, etree._Element] = {}
    for child in header.iterchildren("*"):
        name = _HEADER_NAMES.get(child.tag)
        if name is not None:
            if name in found:
                raise InvalidWireRecord(f"X-Road header repeats {name}", field=name)
            found[name] = child
    required = ["client", "service", "id", "userId", "issue", "protocolVersion"]
    if response:
        required.append("requestHash")
    missing = [name for name in required if name not in found]
    if missing:
        raise InvalidWireRecord(
            "X-Road header is incomplete", problems=tuple(f"{m}: missing" for m in missing)
        )
    texts = {
        name: (found[name].text or "").strip()
        for name in ("id", "userId", "issue", "protocolVersion")
    }
    for name, text in texts.items():
        if not text:
            raise InvalidWireRecord(f"X-Road header {name} is empty", field=name)
    if not texts["protocolVersion"].startswith("4."):
        raise InvalidWireRecord("X-Road protocolVersion must be 4.x", field="protocolVersion")
    client = _identifier(found["client"], "client", ("SUBSYSTEM", "MEMBER"))
    service = _identifier(found["service"], "service", ("SERVICE",))
    if not service.get("serviceCode"):
        raise InvalidWireRecord("service lacks serviceCode", field="service/serviceCode")
    hashed = None
    if "requestHash" in found:
        element = found["requestHash"]
        if element.get("algorithmId") != REQUEST_HASH_ALGORITHM:
            raise InvalidWireRecord("requestHash algorithmId must be SHA-256", field="requestHash")
        hashed = (element.text or "").strip()
    return XRoadHeader(
        client=XRoadClient(
            member_code=client["memberCode"],
            subsystem_code=client.get("subsystemCode") or None,
            x_road_instance=client["xRoadInstance"],
            member_class=client["memberClass"],
        ),
        service=XRoadService(
            member_code=service["memberCode"],
            service_code=service["serviceCode"],
            subsystem_code=service.get("subsystemCode") or None,
            service_version=service.get("serviceVersion") or None,
            x_road_instance=service["xRoadInstance"],
            member_class=service["memberClass"],
        ),
        message_id=texts["id"],
        user_id=texts["userId"],
        issue=texts["issue"],
        protocol_version=texts["protocolVersion"],
        request_hash=hashed,
    )
