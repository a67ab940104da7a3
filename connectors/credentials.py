"""Upstream credentials that expire: an OAuth2 client-credentials token, a portal session.

``CachedSecret`` keeps one value until shortly before it expires and fetches a new one with one
fetch at a time (concurrent callers wait for the same fetch). ``invalidate()`` drops it when
the upstream says it is no longer good (HTTP 401, the portal's session-expired code).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connectors.base import CallContext
from connectors.resilience import Clock


@dataclass(frozen=True, slots=True)
class Secret:
    """A token or session and the monotonic time it stops being usable."""

    value: str
    expires_at: float


Fetch = Callable[[float, CallContext], Awaitable[tuple[str, float]]]


class CachedSecret:
    """One token or session, cached until ``margin`` seconds before it expires.

    ``fetch(time_limit, ctx)`` returns ``(value, lifetime_seconds)``; it is called with the
    seconds the caller can still wait and the context of the call that needed the value.
    """

    def __init__(
        self, fetch: Fetch, *, margin: float = 30.0, clock: Clock = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._secret: Secret | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.fetches = 0

    @property
    def current(self) -> Secret | None:
        """The cached value when it is still usable, else ``None``."""
        secret = self._secret
        if secret is None or self._clock() >= secret.expires_at:
            return None
        return secret

    async def get(self, time_limit: float, ctx: CallContext) -> str:
        """A usable value: the cached one, or a freshly fetched one."""
        secret = self.current
        if secret is not None:
            return secret.value
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            secret = self.current
            if secret is not None:
                return secret.value
            value, lifetime = await self._fetch(time_limit, ctx)
            self.fetches += 1
            usable = max(0.0, lifetime - min(self._margin, lifetime / 2))
            self._secret = Secret(value, self._clock() + usable)
            return value

    def invalidate(self, value: str | None = None) -> None:
        """Drop the cached value (only if it is still ``value``, when given)."""
        if value is None or (self._secret is not None and self._secret.value == value):
            self._secret = None


__all__ = ["CachedSecret", "Fetch", "Secret"]
