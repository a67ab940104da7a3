"""The floor of WS-Security sign + verify: the libxml2 and ECDSA calls alone, in one flow.

``bench/security_bench.py`` sets ours against it, ``bench/security_breakdown.py`` step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from harness import ROOT  # noqa: F401 - puts the repository on sys.path
from lxml import etree

from security.wsse import WSU_ID
from security.xml import DEFAULT_LIMITS


def floor_flow(
    key: ec.EllipticCurvePrivateKey, signed: bytes
) -> Callable[[etree._Element], object]:
    """The libxml2 and ECDSA calls of sign(element) + verify(bytes), and nothing else."""
    ecdsa = ec.ECDSA(hashes.SHA256())
    public = key.public_key()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    too_deep = etree.XPath("boolean(/" + "*/" * DEFAULT_LIMITS.max_depth + "*)")
    sha256, c14n, tostring = hashlib.sha256, "c14n", etree.tostring
    signed_info = b"x" * 2900  # about the size of the SignedInfo of eight references

    def run(root: etree._Element) -> None:
        for index, part in enumerate([*root[0], root[1]]):
            part.set(WSU_ID, f"id-{index}")
            sha256(tostring(part, method=c14n, exclusive=True)).digest()
        value = key.sign(signed_info, ecdsa)
        tostring(root, encoding="utf-8")
        received = etree.fromstring(signed, parser)
        too_deep(received)
        header = received[0]
        security = header[-1]
        tostring(security[-1][0], method=c14n, exclusive=True)
        for part in [*list(header)[:-1], security[0], received[1]]:
            sha256(tostring(part, method=c14n, exclusive=True)).digest()
        public.verify(value, signed_info, ecdsa)

    return run


__all__ = ["floor_flow"]
