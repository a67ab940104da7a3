"""The integrators' command-line tools: lienthong keys / sign / verify."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from security.cli import keys, sign, verify
from security.pki import PARTIES
from tests.support.security_samples import ENVELOPE_5K

REQUEST = (
    b"POST /v1/citizens/verify?trace=1 HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8080\r\n"
    b"Content-Type: application/json\r\n"
    b"\r\n"
    b'{"citizen_id": "001095000001"}'
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _party(keys_dir: Path, party: str) -> list[str]:
    return [
        "--key",
        str(keys_dir / party / "key.pem"),
        "--cert",
        str(keys_dir / party / "cert.pem"),
    ]


def test_keys_init_creates_the_pki_and_keeps_it(runner: CliRunner, tmp_path: Path) -> None:
    """keys init writes the layout (24 party and CA files, the adapter's TLS pair); a second run
    creates nothing and keeps every key."""
    folder = tmp_path / "keys"
    result = runner.invoke(keys, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    assert "26 file(s) created" in result.stdout
    assert "adapter/tls-cert.pem" in result.stdout
    before = (folder / "adapter" / "key.pem").read_bytes()
    again = runner.invoke(keys, ["init", str(folder)])
    assert again.exit_code == 0
    assert "0 file(s) created, 26 kept" in again.stdout
    assert (folder / "adapter" / "key.pem").read_bytes() == before


def test_keys_init_rsa_and_show(runner: CliRunner, tmp_path: Path) -> None:
    """--rsa makes RSA-2048 keys; keys show lists every party as trusted."""
    folder = tmp_path / "keys"
    assert runner.invoke(keys, ["init", "--rsa", str(folder)]).exit_code == 0
    shown = runner.invoke(keys, ["show", str(folder)])
    assert shown.exit_code == 0, shown.output
    for party in PARTIES:
        assert f"{party}: RSA-2048" in shown.stdout
    assert shown.stdout.count("trusted") == len(PARTIES)


def test_sign_and_verify_soap(runner: CliRunner, dev_keys: Path) -> None:
    """sign soap puts the signed envelope on stdout; verify soap exits 0 with a VALID verdict."""
    signed = runner.invoke(sign, ["soap", *_party(dev_keys, "population"), str(ENVELOPE_5K)])
    assert signed.exit_code == 0, signed.output
    assert b"<wsse:Security" in signed.stdout_bytes
    checked = runner.invoke(
        verify, ["soap", "--trust", str(dev_keys / "ca" / "cert.pem")], input=signed.stdout_bytes
    )
    assert checked.exit_code == 0, checked.stderr
    assert checked.stderr.startswith("VALID: signed by population")
    assert checked.stdout_bytes == signed.stdout_bytes


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda data: data.replace(b">001095000003<", b">001095000009<"), "digest_mismatch"),
        (lambda data: ENVELOPE_5K.read_bytes(), "missing_signature"),
        (lambda data: data[:200], "malformed_xml"),
        (lambda data: b'<!DOCTYPE x [<!ENTITY a "b">]>' + data, "dtd_forbidden"),
    ],
)
def test_verify_soap_refuses_with_the_reason(
    runner: CliRunner,
    dev_keys: Path,
    tmp_path: Path,
    change: Callable[[bytes], bytes],
    reason: str,
) -> None:
    """A refused envelope: exit 1, nothing on stdout, 'INVALID: <reason>' on stderr."""
    signed = runner.invoke(sign, ["soap", *_party(dev_keys, "population"), str(ENVELOPE_5K)])
    bad = tmp_path / "bad.xml"
    bad.write_bytes(change(signed.stdout_bytes))
    result = runner.invoke(verify, ["soap", "--trust", str(dev_keys / "ca" / "cert.pem"), str(bad)])
    assert result.exit_code == 1
    assert result.stdout_bytes == b""
    assert result.stderr.startswith(f"INVALID: {reason}:")


def test_verify_soap_with_another_trust_anchor_fails(
    runner: CliRunner, dev_keys: Path, dev_keys_rsa: Path
) -> None:
    """An envelope checked against a CA that did not issue its signer: untrusted_certificate."""
    signed = runner.invoke(sign, ["soap", *_party(dev_keys, "adapter"), str(ENVELOPE_5K)])
    result = runner.invoke(
        verify,
        ["soap", "--trust", str(dev_keys_rsa / "ca" / "cert.pem")],
        input=signed.stdout_bytes,
    )
    assert result.exit_code == 1
    assert "untrusted_certificate" in result.stderr


@pytest.mark.parametrize("resolver", ["--keys", "--cert"])
def test_sign_and_verify_http(runner: CliRunner, dev_keys: Path, resolver: str) -> None:
    """sign http adds the signature headers; verify http with --keys or --cert accepts it."""
    signed = runner.invoke(sign, ["http", *_party(dev_keys, "integrator")], input=REQUEST)
    assert signed.exit_code == 0, signed.output
    text = signed.stdout_bytes
    assert text.startswith(b"POST /v1/citizens/verify?trace=1 HTTP/1.1\r\n")
    assert b"\r\nSignature-Input: sig1=(" in text
    assert text.endswith(b'\r\n\r\n{"citizen_id": "001095000001"}')
    where = str(dev_keys) if resolver == "--keys" else str(dev_keys / "integrator" / "cert.pem")
    args = ["http", "--trust", str(dev_keys / "ca" / "cert.pem"), resolver, where]
    checked = runner.invoke(verify, args, input=text)
    assert checked.exit_code == 0, checked.stderr
    assert checked.stderr.startswith("VALID: signed by integrator")

    tampered = text.replace(b"001095000001", b"001095000002")
    refused = runner.invoke(verify, args, input=tampered)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("INVALID: digest_mismatch:")


def test_verify_http_refuses_unsigned_and_malformed_files(
    runner: CliRunner, dev_keys: Path
) -> None:
    """An unsigned request and a file without a blank line are refused with their reasons."""
    args = ["http", "--trust", str(dev_keys / "ca" / "cert.pem"), "--keys", str(dev_keys)]
    unsigned = runner.invoke(verify, args, input=REQUEST)
    assert unsigned.exit_code == 1
    assert "missing_signature" in unsigned.stderr
    malformed = runner.invoke(verify, args, input=b"POST /x HTTP/1.1\r\nHost: a\r\n")
    assert malformed.exit_code == 1
    assert "malformed_request_file" in malformed.stderr


def test_verify_http_needs_one_key_source(runner: CliRunner, dev_keys: Path) -> None:
    """Neither --keys nor --cert (or both) is a usage error: exit 2."""
    result = runner.invoke(
        verify, ["http", "--trust", str(dev_keys / "ca" / "cert.pem")], input=b""
    )
    assert result.exit_code == 2


def test_lienthong_entry_point_pipes_sign_into_verify(dev_keys: Path) -> None:
    """The installed `lienthong` command signs and verifies through a pipe (stdin / stdout)."""
    exe = Path(sys.executable).parent / "lienthong"
    signed = subprocess.run(
        [str(exe), "sign", "soap", *_party(dev_keys, "adapter")],
        input=ENVELOPE_5K.read_bytes(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    checked = subprocess.run(
        [str(exe), "verify", "soap", "--trust", str(dev_keys / "ca" / "cert.pem")],
        input=signed.stdout,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.startswith(b"VALID: signed by adapter")
