"""Wire messages as stored in the message log: one HTTP/1.1-style text per request or response.

A request is kept as ``METHOD URL HTTP/1.1`` (absolute URL), one ``name: value`` line per header
in the order sent, an empty line, then the body bytes exactly as sent; a response as
``HTTP/1.1 STATUS``, its headers, an empty line, the body exactly as received. Lines end with
CRLF. This is what ``request.http`` / ``response.http`` hold in an evidence bundle; for SOAP the
body alone (the signed envelope) is also written as ``request.xml`` / ``response.xml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_CRLF = b"\r\n"
_SEPARATOR = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A stored request: method, absolute URL, headers in order, body bytes."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class WireResponse:
    """A stored response: status, headers in order, body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


def endpoint_of(url: str) -> str:
    """``url`` without its query string and fragment (which may carry an identifier)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _header_lines(headers: Mapping[str, str]) -> bytes:
    """The ``name: value`` lines of ``headers``, each ending in CRLF; a name with a line break or
    a colon, or a value with a line break, is refused (``ValueError``).

    A ``dict`` of plain ``str`` names and values (what the connectors pass) is checked and joined
    in C, without a Python step per header: a character is in one of the names (values) exactly
    when it is in all of them joined, and UTF-8 encodes a text piece by piece. Anything else, and
    anything the quick way would refuse or fail to encode, takes :func:`_header_lines_plainly`,
    which decides (the same output or the same refusal: tests/unit/test_message_log_encoding.py).
    """
    if type(headers) is dict:
        values = headers.values()
        if {*map(type, headers), *map(type, values)} == _ONLY_STR:
            names = "".join(headers)
            text = names + "".join(values)  # every character of every name and value
            if ":" not in names and "\r" not in text and "\n" not in text:
                try:
                    return ("\r\n".join(map(": ".join, headers.items())) + "\r\n").encode()
                except UnicodeEncodeError:  # a lone surrogate: refused as the plain way refuses
                    pass
    return _header_lines_plainly(headers)


#: the set of the types of names and values that :func:`_header_lines` joins in C
_ONLY_STR = {str}


def _header_lines_plainly(headers: Mapping[str, str]) -> bytes:
    """:func:`_header_lines` one header at a time (the definition)."""
    lines = []
    for name, value in headers.items():
        if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
            raise ValueError("a header name or value cannot be stored on one line")
        lines.append(f"{name}: {value}\r\n".encode())
    return b"".join(lines)


def encode_request(method: str, url: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The stored form of a request."""
    start = f"{method} {url} HTTP/1.1\r\n".encode()
    return start + _header_lines(headers) + _CRLF + body


def encode_response(status: int | None, headers: Mapping[str, str], body: bytes) -> bytes:
    """The stored form of a response (status ``000`` when the transport gave none)."""
    start = f"HTTP/1.1 {status if status is not None else 0:03d}\r\n".encode()
    return start + _header_lines(headers) + _CRLF + body


def _split(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, found, body = data.partition(_SEPARATOR)
    if not found:
        raise ValueError("not a stored HTTP message: no end of headers")
    lines = head.split(_CRLF)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.decode().partition(": ")
        if not colon:
            raise ValueError("not a stored HTTP message: malformed header line")
        headers[name] = value
    return lines[0].decode(), headers, body


def decode_request(data: bytes) -> WireRequest:
    """Parse the stored form of a request."""
    start, headers, body = _split(data)
    method, url, version = [*start.split(" "), "", ""][:3]
    if version != "HTTP/1.1" or not method or not url:
        raise ValueError("not a stored HTTP request")
    return WireRequest(method, url, headers, body)


def decode_response(data: bytes) -> WireResponse:
    """Parse the stored form of a response."""
    start, headers, body = _split(data)
    version, _, status = start.partition(" ")
    if version != "HTTP/1.1" or not status.isdigit():
        raise ValueError("not a stored HTTP response")
    return WireResponse(int(status), headers, body)


def body_of(data: bytes) -> bytes:
    """The body of a stored message (everything after the end of the headers)."""
    return _split(data)[2]


__all__ = [
    "WireRequest",
    "WireResponse",
    "body_of",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "endpoint_of",
]
