"""Who signed a wire message: the certificate in a SOAP envelope, the keyid of an RFC 9421 one.

Used when a record is written (to keep the signers' certificates beside the chain) and by the
evidence bundle. Nothing here verifies anything: ``store.message_log.verify`` does that.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography import x509

from security.errors import SecurityError
from security.keys import load_certificate
from security.structured_fields import parse_dictionary
from security.xml import XmlLimits, parse_xml

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_BST = f"{{{WSSE_NS}}}BinarySecurityToken"
#: stored envelopes are parsed with a roomier size limit than live traffic
STORED_LIMITS = XmlLimits(max_bytes=16 * 1024 * 1024)

#: a party's name (an RFC 9421 keyid) -> its certificate, or None when unknown
CertificateLookup = Callable[[str], x509.Certificate | None]


def envelope_certificate(envelope: bytes) -> x509.Certificate | None:
    """The X.509 certificate carried in an envelope's BinarySecurityToken, if there is one."""
    try:
        root = parse_xml(envelope, STORED_LIMITS)
    except SecurityError:
        return None
    for token in root.iter(_BST):
        try:
            return x509.load_der_x509_certificate(base64.b64decode(token.text or "", validate=True))
        except (ValueError, binascii.Error):
            return None
    return None


def signature_keyid(headers: Mapping[str, str]) -> str | None:
    """The ``keyid`` of the first signature named in ``Signature-Input``, if any."""
    value = next((v for k, v in headers.items() if k.lower() == "signature-input"), None)
    if value is None:
        return None
    try:
        members = parse_dictionary(value)
    except ValueError:  # malformed or not ASCII: no keyid can be read from it
        return None
    for member in members.values():
        keyid = member.params.get("keyid")
        return str(keyid) if isinstance(keyid, str) else None
    return None


class KeyFolderCertificates:
    """A :data:`CertificateLookup` over a key folder: ``DIR/<party>/cert.pem``, cached."""

    def __init__(self, keys_dir: Path | str) -> None:
        self._dir = Path(keys_dir)
        self._cache: dict[str, x509.Certificate | None] = {}

    def __call__(self, party: str) -> x509.Certificate | None:
        if party not in self._cache:
            path = self._dir / party / "cert.pem"
            if "/" in party or party.startswith(".") or not path.is_file():
                self._cache[party] = None
            else:
                try:
                    self._cache[party] = load_certificate(path)
                except SecurityError:
                    self._cache[party] = None
        return self._cache[party]


__all__ = [
    "STORED_LIMITS",
    "CertificateLookup",
    "KeyFolderCertificates",
    "envelope_certificate",
    "signature_keyid",
]
