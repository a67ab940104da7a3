"""The signature primitives both signature formats rest on, with their wire encodings.

ECDSA values are the raw ``r || s`` concatenation (32 + 32 bytes for P-256), as XML-DSig 1.1
(RFC 4050 / RFC 6931) and RFC 9421 §3.3.4 require, not DER.
"""

from __future__ import annotations

from typing import cast

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


def der_to_raw(der: bytes) -> bytes:
    """The ``r || s`` (32 + 32 bytes) of a P-256 DER signature, as ``decode_dss_signature``
    and ``int.to_bytes`` give it; read from the bytes when it has the SEQUENCE-of-two-INTEGERs
    shape (short lengths, integers of at most 33 bytes), else through ``decode_dss_signature``.

    For the signer's own output (OpenSSL's DER): about half the cost of decoding to integers.
    """
    r_length = der[3] if len(der) > 4 else 0
    s_at = 4 + r_length
    if (
        len(der) > 4
        and der[0] == 0x30
        and der[1] == len(der) - 2
        and der[2] == 2
        and 0 < r_length <= _P256_BYTES + 1
        and len(der) > s_at + 2
        and der[s_at] == 2
        and 0 < der[s_at + 1] <= _P256_BYTES + 1
        and len(der) == s_at + 2 + der[s_at + 1]
    ):
        r = der[4:s_at]
        s = der[s_at + 2 :]
        if (len(r) <= _P256_BYTES or r[0] == 0) and (len(s) <= _P256_BYTES or s[0] == 0):
            return r[-_P256_BYTES:].rjust(_P256_BYTES, b"\x00") + s[-_P256_BYTES:].rjust(
                _P256_BYTES, b"\x00"
            )
    r_value, s_value = decode_dss_signature(der)
    return r_value.to_bytes(_P256_BYTES, "big") + s_value.to_bytes(_P256_BYTES, "big")


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


# The key classes found to be EC keys. isinstance() against cryptography's abstract classes runs
# an ABC check on every call (about as many instructions as turning r || s into DER); whether a
# class is an EC key class never changes (an ABC's registrations are only ever added).
_EC_PRIVATE_CLASSES: set[type] = set()
_EC_PUBLIC_CLASSES: set[type] = set()


def sign(key: PrivateKey, scheme: str, data: bytes) -> bytes:
    """Sign ``data`` with ``scheme``; an ECDSA value comes back as raw ``r || s``."""
    if scheme == ECDSA_P256_SHA256:
        if type(key) not in _EC_PRIVATE_CLASSES:
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError("an ECDSA scheme needs an EC key")
            _EC_PRIVATE_CLASSES.add(type(key))
        return der_to_raw(cast(ec.EllipticCurvePrivateKey, key).sign(data, _ECDSA))
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
            if len(signature) != 2 * _P256_BYTES:
                return False
            if type(key) not in _EC_PUBLIC_CLASSES:
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    return False
                _EC_PUBLIC_CLASSES.add(type(key))
            r = int.from_bytes(signature[:_P256_BYTES], "big")
            s = int.from_bytes(signature[_P256_BYTES:], "big")
            cast(ec.EllipticCurvePublicKey, key).verify(encode_dss_signature(r, s), data, _ECDSA)
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
