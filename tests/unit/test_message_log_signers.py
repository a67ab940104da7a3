"""The message log writer's signers of an exchange (``SqlMessageLog._signers``): the last pair of
certificates and the fingerprints seen are remembered, and every answer is what computing them
afresh gives — the fingerprints, and the certificates not stored yet — whatever the order of
pairs, missing certificates, a certificate signing both messages, an equal certificate in
another object, or certificates stored in between."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.ext.asyncio import create_async_engine

from store.message_log.crypto import BodyCipher
from store.message_log.writer import SqlMessageLog, fingerprint


def _certificate(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def _afresh(
    request: x509.Certificate | None, response: x509.Certificate | None, known: set[str]
) -> tuple[str | None, str | None, dict[str, x509.Certificate]]:
    """What the writer did before it remembered anything."""
    request_signer = fingerprint(request) if request is not None else None
    response_signer = fingerprint(response) if response is not None else None
    signers = {
        fp: cert
        for fp, cert in ((request_signer, request), (response_signer, response))
        if fp is not None and cert is not None and fp not in known
    }
    return request_signer, response_signer, signers


def test_the_signers_remembered_are_the_signers_computed_afresh() -> None:
    log = SqlMessageLog(create_async_engine("sqlite+aiosqlite://"), BodyCipher(b"k" * 32))
    ours, theirs, other = _certificate("adapter"), _certificate("population"), _certificate("x")
    theirs_again = x509.load_der_x509_certificate(theirs.public_bytes(serialization.Encoding.DER))
    pairs: list[tuple[x509.Certificate | None, x509.Certificate | None] | str] = [
        (ours, theirs),
        (ours, theirs),  # the same pair, neither stored: both to store again
        "store ours",
        (ours, theirs),  # one stored, the other not
        "store theirs",
        (ours, theirs),  # both stored: remembered
        (ours, theirs),
        (theirs, ours),  # the pair the other way round
        (ours, theirs),
        (ours, None),  # no response certificate
        (None, None),
        (None, None),
        (ours, ours),  # one certificate signed both
        (ours, theirs_again),  # an equal certificate, another object
        (other, theirs),  # one never stored
        (other, theirs),
        (ours, theirs),
        "store other",
        (other, theirs),
        (other, theirs),
    ]
    for step in pairs:
        if isinstance(step, str):
            stored = {"store ours": ours, "store theirs": theirs, "store other": other}[step]
            log._known_certs.add(fingerprint(stored))
            continue
        request, response = step
        assert log._signers(request, response) == _afresh(request, response, log._known_certs)
