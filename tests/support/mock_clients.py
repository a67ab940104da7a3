"""Requests to the mock national endpoints, built the way a real client builds them (tests only)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from schemas.wire.population import (
    build_get_citizen_request,
    build_verify_citizen_request,
    soap_action,
)
from schemas.wire.xroad import XRoadClient, XRoadHeader, XRoadService, build_header_elements
from security.http_signatures import HttpSigner, HttpVerifier, RequestView, TrustedKeyDirectory
from security.keys import Credentials, load_party
from security.trust import TrustStore
from security.wsse import SIGNING_NSMAP, SOAP11_NS, sign_envelope

OFFICIAL_ID = "001085000123"
DOSSIER = "000.00.04.H04-261126-0007"


def xroad_header(operation: str, *, message_id: str | None = None) -> XRoadHeader:
    """The X-Road header a provincial system sends with ``operation``."""
    return XRoadHeader(
        client=XRoadClient(member_code="H04", subsystem_code="motcua"),
        service=XRoadService(
            member_code="CSDLQGDC",
            service_code=operation,
            subsystem_code="population",
            service_version="v1",
        ),
        message_id=message_id or str(uuid.uuid4()),
        user_id=f"VN{OFFICIAL_ID}",
        issue=DOSSIER,
    )


def envelope(
    body: etree._Element,
    operation: str,
    *,
    header: bool = True,
    drop: tuple[str, ...] = (),
) -> etree._Element:
    """An unsigned SOAP 1.1 envelope with the X-Road header (minus the ``drop`` fields)."""
    root = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soapenv": SOAP11_NS, **SIGNING_NSMAP})
    head = etree.SubElement(root, f"{{{SOAP11_NS}}}Header")
    if header:
        for element in build_header_elements(xroad_header(operation)):
            if etree.QName(element).localname not in drop:
                head.append(element)
    etree.SubElement(root, f"{{{SOAP11_NS}}}Body").append(body)
    return root


def get_citizen(
    citizen_id: str, credentials: Credentials | None, *, drop: tuple[str, ...] = ()
) -> bytes:
    """A GetCitizen request, signed by ``credentials`` (unsigned when None)."""
    try:
        body = build_get_citizen_request(citizen_id)
    except ValueError:
        body = etree.Element("{urn:vn:csdlqgdc:population:1.0}GetCitizenRequest")
        etree.SubElement(body, "{urn:vn:csdlqgdc:population:1.0}citizenId").text = citizen_id
    root = envelope(body, "GetCitizen", drop=drop)
    if credentials is None:
        return etree.tostring(root)
    return sign_envelope(root, credentials)


def verify_citizen(
    citizen_id: str, full_name: str, born: date, credentials: Credentials | None
) -> bytes:
    """A VerifyCitizen request, signed by ``credentials`` (unsigned when None)."""
    root = envelope(build_verify_citizen_request(citizen_id, full_name, born), "VerifyCitizen")
    if credentials is None:
        return etree.tostring(root)
    return sign_envelope(root, credentials)


def soap_headers(operation: str) -> dict[str, str]:
    """HTTP headers of a SOAP 1.1 call."""
    return {"content-type": "text/xml; charset=utf-8", "soapaction": f'"{soap_action(operation)}"'}


class SignedClient:
    """An httpx client that signs every request (RFC 9421) and checks every signed response."""

    def __init__(self, base_url: str, keys_dir: Path, party: str = "adapter") -> None:
        trust = TrustStore.from_pem_file(keys_dir / "ca" / "cert.pem")
        self.signer = HttpSigner(load_party(keys_dir, party))
        self.verifier = HttpVerifier(TrustedKeyDirectory(keys_dir, trust), None)
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def __enter__(self) -> SignedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request (signed unless ``sign`` is false); the response is not yet checked."""
        request = self.http.build_request(method, path, content=body, headers=headers or {})
        if sign:
            extra = self.signer.sign_request(method, str(request.url), request.headers, body)
            request.headers.update(extra)
        if timeout is not None:
            request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        response = self.http.send(request)
        response.read()
        response.extensions["lienthong_request"] = request
        return response

    def json(self, method: str, path: str, payload: Any, **kwargs: Any) -> httpx.Response:
        """Send ``payload`` as JSON."""
        headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
        return self.send(method, path, body=json.dumps(payload).encode(), headers=headers, **kwargs)

    def check(self, response: httpx.Response, party: str) -> str:
        """Verify the response's signature (bound to its request); return the signer's keyid."""
        request: httpx.Request = response.extensions["lienthong_request"]
        view = RequestView(request.method, str(request.url), request.headers)
        return self.verifier.verify_response(
            response.status_code,
            response.headers,
            response.content,
            request=view,
            expected_keyid=party,
        )
