"""WS-Security 1.1 for SOAP 1.1: sign an envelope, and verify one strictly.

A signed envelope carries, in ``soapenv:Header/wsse:Security``: a ``wsu:Timestamp``
(Created/Expires), an X.509v3 ``wsse:BinarySecurityToken`` and a ``ds:Signature`` whose references
(exclusive C14N, SHA-256) cover exactly the Body, the Timestamp and every X-Road header element;
the signature is ECDSA P-256/SHA-256 (raw ``r || s``) or RSA PKCS#1 v1.5/SHA-256.

The verifier accepts only that. Every reference must resolve by ``wsu:Id`` to exactly one element
at its expected place, no identifier may occur twice anywhere in the document, the referenced set
must equal the envelope's own signed parts (signature wrapping is refused), the certificate must
chain to the trust store and be valid and allowed to sign, and the Timestamp must be fresh.

Cost: what a message needs is one parse, one exclusive C14N per signed part on each side plus
one of SignedInfo, one serialization and the two ECDSA operations; the rest is kept small. The
signer writes its Security header as text; the verifier lists the document's ``wsu:Id``
attributes once (with the elements carrying them). Its shortcuts are kept in ``fast_path``,
each beside the plain reading it shadows and answering as that reading does or declining: it
compares SignedInfo's canonical bytes with the text the signer would have written over the
signed parts it found (equal texts mean every reference and digest holds), and reads a compact
SignedInfo in another order or under another prefix with literal patterns. Any other SignedInfo
(whitespace, InclusiveNamespaces) is read strictly from its canonical bytes by the plain reader
and checked reference by reference. Per token text the decoded certificate, its party and
public key are remembered (the trust store still judges the certificate on every call: chain
and key usage cached per store, validity window checked each time).

The package: ``names`` (namespaces, algorithm identifiers, element names, defaults), ``c14n``
(exclusive canonicalization), ``compact`` (the SignedInfo text the signer writes), ``sign``
(:func:`sign_envelope`), ``verify`` (:func:`verify_envelope`, :class:`VerifiedEnvelope`) and the
verifier's parts: ``structure`` (the envelope's shape and identifiers), ``signed_info`` (the
plain reading of SignedInfo and the checks of its references and digests), ``fast_path`` (the
shortcuts over it), ``timestamp`` (freshness) and ``token`` (the signer's certificate and key).
"""

from __future__ import annotations

from security.wsse.names import BASE64_BINARY as BASE64_BINARY
from security.wsse.names import BODY as BODY
from security.wsse.names import BST as BST
from security.wsse.names import C14N_METHOD as C14N_METHOD
from security.wsse.names import CREATED as CREATED
from security.wsse.names import DEFAULT_MAX_SKEW as DEFAULT_MAX_SKEW
from security.wsse.names import DEFAULT_MAX_VALIDITY as DEFAULT_MAX_VALIDITY
from security.wsse.names import DEFAULT_TTL as DEFAULT_TTL
from security.wsse.names import DIGEST_METHOD as DIGEST_METHOD
from security.wsse.names import DIGEST_VALUE as DIGEST_VALUE
from security.wsse.names import DS_NS as DS_NS
from security.wsse.names import ECDSA_SHA256 as ECDSA_SHA256
from security.wsse.names import ENVELOPE as ENVELOPE
from security.wsse.names import EXC_C14N as EXC_C14N
from security.wsse.names import EXPIRES as EXPIRES
from security.wsse.names import HEADER as HEADER
from security.wsse.names import INCLUSIVE_NAMESPACES as INCLUSIVE_NAMESPACES
from security.wsse.names import KEY_INFO as KEY_INFO
from security.wsse.names import MUST_UNDERSTAND as MUST_UNDERSTAND
from security.wsse.names import REFERENCE as REFERENCE
from security.wsse.names import RSA_SHA256 as RSA_SHA256
from security.wsse.names import SECURITY as SECURITY
from security.wsse.names import SHA256_DIGEST as SHA256_DIGEST
from security.wsse.names import SIGNATURE as SIGNATURE
from security.wsse.names import SIGNATURE_METHOD as SIGNATURE_METHOD
from security.wsse.names import SIGNATURE_VALUE as SIGNATURE_VALUE
from security.wsse.names import SIGNED_INFO as SIGNED_INFO
from security.wsse.names import SIGNING_NSMAP as SIGNING_NSMAP
from security.wsse.names import SOAP11_NS as SOAP11_NS
from security.wsse.names import STR as STR
from security.wsse.names import TIMESTAMP as TIMESTAMP
from security.wsse.names import TRANSFORM as TRANSFORM
from security.wsse.names import TRANSFORMS as TRANSFORMS
from security.wsse.names import WSSE_NS as WSSE_NS
from security.wsse.names import WSSE_REFERENCE as WSSE_REFERENCE
from security.wsse.names import WSU_ID as WSU_ID
from security.wsse.names import WSU_NS as WSU_NS
from security.wsse.names import X509V3 as X509V3
from security.wsse.names import XROAD_NS as XROAD_NS
from security.wsse.sign import sign_envelope as sign_envelope
from security.wsse.verify import VerifiedEnvelope as VerifiedEnvelope
from security.wsse.verify import verify_envelope as verify_envelope

__all__ = [
    "DEFAULT_MAX_SKEW",
    "DEFAULT_MAX_VALIDITY",
    "DEFAULT_TTL",
    "SIGNING_NSMAP",
    "VerifiedEnvelope",
    "sign_envelope",
    "verify_envelope",
]
