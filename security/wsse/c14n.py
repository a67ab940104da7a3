"""Exclusive XML canonicalization (without comments) of one element."""

from __future__ import annotations

from lxml import etree


def exclusive_c14n(element: etree._Element, prefixes: list[str] | None = None) -> bytes:
    return etree.tostring(
        element,
        method="c14n",
        exclusive=True,
        with_comments=False,
        inclusive_ns_prefixes=prefixes or None,
    )
