"""Samples for the security tests: the 5 KB envelope, odd certificates, xmlsec1 helpers."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from pathlib import Path

from cryptography import x509
from lxml import etree

from security import wsse
from security.keys import Credentials, PrivateKey, load_party
from security.pki import (
    cert_pem,
    generate_key,
    issue_certificate,
    key_pem,
    make_ca_certificate,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "security"
ENVELOPE_5K = FIXTURES / "envelope_5k.xml"
XROAD_HEADERS = ("client", "service", "id", "userId", "issue", "protocolVersion")


def envelope_bytes() -> bytes:
    """The unsigned 5 KB population envelope (synthetic data)."""
    return ENVELOPE_5K.read_bytes()


def party_with_certificate(
    keys_dir: Path,
    party: str = "integrator",
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    digital_signature: bool = True,
    ca: tuple[PrivateKey, x509.Certificate] | None = None,
) -> Credentials:
    """A party's key with a certificate re-issued by the folder's CA (or by ``ca``)."""
    from security.keys import load_certificate, load_private_key

    base = load_party(keys_dir, party)
    if ca is None:
        ca_key = load_private_key(keys_dir / "ca" / "key.pem")
        ca_cert = load_certificate(keys_dir / "ca" / "cert.pem")
    else:
        ca_key, ca_cert = ca
    cert = issue_certificate(
        ca_key,
        ca_cert,
        party,
        base.key.public_key(),
        not_before=not_before,
        not_after=not_after,
        digital_signature=digital_signature,
    )
    return Credentials(base.key, cert, party)


def expired_party(
    keys_dir: Path, party: str = "integrator", *, now: dt.datetime | None = None
) -> Credentials:
    """A party whose certificate from the folder's CA ended a day before ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    return party_with_certificate(
        keys_dir,
        party,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )


def rogue_credentials(party: str = "adapter", *, rsa: bool = False) -> Credentials:
    """Credentials issued by a CA nobody trusts, with the same CN as a real party."""
    ca_key = generate_key(rsa_key=rsa)
    ca_cert = make_ca_certificate(ca_key, name="rogue CA")
    key = generate_key(rsa_key=rsa)
    cert = issue_certificate(ca_key, ca_cert, party, key.public_key())
    return Credentials(key, cert, party)


def write_credentials(folder: Path, creds: Credentials) -> tuple[Path, Path]:
    """Write a key and certificate pair to ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(key_pem(creds.key))
    cert_path.write_bytes(cert_pem(creds.certificate))
    return key_path, cert_path


def xmlsec1_id_args() -> list[str]:
    """``--id-attr`` options telling xmlsec1 that wsu:Id is an ID on every signed part."""
    args = ["--id-attr:Id", f"{wsse.WSU_NS}:Timestamp", "--id-attr:Id", f"{wsse.SOAP11_NS}:Body"]
    for name in XROAD_HEADERS:
        args += ["--id-attr:Id", f"{wsse.XROAD_NS}:{name}"]
    return args


def run_xmlsec1(xmlsec1: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run xmlsec1 with a timeout, capturing its output."""
    return subprocess.run([xmlsec1, *args], capture_output=True, text=True, timeout=60, check=False)


def xmlsec1_template(
    creds: Credentials,
    *,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = dt.timedelta(minutes=5),
    signature_method: str = wsse.ECDSA_SHA256,
) -> bytes:
    """The 5 KB envelope with a WS-Security header whose ds:Signature xmlsec1 is to fill in."""
    envelope = etree.fromstring(envelope_bytes())
    header, body = envelope[0], envelope[1]
    sub = etree.SubElement
    parts = [el for el in header if isinstance(el.tag, str)]
    for index, element in enumerate(parts):
        element.set(wsse.WSU_ID, f"xr-{index}")
    body.set(wsse.WSU_ID, "body-1")
    security = sub(header, wsse.SECURITY, nsmap={"wsse": wsse.WSSE_NS, "wsu": wsse.WSU_NS})
    timestamp = sub(security, wsse.TIMESTAMP)
    timestamp.set(wsse.WSU_ID, "ts-1")
    created = now or dt.datetime.now(dt.UTC)
    sub(timestamp, wsse.CREATED).text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    sub(timestamp, wsse.EXPIRES).text = (created + ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = sub(security, wsse.BST)
    token.set("EncodingType", wsse.BASE64_BINARY)
    token.set("ValueType", wsse.X509V3)
    token.set(wsse.WSU_ID, "bst-1")
    token.text = base64.b64encode(creds.certificate_der).decode("ascii")
    signature = sub(security, wsse.SIGNATURE, nsmap={"ds": wsse.DS_NS})
    signed_info = sub(signature, wsse.SIGNED_INFO)
    sub(signed_info, wsse.C14N_METHOD).set("Algorithm", wsse.EXC_C14N)
    sub(signed_info, wsse.SIGNATURE_METHOD).set("Algorithm", signature_method)
    for element in [*parts, timestamp, body]:
        reference = sub(signed_info, wsse.REFERENCE)
        reference.set("URI", "#" + str(element.get(wsse.WSU_ID)))
        sub(sub(reference, wsse.TRANSFORMS), wsse.TRANSFORM).set("Algorithm", wsse.EXC_C14N)
        sub(reference, wsse.DIGEST_METHOD).set("Algorithm", wsse.SHA256_DIGEST)
        sub(reference, wsse.DIGEST_VALUE)
    sub(signature, wsse.SIGNATURE_VALUE)
    key_info = sub(signature, wsse.KEY_INFO)
    token_ref = sub(sub(key_info, wsse.STR), wsse.WSSE_REFERENCE)
    token_ref.set("URI", "#bst-1")
    token_ref.set("ValueType", wsse.X509V3)
    return etree.tostring(envelope)
