"""Reading ``Signature-Input`` and ``Signature`` into what the verifier needs (``_Parsed``: the
compiled covered components, the parameters, the ``@signature-params`` text and the signature
bytes). ``_fast_parse`` reads the signer's exact form or any canonical one-member form with
regular expressions (covered component lists cached) and steps aside otherwise;
``_full_parse`` reads anything through the RFC 8941 parser and says what is wrong.
"""

from __future__ import annotations

import binascii
from typing import Any, NamedTuple

from security.errors import InvalidSignature, MissingSignature
from security.http_signatures.components import _params_text, _Plan, _plan
from security.http_signatures.names import LABEL
from security.http_signatures.patterns import (
    _FAST_COMPONENT,
    _FAST_COMPONENT_PARAM,
    _FAST_INPUT,
    _FAST_PARAM,
    _FAST_SIGNATURE,
    _INNER_LIST,
    _SIGNER_INPUT,
)
from security.structured_fields import (
    InnerList,
    Item,
    Token,
    parse_dictionary,
    serialize_item,
)


class _Parsed(NamedTuple):
    plan: _Plan
    params: dict[str, Any]
    params_text: str
    signature: bytes

    @property
    def ids(self) -> tuple[str, ...]:
        return self.plan.ids


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
    found = _FAST_INPUT.fullmatch(inputs)
    if found is None:
        return None
    params: dict[str, Any] = {}
    raw_params = _FAST_PARAM.findall(found.group(3))
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


def _fast_parse(inputs: str, signatures: str) -> _Parsed | None:
    value = _FAST_SIGNATURE.fullmatch(signatures)
    if value is None:
        return None
    form = _signer_form(inputs) or _canonical_form(inputs)
    if form is None:
        return None
    params_text, inner, params = form
    covered = _fast_components(inner)
    if covered is None:
        return None
    try:
        signature = binascii.a2b_base64(value.group(1), strict_mode=True)
    except binascii.Error:
        return None
    return _Parsed(covered, params, params_text, signature)


_COMPONENT_CACHE: dict[str, _Plan | None] = {}


def _fast_components(text: str) -> _Plan | None:
    """The covered components of a canonical inner list (cached: signers repeat theirs)."""
    if text in _COMPONENT_CACHE:
        return _COMPONENT_CACHE[text]
    result = _read_components(text)
    if len(_COMPONENT_CACHE) >= 256:
        _COMPONENT_CACHE.clear()
    _COMPONENT_CACHE[text] = result
    return result


def _read_components(text: str) -> _Plan | None:
    if text and _INNER_LIST.fullmatch(text) is None:
        return None
    components: list[Item] = []
    ids: list[str] = []
    for part in _FAST_COMPONENT.finditer(text):
        item_text = part.group()
        end = item_text.index('"', 1)
        item_params: dict[str, Any] = {
            param.group(1): True if param.group(2) is None else param.group(2)
            for param in _FAST_COMPONENT_PARAM.finditer(item_text, end + 1)
        }
        if len(item_params) != item_text.count(";"):
            return None
        components.append(Item(item_text[1:end], item_params))
        ids.append(item_text)
    if len(set(ids)) != len(ids):
        return None
    return _plan(components, ids)


def _full_parse(inputs: str, signatures: str) -> _Parsed:
    """Any Signature-Input / Signature pair, through the RFC 8941 parser."""
    try:
        input_member = parse_dictionary(inputs).get(LABEL)
        signature_member = parse_dictionary(signatures).get(LABEL)
    except ValueError as exc:
        raise InvalidSignature(
            "the Signature or Signature-Input header is malformed", reason="malformed_signature"
        ) from exc
    if input_member is None or signature_member is None:
        raise MissingSignature(f"the message carries no signature labelled {LABEL}")
    if not isinstance(input_member, InnerList) or not isinstance(signature_member, Item):
        raise InvalidSignature(
            "the signature headers have the wrong shape", reason="malformed_signature"
        )
    if not isinstance(signature_member.value, bytes):
        raise InvalidSignature(
            "the signature value is not a byte sequence", reason="malformed_signature"
        )
    ids = [serialize_item(item) for item in input_member.items]
    if len(set(ids)) != len(ids) or not all(
        isinstance(item.value, str) for item in input_member.items
    ):
        raise InvalidSignature(
            "the covered components are malformed or repeated", reason="malformed_signature"
        )
    params = dict(input_member.params)
    return _Parsed(
        _plan(input_member.items, ids),
        params,
        _params_text(ids, params),
        signature_member.value,
    )
