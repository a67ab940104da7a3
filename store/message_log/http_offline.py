"""RFC 9421 signatures of stored REST messages, verified as they stood at the time of exchange.

``security.http_signatures.HttpVerifier`` does the verifying, with its clock set to the recorded
time and no replay cache; the key is the signer's certificate kept with the record, which must
name the keyid and chain to the trust store at that time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from security.errors import SecurityError, UnknownKey, UnsupportedAlgorithm, UntrustedCertificate
from security.http_signatures import HttpVerifier, RequestView, ResolvedKey, content_digest
from security.keys import party_of
from security.trust import TrustStore
from store.message_log.redaction import is_redacted
from store.message_log.wire import WireRequest, WireResponse


class RecordedKey:
    """A ``KeyResolver`` for one stored message: the certificate recorded, valid at ``at``."""

    def __init__(
        self, certificate: x509.Certificate | None, trust: TrustStore, at: dt.datetime
    ) -> None:
        self._certificate = certificate
        self._trust = trust
        self._at = at

    def resolve(self, keyid: str) -> ResolvedKey:
        """The recorded certificate's key, if it names ``keyid`` and was trusted at the time."""
        cert = self._certificate
        if cert is None:
            raise UnknownKey("no certificate was kept for this signer")
        if party_of(cert) != keyid:
            raise UntrustedCertificate(
                "the recorded certificate names another party than the keyid",
                reason="keyid_mismatch",
            )
        self._trust.validate(cert, at=self._at)
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise UnsupportedAlgorithm("the recorded key is neither ECDSA nor RSA")
        return ResolvedKey(keyid, key, cert)


def _verifier(signer: x509.Certificate | None, trust: TrustStore, at: dt.datetime) -> HttpVerifier:
    moment = at.timestamp()
    return HttpVerifier(RecordedKey(signer, trust, at), None, clock=lambda: moment)


def verify_stored_request(
    request: WireRequest, signer: x509.Certificate | None, trust: TrustStore, at: dt.datetime
) -> str | None:
    """``None`` when the stored request's signature held at ``at``; otherwise why not.

    A request recorded without its body (it held a password or a client secret: the connector
    keeps it out of the log) still has its signature checked, over its ``Content-Digest``.
    """
    body: bytes | None = request.body
    if _body_withheld(request.headers, request.body):
        body = None
    try:
        _verifier(signer, trust, at).verify_request(
            request.method, request.url, request.headers, body
        )
    except SecurityError as exc:
        return f"{exc.reason}: {exc}"
    return None


def _body_withheld(headers: Mapping[str, str], body: bytes) -> bool:
    """A stored body that is empty, or holds a redacted credential
    (``store.message_log.redaction``), where the signed ``Content-Digest`` names another body:
    the signature is checked over the digest, which the stored body cannot match."""
    if body and not is_redacted(body):
        return False
    digest = next((v for k, v in headers.items() if k.lower() == "content-digest"), None)
    return digest is not None and digest != content_digest(body)


def verify_stored_response(
    request: WireRequest,
    response: WireResponse,
    signer: x509.Certificate | None,
    trust: TrustStore,
    at: dt.datetime,
) -> str | None:
    """``None`` when the stored response's signature (bound to ``request``) held at ``at``."""
    try:
        _verifier(signer, trust, at).verify_response(
            response.status,
            response.headers,
            None if _body_withheld(response.headers, response.body) else response.body,
            request=RequestView(request.method, request.url, request.headers),
        )
    except SecurityError as exc:
        return f"{exc.reason}: {exc}"
    return None


__all__ = ["RecordedKey", "verify_stored_request", "verify_stored_response"]
