"""The compact SignedInfo this package writes: built by the signer, compared by the verifier.

``sign_envelope`` writes SignedInfo already in exclusive-C14N form, with the ``ds`` prefix, no
whitespace and no InclusiveNamespaces: the canonical method, the signature method, then one
Reference per signed part (X-Road headers in document order, the Timestamp, the Body). The
verifier rebuilds that text from the parts it found and compares it with SignedInfo's canonical
bytes: when they are equal, the references are exactly the signed parts, in that order, with
their current digests; any other SignedInfo is read (and refused or accepted) the long way.
"""

from __future__ import annotations

import hashlib
from binascii import b2a_base64

from security.wsse.names import DS_NS, EXC_C14N, SHA256_DIGEST

#: the prefix the signer gives the XML-DSig elements
PREFIX = "ds"

_OPEN = f'<ds:SignedInfo xmlns:ds="{DS_NS}">'
_METHODS_START = (
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    '<ds:SignatureMethod Algorithm="'
)
_METHODS_END = '"></ds:SignatureMethod>'
_CLOSE = "</ds:SignedInfo>"
_HEAD = (_OPEN + _METHODS_START).encode("ascii")
_HEAD_END = _METHODS_END.encode("ascii")
_REF_START = '<ds:Reference URI="#'
_REF_MIDDLE = (
    '"><ds:Transforms><ds:Transform Algorithm="'
    + EXC_C14N
    + '"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="'
    + SHA256_DIGEST
    + '"></ds:DigestMethod><ds:DigestValue>'
)
_REF_END = "</ds:DigestValue></ds:Reference>"


def digest_text(canonical: bytes) -> str:
    """The base64 SHA-256 digest of a part's canonical bytes, as a DigestValue holds it."""
    return b2a_base64(hashlib.sha256(canonical).digest(), newline=False).decode("ascii")


def reference_text(part_id: str, canonical: bytes) -> str:
    """One ds:Reference (in canonical form) to ``part_id`` whose content is ``canonical``."""
    return _REF_START + part_id + _REF_MIDDLE + digest_text(canonical) + _REF_END


def signed_info_content(signature_method: str, references: list[str]) -> str:
    """SignedInfo's children and end tag (what follows ``<ds:SignedInfo ...>``)."""
    return _METHODS_START + signature_method + _METHODS_END + "".join(references) + _CLOSE


def canonical_signed_info(content: str) -> str:
    """SignedInfo in exclusive-C14N form: the ``ds`` namespace declared on it, then ``content``."""
    return _OPEN + content


def signature_method_of(canonical: bytes) -> str | None:
    """The signature method URI of a SignedInfo in the compact form, or None if not that form."""
    if not canonical.startswith(_HEAD):
        return None
    end = canonical.find(_HEAD_END, len(_HEAD))
    return canonical[len(_HEAD) : end].decode("ascii", "replace") if end > 0 else None
