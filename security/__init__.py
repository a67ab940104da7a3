"""Keys, trust store, WS-Security, HTTP Message Signatures, hardened XML and the replay cache.

The modules are small and named for what they do (``wsse``, ``http_signatures``, ``trust``…);
the names most callers need are re-exported here.
"""

from security.errors import (
    CertificateError,
    SecurityError,
    SignatureError,
    UnsafeXml,
)
from security.host_replay import HostReplayCache, HostReplayTable
from security.http_signatures import (
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
    TrustedKeyDirectory,
    VerifiedRequest,
    content_digest,
)
from security.keys import Credentials, load_party, party_of
from security.pki import PARTIES, init_dev_pki
from security.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from security.trust import TrustStore
from security.wsse import VerifiedEnvelope, sign_envelope, verify_envelope
from security.xml import XmlLimits, parse_xml

__all__ = [
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
