"""A request's target as the derived components read it: scheme, authority (lower-case host,
default port dropped, IPv6 bracketed), path and query, and the ``@target-uri`` they make. A
plain http(s) URL is read with one regular expression; any other URL goes through
``urlsplit``, which also refuses malformed ones (bad port, unclosed bracket).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from security.errors import InvalidSignature

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_MAX_PORT = 65535
# A URL ``urlsplit`` would read without surprises: a lower-case http(s) scheme, a registered
# name or IPv4 host, at most a numeric port, printable ASCII, no fragment. Anything else is
# read by ``urlsplit`` itself.
_PLAIN_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?"
    r"(/[\x21\x22\x24-\x3e\x40-\x7e]*)?(?:\?([\x21\x22\x24-\x7e]*))?"
)


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
