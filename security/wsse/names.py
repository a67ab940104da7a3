"""Namespaces, algorithm identifiers, element names and defaults of WS-Security 1.1."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from security import algorithms

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

#: prefixes a builder may declare on its Envelope so the signed parts carry readable prefixes
SIGNING_NSMAP: dict[str, str] = {"wsse": WSSE_NS, "wsu": WSU_NS, "ds": DS_NS}

DEFAULT_TTL = dt.timedelta(minutes=5)
DEFAULT_MAX_SKEW = dt.timedelta(minutes=5)
DEFAULT_MAX_VALIDITY = dt.timedelta(hours=1)

SIGNATURE_METHODS = {
    ECDSA_SHA256: algorithms.ECDSA_P256_SHA256,
    RSA_SHA256: algorithms.RSA_V1_5_SHA256,
}


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


ENVELOPE = _q(SOAP11_NS, "Envelope")
HEADER = _q(SOAP11_NS, "Header")
BODY = _q(SOAP11_NS, "Body")
SECURITY = _q(WSSE_NS, "Security")
BST = _q(WSSE_NS, "BinarySecurityToken")
STR = _q(WSSE_NS, "SecurityTokenReference")
WSSE_REFERENCE = _q(WSSE_NS, "Reference")
TIMESTAMP = _q(WSU_NS, "Timestamp")
CREATED = _q(WSU_NS, "Created")
EXPIRES = _q(WSU_NS, "Expires")
WSU_ID = _q(WSU_NS, "Id")
SIGNATURE = _q(DS_NS, "Signature")
SIGNED_INFO = _q(DS_NS, "SignedInfo")
SIGNATURE_VALUE = _q(DS_NS, "SignatureValue")
KEY_INFO = _q(DS_NS, "KeyInfo")
C14N_METHOD = _q(DS_NS, "CanonicalizationMethod")
SIGNATURE_METHOD = _q(DS_NS, "SignatureMethod")
REFERENCE = _q(DS_NS, "Reference")
TRANSFORMS = _q(DS_NS, "Transforms")
TRANSFORM = _q(DS_NS, "Transform")
DIGEST_METHOD = _q(DS_NS, "DigestMethod")
DIGEST_VALUE = _q(DS_NS, "DigestValue")
INCLUSIVE_NAMESPACES = _q(EXC_C14N, "InclusiveNamespaces")
MUST_UNDERSTAND = _q(SOAP11_NS, "mustUnderstand")

etree.register_namespace("wsu", WSU_NS)  # the prefix lxml gives wsu:Id where none is declared
