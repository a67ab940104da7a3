"""Verify a signed SOAP 1.1 envelope strictly."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from binascii import b2a_base64
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from security import algorithms
from security.errors import (
    DigestMismatch,
    InvalidSignature,
    MissingSignature,
    ReplayedMessage,
    SignatureWrapping,
    UnsupportedAlgorithm,
    UntrustedCertificate,
)
from security.replay import ReplayCache
from security.trust import TrustStore
from security.wsse.c14n import _c14n
from security.wsse.names import (
    _SIGNATURE_METHODS,
    C14N_METHOD,
    DEFAULT_MAX_SKEW,
    DEFAULT_MAX_VALIDITY,
    EXC_C14N,
    KEY_INFO,
    SIGNATURE_VALUE,
    SIGNED_INFO,
)
from security.wsse.signed_info import _algorithm, _prefix_list, _read_signed_info
from security.wsse.structure import _all_ids, _envelope_parts, _security_parts, _signed_part_ids
from security.wsse.timestamp import _check_timestamp
from security.wsse.token import _b64, _certificate
from security.xml import DEFAULT_LIMITS, XmlLimits, parse_xml


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope whose signature verified, with who signed it and its Timestamp.

    ``header`` and ``body`` are the envelope's ``soapenv:Header`` and ``soapenv:Body``, as the
    verifier found them (so a reader need not look for them again).
    """

    envelope: etree._Element
    certificate: x509.Certificate
    party: str
    created: dt.datetime
    expires: dt.datetime
    header: etree._Element
    body: etree._Element


_C14N_METHODS = frozenset((EXC_C14N,))


def verify_envelope(
    data: bytes | etree._Element,
    trust: TrustStore,
    *,
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    max_validity: dt.timedelta = DEFAULT_MAX_VALIDITY,
    now: dt.datetime | None = None,
    expected_party: str | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
    replay_cache: ReplayCache | None = None,
) -> VerifiedEnvelope:
    """Verify a signed SOAP 1.1 envelope strictly; raise a ``SecurityError`` saying why if not.

    ``max_skew`` is the clock difference tolerated on the Timestamp, ``max_validity`` the longest
    Created-to-Expires window accepted, ``expected_party`` the signer's CN when it is known.
    With a ``replay_cache``, an envelope whose signature was already accepted while its Timestamp
    is still valid is refused as a replay. Pass the bytes as received, or an element parsed by
    :func:`security.xml.parse_xml` (which drops comments, so none can split signed text).
    """
    root = data if isinstance(data, etree._Element) else parse_xml(data, limits)
    header, body, xroad, security = _envelope_parts(root)
    timestamp, signature, tokens = _security_parts(security)

    parts = [child for child in signature if isinstance(child.tag, str)]
    if len(parts) != 3 or parts[0].tag != SIGNED_INFO or parts[1].tag != SIGNATURE_VALUE:
        raise InvalidSignature("the signature does not have the required structure")
    signed_info, signature_value, key_info = parts
    if key_info.tag != KEY_INFO:
        raise MissingSignature("the signature has no KeyInfo", reason="missing_certificate")
    c14n_method = signed_info[0] if len(signed_info) else None
    if c14n_method is None or c14n_method.tag != C14N_METHOD:
        raise InvalidSignature("SignedInfo does not have the required structure")
    _algorithm(c14n_method, _C14N_METHODS, "canonicalization")
    canonical_signed_info = _c14n(signed_info, _prefix_list(c14n_method))
    method, references = _read_signed_info(signed_info, canonical_signed_info)

    # -- identifiers: unique in the whole document; references are exactly the signed parts
    signed_parts = (*xroad, timestamp, body)
    expected = _signed_part_ids(root, signed_parts, tokens)
    uris = [reference.uri for reference in references]
    if len(set(uris)) != len(uris):
        raise SignatureWrapping(
            "two references point to the same element", reason="duplicate_reference"
        )
    for uri in uris:
        if uri not in expected:
            if uri in _all_ids(root):
                raise SignatureWrapping("a reference points outside the envelope's signed parts")
            raise SignatureWrapping(
                "a reference does not resolve to an element", reason="unresolved_reference"
            )
    if len(uris) != len(signed_parts):
        raise MissingSignature(
            "the signature does not cover every part that must be signed", reason="unsigned_part"
        )

    # -- freshness (cheap, before any cryptography)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    created, expires = _check_timestamp(timestamp, when, max_skew, max_validity)

    # -- the signer's certificate and key
    certificate, signer = _certificate(key_info, tokens, trust, when)
    party = signer.party
    if expected_party is not None and party != expected_party:
        raise UntrustedCertificate(
            "the envelope is signed by another party than expected", reason="unexpected_party"
        )
    scheme = _SIGNATURE_METHODS[method]
    public_key = signer.public_key
    if public_key is None or scheme not in signer.schemes:
        raise UnsupportedAlgorithm(
            "the signature algorithm does not fit the certificate's key",
            reason="algorithm_key_mismatch",
        )

    # -- digests, then the signature value
    sha256 = hashlib.sha256
    for reference in references:
        canonical = _c14n(expected[reference.uri], reference.prefixes)
        digest = b2a_base64(sha256(canonical).digest(), newline=False)
        if not hmac.compare_digest(digest, reference.digest_b64):
            raise DigestMismatch("a signed part was changed after signing (digest mismatch)")
    value = _b64(signature_value.text, "signature value")
    if not algorithms.verify(public_key, scheme, value, canonical_signed_info):
        raise InvalidSignature("the signature value does not verify")
    if replay_cache is not None:
        nonce = hashlib.sha256(value).hexdigest()
        if replay_cache.seen(party, nonce, (expires + max_skew).timestamp()):
            raise ReplayedMessage(
                "this signed envelope was already accepted", reason="replayed_message"
            )
    return VerifiedEnvelope(root, certificate, party, created, expires, header, body)
