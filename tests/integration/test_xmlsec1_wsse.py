"""Interoperability of our WS-Security signatures with the independent xmlsec1 tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from security import wsse
from security.errors import DigestMismatch
from security.keys import load_party
from security.trust import TrustStore
from tests.support.security_samples import (
    envelope_bytes,
    run_xmlsec1,
    xmlsec1_id_args,
    xmlsec1_template,
)

pytestmark = pytest.mark.xmlsec1

TAMPER = (b">001095000003<", b">001095000009<")


def _keys(request: pytest.FixtureRequest, rsa: bool) -> Path:
    folder: Path = request.getfixturevalue("dev_keys_rsa" if rsa else "dev_keys")
    return folder


def _xmlsec1_verify(xmlsec1: str, data: bytes, cert: Path, tmp_path: Path) -> bool:
    document = tmp_path / "signed.xml"
    document.write_bytes(data)
    result = run_xmlsec1(
        xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), *xmlsec1_id_args(), str(document)
    )
    return result.returncode == 0


@pytest.mark.parametrize("rsa", [False, True], ids=["ecdsa", "rsa"])
def test_our_signature_verifies_with_xmlsec1(
    xmlsec1: str, request: pytest.FixtureRequest, tmp_path: Path, rsa: bool
) -> None:
    """An envelope we sign passes `xmlsec1 --verify`; the same envelope tampered fails there."""
    keys = _keys(request, rsa)
    creds = load_party(keys, "adapter")
    signed = wsse.sign_envelope(envelope_bytes(), creds)
    cert = keys / "adapter" / "cert.pem"
    assert _xmlsec1_verify(xmlsec1, signed, cert, tmp_path)
    tampered = signed.replace(*TAMPER)
    assert tampered != signed
    assert not _xmlsec1_verify(xmlsec1, tampered, cert, tmp_path)


@pytest.mark.parametrize("rsa", [False, True], ids=["ecdsa", "rsa"])
def test_xmlsec1_signature_verifies_with_ours(
    xmlsec1: str, request: pytest.FixtureRequest, tmp_path: Path, rsa: bool
) -> None:
    """A template signed by `xmlsec1 --sign` verifies here; tampered, it fails in both tools."""
    keys = _keys(request, rsa)
    creds = load_party(keys, "population")
    method = wsse.RSA_SHA256 if rsa else wsse.ECDSA_SHA256
    template = tmp_path / "template.xml"
    template.write_bytes(xmlsec1_template(creds, signature_method=method))
    output = tmp_path / "xmlsec1-signed.xml"
    key = f"{keys / 'population' / 'key.pem'},{keys / 'population' / 'cert.pem'}"
    result = run_xmlsec1(
        xmlsec1,
        "--sign",
        "--privkey-pem",
        key,
        *xmlsec1_id_args(),
        "--output",
        str(output),
        str(template),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    signed = output.read_bytes()
    assert b"<ds:SignatureValue/>" not in signed
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    verified = wsse.verify_envelope(signed, trust, expected_party="population")
    assert verified.party == "population"

    tampered = signed.replace(*TAMPER)
    assert tampered != signed
    with pytest.raises(DigestMismatch):
        wsse.verify_envelope(tampered, trust)
    assert not _xmlsec1_verify(xmlsec1, tampered, keys / "population" / "cert.pem", tmp_path)
