"""The fast path: the usual forms read with regular expressions, or ``None`` to step aside.

Every reader here answers only for text it reads exactly as the general path would, and returns
``None`` for anything else, which the general path (``urlsplit``, the RFC 8941 parser in
:mod:`security.structured_fields`) then reads and, when it must, refuses with the precise
error. The readers, each with its general twin:

* :func:`read_plain_url` — a plain http(s) URL (``Target.from_split`` in
  :mod:`~security.http_signatures.message`);
* :func:`read_sha256_digest` — the one-member sha-256 ``Content-Digest``
  (``check_content_digest``'s dictionary reading);
* :func:`read_signature` and :func:`read_signature_member` — the one-member ``sig1``
  ``Signature`` header (``full_parse`` in :mod:`~security.http_signatures.parse`, and the
  ``"signature";key="sig1"`` component getter);
* :func:`read_signature_input` — the exact form :class:`~security.http_signatures.HttpSigner`
  writes, or any canonical one-member ``Signature-Input`` (``full_parse``).

``tests/unit/test_security_http_fast_paths.py`` runs each reader and its general twin over the
same inputs, tables and generated ones, and requires the same values and the same refusals.
"""

from __future__ import annotations

import binascii
import re
from functools import lru_cache
from typing import Any, NamedTuple

from security.http_signatures.names import LABEL
from security.structured_fields import Item, Token

# ------------------------------------------------------------------------------------ URLs

_DEFAULT_PORTS = {"http": "80", "https": "443"}
MAX_PORT = 65535
#: A URL ``urlsplit`` would read without surprises: a lower-case http(s) scheme, a registered
#: name or IPv4 host, at most a numeric port, printable ASCII, no fragment.
PLAIN_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?"
    r"(/[\x21\x22\x24-\x3e\x40-\x7e]*)?(?:\?([\x21\x22\x24-\x7e]*))?"
)


def read_plain_url(url: str) -> tuple[str, str, str, str] | None:
    """Scheme, authority, path and query (``?…``) of a plain http(s) URL; ``None`` otherwise."""
    found = PLAIN_URL.fullmatch(url)
    if found is None:
        return None
    scheme, host, port, path, query = found.groups()
    authority = host.lower()
    if port is not None:
        if int(port) > MAX_PORT:
            return None  # refused by the general reading, with the precise error
        if str(int(port)) != _DEFAULT_PORTS[scheme]:
            authority = f"{authority}:{int(port)}"
    return scheme, authority, path or "/", "?" + (query or "")


# ---------------------------------------------------------------------------- Content-Digest

_SHA256_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")


def read_sha256_digest(value: str) -> bytes | None:
    """The digest in a one-member sha-256 ``Content-Digest``; ``None`` otherwise.

    Decoded as the RFC 8941 parser decodes a byte sequence (non-zero padding bits ignored), so
    that both readings accept and refuse the same values.
    """
    found = _SHA256_DIGEST.fullmatch(value)
    return None if found is None else binascii.a2b_base64(found.group(1))


# ------------------------------------------------------------------------------- Signature

_SIGNATURE = re.compile(rf"{LABEL}=:([A-Za-z0-9+/]*={{0,2}}):")


@lru_cache(maxsize=256)
def read_signature(value: str) -> bytes | None:
    """The bytes of a one-member ``sig1`` ``Signature`` header; ``None`` otherwise.

    Kept for the last few values: a request's is read when it is verified, and again when its
    response covers it (``"signature";req;key="sig1"``).
    """
    found = _SIGNATURE.fullmatch(value)
    if found is None:
        return None
    try:
        return binascii.a2b_base64(found.group(1), strict_mode=True)
    except binascii.Error:
        return None  # the full parser says what is wrong with it


def read_signature_member(value: str) -> str | None:
    """The ``sig1`` member re-serialized (``:…:``), as parse + serialize would give it."""
    signature = read_signature(value)
    if signature is None:
        return None
    return f":{binascii.b2a_base64(signature, newline=False).decode('ascii')}:"


# ------------------------------------------------------------------------- Signature-Input

# The fast form only accepts text that is already canonical, so its raw inner list is exactly
# the serialized ``@signature-params``.
_SF_KEY = r"[a-z*][a-z0-9_\-.*]*"
_SF_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_SF_VALUE = rf"(?:0|-?[1-9][0-9]{{0,14}}|{_SF_STRING}|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*)"
_SF_INTEGER = r"(0|[1-9][0-9]{0,14})"
_COMPONENT = rf"{_SF_STRING}(?:;{_SF_KEY}(?:={_SF_STRING})?)*"
_INNER_LIST = re.compile(rf"(?:{_COMPONENT})(?: {_COMPONENT})*")
_CANONICAL_INPUT = re.compile(
    rf"{LABEL}=(\(((?:{_COMPONENT})(?: {_COMPONENT})*)?\)((?:;{_SF_KEY}={_SF_VALUE})*))"
)
_COMPONENT_ITEM = re.compile(_COMPONENT)
_COMPONENT_PARAM = re.compile(rf";({_SF_KEY})(?:=\"([^\"\\\\]*)\")?")
_PARAM = re.compile(rf";({_SF_KEY})=({_SF_VALUE})")
#: exactly the form HttpSigner writes (nonce on requests only)
_SIGNER_INPUT = re.compile(
    rf"{LABEL}=(\(([^()]*)\);created={_SF_INTEGER};expires={_SF_INTEGER}"
    r'(?:;nonce="([A-Za-z0-9_-]*)")?;keyid="([A-Za-z0-9._-]*)";alg="([a-z0-9_-]*)")'
)


class SignatureInput(NamedTuple):
    """A ``sig1`` Signature-Input as read: covered components, their identifiers, parameters."""

    components: tuple[Item, ...]
    ids: tuple[str, ...]
    params: dict[str, Any]
    params_text: str


def read_signature_input(inputs: str) -> SignatureInput | None:
    """The signer's form or any canonical one-member ``Signature-Input``; ``None`` otherwise."""
    form = _signer_form(inputs) or _canonical_form(inputs)
    if form is None:
        return None
    params_text, inner, params = form
    covered = _components(inner)
    if covered is None:
        return None
    return SignatureInput(covered[0], covered[1], params, params_text)


def _signer_form(inputs: str) -> tuple[str, str, dict[str, Any]] | None:
    """Signature-params text, inner list and parameters when ``inputs`` is the signer's form."""
    found = _SIGNER_INPUT.fullmatch(inputs)
    if found is None:
        return None
    params_text, inner, created, expires, nonce, keyid, alg = found.groups()
    params: dict[str, Any] = {"created": int(created), "expires": int(expires)}
    if nonce is not None:
        params["nonce"] = nonce
    params["keyid"] = keyid
    params["alg"] = alg
    return params_text, inner, params


def _canonical_form(inputs: str) -> tuple[str, str, dict[str, Any]] | None:
    """The same for any canonical one-member Signature-Input (parameters in any order)."""
    found = _CANONICAL_INPUT.fullmatch(inputs)
    if found is None:
        return None
    params: dict[str, Any] = {}
    raw_params = _PARAM.findall(found.group(3))
    for key, raw in raw_params:
        if raw.startswith('"'):
            params[key] = raw[1:-1]
        elif raw[0] == "-" or raw[0].isdigit():
            params[key] = int(raw)
        else:
            params[key] = Token(raw)
    if len(params) != len(raw_params):
        return None
    return found.group(1), found.group(2) or "", params


_Components = tuple[tuple[Item, ...], tuple[str, ...]]
_COMPONENT_CACHE: dict[str, _Components | None] = {}


def _components(text: str) -> _Components | None:
    """The covered components of a canonical inner list (cached: signers repeat theirs)."""
    if text in _COMPONENT_CACHE:
        return _COMPONENT_CACHE[text]
    result = _read_components(text)
    if len(_COMPONENT_CACHE) >= 256:
        _COMPONENT_CACHE.clear()
    _COMPONENT_CACHE[text] = result
    return result


def _read_components(text: str) -> _Components | None:
    if text and _INNER_LIST.fullmatch(text) is None:
        return None
    components: list[Item] = []
    ids: list[str] = []
    for part in _COMPONENT_ITEM.finditer(text):
        item_text = part.group()
        end = item_text.index('"', 1)
        item_params: dict[str, Any] = {
            param.group(1): True if param.group(2) is None else param.group(2)
            for param in _COMPONENT_PARAM.finditer(item_text, end + 1)
        }
        if len(item_params) != item_text.count(";"):
            return None
        components.append(Item(item_text[1:end], item_params))
        ids.append(item_text)
    if len(set(ids)) != len(ids):
        return None
    return tuple(components), tuple(ids)
