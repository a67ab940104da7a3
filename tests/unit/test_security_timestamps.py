"""RFC 3161 time-stamps: the sandbox TSA's tokens check here and with ``openssl ts -verify``.

Tokens are made by :class:`TimeStampAuthority` with the development PKI's ``tsa`` party (ECDSA
and RSA); a token over other data, signed by a certificate that is not a TSA's or not trusted,
or answering another nonce, is refused with its reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import tsp

from security.errors import TimestampError
from security.keys import Credentials, load_party
from security.pki import generate_key, issue_certificate, make_ca_certificate
from security.timestamps import (
    TimeStampAuthority,
    read_timestamp_reply,
    timestamp_request,
    verify_token,
)
from security.trust import TrustStore

DATA = b"lienthong-messagelog-anchor/1\nrecord 1 " + b"ab" * 32 + b"\n"
IMPRINT = hashlib.sha256(DATA).digest()


def _openssl() -> str:
    found = shutil.which("openssl")
    assert found is not None, "the openssl binary is needed (apt-get install openssl)"
    return found


def _stamp(keys: Path, credentials: Credentials | None = None) -> bytes:
    authority = TimeStampAuthority(credentials or load_party(keys, "tsa"))
    request, nonce = timestamp_request(IMPRINT)
    reply = authority.respond(request)
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    return read_timestamp_reply(reply, IMPRINT, nonce, trust).token


@pytest.mark.parametrize("rsa", [False, True])
def test_tokens_check_here_and_with_openssl(
    dev_keys: Path, dev_keys_rsa: Path, tmp_path: Path, rsa: bool
) -> None:
    """A token over DATA verifies offline and with ``openssl ts -verify`` against the CA;
    openssl refuses it for other data."""
    keys = dev_keys_rsa if rsa else dev_keys
    token = _stamp(keys)
    stamp = verify_token(token, IMPRINT, TrustStore.from_pem_file(keys / "ca" / "cert.pem"))
    assert abs(stamp.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    (tmp_path / "anchor.txt").write_bytes(DATA)
    (tmp_path / "other.txt").write_bytes(DATA + b"x")
    (tmp_path / "anchor.tst").write_bytes(token)
    shutil.copy(keys / "ca" / "cert.pem", tmp_path / "ca.pem")
    argv = [_openssl(), "ts", "-verify", "-in", "anchor.tst", "-token_in", "-CAfile", "ca.pem"]
    good = subprocess.run([*argv, "-data", "anchor.txt"], cwd=tmp_path, capture_output=True)
    assert good.returncode == 0, good.stderr
    assert b"Verification: OK" in good.stdout
    bad = subprocess.run([*argv, "-data", "other.txt"], cwd=tmp_path, capture_output=True)
    assert bad.returncode != 0


def test_a_token_over_other_data_is_refused(dev_keys: Path) -> None:
    """The imprint must be the one asked for."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    with pytest.raises(TimestampError) as info:
        verify_token(_stamp(dev_keys), hashlib.sha256(b"other").digest(), trust)
    assert info.value.reason == "imprint_mismatch"


def test_a_token_altered_in_transit_is_refused(dev_keys: Path) -> None:
    """A changed byte inside the token fails its signature or its structure."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    token = bytearray(_stamp(dev_keys))
    token[-10] ^= 0x01
    with pytest.raises(TimestampError) as info:
        verify_token(bytes(token), IMPRINT, trust)
    assert info.value.reason in ("token_signature", "token_malformed")


def test_a_signer_without_the_timestamping_usage_is_not_a_tsa(dev_keys: Path) -> None:
    """A token signed by a trusted party that is not a TSA (the adapter) is refused."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    adapter = TimeStampAuthority(load_party(dev_keys, "adapter"))
    request, _ = timestamp_request(IMPRINT)
    token = tsp.TimeStampResp.load(adapter.respond(request))["time_stamp_token"].dump()
    with pytest.raises(TimestampError) as info:
        verify_token(token, IMPRINT, trust)
    assert info.value.reason == "not_a_tsa"


def test_a_tsa_of_another_ca_is_untrusted(dev_keys: Path) -> None:
    """A TSA certificate that does not chain to the trust store is refused."""
    ca_key = generate_key()
    ca_cert = make_ca_certificate(ca_key, name="rogue CA")
    key = generate_key()
    cert = issue_certificate(ca_key, ca_cert, "tsa", key.public_key(), timestamping=True)
    rogue = TimeStampAuthority(Credentials(key, cert, "tsa"))
    request, _ = timestamp_request(IMPRINT)
    token = tsp.TimeStampResp.load(rogue.respond(request))["time_stamp_token"].dump()
    with pytest.raises(TimestampError) as info:
        verify_token(token, IMPRINT, TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem"))
    assert info.value.reason == "tsa_untrusted"


def test_a_reply_to_another_request_is_refused(dev_keys: Path) -> None:
    """The reply must carry the nonce of the request it answers."""
    authority = TimeStampAuthority(load_party(dev_keys, "tsa"))
    request, nonce = timestamp_request(IMPRINT)
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    with pytest.raises(TimestampError) as info:
        read_timestamp_reply(authority.respond(request), IMPRINT, nonce + 1, trust)
    assert info.value.reason == "tsa_nonce"


def test_unreadable_requests_get_a_rejection(dev_keys: Path) -> None:
    """Garbage and a SHA-1 imprint are answered with a rejection status, not a token."""
    authority = TimeStampAuthority(load_party(dev_keys, "tsa"))
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    for request in (b"garbage", _sha1_request()):
        reply = authority.respond(request)
        assert reply[:2] == b"\x30" + bytes([len(reply) - 2])  # a TimeStampResp: status only
        assert tsp.PKIStatusInfo.load(reply[2:])["status"].native == "rejection"
        with pytest.raises(TimestampError) as info:
            read_timestamp_reply(reply, IMPRINT, 1, trust)
        assert info.value.reason == "tsa_refused"


def _sha1_request() -> bytes:
    from asn1crypto import algos

    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}),
                "hashed_message": hashlib.sha1(DATA).digest(),  # noqa: S324 (refused on purpose)
            },
            "cert_req": True,
        }
    )
    der: bytes = request.dump()
    return der
