"""The signer's BinarySecurityToken: its certificate (judged by the trust store), party and key."""

from __future__ import annotations

import binascii
import datetime as dt
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from security import algorithms
from security.errors import (
    InvalidSignature,
    MissingSignature,
    UnsupportedAlgorithm,
)
from security.keys import party_of
from security.trust import TrustStore
from security.wsse.names import (
    BASE64_BINARY,
    SIGNATURE_METHODS,
    STR,
    WSSE_REFERENCE,
    X509V3,
)


def decode_base64(text: str | None, what: str) -> bytes:
    """Decode base64 text, whitespace (line breaks) allowed, nothing else outside the alphabet.

    Text without whitespace (as most signers write it) is decoded as it stands; any other is
    decoded with its whitespace removed (strict mode refuses whitespace, so the first attempt
    fails on it and only on what the second refuses too, or accepts the same).
    """
    try:
        return binascii.a2b_base64(text or "", strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return binascii.a2b_base64("".join((text or "").split()), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignature(f"the {what} is not valid base64") from exc


class _Signer(NamedTuple):
    """What a BinarySecurityToken's text gives once decoded: kept, as it is the same each time."""

    der: bytes
    party: str
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None
    schemes: frozenset[str]  # the signature schemes that fit the certificate's key


def _signer(der: bytes, certificate: x509.Certificate) -> _Signer:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return _Signer(der, party_of(certificate), None, frozenset())
    schemes = {
        scheme for scheme in SIGNATURE_METHODS.values() if algorithms.key_matches(scheme, key)
    }
    return _Signer(der, party_of(certificate), key, frozenset(schemes))


_SIGNER_CACHE_SIZE = 256
_SIGNERS: dict[str, _Signer] = {}


def signer_certificate(
    key_info: etree._Element,
    tokens: list[etree._Element],
    ids: dict[str, etree._Element],
    trust: TrustStore,
    when: dt.datetime,
) -> tuple[x509.Certificate, _Signer]:
    """The signer's certificate (checked by ``trust`` at ``when``), its party and its key.

    KeyInfo must reference, by ``wsu:Id`` (``ids``: the document's, each unique), one of the
    Security header's ``tokens``. The token's base64 decoding, the party, the public key and the
    schemes it fits are remembered by the token's text (a bounded cache); the trust store checks
    chain and key usage once per certificate and the validity window on every call.
    """
    str_element = key_info[0] if len(key_info) == 1 else None
    token_ref = str_element[0] if str_element is not None and len(str_element) == 1 else None
    if (
        str_element is None
        or str_element.tag != STR
        or token_ref is None
        or (token_ref.tag != WSSE_REFERENCE)
    ):
        raise MissingSignature(
            "KeyInfo must reference the BinarySecurityToken", reason="missing_certificate"
        )
    uri = token_ref.get("URI") or ""
    token = ids.get(uri[1:]) if uri.startswith("#") else None
    if token is None or token not in tokens:  # elements compare by identity
        raise MissingSignature(
            "the referenced BinarySecurityToken is not in the Security header",
            reason="missing_certificate",
        )
    if token.get("ValueType") != X509V3 or token.get("EncodingType", BASE64_BINARY) != (
        BASE64_BINARY
    ):
        raise UnsupportedAlgorithm("the security token is not a base64 X.509v3 certificate")
    text = token.text or ""
    signer = _SIGNERS.get(text)
    if signer is not None:
        return trust.validate_der(signer.der, at=when), signer
    der = decode_base64(text, "security token")
    certificate = trust.validate_der(der, at=when)
    signer = _signer(der, certificate)
    if len(_SIGNERS) >= _SIGNER_CACHE_SIZE:
        _SIGNERS.pop(next(iter(_SIGNERS)), None)
    _SIGNERS[text] = signer
    return certificate, signer
