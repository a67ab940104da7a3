"""Loading private keys and certificates (PEM, DER, PKCS#12) and a party's credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from security.errors import KeyLoadError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Credentials:
    """A private key, its certificate and the party (subject CN) they belong to."""

    key: PrivateKey
    certificate: x509.Certificate
    party: str
    chain: tuple[x509.Certificate, ...] = field(default=())

    @cached_property
    def certificate_der(self) -> bytes:
        """The certificate in DER form (what a BinarySecurityToken carries)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the certificate, hex."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _check_private(key: object, source: str) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyLoadError(f"{source}: only the P-256 curve is supported")
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise KeyLoadError(f"{source}: RSA keys must be at least 2048 bits")
        return key
    raise KeyLoadError(f"{source}: only ECDSA P-256 and RSA keys are supported")


def load_private_key(path: Path | str, password: bytes | None = None) -> PrivateKey:
    """Load a PEM (or DER) private key; only ECDSA P-256 and RSA ≥ 2048 are accepted."""
    data = _read(path)
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"{path}: not a usable private key ({type(exc).__name__})") from exc
    return _check_private(key, str(path))


def load_certificate(path: Path | str) -> x509.Certificate:
    """Load the first certificate of a PEM (or DER) file."""
    certs = load_certificates(path)
    return certs[0]


def load_certificates(path: Path | str) -> list[x509.Certificate]:
    """Load every certificate of a PEM bundle (or the one of a DER file)."""
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise KeyLoadError(f"{path}: not a certificate") from exc
    if not certs:
        raise KeyLoadError(f"{path}: holds no certificate")
    return certs


def party_of(certificate: x509.Certificate) -> str:
    """The party a certificate names: its subject common name."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return ""
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def load_pkcs12(path: Path | str, password: bytes | None = None) -> Credentials:
    """Load a key, its certificate and any chain certificates from a PKCS#12 file."""
    data = _read(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"{path}: not a readable PKCS#12 file ({type(exc).__name__})") from exc
    if key is None or cert is None:
        raise KeyLoadError(f"{path}: PKCS#12 file must hold a private key and its certificate")
    private = _check_private(key, str(path))
    _check_pair(private, cert, str(path))
    return Credentials(private, cert, party_of(cert), tuple(extra))


def _check_pair(key: PrivateKey, cert: x509.Certificate, source: str) -> None:
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != cert.public_key().public_bytes(der, pub):
        raise KeyLoadError(f"{source}: the private key does not match the certificate")


def load_credentials(
    key_path: Path | str, cert_path: Path | str, password: bytes | None = None
) -> Credentials:
    """Load a key file and a certificate file that belong together."""
    key = load_private_key(key_path, password)
    certs = load_certificates(cert_path)
    _check_pair(key, certs[0], str(cert_path))
    return Credentials(key, certs[0], party_of(certs[0]), tuple(certs[1:]))


def load_party(keys_dir: Path | str, party: str) -> Credentials:
    """Load ``keys_dir/<party>/key.pem`` and ``cert.pem`` (the key folder of ``security.pki``)."""
    folder = Path(keys_dir) / party
    return load_credentials(folder / "key.pem", folder / "cert.pem")


__all__ = [
    "Credentials",
    "PrivateKey",
    "PublicKey",
    "load_certificate",
    "load_certificates",
    "load_credentials",
    "load_party",
    "load_pkcs12",
    "load_private_key",
    "party_of",
]
