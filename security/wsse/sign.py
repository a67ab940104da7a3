"""Sign a SOAP 1.1 envelope: Timestamp, X.509 token and a signature over the signed parts."""

from __future__ import annotations

import datetime as dt
import os
import re
from binascii import b2a_base64

from lxml import etree

from security import algorithms
from security.keys import Credentials
from security.wsse import compact
from security.wsse.names import (
    BASE64_BINARY,
    BODY,
    DEFAULT_TTL,
    DS_NS,
    ECDSA_SHA256,
    ENVELOPE,
    HEADER,
    RSA_SHA256,
    SECURITY,
    SOAP11_NS,
    WSSE_NS,
    WSU_ID,
    WSU_NS,
    X509V3,
    XROAD_NS,
)
from security.xml import DEFAULT_LIMITS, XmlLimits, parse_xml


def _format_time(moment: dt.datetime) -> str:
    """A UTC moment as xsd:dateTime with milliseconds and ``Z`` (what isoformat gives, faster)."""
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - twice as quick as format
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


# The Security header is written as text and spliced into the serialized envelope in place of a
# processing instruction; no tree is built for it. The Timestamp and SignedInfo are written in
# exclusive-C14N form, so their digest and signature are computed from those very texts; on the
# wire the wsu and ds prefixes are declared once, on Security itself (whatever the envelope
# declares) rather than on the Timestamp, the token, Signature and SignedInfo: that
# canonicalises back to the same texts and spares the parser two declarations (~3 µs). Each
# signed part is canonicalised exactly once; SignedInfo's text comes from ``compact``.

_PLACEHOLDER = "lienthong-wsse"
_ROOT_START = re.compile(rb"<(?![?!])[^\s/>]+")


def _declare_wsu(data: bytes) -> bytes:
    """Declare the wsu prefix on the root element of a serialized envelope (when it is free).

    The wsu:Id attributes added to the signed parts then use it instead of declaring the
    namespace again on every part, which keeps the signed message smaller and quicker to parse.
    """
    if b"xmlns:wsu=" in data:
        return data
    found = _ROOT_START.search(data)
    if found is None:
        return data
    end = found.end()
    return data[:end] + b' xmlns:wsu="' + WSU_NS.encode("ascii") + b'"' + data[end:]


_SCHEMES: dict[type, str] = {}
_TOKENS: dict[bytes, bytes] = {}
_tostring = etree.tostring
_XROAD_ANY = f"{{{XROAD_NS}}}*"  # any element in the X-Road namespace

# The Security header's fixed texts, around the per-message Timestamp, ids, token and values.
_SECURITY_START = (
    f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:soapenv="{SOAP11_NS}" '
    f'xmlns:wsu="{WSU_NS}" xmlns:ds="{DS_NS}" soapenv:mustUnderstand="1"><wsu:Timestamp '
).encode("ascii")
_CANONICAL_TIMESTAMP_START = f'<wsu:Timestamp xmlns:wsu="{WSU_NS}" '.encode("ascii")
_TOKEN_START = (
    f'<wsse:BinarySecurityToken EncodingType="{BASE64_BINARY}" ValueType="{X509V3}" wsu:Id="'
).encode("ascii")
_SIGNATURE_START = b"</wsse:BinarySecurityToken><ds:Signature><ds:SignedInfo>"
_KEY_INFO_START = (
    b'</ds:SignatureValue><ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#'
)
_SECURITY_END = (
    f'" ValueType="{X509V3}"/></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>'
    "</wsse:Security>"
).encode("ascii")


def _scheme_of(credentials: Credentials) -> str:
    kind = type(credentials.key)
    scheme = _SCHEMES.get(kind)
    if scheme is None:
        scheme = algorithms.default_scheme(credentials.key, rsa_scheme=algorithms.RSA_V1_5_SHA256)
        _SCHEMES[kind] = scheme
    return scheme


def _token_text(credentials: Credentials) -> bytes:
    der = credentials.certificate_der
    text = _TOKENS.get(der)
    if text is None:
        if len(_TOKENS) > 64:
            _TOKENS.clear()
        text = _TOKENS[der] = b2a_base64(der, newline=False)
    return text


def sign_envelope(
    envelope: bytes | etree._Element,
    credentials: Credentials,
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
    now: dt.datetime | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
) -> bytes:
    """Sign a SOAP 1.1 envelope and return the signed envelope's bytes (UTF-8).

    Adds ``wsse:Security`` with a Timestamp valid for ``ttl``, the signer's certificate as a
    BinarySecurityToken, and a signature over the Body, the Timestamp and every X-Road header
    element (direct children of the Header in the X-Road namespace). An element given as input
    is used as is (no copy): it gains a Header when it had none and ``wsu:Id`` attributes on the
    signed parts, but not the Security header, which exists only in the returned bytes.
    """
    if isinstance(envelope, etree._Element):
        root = envelope
    else:
        root = parse_xml(_declare_wsu(envelope), limits)
    header, parts = signing_parts(root)
    scheme = _scheme_of(credentials)
    signature_method = ECDSA_SHA256 if scheme == algorithms.ECDSA_P256_SHA256 else RSA_SHA256
    created = dt.datetime.now(dt.UTC) if now is None else now.astimezone(dt.UTC)
    stem = os.urandom(6).hex()  # what secrets.token_hex(6) gives
    part_ids, canonical_parts = identify_parts(parts, stem)
    timestamp_content = timestamp_text(created, ttl, stem)
    canonical = signed_info_text(
        signature_method, stem, part_ids, canonical_parts, timestamp_content
    )
    value = algorithms.sign(credentials.key, scheme, canonical)
    security = security_header(credentials, stem, timestamp_content, canonical, value)
    return serialize(root, header, stem, security)


# The steps of sign_envelope, in order (apart so ``bench/security_breakdown.py`` can time each).


def signing_parts(root: etree._Element) -> tuple[etree._Element, list[etree._Element]]:
    """The Header (added when missing) and the parts to sign: X-Road headers, then the Body."""
    if root.tag != ENVELOPE:
        raise ValueError("only a SOAP 1.1 Envelope can be signed")
    header: etree._Element | None = None
    body: etree._Element | None = None
    for child in root:
        if child.tag == HEADER and header is None:
            header = child
        elif child.tag == BODY and body is None:
            body = child
    if body is None:
        raise ValueError("the envelope has no Body")
    if header is None:
        header = etree.Element(HEADER)
        root.insert(0, header)
    # Matched by lxml in C, without building each child's tag.
    if next(header.iterchildren(SECURITY), None) is not None:
        raise ValueError("the envelope already has a wsse:Security header")
    parts = list(header.iterchildren(_XROAD_ANY))
    parts.append(body)
    return header, parts


def identify_parts(parts: list[etree._Element], stem: str) -> tuple[list[bytes], list[bytes]]:
    """Give each part its ``wsu:Id``; their ids (ASCII) and canonical bytes, each made once."""
    part_ids: list[bytes] = []
    canonical_parts: list[bytes] = []
    for index, part in enumerate(parts):
        part_id = f"id-{stem}-{index}"
        part.set(WSU_ID, part_id)
        part_ids.append(part_id.encode("ascii"))
        canonical_parts.append(_tostring(part, method="c14n", exclusive=True, with_comments=False))
    return part_ids, canonical_parts


def timestamp_text(created: dt.datetime, ttl: dt.timedelta, stem: str) -> bytes:
    """The Timestamp after its ``<wsu:Timestamp `` (the same text canonical and on the wire)."""
    return (
        f'wsu:Id="TS-{stem}"><wsu:Created>{_format_time(created)}</wsu:Created>'
        f"<wsu:Expires>{_format_time(created + ttl)}</wsu:Expires></wsu:Timestamp>"
    ).encode("ascii")


def signed_info_text(
    signature_method: str,
    stem: str,
    part_ids: list[bytes],
    canonical_parts: list[bytes],
    timestamp_content: bytes,
) -> bytes:
    """SignedInfo in canonical form over the parts, the Timestamp standing before the Body."""
    part_ids.insert(-1, f"TS-{stem}".encode("ascii"))
    canonical_parts.insert(-1, _CANONICAL_TIMESTAMP_START + timestamp_content)
    return compact.canonical_signed_info(
        signature_method, zip(part_ids, canonical_parts, strict=True)
    )


def security_header(
    credentials: Credentials, stem: str, timestamp_content: bytes, canonical: bytes, value: bytes
) -> bytes:
    """The wsse:Security header's text.

    On the wire the wsu and ds prefixes are declared once, on Security: the Timestamp and
    SignedInfo then canonicalise to the very texts digested and signed.
    """
    token_id = f"X509-{stem}".encode("ascii")
    return b"".join(
        (
            _SECURITY_START,
            timestamp_content,
            _TOKEN_START,
            token_id,
            b'">',
            _token_text(credentials),
            _SIGNATURE_START,
            memoryview(canonical)[len(compact.OPEN) :],
            b"<ds:SignatureValue>",
            b2a_base64(value, newline=False),
            _KEY_INFO_START,
            token_id,
            _SECURITY_END,
        )
    )


def serialize(root: etree._Element, header: etree._Element, stem: str, security: bytes) -> bytes:
    """The envelope's bytes with ``security`` as the Header's last child (the tree is unchanged)."""
    marker = etree.ProcessingInstruction(_PLACEHOLDER, stem)
    header.append(marker)
    try:
        data = etree.tostring(root, encoding="utf-8", xml_declaration=False)
    finally:
        header.remove(marker)
    return data.replace(f"<?{_PLACEHOLDER} {stem}?>".encode("ascii"), security, 1)
