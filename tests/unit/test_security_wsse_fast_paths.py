"""The shortcuts that make WS-Security cheap keep every check: caches, fast paths, wire form."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from security import algorithms, wsse
from security.errors import (
    CertificateExpired,
    DigestMismatch,
    InvalidSignature,
    SignatureWrapping,
    UnsafeXml,
    UntrustedCertificate,
)
from security.keys import Credentials, load_party
from security.pki import generate_key, make_ca_certificate
from security.trust import TrustStore
from security.wsse import verify as verify_module
from security.xml import LIBXML2_MAX_DEPTH, XmlLimits, parse_xml
from tests.support.security_samples import (
    envelope_bytes,
    expired_party,
    party_with_certificate,
    rogue_credentials,
)

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


# -- SignedInfo compared whole (the compact form), and read the long way otherwise


def _resign(root: etree._Element, signer: Credentials) -> bytes:
    """Sign ``root``'s SignedInfo again as it now stands (exclusive C14N), return the bytes."""
    signed_info = root.find("*/wsse:Security/ds:Signature/ds:SignedInfo", DS)
    value = root.find("*/wsse:Security/ds:Signature/ds:SignatureValue", DS)
    assert signed_info is not None
    assert value is not None
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True)
    value.text = base64.b64encode(
        algorithms.sign(signer.key, algorithms.ECDSA_P256_SHA256, canonical)
    ).decode()
    return etree.tostring(root)


def test_own_signed_info_is_checked_by_comparing_it_whole(
    signed: bytes, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An envelope signed here verifies without reading SignedInfo reference by reference."""

    def not_expected(*args: object) -> None:
        raise AssertionError("SignedInfo was read the long way")

    monkeypatch.setattr(verify_module, "read_signed_info", not_expected)
    monkeypatch.setattr(verify_module, "check_digests", not_expected)
    assert wsse.verify_envelope(signed, trust, now=NOW).party == "adapter"


def test_references_in_another_order_are_read_the_long_way(
    signed: bytes, trust: TrustStore, signer: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid signature over the same references in another order is accepted, the long way."""
    root = etree.fromstring(signed)
    signed_info = root.find("*/wsse:Security/ds:Signature/ds:SignedInfo", DS)
    assert signed_info is not None
    references = signed_info.findall("ds:Reference", DS)
    for reference in references:
        signed_info.remove(reference)
    signed_info.extend(reversed(references))
    data = _resign(root, signer)
    calls: list[object] = []
    read = verify_module.read_signed_info

    def spy(*args: Any) -> Any:
        calls.append(args)
        return read(*args)

    monkeypatch.setattr(verify_module, "read_signed_info", spy)
    assert wsse.verify_envelope(data, trust, now=NOW).party == "adapter"
    assert len(calls) == 1


def test_an_identifier_refused_the_long_way_is_not_accepted_by_the_comparison(
    signed: bytes, trust: TrustStore, signer: Credentials
) -> None:
    """A Body id that is not a plain name, consistently referenced and signed: bad_reference."""
    root = etree.fromstring(signed)
    body = root.find("soapenv:Body", {"soapenv": wsse.SOAP11_NS})
    assert body is not None
    old_id = body.get(wsse.WSU_ID)
    body.set(wsse.WSU_ID, "9-body")
    reference = root.find(
        f"*/wsse:Security/ds:Signature/ds:SignedInfo/ds:Reference[@URI='#{old_id}']", DS
    )
    assert reference is not None
    reference.set("URI", "#9-body")
    digest = reference.find("ds:DigestValue", DS)
    assert digest is not None
    canonical_body = etree.tostring(body, method="c14n", exclusive=True)
    digest.text = base64.b64encode(hashlib.sha256(canonical_body).digest()).decode()
    with pytest.raises(SignatureWrapping) as caught:
        wsse.verify_envelope(_resign(root, signer), trust, now=NOW)
    assert caught.value.reason == "bad_reference"


def test_a_changed_part_fails_the_comparison_and_is_refused_as_a_digest_mismatch(
    signed: bytes, trust: TrustStore
) -> None:
    """The compact form with a Body changed after signing: digest_mismatch, as read the long way."""
    data = signed.replace(b"</soapenv:Body>", b"<x/></soapenv:Body>")
    with pytest.raises(DigestMismatch) as caught:
        wsse.verify_envelope(data, trust, now=NOW)
    assert caught.value.reason == "digest_mismatch"


# -- the certificate caches never turn a refusal into an acceptance


def test_a_cached_acceptance_lets_no_other_certificate_through(
    dev_keys: Path, signed: bytes, trust: TrustStore
) -> None:
    """With the adapter's certificate cached as accepted, an expired and an untrusted
    certificate of the same party are refused, and still refused when presented again."""
    assert wsse.verify_envelope(signed, trust, now=NOW).party == "adapter"
    expired = expired_party(dev_keys, "adapter", now=NOW)
    rogue = rogue_credentials("adapter")
    for credentials, error in ((expired, CertificateExpired), (rogue, UntrustedCertificate)):
        data = wsse.sign_envelope(envelope_bytes(), credentials, now=NOW)
        for _ in range(2):
            with pytest.raises(error):
                wsse.verify_envelope(data, trust, now=NOW)
        assert wsse.verify_envelope(signed, trust, now=NOW).party == "adapter"


def test_a_cached_certificate_is_refused_once_it_expires(dev_keys: Path, trust: TrustStore) -> None:
    """A certificate accepted (and cached) while valid is refused after its notAfter."""
    short = party_with_certificate(
        dev_keys,
        "adapter",
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(hours=1),
    )
    data = wsse.sign_envelope(envelope_bytes(), short, now=NOW)
    assert wsse.verify_envelope(data, trust, now=NOW).party == "adapter"
    later = NOW + dt.timedelta(hours=2)
    with pytest.raises(CertificateExpired):
        wsse.verify_envelope(data, trust, now=later, max_skew=dt.timedelta(hours=3))
    with pytest.raises(CertificateExpired):
        trust.validate_der(short.certificate_der, at=later)
    assert trust.validate_der(short.certificate_der, at=NOW) == short.certificate
