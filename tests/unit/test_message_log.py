"""The message log's building blocks: the chain encoding, body encryption, wire form, keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
from dataclasses import fields, replace
from pathlib import Path

import pytest

from security.keys import party_of
from store.log_keys import (
    LogKeyError,
    access_log_key,
    key_id,
    load_key,
    load_or_create_key,
    message_log_key,
)
from store.message_log.chain import GENESIS, SealedFields, format_time
from store.message_log.crypto import BodyCipher
from store.message_log.errors import BodyDecryptionError
from store.message_log.signers import envelope_certificate, signature_keyid
from store.message_log.wire import (
    body_of,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    endpoint_of,
)
from tests.support.message_log import make_soap_exchange

SEALED = SealedFields(
    seq=7,
    prev_digest=GENESIS,
    message_id="m-1",
    attempt=1,
    protocol="soap",
    upstream="population",
    operation="GetCitizen",
    client="province-app",
    sender="adapter",
    receiver="population",
    user_id="VN001085000123",
    issue="000.00.04.H04-261126-0007",
    method="POST",
    endpoint="http://127.0.0.1/population/soap",
    status=200,
    outcome="ok",
    started_at="2026-11-26T08:00:00.000001Z",
    finished_at="2026-11-26T08:00:00.040001Z",
    request_sha256="a" * 64,
    request_body_sha256="b" * 64,
    request_signer="c" * 64,
    response_sha256="d" * 64,
    response_body_sha256="e" * 64,
    response_signer="f" * 64,
)


def test_canonical_encoding_is_sorted_compact_json_and_digest_is_its_sha256() -> None:
    """The digest is SHA-256 of compact, key-sorted JSON carrying every field and the version."""
    data = SEALED.canonical()
    assert (
        data
        == json.dumps(
            json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    document = json.loads(data)
    assert list(document) == sorted(document)
    assert document["v"] == 1
    assert {f.name for f in fields(SealedFields)} | {"v"} == set(document)
    assert SEALED.digest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", [f.name for f in fields(SealedFields)])
def test_every_sealed_field_changes_the_digest(name: str) -> None:
    """Changing any one sealed field gives another digest (nothing escapes the seal)."""
    value = getattr(SEALED, name)
    changed = value + 1 if isinstance(value, int) else (value or "") + "x"
    assert replace(SEALED, **{name: changed}).digest() != SEALED.digest()


def test_a_record_sealed_at_another_position_has_another_digest() -> None:
    """``at(seq)`` reseals the same fields elsewhere: moved records do not keep their digest."""
    assert SEALED.at(8).digest() != SEALED.digest()
    assert SEALED.at(7) == SEALED


def test_times_are_encoded_in_utc_with_microseconds() -> None:
    """Aware times of any zone encode as the same UTC instant with microseconds and ``Z``."""
    hanoi = dt.timezone(dt.timedelta(hours=7))
    moment = dt.datetime(2026, 11, 26, 15, 0, 0, 5, tzinfo=hanoi)
    assert format_time(moment) == "2026-11-26T08:00:00.000005Z"


def test_bodies_round_trip_and_are_bound_to_their_record() -> None:
    """A body decrypts only for its own seq, message id and kind; ciphertexts differ each time."""
    cipher = BodyCipher(b"k" * 32)
    stored = cipher.encrypt(b"<envelope/>", seq=3, message_id="m", kind="request")
    assert b"<envelope/>" not in stored
    assert cipher.decrypt(stored, seq=3, message_id="m", kind="request") == b"<envelope/>"
    assert stored != cipher.encrypt(b"<envelope/>", seq=3, message_id="m", kind="request")
    for seq, message_id, kind in [(4, "m", "request"), (3, "n", "request"), (3, "m", "response")]:
        with pytest.raises(BodyDecryptionError):
            cipher.decrypt(stored, seq=seq, message_id=message_id, kind=kind)  # type: ignore[arg-type]


def test_an_altered_or_foreign_body_does_not_decrypt() -> None:
    """One flipped bit, a truncated body or another key: decryption is refused."""
    cipher = BodyCipher(b"k" * 32)
    stored = cipher.encrypt(b"payload", seq=1, message_id="m", kind="request")
    flipped = stored[:-1] + bytes([stored[-1] ^ 1])
    for bad in (flipped, stored[:10]):
        with pytest.raises(BodyDecryptionError):
            cipher.decrypt(bad, seq=1, message_id="m", kind="request")
    with pytest.raises(BodyDecryptionError):
        BodyCipher(b"j" * 32).decrypt(stored, seq=1, message_id="m", kind="request")


def test_the_cipher_refuses_a_short_key() -> None:
    """Only a 32-byte key makes a cipher (AES-256)."""
    with pytest.raises(ValueError, match="32 bytes"):
        BodyCipher(b"short")


def test_wire_messages_round_trip_exactly() -> None:
    """Requests and responses come back with the same method, URL, headers and body bytes."""
    body = b"<a>\r\n\r\nnot the end of headers</a>"
    headers = {"Content-Type": "text/xml", "SOAPAction": '"x#y"'}
    request = decode_request(encode_request("POST", "http://h/p?q=1", headers, body))
    assert (request.method, request.url, request.headers, request.body) == (
        "POST",
        "http://h/p?q=1",
        headers,
        body,
    )
    stored = encode_response(503, {"retry-after": "1"}, b"")
    response = decode_response(stored)
    assert (response.status, response.headers, response.body) == (503, {"retry-after": "1"}, b"")
    assert body_of(encode_request("GET", "http://h/", {}, body)) == body


def test_a_header_that_would_break_the_line_is_refused() -> None:
    """A header value with a line break cannot be stored unambiguously, so it is refused."""
    with pytest.raises(ValueError, match="one line"):
        encode_request("GET", "http://h/", {"x": "a\r\nb: c"}, b"")


def test_endpoint_drops_the_query_that_may_carry_an_identifier() -> None:
    """The stored endpoint keeps scheme, host and path only."""
    assert endpoint_of("https://h:8443/registry/x?maSoDoanhNghiep=0101&y=2#f") == (
        "https://h:8443/registry/x"
    )


def test_signature_keyid_reads_the_first_signature_input() -> None:
    """The RFC 9421 keyid is read from Signature-Input (any header case); none when absent."""
    headers = {"Signature-Input": 'sig1=("@method");created=1;keyid="registry";alg="x"'}
    assert signature_keyid(headers) == "registry"
    assert signature_keyid({"signature-input": "not a dictionary ((("}) is None
    assert signature_keyid({}) is None


@pytest.mark.parametrize(
    ("value", "keyid"),
    [
        ('sig1=("@method");keyid=registry, sig2=("@path");keyid="other"', "registry"),
        ('sig1=("@method");keyid=7;alg="x"', None),
        ('sig1=("@method");created=1', None),
        ('sig1=("@method");keyid="s\u1ed1"', None),
        ("", None),
    ],
)
def test_signature_keyid_takes_the_first_members_string_keyid(
    value: str, keyid: str | None
) -> None:
    """A token keyid reads as a plain string; a number, none, non-ASCII or empty field give none."""
    found = signature_keyid({"Signature-Input": value})
    assert found == keyid
    assert found is None or type(found) is str


def test_envelope_certificate_is_the_signers(dev_keys: Path) -> None:
    """The certificate in an envelope's BinarySecurityToken is the signer's; none if unsigned."""
    exchange = make_soap_exchange(dev_keys)
    cert = envelope_certificate(exchange.request)
    assert cert is not None
    assert party_of(cert) == "adapter"
    assert envelope_certificate(b"<not-soap/>") is None
    assert envelope_certificate(b"\x00garbage") is None


def test_log_keys_are_created_once_private_and_reused(tmp_path: Path) -> None:
    """A missing key is made (32 bytes, mode 0600); the next call reads the same key back."""
    first = message_log_key(tmp_path)
    path = tmp_path / "adapter" / "messagelog.key"
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert message_log_key(tmp_path) == first
    assert access_log_key(tmp_path) != first
    assert key_id(first) != key_id(access_log_key(tmp_path))
    assert len(key_id(first)) == 16


def test_a_malformed_or_missing_key_is_refused(tmp_path: Path) -> None:
    """A key file of the wrong size is an error, and so is a missing one when not creating."""
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"x" * 31)
    with pytest.raises(LogKeyError, match="32 bytes"):
        load_or_create_key(bad)
    with pytest.raises(LogKeyError, match="cannot read"):
        load_key(tmp_path / "absent.key")
    with pytest.raises(LogKeyError):
        message_log_key(tmp_path / "nowhere", create=False)
