"""The constants of the HTTP signature profile: the signature label, the default lifetime, clock
skew and validity window, the algorithms a signature may use, the derived components that
cover a request's target, the header fields covered whenever present
(:data:`COVERED_WHEN_PRESENT`), and :data:`Headers`, every form of header fields the signer and the
verifier accept (a mapping, or str or latin-1 bytes pairs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from security import algorithms

LABEL = "sig1"
DEFAULT_TTL = 60
DEFAULT_MAX_SKEW = 60
DEFAULT_MAX_VALIDITY = 300
ALGORITHMS = (
    algorithms.ECDSA_P256_SHA256,
    algorithms.RSA_PSS_SHA512,
    algorithms.RSA_V1_5_SHA256,
)
REQUEST_COMPONENTS = ("@method", "@authority", "@path", "@query")
#: header fields a request signature must cover whenever the request carries them: what names the
#: official, the case and the correlation id is recorded as accountability (the X-Road security
#: server signs ``userId`` and ``issue`` the same way). The signer covers them when present.
COVERED_WHEN_PRESENT = ("x-request-id", "x-user-id", "x-issue")


Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]
