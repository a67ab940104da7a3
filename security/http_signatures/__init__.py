"""HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530), signed label ``sig1``.

Requests cover ``"@method" "@authority" "@path" "@query" "content-type" "content-digest"``
(``content-type`` when the request has one) and, whenever the request carries them, the
accountability fields ``"x-request-id" "x-user-id" "x-issue"`` (``COVERED_WHEN_PRESENT``),
with the parameters ``created``, ``expires``, ``keyid``, ``nonce`` and ``alg``. The target is
covered as authority + path + query rather than ``@target-uri`` so that a TLS-terminating load
balancer (which changes the scheme the server sees) does not break verification; the verifier
also accepts ``@target-uri`` in place of the three. Responses cover ``"@status"
"content-type" "content-digest"`` and are bound to their request by ``"@method";req
"@authority";req "@path";req "@query";req "signature";req;key="sig1"`` with ``created``,
``expires``, ``keyid`` and ``alg``.

Algorithms: ``ecdsa-p256-sha256`` (raw ``r || s``), ``rsa-pss-sha512`` (RSA default) and
``rsa-v1_5-sha256``. The verifier refuses anything else, a missing or mismatched digest, a
``created`` in the future beyond the skew, an ``expires`` in the past, a window longer than the
maximum, an uncovered required component and a nonce seen before inside its window.

The package: ``names`` (label, defaults, algorithms, the ``Headers`` type), ``message``
(:class:`HeaderFields`, :func:`header_fields`, a request's target, :class:`RequestView`,
:func:`content_digest`, :func:`check_content_digest`), ``components`` (covered components
compiled into getters, and the signature base), ``parse`` (reading ``Signature-Input`` and
``Signature``), ``sign`` (:class:`HttpSigner`), ``verify`` (:class:`HttpVerifier`,
:class:`VerifiedRequest`) and ``resolvers`` (:class:`KeyResolver`,
:class:`TrustedKeyDirectory`, :class:`StaticKeyResolver`). ``fast`` is the fast path: the usual
URLs and headers read with regular expressions, each reader beside its general twin in
``tests/unit/test_security_http_fast_paths.py``. No module imports another's private names.
"""

from __future__ import annotations

from security.http_signatures.message import HeaderFields as HeaderFields
from security.http_signatures.message import RequestView as RequestView
from security.http_signatures.message import check_content_digest as check_content_digest
from security.http_signatures.message import content_digest as content_digest
from security.http_signatures.message import header_fields as header_fields
from security.http_signatures.names import ALGORITHMS as ALGORITHMS
from security.http_signatures.names import COVERED_WHEN_PRESENT as COVERED_WHEN_PRESENT
from security.http_signatures.names import DEFAULT_MAX_SKEW as DEFAULT_MAX_SKEW
from security.http_signatures.names import DEFAULT_MAX_VALIDITY as DEFAULT_MAX_VALIDITY
from security.http_signatures.names import DEFAULT_TTL as DEFAULT_TTL
from security.http_signatures.names import LABEL as LABEL
from security.http_signatures.names import REQUEST_COMPONENTS as REQUEST_COMPONENTS
from security.http_signatures.names import Headers as Headers
from security.http_signatures.resolvers import KeyResolver as KeyResolver
from security.http_signatures.resolvers import ResolvedKey as ResolvedKey
from security.http_signatures.resolvers import StaticKeyResolver as StaticKeyResolver
from security.http_signatures.resolvers import TrustedKeyDirectory as TrustedKeyDirectory
from security.http_signatures.sign import HttpSigner as HttpSigner
from security.http_signatures.verify import HttpVerifier as HttpVerifier
from security.http_signatures.verify import VerifiedRequest as VerifiedRequest

__all__ = [
    "ALGORITHMS",
    "COVERED_WHEN_PRESENT",
    "LABEL",
    "HeaderFields",
    "HttpSigner",
    "HttpVerifier",
    "KeyResolver",
    "RequestView",
    "ResolvedKey",
    "StaticKeyResolver",
    "TrustedKeyDirectory",
    "VerifiedRequest",
    "check_content_digest",
    "content_digest",
    "header_fields",
]
