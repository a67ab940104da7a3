"""The signature primitives both signature formats rest on, with their wire encodings.

ECDSA values are the raw ``r || s`` concatenation (32 + 32 bytes for P-256), as XML-DSig 1.1
(RFC 4050 / RFC 6931) and RFC 9421 §3.3.4 require, not DER.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from security.keys import PrivateKey, PublicKey

ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
RSA_V1_5_SHA256 = "rsa-v1_5-sha256"
RSA_PSS_SHA512 = "rsa-pss-sha512"

_P256_BYTES = 32
_SHA256 = hashes.SHA256()
_SHA512 = hashes.SHA512()
_ECDSA = ec.ECDSA(_SHA256)
_PKCS1 = padding.PKCS1v15()
_PSS = padding.PSS(mgf=padding.MGF1(_SHA512), salt_length=64)


def default_scheme(key: PrivateKey | PublicKey, *, rsa_scheme: str = RSA_PSS_SHA512) -> str:
    """The scheme a key signs with by default: ECDSA P-256/SHA-256, or ``rsa_scheme`` for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECDSA_P256_SHA256
    return rsa_scheme


def key_matches(scheme: str, key: PublicKey) -> bool:
    """True when ``scheme`` may be used with ``key`` (the right family and curve)."""
    if scheme == ECDSA_P256_SHA256:
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    if scheme in (RSA_V1_5_SHA256, RSA_PSS_SHA512):
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
    return False


def sign(key: PrivateKey, scheme: str, data: bytes) -> bytes:
    """Sign ``data`` with ``scheme``; an ECDSA value comes back as raw ``r || s``."""
    if scheme == ECDSA_P256_SHA256:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("an ECDSA scheme needs an EC key")
        r, s = decode_dss_signature(key.sign(data, _ECDSA))
        return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an RSA scheme needs an RSA key")
    if scheme == RSA_V1_5_SHA256:
        return key.sign(data, _PKCS1, _SHA256)
    if scheme == RSA_PSS_SHA512:
        return key.sign(data, _PSS, _SHA512)
    raise ValueError(f"unknown signature scheme {scheme!r}")


def verify(key: PublicKey, scheme: str, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` over ``data`` verifies with ``key`` under ``scheme``."""
    try:
        if scheme == ECDSA_P256_SHA256:
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != 2 * _P256_BYTES:
                return False
            r = int.from_bytes(signature[:_P256_BYTES], "big")
            s = int.from_bytes(signature[_P256_BYTES:], "big")
            key.verify(encode_dss_signature(r, s), data, _ECDSA)
            return True
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        if scheme == RSA_V1_5_SHA256:
            key.verify(signature, data, _PKCS1, _SHA256)
            return True
        if scheme == RSA_PSS_SHA512:
            key.verify(signature, data, _PSS, _SHA512)
            return True
    except (_CryptoInvalidSignature, ValueError):
        return False
    return False


__all__ = [
    "ECDSA_P256_SHA256",
    "RSA_PSS_SHA512",
    "RSA_V1_5_SHA256",
    "default_scheme",
    "key_matches",
    "sign",
    "verify",
]
