"""``MockSettings``: everything the mock national endpoints are started with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mock_endpoints.faults import UPSTREAMS, UpstreamFaults

#: sandbox credentials (docs/design.md); integrators use these with the mocks
REGISTRY_CLIENTS: Mapping[str, str] = {"lienthong-sandbox": "sandbox-secret"}
PORTAL_USERS: Mapping[str, str] = {"lienthong": "sandbox"}


@dataclass(frozen=True)
class MockSettings:
    """How to run the mocks.

    ``keys_dir`` is a development PKI folder (``lienthong keys init``): the mocks sign with the
    ``population``, ``registry`` and ``portal`` parties' keys and trust ``ca/cert.pem``.
    ``allow_unsigned`` (a benchmarking switch) accepts unsigned requests — responses are still
    signed. ``only`` limits the systems served (all three when empty). Times in seconds.
    ``portal_dedup`` makes the portal acknowledge a progress record identical to one it holds
    without applying it again (the real portal applies it twice; for comparison only).
    """

    keys_dir: Path
    seed: int = 42
    citizens: int = 200
    businesses: int = 50
    allow_unsigned: bool = False
    faults: Mapping[str, UpstreamFaults] = field(default_factory=dict)
    token_ttl: float = 300.0
    session_ttl: float = 1800.0
    only: frozenset[str] = frozenset()
    registry_clients: Mapping[str, str] = field(default_factory=lambda: dict(REGISTRY_CLIENTS))
    portal_users: Mapping[str, str] = field(default_factory=lambda: dict(PORTAL_USERS))
    response_ttl: int = 60
    max_skew: int = 60
    portal_dedup: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.only) - set(UPSTREAMS))
        if unknown:
            raise ValueError(f"unknown system(s) in only: {', '.join(unknown)}")
        if self.token_ttl <= 0 or self.session_ttl <= 0:
            raise ValueError("token_ttl and session_ttl must be positive")

    def serves(self, upstream: str) -> bool:
        """True when ``upstream`` is served by this mock app."""
        return not self.only or upstream in self.only


__all__ = ["PORTAL_USERS", "REGISTRY_CLIENTS", "MockSettings"]
