"""The request-file format of ``lienthong sign http`` / ``verify http``.

A request file is an HTTP/1.1 request message as text::

    POST /v1/citizens/verify?trace=1 HTTP/1.1
    Host: adapter.example:8080
    Content-Type: application/json

    {"citizen_id": "..."}

The request line is ``METHOD SP request-target SP HTTP/1.1``; the target is either a path
(origin form, the authority then comes from the ``Host`` header) or an absolute URL. Header
lines follow, then one empty line, then the body: every byte after the empty line, as is (no
trailing newline is added or removed). Lines may end in CRLF or LF; the signed file keeps the
ending of its request line.
"""

from __future__ import annotations

from dataclasses import dataclass

from security.errors import RequestFileError

MAX_REQUEST_FILE = 10 * 1024 * 1024


@dataclass
class RequestFile:
    """A parsed request file."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    newline: str = "\r\n"
    version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def url(self, scheme: str = "http") -> str:
        """The absolute target URL (the ``Host`` header names the authority of a path)."""
        if "://" in self.target:
            return self.target
        host = self.header("host")
        if not host:
            raise RequestFileError("a request with a path target needs a Host header")
        return f"{scheme}://{host}{self.target}"

    def with_headers(self, added: dict[str, str]) -> RequestFile:
        """A copy whose headers of the same names are replaced by ``added``."""
        names = {name.lower() for name in added}
        kept = [(key, value) for key, value in self.headers if key.lower() not in names]
        return RequestFile(
            self.method,
            self.target,
            kept + list(added.items()),
            self.body,
            self.newline,
            self.version,
        )

    def render(self) -> bytes:
        """The request file as bytes."""
        lines = [f"{self.method} {self.target} {self.version}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        head = self.newline.join(lines) + self.newline + self.newline
        return head.encode("latin-1") + self.body


def parse_request_file(data: bytes) -> RequestFile:
    """Parse a request file; raise :class:`RequestFileError` saying what is wrong."""
    if len(data) > MAX_REQUEST_FILE:
        raise RequestFileError("the request file is too large", reason="request_file_too_large")
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = data.partition(separator)
        if found:
            break
    else:
        raise RequestFileError("the request file has no empty line ending its headers")
    newline = "\r\n" if head.split(b"\n", 1)[0].endswith(b"\r") else "\n"
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RequestFileError("the request line and headers must be ASCII") from exc
    lines = [line.rstrip("\r") for line in text.split("\n")]
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/") or not parts[0].isalpha():
        raise RequestFileError("the first line must be 'METHOD target HTTP/1.1'")
    method, target, version = parts
    if not (target.startswith("/") or "://" in target):
        raise RequestFileError("the target must be a path or an absolute URL")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or " " in name:
            raise RequestFileError("a header line must be 'Name: value'")
        headers.append((name, value.strip()))
    return RequestFile(method.upper(), target, headers, body, newline, version)


__all__ = ["RequestFile", "parse_request_file"]
