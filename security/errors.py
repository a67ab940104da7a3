"""Errors raised by ``security``: every refusal says why with a stable ``reason`` code.

Tree::

    SecurityError                  base; ``.reason`` is a stable snake_case code
    ├── UnsafeXml                  the XML is refused before anyone looks at it
    │                              (dtd_forbidden, entity_forbidden, xml_too_large,
    │                              xml_too_deep, malformed_xml, processing_instruction_forbidden)
    ├── SignatureError             a signature is absent, wrong or not acceptable
    │   ├── MissingSignature       no signature (or a required part of one) is present
    │   ├── InvalidSignature       the signature value does not verify, or its form is wrong
    │   ├── SignatureWrapping      references do not cover exactly the message's own parts
    │   ├── UnsupportedAlgorithm   an algorithm outside the strict allow-list is named
    │   ├── StaleMessage           timestamp / created / expires outside the freshness window
    │   ├── ReplayedMessage        a nonce already seen inside its validity window
    │   ├── ReplayCacheUnavailable the shared replay cache cannot be asked (fail closed)
    │   ├── UnknownAuthority       the signed @authority is not one this server answers for
    │   └── DigestMismatch         a digest does not match the content it covers
    ├── CertificateError           the signer's certificate is not acceptable
    │   ├── UntrustedCertificate   it does not chain to the trust store
    │   ├── CertificateExpired     it (or its issuer) is expired or not yet valid
    │   ├── CertificateNotForSigning  its key usage does not allow digital signatures
    │   └── UnknownKey             a keyid names no known key
    ├── TimestampError             an RFC 3161 time-stamp cannot be had or does not check
    ├── RequestTooLarge            a request body is over the signing middleware's limit
    ├── Overloaded                 too many request bodies in flight (for the client, or at all)
    ├── RateCounterUnavailable     the shared rate counters cannot be asked (fail closed)
    ├── RequestFileError           a request file (``lienthong sign/verify http``) is malformed
    └── KeyLoadError               a key or certificate file cannot be read (alias ``KeyError_``)

Messages say why without echoing the payload: no element text, no header values, no bodies.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base of every refusal in ``security``; ``reason`` is a stable code for machines."""

    reason: str = "security_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        """The human-readable explanation (never payload content)."""
        return str(self.args[0]) if self.args else self.reason


class UnsafeXml(SecurityError):
    """Raised when incoming XML has a DTD, entities, is malformed, too large or too deep."""

    reason = "unsafe_xml"


class SignatureError(SecurityError):
    """Raised when a signature is missing, invalid or not acceptable."""

    reason = "invalid_signature"


class MissingSignature(SignatureError):
    """Raised when a message carries no signature, or a required part of one is missing."""

    reason = "missing_signature"


class InvalidSignature(SignatureError):
    """Raised when a signature value does not verify or its structure is malformed."""

    reason = "invalid_signature"


class SignatureWrapping(SignatureError):
    """Raised when references do not resolve to exactly the message's own signed parts."""

    reason = "signature_wrapping"


class UnsupportedAlgorithm(SignatureError):
    """Raised when a signature names an algorithm outside the allow-list."""

    reason = "unsupported_algorithm"


class StaleMessage(SignatureError):
    """Raised when a timestamp is missing, expired, in the future or its window is too long."""

    reason = "stale_timestamp"


class ReplayedMessage(SignatureError):
    """Raised when a nonce was already seen inside its validity window."""

    reason = "replayed_nonce"


class ReplayCacheUnavailable(SignatureError):
    """Raised when the shared replay cache cannot be asked: freshness unknown, so refused."""

    reason = "replay_cache_unavailable"


class UnknownAuthority(SignatureError):
    """Raised when a request is signed for an ``@authority`` the verifier does not answer for."""

    reason = "unknown_authority"


class DigestMismatch(SignatureError):
    """Raised when a digest does not match the content it covers."""

    reason = "digest_mismatch"


class CertificateError(SecurityError):
    """Raised when the signer's certificate is not acceptable."""

    reason = "certificate_error"


class UntrustedCertificate(CertificateError):
    """Raised when a certificate does not chain to a CA of the trust store."""

    reason = "untrusted_certificate"


class CertificateExpired(CertificateError):
    """Raised when a certificate (or an issuer in its chain) is outside its validity period."""

    reason = "certificate_expired"


class CertificateNotForSigning(CertificateError):
    """Raised when a certificate's key usage does not allow digital signatures."""

    reason = "certificate_not_for_signing"


class UnknownKey(CertificateError):
    """Raised when a keyid names no key the resolver knows."""

    reason = "unknown_key"


class TimestampError(SecurityError):
    """Raised when a time-stamping authority refuses, or a time-stamp token does not check."""

    reason = "timestamp_error"


class RequestTooLarge(SecurityError):
    """Raised when a request body exceeds the signature middleware's limit."""

    reason = "body_too_large"


class Overloaded(SecurityError):
    """Raised when a request would take one body in flight more than its client's or the total cap.

    ``reason`` is ``client_busy`` (the client's own cap) or ``server_busy`` (the total one).
    """

    reason = "server_busy"


class RateCounterUnavailable(SecurityError):
    """Raised when the rate counters cannot count a call (store unreachable, table full)."""

    reason = "rate_counter_unavailable"


class RequestFileError(SecurityError):
    """Raised when a request file of ``lienthong sign/verify http`` does not follow the format."""

    reason = "malformed_request_file"


class KeyLoadError(SecurityError):
    """Raised when a key or certificate file is missing, unreadable or of the wrong kind."""

    reason = "key_load_error"


KeyError_ = KeyLoadError

__all__ = [
    "CertificateError",
    "CertificateExpired",
    "CertificateNotForSigning",
    "DigestMismatch",
    "InvalidSignature",
    "KeyError_",
    "KeyLoadError",
    "MissingSignature",
    "Overloaded",
    "RateCounterUnavailable",
    "ReplayCacheUnavailable",
    "ReplayedMessage",
    "RequestFileError",
    "RequestTooLarge",
    "SecurityError",
    "SignatureError",
    "SignatureWrapping",
    "StaleMessage",
    "TimestampError",
    "UnknownAuthority",
    "UnknownKey",
    "UnsafeXml",
    "UnsupportedAlgorithm",
    "UntrustedCertificate",
]
