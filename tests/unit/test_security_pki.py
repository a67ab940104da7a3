"""The development PKI, key loading and the trust store."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from security.errors import (
    CertificateExpired,
    CertificateNotForSigning,
    KeyLoadError,
    UntrustedCertificate,
)
from security.keys import (
    load_certificate,
    load_credentials,
    load_party,
    load_pkcs12,
    load_private_key,
    party_of,
)
from security.pki import PARTIES, dev_pki_exists, init_dev_pki, issue_certificate
from security.trust import TrustStore
from tests.support.security_samples import party_with_certificate, rogue_credentials

NOW = dt.datetime.now(dt.UTC)


def test_init_dev_pki_writes_the_documented_folder_layout(dev_keys: Path) -> None:
    """keys init writes ca/cert.pem + key.pem and key.pem + cert.pem for each of the 8 parties."""
    assert (dev_keys / "ca" / "cert.pem").is_file()
    assert (dev_keys / "ca" / "key.pem").is_file()
    assert set(PARTIES) == {
        "adapter",
        "population",
        "registry",
        "portal",
        "province-app",
        "ministry",
        "integrator",
        "civil-status",
        "residence",
        "social-security",
        "tsa",
    }
    for party in PARTIES:
        assert (dev_keys / party / "key.pem").is_file()
        assert (dev_keys / party / "cert.pem").is_file()
    assert dev_pki_exists(dev_keys)


def test_the_adapter_gets_a_tls_server_certificate_of_its_own(tmp_path: Path) -> None:
    """keys init adds adapter/tls-cert.pem + tls-key.pem (0600): CA-issued, serverAuth only,
    SAN localhost and 127.0.0.1, a key other than the adapter's signing key; an older folder
    without them is not complete, and a second init adds them keeping every existing file."""
    folder = tmp_path / "keys"
    init_dev_pki(folder)
    cert = load_certificate(folder / "adapter" / "tls-cert.pem")
    TrustStore.from_pem_file(folder / "ca" / "cert.pem").validate(cert)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    tls_key = folder / "adapter" / "tls-key.pem"
    assert stat.S_IMODE(tls_key.stat().st_mode) == 0o600
    signing = load_party(folder, "adapter").certificate.public_key()
    assert cert.public_key() != signing
    (folder / "adapter" / "tls-cert.pem").unlink()
    tls_key.unlink()
    assert not dev_pki_exists(folder)
    kept = (folder / "adapter" / "cert.pem").read_bytes()
    init_dev_pki(folder)
    assert dev_pki_exists(folder)
    assert (folder / "adapter" / "cert.pem").read_bytes() == kept


def test_the_tsa_certificate_is_for_time_stamping_only(dev_keys: Path) -> None:
    """The tsa party's certificate has the one extended key usage timeStamping, critical (RFC
    3161 §2.3); the other parties' do not have it."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from security.keys import load_certificate

    tsa = load_certificate(dev_keys / "tsa" / "cert.pem")
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    adapter = load_certificate(dev_keys / "adapter" / "cert.pem")
    other = adapter.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert ExtendedKeyUsageOID.TIME_STAMPING not in list(other.value)


def test_key_files_are_private(dev_keys: Path) -> None:
    """Every key file is created with mode 0600."""
    for key_file in dev_keys.glob("*/key.pem"):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file


def test_party_certificates_have_the_agreed_profile(dev_keys: Path) -> None:
    """Party certs: CN = party, O/C set, digitalSignature, client+server auth, localhost SAN."""
    cert = load_certificate(dev_keys / "ministry" / "cert.pem")
    assert party_of(cert) == "ministry"
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert org == "lienthong sandbox"
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_ca_certificate_is_a_ca(dev_keys: Path) -> None:
    """The CA has BasicConstraints ca=True and may sign certificates."""
    ca = load_certificate(dev_keys / "ca" / "cert.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_rsa_pki_uses_rsa_2048(dev_keys_rsa: Path) -> None:
    """--rsa makes RSA-2048 keys for the CA and every party."""
    creds = load_party(dev_keys_rsa, "adapter")
    assert isinstance(creds.key, rsa.RSAPrivateKey)
    assert creds.key.key_size == 2048
    TrustStore.from_pem_file(dev_keys_rsa / "ca" / "cert.pem").validate(creds.certificate)


def test_init_dev_pki_keeps_existing_files(tmp_path: Path) -> None:
    """A second run never overwrites a key; a missing certificate is re-issued for the same key."""
    init_dev_pki(tmp_path)
    key_before = (tmp_path / "adapter" / "key.pem").read_bytes()
    ca_before = (tmp_path / "ca" / "cert.pem").read_bytes()
    (tmp_path / "portal" / "cert.pem").unlink()
    init_dev_pki(tmp_path)
    assert (tmp_path / "adapter" / "key.pem").read_bytes() == key_before
    assert (tmp_path / "ca" / "cert.pem").read_bytes() == ca_before
    portal = load_party(tmp_path, "portal")
    TrustStore.from_pem_file(tmp_path / "ca" / "cert.pem").validate(portal.certificate)


def test_load_party_refuses_a_mismatched_pair(dev_keys: Path) -> None:
    """A key that does not belong to the certificate is refused on load."""
    with pytest.raises(KeyLoadError) as caught:
        load_credentials(dev_keys / "adapter" / "key.pem", dev_keys / "portal" / "cert.pem")
    assert "does not match" in str(caught.value)


def test_load_private_key_refuses_garbage_and_missing_files(tmp_path: Path) -> None:
    """Unreadable key files raise KeyLoadError with the reason, not a bare ValueError."""
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyLoadError):
        load_private_key(bad)
    with pytest.raises(KeyLoadError) as caught:
        load_private_key(tmp_path / "absent.pem")
    assert caught.value.reason == "key_load_error"


def test_pkcs12_round_trip(dev_keys: Path, tmp_path: Path) -> None:
    """A PKCS#12 bundle (password protected) loads into the same key and certificate."""
    creds = load_party(dev_keys, "registry")
    blob = pkcs12.serialize_key_and_certificates(
        b"registry", creds.key, creds.certificate, None, BestAvailableEncryption(b"pw")
    )
    path = tmp_path / "registry.p12"
    path.write_bytes(blob)
    loaded = load_pkcs12(path, b"pw")
    assert loaded.party == "registry"
    assert loaded.certificate == creds.certificate
    with pytest.raises(KeyLoadError):
        load_pkcs12(path, b"wrong")


def test_trust_store_accepts_a_party_certificate(dev_keys: Path) -> None:
    """A certificate issued by the trusted CA, valid now and for signing, passes."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    cert = load_party(dev_keys, "integrator").certificate
    assert trust.validate(cert) is cert
    assert trust.validate_der(load_party(dev_keys, "integrator").certificate_der) == cert


def test_trust_store_refuses_an_untrusted_certificate(dev_keys: Path) -> None:
    """A certificate from another CA with the same CN is untrusted."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    with pytest.raises(UntrustedCertificate) as caught:
        trust.validate(rogue_credentials("adapter").certificate)
    assert caught.value.reason == "untrusted_certificate"


def test_trust_store_refuses_expired_and_not_yet_valid(dev_keys: Path) -> None:
    """Validity periods are checked at the given time; the cached verdict re-checks time."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    expired = party_with_certificate(
        dev_keys, not_before=NOW - dt.timedelta(days=10), not_after=NOW - dt.timedelta(days=1)
    )
    with pytest.raises(CertificateExpired) as caught:
        trust.validate(expired.certificate)
    assert caught.value.reason == "certificate_expired"
    future = party_with_certificate(
        dev_keys, not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=10)
    )
    with pytest.raises(CertificateExpired) as caught:
        trust.validate(future.certificate)
    assert caught.value.reason == "certificate_not_yet_valid"
    assert trust.validate(future.certificate, at=NOW + dt.timedelta(days=2))


def test_trust_store_refuses_a_certificate_not_for_signing(dev_keys: Path) -> None:
    """A certificate without the digitalSignature key usage may not sign."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    creds = party_with_certificate(dev_keys, digital_signature=False)
    with pytest.raises(CertificateNotForSigning):
        trust.validate(creds.certificate)


def test_trust_store_refuses_the_ca_itself_as_a_signer(dev_keys: Path) -> None:
    """The CA certificate is a trust anchor, not a message signer."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    with pytest.raises(CertificateNotForSigning):
        trust.validate(load_certificate(dev_keys / "ca" / "cert.pem"))


def test_trust_store_refuses_a_leaf_issued_by_a_non_ca(dev_keys: Path) -> None:
    """A certificate 'issued' by another party's (non-CA) key does not chain."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    issuer = load_party(dev_keys, "portal")
    forged = issue_certificate(
        issuer.key, issuer.certificate, "adapter", load_party(dev_keys, "adapter").key.public_key()
    )
    with pytest.raises(UntrustedCertificate):
        trust.validate(forged)
