"""Verify a signed SOAP 1.1 envelope strictly."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import NamedTuple

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
from security.wsse import compact
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
from security.wsse.signed_info import (
    _algorithm,
    _is_reference_id,
    _prefix_list,
    _read_signed_info,
    _Reference,
)
from security.wsse.structure import _document_ids, _envelope_parts, _security_parts
from security.wsse.timestamp import _check_timestamp
from security.wsse.token import _b64, _certificate
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

    # -- identifiers: unique in the whole document; references are exactly the signed parts
    signed_parts = (*xroad, timestamp, body)
    ids = _document_ids(root)
    method = _as_signed(canonical_signed_info, signed_parts, ids)
    references: list[_Reference] | None = None
    if method is None:  # not the compact form over these parts: read it and check each reference
        method, references = _read_signed_info(signed_info, canonical_signed_info)
        _check_references(references, signed_parts, ids)

    # -- freshness (cheap, before any signature check)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    created, expires = _check_timestamp(timestamp, when, max_skew, max_validity)

    # -- the signer's certificate and key
    certificate, signer = _certificate(key_info, tokens, ids, trust, when)
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

    # -- digests (already part of the comparison for the compact form), then the signature value
    if references is not None:
        _check_digests(references, ids)
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


def _as_signed(
    canonical_signed_info: bytes,
    signed_parts: tuple[etree._Element, ...],
    ids: dict[str, etree._Element],
) -> str | None:
    """The signature method when SignedInfo is, byte for byte, what ``sign_envelope`` writes.

    That is the compact form over exactly ``signed_parts``, in their order, each referenced by
    its ``wsu:Id`` with the digest of its present content; each part is canonicalised once, and
    equal texts mean every reference and digest check holds. None: read SignedInfo the long way.
    """
    method = compact.signature_method_of(canonical_signed_info)
    if method not in _SIGNATURE_METHODS:
        return None
    part_ids = {element: part_id for part_id, element in ids.items()}
    references = []
    for part in signed_parts:
        part_id = part_ids.get(part)
        if part_id is None or not _is_reference_id(part_id):
            return None
        references.append(compact.reference_text(part_id, _c14n(part)))
    expected = compact.canonical_signed_info(compact.signed_info_content(method, references))
    return method if canonical_signed_info == expected.encode("ascii") else None


def _check_references(
    references: list[_Reference],
    signed_parts: tuple[etree._Element, ...],
    ids: dict[str, etree._Element],
) -> None:
    """Each reference resolves to a signed part, none twice, and every signed part is referenced."""
    uris = [reference.uri for reference in references]
    if len(set(uris)) != len(uris):
        raise SignatureWrapping(
            "two references point to the same element", reason="duplicate_reference"
        )
    for uri in uris:
        element = ids.get(uri)
        if element is None:
            raise SignatureWrapping(
                "a reference does not resolve to an element", reason="unresolved_reference"
            )
        if not any(element is part for part in signed_parts):
            raise SignatureWrapping("a reference points outside the envelope's signed parts")
    if len(uris) != len(signed_parts):
        raise MissingSignature(
            "the signature does not cover every part that must be signed", reason="unsigned_part"
        )


def _check_digests(references: list[_Reference], ids: dict[str, etree._Element]) -> None:
    """Each referenced part's digest, recomputed, equals the one SignedInfo holds."""
    for reference in references:
        canonical = _c14n(ids[reference.uri], reference.prefixes)
        digest = compact.digest_text(canonical).encode("ascii")
        if not hmac.compare_digest(digest, reference.digest_b64):
            raise DigestMismatch("a signed part was changed after signing (digest mismatch)")
