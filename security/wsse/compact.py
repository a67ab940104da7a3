"""The compact SignedInfo this package writes: built by the signer, compared by the verifier.

``sign_envelope`` writes SignedInfo already in exclusive-C14N form, with the ``ds`` prefix, no
whitespace and no InclusiveNamespaces: the canonical method, the signature method, then one
Reference per signed part (X-Road headers in document order, the Timestamp, the Body). The
verifier rebuilds that text from the parts it found and compares it with SignedInfo's canonical
bytes: when they are equal, the references are exactly the signed parts, in that order, with
their current digests; any other SignedInfo is read (and refused or accepted) the long way.
Both sides build it with :func:`canonical_signed_info`, as bytes, in one join.
"""

from __future__ import annotations

import hashlib
from binascii import b2a_base64
from collections.abc import Iterable

from security.wsse.names import DS_NS, EXC_C14N, SHA256_DIGEST

#: the prefix the signer gives the XML-DSig elements
PREFIX = "ds"

#: SignedInfo's start tag in canonical form (the ``ds`` namespace declared on it)
OPEN = f'<ds:SignedInfo xmlns:ds="{DS_NS}">'.encode("ascii")
_METHODS_START = (
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    '<ds:SignatureMethod Algorithm="'
).encode("ascii")
_METHODS_END = b'"></ds:SignatureMethod>'
_CLOSE = b"</ds:SignedInfo>"
_HEAD = OPEN + _METHODS_START
_REF_START = b'<ds:Reference URI="#'
_REF_MIDDLE = (
    '"><ds:Transforms><ds:Transform Algorithm="'
    + EXC_C14N
    + '"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="'
    + SHA256_DIGEST
    + '"></ds:DigestMethod><ds:DigestValue>'
).encode("ascii")
_REF_END = b"</ds:DigestValue></ds:Reference>"
_sha256 = hashlib.sha256


def digest_text(canonical: bytes) -> str:
    """The base64 SHA-256 digest of a part's canonical bytes, as a DigestValue holds it."""
    return b2a_base64(_sha256(canonical).digest(), newline=False).decode("ascii")


def canonical_signed_info(
    signature_method: str, references: Iterable[tuple[bytes, bytes]]
) -> bytes:
    """SignedInfo in exclusive-C14N form over ``references``: (ASCII id, canonical part) pairs.

    Each part is referenced by its id with the base64 SHA-256 digest of its canonical bytes.
    """
    pieces = [_HEAD, signature_method.encode("ascii"), _METHODS_END]
    append = pieces.append
    for part_id, canonical in references:
        append(_REF_START)
        append(part_id)
        append(_REF_MIDDLE)
        append(b2a_base64(_sha256(canonical).digest(), newline=False))
        append(_REF_END)
    append(_CLOSE)
    return b"".join(pieces)


def signature_method_of(canonical: bytes) -> str | None:
    """The signature method URI of a SignedInfo in the compact form, or None if not that form."""
    if not canonical.startswith(_HEAD):
        return None
    end = canonical.find(_METHODS_END, len(_HEAD))
    return canonical[len(_HEAD) : end].decode("ascii", "replace") if end > 0 else None
