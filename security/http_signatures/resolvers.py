"""Key resolvers: a :class:`KeyResolver` turns a ``keyid`` into a validated public key
(:class:`ResolvedKey`). :class:`TrustedKeyDirectory` reads ``keys_dir/<keyid>/cert.pem`` and
:class:`StaticKeyResolver` a mapping of registered clients; both keep a resolved key with its
certificate path's validity window, checked on every resolution, and ask the trust store again
outside it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from security.errors import UnknownKey, UnsupportedAlgorithm, UntrustedCertificate
from security.keys import PublicKey, load_certificate, party_of
from security.trust import TrustStore

_KEYID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ResolvedKey:
    """The public key a keyid names, and its certificate when there is one."""

    keyid: str
    public_key: PublicKey
    certificate: x509.Certificate | None = None


class KeyResolver(Protocol):
    """Finds the public key for a ``keyid``; raises a ``CertificateError`` when it cannot."""

    def resolve(self, keyid: str) -> ResolvedKey:
        """The key for ``keyid``, validated; raise ``UnknownKey`` or another CertificateError."""
        ...


def _public_key(value: x509.Certificate | PublicKey) -> PublicKey:
    key = value.public_key() if isinstance(value, x509.Certificate) else value
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise UnsupportedAlgorithm("the key is neither ECDSA nor RSA")
    return key


_Known = tuple[ResolvedKey, float, float]  # a resolved key and when its certificate path is valid


def _still_valid(known: _Known | None) -> ResolvedKey | None:
    """The cached key while its certificate path is inside its validity period (checked now)."""
    if known is None:
        return None
    resolved, not_before, not_after = known
    return resolved if not_before <= time.time() <= not_after else None


class TrustedKeyDirectory:
    """Resolves ``keyid`` to ``keys_dir/<keyid>/cert.pem``, validated against the trust store.

    The certificate's subject CN must equal the keyid. Certificates are read once and kept;
    the trust store re-checks their validity period on every resolution.
    """

    def __init__(self, keys_dir: Path | str, trust: TrustStore) -> None:
        self._dir = Path(keys_dir)
        self._trust = trust
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def resolve(self, keyid: str) -> ResolvedKey:
        known = self._known.get(keyid)
        if known is None:
            known = self._load(keyid)
        resolved = _still_valid(known)
        if resolved is None:
            assert known[0].certificate is not None
            self._trust.validate(known[0].certificate)  # raises the precise error
            resolved = known[0]
        return resolved

    def _load(self, keyid: str) -> _Known:
        if _KEYID.fullmatch(keyid) is None:
            raise UnknownKey("the keyid is not a valid party name")
        path = self._dir / keyid / "cert.pem"
        if not path.is_file():
            raise UnknownKey("no certificate is known for this keyid")
        cert = load_certificate(path)
        if party_of(cert) != keyid:
            raise UntrustedCertificate(
                "the certificate for this keyid names another party", reason="keyid_mismatch"
            )
        not_before, not_after = self._trust.validity_window(cert)
        known = (
            ResolvedKey(keyid, _public_key(cert), cert),
            not_before.timestamp(),
            not_after.timestamp(),
        )
        with self._lock:
            self._known[keyid] = known
        return known


class StaticKeyResolver:
    """Resolves keyids from a mapping (registered clients) of certificates or public keys.

    Certificates are validated against ``trust`` when one is given. A key that resolved is
    kept with its certificate path's validity window, which is checked on every resolution;
    outside it the trust store is asked again (and says why it refuses).
    """

    def __init__(
        self,
        keys: Mapping[str, x509.Certificate | PublicKey],
        trust: TrustStore | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._trust = trust
        self._known: dict[str, _Known] = {}

    def resolve(self, keyid: str) -> ResolvedKey:
        resolved = _still_valid(self._known.get(keyid))
        if resolved is not None:
            return resolved
        value = self._keys.get(keyid)
        if value is None:
            raise UnknownKey("no key is registered for this keyid")
        if not isinstance(value, x509.Certificate):
            resolved = ResolvedKey(keyid, _public_key(value))
            self._known[keyid] = (resolved, -math.inf, math.inf)
            return resolved
        window = (-math.inf, math.inf)
        if self._trust is not None:
            self._trust.validate(value)
            not_before, not_after = self._trust.validity_window(value)
            window = (not_before.timestamp(), not_after.timestamp())
        resolved = ResolvedKey(keyid, _public_key(value), value)
        self._known[keyid] = (resolved, *window)
        return resolved
