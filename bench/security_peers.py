"""The peers ``bench/security_bench.py`` compares with, on the same messages in the same process.

* **python-xmlsec** (libxmlsec1 through its Python binding) and **signxml** (pure Python over
  lxml and `cryptography`) sign and verify the same WS-Security envelope with the same
  references as ours: every ``wsu:Id`` part our signer covers (the X-Road header elements, the
  Timestamp, the Body), exclusive C14N, SHA-256, ECDSA P-256. Their input is our signed envelope
  with its ``ds:Signature`` removed (Timestamp, token and ids already there, which is work ours
  does and theirs is spared), as bytes; each call parses it, signs, serializes, parses the
  result and verifies it with the signer's certificate (no chain check: ours checks the chain
  against the trust store on top).
* **http-message-signatures** signs and verifies the same 1 KB JSON request as ours, covering
  the same components (``@method @authority @path @query content-type content-digest``, its own
  Content-Digest) with ``created``, ``expires``, ``keyid``, ``nonce`` and ``alg``.

Each ``*_case`` function returns a no-argument callable doing one sign + verify, or None when
its library is not installed (the ``bench`` extra brings python-xmlsec and signxml;
http-message-signatures comes with ``dev``). Each checks its own result once before it is timed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from lxml import etree

from security.keys import Credentials
from security.wsse import WSU_ID
from security.wsse.names import DS_NS, SECURITY, WSU_NS

Case = Callable[[], object]


def unsigned_with_ids(signed: bytes) -> tuple[bytes, list[str]]:
    """``signed`` without its ``ds:Signature``, and the ids its references named, in order."""
    root = etree.fromstring(signed)
    signature = root.find(f".//{SECURITY}/{{{DS_NS}}}Signature")
    assert signature is not None
    ids = [
        str(reference.get("URI"))[1:]
        for reference in signature.iterfind(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    ]
    signature.getparent().remove(signature)  # type: ignore[union-attr]
    return etree.tostring(root), ids


def _security(root: etree._Element) -> etree._Element:
    found = root.find(f".//{SECURITY}")
    assert found is not None
    return found


def xmlsec_case(unsigned: bytes, ids: list[str], credentials: Credentials) -> Case | None:
    """python-xmlsec: sign the parts named by ``ids`` and verify the result."""
    try:
        import xmlsec
    except ImportError:
        return None
    private_pem = credentials.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificate_pem = credentials.certificate.public_bytes(serialization.Encoding.PEM)
    signing_key = xmlsec.Key.from_memory(private_pem, xmlsec.constants.KeyDataFormatPem)
    checking_key = xmlsec.Key.from_memory(certificate_pem, xmlsec.constants.KeyDataFormatCertPem)
    consts = xmlsec.constants

    def with_ids(root: etree._Element) -> list[etree._Element]:
        return [element for element in root.iter() if element.get(WSU_ID) is not None]

    def run() -> bool:
        root = etree.fromstring(unsigned)
        signature = xmlsec.template.create(
            root, consts.TransformExclC14N, consts.TransformEcdsaSha256
        )
        for part in ids:
            reference = xmlsec.template.add_reference(
                signature, consts.TransformSha256, uri=f"#{part}"
            )
            xmlsec.template.add_transform(reference, consts.TransformExclC14N)
        _security(root).append(signature)
        context = xmlsec.SignatureContext()
        for element in with_ids(root):
            context.register_id(element, "Id", WSU_NS)
        context.key = signing_key
        context.sign(signature)
        received = etree.fromstring(etree.tostring(root))
        checker = xmlsec.SignatureContext()
        for element in with_ids(received):
            checker.register_id(element, "Id", WSU_NS)
        checker.key = checking_key
        checker.verify(received.find(f".//{{{DS_NS}}}Signature"))
        return True

    run()
    return run


def signxml_case(unsigned: bytes, ids: list[str], credentials: Credentials) -> Case | None:
    """signxml: sign the parts named by ``ids`` (a detached signature put in the Security
    header) and verify the result with the signer's certificate."""
    try:
        import signxml
    except ImportError:
        return None
    certificate_pem = credentials.certificate.public_bytes(serialization.Encoding.PEM).decode()
    signer = signxml.XMLSigner(
        method=signxml.methods.detached,
        signature_algorithm="ecdsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    expect = signxml.SignatureConfiguration(expect_references=len(ids))
    verifier = signxml.XMLVerifier()

    def run() -> Any:
        root = etree.fromstring(unsigned)
        signature = signer.sign(
            root,
            key=credentials.key,
            cert=[credentials.certificate],
            reference_uri=[f"#{part}" for part in ids],
            id_attribute="Id",
        )
        _security(root).append(signature)
        received = etree.tostring(root)
        return verifier.verify(
            received,
            x509_cert=certificate_pem,
            id_attribute="Id",
            expect_config=expect,
            validate_schema=False,
        )

    run()
    return run


def http_message_signatures_case(
    credentials: Credentials, keyid: str, url: str, headers: dict[str, str], body: bytes
) -> Case | None:
    """http-message-signatures: sign the request as ours does, then verify it."""
    try:
        import http_message_signatures as hms
        import httpx
        from http_message_signatures import algorithms
    except ImportError:
        return None
    public = credentials.certificate.public_key()

    class Keys(hms.HTTPSignatureKeyResolver):  # type: ignore[misc]
        def resolve_public_key(self, key_id: str) -> Any:
            return public

        def resolve_private_key(self, key_id: str) -> Any:
            return credentials.key

    signer = hms.HTTPMessageSigner(
        signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=Keys()
    )
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=Keys()
    )
    covered = ("@method", "@authority", "@path", "@query", "content-type", "content-digest")
    nonces = itertools.count()

    def run() -> Any:
        request = httpx.Request("POST", url, headers=headers, content=body)
        now = dt.datetime.now(dt.UTC)
        signer.sign(
            request,
            key_id=keyid,
            created=now,
            expires=now + dt.timedelta(seconds=300),
            nonce=f"peer-nonce-{next(nonces):012d}",
            label="sig1",
            covered_component_ids=covered,
            body=body,
        )
        return verifier.verify(request, body=body)

    run()
    return run


__all__ = [
    "http_message_signatures_case",
    "signxml_case",
    "unsigned_with_ids",
    "xmlsec_case",
]
