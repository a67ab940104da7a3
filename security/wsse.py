"""WS-Security 1.1 for SOAP 1.1: sign an envelope, and verify one strictly.

A signed envelope carries, in ``soapenv:Header/wsse:Security``: a ``wsu:Timestamp``
(Created/Expires), an X.509v3 ``wsse:BinarySecurityToken`` and a ``ds:Signature`` whose references
(exclusive C14N, SHA-256) cover exactly the Body, the Timestamp and every X-Road header element;
the signature is ECDSA P-256/SHA-256 (raw ``r || s``) or RSA PKCS#1 v1.5/SHA-256.

The verifier accepts only that. Every reference must resolve by ``wsu:Id`` to exactly one element
at its expected place, no identifier may occur twice anywhere in the document, the referenced set
must equal the envelope's own signed parts (signature wrapping is refused), the certificate must
chain to the trust store and be valid and allowed to sign, and the Timestamp must be fresh.

Cost: what a message needs is one parse, one exclusive C14N per signed part on each side plus
one of SignedInfo, one serialization and the two ECDSA operations; the rest is kept small. The
signer writes its Security header as text; the verifier reads SignedInfo from its canonical
bytes with one regular expression, counts ``wsu:Id`` attributes once (listing them only when
there are others than the signed parts' and the token's), and remembers per token text the
decoded certificate, its party and public key (the trust store still judges the certificate on
every call: chain and key usage cached per store, validity window checked each time).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from binascii import b2a_base64
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, cast

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from security import algorithms
from security.errors import (
    DigestMismatch,
    InvalidSignature,
    MissingSignature,
    ReplayedMessage,
    SignatureWrapping,
    StaleMessage,
    UnsupportedAlgorithm,
    UntrustedCertificate,
)
from security.keys import Credentials, party_of
from security.replay import ReplayCache
from security.trust import TrustStore
from security.xml import DEFAULT_LIMITS, XmlLimits, parse_xml

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

#: prefixes a builder may declare on its Envelope so the signed parts carry readable prefixes
SIGNING_NSMAP: dict[str, str] = {"wsse": WSSE_NS, "wsu": WSU_NS, "ds": DS_NS}

DEFAULT_TTL = dt.timedelta(minutes=5)
DEFAULT_MAX_SKEW = dt.timedelta(minutes=5)
DEFAULT_MAX_VALIDITY = dt.timedelta(hours=1)

_SIGNATURE_METHODS = {
    ECDSA_SHA256: algorithms.ECDSA_P256_SHA256,
    RSA_SHA256: algorithms.RSA_V1_5_SHA256,
}


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


ENVELOPE = _q(SOAP11_NS, "Envelope")
HEADER = _q(SOAP11_NS, "Header")
BODY = _q(SOAP11_NS, "Body")
SECURITY = _q(WSSE_NS, "Security")
BST = _q(WSSE_NS, "BinarySecurityToken")
STR = _q(WSSE_NS, "SecurityTokenReference")
WSSE_REFERENCE = _q(WSSE_NS, "Reference")
TIMESTAMP = _q(WSU_NS, "Timestamp")
CREATED = _q(WSU_NS, "Created")
EXPIRES = _q(WSU_NS, "Expires")
WSU_ID = _q(WSU_NS, "Id")
SIGNATURE = _q(DS_NS, "Signature")
SIGNED_INFO = _q(DS_NS, "SignedInfo")
SIGNATURE_VALUE = _q(DS_NS, "SignatureValue")
KEY_INFO = _q(DS_NS, "KeyInfo")
C14N_METHOD = _q(DS_NS, "CanonicalizationMethod")
SIGNATURE_METHOD = _q(DS_NS, "SignatureMethod")
REFERENCE = _q(DS_NS, "Reference")
TRANSFORMS = _q(DS_NS, "Transforms")
TRANSFORM = _q(DS_NS, "Transform")
DIGEST_METHOD = _q(DS_NS, "DigestMethod")
DIGEST_VALUE = _q(DS_NS, "DigestValue")
INCLUSIVE_NAMESPACES = _q(EXC_C14N, "InclusiveNamespaces")
MUST_UNDERSTAND = _q(SOAP11_NS, "mustUnderstand")

etree.register_namespace("wsu", WSU_NS)  # the prefix lxml gives wsu:Id where none is declared

# Every wsu:Id of the document (//*/@ visits elements only: the same set as //@, and quicker).
_WSU_IDS = etree.XPath("//*/@wsu:Id", namespaces={"wsu": WSU_NS}, smart_strings=False)
_COUNT_WSU_IDS = etree.XPath("count(//*/@wsu:Id)", namespaces={"wsu": WSU_NS})


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope whose signature verified, with who signed it and its Timestamp."""

    envelope: etree._Element
    certificate: x509.Certificate
    party: str
    created: dt.datetime
    expires: dt.datetime

    @property
    def header(self) -> etree._Element:
        """The envelope's ``soapenv:Header``."""
        return self.envelope[_element_children(self.envelope).index(HEADER)]

    @property
    def body(self) -> etree._Element:
        """The envelope's ``soapenv:Body``."""
        return self.envelope[_element_children(self.envelope).index(BODY)]


def _element_children(element: etree._Element) -> list[str]:
    return [child.tag if isinstance(child.tag, str) else "" for child in element]


def _c14n(element: etree._Element, prefixes: list[str] | None = None) -> bytes:
    return etree.tostring(
        element,
        method="c14n",
        exclusive=True,
        with_comments=False,
        inclusive_ns_prefixes=prefixes or None,
    )


def _format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# ---------------------------------------------------------------------------------------- sign
#
# The Security header is written as text and spliced into the serialized envelope in place of a
# processing instruction; no tree is built for it. The Timestamp and SignedInfo are written in
# exclusive-C14N form, so their digest and signature are computed from those very texts; on the
# wire the wsu and ds prefixes are declared once, on Security itself (whatever the envelope
# declares) rather than on the Timestamp, the token, Signature and SignedInfo: that
# canonicalises back to the same texts and spares the parser two declarations (~3 µs). Each
# signed part is canonicalised exactly once.

_PLACEHOLDER = "lienthong-wsse"
_REF_START = '<ds:Reference URI="#'
_REF_MIDDLE = (
    '"><ds:Transforms><ds:Transform Algorithm="'
    + EXC_C14N
    + '"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="'
    + SHA256_DIGEST
    + '"></ds:DigestMethod><ds:DigestValue>'
)
_REF_END = "</ds:DigestValue></ds:Reference>"


def _reference_text(part_id: str, canonical: bytes) -> str:
    """One ds:Reference (in canonical form) to ``part_id`` whose content is ``canonical``."""
    digest = b2a_base64(hashlib.sha256(canonical).digest(), newline=False).decode("ascii")
    return _REF_START + part_id + _REF_MIDDLE + digest + _REF_END


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
_TOKENS: dict[bytes, str] = {}


def _scheme_of(credentials: Credentials) -> str:
    kind = type(credentials.key)
    scheme = _SCHEMES.get(kind)
    if scheme is None:
        scheme = algorithms.default_scheme(credentials.key, rsa_scheme=algorithms.RSA_V1_5_SHA256)
        _SCHEMES[kind] = scheme
    return scheme


def _token_text(credentials: Credentials) -> str:
    der = credentials.certificate_der
    text = _TOKENS.get(der)
    if text is None:
        if len(_TOKENS) > 64:
            _TOKENS.clear()
        text = _TOKENS[der] = _b64text(der)
    return text


def _b64text(data: bytes) -> str:
    return b2a_base64(data, newline=False).decode("ascii")


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
    xroad_prefix = "{" + XROAD_NS + "}"
    parts = []
    for child in header:
        tag = child.tag
        if tag == SECURITY:
            raise ValueError("the envelope already has a wsse:Security header")
        if isinstance(tag, str) and tag.startswith(xroad_prefix):
            parts.append(child)
    parts.append(body)

    scheme = _scheme_of(credentials)
    signature_method = ECDSA_SHA256 if scheme == algorithms.ECDSA_P256_SHA256 else RSA_SHA256
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stem = secrets.token_hex(6)

    # Each part is canonicalised once; its digest goes straight into the SignedInfo text.
    references = []
    for index, part in enumerate(parts):
        part_id = f"id-{stem}-{index}"
        part.set(WSU_ID, part_id)
        references.append(_reference_text(part_id, _c14n(part)))
    timestamp_id, token_id = f"TS-{stem}", f"X509-{stem}"
    timestamp_content = (
        f'wsu:Id="{timestamp_id}"><wsu:Created>{_format_time(created)}</wsu:Created>'
        f"<wsu:Expires>{_format_time(created + ttl)}</wsu:Expires></wsu:Timestamp>"
    )
    canonical_timestamp = f'<wsu:Timestamp xmlns:wsu="{WSU_NS}" ' + timestamp_content
    references.insert(
        len(references) - 1, _reference_text(timestamp_id, canonical_timestamp.encode("ascii"))
    )
    signed_info_content = (
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{signature_method}"></ds:SignatureMethod>'
        + "".join(references)
        + "</ds:SignedInfo>"
    )
    canonical_signed_info = f'<ds:SignedInfo xmlns:ds="{DS_NS}">' + signed_info_content
    value = algorithms.sign(credentials.key, scheme, canonical_signed_info.encode("ascii"))
    # On the wire the wsu and ds prefixes are declared once, on Security: the Timestamp and
    # SignedInfo then canonicalise to the very texts digested and signed above.
    security = (
        f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:soapenv="{SOAP11_NS}" '
        f'xmlns:wsu="{WSU_NS}" xmlns:ds="{DS_NS}" soapenv:mustUnderstand="1">'
        "<wsu:Timestamp " + timestamp_content + f'<wsse:BinarySecurityToken EncodingType="'
        f'{BASE64_BINARY}" ValueType="{X509V3}" wsu:Id="{token_id}">{_token_text(credentials)}'
        "</wsse:BinarySecurityToken><ds:Signature><ds:SignedInfo>"
        + signed_info_content
        + f"<ds:SignatureValue>{_b64text(value)}</ds:SignatureValue>"
        "<ds:KeyInfo><wsse:SecurityTokenReference>"
        f'<wsse:Reference URI="#{token_id}" ValueType="{X509V3}"/>'
        "</wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature></wsse:Security>"
    )
    marker = etree.ProcessingInstruction(_PLACEHOLDER, stem)
    header.append(marker)
    try:
        data = etree.tostring(root, encoding="utf-8", xml_declaration=False)
    finally:
        header.remove(marker)
    return data.replace(f"<?{_PLACEHOLDER} {stem}?>".encode("ascii"), security.encode("ascii"), 1)


# -------------------------------------------------------------------------------------- verify


def _algorithm(element: etree._Element, allowed: set[str], what: str) -> str:
    algorithm = element.get("Algorithm") or ""
    if algorithm not in allowed:
        raise UnsupportedAlgorithm(f"the {what} algorithm is not allowed")
    return algorithm


def _prefix_list(method: etree._Element) -> list[str]:
    """The InclusiveNamespaces PrefixList of an exc-c14n method (the only child it may have)."""
    children = [child for child in method if isinstance(child.tag, str)]
    if not children:
        return []
    if len(children) > 1 or children[0].tag != INCLUSIVE_NAMESPACES:
        raise InvalidSignature("unexpected content in a canonicalization method")
    return (children[0].get("PrefixList") or "").split()


def _b64(text: str | bytes | None, what: str) -> bytes:
    try:
        return base64.b64decode(
            b"".join((text or b"").split())
            if isinstance(text, bytes)
            else "".join((text or "").split()),
            validate=True,
        )
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignature(f"the {what} is not valid base64") from exc


def _parse_time(element: etree._Element, what: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat((element.text or "").strip())
    except ValueError as exc:
        raise StaleMessage(
            f"the Timestamp {what} is not a date-time", reason="malformed_timestamp"
        ) from exc
    if moment.tzinfo is None:
        raise StaleMessage(f"the Timestamp {what} has no time zone", reason="malformed_timestamp")
    return moment


class _Reference(NamedTuple):
    uri: str
    prefixes: list[str] | None
    digest_b64: bytes


# SignedInfo is read from its canonical form, the very bytes whose signature is checked, so what
# is verified is exactly what was signed. Canonical XML fixes attribute order, quoting and empty
# elements; only whitespace between elements and the ds prefix vary.
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"


def _inclusive(group: str) -> str:
    return (
        rf'<(?:{_NAME}:)?InclusiveNamespaces xmlns(?::{_NAME})?="{re.escape(EXC_C14N)}"'
        rf' PrefixList="{group}[^"<>&]*)"></(?:{_NAME}:)?InclusiveNamespaces>'
    )


def _reference_pattern(p: str, group: str) -> str:
    """One ds:Reference with prefix ``p``; ``group`` opens its groups ("(" or "(?:")."""
    return (
        rf'\s*<{p}Reference URI="#{group}{_NAME})">\s*<{p}Transforms>\s*'
        rf'<{p}Transform Algorithm="{re.escape(EXC_C14N)}">(?:{_inclusive(group)})?'
        rf"</{p}Transform>\s*</{p}Transforms>\s*"
        rf'<{p}DigestMethod Algorithm="{re.escape(SHA256_DIGEST)}"></{p}DigestMethod>\s*'
        rf"<{p}DigestValue>\s*{group}[A-Za-z0-9+/]{{43}}=)\s*</{p}DigestValue>\s*</{p}Reference>"
    )


@lru_cache(maxsize=8)
def _signed_info_patterns(
    prefix: str,
) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    """SignedInfo's head (method), one Reference, and the whole rest (references + end)."""
    p = re.escape(prefix + ":") if prefix else ""
    head = (
        rf'<{p}SignedInfo(?: xmlns(?::{_NAME})?="[^"]*")*>\s*'
        rf'<{p}CanonicalizationMethod Algorithm="{re.escape(EXC_C14N)}">(?:{_inclusive("(")})?'
        rf"</{p}CanonicalizationMethod>\s*"
        rf'<{p}SignatureMethod Algorithm="([^"]*)"></{p}SignatureMethod>'
    )
    # The references without capturing groups, repeated, then the end of SignedInfo: one
    # C-level match checks that nothing else stands between or after them.
    rest = rf"(?:{_reference_pattern(p, '(?:')})+\s*</{p}SignedInfo>"
    return (
        re.compile(head.encode("ascii")),
        re.compile(_reference_pattern(p, "(").encode("ascii")),
        re.compile(rest.encode("ascii")),
    )


_METHODS = {method.encode("ascii"): method for method in _SIGNATURE_METHODS}


@lru_cache(maxsize=8)
def _compact_signed_info_patterns(
    prefix: str,
) -> tuple[tuple[tuple[bytes, str], ...], re.Pattern[bytes], re.Pattern[bytes]]:
    """The same form without whitespace or InclusiveNamespaces, as this module signs it.

    Literal heads (one per signature method), one Reference, and the rest; matching these is
    about twice as fast as the general patterns, which stay the fallback.
    """
    name = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{DS_NS}"' if prefix else f'xmlns="{DS_NS}"'
    heads = tuple(
        (
            (
                f"<{name}SignedInfo {declaration}>"
                f'<{name}CanonicalizationMethod Algorithm="{EXC_C14N}">'
                f"</{name}CanonicalizationMethod>"
                f'<{name}SignatureMethod Algorithm="{method}"></{name}SignatureMethod>'
            ).encode("ascii"),
            method,
        )
        for method in _SIGNATURE_METHODS
    )
    p = re.escape(name)

    def reference(group: str) -> str:
        return (
            rf'<{p}Reference URI="#{group}{_NAME})"><{p}Transforms>'
            rf'<{p}Transform Algorithm="{re.escape(EXC_C14N)}"></{p}Transform></{p}Transforms>'
            rf'<{p}DigestMethod Algorithm="{re.escape(SHA256_DIGEST)}"></{p}DigestMethod>'
            rf"<{p}DigestValue>{group}[A-Za-z0-9+/]{{43}}=)</{p}DigestValue></{p}Reference>"
        )

    rest = rf"(?:{reference('(?:')})+</{p}SignedInfo>"
    return heads, re.compile(reference("(").encode("ascii")), re.compile(rest.encode("ascii"))


def _read_signed_info(
    signed_info: etree._Element, canonical: bytes
) -> tuple[str, list[_Reference]]:
    """The signature method and references, read from SignedInfo's canonical bytes."""
    prefix = signed_info.prefix or ""
    heads, compact_reference, compact_rest = _compact_signed_info_patterns(prefix)
    for head_bytes, method in heads:
        if canonical.startswith(head_bytes):
            position = len(head_bytes)
            if compact_rest.fullmatch(canonical, position) is not None:
                return method, [
                    _Reference(uri.decode("ascii"), None, digest)
                    for uri, digest in compact_reference.findall(canonical, position)
                ]
            break
    head, reference, rest = _signed_info_patterns(prefix)
    found = head.match(canonical)
    if found is not None:
        general_method = _METHODS.get(found.group(2))
        position = found.end()
        if general_method is not None and rest.fullmatch(canonical, position) is not None:
            references = [
                _Reference(
                    uri.decode("ascii"),
                    prefix_list.decode("ascii").split() if prefix_list else None,
                    digest,
                )
                for uri, prefix_list, digest in reference.findall(canonical, position)
            ]
            return general_method, references
    # Not the accepted form: walk the tree to say precisely why, then refuse anyway.
    _explain_signed_info(signed_info)
    raise InvalidSignature("SignedInfo is not in the accepted form", reason="malformed_signed_info")


def _explain_signed_info(signed_info: etree._Element) -> None:
    """Raise the specific error for a SignedInfo that the strict reader refused."""
    children = [child for child in signed_info if isinstance(child.tag, str)]
    if len(children) < 3 or children[0].tag != C14N_METHOD or children[1].tag != SIGNATURE_METHOD:
        raise InvalidSignature("SignedInfo does not have the required structure")
    _algorithm(children[0], {EXC_C14N}, "canonicalization")
    _algorithm(children[1], set(_SIGNATURE_METHODS), "signature")
    if len(children[1]):
        raise UnsupportedAlgorithm("signature method parameters are not allowed")
    for item in children[2:]:
        if item.tag != REFERENCE:
            raise InvalidSignature("SignedInfo holds something other than references")
        uri = item.get("URI") or ""
        if not uri.startswith("#") or re.fullmatch(_NAME, uri[1:]) is None:
            raise SignatureWrapping(
                "a reference is not a same-document reference by id", reason="bad_reference"
            )
        parts = [child for child in item if isinstance(child.tag, str)]
        if [child.tag for child in parts] != [TRANSFORMS, DIGEST_METHOD, DIGEST_VALUE]:
            raise InvalidSignature("a reference does not have the required structure")
        transforms = [child for child in parts[0] if isinstance(child.tag, str)]
        if len(transforms) != 1 or transforms[0].tag != TRANSFORM:
            raise UnsupportedAlgorithm("a reference must have exactly one exc-c14n transform")
        _algorithm(transforms[0], {EXC_C14N}, "transform")
        _algorithm(parts[1], {SHA256_DIGEST}, "digest")


def _envelope_parts(
    root: etree._Element,
) -> tuple[etree._Element, etree._Element, list[etree._Element], etree._Element]:
    """Header, Body, the X-Road header elements and wsse:Security, checking the envelope's shape."""
    if root.tag != ENVELOPE:
        raise InvalidSignature(
            "the document is not a SOAP 1.1 envelope", reason="malformed_envelope"
        )
    header: etree._Element | None = None
    body: etree._Element | None = None
    for child in root:
        tag = child.tag
        if tag == HEADER and header is None and body is None:
            header = child
        elif tag == BODY and body is None:
            body = child
        elif isinstance(tag, str):
            raise SignatureWrapping(
                "the envelope holds elements other than one Header and one Body",
                reason="malformed_envelope",
            )
    if body is None:
        raise InvalidSignature("the envelope has no Body", reason="malformed_envelope")
    if header is None:
        raise MissingSignature("the envelope has no header, so no signature")
    xroad: list[etree._Element] = []
    security: etree._Element | None = None
    xroad_prefix = "{" + XROAD_NS + "}"
    for child in header:
        tag = child.tag
        if tag == SECURITY:
            if security is not None:
                raise SignatureWrapping("the envelope has more than one wsse:Security header")
            security = child
        elif isinstance(tag, str):
            if not tag.startswith(xroad_prefix):
                raise SignatureWrapping(
                    "the header holds an element that is not signed", reason="unsigned_header"
                )
            xroad.append(child)
    if security is None:
        raise MissingSignature("the envelope has no wsse:Security header")
    return header, body, xroad, security


def _security_parts(
    security: etree._Element,
) -> tuple[etree._Element, etree._Element, list[etree._Element]]:
    """The Timestamp, the Signature and the tokens of the Security header (nothing else)."""
    timestamp: etree._Element | None = None
    signature: etree._Element | None = None
    tokens: list[etree._Element] = []
    for child in security:
        tag = child.tag
        if tag == TIMESTAMP:
            if timestamp is not None:
                raise SignatureWrapping("more than one Timestamp", reason="duplicate_element")
            timestamp = child
        elif tag == SIGNATURE:
            if signature is not None:
                raise SignatureWrapping("more than one Signature", reason="duplicate_element")
            signature = child
        elif tag == BST:
            tokens.append(child)
        elif isinstance(tag, str):
            raise SignatureWrapping(
                "the Security header holds an unexpected element", reason="unexpected_element"
            )
    if signature is None:
        raise MissingSignature("the Security header holds no signature")
    if timestamp is None:
        raise StaleMessage("the Security header holds no Timestamp", reason="missing_timestamp")
    return timestamp, signature, tokens


def _all_ids(root: etree._Element) -> list[str]:
    return cast(list[str], _WSU_IDS(root))


def _signed_part_ids(
    root: etree._Element, parts: tuple[etree._Element, ...], tokens: list[etree._Element]
) -> dict[str, etree._Element]:
    """The signed parts by ``wsu:Id``, after checking that no ``wsu:Id`` occurs twice anywhere.

    When the document holds no other ``wsu:Id`` than those of the parts and the tokens (one
    count over the tree tells), distinct values there mean distinct values everywhere; otherwise
    every identifier of the document is listed and compared.
    """
    expected: dict[str, etree._Element] = {}
    known = 0
    for element in parts:
        element_id = element.get(WSU_ID)
        if element_id is not None:
            expected[element_id] = element
            known += 1
    seen = set(expected)
    for token in tokens:
        token_id = token.get(WSU_ID)
        if token_id is not None:
            seen.add(token_id)
            known += 1
    if len(seen) != known or cast(float, _COUNT_WSU_IDS(root)) != known:
        all_ids = _all_ids(root)
        if len(all_ids) != len(set(all_ids)):
            raise SignatureWrapping("an identifier occurs more than once", reason="duplicate_id")
    return expected


def verify_envelope(
    data: bytes | etree._Element,
    trust: TrustStore,
    *,
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    max_validity: dt.timedelta = DEFAULT_MAX_VALIDITY,
    now: dt.datetime | None = None,
    expected_party: str | None = None,
    limits: XmlLimits = DEFAULT_LIMITS,
    replay_cache: ReplayCache | None = None,
) -> VerifiedEnvelope:
    """Verify a signed SOAP 1.1 envelope strictly; raise a ``SecurityError`` saying why if not.

    ``max_skew`` is the clock difference tolerated on the Timestamp, ``max_validity`` the longest
    Created-to-Expires window accepted, ``expected_party`` the signer's CN when it is known.
    With a ``replay_cache``, an envelope whose signature was already accepted while its Timestamp
    is still valid is refused as a replay. Pass the bytes as received, or an element parsed by
    :func:`security.xml.parse_xml` (which drops comments, so none can split signed text).
    """
    root = data if isinstance(data, etree._Element) else parse_xml(data, limits)
    _header, body, xroad, security = _envelope_parts(root)
    timestamp, signature, tokens = _security_parts(security)

    parts = [child for child in signature if isinstance(child.tag, str)]
    if len(parts) != 3 or parts[0].tag != SIGNED_INFO or parts[1].tag != SIGNATURE_VALUE:
        raise InvalidSignature("the signature does not have the required structure")
    signed_info, signature_value, key_info = parts
    if key_info.tag != KEY_INFO:
        raise MissingSignature("the signature has no KeyInfo", reason="missing_certificate")
    c14n_method = signed_info[0] if len(signed_info) else None
    if c14n_method is None or c14n_method.tag != C14N_METHOD:
        raise InvalidSignature("SignedInfo does not have the required structure")
    _algorithm(c14n_method, {EXC_C14N}, "canonicalization")
    canonical_signed_info = _c14n(signed_info, _prefix_list(c14n_method))
    method, references = _read_signed_info(signed_info, canonical_signed_info)

    # -- identifiers: unique in the whole document; references are exactly the signed parts
    signed_parts = (*xroad, timestamp, body)
    expected = _signed_part_ids(root, signed_parts, tokens)
    uris = [reference.uri for reference in references]
    if len(set(uris)) != len(uris):
        raise SignatureWrapping(
            "two references point to the same element", reason="duplicate_reference"
        )
    for uri in uris:
        if uri not in expected:
            if uri in _all_ids(root):
                raise SignatureWrapping("a reference points outside the envelope's signed parts")
            raise SignatureWrapping(
                "a reference does not resolve to an element", reason="unresolved_reference"
            )
    if len(uris) != len(signed_parts):
        raise MissingSignature(
            "the signature does not cover every part that must be signed", reason="unsigned_part"
        )

    # -- freshness (cheap, before any cryptography)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    created, expires = _check_timestamp(timestamp, when, max_skew, max_validity)

    # -- the signer's certificate and key
    certificate, signer = _certificate(key_info, tokens, trust, when)
    party = signer.party
    if expected_party is not None and party != expected_party:
        raise UntrustedCertificate(
            "the envelope is signed by another party than expected", reason="unexpected_party"
        )
    scheme = _SIGNATURE_METHODS[method]
    public_key = signer.public_key
    if public_key is None or scheme not in signer.schemes:
        raise UnsupportedAlgorithm(
            "the signature algorithm does not fit the certificate's key",
            reason="algorithm_key_mismatch",
        )

    # -- digests, then the signature value
    sha256 = hashlib.sha256
    for reference in references:
        canonical = _c14n(expected[reference.uri], reference.prefixes)
        digest = b2a_base64(sha256(canonical).digest(), newline=False)
        if not hmac.compare_digest(digest, reference.digest_b64):
            raise DigestMismatch("a signed part was changed after signing (digest mismatch)")
    value = _b64(signature_value.text, "signature value")
    if not algorithms.verify(public_key, scheme, value, canonical_signed_info):
        raise InvalidSignature("the signature value does not verify")
    if replay_cache is not None:
        nonce = hashlib.sha256(value).hexdigest()
        if replay_cache.seen(party, nonce, (expires + max_skew).timestamp()):
            raise ReplayedMessage(
                "this signed envelope was already accepted", reason="replayed_message"
            )
    return VerifiedEnvelope(root, certificate, party, created, expires)


def _check_timestamp(
    timestamp: etree._Element,
    when: dt.datetime,
    max_skew: dt.timedelta,
    max_validity: dt.timedelta,
) -> tuple[dt.datetime, dt.datetime]:
    children = [child for child in timestamp if isinstance(child.tag, str)]
    if len(children) != 2 or children[0].tag != CREATED or children[1].tag != EXPIRES:
        raise StaleMessage(
            "the Timestamp must hold Created and Expires", reason="malformed_timestamp"
        )
    created = _parse_time(children[0], "Created")
    expires = _parse_time(children[1], "Expires")
    if expires <= created:
        raise StaleMessage(
            "the Timestamp expires before it is created", reason="malformed_timestamp"
        )
    if expires - created > max_validity:
        raise StaleMessage(
            "the Timestamp's validity window is too long", reason="timestamp_too_long"
        )
    if created > when + max_skew:
        raise StaleMessage("the Timestamp is created in the future", reason="timestamp_in_future")
    if expires < when - max_skew:
        raise StaleMessage("the Timestamp has expired")
    return created, expires


class _Signer(NamedTuple):
    """What a BinarySecurityToken's text gives once decoded: kept, as it is the same each time."""

    der: bytes
    party: str
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None
    schemes: frozenset[str]  # the signature schemes that fit the certificate's key


def _signer(der: bytes, certificate: x509.Certificate) -> _Signer:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return _Signer(der, party_of(certificate), None, frozenset())
    schemes = {
        scheme for scheme in _SIGNATURE_METHODS.values() if algorithms.key_matches(scheme, key)
    }
    return _Signer(der, party_of(certificate), key, frozenset(schemes))


_SIGNER_CACHE_SIZE = 256
_SIGNERS: dict[str, _Signer] = {}


def _certificate(
    key_info: etree._Element,
    tokens: list[etree._Element],
    trust: TrustStore,
    when: dt.datetime,
) -> tuple[x509.Certificate, _Signer]:
    """The signer's certificate (checked by ``trust`` at ``when``), its party and its key.

    The token's base64 decoding, the party, the public key and the schemes it fits are
    remembered by the token's text (a bounded cache); the trust store checks chain and key
    usage once per certificate and the validity window on every call.
    """
    str_element = key_info[0] if len(key_info) == 1 else None
    token_ref = str_element[0] if str_element is not None and len(str_element) == 1 else None
    if (
        str_element is None
        or str_element.tag != STR
        or token_ref is None
        or (token_ref.tag != WSSE_REFERENCE)
    ):
        raise MissingSignature(
            "KeyInfo must reference the BinarySecurityToken", reason="missing_certificate"
        )
    uri = token_ref.get("URI") or ""
    matches = [token for token in tokens if "#" + (token.get(WSU_ID) or "") == uri]
    if len(matches) != 1:
        raise MissingSignature(
            "the referenced BinarySecurityToken is not in the Security header",
            reason="missing_certificate",
        )
    token = matches[0]
    if token.get("ValueType") != X509V3 or token.get("EncodingType", BASE64_BINARY) != (
        BASE64_BINARY
    ):
        raise UnsupportedAlgorithm("the security token is not a base64 X.509v3 certificate")
    text = token.text or ""
    signer = _SIGNERS.get(text)
    if signer is not None:
        return trust.validate_der(signer.der, at=when), signer
    der = _b64(text, "security token")
    certificate = trust.validate_der(der, at=when)
    signer = _signer(der, certificate)
    if len(_SIGNERS) >= _SIGNER_CACHE_SIZE:
        _SIGNERS.pop(next(iter(_SIGNERS)), None)
    _SIGNERS[text] = signer
    return certificate, signer


__all__ = [
    "DEFAULT_MAX_SKEW",
    "DEFAULT_MAX_VALIDITY",
    "DEFAULT_TTL",
    "SIGNING_NSMAP",
    "VerifiedEnvelope",
    "sign_envelope",
    "verify_envelope",
]
