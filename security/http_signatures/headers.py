"""Header fields as RFC 9421 §2.1 reads them: :class:`HeaderFields` maps lower-case names to their
value, repeated fields combined with ``", "`` and surrounding whitespace stripped. A message's
headers are read into one once (:func:`header_fields`), from a mapping, str pairs, latin-1
bytes pairs or a Starlette ``multi_items()`` source, and reused by every call about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from security.http_signatures.names import Headers


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
