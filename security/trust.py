"""A trust store of CA certificates: chain, validity-period and key-usage checks, cached.

A signer's certificate is acceptable when it chains (directly, or through intermediates given
with it) to a CA of the store, every certificate on the path is inside its validity period at the
time of the check, every issuer is a CA allowed to sign certificates, and the leaf is not a CA and
carries the ``digitalSignature`` key usage. The chain and key-usage result is cached per
certificate (the validity window is kept with it and re-checked on every call, which is cheap).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.x509.oid import ExtensionOID

from security.errors import (
    CertificateError,
    CertificateExpired,
    CertificateNotForSigning,
    UntrustedCertificate,
)
from security.keys import load_certificates

_MAX_DEPTH = 4
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _Verdict:
    """What the cache keeps for one certificate: its parsed form and the path's validity window."""

    certificate: x509.Certificate | None
    not_before: dt.datetime
    not_after: dt.datetime
    error: CertificateError | None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        return False
    return isinstance(bc, x509.BasicConstraints) and bc.ca


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        return None
    return ku if isinstance(ku, x509.KeyUsage) else None


def _can_issue(cert: x509.Certificate) -> bool:
    if not _is_ca(cert):
        return False
    ku = _key_usage(cert)
    return ku is None or ku.key_cert_sign


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, _CryptoInvalidSignature):
        return False
    return True


class TrustStore:
    """CA certificates the service trusts, and the validation of signers' certificates."""

    def __init__(self, anchors: Iterable[x509.Certificate]) -> None:
        self._anchors = [cert for cert in anchors]
        if not self._anchors:
            raise ValueError("a trust store needs at least one CA certificate")
        self._cache: dict[bytes, _Verdict] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_pem_file(cls, path: Path | str) -> TrustStore:
        """A store of every certificate in a PEM file (a bundle of CA certificates)."""
        return cls(load_certificates(path))

    @classmethod
    def from_certificates(cls, certs: Iterable[x509.Certificate]) -> TrustStore:
        """A store of the given CA certificates."""
        return cls(certs)

    @property
    def anchors(self) -> Sequence[x509.Certificate]:
        """The trusted CA certificates."""
        return tuple(self._anchors)

    def validate(
        self,
        cert: x509.Certificate,
        *,
        at: dt.datetime | None = None,
        chain: Sequence[x509.Certificate] = (),
    ) -> x509.Certificate:
        """Check ``cert`` for signing at ``at`` (default now); raise a ``CertificateError`` if not.

        ``chain`` may carry intermediate CA certificates sent with the signer's certificate.
        """
        key = cert.tbs_certificate_bytes + cert.signature
        verdict = self._cache.get(key)
        if verdict is None:
            verdict = self._judge(cert, chain)
            self._remember(key, verdict)
        self._check_time(verdict, at)
        return cert

    def validity_window(
        self, cert: x509.Certificate, *, chain: Sequence[x509.Certificate] = ()
    ) -> tuple[dt.datetime, dt.datetime]:
        """Check chain and key usage (not time); return when the whole path is valid."""
        key = cert.tbs_certificate_bytes + cert.signature
        verdict = self._cache.get(key)
        if verdict is None:
            verdict = self._judge(cert, chain)
            self._remember(key, verdict)
        if verdict.error is not None:
            raise verdict.error
        return verdict.not_before, verdict.not_after

    def validate_der(self, der: bytes, *, at: dt.datetime | None = None) -> x509.Certificate:
        """Parse and validate a DER certificate; parsing is cached together with the verdict."""
        verdict = self._cache.get(der)
        if verdict is None:
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise UntrustedCertificate(
                    "the signer's certificate cannot be parsed", reason="malformed_certificate"
                ) from exc
            verdict = self._judge(cert, ())
            verdict = _Verdict(cert, verdict.not_before, verdict.not_after, verdict.error)
            self._remember(der, verdict)
        self._check_time(verdict, at)
        assert verdict.certificate is not None
        return verdict.certificate

    def _remember(self, key: bytes, verdict: _Verdict) -> None:
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = verdict

    @staticmethod
    def _check_time(verdict: _Verdict, at: dt.datetime | None) -> None:
        if verdict.error is not None:
            raise verdict.error
        when = at or dt.datetime.now(dt.UTC)
        if when < verdict.not_before:
            raise CertificateExpired(
                "the signer's certificate (or its issuer) is not yet valid",
                reason="certificate_not_yet_valid",
            )
        if when > verdict.not_after:
            raise CertificateExpired("the signer's certificate (or its issuer) has expired")

    def _judge(self, cert: x509.Certificate, chain: Sequence[x509.Certificate]) -> _Verdict:
        not_before = cert.not_valid_before_utc
        not_after = cert.not_valid_after_utc
        error: CertificateError | None = None
        ku = _key_usage(cert)
        if _is_ca(cert):
            error = CertificateNotForSigning("a CA certificate may not sign messages")
        elif ku is None or not ku.digital_signature:
            error = CertificateNotForSigning(
                "the signer's certificate does not allow digital signatures"
            )
        else:
            path = self._path(cert, list(chain))
            if path is None:
                error = UntrustedCertificate(
                    "the signer's certificate does not chain to a trusted CA"
                )
            else:
                for issuer in path:
                    not_before = max(not_before, issuer.not_valid_before_utc)
                    not_after = min(not_after, issuer.not_valid_after_utc)
        return _Verdict(None, not_before, not_after, error)

    def _path(
        self, cert: x509.Certificate, intermediates: list[x509.Certificate]
    ) -> list[x509.Certificate] | None:
        """Issuers from ``cert`` up to a trust anchor, or None when there is no such path."""
        current = cert
        path: list[x509.Certificate] = []
        for _ in range(_MAX_DEPTH):
            for anchor in self._anchors:
                if _can_issue(anchor) and _issued_by(current, anchor):
                    return [*path, anchor]
            for candidate in intermediates:
                usable = candidate not in path and _can_issue(candidate)
                if usable and _issued_by(current, candidate):
                    path.append(candidate)
                    current = candidate
                    break
            else:
                return None
        return None


__all__ = ["TrustStore"]
