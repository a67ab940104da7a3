"""HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530): signing and strict checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from security import algorithms
from security.errors import (
    CertificateError,
    DigestMismatch,
    InvalidSignature,
    MissingSignature,
    ReplayedMessage,
    SecurityError,
    StaleMessage,
    UnknownAuthority,
    UnknownKey,
    UnsupportedAlgorithm,
)
from security.http_signatures import (
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
    TrustedKeyDirectory,
    check_content_digest,
    content_digest,
)
from security.keys import Credentials, load_party
from security.pki import cert_pem
from security.replay import MemoryReplayCache
from security.trust import TrustStore
from tests.support.security_samples import expired_party, rogue_credentials

T0 = 1_800_000_000.0
URL = "https://adapter.example:8443/v1/dossiers/000.00.04.H04-261126-0007/events?x=1"
BODY = json.dumps({"status": 4, "note": "đang xử lý"}, ensure_ascii=False).encode()
HEADERS = {"Content-Type": "application/json"}


class Clock:
    """A settable clock for signer and verifier."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


@pytest.fixture
def client(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "province-app")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(dev_keys: Path, trust: TrustStore, clock: Clock) -> HttpVerifier:
    return HttpVerifier(TrustedKeyDirectory(dev_keys, trust), MemoryReplayCache(), clock=clock)


def _signed(signer: HttpSigner, url: str = URL, body: bytes = BODY) -> dict[str, str]:
    return {**HEADERS, **signer.sign_request("POST", url, HEADERS, body)}


def _reason(
    verifier: HttpVerifier,
    headers: dict[str, str],
    error: type[SecurityError] = SecurityError,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
) -> str:
    with pytest.raises(error) as caught:
        verifier.verify_request(method, url, headers, body)
    assert "đang" not in str(caught.value)  # the body is never echoed
    return caught.value.reason


# ----------------------------------------------------------------------------- digests


def test_content_digest_is_rfc9530_sha256() -> None:
    """Content-Digest is sha-256 as a structured byte sequence; a mismatch is refused."""
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    check_content_digest(content_digest(BODY), BODY)
    with pytest.raises(DigestMismatch):
        check_content_digest(content_digest(BODY), BODY + b" ")


def test_content_digest_accepts_sha512_and_refuses_unknown_algorithms() -> None:
    """sha-512 members are checked too; only unknown algorithms is unsupported_algorithm."""
    import base64
    import hashlib

    value = "sha-512=:" + base64.b64encode(hashlib.sha512(BODY).digest()).decode() + ":"
    check_content_digest(value, BODY)
    with pytest.raises(UnsupportedAlgorithm):
        check_content_digest("md5=:AAAA:", BODY)
    with pytest.raises(DigestMismatch) as caught:
        check_content_digest("sha-256=not-a-digest", BODY)
    assert caught.value.reason == "malformed_digest"


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("keys_fixture", "scheme"),
    [
        ("dev_keys", algorithms.ECDSA_P256_SHA256),
        ("dev_keys_rsa", algorithms.RSA_PSS_SHA512),
        ("dev_keys_rsa", algorithms.RSA_V1_5_SHA256),
    ],
)
def test_request_round_trip(keys_fixture: str, scheme: str, request: pytest.FixtureRequest) -> None:
    """A signed request verifies with ECDSA, RSA-PSS and RSA v1.5; the keyid is the party."""
    keys: Path = request.getfixturevalue(keys_fixture)
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    signer = HttpSigner(load_party(keys, "ministry"), rsa_scheme=scheme)
    verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), MemoryReplayCache())
    headers = _signed(signer)
    verified = verifier.verify_request("POST", URL, headers, BODY)
    assert verified.keyid == "ministry"
    assert verified.algorithm == scheme
    assert verified.components == (
        '"@method"',
        '"@authority"',
        '"@path"',
        '"@query"',
        '"content-type"',
        '"content-digest"',
    )
    assert verified.expires - verified.created == 60
    assert len(verified.nonce) >= 16


def test_signature_input_has_the_agreed_parameters(client: Credentials, clock: Clock) -> None:
    """Signature-Input names sig1, created/expires/nonce/keyid/alg; Signature is 64 raw bytes."""
    import base64

    headers = HttpSigner(client, clock=clock, ttl=30).sign_request("GET", URL, {}, b"")
    assert headers["Signature-Input"].startswith(
        'sig1=("@method" "@authority" "@path" "@query" "content-digest");created=1800000000;'
        "expires=1800000030;nonce="
    )
    assert headers["Signature-Input"].endswith(';keyid="province-app";alg="ecdsa-p256-sha256"')
    value = headers["Signature"].removeprefix("sig1=:").removesuffix(":")
    assert len(base64.b64decode(value)) == 64


def test_authority_is_normalised(client: Credentials, verifier: HttpVerifier) -> None:
    """Host case and default ports do not matter: @authority is normalised both sides."""
    signer = HttpSigner(client, clock=Clock())
    headers = {
        **HEADERS,
        **signer.sign_request("POST", "HTTPS://Adapter.Example:443/p", HEADERS, BODY),
    }
    assert verifier.verify_request("POST", "https://adapter.example/p", headers, BODY)


def test_response_round_trip_is_bound_to_its_request(
    dev_keys: Path, client: Credentials, verifier: HttpVerifier
) -> None:
    """A response signed for a request verifies for it, and not for another request."""
    request_headers = _signed(HttpSigner(client, clock=Clock()))
    server = HttpSigner(load_party(dev_keys, "adapter"), clock=Clock())
    response_body = b'{"ok": true}'
    response_headers = {"Content-Type": "application/json"}
    view = RequestView("POST", URL, request_headers)
    response_headers.update(
        server.sign_response(200, response_headers, response_body, request=view)
    )
    assert '"signature";req;key="sig1"' in response_headers["Signature-Input"]
    assert '"@status"' in response_headers["Signature-Input"]
    keyid = verifier.verify_response(
        200, response_headers, response_body, request=view, expected_keyid="adapter"
    )
    assert keyid == "adapter"

    other = RequestView("POST", URL, _signed(HttpSigner(client, clock=Clock())))
    with pytest.raises(InvalidSignature):
        verifier.verify_response(200, response_headers, response_body, request=other)
    with pytest.raises(InvalidSignature):
        verifier.verify_response(500, response_headers, response_body, request=view)
    with pytest.raises(DigestMismatch):
        verifier.verify_response(200, response_headers, b'{"ok": false}', request=view)
    with pytest.raises(CertificateError) as caught:
        verifier.verify_response(
            200, response_headers, response_body, request=view, expected_keyid="population"
        )
    assert caught.value.reason == "unexpected_party"


def test_response_must_cover_the_request_signature(
    dev_keys: Path, client: Credentials, verifier: HttpVerifier
) -> None:
    """A response signature that does not bind the request's signature: unsigned_component."""
    request_headers = _signed(HttpSigner(client, clock=Clock()))
    view = RequestView("POST", URL, request_headers)
    unsigned_view = RequestView("POST", URL, HEADERS)  # the server saw no request signature
    server = HttpSigner(load_party(dev_keys, "adapter"), clock=Clock())
    headers = dict(server.sign_response(200, {}, b"", request=unsigned_view))
    with pytest.raises(MissingSignature) as caught:
        verifier.verify_response(200, headers, b"", request=view)
    assert caught.value.reason == "unsigned_component"


# ----------------------------------------------------------------------------- bad input


def test_unsigned_request_is_refused(verifier: HttpVerifier) -> None:
    """No Signature / Signature-Input: missing_signature."""
    headers = {**HEADERS, "Content-Digest": content_digest(BODY)}
    assert _reason(verifier, headers, MissingSignature) == "missing_signature"


def test_other_label_only_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """A signature under another label than sig1: missing_signature."""
    headers = _signed(HttpSigner(client, clock=Clock()))
    headers["Signature-Input"] = headers["Signature-Input"].replace("sig1=", "other=", 1)
    headers["Signature"] = headers["Signature"].replace("sig1=", "other=", 1)
    assert _reason(verifier, headers, MissingSignature) == "missing_signature"


def test_partly_signed_request_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """A signature that leaves out content-digest or content-type: unsigned_component."""
    signer = HttpSigner(client, clock=Clock())
    headers = {**HEADERS, **signer.sign_request("POST", URL, {}, BODY)}  # content-type uncovered
    assert _reason(verifier, headers, MissingSignature) == "unsigned_component"


def test_tampered_body_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """A body changed after signing: digest_mismatch."""
    headers = _signed(HttpSigner(client, clock=Clock()))
    reason = _reason(verifier, headers, DigestMismatch, body=BODY.replace(b"4", b"9"))
    assert reason == "digest_mismatch"


def test_tampered_digest_header_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """A body and Content-Digest both replaced: the signature over the digest fails."""
    headers = _signed(HttpSigner(client, clock=Clock()))
    forged = b'{"status": 9}'
    headers["Content-Digest"] = content_digest(forged)
    assert _reason(verifier, headers, InvalidSignature, body=forged) == "invalid_signature"


@pytest.mark.parametrize(
    ("method", "url", "change"),
    [
        ("PUT", URL, None),
        ("POST", URL.replace("0007", "0008"), None),
        ("POST", URL.replace("x=1", "x=2"), None),
        ("POST", URL.replace("adapter.example", "evil.example"), None),
        ("POST", URL, ("Content-Type", "text/plain")),
    ],
)
def test_tampered_request_is_refused(
    client: Credentials,
    verifier: HttpVerifier,
    method: str,
    url: str,
    change: tuple[str, str] | None,
) -> None:
    """Changing method, path, query, authority or content type after signing: invalid_signature."""
    headers = _signed(HttpSigner(client, clock=Clock()))
    if change is not None:
        headers[change[0]] = change[1]
    assert _reason(verifier, headers, InvalidSignature, method=method, url=url) == (
        "invalid_signature"
    )


def test_expired_request_is_refused(
    client: Credentials, verifier: HttpVerifier, clock: Clock
) -> None:
    """expires in the past beyond the skew: stale_timestamp."""
    headers = _signed(HttpSigner(client, clock=Clock(T0 - 200)))
    assert _reason(verifier, headers, StaleMessage) == "stale_timestamp"


def test_not_yet_valid_request_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """created in the future beyond the skew: timestamp_in_future."""
    headers = _signed(HttpSigner(client, clock=Clock(T0 + 120)))
    assert _reason(verifier, headers, StaleMessage) == "timestamp_in_future"


def test_overlong_validity_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """A window longer than max_validity: timestamp_too_long."""
    headers = _signed(HttpSigner(client, clock=Clock(T0), ttl=3600))
    assert _reason(verifier, headers, StaleMessage) == "timestamp_too_long"


def test_replayed_request_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """The same signed request twice inside its window: replayed_nonce."""
    headers = _signed(HttpSigner(client, clock=Clock(T0)))
    verifier.verify_request("POST", URL, headers, BODY)
    assert _reason(verifier, headers, ReplayedMessage) == "replayed_nonce"


def test_missing_nonce_is_refused(client: Credentials, verifier: HttpVerifier) -> None:
    """A request signature without a nonce cannot be protected from replay: missing_nonce."""
    headers = _signed(HttpSigner(client, clock=Clock(T0)))
    import re

    headers["Signature-Input"] = re.sub(r';nonce="[^"]*"', "", headers["Signature-Input"])
    assert _reason(verifier, headers, MissingSignature) == "missing_nonce"


def test_untrusted_certificate_is_refused(dev_keys: Path, tmp_path: Path, clock: Clock) -> None:
    """A keys folder holding a certificate from another CA: untrusted_certificate."""
    keys = tmp_path / "keys"
    shutil.copytree(dev_keys, keys)
    rogue = rogue_credentials("province-app")
    (keys / "province-app" / "cert.pem").write_bytes(cert_pem(rogue.certificate))
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None, clock=clock)
    headers = _signed(HttpSigner(rogue, clock=clock))
    assert _reason(verifier, headers, CertificateError) == "untrusted_certificate"


def test_expired_certificate_is_refused(dev_keys: Path, trust: TrustStore) -> None:
    """A registered client whose certificate has expired: certificate_expired."""
    creds = expired_party(dev_keys, "province-app")
    verifier = HttpVerifier(StaticKeyResolver({"province-app": creds.certificate}, trust), None)
    headers = _signed(HttpSigner(creds))
    assert _reason(verifier, headers, CertificateError) == "certificate_expired"


def test_unknown_keyid_is_refused(dev_keys: Path, trust: TrustStore, clock: Clock) -> None:
    """A keyid with no certificate, or one that tries to leave the folder: unknown_key."""
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None, clock=clock)
    for keyid in ("nobody", "../ca", "ca/../adapter"):
        creds = load_party(dev_keys, "integrator")
        headers = _signed(HttpSigner(creds, keyid=keyid, clock=clock))
        assert _reason(verifier, headers, UnknownKey) == "unknown_key"


def test_keyid_naming_another_party_is_refused(
    dev_keys: Path, trust: TrustStore, clock: Clock
) -> None:
    """Signing as 'ministry' with the integrator's key: the signature does not verify."""
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None, clock=clock)
    headers = _signed(HttpSigner(load_party(dev_keys, "integrator"), keyid="ministry", clock=clock))
    assert _reason(verifier, headers, InvalidSignature) == "invalid_signature"


@pytest.mark.parametrize("alg", ["hmac-sha256", "ed25519", "rsa-pss-sha512"])
def test_wrong_algorithm_is_refused(client: Credentials, verifier: HttpVerifier, alg: str) -> None:
    """alg outside the allow-list, or one that does not fit the key: refused."""
    headers = _signed(HttpSigner(client, clock=Clock(T0)))
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        'alg="ecdsa-p256-sha256"', f'alg="{alg}"'
    )
    expected = "algorithm_key_mismatch" if alg == "rsa-pss-sha512" else "unsupported_algorithm"
    assert _reason(verifier, headers, UnsupportedAlgorithm) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Signature-Input", 'sig1=("@method" "@path";created=1'),
        ("Signature", "sig1=not-bytes"),
        ("Signature", "sig1=:%%%:"),
    ],
)
def test_malformed_signature_headers_are_refused(
    client: Credentials, verifier: HttpVerifier, name: str, value: str
) -> None:
    """Unparseable Signature-Input / Signature: malformed_signature."""
    headers = _signed(HttpSigner(client, clock=Clock(T0)))
    headers[name] = value
    assert _reason(verifier, headers, InvalidSignature) == "malformed_signature"


def test_unusual_but_valid_header_forms_use_the_full_parser(
    client: Credentials, verifier: HttpVerifier
) -> None:
    """Extra labels and whitespace are parsed by the full RFC 8941 parser and still verify."""
    headers = _signed(HttpSigner(client, clock=Clock(T0)))
    headers["Signature-Input"] = 'other=("@method");created=1,  ' + headers["Signature-Input"]
    headers["Signature"] = "other=:AAAA:, " + headers["Signature"]
    assert verifier.verify_request("POST", URL, headers, BODY).keyid == "province-app"


# ----------------------------------------------------------------------------- replay cache


def test_replay_cache_forgets_expired_nonces_and_stays_bounded() -> None:
    """Nonces are remembered until they expire; the cache never holds more than max_entries."""
    clock = Clock(100.0)
    cache = MemoryReplayCache(max_entries=3, clock=clock)
    assert not cache.seen("a", "n1", 110.0)
    assert cache.seen("a", "n1", 110.0)
    assert not cache.seen("b", "n1", 110.0)  # nonces are per keyid
    clock.now = 111.0
    assert not cache.seen("a", "n1", 120.0)  # expired: forgotten, then remembered again
    for index in range(10):
        cache.seen("c", f"n{index}", 200.0 + index)
    assert len(cache) == 3
    assert cache.seen("c", "n9", 209.0)


def test_accountability_headers_are_covered_when_present(dev_keys: Path) -> None:
    """The signer covers X-User-Id/X-Issue/X-Request-Id when present; the verifier refuses a
    request carrying one its signature does not cover (unsigned_component)."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None)
    signer = HttpSigner(load_party(dev_keys, "province-app"))
    url = "http://127.0.0.1:8000/v1/citizens/001085000123"
    purpose = {"X-User-Id": "VN001085000123", "X-Issue": "000.00.04.H04-261126-0007"}
    signed = {**purpose, **signer.sign_request("GET", url, purpose, b"")}
    assert '"x-user-id" "x-issue"' in signed["Signature-Input"]
    assert verifier.verify_request("GET", url, signed, b"").keyid == "province-app"
    bare = signer.sign_request("GET", url, {}, b"")
    with pytest.raises(MissingSignature) as refused:
        verifier.verify_request("GET", url, {**bare, "X-Issue": purpose["X-Issue"]}, b"")
    assert refused.value.reason == "unsigned_component"


def test_the_authority_must_be_one_the_verifier_answers_for(dev_keys: Path) -> None:
    """With ``authorities`` set, a request signed for another host is refused."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    verifier = HttpVerifier(
        TrustedKeyDirectory(dev_keys, trust), None, authorities={"127.0.0.1:8000"}
    )
    signer = HttpSigner(load_party(dev_keys, "province-app"))
    ours = "http://127.0.0.1:8000/v1/services"
    assert verifier.verify_request("GET", ours, signer.sign_request("GET", ours, {}, b""), b"")
    theirs = "http://evil.example:443/v1/services"
    with pytest.raises(UnknownAuthority):
        verifier.verify_request("GET", theirs, signer.sign_request("GET", theirs, {}, b""), b"")
