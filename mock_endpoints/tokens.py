"""OAuth2 client-credentials tokens for the registry mock: issued per client, expiring."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedToken:
    """An access token, the client it was issued to and when it expires (monotonic seconds)."""

    value: str
    client_id: str
    expires_at: float


class TokenStore:
    """Checks client credentials, issues bearer tokens and tells live ones from expired ones."""

    def __init__(
        self,
        clients: Mapping[str, str],
        *,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = dict(clients)
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.ttl = ttl

    def client_ok(self, client_id: str, secret: str) -> bool:
        """True when ``secret`` is the registered secret of ``client_id``."""
        expected = self._clients.get(client_id)
        return expected is not None and secrets.compare_digest(
            expected.encode("utf-8"), secret.encode("utf-8")
        )

    def issue(self, client_id: str) -> IssuedToken:
        """A new token for ``client_id`` (whose credentials the caller checked)."""
        token = IssuedToken(secrets.token_urlsafe(32), client_id, self._clock() + self.ttl)
        with self._lock:
            now = self._clock()
            for value in [v for v, t in self._tokens.items() if t.expires_at <= now]:
                del self._tokens[value]
            self._tokens[token.value] = token
        return token

    def check(self, value: str) -> IssuedToken | None:
        """The live token ``value`` names, or None (unknown or expired)."""
        with self._lock:
            token = self._tokens.get(value)
            if token is None:
                return None
            if token.expires_at <= self._clock():
                del self._tokens[value]
                return None
            return token

    def revoke_all(self) -> int:
        """Expire every token now (tests, admin); returns how many there were."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count


__all__ = ["IssuedToken", "TokenStore"]
