"""Read a ds:SignedInfo strictly from its canonical bytes, and explain a refusal precisely."""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache
from typing import NamedTuple

from lxml import etree

from security.errors import (
    InvalidSignature,
    SignatureWrapping,
    UnsupportedAlgorithm,
)
from security.wsse.names import (
    _SIGNATURE_METHODS,
    C14N_METHOD,
    DIGEST_METHOD,
    DIGEST_VALUE,
    DS_NS,
    EXC_C14N,
    INCLUSIVE_NAMESPACES,
    REFERENCE,
    SHA256_DIGEST,
    SIGNATURE_METHOD,
    TRANSFORM,
    TRANSFORMS,
)


def _algorithm(element: etree._Element, allowed: Collection[str], what: str) -> str:
    algorithm = element.get("Algorithm") or ""
    if algorithm not in allowed:
        raise UnsupportedAlgorithm(f"the {what} algorithm is not allowed")
    return algorithm


def _prefix_list(method: etree._Element) -> list[str]:
    """The InclusiveNamespaces PrefixList of an exc-c14n method (the only child it may have)."""
    children = [child for child in method if isinstance(child.tag, str)]
    if not children:
        return []
    if len(children) > 1 or children[0].tag != INCLUSIVE_NAMESPACES:
        raise InvalidSignature("unexpected content in a canonicalization method")
    return (children[0].get("PrefixList") or "").split()


class _Reference(NamedTuple):
    uri: str
    prefixes: list[str] | None
    digest_b64: bytes


# SignedInfo is read from its canonical form, the very bytes whose signature is checked, so what
# is verified is exactly what was signed. Canonical XML fixes attribute order, quoting and empty
# elements; only whitespace between elements and the ds prefix vary.
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_REFERENCE_ID = re.compile(_NAME)


def _is_reference_id(text: str) -> bool:
    """True when ``text`` may stand after the ``#`` of a same-document reference here."""
    return _REFERENCE_ID.fullmatch(text) is not None


def _inclusive(group: str) -> str:
    return (
        rf'<(?:{_NAME}:)?InclusiveNamespaces xmlns(?::{_NAME})?="{re.escape(EXC_C14N)}"'
        rf' PrefixList="{group}[^"<>&]*)"></(?:{_NAME}:)?InclusiveNamespaces>'
    )


def _reference_pattern(p: str, group: str) -> str:
    """One ds:Reference with prefix ``p``; ``group`` opens its groups ("(" or "(?:")."""
    return (
        rf'\s*<{p}Reference URI="#{group}{_NAME})">\s*<{p}Transforms>\s*'
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
        rf'<{p}SignedInfo(?: xmlns(?::{_NAME})?="[^"]*")*>\s*'
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


_METHODS = {method.encode("ascii"): method for method in _SIGNATURE_METHODS}


@lru_cache(maxsize=8)
def _compact_signed_info_patterns(
    prefix: str,
) -> tuple[tuple[tuple[bytes, str], ...], re.Pattern[bytes], bytes]:
    """The same form without whitespace or InclusiveNamespaces, as this module signs it.

    Literal heads (one per signature method), one Reference, and SignedInfo's end tag; reading
    the references one anchored match after another (each starting where the last one ended)
    checks in one pass that nothing else stands between or after them. The general patterns
    stay the fallback.
    """
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
        for method in _SIGNATURE_METHODS
    )
    p = re.escape(name)
    reference = (
        rf'<{p}Reference URI="#({_NAME})"><{p}Transforms>'
        rf'<{p}Transform Algorithm="{re.escape(EXC_C14N)}"></{p}Transform></{p}Transforms>'
        rf'<{p}DigestMethod Algorithm="{re.escape(SHA256_DIGEST)}"></{p}DigestMethod>'
        rf"<{p}DigestValue>([A-Za-z0-9+/]{{43}}=)</{p}DigestValue></{p}Reference>"
    )
    return heads, re.compile(reference.encode("ascii")), f"</{name}SignedInfo>".encode("ascii")


def _read_compact(canonical: bytes, prefix: str) -> tuple[str, list[_Reference]] | None:
    """Method and references of a SignedInfo in the compact form, or None if not in that form."""
    heads, reference, end = _compact_signed_info_patterns(prefix)
    for head, method in heads:
        if canonical.startswith(head):
            position = len(head)
            references: list[_Reference] = []
            found = reference.match(canonical, position)
            while found is not None:
                uri, digest = found.groups()
                references.append(_Reference(uri.decode("ascii"), None, digest))
                position = found.end()
                found = reference.match(canonical, position)
            if references and canonical[position:] == end:
                return method, references
            return None
    return None


def _read_signed_info(
    signed_info: etree._Element, canonical: bytes
) -> tuple[str, list[_Reference]]:
    """The signature method and references, read from SignedInfo's canonical bytes."""
    prefix = signed_info.prefix or ""
    compact = _read_compact(canonical, prefix)
    if compact is not None:
        return compact
    head, reference, rest = _signed_info_patterns(prefix)
    found = head.match(canonical)
    if found is not None:
        general_method = _METHODS.get(found.group(2))
        position = found.end()
        if general_method is not None and rest.fullmatch(canonical, position) is not None:
            references = [
                _Reference(
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
    _algorithm(children[0], {EXC_C14N}, "canonicalization")
    _algorithm(children[1], set(_SIGNATURE_METHODS), "signature")
    if len(children[1]):
        raise UnsupportedAlgorithm("signature method parameters are not allowed")
    for item in children[2:]:
        if item.tag != REFERENCE:
            raise InvalidSignature("SignedInfo holds something other than references")
        uri = item.get("URI") or ""
        if not uri.startswith("#") or re.fullmatch(_NAME, uri[1:]) is None:
            raise SignatureWrapping(
                "a reference is not a same-document reference by id", reason="bad_reference"
            )
        parts = [child for child in item if isinstance(child.tag, str)]
        if [child.tag for child in parts] != [TRANSFORMS, DIGEST_METHOD, DIGEST_VALUE]:
            raise InvalidSignature("a reference does not have the required structure")
        transforms = [child for child in parts[0] if isinstance(child.tag, str)]
        if len(transforms) != 1 or transforms[0].tag != TRANSFORM:
            raise UnsupportedAlgorithm("a reference must have exactly one exc-c14n transform")
        _algorithm(transforms[0], {EXC_C14N}, "transform")
        _algorithm(parts[1], {SHA256_DIGEST}, "digest")
