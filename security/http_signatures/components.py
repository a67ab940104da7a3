"""Covered components and the signature base (RFC 9421 §2): a message as the components see it
(``_Message``, and :class:`RequestView` for the request a response answers), each covered
component compiled once into a getter of its value that raises the refusal it earns, the
compiled list of a signature (``_Plan``, cached by identifiers), and the signature base built
from it with the ``@signature-params`` line.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from security.errors import InvalidSignature, SecurityError, UnsupportedAlgorithm
from security.http_signatures.digest import _b64
from security.http_signatures.headers import header_fields
from security.http_signatures.names import LABEL, Headers
from security.http_signatures.patterns import _FAST_SIGNATURE
from security.http_signatures.targets import _Target
from security.structured_fields import Item, parse_dictionary, serialize_member, serialize_params


@dataclass(frozen=True)
class RequestView:
    """A request as seen by whoever signs or verifies its response (``;req`` components)."""

    method: str
    url: str
    headers: Headers


class _Message(NamedTuple):
    method: str | None
    target: _Target | None
    headers: dict[str, str]
    status: int | None = None
    request: _Message | None = None

    @classmethod
    def request_of(cls, method: str, url: str, headers: Headers) -> _Message:
        return cls(method.upper(), _Target.from_url(url), header_fields(headers))


# A covered component is compiled once into a getter of its value from a message; a getter
# raises the refusal the component earns (checked in the order RFC 9421 §2 reads it).
_Getter = Callable[[_Message], str]


def _refuse(error: type[SecurityError], text: str, reason: str | None = None) -> _Getter:
    def refuse(message: _Message) -> str:
        raise error(text, reason=reason)

    return refuse


def _of_request(getter: _Getter) -> _Getter:
    """``;req``: the value is read from the request a response answers."""

    def of_request(message: _Message) -> str:
        if message.request is None:
            raise InvalidSignature("a ;req component outside a response", reason="bad_component")
        return getter(message.request)

    return of_request


def _status(message: _Message) -> str:
    if message.status is None:
        raise InvalidSignature("@status in a request signature", reason="bad_component")
    return f"{message.status:03d}"


def _unsupported(method: str, target: _Target) -> str:
    raise UnsupportedAlgorithm("a covered derived component is not supported")


def _request_part(name: str, part: Callable[[str, _Target], str]) -> _Getter:
    def request_part(message: _Message) -> str:
        target, method = message.target, message.method
        if target is None or method is None:
            raise InvalidSignature(f"{name} needs a request", reason="bad_component")
        return part(method, target)

    return request_part


_DERIVED: dict[str, Callable[[str, _Target], str]] = {
    "@method": lambda method, target: method,
    "@authority": lambda method, target: target.authority,
    "@path": lambda method, target: target.path,
    "@query": lambda method, target: target.query,
    "@target-uri": lambda method, target: target.target_uri,
    "@scheme": lambda method, target: target.scheme,
    "@request-target": lambda method, target: (
        target.path + ("" if target.query == "?" else target.query)
    ),
}


def _header(name: str) -> _Getter:
    def header(message: _Message) -> str:
        value = message.headers.get(name)
        if value is None:
            raise InvalidSignature(
                "a covered header is absent from the message", reason="missing_component"
            )
        return value

    return header


def _dictionary_member(name: str, key: str) -> _Getter:
    read = _header(name)

    def dictionary_member(message: _Message) -> str:
        value = read(message)
        if key == LABEL:
            fast = _FAST_SIGNATURE.fullmatch(value)
            if fast is not None:
                # the usual one-member header: what the full parser would give, re-serialized
                try:
                    return f":{_b64(binascii.a2b_base64(fast.group(1), strict_mode=True))}:"
                except binascii.Error:
                    pass  # the full parser says what is wrong with it
        try:
            member = parse_dictionary(value).get(key)
        except ValueError as exc:
            raise InvalidSignature("a covered dictionary header is malformed") from exc
        if member is None:
            raise InvalidSignature(
                "a covered dictionary member is absent", reason="missing_component"
            )
        return serialize_member(member)

    return dictionary_member


def _compile(item: Item) -> _Getter:
    name = item.value
    if not isinstance(name, str) or name != name.lower():
        return _refuse(InvalidSignature, "a covered component is not a lower-case string")
    params = item.params
    getter: _Getter
    if set(params) - {"req", "key"}:
        getter = _refuse(UnsupportedAlgorithm, "a covered component uses an unsupported parameter")
    elif name.startswith("@"):
        if "key" in params:
            getter = _refuse(
                UnsupportedAlgorithm, "a derived component cannot have a key parameter"
            )
        elif name == "@status":
            getter = _status
        else:
            getter = _request_part(name, _DERIVED.get(name, _unsupported))
    elif "key" in params:
        getter = _dictionary_member(name, str(params["key"]))
    else:
        getter = _header(name)
    return _of_request(getter) if params.get("req") is True else getter


class _Plan(NamedTuple):
    """Covered components, compiled: their identifiers (in order and as a set), their getters."""

    ids: tuple[str, ...]
    names: frozenset[str]
    getters: tuple[_Getter, ...]


_PLANS: dict[tuple[str, ...], _Plan] = {}


def _plan(components: Iterable[Item], ids: Iterable[str]) -> _Plan:
    """The getters of the covered components, in order (cached by their identifiers)."""
    key = tuple(ids)
    plan = _PLANS.get(key)
    if plan is None:
        getters = tuple(map(_compile, components))
        if len(getters) != len(key):
            raise ValueError("one identifier per covered component")
        plan = _Plan(key, frozenset(key), getters)
        if len(_PLANS) >= 256:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _signature_base(message: _Message, plan: _Plan, params_text: str) -> bytes:
    lines = []
    for text, getter in zip(plan.ids, plan.getters, strict=True):
        value = getter(message)
        if "\n" in value or "\r" in value:
            raise InvalidSignature("a covered value holds a line break", reason="bad_component")
        lines.append(f"{text}: {value}")
    lines.append(f'"@signature-params": {params_text}')
    try:
        return "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise InvalidSignature("a covered value is not ASCII", reason="bad_component") from exc


def _params_text(ids: list[str], params: dict[str, Any]) -> str:
    return "(" + " ".join(ids) + ")" + serialize_params(params)
