"""The signer: :class:`HttpSigner` adds ``Content-Digest``, ``Signature-Input`` and ``Signature``
to a request (covering method, authority, path, query, content-type and digest, with a nonce,
and the accountability fields ``X-Request-Id``, ``X-User-Id`` and ``X-Issue`` when present)
or to a response (covering status, content-type, digest and the request's parts and
signature). The covered component lists are compiled once, and the parameters after
``created``/``expires``/``nonce`` are serialized once per signer.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from security import algorithms
from security.http_signatures.components import Plan, plan, signature_base
from security.http_signatures.message import (
    Message,
    RequestView,
    Target,
    b64,
    content_digest,
    new_header_fields,
)
from security.http_signatures.names import (
    COVERED_WHEN_PRESENT,
    DEFAULT_TTL,
    LABEL,
    REQUEST_COMPONENTS,
    Headers,
)
from security.keys import Credentials
from security.structured_fields import Item, serialize_item, serialize_params


class _Covered(NamedTuple):
    """What a signer covers: the compiled components and their inner list, ``(…)``."""

    plan: Plan
    inner_list: str


def _covered(*components: Item) -> _Covered:
    ids = [serialize_item(item) for item in components]
    return _Covered(plan(components, ids), "(" + " ".join(ids) + ")")


def _response_covered(typed: bool, bound_signature: bool) -> _Covered:
    components = [Item("@status")]
    if typed:
        components.append(Item("content-type"))
    components.append(Item("content-digest"))
    components += [Item(name, {"req": True}) for name in REQUEST_COMPONENTS]
    if bound_signature:
        components.append(Item("signature", {"req": True, "key": LABEL}))
    return _covered(*components)


def _request_covered(typed: bool, present: tuple[str, ...]) -> _Covered:
    return _covered(
        *(Item(name) for name in REQUEST_COMPONENTS),
        *([Item("content-type")] if typed else []),
        Item("content-digest"),
        *(Item(name) for name in present),
    )


#: by (the request has a content-type, the COVERED_WHEN_PRESENT fields it carries); made on demand
_REQUEST_COVERED: dict[tuple[bool, tuple[str, ...]], _Covered] = {}
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

    def _sign(self, message: Message, covered: _Covered, *, nonce: bool) -> dict[str, str]:
        created = int(self._clock())
        params_text = f"{covered.inner_list};created={created};expires={created + self._ttl}"
        if nonce:  # token_urlsafe is [A-Za-z0-9_-]: an sf-string with nothing to escape
            params_text += f';nonce="{secrets.token_urlsafe(16)}"'
        params_text += self._params_tail
        base = signature_base(message, covered.plan, params_text)
        value = algorithms.sign(self._key, self.algorithm, base)
        return {
            "Signature-Input": f"{LABEL}={params_text}",
            "Signature": f"{LABEL}=:{b64(value)}:",
        }

    def sign_request(self, method: str, url: str, headers: Headers, body: bytes) -> dict[str, str]:
        """Headers to add to the request: Content-Digest, Signature-Input, Signature."""
        header_map = new_header_fields(headers)
        digest = content_digest(body)
        header_map["content-digest"] = digest
        message = Message(method.upper(), Target.from_url(url), header_map)
        key = (
            "content-type" in header_map,
            tuple(name for name in COVERED_WHEN_PRESENT if name in header_map),
        )
        covered = _REQUEST_COVERED.get(key)
        if covered is None:
            covered = _REQUEST_COVERED[key] = _request_covered(*key)
        return {"Content-Digest": digest, **self._sign(message, covered, nonce=True)}

    def sign_response(
        self, status: int, headers: Headers, body: bytes, *, request: RequestView
    ) -> dict[str, str]:
        """Headers to add to the response, bound to ``request`` (whose signature it covers)."""
        header_map = new_header_fields(headers)
        digest = content_digest(body)
        header_map["content-digest"] = digest
        bound = request.message
        message = Message(None, None, header_map, status=status, request=bound)
        covered = _RESPONSE_COVERED["content-type" in header_map, "signature" in bound.headers]
        return {"Content-Digest": digest, **self._sign(message, covered, nonce=False)}
