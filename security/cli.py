"""Command-line tools: ``lienthong keys``, ``lienthong sign`` and ``lienthong verify``.

``sign`` writes the signed message to stdout. ``verify`` writes the message to stdout when it
is valid and always writes a one-line verdict with its reason to stderr; it exits 0 only when
the message is valid (1 when it is refused, 2 on a usage error).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from security.errors import SecurityError
from security.http_signatures import (
    DEFAULT_MAX_SKEW,
    DEFAULT_TTL,
    HttpSigner,
    HttpVerifier,
    KeyResolver,
    StaticKeyResolver,
    TrustedKeyDirectory,
)
from security.keys import load_certificate, load_credentials, load_party, party_of
from security.pki import PARTIES, init_dev_pki
from security.replay import MemoryReplayCache
from security.request_file import parse_request_file
from security.trust import TrustStore
from security.wsse import sign_envelope, verify_envelope

REQUEST_FILE_HELP = """
\b
A request file is an HTTP/1.1 request message as text:
  POST /v1/citizens/verify HTTP/1.1
  Host: 127.0.0.1:8080
  Content-Type: application/json
  <empty line>
  {"citizen_id": "..."}
The target is a path (the Host header then names the authority) or an absolute URL. Every
byte after the empty line is the body. Lines may end in CRLF or LF.
"""

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def _read(source: Path | None) -> bytes:
    if source is None:
        return sys.stdin.buffer.read()
    return source.read_bytes()


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _refuse(exc: SecurityError) -> None:
    click.echo(f"INVALID: {exc.reason}: {exc.message}", err=True)
    sys.exit(1)


# ------------------------------------------------------------------------------------- keys


@click.group()
def keys() -> None:
    """Create and inspect the development PKI."""


@keys.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--rsa", is_flag=True, help="RSA-2048 keys instead of ECDSA P-256.")
def keys_init(folder: Path, rsa: bool) -> None:
    """Create a CA and a key + certificate for every party under FOLDER.

    \b
    Layout: FOLDER/ca/{cert,key}.pem and FOLDER/<party>/{key,cert}.pem for the parties
    adapter, population, registry, portal, province-app, ministry, integrator.
    Existing files are kept; keys are never overwritten.
    """
    before = {path for path in folder.rglob("*.pem")} if folder.exists() else set()
    init_dev_pki(folder, rsa=rsa)
    created = sorted(path for path in folder.rglob("*.pem") if path not in before)
    kept = len(before)
    click.echo(f"{len(created)} file(s) created, {kept} kept, in {folder}")
    for path in created:
        click.echo(f"  + {path.relative_to(folder)}")


@keys.command("show")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def keys_show(folder: Path) -> None:
    """Show the CA and each party's certificate: subject, key, validity, fingerprint."""
    trust = TrustStore.from_pem_file(folder / "ca" / "cert.pem")
    ca = load_certificate(folder / "ca" / "cert.pem")
    click.echo(f"ca: {ca.subject.rfc4514_string()}  until {ca.not_valid_after_utc:%Y-%m-%d}")
    for party in PARTIES:
        if not (folder / party / "cert.pem").is_file():
            click.echo(f"{party}: missing")
            continue
        creds = load_party(folder, party)
        key = creds.key
        kind = (
            "ECDSA P-256"
            if isinstance(key, ec.EllipticCurvePrivateKey)
            else (f"RSA-{key.key_size}" if isinstance(key, rsa.RSAPrivateKey) else "?")
        )
        try:
            trust.validate(creds.certificate)
            status = "trusted"
        except SecurityError as exc:
            status = exc.reason
        fingerprint = creds.certificate.fingerprint(hashes.SHA256()).hex()[:16]
        until = creds.certificate.not_valid_after_utc
        click.echo(f"{party}: {kind}, until {until:%Y-%m-%d}, sha256 {fingerprint}…, {status}")


# ------------------------------------------------------------------------------------- sign


@click.group()
def sign() -> None:
    """Sign a SOAP envelope (WS-Security) or an HTTP request (RFC 9421)."""


@sign.command("soap")
@click.option("--key", "key_path", required=True, type=_existing_file, help="Private key (PEM).")
@click.option("--cert", "cert_path", required=True, type=_existing_file, help="Certificate (PEM).")
@click.option("--ttl", default=300, show_default=True, help="Timestamp validity in seconds.")
@click.argument("source", required=False, type=_existing_file)
def sign_soap(key_path: Path, cert_path: Path, ttl: int, source: Path | None) -> None:
    """Sign the SOAP 1.1 envelope in SOURCE (stdin when absent); the result goes to stdout."""
    try:
        creds = load_credentials(key_path, cert_path)
        signed = sign_envelope(_read(source), creds, ttl=dt.timedelta(seconds=ttl))
    except SecurityError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.message}") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _write(signed)
    click.echo(f"signed by {creds.party}", err=True)


@sign.command("http", epilog=REQUEST_FILE_HELP)
@click.option("--key", "key_path", required=True, type=_existing_file, help="Private key (PEM).")
@click.option("--cert", "cert_path", required=True, type=_existing_file, help="Certificate (PEM).")
@click.option("--keyid", default=None, help="keyid to sign as (default: the certificate's CN).")
@click.option("--ttl", default=DEFAULT_TTL, show_default=True, help="Validity in seconds.")
@click.argument("source", required=False, type=_existing_file)
def sign_http(
    key_path: Path, cert_path: Path, keyid: str | None, ttl: int, source: Path | None
) -> None:
    """Sign the request file SOURCE (stdin when absent); the signed request goes to stdout.

    Adds Content-Digest, Signature-Input and Signature (label sig1) covering
    @method @authority @path @query content-type content-digest.
    """
    try:
        creds = load_credentials(key_path, cert_path)
        request = parse_request_file(_read(source))
        signer = HttpSigner(creds, ttl=ttl, keyid=keyid)
        added = signer.sign_request(request.method, request.url(), request.headers, request.body)
    except SecurityError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.message}") from exc
    _write(request.with_headers(added).render())
    click.echo(f"signed as {signer.keyid}", err=True)


# ----------------------------------------------------------------------------------- verify


@click.group()
def verify() -> None:
    """Verify a signed SOAP envelope or HTTP request; exit 0 only when it is valid."""


@verify.command("soap")
@click.option("--trust", "trust_path", required=True, type=_existing_file, help="CA cert(s), PEM.")
@click.option("--max-skew", default=300, show_default=True, help="Clock skew allowed, seconds.")
@click.option("--expect", "expected_party", default=None, help="Refuse other signers than this.")
@click.argument("source", required=False, type=_existing_file)
def verify_soap(
    trust_path: Path, max_skew: int, expected_party: str | None, source: Path | None
) -> None:
    """Verify the signed envelope in SOURCE (stdin when absent).

    The envelope goes to stdout when valid; the verdict and its reason go to stderr.
    """
    data = _read(source)
    try:
        trust = TrustStore.from_pem_file(trust_path)
        verified = verify_envelope(
            data,
            trust,
            max_skew=dt.timedelta(seconds=max_skew),
            expected_party=expected_party,
        )
    except SecurityError as exc:
        _refuse(exc)
        return
    _write(data)
    click.echo(
        f"VALID: signed by {verified.party}, created {verified.created:%Y-%m-%dT%H:%M:%SZ}, "
        f"expires {verified.expires:%Y-%m-%dT%H:%M:%SZ}",
        err=True,
    )


@verify.command("http", epilog=REQUEST_FILE_HELP)
@click.option("--trust", "trust_path", required=True, type=_existing_file, help="CA cert(s), PEM.")
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Key folder: keyid K resolves to KEYS/K/cert.pem.",
)
@click.option("--cert", "cert_path", type=_existing_file, help="The signer's certificate.")
@click.option("--max-skew", default=DEFAULT_MAX_SKEW, show_default=True, help="Seconds.")
@click.argument("source", required=False, type=_existing_file)
def verify_http(
    trust_path: Path,
    keys_dir: Path | None,
    cert_path: Path | None,
    max_skew: int,
    source: Path | None,
) -> None:
    """Verify the signed request file SOURCE (stdin when absent).

    The keyid is resolved with --keys DIR or --cert CERT (one of them is required). The
    request goes to stdout when valid; the verdict and its reason go to stderr.
    """
    if (keys_dir is None) == (cert_path is None):
        raise click.UsageError("give exactly one of --keys DIR or --cert CERT")
    data = _read(source)
    try:
        trust = TrustStore.from_pem_file(trust_path)
        resolver: KeyResolver
        if keys_dir is not None:
            resolver = TrustedKeyDirectory(keys_dir, trust)
        else:
            assert cert_path is not None
            cert = load_certificate(cert_path)
            resolver = StaticKeyResolver({party_of(cert): cert}, trust)
        request = parse_request_file(data)
        verifier = HttpVerifier(resolver, MemoryReplayCache(), max_skew=max_skew)
        verified = verifier.verify_request(
            request.method, request.url(), request.headers, request.body
        )
    except SecurityError as exc:
        _refuse(exc)
        return
    _write(data)
    click.echo(
        f"VALID: signed by {verified.keyid} ({verified.algorithm}), "
        f"covers {' '.join(verified.components)}",
        err=True,
    )


__all__ = ["keys", "sign", "verify"]
