"""A message as the signer and the verifier read it.

* Header fields as RFC 9421 §2.1 reads them: :class:`HeaderFields` maps lower-case names to their
  value, repeated fields combined with ``", "`` and surrounding whitespace stripped; a message's
  headers are read into one once (:func:`header_fields`), from a mapping, str pairs, latin-1
  bytes pairs or a Starlette ``multi_items()`` source, and reused by every call about it.
* A request's target (:class:`Target`) as the derived components read it: scheme, authority
  (lower-case host, default port dropped, IPv6 bracketed), path and query, and the
  ``@target-uri`` they make. A plain http(s) URL is read by the fast path
  (:func:`~security.http_signatures.fast.read_plain_url`); any other URL through ``urlsplit``,
  which also refuses malformed ones (bad port, unclosed bracket).
* :class:`Message` (method, target, headers, status and the request a response answers) and
  :class:`RequestView`, the request as the signer or verifier of its response sees it.
* RFC 9530 ``Content-Digest``: the value the signer writes (sha-256) and the check the verifier
  makes (sha-256 or sha-512, compared in constant time).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple
from urllib.parse import urlsplit

from security.errors import DigestMismatch, InvalidSignature, UnsupportedAlgorithm
from security.http_signatures.fast import read_plain_url, read_sha256_digest
from security.http_signatures.names import Headers
from security.structured_fields import Item, parse_dictionary

# ---------------------------------------------------------------------------- header fields


class HeaderFields(dict[str, str]):
    """Header fields as RFC 9421 §2.1 reads them: lower-case names, repeated fields combined.

    Made by :func:`header_fields`; pass one as the headers of every call about the same
    message (verifying a request, then signing its response) to read the headers once.
    """

    #: the ``sig1`` signature read from these fields, with the ``Signature-Input`` and
    #: ``Signature`` values it was read from (kept by
    #: :func:`~security.http_signatures.parse.parse_signature`: admitting a request and
    #: verifying it read its signature once; that module's ``Parsed``, held here as an object so
    #: that the header fields know nothing of the parser)
    signature_read: tuple[str, str, object] | None = None


def header_fields(headers: Headers) -> HeaderFields:
    """``headers`` (str or latin-1 bytes pairs, or a mapping) as :class:`HeaderFields`."""
    return headers if isinstance(headers, HeaderFields) else new_header_fields(headers)


def new_header_fields(headers: Headers) -> HeaderFields:
    """A new map of lower-cased header names to their combined value (RFC 9421 §2.1)."""
    if type(headers) is list:  # ASGI's latin-1 pairs, the usual case
        try:
            return _latin1_header_fields(headers)
        except AttributeError:  # a str among them: the general reading below
            pass
    return _any_header_fields(headers)


def _latin1_header_fields(headers: list[tuple[bytes, bytes]]) -> HeaderFields:
    """:func:`new_header_fields` of byte pairs (``AttributeError`` on a str among them)."""
    combined = HeaderFields()
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip(" \t")
        if key in combined:
            text = f"{combined[key]}, {text}"
        combined[key] = text
    return combined


def _any_header_fields(headers: Headers) -> HeaderFields:
    """:func:`new_header_fields` of any form of header fields (a mapping, str or bytes pairs)."""
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


# ----------------------------------------------------------------------------------- target

_DEFAULT_PORTS = {"http": "80", "https": "443"}


class Target(NamedTuple):
    """A request's target as the derived components read it."""

    scheme: str
    authority: str
    path: str
    query: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        """Any URL: a plain one by the fast path, any other through :meth:`from_split`."""
        plain = read_plain_url(url)
        return cls.from_split(url) if plain is None else cls(*plain)

    @classmethod
    def from_split(cls, url: str) -> Target:
        """Any URL, through ``urlsplit`` (the general path; refuses malformed ones)."""
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


# ---------------------------------------------------------------------------------- message


@dataclass(frozen=True)
class RequestView:
    """A request as seen by whoever signs or verifies its response (``;req`` components)."""

    method: str
    url: str
    headers: Headers

    @cached_property
    def message(self) -> Message:
        """The request as the covered components read it, read once (verified, then answered)."""
        return Message.request_of(self.method, self.url, self.headers)


class Message(NamedTuple):
    """A message as the covered components read it (a response also holds its request)."""

    method: str | None
    target: Target | None
    headers: dict[str, str]
    status: int | None = None
    request: Message | None = None

    @classmethod
    def request_of(cls, method: str, url: str, headers: Headers) -> Message:
        return cls(method.upper(), Target.from_url(url), header_fields(headers))


# --------------------------------------------------------------------------- Content-Digest


def b64(value: bytes) -> str:
    """``value`` in base64, as the signature headers write it."""
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body`` (``sha-256=:…:``)."""
    return f"sha-256=:{b64(hashlib.sha256(body).digest())}:"


def check_content_digest(value: str | None, body: bytes) -> None:
    """Raise :class:`DigestMismatch` unless ``value`` holds a matching sha-256/sha-512 digest."""
    if not value:
        raise DigestMismatch("the message has no Content-Digest", reason="missing_digest")
    usual = read_sha256_digest(value)
    if usual is not None:
        if not hmac.compare_digest(usual, hashlib.sha256(body).digest()):
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
