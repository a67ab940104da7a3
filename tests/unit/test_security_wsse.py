"""WS-Security 1.1 signing and strict verification of SOAP 1.1 envelopes."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from security import wsse
from security.errors import (
    CertificateError,
    DigestMismatch,
    InvalidSignature,
    MissingSignature,
    ReplayedMessage,
    SecurityError,
    SignatureWrapping,
    StaleMessage,
    UnsafeXml,
    UnsupportedAlgorithm,
)
from security.keys import Credentials, load_party
from security.replay import MemoryReplayCache
from security.trust import TrustStore
from security.xml import XmlLimits
from tests.support.security_samples import (
    envelope_bytes,
    expired_party,
    party_with_certificate,
    rogue_credentials,
)

NOW = dt.datetime.now(dt.UTC)
NS = {
    "soapenv": wsse.SOAP11_NS,
    "wsse": wsse.WSSE_NS,
    "wsu": wsse.WSU_NS,
    "ds": wsse.DS_NS,
    "xrd": wsse.XROAD_NS,
    "pop": "urn:vn:csdlqgdc:population:1.0",
}


@pytest.fixture
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


@pytest.fixture
def signer(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "adapter")


@pytest.fixture
def signed(signer: Credentials) -> bytes:
    return wsse.sign_envelope(envelope_bytes(), signer, now=NOW)


def _reason(
    data: bytes, trust: TrustStore, error: type[SecurityError] = SecurityError, **kwargs: object
) -> str:
    with pytest.raises(error) as caught:
        wsse.verify_envelope(data, trust, now=NOW, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "001095000001" not in message
    assert "Mẫu" not in message
    return caught.value.reason


def _edit(data: bytes, change: Callable[[etree._Element], object]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root)


def _all(root: etree._Element, path: str) -> list[etree._Element]:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [element for element in found if isinstance(element, etree._Element)]


def _one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    assert len(found) == 1
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("keys_fixture", ["dev_keys", "dev_keys_rsa"])
def test_sign_and_verify_round_trip(keys_fixture: str, request: pytest.FixtureRequest) -> None:
    """An envelope signed with ECDSA or RSA verifies, naming the signer and its Timestamp."""
    keys: Path = request.getfixturevalue(keys_fixture)
    creds = load_party(keys, "population")
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    data = wsse.sign_envelope(envelope_bytes(), creds, now=NOW, ttl=dt.timedelta(minutes=2))
    verified = wsse.verify_envelope(data, trust, now=NOW, expected_party="population")
    assert verified.party == "population"
    assert verified.expires - verified.created == dt.timedelta(minutes=2)
    assert verified.body.tag == wsse.BODY
    assert verified.header.tag == wsse.HEADER
    method = _one(etree.fromstring(data), "//ds:SignatureMethod").get("Algorithm")
    expected = wsse.RSA_SHA256 if keys_fixture == "dev_keys_rsa" else wsse.ECDSA_SHA256
    assert method == expected


def test_signature_covers_body_timestamp_and_every_xroad_header(signed: bytes) -> None:
    """One reference per X-Road header element, the Timestamp and the Body; exc-c14n, SHA-256."""
    root = etree.fromstring(signed)
    uris = [ref.get("URI") for ref in _all(root, "//ds:Reference")]
    parts = _all(root, "/soapenv:Envelope/soapenv:Header/xrd:*")
    assert len(parts) == 6
    part_ids = [f"#{el.get(wsse.WSU_ID)}" for el in parts]
    ts_id = "#" + str(_one(root, "//wsu:Timestamp").get(wsse.WSU_ID))
    body_id = "#" + str(_one(root, "/soapenv:Envelope/soapenv:Body").get(wsse.WSU_ID))
    assert uris == [*part_ids, ts_id, body_id]
    transforms = root.xpath("//ds:Transform/@Algorithm", namespaces=NS)
    assert transforms == [wsse.EXC_C14N] * 8
    assert root.xpath("//ds:DigestMethod/@Algorithm", namespaces=NS) == [wsse.SHA256_DIGEST] * 8
    token = _one(root, "//wsse:BinarySecurityToken")
    assert token.get("ValueType") == wsse.X509V3


def test_sign_an_element_and_an_envelope_without_header(
    signer: Credentials, trust: TrustStore
) -> None:
    """An lxml element can be signed; a Header is added when the envelope has none."""
    root = etree.fromstring(
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<s:Body><x>1</x></s:Body></s:Envelope>"
    )
    data = wsse.sign_envelope(root, signer, now=NOW)
    assert wsse.verify_envelope(data, trust, now=NOW).body[0].text == "1"


def test_signing_twice_is_refused(signed: bytes, signer: Credentials) -> None:
    """An envelope that already has a Security header is not signed again."""
    with pytest.raises(ValueError, match="already"):
        wsse.sign_envelope(signed, signer)


# ----------------------------------------------------------------------------- bad input


def test_unsigned_envelope_is_refused(trust: TrustStore) -> None:
    """An envelope without a Security header: missing_signature."""
    assert _reason(envelope_bytes(), trust, MissingSignature) == "missing_signature"


def test_security_header_without_signature_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A Security header holding a Timestamp but no ds:Signature: missing_signature."""
    data = _edit(
        signed,
        lambda r: (
            _one(r, "//ds:Signature")
            .getparent()
            .remove(  # type: ignore[union-attr]
                _one(r, "//ds:Signature")
            )
        ),
    )
    assert _reason(data, trust, MissingSignature) == "missing_signature"


def test_partly_signed_envelope_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A signature without the Body's reference: unsigned_part."""

    def drop_body_reference(root: etree._Element) -> None:
        refs = root.xpath("//ds:Reference", namespaces=NS)
        assert isinstance(refs, list)
        last = refs[-1]
        assert isinstance(last, etree._Element)
        last.getparent().remove(last)  # type: ignore[union-attr]

    assert _reason(_edit(signed, drop_body_reference), trust, MissingSignature) == "unsigned_part"


def test_xroad_header_added_after_signing_is_refused(signed: bytes, trust: TrustStore) -> None:
    """An extra, unsigned X-Road header element (e.g. a second userId): unsigned_part."""

    def add_header(root: etree._Element) -> None:
        header = _one(root, "/soapenv:Envelope/soapenv:Header")
        etree.SubElement(header, f"{{{wsse.XROAD_NS}}}userId").text = "VN000000000000"

    assert _reason(_edit(signed, add_header), trust, MissingSignature) == "unsigned_part"


def test_other_unsigned_header_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A header block that is neither X-Road nor wsse:Security is not signed: unsigned_header."""

    def add_header(root: etree._Element) -> None:
        header = _one(root, "/soapenv:Envelope/soapenv:Header")
        etree.SubElement(header, "{urn:other}Routing").text = "elsewhere"

    assert _reason(_edit(signed, add_header), trust, SignatureWrapping) == "unsigned_header"


@pytest.mark.parametrize(
    ("path", "new_text"),
    [
        ("//pop:citizen[1]/pop:fullName", "Someone Else"),
        ("//xrd:userId", "VN999999999999"),
        ("//xrd:issue", "000.00.04.H04-261126-0008"),
        ("//wsu:Expires", (NOW + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ],
)
def test_tampered_part_is_refused(
    signed: bytes, trust: TrustStore, path: str, new_text: str
) -> None:
    """Changing the Body, an X-Road header or the Timestamp after signing: digest_mismatch."""

    def tamper(root: etree._Element) -> None:
        _one(root, path).text = new_text

    assert _reason(_edit(signed, tamper), trust, DigestMismatch) == "digest_mismatch"


def test_tampered_signature_value_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A changed SignatureValue: invalid_signature."""

    def tamper(root: etree._Element) -> None:
        value = _one(root, "//ds:SignatureValue")
        text = str(value.text)
        value.text = ("B" if text[0] == "A" else "A") + text[1:]

    assert _reason(_edit(signed, tamper), trust, InvalidSignature) == "invalid_signature"


def test_tampered_signed_info_is_refused(signed: bytes, trust: TrustStore) -> None:
    """Changing a digest value in SignedInfo (and the part to match) breaks the signature."""
    import base64
    import hashlib

    def tamper(root: etree._Element) -> None:
        _one(root, "//xrd:userId").text = "VN999999999999"
        element = _one(root, "//xrd:userId")
        digest = hashlib.sha256(etree.tostring(element, method="c14n", exclusive=True)).digest()
        ref_id = "#" + str(element.get(wsse.WSU_ID))
        _one(root, f"//ds:Reference[@URI='{ref_id}']/ds:DigestValue").text = base64.b64encode(
            digest
        ).decode()

    assert _reason(_edit(signed, tamper), trust, InvalidSignature) == "invalid_signature"


def test_wrapped_body_in_header_is_refused(signed: bytes, trust: TrustStore) -> None:
    """Classic wrapping: the signed Body moved into a header wrapper, a forged Body in its place."""

    def wrap(root: etree._Element) -> None:
        header = _one(root, "/soapenv:Envelope/soapenv:Header")
        body = _one(root, "/soapenv:Envelope/soapenv:Body")
        wrapper = etree.SubElement(header, "{urn:attacker}Wrapper")
        wrapper.append(copy.deepcopy(body))
        for child in list(body):
            body.remove(child)
        del body.attrib[wsse.WSU_ID]
        etree.SubElement(body, f"{{{NS['pop']}}}GetCitizenResponse").text = "forged"

    assert _reason(_edit(signed, wrap), trust, SignatureWrapping) == "unsigned_header"


def test_wrapped_body_inside_security_is_refused(signed: bytes, trust: TrustStore) -> None:
    """The signed Body hidden inside wsse:Security, a forged Body in the envelope."""

    def wrap(root: etree._Element) -> None:
        security = _one(root, "//wsse:Security")
        body = _one(root, "/soapenv:Envelope/soapenv:Body")
        security.append(copy.deepcopy(body))
        body.attrib[wsse.WSU_ID] = "forged"

    assert _reason(_edit(signed, wrap), trust, SignatureWrapping) == "unexpected_element"


def test_wrapped_body_nested_in_forged_body_is_refused(signed: bytes, trust: TrustStore) -> None:
    """The signed Body nested inside a forged Body: the reference points outside the parts."""

    def wrap(root: etree._Element) -> None:
        body = _one(root, "/soapenv:Envelope/soapenv:Body")
        original = copy.deepcopy(body)
        for child in list(body):
            body.remove(child)
        body.attrib[wsse.WSU_ID] = "forged"
        etree.SubElement(body, "{urn:attacker}Hidden").append(original)

    assert _reason(_edit(signed, wrap), trust, SignatureWrapping) == "signature_wrapping"


def test_duplicate_id_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A second element carrying the Body's wsu:Id anywhere in the document: duplicate_id."""

    def duplicate(root: etree._Element) -> None:
        body = _one(root, "/soapenv:Envelope/soapenv:Body")
        extra = etree.SubElement(body[0], "{urn:attacker}Copy")
        extra.set(wsse.WSU_ID, str(body.get(wsse.WSU_ID)))

    assert _reason(_edit(signed, duplicate), trust, SignatureWrapping) == "duplicate_id"


def _token_reference(root: etree._Element) -> etree._Element:
    return _one(
        root,
        "/soapenv:Envelope/soapenv:Header/wsse:Security/ds:Signature/ds:KeyInfo"
        "/wsse:SecurityTokenReference/wsse:Reference",
    )


@pytest.mark.parametrize(
    "uri",
    ["#body", "#nowhere", "#", "", "token", "#token-elsewhere"],
)
def test_key_info_must_reference_a_token_of_the_security_header(
    uri: str, signed: bytes, trust: TrustStore
) -> None:
    """KeyInfo naming the Body, an unknown id, no id, an id without ``#``, or an element that
    carries no token (a BinarySecurityToken outside the Security header): missing_certificate."""

    def point(root: etree._Element) -> None:
        reference = _token_reference(root)
        token_id = str(reference.get("URI"))[1:]
        body = _one(root, "/soapenv:Envelope/soapenv:Body")
        if uri == "#token-elsewhere":  # the token moved into the Body, its id kept
            token = _one(root, f"//wsse:BinarySecurityToken[@wsu:Id='{token_id}']")
            security = token.getparent()
            assert security is not None
            security.remove(token)
            body[0].append(token)
            reference.set("URI", "#" + token_id)
            return
        named = {"#body": "#" + str(body.get(wsse.WSU_ID)), "token": token_id}
        reference.set("URI", named.get(uri, uri))

    assert _reason(_edit(signed, point), trust, MissingSignature) == "missing_certificate"


def test_token_id_repeated_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A second element carrying the token's wsu:Id: duplicate_id (never "whichever is first")."""

    def repeat(root: etree._Element) -> None:
        token_id = str(_token_reference(root).get("URI"))[1:]
        body = _one(root, "/soapenv:Envelope/soapenv:Body")
        etree.SubElement(body[0], "{urn:attacker}Copy").set(wsse.WSU_ID, token_id)

    assert _reason(_edit(signed, repeat), trust, SignatureWrapping) == "duplicate_id"


def test_second_security_header_is_refused(signed: bytes, trust: TrustStore) -> None:
    """Two wsse:Security headers: signature_wrapping."""

    def second(root: etree._Element) -> None:
        security = _one(root, "//wsse:Security")
        security.getparent().append(copy.deepcopy(security))  # type: ignore[union-attr]

    assert _reason(_edit(signed, second), trust, SignatureWrapping) == "signature_wrapping"


def test_extra_element_after_body_is_refused(signed: bytes, trust: TrustStore) -> None:
    """Anything beside one Header and one Body in the Envelope: malformed_envelope."""
    data = _edit(signed, lambda r: etree.SubElement(r, f"{{{wsse.SOAP11_NS}}}Body"))
    assert _reason(data, trust, SignatureWrapping) == "malformed_envelope"


def test_reference_by_xpointer_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A reference that is not a plain #id (here an xpointer): bad_reference."""

    def xpointer(root: etree._Element) -> None:
        _one(root, "//ds:Reference[last()]").set("URI", "#xpointer(/)")

    assert _reason(_edit(signed, xpointer), trust, SignatureWrapping) == "bad_reference"


def test_reference_to_the_token_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A reference re-pointed at another element (the token): signature_wrapping."""

    def repoint(root: etree._Element) -> None:
        token_id = _one(root, "//wsse:BinarySecurityToken").get(wsse.WSU_ID)
        _one(root, "//ds:Reference[last()]").set("URI", f"#{token_id}")

    assert _reason(_edit(signed, repoint), trust, SignatureWrapping) == "signature_wrapping"


def test_expired_timestamp_is_refused(signer: Credentials, trust: TrustStore) -> None:
    """Past Expires (beyond the skew): stale_timestamp."""
    data = wsse.sign_envelope(envelope_bytes(), signer, now=NOW - dt.timedelta(minutes=20))
    assert _reason(data, trust, StaleMessage) == "stale_timestamp"
    # inside the configured skew it is still accepted
    assert wsse.verify_envelope(data, trust, now=NOW, max_skew=dt.timedelta(minutes=16))


def test_not_yet_valid_timestamp_is_refused(signer: Credentials, trust: TrustStore) -> None:
    """Created in the future beyond the skew: timestamp_in_future."""
    data = wsse.sign_envelope(envelope_bytes(), signer, now=NOW + dt.timedelta(minutes=10))
    assert _reason(data, trust, StaleMessage) == "timestamp_in_future"


def test_overlong_timestamp_is_refused(signer: Credentials, trust: TrustStore) -> None:
    """A validity window longer than max_validity: timestamp_too_long."""
    data = wsse.sign_envelope(envelope_bytes(), signer, now=NOW, ttl=dt.timedelta(days=2))
    assert _reason(data, trust, StaleMessage) == "timestamp_too_long"


def test_missing_timestamp_is_refused(signed: bytes, trust: TrustStore) -> None:
    """No Timestamp in the Security header: missing_timestamp."""

    def drop(root: etree._Element) -> None:
        timestamp = _one(root, "//wsu:Timestamp")
        timestamp.getparent().remove(timestamp)  # type: ignore[union-attr]

    assert _reason(_edit(signed, drop), trust, StaleMessage) == "missing_timestamp"


def test_replayed_envelope_is_refused(signed: bytes, trust: TrustStore) -> None:
    """With a replay cache, the same signed envelope is accepted once: replayed_message."""
    # the cache forgets by its own clock: the test's (NOW is fixed when the module is imported,
    # and a slow run may reach this test after the envelope would have expired by the wall clock)
    cache = MemoryReplayCache(clock=NOW.timestamp)
    wsse.verify_envelope(signed, trust, now=NOW, replay_cache=cache)
    assert _reason(signed, trust, ReplayedMessage, replay_cache=cache) == "replayed_message"


def test_untrusted_certificate_is_refused(trust: TrustStore) -> None:
    """Signed by a certificate from another CA (same CN): untrusted_certificate."""
    data = wsse.sign_envelope(envelope_bytes(), rogue_credentials("adapter"), now=NOW)
    assert _reason(data, trust, CertificateError) == "untrusted_certificate"


def test_expired_certificate_is_refused(dev_keys: Path, trust: TrustStore) -> None:
    """Signed by an expired certificate of the trusted CA: certificate_expired."""
    creds = expired_party(dev_keys, now=NOW)
    data = wsse.sign_envelope(envelope_bytes(), creds, now=NOW)
    assert _reason(data, trust, CertificateError) == "certificate_expired"


def test_certificate_not_for_signing_is_refused(dev_keys: Path, trust: TrustStore) -> None:
    """Signed by a certificate without digitalSignature: certificate_not_for_signing."""
    creds = party_with_certificate(dev_keys, digital_signature=False)
    data = wsse.sign_envelope(envelope_bytes(), creds, now=NOW)
    assert _reason(data, trust, CertificateError) == "certificate_not_for_signing"


def test_unexpected_party_is_refused(signed: bytes, trust: TrustStore) -> None:
    """expected_party names someone else than the signer: unexpected_party."""
    assert _reason(signed, trust, CertificateError, expected_party="population") == (
        "unexpected_party"
    )


@pytest.mark.parametrize(
    ("path", "algorithm"),
    [
        ("//ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
        ("//ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
        ("//ds:Reference[1]/ds:DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
        ("//ds:CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        ("//ds:Reference[1]//ds:Transform", "http://www.w3.org/TR/1999/REC-xpath-19991116"),
    ],
)
def test_wrong_algorithm_is_refused(
    signed: bytes, trust: TrustStore, path: str, algorithm: str
) -> None:
    """Any algorithm outside exc-c14n / SHA-256 / ECDSA-or-RSA-SHA-256: unsupported_algorithm."""
    data = _edit(signed, lambda r: _one(r, path).set("Algorithm", algorithm))
    assert _reason(data, trust, UnsupportedAlgorithm) == "unsupported_algorithm"


def test_algorithm_that_does_not_fit_the_key_is_refused(signed: bytes, trust: TrustStore) -> None:
    """rsa-sha256 claimed for an ECDSA certificate: algorithm_key_mismatch."""
    data = _edit(
        signed, lambda r: _one(r, "//ds:SignatureMethod").set("Algorithm", wsse.RSA_SHA256)
    )
    assert _reason(data, trust, UnsupportedAlgorithm) == "algorithm_key_mismatch"


def test_malformed_xml_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A truncated envelope: malformed_xml."""
    assert _reason(signed[: len(signed) // 2], trust, UnsafeXml) == "malformed_xml"


def test_dtd_payload_is_refused(signed: bytes, trust: TrustStore) -> None:
    """A signed envelope behind a DTD with an entity: dtd_forbidden."""
    data = b'<!DOCTYPE x [<!ENTITY e "boom">]>' + signed
    assert _reason(data, trust, UnsafeXml) == "dtd_forbidden"


def test_oversized_envelope_is_refused(signed: bytes, trust: TrustStore) -> None:
    """An envelope above the size limit: xml_too_large."""
    reason = _reason(signed, trust, UnsafeXml, limits=XmlLimits(max_bytes=4096))
    assert reason == "xml_too_large"


def test_not_an_envelope_is_refused(trust: TrustStore) -> None:
    """A document that is not a SOAP 1.1 Envelope: malformed_envelope."""
    assert _reason(b"<a/>", trust, InvalidSignature) == "malformed_envelope"


def test_comment_cannot_truncate_signed_text(signer: Credentials, trust: TrustStore) -> None:
    """A comment inserted into signed text (ignored by C14N) does not cut what the app reads."""
    signed = wsse.sign_envelope(envelope_bytes(), signer, now=NOW)
    injected = signed.replace(b">001095000003<", b">0010950<!-- cut -->00003<", 1)
    assert injected != signed
    verified = wsse.verify_envelope(injected, trust, now=NOW)
    ids = verified.body.xpath("//pop:citizenId/text()", namespaces=NS)
    assert isinstance(ids, list)
    assert "001095000003" in ids
