"""The security package's public surface and the request-file format."""

from __future__ import annotations

import pytest

import security
from security.errors import RequestFileError, SecurityError
from security.request_file import parse_request_file


def test_public_names_are_pinned() -> None:
    """security.__all__ is the documented re-export list; every name resolves."""
    assert security.__all__ == [
        "PARTIES",
        "CertificateError",
        "Credentials",
        "HostReplayCache",
        "HostReplayTable",
        "HttpSigner",
        "HttpVerifier",
        "MemoryReplayCache",
        "RedisReplayCache",
        "ReplayCache",
        "RequestView",
        "SecurityError",
        "SignatureError",
        "StaticKeyResolver",
        "TrustStore",
        "TrustedKeyDirectory",
        "UnsafeXml",
        "VerifiedEnvelope",
        "VerifiedRequest",
        "XmlLimits",
        "content_digest",
        "init_dev_pki",
        "load_party",
        "parse_xml",
        "party_of",
        "sign_envelope",
        "verify_envelope",
    ]
    for name in security.__all__:
        assert getattr(security, name) is not None


def test_every_error_has_a_stable_snake_case_reason() -> None:
    """Every class in security.errors subclasses SecurityError with a snake_case reason."""
    import re

    from security import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, SecurityError), name
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", cls.reason), name
    assert errors.KeyError_ is errors.KeyLoadError


def test_request_file_round_trip_keeps_body_and_line_endings() -> None:
    """A request file parses into method, target, headers and body, and renders back as is."""
    data = b"PUT http://h:1/a?b=c HTTP/1.1\nContent-Type: text/plain\n\nline1\n\nline2\n"
    request = parse_request_file(data)
    assert (request.method, request.target, request.body) == (
        "PUT",
        "http://h:1/a?b=c",
        b"line1\n\nline2\n",
    )
    assert request.url() == "http://h:1/a?b=c"
    assert request.render() == data
    signed = request.with_headers({"Signature": "sig1=:AA==:", "content-type": "text/csv"})
    assert signed.render().startswith(b"PUT http://h:1/a?b=c HTTP/1.1\nSignature: sig1=:AA==:\n")
    assert signed.header("Content-Type") == "text/csv"


@pytest.mark.parametrize(
    "data",
    [
        b"POST /x HTTP/1.1\r\nHost: h\r\n",  # no blank line
        b"POST /x\r\n\r\n",  # no version
        b"POST x HTTP/1.1\r\n\r\n",  # target neither path nor URL
        b"POST /x HTTP/1.1\r\nBad Header\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: hé\r\n\r\n".encode(),
    ],
)
def test_malformed_request_files_are_refused(data: bytes) -> None:
    """Each malformed request file raises RequestFileError (malformed_request_file)."""
    with pytest.raises(RequestFileError) as caught:
        parse_request_file(data)
    assert caught.value.reason == "malformed_request_file"


def test_path_target_needs_a_host() -> None:
    """A path target without a Host header has no URL."""
    with pytest.raises(RequestFileError):
        parse_request_file(b"GET /x HTTP/1.1\r\n\r\n").url()
