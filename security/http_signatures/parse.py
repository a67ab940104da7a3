"""Reading ``Signature-Input`` and ``Signature`` into what the verifier needs (:class:`Parsed`:
the compiled covered components, the parameters, the ``@signature-params`` text and the
signature bytes). :func:`parse_signature` takes the fast path (:func:`fast_parse`, from the
regular-expression readers of :mod:`~security.http_signatures.fast`) and, when it steps aside,
the general one (:func:`full_parse`, the RFC 8941 parser, which says what is wrong). A
message's :class:`~security.http_signatures.message.HeaderFields` keep what was read, so the
admission step and the verifier read a request's signature once.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from security.errors import InvalidSignature, MissingSignature
from security.http_signatures.components import Plan, params_text, plan
from security.http_signatures.fast import read_signature, read_signature_input
from security.http_signatures.message import HeaderFields
from security.http_signatures.names import LABEL
from security.structured_fields import InnerList, Item, parse_dictionary, serialize_item


class Parsed(NamedTuple):
    """A signature as read: covered components, parameters, their text, the signature bytes."""

    plan: Plan
    params: dict[str, Any]
    params_text: str
    signature: bytes

    @property
    def ids(self) -> tuple[str, ...]:
        return self.plan.ids


def parse_signature(headers: dict[str, str]) -> Parsed:
    """The ``sig1`` signature of a message's header fields; refused when absent or malformed."""
    inputs, signatures = headers.get("signature-input"), headers.get("signature")
    if not inputs or not signatures:
        raise MissingSignature("the message carries no HTTP message signature")
    if not isinstance(headers, HeaderFields):
        return fast_parse(inputs, signatures) or full_parse(inputs, signatures)
    read = headers.signature_read
    if read is not None and read[0] is inputs and read[1] is signatures:
        return cast(Parsed, read[2])  # the same two values, already read for this message
    parsed = fast_parse(inputs, signatures) or full_parse(inputs, signatures)
    headers.signature_read = (inputs, signatures, parsed)
    return parsed


def fast_parse(inputs: str, signatures: str) -> Parsed | None:
    """The usual headers, read by the fast path; ``None`` to leave them to :func:`full_parse`."""
    signature = read_signature(signatures)
    if signature is None:
        return None
    read = read_signature_input(inputs)
    if read is None:
        return None
    return Parsed(plan(read.components, read.ids), read.params, read.params_text, signature)


def full_parse(inputs: str, signatures: str) -> Parsed:
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
    return Parsed(
        plan(input_member.items, ids),
        params,
        params_text(ids, params),
        signature_member.value,
    )
