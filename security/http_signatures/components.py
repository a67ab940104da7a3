"""Covered components and the signature base (RFC 9421 §2): each covered component compiled
once into a getter of its value from a :class:`~security.http_signatures.message.Message`, which
raises the refusal it earns; the compiled list of a signature (:class:`Plan`, made by
:func:`plan` and cached by identifiers); and the signature base built from it with the
``@signature-params`` line (:func:`signature_base`, :func:`params_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, NamedTuple

from security.errors import InvalidSignature, SecurityError, UnsupportedAlgorithm
from security.http_signatures.fast import read_signature_member
from security.http_signatures.message import Message, Target
from security.http_signatures.names import LABEL
from security.structured_fields import Item, parse_dictionary, serialize_member, serialize_params

# A covered component is compiled once into a getter of its value from a message; a getter
# raises the refusal the component earns (checked in the order RFC 9421 §2 reads it).
_Getter = Callable[[Message], str]


def _refuse(error: type[SecurityError], text: str, reason: str | None = None) -> _Getter:
    def refuse(message: Message) -> str:
        raise error(text, reason=reason)

    return refuse


def _of_request(getter: _Getter) -> _Getter:
    """``;req``: the value is read from the request a response answers."""

    def of_request(message: Message) -> str:
        if message.request is None:
            raise InvalidSignature("a ;req component outside a response", reason="bad_component")
        return getter(message.request)

    return of_request


def _status(message: Message) -> str:
    if message.status is None:
        raise InvalidSignature("@status in a request signature", reason="bad_component")
    return f"{message.status:03d}"


def _unsupported(method: str, target: Target) -> str:
    raise UnsupportedAlgorithm("a covered derived component is not supported")


def _request_part(name: str, part: Callable[[str, Target], str]) -> _Getter:
    def request_part(message: Message) -> str:
        target, method = message.target, message.method
        if target is None or method is None:
            raise InvalidSignature(f"{name} needs a request", reason="bad_component")
        return part(method, target)

    return request_part


def _target_part(name: str, field: str) -> _Getter:
    """:func:`_request_part` of a part the target holds as it is (one call fewer)."""
    read: Callable[[Target], str] = attrgetter(field)

    def target_part(message: Message) -> str:
        target = message.target
        if target is None or message.method is None:
            raise InvalidSignature(f"{name} needs a request", reason="bad_component")
        return read(target)

    return target_part


_DERIVED: dict[str, Callable[[str, Target], str]] = {
    "@method": lambda method, target: method,
    "@request-target": lambda method, target: (
        target.path + ("" if target.query == "?" else target.query)
    ),
}
#: the derived components that are a field of the target, by the field's name
_TARGET_FIELDS = {
    "@authority": "authority",
    "@path": "path",
    "@query": "query",
    "@target-uri": "target_uri",
    "@scheme": "scheme",
}


def _header(name: str) -> _Getter:
    def header(message: Message) -> str:
        value = message.headers.get(name)
        if value is None:
            raise InvalidSignature(
                "a covered header is absent from the message", reason="missing_component"
            )
        return value

    return header


def _dictionary_member(name: str, key: str) -> _Getter:
    read = _header(name)

    def dictionary_member(message: Message) -> str:
        value = read(message)
        if key == LABEL:
            usual = read_signature_member(value)  # the fast path, else the parser below
            if usual is not None:
                return usual
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
        elif name in _TARGET_FIELDS:
            getter = _target_part(name, _TARGET_FIELDS[name])
        else:
            getter = _request_part(name, _DERIVED.get(name, _unsupported))
    elif "key" in params:
        getter = _dictionary_member(name, str(params["key"]))
    else:
        getter = _header(name)
    return _of_request(getter) if params.get("req") is True else getter


class Plan(NamedTuple):
    """Covered components, compiled: their identifiers (in order and as a set), their getters,
    and the start of each one's line of the signature base (``"<identifier>": ``)."""

    ids: tuple[str, ...]
    names: frozenset[str]
    getters: tuple[_Getter, ...]
    labels: tuple[str, ...]


_PLANS: dict[tuple[str, ...], Plan] = {}


def plan(components: Iterable[Item], ids: Iterable[str]) -> Plan:
    """The getters of the covered components, in order (cached by their identifiers)."""
    key = tuple(ids)
    compiled = _PLANS.get(key)
    if compiled is None:
        getters = tuple(map(_compile, components))
        if len(getters) != len(key):
            raise ValueError("one identifier per covered component")
        compiled = Plan(key, frozenset(key), getters, tuple(f"{text}: " for text in key))
        if len(_PLANS) >= 256:
            _PLANS.clear()
        _PLANS[key] = compiled
    return compiled


def signature_base(message: Message, covered: Plan, signature_params: str) -> bytes:
    """The signature base of ``message`` over the ``covered`` components (RFC 9421 §2.5)."""
    lines = []
    for label, getter in zip(covered.labels, covered.getters, strict=True):
        value = getter(message)
        if "\n" in value or "\r" in value:
            raise InvalidSignature("a covered value holds a line break", reason="bad_component")
        lines.append(label + value)
    lines.append('"@signature-params": ' + signature_params)
    try:
        return "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise InvalidSignature("a covered value is not ASCII", reason="bad_component") from exc


def params_text(ids: list[str], params: dict[str, Any]) -> str:
    """The ``@signature-params`` value: the inner list of ``ids`` and the parameters."""
    return "(" + " ".join(ids) + ")" + serialize_params(params)
