"""Verify a signed SOAP 1.1 envelope strictly."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import NamedTuple

from cryptography import x509
from lxml import etree

from security import algorithms
from security.errors import (
    InvalidSignature,
    ReplayedMessage,
    UnsupportedAlgorithm,
    UntrustedCertificate,
)
from security.replay import ReplayCache
from security.trust import TrustStore
from security.wsse.c14n import exclusive_c14n
from security.wsse.fast_path import read_compact, signed_as_written
from security.wsse.names import (
    DEFAULT_MAX_SKEW,
    DEFAULT_MAX_VALIDITY,
    EXC_C14N,
    SIGNATURE_METHODS,
)
from security.wsse.signed_info import (
    SignedReference,
    check_digests,
    check_references,
    checked_algorithm,
    prefix_list,
    read_any_form,
)
from security.wsse.structure import (
    document_ids,
    envelope_parts,
    security_parts,
    signature_parts,
)
from security.wsse.timestamp import check_timestamp
from security.wsse.token import decode_base64, signer_certificate
from security.xml import DEFAULT_LIMITS, XmlLimits, parse_xml


class VerifiedEnvelope(NamedTuple):
    """An envelope whose signature verified, with who signed it and its Timestamp (immutable).

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
    header, body, xroad, security = envelope_parts(root)
    timestamp, signature, tokens = security_parts(security)

    signed_info, signature_value, key_info, c14n_method = signature_parts(signature)
    checked_algorithm(c14n_method, _C14N_METHODS, "canonicalization")
    canonical_signed_info = exclusive_c14n(signed_info, prefix_list(c14n_method))

    # -- identifiers: unique in the whole document; references are exactly the signed parts
    signed_parts = (*xroad, timestamp, body)
    ids = document_ids(root)
    method = signed_as_written(canonical_signed_info, signed_parts, ids)
    references: list[SignedReference] | None = None
    if method is None:  # not the compact form over these parts: read it and check each reference
        method, references = read_signed_info(signed_info, canonical_signed_info)
        check_references(references, signed_parts, ids)

    # -- freshness (cheap, before any signature check)
    when = dt.datetime.now(dt.UTC) if now is None else now.astimezone(dt.UTC)
    created, expires = check_timestamp(timestamp, when, max_skew, max_validity)

    # -- the signer's certificate and key
    certificate, signer = signer_certificate(key_info, tokens, ids, trust, when)
    party = signer.party
    if expected_party is not None and party != expected_party:
        raise UntrustedCertificate(
            "the envelope is signed by another party than expected", reason="unexpected_party"
        )
    scheme = SIGNATURE_METHODS[method]
    public_key = signer.public_key
    if public_key is None or scheme not in signer.schemes:
        raise UnsupportedAlgorithm(
            "the signature algorithm does not fit the certificate's key",
            reason="algorithm_key_mismatch",
        )

    # -- digests (already part of the comparison for the compact form), then the signature value
    if references is not None:
        check_digests(references, ids)
    value = decode_base64(signature_value.text, "signature value")
    if not algorithms.verify(public_key, scheme, value, canonical_signed_info):
        raise InvalidSignature("the signature value does not verify")
    if replay_cache is not None:
        nonce = hashlib.sha256(value).hexdigest()
        if replay_cache.seen(party, nonce, (expires + max_skew).timestamp()):
            raise ReplayedMessage(
                "this signed envelope was already accepted", reason="replayed_message"
            )
    return VerifiedEnvelope(root, certificate, party, created, expires, header, body)


def read_signed_info(
    signed_info: etree._Element, canonical: bytes
) -> tuple[str, list[SignedReference]]:
    """SignedInfo's method and references: the compact form by its fast path, any other plainly."""
    found = read_compact(canonical, signed_info.prefix or "")
    return found if found is not None else read_any_form(signed_info, canonical)
