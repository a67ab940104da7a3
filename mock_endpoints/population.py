"""The national population database mock: SOAP 1.1 + WS-Security + X-Road 4.0 headers.

``POST /population/soap`` handles ``GetCitizen`` and ``VerifyCitizen``; ``GET
/population/soap?wsdl`` serves the WSDL of ``schemas/wsdl`` with its schemas inlined and its
address set to this server. Each request is, in order:

1. subject to the fault plan (latency, error rate, outage → ``soapenv:Server`` ``UNAVAILABLE``);
2. parsed once by the hardened parser (``INVALID_REQUEST`` if refused);
3. verified (``security.wsse.verify_envelope`` against the trust store) — unsigned or badly signed
   requests get ``soapenv:Client`` ``BAD_SIGNATURE`` (unless ``allow_unsigned`` and the request
   carries no ``wsse:Security`` at all);
4. checked for the six X-Road header fields (``MISSING_HEADER``), which are XSD-validated with
   ``xrd:issue`` a dossier code and ``xrd:userId`` ``VN`` + a CCCD (``INVALID_REQUEST``);
5. the Body XSD-validated (``INVALID_CITIZEN_ID`` when the ID is the problem, else
   ``INVALID_REQUEST``);
6. answered: ``GetCitizen`` → the citizen or ``CITIZEN_NOT_FOUND``; ``VerifyCitizen`` → ``match``
   true/false only (an unknown ID is simply no match: nothing is disclosed).

Every answer, fault or not, is signed with the ``population`` party's key; a successful one echoes
the request's X-Road header and adds ``xrd:requestHash``. Faults are HTTP 500, as SOAP 1.1 says.
"""

from __future__ import annotations

import asyncio
import unicodedata
from functools import lru_cache

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from mock_endpoints.faults import FaultPlan
from mock_endpoints.records import MockRecords
from mock_endpoints.responses import WithheldResponse
from mock_endpoints.soap import BODY, ENVELOPE, HEADER, echo_header, fault_envelope, new_envelope
from schemas.citizen_id import parse_citizen_id
from schemas.dossier_code import validate_dossier_code
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.files import XROAD_ID_NS, XROAD_NS, message_schema, population_wsdl_document
from schemas.wire.population import (
    GET_CITIZEN_REQUEST,
    OPERATION_OF_REQUEST,
    VERIFY_CITIZEN_REQUEST,
    FaultCode,
    VerifyCitizenQuery,
    build_get_citizen_response,
    build_verify_citizen_response,
    read_get_citizen_request,
    read_verify_citizen_request,
    soap_action,
)
from schemas.wire.xroad import request_hash
from security.errors import SecurityError, UnsafeXml
from security.keys import Credentials
from security.trust import TrustStore
from security.wsse import SECURITY, WSU_ID, sign_envelope, verify_envelope
from security.xml import parse_xml

UPSTREAM = "population"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
SERVICE_CODE = f"{{{XROAD_ID_NS}}}serviceCode"
REQUIRED_HEADER = ("client", "service", "id", "userId", "issue", "protocolVersion")


class SoapFault(Exception):
    """Raised inside the handler to answer with a SOAP fault (message: the faultstring)."""

    def __init__(self, code: FaultCode, faultstring: str) -> None:
        super().__init__(faultstring)
        self.code = code
        self.faultstring = faultstring


@lru_cache(maxsize=16)
def _wsdl(address: str) -> bytes:
    return population_wsdl_document(address)


def normalise_name(name: str) -> str:
    """A name compared the way the population database would: NFC, case and spacing ignored."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


class PopulationService:
    """The population SOAP endpoint (one instance per mock app)."""

    def __init__(
        self,
        records: MockRecords,
        credentials: Credentials,
        trust: TrustStore,
        faults: FaultPlan,
        *,
        allow_unsigned: bool = False,
    ) -> None:
        self.records = records
        self.credentials = credentials
        self.trust = trust
        self.faults = faults
        self.allow_unsigned = allow_unsigned

    # -- HTTP --------------------------------------------------------------------------------

    async def wsdl(self, request: Request) -> Response:
        """``GET /population/soap?wsdl`` (any GET: the WSDL is the only thing to get here)."""
        address = str(request.url.replace(query=None, fragment=None))
        return Response(_wsdl(address), media_type="text/xml; charset=utf-8")

    async def handle(self, request: Request) -> Response:
        """``POST /population/soap``: one SOAP call."""
        decision = self.faults.decide(UPSTREAM)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.unavailable:
            reason = "the population service is temporarily unavailable"
            return self._fault(SoapFault(FaultCode.UNAVAILABLE, reason))
        data = await request.body()
        response = self.answer(data, request.headers.get("soapaction"))
        if decision.drop:
            return WithheldResponse(decision.stall_seconds)
        return response

    # -- the call ----------------------------------------------------------------------------

    def answer(self, data: bytes, soap_action_header: str | None = None) -> Response:
        """The signed response (or fault) to one request envelope as received."""
        hashed = request_hash(data)
        header: etree._Element | None = None
        try:
            envelope = self._parse(data)
            header, body = self._parts(envelope)
            self._authenticate(envelope, header)
            service_code = self._check_header(header)
            operation = self._operation(body, soap_action_header)
            if service_code != operation:
                raise SoapFault(
                    FaultCode.INVALID_REQUEST,
                    "the X-Road header's service names another operation than the Body",
                )
            payload = self._call(operation, body)
        except SoapFault as fault:
            xroad = None if header is None else list(header)
            return self._fault(fault, request_header=xroad, request_hash=hashed)
        assert header is not None  # _check_header refused a request without one
        response, response_header, response_body = new_envelope()
        # The request is dropped after this answer: its header elements move to the response.
        echo_header(response_header, header, hashed, take=True)
        response_body.append(payload)
        signed = sign_envelope(response, self.credentials)
        return Response(signed, media_type=SOAP_CONTENT_TYPE)

    def _fault(
        self,
        fault: SoapFault,
        *,
        request_header: list[etree._Element] | None = None,
        request_hash: str | None = None,
    ) -> Response:
        envelope = fault_envelope(
            fault.code,
            fault.faultstring,
            request_header=request_header,
            request_hash=request_hash,
        )
        signed = sign_envelope(envelope, self.credentials)
        return Response(signed, status_code=500, media_type=SOAP_CONTENT_TYPE)

    @staticmethod
    def _parse(data: bytes) -> etree._Element:
        try:
            envelope = parse_xml(data)
        except UnsafeXml as exc:
            reason = f"the request is refused: {exc.message}"
            raise SoapFault(FaultCode.INVALID_REQUEST, reason) from exc
        if envelope.tag != ENVELOPE:
            raise SoapFault(FaultCode.INVALID_REQUEST, "the request is not a SOAP 1.1 envelope")
        return envelope

    @staticmethod
    def _parts(envelope: etree._Element) -> tuple[etree._Element | None, etree._Element]:
        children = [child for child in envelope if isinstance(child.tag, str)]
        tags = [child.tag for child in children]
        if tags not in ([HEADER, BODY], [BODY]):
            raise SoapFault(
                FaultCode.INVALID_REQUEST, "the envelope must hold an optional Header and a Body"
            )
        if len(children) == 1:
            return None, children[0]
        return children[0], children[1]

    def _authenticate(self, envelope: etree._Element, header: etree._Element | None) -> None:
        signed = header is not None and any(child.tag == SECURITY for child in header)
        if not signed:
            if self.allow_unsigned:
                return
            raise SoapFault(
                FaultCode.BAD_SIGNATURE,
                "the request is not signed (WS-Security signature required) (missing_signature)",
            )
        try:
            verify_envelope(envelope, self.trust)
        except SecurityError as exc:
            raise SoapFault(
                FaultCode.BAD_SIGNATURE,
                f"the request signature is not acceptable: {exc.message} ({exc.reason})",
            ) from exc

    @staticmethod
    def _check_header(header: etree._Element | None) -> str:
        """Check the X-Road fields and return the service's ``serviceCode`` (as X-Road routes a
        request by it, it must name the Body's operation); their ``wsu:Id`` (verified already)
        is dropped on the way."""
        found: dict[str, etree._Element] = {}
        if header is not None:
            xroad_prefix = "{" + XROAD_NS + "}"
            for child in header:
                tag = child.tag
                if isinstance(tag, str) and tag.startswith(xroad_prefix):
                    # the signature's reference, not part of the schema (nor of the echo)
                    child.attrib.pop(WSU_ID, "")
                    found[tag[len(xroad_prefix) :]] = child
        missing = [name for name in REQUIRED_HEADER if name not in found]
        if missing:
            raise SoapFault(
                FaultCode.MISSING_HEADER,
                f"the X-Road header lacks: {', '.join(missing)}",
            )
        schema = message_schema()
        for name in REQUIRED_HEADER:
            if not schema.validate(found[name]):
                raise SoapFault(
                    FaultCode.INVALID_REQUEST, f"the X-Road header field {name} is not valid"
                )
        issue = (found["issue"].text or "").strip()
        try:
            validate_dossier_code(issue)
        except SchemaError as exc:
            raise SoapFault(
                FaultCode.INVALID_REQUEST,
                "the X-Road header field issue must be the dossier code the lookup serves",
            ) from exc
        user = (found["userId"].text or "").strip()
        try:
            if not user.startswith("VN"):
                raise SchemaError("userId must be VN followed by a citizen ID")
            parse_citizen_id(user[2:], field="userId")
        except SchemaError as exc:
            raise SoapFault(
                FaultCode.INVALID_REQUEST,
                "the X-Road header field userId must be VN followed by the official's CCCD",
            ) from exc
        return (found["service"].findtext(SERVICE_CODE) or "").strip()

    @staticmethod
    def _operation(body: etree._Element, soap_action_header: str | None) -> str:
        children = [child for child in body if isinstance(child.tag, str)]
        if len(children) != 1:
            raise SoapFault(FaultCode.INVALID_REQUEST, "the Body must hold exactly one element")
        operation = OPERATION_OF_REQUEST.get(children[0].tag)
        if operation is None:
            raise SoapFault(FaultCode.INVALID_REQUEST, "the Body names no known operation")
        action = (soap_action_header or "").strip().strip('"')
        if action and action != soap_action(operation):
            raise SoapFault(
                FaultCode.INVALID_REQUEST, "the SOAPAction does not match the Body's operation"
            )
        return operation

    def _call(self, operation: str, body: etree._Element) -> etree._Element:
        element = next(child for child in body if isinstance(child.tag, str))
        schema = message_schema()
        if not schema.validate(element):
            paths = [str(error.path) for error in schema.error_log]  # type: ignore[attr-defined]
            if any(path.endswith("citizenId") for path in paths):
                raise SoapFault(FaultCode.INVALID_CITIZEN_ID, "citizenId must be 12 digits")
            raise SoapFault(
                FaultCode.INVALID_REQUEST, f"the {operation} request does not match the schema"
            )
        try:
            if element.tag == GET_CITIZEN_REQUEST:
                return self._get_citizen(read_get_citizen_request(element))
            if element.tag == VERIFY_CITIZEN_REQUEST:
                return self._verify_citizen(read_verify_citizen_request(element))
        except InvalidWireRecord as exc:
            code = (
                FaultCode.INVALID_CITIZEN_ID
                if (exc.field or "").endswith("citizenId")
                else FaultCode.INVALID_REQUEST
            )
            raise SoapFault(code, exc.message) from exc
        raise SoapFault(FaultCode.INVALID_REQUEST, "the Body names no known operation")

    def _get_citizen(self, citizen_id: str) -> etree._Element:
        citizen = self.records.citizen(citizen_id)
        if citizen is None:
            raise SoapFault(FaultCode.CITIZEN_NOT_FOUND, "no citizen has this ID")
        return build_get_citizen_response(citizen)

    def _verify_citizen(self, query: VerifyCitizenQuery) -> etree._Element:
        citizen = self.records.citizen(query.citizen_id)
        match = (
            citizen is not None
            and citizen.date_of_birth == query.date_of_birth
            and normalise_name(citizen.full_name) == normalise_name(query.full_name)
        )
        return build_verify_citizen_response(match)


__all__ = ["PopulationService", "SoapFault", "normalise_name"]
