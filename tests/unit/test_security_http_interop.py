"""Interoperability with the independent `http-message-signatures` package, and SF parsing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import http_message_signatures as hms
import http_sfv
import httpx
import pytest
from http_message_signatures import algorithms as hms_algorithms

from security.errors import DigestMismatch
from security.http_signatures import HttpSigner, HttpVerifier, RequestView, TrustedKeyDirectory
from security.keys import load_party
from security.replay import MemoryReplayCache
from security.structured_fields import parse_dictionary, serialize_dictionary
from security.trust import TrustStore

URL = "http://127.0.0.1:8080/v1/citizens/verify?trace=1"
BODY = json.dumps({"citizen_id": "001095000001", "full_name": "Mẫu"}).encode()


class _Keys(hms.HTTPSignatureKeyResolver):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def resolve_public_key(self, key_id: str) -> Any:
        return load_party(self.folder, key_id).certificate.public_key()

    def resolve_private_key(self, key_id: str) -> Any:
        return load_party(self.folder, key_id).key


def _their_verifier(keys: Path) -> hms.HTTPMessageVerifier:
    return hms.HTTPMessageVerifier(
        signature_algorithm=hms_algorithms.ECDSA_P256_SHA256, key_resolver=_Keys(keys)
    )


def _our_verifier(keys: Path) -> HttpVerifier:
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    return HttpVerifier(TrustedKeyDirectory(keys, trust), MemoryReplayCache())


def test_our_request_signature_verifies_with_http_message_signatures(dev_keys: Path) -> None:
    """http-message-signatures verifies our request, digest included; a changed body fails."""
    signer = HttpSigner(load_party(dev_keys, "province-app"))
    headers = {"Content-Type": "application/json"}
    headers.update(signer.sign_request("POST", URL, headers, BODY))
    request = httpx.Request("POST", URL, headers=headers, content=BODY)
    results = _their_verifier(dev_keys).verify(request, body=BODY)
    assert len(results) == 1
    assert results[0].label == "sig1"
    assert results[0].parameters["keyid"] == "province-app"
    assert '"content-digest"' in results[0].covered_components
    with pytest.raises(hms.InvalidSignature):
        _their_verifier(dev_keys).verify(request, body=BODY + b" ")


def test_their_request_signature_verifies_with_ours(dev_keys: Path) -> None:
    """A request signed by http-message-signatures verifies here; a changed body is refused."""
    signer = hms.HTTPMessageSigner(
        signature_algorithm=hms_algorithms.ECDSA_P256_SHA256, key_resolver=_Keys(dev_keys)
    )
    request = httpx.Request("POST", URL, headers={"Content-Type": "application/json"}, content=BODY)
    now = dt.datetime.now(dt.UTC)
    signer.sign(
        request,
        key_id="integrator",
        created=now,
        expires=now + dt.timedelta(seconds=60),
        nonce="interop-nonce-0001",
        label="sig1",
        covered_component_ids=("@method", "@authority", "@path", "@query", "content-type"),
        body=BODY,
    )
    verified = _our_verifier(dev_keys).verify_request("POST", URL, request.headers, BODY)
    assert verified.keyid == "integrator"
    assert verified.nonce == "interop-nonce-0001"
    with pytest.raises(DigestMismatch):
        _our_verifier(dev_keys).verify_request("POST", URL, request.headers, BODY[:-1])


def test_their_target_uri_form_verifies_with_ours(dev_keys: Path) -> None:
    """Their default target coverage (@target-uri) is accepted in place of authority/path/query."""
    signer = hms.HTTPMessageSigner(
        signature_algorithm=hms_algorithms.ECDSA_P256_SHA256, key_resolver=_Keys(dev_keys)
    )
    request = httpx.Request("GET", URL)
    now = dt.datetime.now(dt.UTC)
    signer.sign(
        request,
        key_id="ministry",
        created=now,
        expires=now + dt.timedelta(seconds=30),
        nonce="n-0002-abcdefgh",
        label="sig1",
        covered_component_ids=("@method", "@target-uri"),
        body=b"",
    )
    assert _our_verifier(dev_keys).verify_request("GET", URL, request.headers, b"").keyid == (
        "ministry"
    )


def test_our_response_signature_verifies_with_http_message_signatures(dev_keys: Path) -> None:
    """Our response signature (with ;req components) verifies with http-message-signatures."""
    client = HttpSigner(load_party(dev_keys, "province-app"))
    request_headers = client.sign_request("GET", URL, {}, b"")
    request = httpx.Request("GET", URL, headers=request_headers)
    server = HttpSigner(load_party(dev_keys, "adapter"))
    body = b'{"match": true}'
    headers = {"Content-Type": "application/json"}
    headers.update(
        server.sign_response(200, headers, body, request=RequestView("GET", URL, request.headers))
    )
    response = httpx.Response(200, headers=headers, content=body, request=request)
    results = _their_verifier(dev_keys).verify(response, body=body)
    assert results[0].parameters["keyid"] == "adapter"
    assert '"signature";req;key="sig1"' in results[0].covered_components


@pytest.mark.parametrize(
    "text",
    [
        'sig1=("@method" "@authority");created=1618884473;keyid="test-key-rsa-pss"',
        'a=?1, b=2;x=y, c=(1 2 3);p="q\\"r", d=:aGVsbG8=:, e=1.5, f=tok/en:x',
        'sig1=("signature";req;key="sig1" "@status");alg="ecdsa-p256-sha256"',
        "  x=1 ,\ty=2",
    ],
)
def test_structured_field_parser_agrees_with_http_sfv(text: str) -> None:
    """Our RFC 8941 dictionary parser/serializer gives the same canonical form as http_sfv."""
    theirs = http_sfv.Dictionary()
    theirs.parse(text.encode())
    assert serialize_dictionary(parse_dictionary(text)) == str(theirs)


@pytest.mark.parametrize("text", ["a=(1 2", "a=1,", 'a="unterminated', "A=1", "a=:!!:", "a=?2"])
def test_structured_field_parser_refuses_malformed_input(text: str) -> None:
    """Malformed dictionaries raise ValueError (http_sfv refuses them too)."""
    with pytest.raises(ValueError, match="malformed"):
        parse_dictionary(text)
    with pytest.raises(ValueError):  # noqa: PT011 - http_sfv raises a bare ValueError
        http_sfv.Dictionary().parse(text.encode())
