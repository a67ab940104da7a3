"""The plain reading of a ds:SignedInfo: strictly from its canonical bytes, reference by reference.

:func:`read_any_form` reads every accepted form (and explains a refusal precisely),
:func:`check_references` and :func:`check_digests` check what it read against the envelope.
``security.wsse.fast_path`` shadows them for the form this package signs.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Collection
from functools import lru_cache
from typing import NamedTuple

from lxml import etree

from security.errors import (
    DigestMismatch,
    InvalidSignature,
    MissingSignature,
    SignatureWrapping,
    UnsupportedAlgorithm,
)
from security.wsse.c14n import exclusive_c14n
from security.wsse.compact import digest_text
from security.wsse.names import (
    C14N_METHOD,
    DIGEST_METHOD,
    DIGEST_VALUE,
    EXC_C14N,
    INCLUSIVE_NAMESPACES,
    REFERENCE,
    SHA256_DIGEST,
    SIGNATURE_METHOD,
    SIGNATURE_METHODS,
    TRANSFORM,
    TRANSFORMS,
)


def checked_algorithm(element: etree._Element, allowed: Collection[str], what: str) -> str:
    algorithm = element.get("Algorithm") or ""
    if algorithm not in allowed:
        raise UnsupportedAlgorithm(f"the {what} algorithm is not allowed")
    return algorithm


def prefix_list(method: etree._Element) -> list[str]:
    """The InclusiveNamespaces PrefixList of an exc-c14n method (the only child it may have)."""
    children = [child for child in method if isinstance(child.tag, str)]
    if not children:
        return []
    if len(children) > 1 or children[0].tag != INCLUSIVE_NAMESPACES:
        raise InvalidSignature("unexpected content in a canonicalization method")
    return (children[0].get("PrefixList") or "").split()


class SignedReference(NamedTuple):
    uri: str
    prefixes: list[str] | None
    digest_b64: bytes


# SignedInfo is read from its canonical form, the very bytes whose signature is checked, so what
# is verified is exactly what was signed. Canonical XML fixes attribute order, quoting and empty
# elements; only whitespace between elements and the ds prefix vary.
NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_REFERENCE_ID = re.compile(NAME)


def is_reference_id(text: str) -> bool:
    """True when ``text`` may stand after the ``#`` of a same-document reference here."""
    return _REFERENCE_ID.fullmatch(text) is not None


def _inclusive(group: str) -> str:
    return (
        rf'<(?:{NAME}:)?InclusiveNamespaces xmlns(?::{NAME})?="{re.escape(EXC_C14N)}"'
        rf' PrefixList="{group}[^"<>&]*)"></(?:{NAME}:)?InclusiveNamespaces>'
    )


def _reference_pattern(p: str, group: str) -> str:
    """One ds:Reference with prefix ``p``; ``group`` opens its groups ("(" or "(?:")."""
    return (
        rf'\s*<{p}Reference URI="#{group}{NAME})">\s*<{p}Transforms>\s*'
        rf'<{p}Transform Algorithm="{re.escape(EXC_C14N)}">(?:{_inclusive(group)})?'
        rf"</{p}Transform>\s*</{p}Transforms>\s*"
        rf'<{p}DigestMethod Algorithm="{re.escape(SHA256_DIGEST)}"></{p}DigestMethod>\s*'
        rf"<{p}DigestValue>\s*{group}[A-Za-z0-9+/]{{43}}=)\s*</{p}DigestValue>\s*</{p}Reference>"
    )


@lru_cache(maxsize=8)
def _signed_info_patterns(
    prefix: str,
) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    """SignedInfo's head (method), one Reference, and the whole rest (references + end)."""
    p = re.escape(prefix + ":") if prefix else ""
    head = (
        rf'<{p}SignedInfo(?: xmlns(?::{NAME})?="[^"]*")*>\s*'
        rf'<{p}CanonicalizationMethod Algorithm="{re.escape(EXC_C14N)}">(?:{_inclusive("(")})?'
        rf"</{p}CanonicalizationMethod>\s*"
        rf'<{p}SignatureMethod Algorithm="([^"]*)"></{p}SignatureMethod>'
    )
    # The references without capturing groups, repeated, then the end of SignedInfo: one
    # C-level match checks that nothing else stands between or after them.
    rest = rf"(?:{_reference_pattern(p, '(?:')})+\s*</{p}SignedInfo>"
    return (
        re.compile(head.encode("ascii")),
        re.compile(_reference_pattern(p, "(").encode("ascii")),
        re.compile(rest.encode("ascii")),
    )


_METHODS = {method.encode("ascii"): method for method in SIGNATURE_METHODS}


def read_any_form(
    signed_info: etree._Element, canonical: bytes
) -> tuple[str, list[SignedReference]]:
    """The signature method and references, read from SignedInfo's canonical bytes.

    The plain reader: every form accepted (whitespace between elements, any prefix,
    InclusiveNamespaces); anything else is refused, with the specific reason.
    """
    prefix = signed_info.prefix or ""
    head, reference, rest = _signed_info_patterns(prefix)
    found = head.match(canonical)
    if found is not None:
        general_method = _METHODS.get(found.group(2))
        position = found.end()
        if general_method is not None and rest.fullmatch(canonical, position) is not None:
            references = [
                SignedReference(
                    uri.decode("ascii"),
                    prefix_list.decode("ascii").split() if prefix_list else None,
                    digest,
                )
                for uri, prefix_list, digest in reference.findall(canonical, position)
            ]
            return general_method, references
    # Not the accepted form: walk the tree to say precisely why, then refuse anyway.
    _explain_signed_info(signed_info)
    raise InvalidSignature("SignedInfo is not in the accepted form", reason="malformed_signed_info")


def _explain_signed_info(signed_info: etree._Element) -> None:
    """Raise the specific error for a SignedInfo that the strict reader refused."""
    children = [child for child in signed_info if isinstance(child.tag, str)]
    if len(children) < 3 or children[0].tag != C14N_METHOD or children[1].tag != SIGNATURE_METHOD:
        raise InvalidSignature("SignedInfo does not have the required structure")
    checked_algorithm(children[0], {EXC_C14N}, "canonicalization")
    checked_algorithm(children[1], set(SIGNATURE_METHODS), "signature")
    if len(children[1]):
        raise UnsupportedAlgorithm("signature method parameters are not allowed")
    for item in children[2:]:
        if item.tag != REFERENCE:
            raise InvalidSignature("SignedInfo holds something other than references")
        uri = item.get("URI") or ""
        if not uri.startswith("#") or re.fullmatch(NAME, uri[1:]) is None:
            raise SignatureWrapping(
                "a reference is not a same-document reference by id", reason="bad_reference"
            )
        parts = [child for child in item if isinstance(child.tag, str)]
        if [child.tag for child in parts] != [TRANSFORMS, DIGEST_METHOD, DIGEST_VALUE]:
            raise InvalidSignature("a reference does not have the required structure")
        transforms = [child for child in parts[0] if isinstance(child.tag, str)]
        if len(transforms) != 1 or transforms[0].tag != TRANSFORM:
            raise UnsupportedAlgorithm("a reference must have exactly one exc-c14n transform")
        checked_algorithm(transforms[0], {EXC_C14N}, "transform")
        checked_algorithm(parts[1], {SHA256_DIGEST}, "digest")


def check_references(
    references: list[SignedReference],
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


def check_digests(references: list[SignedReference], ids: dict[str, etree._Element]) -> None:
    """Each referenced part's digest, recomputed, equals the one SignedInfo holds."""
    for reference in references:
        canonical = exclusive_c14n(ids[reference.uri], reference.prefixes)
        digest = digest_text(canonical).encode("ascii")
        if not hmac.compare_digest(digest, reference.digest_b64):
            raise DigestMismatch("a signed part was changed after signing (digest mismatch)")
