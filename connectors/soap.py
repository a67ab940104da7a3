"""The SOAP base: signed X-Road envelopes out, strictly verified replies in.

One attempt of ``SoapConnector.call(operation, payload, ctx)``:

1. the envelope is built with lxml: the X-Road header from the call's context (client, service
   with ``serviceCode`` = the operation, ``id`` = the message id, ``userId`` = the official,
   ``issue`` = the dossier) and the payload element in the Body;
2. ``security.wsse.sign_envelope`` signs it (Timestamp, certificate, signature over the Body,
   the Timestamp and the X-Road header) and the bytes are POSTed with the WSDL's SOAPAction;
3. a 502/503/504 is ``UpstreamUnavailable``; anything else must be a signed envelope that
   ``verify_envelope`` accepts as made by the upstream's party (``BadUpstreamSignature`` if not);
4. the reply's X-Road header must echo the request's fields and carry ``requestHash`` = SHA-256
   of the bytes sent (``BadUpstreamResponse`` if not);
5. a ``soapenv:Fault`` is mapped to the error tree (``fault_errors``; a Server fault whose code
   is in ``transient_fault_codes`` is ``UpstreamUnavailable``); otherwise the Body's element
   must be the operation's response element, which is returned.

Each attempt is recorded as an ``Exchange`` with the exact bytes sent and received.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import partial
from itertools import count
from typing import Any

from cryptography import x509
from lxml import etree

from connectors.base import CallContext, UpstreamConfig
from connectors.echo import echoes_faithfully
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    ConnectorError,
    InvalidRequest,
    PermanentError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.exchange import ExchangeRecorder
from connectors.resilience import Resilience
from connectors.transport import HttpResponse, Transport
from connectors.upstream import UpstreamClient
from connectors.wsdl import SoapContract, SoapOperation
from schemas.errors import SchemaError
from schemas.wire.xroad import NSMAP as XROAD_NSMAP
from schemas.wire.xroad import (
    PROTOCOL_VERSION,
    XRoadClient,
    XRoadHeader,
    XRoadService,
    build_header_elements,
    read_header,
    request_hash,
)
from security.errors import SecurityError, UnsafeXml
from security.keys import Credentials
from security.trust import TrustStore
from security.wsse import SIGNING_NSMAP, sign_envelope, verify_envelope

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ENVELOPE = f"{{{SOAP11_NS}}}Envelope"
HEADER = f"{{{SOAP11_NS}}}Header"
BODY = f"{{{SOAP11_NS}}}Body"
FAULT = f"{{{SOAP11_NS}}}Fault"

XROAD_NS = XROAD_NSMAP["xrd"]
#: positions of the per-call fields among the header elements (``build_header_elements``)
_MESSAGE_ID, _USER_ID, _ISSUE = 2, 3, 4
TRANSIENT_STATUSES = frozenset({502, 503, 504})
DEFAULT_SIGNATURE_TTL = dt.timedelta(minutes=5)
DEFAULT_MAX_SKEW = dt.timedelta(minutes=5)


class SoapFault(Exception):
    """A ``soapenv:Fault`` read from a verified reply (internal; mapped to the error tree)."""

    def __init__(self, side: str, code: str | None) -> None:
        super().__init__(f"{side} fault {code or ''}".strip())
        self.side = side
        self.code = code


def read_fault(fault: etree._Element, detail_code_tag: str | None) -> SoapFault:
    """The side (``Client``/``Server``) and detail code of a SOAP 1.1 fault element."""
    faultcode = fault.findtext("faultcode") or ""
    side = faultcode.rsplit(":", 1)[-1].split(".", 1)[0].strip() or "Server"
    code: str | None = None
    detail = fault.find("detail")
    if detail is not None and detail_code_tag is not None:
        found = detail.find(f".//{detail_code_tag}")
        if found is not None and found.text:
            code = found.text.strip()
    return SoapFault(side, code)


class _HeaderDraft:
    """An :class:`XRoadHeader` being built: the same fields in the same slots, not frozen.

    :meth:`SoapConnector.header_for` fills in every field, then switches its class to
    ``XRoadHeader`` (the two share their slots): the frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, about twice the work, on every call. The pattern of
    :class:`connectors.exchange.ExchangeDraft`.
    """

    __slots__ = XRoadHeader.__slots__


def _http_headers(op: SoapOperation) -> dict[str, str]:
    """The HTTP headers of a request for ``op`` (built once per operation)."""
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{op.soap_action}"'}


def _has_xroad_fields(header: etree._Element) -> bool:
    prefix = "{" + XROAD_NS + "}"
    return any(isinstance(c.tag, str) and c.tag.startswith(prefix) for c in header)


def echo_mismatch(
    sent: XRoadHeader, echoed: XRoadHeader, request: bytes, *, expected_hash: str | None = None
) -> str | None:
    """The first header field a reply does not echo faithfully (a safe-to-log name), or None.

    ``requestHash`` must be base64 SHA-256 of ``request``, the exact bytes sent (``expected_hash``
    when the caller has already computed it).
    """
    for name, mine, theirs in (
        ("id", sent.message_id, echoed.message_id),
        ("client", sent.client, echoed.client),
        ("service", sent.service, echoed.service),
        ("userId", sent.user_id, echoed.user_id),
        ("issue", sent.issue, echoed.issue),
        ("protocolVersion", sent.protocol_version, echoed.protocol_version),
    ):
        if mine != theirs:
            return name
    expected = request_hash(request) if expected_hash is None else expected_hash
    if echoed.request_hash is None or not hmac.compare_digest(echoed.request_hash, expected):
        return "requestHash"
    return None


class SoapConnector(UpstreamClient):
    """A connector to a SOAP 1.1 + WS-Security + X-Road service bound from its WSDL."""

    protocol = "soap"
    #: detail element holding the fault code, e.g. ``{urn:…}code``
    fault_code_tag: str | None = None
    #: fault code → permanent error class (Client faults); unknown codes are ``UpstreamRejected``
    fault_errors: Mapping[str, type[PermanentError]] = {}
    #: Server fault codes that mean "try again later"
    transient_fault_codes: frozenset[str] = frozenset()

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        contract: SoapContract,
        credentials: Credentials,
        trust: TrustStore,
        client: XRoadClient,
        service: XRoadService,
        body_nsmap: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
        signature_ttl: dt.timedelta = DEFAULT_SIGNATURE_TTL,
        max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    ) -> None:
        super().__init__(
            config,
            sender=credentials.party,
            transport=transport,
            recorder=recorder,
            resilience=resilience,
            operations=tuple(contract.operations),
        )
        self.contract = contract
        self.credentials = credentials
        self.trust = trust
        self.client_id = client
        self.services = {name: replace(service, service_code=name) for name in contract.operations}
        self.url = config.base_url
        self.signature_ttl = signature_ttl
        self.max_skew = max_skew
        #: (id(client), id(service), protocol version, request hash) -> (client, service, template)
        self._templates: dict[
            tuple[int, int, str, str | None], tuple[XRoadClient, XRoadService, etree._Element]
        ] = {}
        #: operation name -> (the operation, the HTTP headers of its requests), built once
        self._operation_headers = {
            name: (contract.operation(name), _http_headers(contract.operation(name)))
            for name in contract.operations
        }
        self._nsmap = {
            "soapenv": SOAP11_NS,
            **XROAD_NSMAP,
            **SIGNING_NSMAP,
            **(body_nsmap or {}),
        }

    # ------------------------------------------------------------------------------- building

    def header_for(self, operation: str, ctx: CallContext) -> XRoadHeader:
        """The X-Road header fields of ``operation`` called in ``ctx``.

        The official (``user_id``) and the dossier (``issue``) are required: a lookup without
        them is refused here (``InvalidRequest``, ``missing_context``), before anything is sent.
        """
        if not ctx.user_id or not ctx.issue:
            raise InvalidRequest(
                f"{self.config.name}: {operation} needs the official and the dossier",
                upstream=self.config.name,
                message_id=ctx.message_id,
                fault_code="missing_context",
            )
        # filled in field by field, then sealed: the same XRoadHeader as ``XRoadHeader(...)``
        # with these fields (``_HeaderDraft``), without the frozen dataclass's ``__init__``
        draft: Any = _HeaderDraft()
        draft.client = self.client_id
        draft.service = self.services[operation]
        draft.message_id = ctx.message_id
        draft.user_id = ctx.user_id
        draft.issue = ctx.issue
        draft.protocol_version = PROTOCOL_VERSION
        draft.request_hash = None
        draft.__class__ = XRoadHeader
        return draft  # type: ignore[no-any-return]  # an XRoadHeader now (no ``cast``: a call)

    def envelope(self, header: XRoadHeader, payload: etree._Element) -> etree._Element:
        """An unsigned envelope: ``header`` fields in the Header, ``payload`` in the Body.

        The envelope of an operation is built once as a template (client, service and protocol
        version fixed) and copied per call, its ``id``, ``userId`` and ``issue`` filled in.
        Templates are found by the identity of the header's client and service (the connector
        passes the same objects on every call: no hashing of the two dataclasses per call), the
        objects kept beside the template (so their ids are not reused while it is kept).
        ``__copy__`` of an lxml element copies the whole tree, as ``copy.copy`` and
        ``copy.deepcopy`` do (both call it), without their dispatch in Python.
        """
        client, service = header.client, header.service
        key = (id(client), id(service), header.protocol_version, header.request_hash)
        found = self._templates.get(key)
        if found is not None and found[0] is client and found[1] is service:
            template = found[2]
        else:
            template = etree.Element(ENVELOPE, nsmap=self._nsmap)
            etree.SubElement(template, HEADER).extend(
                build_header_elements(replace(header, message_id="", user_id="", issue=""))
            )
            etree.SubElement(template, BODY)
            if len(self._templates) < 64:
                self._templates[key] = (client, service, template)
        # the whole tree: see above (``__copy__`` is missing from lxml-stubs, not from lxml)
        root: etree._Element = template.__copy__()  # type: ignore[attr-defined]
        fields = root[0]
        fields[_MESSAGE_ID].text = header.message_id
        fields[_USER_ID].text = header.user_id
        fields[_ISSUE].text = header.issue
        root[1].append(payload)
        return root

    def sign(self, envelope: etree._Element) -> bytes:
        """The signed envelope's bytes, as they go on the wire."""
        return sign_envelope(envelope, self.credentials, ttl=self.signature_ttl)

    # ------------------------------------------------------------------------------- calling

    async def call(
        self,
        operation: str,
        payload: etree._Element,
        ctx: CallContext,
        *,
        deadline: float | None = None,
    ) -> etree._Element:
        """Send ``payload`` as ``operation`` and return the verified response element.

        Raises the error tree of ``connectors.errors``; transient failures are retried.
        """
        found = self._operation_headers.get(operation)
        if found is None:  # not in the contract at construction: it decides (or refuses)
            op = self.contract.operation(operation)
            headers = _http_headers(op)
        else:
            op, headers = found
        header = self.header_for(operation, ctx)
        envelope = self.envelope(header, payload)
        # ``attempt(time_limit)`` is the coroutine of ``_attempt`` itself (``partial`` is no
        # function of ours: no frame in between), numbered from ``count`` as it starts
        attempt = partial(self._attempt, op, header, envelope, headers, ctx, count(1))
        return await self.resilience.call(attempt, message_id=ctx.message_id, deadline=deadline)

    async def _attempt(
        self,
        op: SoapOperation,
        header: XRoadHeader,
        envelope: etree._Element,
        headers: Mapping[str, str],
        ctx: CallContext,
        numbers: Iterator[int],
        time_limit: float,
    ) -> etree._Element:
        attempt = next(numbers)  # 1 for the first attempt of the call, then 2, ...
        started = dt.datetime.now(dt.UTC)  # as ``utc_now``, without its frame
        signed = self.sign(envelope)  # per attempt: a fresh Timestamp on every try
        # hashed once: the requestHash the reply must echo (base64) and the message log's
        # digest of the request body (hex) are the same SHA-256 of the same bytes
        digest = hashlib.sha256(signed).digest()
        response: HttpResponse | None = None
        error: BaseException | None = None
        replier: x509.Certificate | None = None
        try:
            # the attempt runs under Resilience's ``asyncio.timeout(time_limit)``: the transport
            # need not arm a second timer for the same limit (``None``)
            response = await self.transport.post(self.url, signed, headers, None)
            element, replier = self._read_verified(
                op, header, signed, response, ctx.message_id, digest
            )
            return element
        except BaseException as exc:
            error = exc
            raise
        finally:
            await self.record(
                operation=op.name,
                ctx=ctx,
                method="POST",
                url=self.url,
                request=signed,
                request_headers=headers,
                response=response,
                error=error,
                started_at=started,
                attempt=attempt,
                time_limit=time_limit,
                request_certificate=self.credentials.certificate,
                response_certificate=replier,
                request_sha256=digest.hex(),
            )

    def read_reply(
        self,
        op: SoapOperation,
        header: XRoadHeader,
        signed: bytes,
        response: HttpResponse,
        message_id: str,
    ) -> etree._Element:
        """Verify and read one reply; return the operation's response element or raise."""
        return self._read_verified(op, header, signed, response, message_id)[0]

    def _read_verified(
        self,
        op: SoapOperation,
        header: XRoadHeader,
        signed: bytes,
        response: HttpResponse,
        message_id: str,
        digest: bytes | None = None,
    ) -> tuple[etree._Element, x509.Certificate]:
        """:meth:`read_reply`, and the certificate the reply verified with (``digest``: the
        SHA-256 of ``signed``, when the caller has it)."""
        upstream = self.config.name
        if response.status in TRANSIENT_STATUSES:
            raise UpstreamUnavailable(
                f"{upstream}: {op.name} answered HTTP {response.status}",
                upstream=upstream,
                message_id=message_id,
                fault_code=f"http_{response.status}",
                status=response.status,
            )
        try:
            verified = verify_envelope(
                response.body,
                self.trust,
                max_skew=self.max_skew,
                expected_party=self.signer_party,
            )
        except UnsafeXml as exc:
            raise BadUpstreamResponse(
                f"{upstream}: {op.name} reply is not acceptable XML ({exc.reason})",
                upstream=upstream,
                message_id=message_id,
                fault_code=exc.reason,
                status=response.status,
            ) from exc
        except SecurityError as exc:
            raise BadUpstreamSignature(
                f"{upstream}: {op.name} reply refused ({exc.reason})",
                upstream=upstream,
                message_id=message_id,
                fault_code=exc.reason,
                status=response.status,
            ) from exc
        children = list(verified.body.iterchildren("*"))  # elements: no comment, instruction
        if len(children) != 1:
            raise self._bad(op, message_id, response.status, "malformed_body")
        element = children[0]
        is_fault = element.tag == FAULT
        # A fault raised before the request could be read (fault injection, an unreadable
        # request) carries no echo; any other reply must echo the request faithfully.
        if not is_fault or _has_xroad_fields(verified.header):
            expected_hash = (
                request_hash(signed)
                if digest is None
                else binascii.b2a_base64(digest, newline=False).decode("ascii")  # = b64encode
            )
            # The fast path accepts a faithful echo without reading it into a header; anything
            # else is read and compared the plain way, which accepts it or names the field.
            if not echoes_faithfully(header, verified.header, expected_hash):
                try:
                    echoed = read_header(verified.header, response=True)
                except SchemaError as exc:
                    raise self._bad(op, message_id, response.status, "malformed_header") from exc
                wrong = echo_mismatch(header, echoed, signed, expected_hash=expected_hash)
                if wrong is not None:
                    raise self._bad(op, message_id, response.status, f"echo_mismatch_{wrong}")
        if is_fault:
            raise self._fault_error(
                op, read_fault(element, self.fault_code_tag), message_id, response
            )
        if element.tag != op.response_element or response.status != 200:
            raise self._bad(op, message_id, response.status, "unexpected_body")
        return element, verified.certificate

    def _bad(
        self, op: SoapOperation, message_id: str, status: int, code: str
    ) -> BadUpstreamResponse:
        upstream = self.config.name
        return BadUpstreamResponse(
            f"{upstream}: {op.name} reply does not answer the request ({code})",
            upstream=upstream,
            message_id=message_id,
            fault_code=code,
            status=status,
        )

    def _fault_error(
        self, op: SoapOperation, fault: SoapFault, message_id: str, response: HttpResponse
    ) -> ConnectorError:
        upstream = self.config.name
        code = fault.code or fault.side
        text = f"{upstream}: {op.name} answered a {fault.side} fault {code}"
        cls: type[ConnectorError]
        if fault.side == "Server" and fault.code in self.transient_fault_codes:
            cls = UpstreamUnavailable
        elif fault.code is not None and fault.code in self.fault_errors:
            cls = self.fault_errors[fault.code]
        elif fault.side == "Client" and fault.code is None:
            cls = InvalidRequest
        else:
            cls = UpstreamRejected
        return cls(
            text, upstream=upstream, message_id=message_id, fault_code=code, status=response.status
        )


__all__ = [
    "FAULT",
    "SOAP11_NS",
    "TRANSIENT_STATUSES",
    "SoapConnector",
    "SoapFault",
    "echo_mismatch",
    "read_fault",
]
