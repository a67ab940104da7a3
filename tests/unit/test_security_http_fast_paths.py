"""RFC 9421 fast paths: each gives exactly what the general path gives, or steps aside.

The verifier reads the usual headers and URLs with the regular expressions of
``security.http_signatures.fast``, and falls back to ``urlsplit`` and the full RFC 8941 parser
for anything else. These tests run both paths over tables of variants (and generated ones) and
require the same acceptance, the same values and the same refusal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from security.errors import CertificateError, CertificateExpired, SecurityError
from security.http_signatures import (
    LABEL,
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
    TrustedKeyDirectory,
    check_content_digest,
    content_digest,
)
from security.http_signatures import parse as parse_module
from security.http_signatures.components import plan
from security.http_signatures.fast import PLAIN_URL, read_sha256_digest
from security.http_signatures.message import HeaderFields, Message, Target, new_header_fields
from security.http_signatures.parse import Parsed, fast_parse, full_parse
from security.keys import Credentials, load_party
from security.structured_fields import Item, parse_dictionary, serialize_member
from security.trust import TrustStore
from tests.support.security_samples import expired_party, party_with_certificate, rogue_credentials

T0 = 1_800_000_000.0
URL = "https://adapter.example:8443/v1/citizens/001085000123?purpose=x"
BODY = json.dumps({"status": 4}).encode()


def _outcome(function: Callable[[], Any]) -> Any:
    """What a call gives: its value, or the refusal's class and reason."""
    try:
        return function()
    except SecurityError as exc:
        return ("refused", type(exc).__name__, exc.reason)


@pytest.fixture
def client(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "province-app")


@pytest.fixture
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


# --------------------------------------------------------------------------------- targets

URLS = [
    "https://adapter.example:8443/v1/x?x=1",
    "http://127.0.0.1:8080/v1/citizens/001",
    "http://Example.COM/a",
    "http://example.com:80/a",
    "https://example.com:443",
    "https://example.com:0443/a",
    "http://example.com:8080",
    "http://example.com?q=1",
    "http://example.com/a?",
    "http://example.com/a%2Fb?x=%20y&z=%C3%A9",
    "http://example.com/a?b?c",
    "http://example.com/a#frag",
    "http://example.com/a?x#frag",
    "HTTP://example.com/a",
    "Https://example.com/a",
    "http://[::1]:8080/a",
    "http://[::1]/a",
    "http://user:pw@example.com/a",
    "http://example.com:99999/a",
    "https://example.com:65535/a",
    "https://example.com:65536/a",
    "http://example.com:/a",
    "http://example.com:abc/a",
    "http://example.com/a b",
    "http://example.com/a\tb",
    "http://example.com/a\nb",
    " http://example.com/a",
    "http://example.com/ä",
    "http:///a",
    "ftp://example.com/a",
    "http://example.com/a\\b",
    "http://exa_mple.com/a",
    "http://example.com/;p=1/x",
    "http://example.com//double//slash",
    "http://example.com/a?x=1&y=[2]",
    "/relative/path",
    "",
]


@pytest.mark.parametrize("url", URLS)
def test_plain_url_reading_matches_urlsplit(url: str) -> None:
    """@authority, @path, @query and @target-uri are the same as urlsplit gives (or refused)."""
    assert _outcome(lambda: Target.from_url(url)) == _outcome(lambda: Target.from_split(url))


def test_the_usual_urls_take_the_fast_path() -> None:
    """The adapter's own URLs are read without urlsplit (else the fast path is dead code)."""
    assert PLAIN_URL.fullmatch("http://127.0.0.1:8080/v1/citizens/1?a=b")
    assert PLAIN_URL.fullmatch(URL)


_URL_PART = st.text(alphabet="aZ09.-_:/?#%@[] \t\\é=&;", max_size=12)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp"]),
    host=st.text(alphabet="aB0.-_[]:@", min_size=0, max_size=10),
    port=st.one_of(st.none(), st.integers(min_value=0, max_value=70000).map(str), _URL_PART),
    rest=_URL_PART,
)
def test_generated_urls_read_the_same(scheme: str, host: str, port: str | None, rest: str) -> None:
    """Generated URLs: the fast reading equals urlsplit's, refusals included."""
    url = f"{scheme}://{host}" + ("" if port is None else f":{port}") + rest
    assert _outcome(lambda: Target.from_url(url)) == _outcome(lambda: Target.from_split(url))


# ------------------------------------------------------------------------ signature headers


def _signed_headers(client: Credentials) -> dict[str, str]:
    signer = HttpSigner(client, clock=lambda: T0)
    headers = {"Content-Type": "application/json"}
    return {**headers, **signer.sign_request("POST", URL, headers, BODY)}


def _variants(inputs: str, signature: str) -> list[tuple[str, str]]:
    """Signature-Input / Signature pairs around a real one: canonical, unusual and broken."""
    covered, params = inputs.split(")", 1)
    value = signature[len(LABEL) + 2 : -1]
    bad_value = value[:-2] + ("B=" if value[-2] != "B" else "C=")  # non-zero padding bits
    return [
        (inputs, signature),
        (" " + inputs, signature),
        (inputs + " ", signature),
        (inputs, signature + " "),
        (f'other=("@method");created=1, {inputs}', f"other=:AAAA:, {signature}"),
        (inputs.replace("sig1=", "sig2="), signature.replace("sig1=", "sig2=")),
        (inputs + ";created=1", signature),
        (inputs.replace(";created=", ";created=00"), signature),
        (inputs.replace(";created=", ";created=-"), signature),
        (inputs + ";x=-0", signature),
        (inputs + ";x=1.5", signature),
        (inputs + ";x=?1", signature),
        (inputs + ";x", signature),
        (inputs + ";x=tok/en:1", signature),
        (inputs + ";x=1234567890123456", signature),
        (inputs + ';x="a\\"b"', signature),
        (inputs + ';x="é"', signature),
        (inputs + ';x="\x01"', signature),
        (inputs.replace('alg="ecdsa-p256-sha256"', "alg=ecdsa-p256-sha256"), signature),
        (inputs.replace('keyid="', 'keyid=x;k="'), signature),
        (covered + ' "@method")' + params, signature),
        (covered + ' "x-a";key="sig1")' + params, signature),
        (covered + ' "x-a";key=sig1)' + params, signature),
        (covered + ' "x-a";req;req)' + params, signature),
        (covered + ' "x-é")' + params, signature),
        (covered + ' "x-\x01")' + params, signature),
        (covered + ' "X-A")' + params, signature),
        (covered + ' "@Method")' + params, signature),
        (covered + ' "@status")' + params, signature),
        (covered + ' "@nope")' + params, signature),
        (covered + ' "x-a";bs)' + params, signature),
        (covered + ' "@method";key="a")' + params, signature),
        (covered + " x-a)" + params, signature),
        (covered + "  )" + params, signature),
        ("sig1=()" + params, signature),
        (inputs.replace('" "', '"  "', 1), signature),
        (inputs.replace('" "', '" x "', 1), signature),
        (inputs.replace('" "', '"(" "', 1), signature),
        (inputs.replace('" "', '" ) "', 1), signature),
        (inputs.replace(";nonce=", ";nonce=x;n="), signature),
        (inputs.replace(';nonce="', ';nonce="a b'), signature),
        (inputs.replace(';keyid="', ';keyid="a\\"b'), signature),
        (inputs.replace(";created=", ";expires=1;created="), signature),
        ('sig1=();created=1;expires=2;keyid="k";alg="a"', signature),
        ('sig1=( );created=1;expires=2;keyid="k";alg="a"', signature),
        (inputs, f"{LABEL}=:{bad_value}:"),
        (inputs, f"{LABEL}=:{value.rstrip('=')}:"),
        (inputs, f"{LABEL}=:{value}==:"),
        (inputs, f"{LABEL}=:{value}:;x=1"),
        (inputs, f"{LABEL}=(:{value}:)"),
        (inputs, f"{LABEL}=:%%%:"),
        (inputs, f"{LABEL}=:{value}"),
        (inputs, f"{LABEL}=?1"),
        (inputs.replace(f"{LABEL}=(", f"{LABEL}="), signature),
        ("", signature),
        (inputs, ""),
    ]


def _parsed_form(parsed: Parsed) -> tuple[Any, ...]:
    typed = {key: (type(value).__name__, value) for key, value in parsed.params.items()}
    return parsed.ids, typed, parsed.params_text, parsed.signature


def test_fast_header_parse_agrees_with_the_full_parser(client: Credentials) -> None:
    """Whenever the fast parse answers, the full parser gives exactly the same result."""
    headers = _signed_headers(client)
    answered = 0
    for inputs, signature in _variants(headers["Signature-Input"], headers["Signature"]):
        fast = fast_parse(inputs, signature)
        if fast is None:
            continue
        answered += 1
        assert _parsed_form(fast) == _parsed_form(full_parse(inputs, signature)), inputs
    assert answered >= 3  # the canonical form and a few harmless variants


def _variant_requests(client: Credentials) -> list[dict[str, str]]:
    """A signed request's headers with each variant of its two signature fields."""
    headers = _signed_headers(client)
    return [
        {**headers, "Signature-Input": inputs, "Signature": signature}
        for inputs, signature in _variants(headers["Signature-Input"], headers["Signature"])
    ]


def _verify(verifier: HttpVerifier, headers: dict[str, str]) -> Any:
    return _outcome(lambda: verifier.verify_request("POST", URL, headers, BODY).components)


def test_both_header_paths_accept_and_refuse_the_same_requests(
    client: Credentials, dev_keys: Path, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variant is accepted, or refused for the same reason, with the fast path off."""
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None, clock=lambda: T0)
    cases = _variant_requests(client)
    with_fast = [_verify(verifier, case) for case in cases]
    parsed = {"fast": 0, "full": 0}

    def fast_off(inputs: str, signature: str) -> None:
        parsed["fast"] += 1

    def counted_full_parse(inputs: str, signature: str) -> Any:
        parsed["full"] += 1
        return full_parse(inputs, signature)

    # the names the verifier's parse_signature calls: switching the fast path off must reach it
    monkeypatch.setattr(parse_module, "fast_parse", fast_off)
    monkeypatch.setattr(parse_module, "full_parse", counted_full_parse)
    without = [_verify(verifier, case) for case in cases]
    assert parsed["fast"] == parsed["full"] > len(cases) // 2
    assert with_fast == without
    assert with_fast[0][0] == '"@method"'  # the canonical form is accepted


_SF = st.text(alphabet='sig1=:()" ;,ab-@AZ09+/=?*\\é\t', max_size=40)


@given(inputs=_SF, signature=_SF)
def test_generated_headers_parse_the_same(inputs: str, signature: str) -> None:
    """Generated header pairs: the fast parse either steps aside or agrees with the full one."""
    fast = fast_parse(inputs, signature)
    if fast is not None:
        assert _parsed_form(fast) == _parsed_form(full_parse(inputs, signature))


@given(data=st.data())
def test_mutated_signer_headers_parse_the_same(data: st.DataObject) -> None:
    """One character of a real Signature-Input inserted, dropped or changed: still the same."""
    inputs = (
        'sig1=("@method" "@authority" "@path" "@query" "content-digest")'
        ';created=1800000000;expires=1800000060;nonce="AbC-_9";keyid="province-app"'
        ';alg="ecdsa-p256-sha256"'
    )
    position = data.draw(st.integers(min_value=0, max_value=len(inputs) - 1))
    char = data.draw(st.sampled_from('"();= ,-_:*?\\aZ09\té'))
    how = data.draw(st.sampled_from(["insert", "drop", "change"]))
    tail = inputs[position + (0 if how == "insert" else 1) :]
    mutated = inputs[:position] + ("" if how == "drop" else char) + tail
    signature = "sig1=:" + "A" * 86 + "==:"
    fast = fast_parse(mutated, signature)
    if fast is not None:
        assert _parsed_form(fast) == _parsed_form(full_parse(mutated, signature))


# ----------------------------------------------------------------------- component values


@pytest.mark.parametrize(
    "value",
    [
        "sig1=:AAAA:",
        "sig1=:QR==:",
        "sig1=:QQ:",
        "sig1=:QQ==:",
        "sig1=:QQ===:",
        "sig1=:%%:",
        "sig1=::",
        "sig1=:AAAA:;x=1",
        " sig1=:AAAA:",
        "sig2=:AAAA:, sig1=:BBBB:",
        "sig1=:AAAA:, sig1=:BBBB:",
        "sig2=:AAAA:",
        "sig1=?1",
        "sig1",
    ],
)
def test_signature_member_value_matches_the_full_parser(value: str) -> None:
    """``"signature";req;key="sig1"`` reads the member as parse + serialize would."""
    getter = plan([Item("signature", {"key": LABEL})], ['"signature";key="sig1"']).getters[0]
    message = Message("GET", Target.from_url(URL), {"signature": value})

    def general() -> str:
        try:
            member = parse_dictionary(value).get(LABEL)
        except ValueError:
            return "malformed"
        return "absent" if member is None else serialize_member(member)

    try:
        fast = getter(message)
    except SecurityError as exc:
        fast = "absent" if exc.reason == "missing_component" else "malformed"
    assert fast == general()


# ------------------------------------------------------------------------- Content-Digest


def _general_digest_check(value: str, body: bytes) -> Any:
    """``check_content_digest`` with the fast reader switched off: the RFC 8941 reading only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("security.http_signatures.message.read_sha256_digest", lambda value: None)
        return _outcome(lambda: check_content_digest(value, body))


_GOOD_DIGEST = "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"  # sha-256 of b"{}"


@pytest.mark.parametrize(
    "value",
    [
        _GOOD_DIGEST,
        _GOOD_DIGEST.replace("RBN", "SBN"),
        _GOOD_DIGEST.replace("o=:", "p=:"),  # non-zero padding bits
        _GOOD_DIGEST + " ",
        " " + _GOOD_DIGEST,
        _GOOD_DIGEST + ", sha-512=:AAAA:",
        _GOOD_DIGEST.replace("sha-256", "SHA-256"),
        _GOOD_DIGEST.replace("=:", ":"),
        "sha-256=:AAAA:",
        "sha-256=?1",
        "md5=:AAAA:",
    ],
)
def test_usual_digest_reading_matches_the_general_one(value: str) -> None:
    """The one-member sha-256 Content-Digest is accepted or refused as the parser decides."""
    fast = _outcome(lambda: check_content_digest(value, b"{}"))
    assert fast == _general_digest_check(value, b"{}")


def test_the_signers_digest_takes_the_fast_path() -> None:
    """What ``content_digest`` writes is read by the fast reader (else it is dead code)."""
    assert read_sha256_digest(content_digest(b"{}")) == hashlib.sha256(b"{}").digest()


@given(data=st.data())
def test_mutated_digests_read_the_same(data: st.DataObject) -> None:
    """One character of a real Content-Digest inserted, dropped or changed: still the same."""
    position = data.draw(st.integers(min_value=0, max_value=len(_GOOD_DIGEST) - 1))
    char = data.draw(st.sampled_from("=:;, -_+/?*aAzZ09\\té"))
    how = data.draw(st.sampled_from(["insert", "drop", "change"]))
    tail = _GOOD_DIGEST[position + (0 if how == "insert" else 1) :]
    value = _GOOD_DIGEST[:position] + ("" if how == "drop" else char) + tail
    assert _outcome(lambda: check_content_digest(value, b"{}")) == _general_digest_check(
        value, b"{}"
    )


# --------------------------------------------------------------------------------- signer


def test_signer_headers_keep_their_exact_form(client: Credentials, dev_keys: Path) -> None:
    """The precomputed Signature-Input is the canonical serialization it always was."""
    signer = HttpSigner(load_party(dev_keys, "adapter"), clock=lambda: T0)
    view = RequestView("POST", URL, _signed_headers(client))
    signed = signer.sign_response(200, {"Content-Type": "application/json"}, BODY, request=view)
    assert signed["Signature-Input"] == (
        'sig1=("@status" "content-type" "content-digest" "@method";req "@authority";req'
        ' "@path";req "@query";req "signature";req;key="sig1")'
        ';created=1800000000;expires=1800000060;keyid="adapter";alg="ecdsa-p256-sha256"'
    )
    request = HttpSigner(client, clock=lambda: T0).sign_request("GET", URL, {}, b"")
    assert request["Signature-Input"].startswith(
        'sig1=("@method" "@authority" "@path" "@query" "content-digest")'
        ";created=1800000000;expires=1800000060;nonce="
    )
    assert request["Signature-Input"].endswith(';keyid="province-app";alg="ecdsa-p256-sha256"')


# ------------------------------------------------------------------------------ key cache


def _static_verifier(creds: Credentials, trust: TrustStore) -> HttpVerifier:
    return HttpVerifier(StaticKeyResolver({creds.party: creds.certificate}, trust), None)


def test_resolved_keys_are_kept_without_asking_the_trust_store_again(
    client: Credentials, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered client's key is validated once, then reused inside its validity window."""
    verifier = _static_verifier(client, trust)
    asked: list[object] = []
    validate = trust.validate
    monkeypatch.setattr(trust, "validate", lambda cert, **kw: asked.append(cert) or validate(cert))
    signer = HttpSigner(client)
    for _ in range(3):
        signed = signer.sign_request("GET", URL, {}, b"")
        assert verifier.verify_request("GET", URL, signed, b"").keyid == "province-app"
    assert len(asked) == 1


def test_a_kept_key_is_refused_once_its_certificate_expires(
    dev_keys: Path, trust: TrustStore
) -> None:
    """The cache never outlives the certificate: after not_after the request is refused."""
    now = dt.datetime.now(dt.UTC)
    creds = party_with_certificate(
        dev_keys,
        "province-app",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(seconds=2),
    )
    verifier = _static_verifier(creds, trust)
    signer = HttpSigner(creds)
    signed = signer.sign_request("GET", URL, {}, b"")
    assert verifier.verify_request("GET", URL, signed, b"").keyid == "province-app"
    deadline = creds.certificate.not_valid_after_utc.timestamp() + 0.05
    while time.time() <= deadline:  # bounded: the certificate ends within about 2 s
        time.sleep(0.05)
    signed = signer.sign_request("GET", URL, {}, b"")
    with pytest.raises(CertificateExpired):
        verifier.verify_request("GET", URL, signed, b"")


def test_a_refused_certificate_is_never_kept(dev_keys: Path, trust: TrustStore) -> None:
    """An expired or untrusted certificate is refused on every request, not only the first."""
    expired = expired_party(dev_keys, "province-app")
    for creds, error in ((expired, CertificateExpired), (rogue_credentials("x"), CertificateError)):
        verifier = _static_verifier(creds, trust)
        for _ in range(2):
            signed = HttpSigner(creds).sign_request("GET", URL, {}, b"")
            with pytest.raises(error):
                verifier.verify_request("GET", URL, signed, b"")


# --------------------------------------------------------------------------- header fields

_RAW_FIELDS = [
    [(b"host", b"adapter.example"), (b"x-user-id", b"  u1\t"), (b"X-Issue", b"a")],
    [(b"accept", b"a"), (b"Accept", b" b "), (b"ACCEPT", b"")],
    [(b"x-\xc0", b"\xe9t\xe9"), (b"\xc0", b"\xff"), (b"\xe0", b"x")],  # non-ASCII latin-1
    [(b"a\r\nb", b"c\nd"), (b"", b""), (b"sp ace", b"\t \t")],
    [(b"host", "str value")],  # a str among the bytes: the general reading
    [("host", b"x"), (b"host", b"y")],
    [],
]


@pytest.mark.parametrize("pairs", _RAW_FIELDS)
def test_byte_pairs_read_as_the_general_reading_reads_them(pairs: list[Any]) -> None:
    """A list of byte pairs (ASGI's) gives what the general reading (a tuple) gives."""
    assert new_header_fields(pairs) == new_header_fields(tuple(pairs))
    assert type(new_header_fields(pairs)) is HeaderFields


@given(
    pairs=st.lists(
        st.tuples(st.binary(max_size=6), st.binary(max_size=6))
        | st.tuples(st.sampled_from([b"a", b"A", b"\xc0"]), st.sampled_from([b"x", b" y\t"])),
        max_size=8,
    )
)
def test_generated_byte_pairs_read_the_same(pairs: list[tuple[bytes, bytes]]) -> None:
    """Generated byte pairs (repeats, case, whitespace, any byte): the same fields."""
    assert new_header_fields(pairs) == new_header_fields(tuple(pairs))


def test_a_malformed_pair_fails_as_the_general_reading_fails() -> None:
    """A pair of the wrong shape raises what the general reading raises."""
    for pairs in ([(b"a", b"b", b"c")], [(b"a", 1)], [(1, b"a")]):
        with pytest.raises((ValueError, AttributeError)) as fast:
            new_header_fields(pairs)
        with pytest.raises((ValueError, AttributeError)) as general:
            new_header_fields(tuple(pairs))
        assert type(fast.value) is type(general.value)


# ---------------------------------------------------------------- what a request keeps read


def test_a_request_view_reads_its_message_as_request_of_does(client: Credentials) -> None:
    """``RequestView.message`` is ``Message.request_of`` of its parts, read once."""
    headers = _signed_headers(client)
    for url in (URL, "http://Example.COM:80/a?b", "http://[::1]:8080/x"):
        view = RequestView("get", url, headers)
        assert view.message == Message.request_of("get", url, headers)
        assert view.message is view.message


def test_the_signature_read_is_kept_only_for_the_same_values(client: Credentials) -> None:
    """Read twice from the same fields, the signature is read once; a changed field is read
    again, and fields that are not a HeaderFields are read every time."""
    signed = _signed_headers(client)
    fields = new_header_fields(signed)
    first = parse_module.parse_signature(fields)
    assert parse_module.parse_signature(fields) is first
    fields["signature-input"] = fields["signature-input"].replace("created=", "created=1")
    again = parse_module.parse_signature(fields)
    assert again is not first
    assert again.params["created"] != first.params["created"]
    plain = {name.lower(): value for name, value in signed.items()}
    assert parse_module.parse_signature(plain) is not parse_module.parse_signature(plain)
    assert _parsed_form(parse_module.parse_signature(plain)) == _parsed_form(first)


def test_verifying_a_view_is_verifying_its_parts(
    client: Credentials, dev_keys: Path, trust: TrustStore
) -> None:
    """``verify_view`` accepts and refuses as ``verify_request`` does (same reason)."""
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None, clock=lambda: T0)
    cases = _variant_requests(client)
    for case in cases:
        fields = new_header_fields(case)
        view = RequestView("POST", URL, fields)
        _outcome(partial(verifier.claimed_signer, fields))  # the gate reads it first
        by_view = _outcome(partial(verifier.verify_view, view, BODY))
        assert by_view == _outcome(partial(verifier.verify_request, "POST", URL, case, BODY))
