"""A development PKI: one CA and a key + certificate for every party.

Folder layout written by :func:`init_dev_pki`::

    DIR/ca/cert.pem, DIR/ca/key.pem
    DIR/<party>/cert.pem, DIR/<party>/key.pem     for every party in PARTIES
    DIR/adapter/tls-cert.pem, DIR/adapter/tls-key.pem   the adapter's TLS server certificate

Every party's certificate allows clientAuth and serverAuth, except ``tsa``: the time-stamping
authority's has the one extended key usage ``timeStamping``, critical, as RFC 3161 §2.3 requires
(and ``openssl ts -verify`` checks).
The TLS certificate is the adapter's HTTPS identity (``serve --tls``): serverAuth only, SAN
``localhost`` and ``127.0.0.1``, a key of its own (the signing key signs messages, not
handshakes). Existing files are kept: a key is never overwritten. Key files are created with
mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from security.keys import PrivateKey, load_certificate, load_private_key

PARTIES: tuple[str, ...] = (
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
)
#: the party that signs RFC 3161 time-stamps (its certificate is for nothing else)
TSA_PARTY = "tsa"
CA_NAME = "lienthong sandbox CA"
ORGANIZATION = "lienthong sandbox"
CA_VALIDITY = dt.timedelta(days=3650)
PARTY_VALIDITY = dt.timedelta(days=825)
_BACKDATE = dt.timedelta(hours=1)


def generate_key(*, rsa_key: bool = False) -> PrivateKey:
    """A fresh ECDSA P-256 key, or RSA-2048 when ``rsa_key``."""
    if rsa_key:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_ca_certificate(
    key: PrivateKey,
    *,
    name: str = CA_NAME,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    """A self-signed CA certificate (BasicConstraints ca=True, keyCertSign + cRLSign)."""
    start = not_before or _now() - _BACKDATE
    end = not_after or start + CA_VALIDITY
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    party: str,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    digital_signature: bool = True,
    timestamping: bool = False,
) -> x509.Certificate:
    """A party certificate: CN = party, digitalSignature, clientAuth + serverAuth, localhost SAN.

    ``timestamping``: a time-stamping authority's instead — digitalSignature and nonRepudiation,
    the single extended key usage timeStamping marked critical.
    """
    start = not_before or _now() - _BACKDATE
    end = not_after or start + PARTY_VALIDITY
    return (
        x509.CertificateBuilder()
        .subject_name(_name(party))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=timestamping,
                key_encipherment=not digital_signature,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
            if timestamping
            else x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=timestamping,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


#: the party whose folder holds the TLS server certificate, and its files there
TLS_PARTY = "adapter"
TLS_CERT_FILE = "tls-cert.pem"
TLS_KEY_FILE = "tls-key.pem"


def issue_tls_server_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    *,
    name: str = "lienthong adapter (TLS)",
) -> x509.Certificate:
    """A TLS server certificate: serverAuth, SAN localhost and 127.0.0.1, CA-issued."""
    start = _now() - _BACKDATE
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + PARTY_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=rsa_key,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def key_pem(key: PrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a key file with mode 0600; refuses to replace an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem(key))


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    """Write a certificate file (mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(cert_pem(cert))
    tmp.chmod(0o644)
    tmp.replace(path)


def _load_or_create_key(path: Path, *, rsa_key: bool) -> PrivateKey:
    if path.exists():
        return load_private_key(path)
    key = generate_key(rsa_key=rsa_key)
    write_private_key(path, key)
    return key


def init_dev_pki(folder: Path | str, *, rsa: bool = False) -> None:
    """Create the development PKI under ``folder``; what exists already is kept.

    A missing CA is created (with its key). Each party missing a key gets one; each party missing
    a certificate gets one issued by the CA. Nothing existing is overwritten.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    ca_dir = root / "ca"
    ca_key_path, ca_cert_path = ca_dir / "key.pem", ca_dir / "cert.pem"
    ca_key = _load_or_create_key(ca_key_path, rsa_key=rsa)
    if ca_cert_path.exists():
        ca_cert = load_certificate(ca_cert_path)
    else:
        ca_cert = make_ca_certificate(ca_key)
        write_certificate(ca_cert_path, ca_cert)
    for party in PARTIES:
        party_dir = root / party
        key = _load_or_create_key(party_dir / "key.pem", rsa_key=rsa)
        cert_path = party_dir / "cert.pem"
        if not cert_path.exists():
            cert = issue_certificate(
                ca_key, ca_cert, party, key.public_key(), timestamping=party == TSA_PARTY
            )
            write_certificate(cert_path, cert)
    tls_dir = root / TLS_PARTY
    tls_key = _load_or_create_key(tls_dir / TLS_KEY_FILE, rsa_key=rsa)
    if not (tls_dir / TLS_CERT_FILE).exists():
        tls_cert = issue_tls_server_certificate(ca_key, ca_cert, tls_key.public_key())
        write_certificate(tls_dir / TLS_CERT_FILE, tls_cert)


def dev_pki_exists(folder: Path | str) -> bool:
    """True when ``folder`` holds the CA certificate and every party's key and certificate."""
    root = Path(folder)
    needed = [root / "ca" / "cert.pem"]
    for party in PARTIES:
        needed += [root / party / "key.pem", root / party / "cert.pem"]
    needed += [root / TLS_PARTY / TLS_KEY_FILE, root / TLS_PARTY / TLS_CERT_FILE]
    return all(path.is_file() for path in needed)


__all__ = [
    "CA_NAME",
    "PARTIES",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_PARTY",
    "TSA_PARTY",
    "cert_pem",
    "dev_pki_exists",
    "generate_key",
    "init_dev_pki",
    "issue_certificate",
    "issue_tls_server_certificate",
    "key_pem",
    "make_ca_certificate",
    "write_certificate",
    "write_private_key",
]
