"""The verifier's fast paths, each beside the plain reading it shadows and answering as it does.

An envelope signed by :func:`security.wsse.sign_envelope` (and most others) is verified through
these shortcuts; every other one goes the plain way. Each shortcut either gives the plain
reading's answer or declines (returns None) and leaves the decision to the plain reading, so it
can make verification cheaper but never more lenient. A parity test runs both on the same
inputs, hostile ones included.

* :func:`signed_as_written` shadows reading SignedInfo the plain way and checking each reference
  and digest (:func:`security.wsse.signed_info.read_any_form`, ``check_references``,
  ``check_digests``). It rebuilds the compact SignedInfo the signer writes over the envelope's
  signed parts (their ids and current canonical bytes) and compares it, byte for byte, with
  SignedInfo's canonical bytes: equal texts mean the references are exactly the signed parts,
  each id a plain name, each digest current. Why: one canonicalization and one hash per part and
  one comparison, instead of a regular-expression reading plus a lookup and a digest comparison
  per reference.
* :func:`read_compact` shadows :func:`security.wsse.signed_info.read_any_form` for SignedInfo in
  the compact form (no whitespace, no InclusiveNamespaces, any prefix): one literal head per
  signature method and one anchored match per reference, instead of the general patterns (which
  allow whitespace and InclusiveNamespaces everywhere). Why: a SignedInfo over the right parts
  but in another order, or with another prefix, is still read cheaply.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lxml import etree

from security.wsse.compact import canonical_signed_info, signature_method_of
from security.wsse.names import DS_NS, EXC_C14N, SHA256_DIGEST, SIGNATURE_METHODS
from security.wsse.signed_info import NAME, SignedReference

# The ids of the signed parts, joined by line feeds: each must be a plain name.
_PLAIN_NAMES = re.compile(rf"{NAME}(?:\n{NAME})*")
_tostring = etree.tostring


def signed_as_written(
    canonical: bytes,
    signed_parts: tuple[etree._Element, ...],
    ids: dict[str, etree._Element],
) -> str | None:
    """The signature method when SignedInfo is, byte for byte, what ``sign_envelope`` writes.

    That is the compact form over exactly ``signed_parts``, in their order, each referenced by
    its ``wsu:Id`` (``ids``: the document's, each unique) with the digest of its present
    content. None: SignedInfo is to be read the plain way (which accepts or refuses it).
    """
    method = signature_method_of(canonical)
    if method not in SIGNATURE_METHODS:
        return None
    part_ids = dict(zip(ids.values(), ids.keys(), strict=True))
    names = []
    for part in signed_parts:
        part_id = part_ids.get(part)
        if part_id is None:
            return None
        names.append(part_id)
    joined = "\n".join(names)
    if _PLAIN_NAMES.fullmatch(joined) is None:
        return None
    encoded = joined.encode("ascii").split(b"\n")
    if len(encoded) != len(signed_parts):  # an id held a line feed: not a plain name
        return None
    references = zip(
        encoded,
        [
            _tostring(part, method="c14n", exclusive=True, with_comments=False)
            for part in signed_parts
        ],
        strict=True,
    )
    return method if canonical == canonical_signed_info(method, references) else None


@lru_cache(maxsize=8)
def _compact_patterns(
    prefix: str,
) -> tuple[tuple[tuple[bytes, str], ...], re.Pattern[bytes], bytes]:
    """Literal heads (one per signature method), one Reference, and SignedInfo's end tag."""
    name = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{DS_NS}"' if prefix else f'xmlns="{DS_NS}"'
    heads = tuple(
        (
            (
                f"<{name}SignedInfo {declaration}>"
                f'<{name}CanonicalizationMethod Algorithm="{EXC_C14N}">'
                f"</{name}CanonicalizationMethod>"
                f'<{name}SignatureMethod Algorithm="{method}"></{name}SignatureMethod>'
            ).encode("ascii"),
            method,
        )
        for method in SIGNATURE_METHODS
    )
    p = re.escape(name)
    reference = (
        rf'<{p}Reference URI="#({NAME})"><{p}Transforms>'
        rf'<{p}Transform Algorithm="{re.escape(EXC_C14N)}"></{p}Transform></{p}Transforms>'
        rf'<{p}DigestMethod Algorithm="{re.escape(SHA256_DIGEST)}"></{p}DigestMethod>'
        rf"<{p}DigestValue>([A-Za-z0-9+/]{{43}}=)</{p}DigestValue></{p}Reference>"
    )
    return heads, re.compile(reference.encode("ascii")), f"</{name}SignedInfo>".encode("ascii")


def read_compact(canonical: bytes, prefix: str) -> tuple[str, list[SignedReference]] | None:
    """Method and references of a SignedInfo in the compact form, or None if not in that form.

    Reading the references one anchored match after another (each starting where the last one
    ended) checks in one pass that nothing else stands between or after them.
    """
    heads, reference, end = _compact_patterns(prefix)
    for head, method in heads:
        if canonical.startswith(head):
            position = len(head)
            references: list[SignedReference] = []
            found = reference.match(canonical, position)
            while found is not None:
                uri, digest = found.groups()
                references.append(SignedReference(uri.decode("ascii"), None, digest))
                position = found.end()
                found = reference.match(canonical, position)
            if references and canonical[position:] == end:
                return method, references
            return None
    return None


__all__ = ["read_compact", "signed_as_written"]
