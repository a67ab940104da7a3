"""Hardened XML parsing, used everywhere XML comes in.

No DTD (internal or external), no entities, no network access, no XInclude, a size limit checked
before parsing and a depth limit checked right after (libxml2 itself stops at 256 levels, so
the tree is walked only for a tighter limit; the default is 64). Comments and processing
instructions are dropped while parsing, so that text split by a comment (which canonical XML
ignores, and which a signature therefore does not protect) reaches the application whole.

Every refusal is an :class:`UnsafeXml` with a reason code (``dtd_forbidden``,
``entity_forbidden``, ``xml_too_large``, ``xml_too_deep``, ``malformed_xml``) and a message that
says why without echoing the document.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml import etree

from security.errors import UnsafeXml

DEFAULT_MAX_BYTES = 1_048_576
DEFAULT_MAX_DEPTH = 64
#: libxml2 itself refuses documents nested deeper than this (without ``huge_tree``)
LIBXML2_MAX_DEPTH = 256

_BOMS = (b"\xff\xfe", b"\xfe\xff")
_FIRST_ELEMENT = re.compile(rb"<(?![?!])")
_ENTITY_REF = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)[A-Za-z_:]")


@dataclass(frozen=True)
class XmlLimits:
    """How big and how deep an incoming document may be."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


DEFAULT_LIMITS = XmlLimits()

_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_blank_text=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


@lru_cache(maxsize=16)
def _too_deep(max_depth: int) -> etree.XPath:
    # True when some element sits below ``max_depth`` levels (the root is level 1).
    # regexp=False: no EXSLT regular-expression functions registered for each call
    return etree.XPath("boolean(/" + "*/" * max_depth + "*)", regexp=False)


def _scan_text(data: bytes) -> bytes:
    """The bytes to scan for markup declarations (UTF-16 documents are decoded first)."""
    if data.startswith(_BOMS) or data[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnsafeXml("the XML document is not well-formed", reason="malformed_xml") from exc
        return text.encode("utf-8")
    return data


def parse_xml(data: bytes | str, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse ``data`` safely and return its root element; raise :class:`UnsafeXml` if refused."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > limits.max_bytes:
        raise UnsafeXml(
            f"the XML document is larger than {limits.max_bytes} bytes", reason="xml_too_large"
        )
    scan = _scan_text(raw)
    # A DTD can only stand in the prolog, before the first element: scan up to there (a DTD
    # hidden behind a comment is still caught from the parsed tree below).
    first = _FIRST_ELEMENT.search(scan)
    prolog = scan[: first.start()] if first is not None else scan
    if b"<!DOCTYPE" in prolog:
        raise UnsafeXml("a DTD (<!DOCTYPE>) is not allowed", reason="dtd_forbidden")
    if b"<!ENTITY" in prolog:
        raise UnsafeXml("entity declarations are not allowed", reason="entity_forbidden")
    if first is None:
        raise UnsafeXml("the XML document has no element", reason="malformed_xml")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        if _ENTITY_REF.search(scan):
            raise UnsafeXml("entity references are not allowed", reason="entity_forbidden") from exc
        if "Excessive depth" in str(exc):
            raise UnsafeXml(
                f"the XML document is nested deeper than {min(limits.max_depth, LIBXML2_MAX_DEPTH)}"
                " levels",
                reason="xml_too_deep",
            ) from exc
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise UnsafeXml(
            f"the XML document is not well-formed{where}", reason="malformed_xml"
        ) from exc
    except ValueError as exc:
        raise UnsafeXml("the XML document cannot be read", reason="malformed_xml") from exc
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXml("a DTD (<!DOCTYPE>) is not allowed", reason="dtd_forbidden")
    # libxml2 has already refused anything deeper than LIBXML2_MAX_DEPTH: walk the tree only
    # when the limit is tighter than that.
    if limits.max_depth < LIBXML2_MAX_DEPTH and _too_deep(limits.max_depth)(root):
        raise UnsafeXml(
            f"the XML document is nested deeper than {limits.max_depth} levels",
            reason="xml_too_deep",
        )
    return root


__all__ = ["DEFAULT_LIMITS", "LIBXML2_MAX_DEPTH", "XmlLimits", "parse_xml"]
