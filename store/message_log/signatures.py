"""Checking the signatures of stored messages offline, at the time they were exchanged.

SOAP envelopes are verified with ``security.wsse.verify_envelope`` (``now`` = the recorded time,
so an old message still verifies against the certificates valid then) and a response's
``xrd:requestHash`` must be the hash of the stored request; RFC 9421 messages with
``security.http_signatures.HttpVerifier`` at the recorded time, against the certificate kept with
the record and without a replay cache (a stored message is, by design, seen again).
Each check returns ``None`` when the signature holds, or a short reason when it does not.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from security.errors import SecurityError
from security.trust import TrustStore
from security.wsse import SOAP11_NS, XROAD_NS, verify_envelope
from store.message_log.http_offline import verify_stored_request, verify_stored_response
from store.message_log.records import StoredRecord
from store.message_log.signers import STORED_LIMITS
from store.message_log.wire import decode_request, decode_response


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


class OfflineVerifier:
    """Verifies the request and response signatures of stored records against ``trust``."""

    def __init__(self, trust: TrustStore) -> None:
        self._trust = trust

    def check_request(
        self, record: StoredRecord, wire: bytes, signer: x509.Certificate | None
    ) -> str | None:
        """Whether the stored request's signature holds (``None``) or why not."""
        request = decode_request(wire)
        if record.sealed.protocol == "soap":
            return self._soap(request.body, record.started_at, record.sealed.request_signer)
        return self._http_request(record, wire, signer)

    def check_response(
        self,
        record: StoredRecord,
        request_wire: bytes,
        response_wire: bytes,
        signer: x509.Certificate | None,
    ) -> str | None:
        """Whether the stored response's signature holds (``None``) or why not."""
        response = decode_response(response_wire)
        if record.sealed.protocol == "soap":
            request = decode_request(request_wire).body
            return self._soap(
                response.body, record.finished_at, record.sealed.response_signer, request
            )
        return self._http_response(record, request_wire, response_wire, signer)

    def _soap(
        self, envelope: bytes, at: dt.datetime, signer: str | None, request: bytes | None = None
    ) -> str | None:
        try:
            verified = verify_envelope(envelope, self._trust, now=at, limits=STORED_LIMITS)
        except SecurityError as exc:
            return f"{exc.reason}: {exc}"
        if signer is not None and _fingerprint(verified.certificate) != signer:
            return "signed with another certificate than the one recorded"
        if request is not None:
            echoed = verified.envelope.find(f"{{{SOAP11_NS}}}Header/{{{XROAD_NS}}}requestHash")
            expected = base64.b64encode(hashlib.sha256(request).digest()).decode()
            if echoed is not None and (echoed.text or "").strip() != expected:
                return "its requestHash is not the hash of the stored request"
        return None

    def _http_request(
        self, record: StoredRecord, wire: bytes, signer: x509.Certificate | None
    ) -> str | None:
        return verify_stored_request(decode_request(wire), signer, self._trust, record.started_at)

    def _http_response(
        self,
        record: StoredRecord,
        request_wire: bytes,
        response_wire: bytes,
        signer: x509.Certificate | None,
    ) -> str | None:
        return verify_stored_response(
            decode_request(request_wire),
            decode_response(response_wire),
            signer,
            self._trust,
            record.finished_at,
        )


__all__ = ["OfflineVerifier"]
