"""The shortcuts that make WS-Security cheap keep every check: caches, fast paths, wire form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from security import wsse
from security.errors import (
    CertificateExpired,
    InvalidSignature,
    SignatureWrapping,
    UnsafeXml,
    UntrustedCertificate,
)
from security.keys import Credentials, load_party
from security.pki import generate_key, make_ca_certificate
from security.trust import TrustStore
from security.xml import LIBXML2_MAX_DEPTH, XmlLimits, parse_xml
from tests.support.security_samples import envelope_bytes

NOW = dt.datetime.now(dt.UTC)
DS = {"ds": wsse.DS_NS, "wsse": wsse.WSSE_NS, "wsu": wsse.WSU_NS}


@pytest.fixture
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


@pytest.fixture
def signer(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "adapter")


@pytest.fixture
def signed(signer: Credentials) -> bytes:
    return wsse.sign_envelope(envelope_bytes(), signer, now=NOW)


def test_a_remembered_token_is_still_judged_by_each_trust_store(
    signed: bytes, trust: TrustStore
) -> None:
    """The token cache spares decoding only: another trust store still refuses the signer."""
    assert wsse.verify_envelope(signed, trust, now=NOW).party == "adapter"
    stranger = TrustStore.from_certificates([make_ca_certificate(generate_key(), name="other")])
    with pytest.raises(UntrustedCertificate):
        wsse.verify_envelope(signed, stranger, now=NOW)


def test_a_remembered_token_is_still_checked_for_validity(signed: bytes, trust: TrustStore) -> None:
    """Once cached, the certificate's validity window is still checked on every call."""
    assert wsse.verify_envelope(signed, trust, now=NOW).party == "adapter"
    later = NOW + dt.timedelta(days=365 * 30)
    with pytest.raises(CertificateExpired):
        wsse.verify_envelope(signed, trust, now=later, max_skew=dt.timedelta(days=365 * 31))


def test_a_distinct_id_outside_the_signed_parts_is_accepted(
    signed: bytes, trust: TrustStore
) -> None:
    """An extra, distinct wsu:Id (here on wsse:Security, as some stacks add) does not refuse."""
    root = etree.fromstring(signed)
    security = root.find("*/wsse:Security", DS)
    assert security is not None
    security.set(wsse.WSU_ID, "SEC-1")
    assert wsse.verify_envelope(etree.tostring(root), trust, now=NOW).party == "adapter"


def test_an_id_repeated_outside_the_signed_parts_is_refused(
    signed: bytes, trust: TrustStore
) -> None:
    """The Timestamp's wsu:Id repeated on the Security header: duplicate_id."""
    root = etree.fromstring(signed)
    security = root.find("*/wsse:Security", DS)
    timestamp = root.find("*/wsse:Security/wsu:Timestamp", DS)
    assert security is not None
    assert timestamp is not None
    security.set(wsse.WSU_ID, str(timestamp.get(wsse.WSU_ID)))
    with pytest.raises(SignatureWrapping) as caught:
        wsse.verify_envelope(etree.tostring(root), trust, now=NOW)
    assert caught.value.reason == "duplicate_id"


def test_whitespace_in_signed_info_is_read_but_breaks_the_signature(
    signed: bytes, trust: TrustStore
) -> None:
    """Whitespace in SignedInfo is a form the reader accepts; added after signing, it fails."""
    root = etree.fromstring(signed)
    signed_info = root.find("*/wsse:Security/ds:Signature/ds:SignedInfo", DS)
    assert signed_info is not None
    for child in signed_info.iter():
        child.tail = "\n  "
    data = etree.tostring(root)
    with pytest.raises(InvalidSignature) as caught:  # the signed bytes changed
        wsse.verify_envelope(data, trust, now=NOW)
    assert caught.value.reason == "invalid_signature"


def test_an_extra_element_in_signed_info_is_refused(signed: bytes, trust: TrustStore) -> None:
    """Anything but the method and references in SignedInfo is refused before any digest."""
    root = etree.fromstring(signed)
    signed_info = root.find("*/wsse:Security/ds:Signature/ds:SignedInfo", DS)
    assert signed_info is not None
    etree.SubElement(signed_info, f"{{{wsse.DS_NS}}}Object")
    with pytest.raises(InvalidSignature):
        wsse.verify_envelope(etree.tostring(root), trust, now=NOW)


def test_security_header_declares_wsu_and_ds_once(signed: bytes) -> None:
    """On the wire the Timestamp, token and SignedInfo inherit wsu/ds from wsse:Security."""
    security = signed[signed.index(b"<wsse:Security") : signed.index(b"</wsse:Security>")]
    assert security.count(b'xmlns:wsu="') == 1
    assert security.count(b'xmlns:ds="') == 1


def test_libxml2_depth_limit_is_reported_as_too_deep() -> None:
    """With a limit above libxml2's own, nesting past libxml2's is still xml_too_deep."""
    depth = LIBXML2_MAX_DEPTH
    limits = XmlLimits(max_depth=10 * depth)
    assert parse_xml(b"<a>" * depth + b"</a>" * depth, limits).tag == "a"
    too_deep = b"<a>" * (depth + 1) + b"</a>" * (depth + 1)
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(too_deep, limits)
    assert caught.value.reason == "xml_too_deep"


def test_default_depth_limit_is_still_walked() -> None:
    """Below libxml2's limit, the configured depth is enforced by walking the tree."""
    limit = LIBXML2_MAX_DEPTH - 1
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b"<a>" * (limit + 1) + b"</a>" * (limit + 1), XmlLimits(max_depth=limit))
    assert caught.value.reason == "xml_too_deep"
