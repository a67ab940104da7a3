"""The verifier: :class:`HttpVerifier` checks a signed request (returning a
:class:`VerifiedRequest`) or a signed response to one of our requests. In order: the
signature headers, the algorithm, the times (and nonce), the required covered components (with
the accountability fields the request carries), the authority it is addressed to, the
``Content-Digest``, the key and algorithm fit, the signature itself, and for requests the
nonce against the replay cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from security import algorithms
from security.errors import (
    InvalidSignature,
    MissingSignature,
    ReplayedMessage,
    StaleMessage,
    UnknownAuthority,
    UnsupportedAlgorithm,
    UntrustedCertificate,
)
from security.http_signatures.components import signature_base
from security.http_signatures.message import (
    Message,
    RequestView,
    check_content_digest,
    header_fields,
    new_header_fields,
)
from security.http_signatures.names import (
    ALGORITHMS,
    COVERED_WHEN_PRESENT,
    DEFAULT_MAX_SKEW,
    DEFAULT_MAX_VALIDITY,
    LABEL,
    REQUEST_COMPONENTS,
    Headers,
)
from security.http_signatures.parse import parse_signature
from security.http_signatures.resolvers import KeyResolver, ResolvedKey
from security.replay import ReplayCache

#: the components a request signature covers whatever the request: by ``@target-uri``, or by
#: the target's parts
_BY_TARGET_URI = ('"@method"', '"@target-uri"', '"content-digest"')
_BY_TARGET_PARTS = ('"@method"', *(f'"{name}"' for name in REQUEST_COMPONENTS), '"content-digest"')


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


class HttpVerifier:
    """Verifies signed requests (and the responses to our own signed requests).

    A request must cover each of ``covered_when_present`` that it carries (refused
    ``unsigned_component`` otherwise). ``authorities``, when given, are the only ``@authority``
    values a request may be addressed to (``host[:port]`` as the component reads it; refused
    ``unknown_authority`` otherwise): a request signed for another server is not ours to accept.
    """

    def __init__(
        self,
        resolver: KeyResolver,
        replay_cache: ReplayCache | None,
        *,
        max_skew: int = DEFAULT_MAX_SKEW,
        max_validity: int = DEFAULT_MAX_VALIDITY,
        clock: Callable[[], float] = time.time,
        covered_when_present: Iterable[str] = COVERED_WHEN_PRESENT,
        authorities: Collection[str] | None = None,
    ) -> None:
        self._resolver = resolver
        self._replay = replay_cache
        self._max_skew = max_skew
        self._max_validity = max_validity
        self._clock = clock
        #: each field covered when present, and its component identifier
        names = [name.lower() for name in covered_when_present]
        self._when_present_ids = tuple((name, f'"{name}"') for name in names)
        self._authorities = (
            None if authorities is None else frozenset(a.lower() for a in authorities)
        )

    # -- policy

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

    def claimed_signer(self, headers: Headers) -> str:
        """The keyid a request claims to be signed by, when that key is known; else refused.

        Reads only the signature headers (no body, no cryptography): a request with no
        signature (``missing_signature``), no keyid (``missing_keyid``) or a keyid naming no
        known key (``unknown_key``) can be refused before its body is read. The signature
        itself is checked later by :meth:`verify_request`.
        """
        keyid = parse_signature(header_fields(headers)).params.get("keyid")
        if not isinstance(keyid, str) or not keyid:
            raise MissingSignature("the signature has no keyid", reason="missing_keyid")
        self._resolver.resolve(keyid)
        return keyid

    def verify_request(
        self, method: str, url: str, headers: Headers, body: bytes | None
    ) -> VerifiedRequest:
        """Verify a signed request; raise a ``SecurityError`` saying why if it is refused.

        ``body=None`` is for a body deliberately withheld from an archive (it held a secret):
        the signature, which covers the ``Content-Digest`` header, is still checked; that the
        header matches the body cannot be.
        """
        return self._verified(Message.request_of(method, url, headers), body)

    def verify_view(self, request: RequestView, body: bytes | None) -> VerifiedRequest:
        """:meth:`verify_request` of ``request``, which keeps what was read of it (its target,
        its headers, its signature) for the signing of its response."""
        return self._verified(request.message, body)

    def _verified(self, message: Message, body: bytes | None) -> VerifiedRequest:
        parsed = parse_signature(message.headers)
        params = parsed.params
        alg = params.get("alg")
        if alg is not None and alg not in ALGORITHMS:
            raise UnsupportedAlgorithm("the signature algorithm is not allowed")
        now = int(self._clock())
        self._check_times(params, now, need_nonce=True)
        covered = parsed.plan.names
        headers = message.headers
        required = list(_BY_TARGET_URI if '"@target-uri"' in covered else _BY_TARGET_PARTS)
        if "content-type" in headers:
            required.append('"content-type"')
        required += [quoted for name, quoted in self._when_present_ids if name in headers]
        self._require(covered, required, "request")
        addressed = message.target
        if self._authorities is not None and (
            addressed is None or addressed.authority not in self._authorities
        ):
            raise UnknownAuthority(
                "the request is addressed to an authority this server does not answer for"
            )
        if body is not None:
            check_content_digest(message.headers.get("content-digest"), body)
        keyid = str(params["keyid"])
        resolved, scheme = self._key_for(keyid, params)
        base = signature_base(message, parsed.plan, parsed.params_text)
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
        body: bytes | None,
        *,
        request: RequestView,
        expected_keyid: str | None = None,
    ) -> str:
        """Verify a signed response to ``request``; return the signer's keyid.

        ``body=None``: withheld from an archive, as for :meth:`verify_request`.
        """
        bound = request.message
        message = Message(None, None, new_header_fields(headers), status=status, request=bound)
        parsed = parse_signature(message.headers)
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
        if body is not None:
            check_content_digest(message.headers.get("content-digest"), body)
        keyid = str(params["keyid"])
        if expected_keyid is not None and keyid != expected_keyid:
            raise UntrustedCertificate(
                "the response is signed by another party than expected", reason="unexpected_party"
            )
        resolved, scheme = self._key_for(keyid, params)
        base = signature_base(message, parsed.plan, parsed.params_text)
        if not algorithms.verify(resolved.public_key, scheme, parsed.signature, base):
            raise InvalidSignature("the response signature does not verify")
        return keyid
