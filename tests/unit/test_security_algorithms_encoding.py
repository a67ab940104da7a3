"""``algorithms.der_to_raw`` gives what `cryptography`'s own helper gives.

The plain path is ``decode_dss_signature`` followed by ``int.to_bytes(32)``; the byte-level
reading must agree on every value: zero, leading zero bytes, the high bit set or not, the
largest 32-byte integers, and a seeded run of random ones. A DER value of another shape goes
through ``decode_dss_signature`` and is refused as it would refuse it.
"""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from security import algorithms

EDGES = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 1 << 247, (1 << 248) - 1, 1 << 255, (1 << 256) - 1]
_rng = random.Random(9421)
RANDOM = [_rng.getrandbits(_rng.choice((8, 200, 248, 255, 256))) for _ in range(300)]
PAIRS = [(r, s) for r in EDGES for s in EDGES] + list(zip(RANDOM, reversed(RANDOM), strict=True))


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(("r", "s"), PAIRS[:: max(1, len(PAIRS) // 60)])
def test_each_way_agrees_with_cryptography(r: int, s: int) -> None:
    der = encode_dss_signature(r, s)
    assert algorithms.der_to_raw(der) == _raw(*decode_dss_signature(der))


def test_every_pair_agrees() -> None:
    for r, s in PAIRS:
        assert algorithms.der_to_raw(encode_dss_signature(r, s)) == _raw(r, s)


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30",
        b"\x30\x00",
        b"\x31\x06\x02\x01\x01\x02\x01\x01",  # not a SEQUENCE
        b"\x30\x06\x02\x01\x01\x02\x01",  # cut short
        b"\x30\x07\x02\x01\x01\x02\x01\x01\x00",  # trailing byte
        b"\x30\x06\x02\x01\x01\x04\x01\x01",  # not an INTEGER
        b"\x30\x26\x02\x22" + b"\x01" * 34 + b"\x02\x00",  # r of 34 bytes
    ],
)
def test_another_shape_is_decoded_as_cryptography_does(der: bytes) -> None:
    try:
        expected: object = _raw(*decode_dss_signature(der))
    except ValueError:
        expected = ValueError
    except OverflowError:
        expected = OverflowError
    try:
        found: object = algorithms.der_to_raw(der)
    except ValueError:
        found = ValueError
    except OverflowError:
        found = OverflowError
    assert found == expected


def test_sign_and_verify_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for index in range(50):
        data = f"message {index}".encode()
        value = algorithms.sign(key, algorithms.ECDSA_P256_SHA256, data)
        assert len(value) == 64
        public = key.public_key()
        assert algorithms.verify(public, algorithms.ECDSA_P256_SHA256, value, data)
        assert not algorithms.verify(public, algorithms.ECDSA_P256_SHA256, value, data + b"!")
        forged = bytes((value[0] ^ 1,)) + value[1:]
        assert not algorithms.verify(public, algorithms.ECDSA_P256_SHA256, forged, data)
    assert not algorithms.verify(
        key.public_key(), algorithms.ECDSA_P256_SHA256, b"\x00" * 64, b"data"
    )


def test_a_key_of_another_family_is_still_refused_after_an_ec_key() -> None:
    """The EC key classes remembered by ``sign`` and ``verify`` admit no other class."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    value = algorithms.sign(ec_key, algorithms.ECDSA_P256_SHA256, b"data")  # remembered
    assert algorithms.verify(ec_key.public_key(), algorithms.ECDSA_P256_SHA256, value, b"data")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError, match="EC key"):
        algorithms.sign(rsa_key, algorithms.ECDSA_P256_SHA256, b"data")
    assert not algorithms.verify(rsa_key.public_key(), algorithms.ECDSA_P256_SHA256, value, b"data")
