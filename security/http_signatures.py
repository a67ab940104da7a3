"""HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530), signed label ``sig1``.

Requests cover ``"@method" "@authority" "@path" "@query" "content-type" "content-digest"``
(``content-type`` when the request has one) with the parameters ``created``, ``expires``,
``keyid``, ``nonce`` and ``alg``. The target is covered as authority + path + query rather than
``@target-uri`` so that a TLS-terminating load balancer (which changes the scheme the server
sees) does not break verification; the verifier also accepts ``@target-uri`` in place of the
three. Responses cover ``"@status" "content-type" "content-digest"`` and are bound to their
request by ``"@method";req "@authority";req "@path";req "@query";req "signature";req;key="sig1"``
with ``created``, ``expires``, ``keyid`` and ``alg``.

Algorithms: ``ecdsa-p256-sha256`` (raw ``r || s``), ``rsa-pss-sha512`` (RSA default) and
``rsa-v1_5-sha256``. The verifier refuses anything else, a missing or mismatched digest, a
``created`` in the future beyond the skew, an ``expires`` in the past, a window longer than the
maximum, an uncovered required component and a nonce seen before inside its window.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from security import algorithms
from security.errors import (
    DigestMismatch,
    InvalidSignature,
    MissingSignature,
    ReplayedMessage,
    SecurityError,
    StaleMessage,
    UnknownKey,
    UnsupportedAlgorithm,
    UntrustedCertificate,
)
from security.keys import Credentials, PublicKey, load_certificate, party_of
from security.replay import ReplayCache
from security.structured_fields import (
    InnerList,
    Item,
    Token,
    parse_dictionary,
    serialize_item,
    serialize_member,
    serialize_params,
)
from security.trust import TrustStore

LABEL = "sig1"
DEFAULT_TTL = 60
DEFAULT_MAX_SKEW = 60
DEFAULT_MAX_VALIDITY = 300
ALGORITHMS = (
    algorithms.ECDSA_P256_SHA256,
    algorithms.RSA_PSS_SHA512,
    algorithms.RSA_V1_5_SHA256,
)
REQUEST_COMPONENTS = ("@method", "@authority", "@path", "@query")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_MAX_PORT = 65535
# A URL ``urlsplit`` would read without surprises: a lower-case http(s) scheme, a registered
# name or IPv4 host, at most a numeric port, printable ASCII, no fragment. Anything else is
# read by ``urlsplit`` itself.
_PLAIN_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?"
    r"(/[\x21\x22\x24-\x3e\x40-\x7e]*)?(?:\?([\x21\x22\x24-\x7e]*))?"
)
_KEYID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]


# --------------------------------------------------------------------------------- digests


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body`` (``sha-256=:…:``)."""
    return f"sha-256=:{_b64(hashlib.sha256(body).digest())}:"


_FAST_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")


def check_content_digest(value: str | None, body: bytes) -> None:
    """Raise :class:`DigestMismatch` unless ``value`` holds a matching sha-256/sha-512 digest."""
    if not value:
        raise DigestMismatch("the message has no Content-Digest", reason="missing_digest")
    fast = _FAST_DIGEST.fullmatch(value)
    if fast is not None:
        expected = _b64(hashlib.sha256(body).digest())
        if not hmac.compare_digest(fast.group(1), expected):
            raise DigestMismatch("the body does not match its Content-Digest")
        return
    try:
        members = parse_dictionary(value)
    except ValueError as exc:
        raise DigestMismatch("the Content-Digest is malformed", reason="malformed_digest") from exc
    checked = False
    for name, function in (("sha-256", hashlib.sha256), ("sha-512", hashlib.sha512)):
        member = members.get(name)
        if member is None:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise DigestMismatch("the Content-Digest is malformed", reason="malformed_digest")
        if not hmac.compare_digest(member.value, function(body).digest()):
            raise DigestMismatch("the body does not match its Content-Digest")
        checked = True
    if not checked:
        raise UnsupportedAlgorithm("the Content-Digest uses no supported algorithm")


# ------------------------------------------------------------------------------ components


class HeaderFields(dict[str, str]):
    """Header fields as RFC 9421 §2.1 reads them: lower-case names, repeated fields combined.

    Made by :func:`header_fields`; pass one as the headers of every call about the same
    message (verifying a request, then signing its response) to read the headers once.
    """


def header_fields(headers: Headers) -> HeaderFields:
    """``headers`` (str or latin-1 bytes pairs, or a mapping) as :class:`HeaderFields`."""
    return headers if isinstance(headers, HeaderFields) else _header_map(headers)


def _header_map(headers: Headers) -> HeaderFields:
    """A new map of lower-cased header names to their combined value (RFC 9421 §2.1)."""
    items: Iterable[tuple[str | bytes, str | bytes]]
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        items = multi()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    combined = HeaderFields()
    for name, value in items:
        key = name.lower() if isinstance(name, str) else name.decode("latin-1").lower()
        text = value if isinstance(value, str) else value.decode("latin-1")
        text = text.strip(" \t")
        combined[key] = f"{combined[key]}, {text}" if key in combined else text
    return combined


class _Target(NamedTuple):
    scheme: str
    authority: str
    path: str
    query: str

    @classmethod
    def from_url(cls, url: str) -> _Target:
        found = _PLAIN_URL.fullmatch(url)
        if found is None:
            return cls.from_split(url)
        scheme, host, port, path, query = found.groups()
        authority = host.lower()
        if port is not None:
            if int(port) > _MAX_PORT:
                return cls.from_split(url)  # refused there, with the precise error
            if str(int(port)) != _DEFAULT_PORTS[scheme]:
                authority = f"{authority}:{int(port)}"
        return cls(scheme, authority, path or "/", "?" + (query or ""))

    @classmethod
    def from_split(cls, url: str) -> _Target:
        """Any URL, through ``urlsplit`` (``from_url`` reads the plain ones itself)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:  # a bad port, or an unclosed IPv6 bracket
            raise InvalidSignature(
                "the target URL is malformed", reason="malformed_target"
            ) from exc
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"
        authority = host
        if port is not None and str(port) != _DEFAULT_PORTS.get(scheme):
            authority = f"{host}:{port}"
        return cls(scheme, authority, parts.path or "/", "?" + parts.query)

    @property
    def target_uri(self) -> str:
        query = "" if self.query == "?" else self.query
        return f"{self.scheme}://{self.authority}{self.path}{query}"


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


def _b64(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


# ---------------------------------------------------------------------------------- signer


class _Covered(NamedTuple):
    """What a signer covers: the compiled components and their inner list, ``(…)``."""

    plan: _Plan
    inner_list: str


def _covered(*components: Item) -> _Covered:
    ids = [serialize_item(item) for item in components]
    return _Covered(_plan(components, ids), "(" + " ".join(ids) + ")")


def _response_covered(typed: bool, bound_signature: bool) -> _Covered:
    components = [Item("@status")]
    if typed:
        components.append(Item("content-type"))
    components.append(Item("content-digest"))
    components += [Item(name, {"req": True}) for name in REQUEST_COMPONENTS]
    if bound_signature:
        components.append(Item("signature", {"req": True, "key": LABEL}))
    return _covered(*components)


_REQUEST_COVERED = {
    typed: _covered(
        *(Item(name) for name in REQUEST_COMPONENTS),
        *([Item("content-type")] if typed else []),
        Item("content-digest"),
    )
    for typed in (True, False)
}
#: by (the response has a content-type, the request carries a signature)
_RESPONSE_COVERED = {
    (typed, bound): _response_covered(typed, bound)
    for typed in (True, False)
    for bound in (True, False)
}


class HttpSigner:
    """Signs requests and responses with one party's key (``keyid`` = the party)."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        ttl: int = DEFAULT_TTL,
        keyid: str | None = None,
        rsa_scheme: str = algorithms.RSA_PSS_SHA512,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = credentials.key
        self.keyid = keyid or credentials.party
        self.algorithm = algorithms.default_scheme(credentials.key, rsa_scheme=rsa_scheme)
        self._ttl = ttl
        self._clock = clock
        # the parameters after created/expires/nonce never change
        self._params_tail = serialize_params({"keyid": self.keyid, "alg": self.algorithm})

    def _sign(self, message: _Message, covered: _Covered, *, nonce: bool) -> dict[str, str]:
        created = int(self._clock())
        params_text = f"{covered.inner_list};created={created};expires={created + self._ttl}"
        if nonce:  # token_urlsafe is [A-Za-z0-9_-]: an sf-string with nothing to escape
            params_text += f';nonce="{secrets.token_urlsafe(16)}"'
        params_text += self._params_tail
        base = _signature_base(message, covered.plan, params_text)
        value = algorithms.sign(self._key, self.algorithm, base)
        return {
            "Signature-Input": f"{LABEL}={params_text}",
            "Signature": f"{LABEL}=:{_b64(value)}:",
        }

    def sign_request(self, method: str, url: str, headers: Headers, body: bytes) -> dict[str, str]:
        """Headers to add to the request: Content-Digest, Signature-Input, Signature."""
        header_map = _header_map(headers)
        digest = content_digest(body)
        header_map["content-digest"] = digest
        message = _Message(method.upper(), _Target.from_url(url), header_map)
        covered = _REQUEST_COVERED["content-type" in header_map]
        return {"Content-Digest": digest, **self._sign(message, covered, nonce=True)}

    def sign_response(
        self, status: int, headers: Headers, body: bytes, *, request: RequestView
    ) -> dict[str, str]:
        """Headers to add to the response, bound to ``request`` (whose signature it covers)."""
        header_map = _header_map(headers)
        digest = content_digest(body)
        header_map["content-digest"] = digest
        bound = _Message.request_of(request.method, request.url, request.headers)
        message = _Message(None, None, header_map, status=status, request=bound)
        covered = _RESPONSE_COVERED["content-type" in header_map, "signature" in bound.headers]
        return {"Content-Digest": digest, **self._sign(message, covered, nonce=False)}


# -------------------------------------------------------------------------------- resolvers


@dataclass(frozen=True)
class ResolvedKey:
    """The public key a keyid names, and its certificate when there is one."""

    keyid: str
    public_key: PublicKey
    certificate: x509.Certificate | None = None


class KeyResolver(Protocol):
    """Finds the public key for a ``keyid``; raises a ``CertificateError`` when it cannot."""

    def resolve(self, keyid: str) -> ResolvedKey:
        """The key for ``keyid``, validated; raise ``UnknownKey`` or another CertificateError."""
        ...


def _public_key(value: x509.Certificate | PublicKey) -> PublicKey:
    key = value.public_key() if isinstance(value, x509.Certificate) else value
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise UnsupportedAlgorithm("the key is neither ECDSA nor RSA")
    return key


_Known = tuple[ResolvedKey, float, float]  # a resolved key and when its certificate path is valid


def _still_valid(known: _Known | None) -> ResolvedKey | None:
    """The cached key while its certificate path is inside its validity period (checked now)."""
    if known is None:
        return None
    resolved, not_before, not_after = known
    return resolved if not_before <= time.time() <= not_after else None


class TrustedKeyDirectory:
    """Resolves ``keyid`` to ``keys_dir/<keyid>/cert.pem``, validated against the trust store.

    The certificate's subject CN must equal the keyid. Certificates are read once and kept;
    the trust store re-checks their validity period on every resolution.
    """

    def __init__(self, keys_dir: Path | str, trust: TrustStore) -> None:
        self._dir = Path(keys_dir)
        self._trust = trust
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def resolve(self, keyid: str) -> ResolvedKey:
        known = self._known.get(keyid)
        if known is None:
            known = self._load(keyid)
        resolved = _still_valid(known)
        if resolved is None:
            assert known[0].certificate is not None
            self._trust.validate(known[0].certificate)  # raises the precise error
            resolved = known[0]
        return resolved

    def _load(self, keyid: str) -> _Known:
        if _KEYID.fullmatch(keyid) is None:
            raise UnknownKey("the keyid is not a valid party name")
        path = self._dir / keyid / "cert.pem"
        if not path.is_file():
            raise UnknownKey("no certificate is known for this keyid")
        cert = load_certificate(path)
        if party_of(cert) != keyid:
            raise UntrustedCertificate(
                "the certificate for this keyid names another party", reason="keyid_mismatch"
            )
        not_before, not_after = self._trust.validity_window(cert)
        known = (
            ResolvedKey(keyid, _public_key(cert), cert),
            not_before.timestamp(),
            not_after.timestamp(),
        )
        with self._lock:
            self._known[keyid] = known
        return known


class StaticKeyResolver:
    """Resolves keyids from a mapping (registered clients) of certificates or public keys.

    Certificates are validated against ``trust`` when one is given. A key that resolved is
    kept with its certificate path's validity window, which is checked on every resolution;
    outside it the trust store is asked again (and says why it refuses).
    """

    def __init__(
        self,
        keys: Mapping[str, x509.Certificate | PublicKey],
        trust: TrustStore | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._trust = trust
        self._known: dict[str, _Known] = {}

    def resolve(self, keyid: str) -> ResolvedKey:
        resolved = _still_valid(self._known.get(keyid))
        if resolved is not None:
            return resolved
        value = self._keys.get(keyid)
        if value is None:
            raise UnknownKey("no key is registered for this keyid")
        if not isinstance(value, x509.Certificate):
            resolved = ResolvedKey(keyid, _public_key(value))
            self._known[keyid] = (resolved, -math.inf, math.inf)
            return resolved
        window = (-math.inf, math.inf)
        if self._trust is not None:
            self._trust.validate(value)
            not_before, not_after = self._trust.validity_window(value)
            window = (not_before.timestamp(), not_after.timestamp())
        resolved = ResolvedKey(keyid, _public_key(value), value)
        self._known[keyid] = (resolved, *window)
        return resolved


# The usual headers (one ``sig1`` member, canonical form) are read with regular expressions;
# anything else goes through the full RFC 8941 parser. The fast form only accepts text that is
# already canonical, so its raw inner list is exactly the serialized ``@signature-params``.
_SF_KEY = r"[a-z*][a-z0-9_\-.*]*"
_SF_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_SF_VALUE = rf"(?:0|-?[1-9][0-9]{{0,14}}|{_SF_STRING}|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*)"
_COMPONENT = rf"{_SF_STRING}(?:;{_SF_KEY}(?:={_SF_STRING})?)*"
_FAST_INPUT = re.compile(
    rf"{LABEL}=(\(((?:{_COMPONENT})(?: {_COMPONENT})*)?\)((?:;{_SF_KEY}={_SF_VALUE})*))"
)
_FAST_COMPONENT = re.compile(_COMPONENT)
_FAST_COMPONENT_PARAM = re.compile(rf";({_SF_KEY})(?:=\"([^\"\\\\]*)\")?")
_FAST_PARAM = re.compile(rf";({_SF_KEY})=({_SF_VALUE})")
_FAST_SIGNATURE = re.compile(rf"{LABEL}=:([A-Za-z0-9+/]*={{0,2}}):")


_INNER_LIST = re.compile(rf"(?:{_COMPONENT})(?: {_COMPONENT})*")
_SF_INTEGER = r"(0|[1-9][0-9]{0,14})"
# exactly the form HttpSigner writes (nonce on requests only)
_SIGNER_INPUT = re.compile(
    rf"{LABEL}=(\(([^()]*)\);created={_SF_INTEGER};expires={_SF_INTEGER}"
    r'(?:;nonce="([A-Za-z0-9_-]*)")?;keyid="([A-Za-z0-9._-]*)";alg="([a-z0-9_-]*)")'
)


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


# -------------------------------------------------------------------------------- verifier


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose signature verified: who signed it, when, and what it covered."""

    keyid: str
    created: int
    expires: int
    nonce: str
    algorithm: str
    components: tuple[str, ...]
    certificate: x509.Certificate | None = None


class _Parsed(NamedTuple):
    plan: _Plan
    params: dict[str, Any]
    params_text: str
    signature: bytes

    @property
    def ids(self) -> tuple[str, ...]:
        return self.plan.ids


class HttpVerifier:
    """Verifies signed requests (and the responses to our own signed requests)."""

    def __init__(
        self,
        resolver: KeyResolver,
        replay_cache: ReplayCache | None,
        *,
        max_skew: int = DEFAULT_MAX_SKEW,
        max_validity: int = DEFAULT_MAX_VALIDITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._resolver = resolver
        self._replay = replay_cache
        self._max_skew = max_skew
        self._max_validity = max_validity
        self._clock = clock

    # -- parsing and policy

    @staticmethod
    def _parse(headers: dict[str, str]) -> _Parsed:
        inputs, signatures = headers.get("signature-input"), headers.get("signature")
        if not inputs or not signatures:
            raise MissingSignature("the message carries no HTTP message signature")
        return _fast_parse(inputs, signatures) or _full_parse(inputs, signatures)

    def _check_times(self, params: dict[str, Any], now: int, *, need_nonce: bool) -> None:
        created, expires = params.get("created"), params.get("expires")
        for name, value in (("created", created), ("expires", expires)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise StaleMessage(
                    f"the signature has no integer '{name}' parameter", reason="missing_timestamp"
                )
        assert isinstance(created, int)
        assert isinstance(expires, int)
        keyid = params.get("keyid")
        if not isinstance(keyid, str) or not keyid:
            raise MissingSignature("the signature has no keyid", reason="missing_keyid")
        if need_nonce and (not isinstance(params.get("nonce"), str) or not params["nonce"]):
            raise MissingSignature("the signature has no nonce", reason="missing_nonce")
        if expires <= created:
            raise StaleMessage(
                "the signature expires before it is created", reason="malformed_timestamp"
            )
        if expires - created > self._max_validity:
            raise StaleMessage(
                "the signature's validity window is too long", reason="timestamp_too_long"
            )
        if created > now + self._max_skew:
            raise StaleMessage(
                "the signature is created in the future", reason="timestamp_in_future"
            )
        if expires < now - self._max_skew:
            raise StaleMessage("the signature has expired")

    @staticmethod
    def _require(covered: frozenset[str], required: Iterable[str], what: str) -> None:
        missing = [name for name in required if name not in covered]
        if missing:
            raise MissingSignature(
                f"the {what} signature does not cover {', '.join(missing)}",
                reason="unsigned_component",
            )

    def _key_for(self, keyid: str, params: dict[str, Any]) -> tuple[ResolvedKey, str]:
        resolved = self._resolver.resolve(keyid)
        declared = params.get("alg")
        if declared is not None:
            if declared not in ALGORITHMS:
                raise UnsupportedAlgorithm("the signature algorithm is not allowed")
            scheme = str(declared)
        else:
            scheme = algorithms.default_scheme(resolved.public_key)
        if not algorithms.key_matches(scheme, resolved.public_key):
            raise UnsupportedAlgorithm(
                "the signature algorithm does not fit the signer's key",
                reason="algorithm_key_mismatch",
            )
        return resolved, scheme

    # -- requests

    def verify_request(
        self, method: str, url: str, headers: Headers, body: bytes | None
    ) -> VerifiedRequest:
        """Verify a signed request; raise a ``SecurityError`` saying why if it is refused.

        ``body=None`` is for a body deliberately withheld from an archive (it held a secret):
        the signature, which covers the ``Content-Digest`` header, is still checked; that the
        header matches the body cannot be.
        """
        message = _Message.request_of(method, url, headers)
        parsed = self._parse(message.headers)
        params = parsed.params
        alg = params.get("alg")
        if alg is not None and alg not in ALGORITHMS:
            raise UnsupportedAlgorithm("the signature algorithm is not allowed")
        now = int(self._clock())
        self._check_times(params, now, need_nonce=True)
        covered = parsed.plan.names
        target = (
            ['"@target-uri"']
            if '"@target-uri"' in covered
            else [f'"{name}"' for name in REQUEST_COMPONENTS]
        )
        required = ['"@method"', *target, '"content-digest"']
        if "content-type" in message.headers:
            required.append('"content-type"')
        self._require(covered, required, "request")
        if body is not None:
            check_content_digest(message.headers.get("content-digest"), body)
        keyid = str(params["keyid"])
        resolved, scheme = self._key_for(keyid, params)
        base = _signature_base(message, parsed.plan, parsed.params_text)
        if not algorithms.verify(resolved.public_key, scheme, parsed.signature, base):
            raise InvalidSignature("the request signature does not verify")
        nonce = str(params["nonce"])
        expires = int(params["expires"])
        if self._replay is not None and self._replay.seen(keyid, nonce, expires + self._max_skew):
            raise ReplayedMessage("this request's nonce was already used")
        return VerifiedRequest(
            keyid,
            int(params["created"]),
            expires,
            nonce,
            scheme,
            parsed.ids,
            resolved.certificate,
        )

    # -- responses

    def verify_response(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        *,
        request: RequestView,
        expected_keyid: str | None = None,
    ) -> str:
        """Verify a signed response to ``request``; return the signer's keyid."""
        bound = _Message.request_of(request.method, request.url, request.headers)
        message = _Message(None, None, _header_map(headers), status=status, request=bound)
        parsed = self._parse(message.headers)
        params = parsed.params
        alg = params.get("alg")
        if alg is not None and alg not in ALGORITHMS:
            raise UnsupportedAlgorithm("the signature algorithm is not allowed")
        self._check_times(params, int(self._clock()), need_nonce=False)
        required = ['"@status"', '"content-digest"']
        if "content-type" in message.headers:
            required.append('"content-type"')
        if "signature" in bound.headers:
            required.append(f'"signature";req;key="{LABEL}"')
        self._require(parsed.plan.names, required, "response")
        check_content_digest(message.headers.get("content-digest"), body)
        keyid = str(params["keyid"])
        if expected_keyid is not None and keyid != expected_keyid:
            raise UntrustedCertificate(
                "the response is signed by another party than expected", reason="unexpected_party"
            )
        resolved, scheme = self._key_for(keyid, params)
        base = _signature_base(message, parsed.plan, parsed.params_text)
        if not algorithms.verify(resolved.public_key, scheme, parsed.signature, base):
            raise InvalidSignature("the response signature does not verify")
        return keyid


__all__ = [
    "ALGORITHMS",
    "LABEL",
    "HeaderFields",
    "HttpSigner",
    "HttpVerifier",
    "KeyResolver",
    "RequestView",
    "ResolvedKey",
    "StaticKeyResolver",
    "TrustedKeyDirectory",
    "VerifiedRequest",
    "check_content_digest",
    "content_digest",
    "header_fields",
]
