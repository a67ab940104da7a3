"""Upstream credentials that expire: an OAuth2 client-credentials token, a portal session.

``CachedSecret`` keeps one value until shortly before it expires and fetches a new one with one
fetch at a time (concurrent callers wait for the same fetch). ``invalidate()`` drops it when
the upstream says it is no longer good (HTTP 401, the portal's session-expired code);
``call_with_renewal`` sends a call with the value and, when the upstream refuses it, once more
with a fresh one. ``read_secret`` reads the value and its lifetime from the upstream's answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from connectors.base import CallContext
from connectors.resilience import Clock


@dataclass(frozen=True, slots=True)
class Secret:
    """A token or session and the monotonic time it stops being usable."""

    value: str
    expires_at: float


Fetch = Callable[[float, CallContext], Awaitable[tuple[str, float]]]
Answer = TypeVar("Answer")


def read_secret(
    answer: object, value_key: str, default_lifetime: float
) -> tuple[str, float] | None:
    """``(value, lifetime)`` from a JSON answer's ``value_key`` and ``expires_in`` fields.

    ``default_lifetime`` stands in for a missing ``expires_in``; ``None`` when the answer is not
    an object, the value is not a non-empty string or ``expires_in`` is not a number.
    """
    if not isinstance(answer, dict):
        return None
    value = answer.get(value_key)
    lifetime = answer.get("expires_in", default_lifetime)
    if not isinstance(value, str) or not value or not isinstance(lifetime, int | float):
        return None
    return value, float(lifetime)


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

    async def call_with_renewal(
        self,
        time_limit: float,
        ctx: CallContext,
        send: Callable[[str], Awaitable[Answer]],
        refused: Callable[[Answer], bool],
    ) -> Answer:
        """``send(value)`` with a usable value; renewed once if ``refused(answer)``.

        When the upstream refuses the value (an expired token or session), it is dropped and
        ``send`` called once more with a fresh one; that second answer is returned as it is.
        """
        value = await self.get(time_limit, ctx)
        answer = await send(value)
        if refused(answer):
            self.invalidate(value)
            answer = await send(await self.get(time_limit, ctx))
        return answer

    def invalidate(self, value: str | None = None) -> None:
        """Drop the cached value (only if it is still ``value``, when given)."""
        if value is None or (self._secret is not None and self._secret.value == value):
            self._secret = None


__all__ = ["CachedSecret", "Fetch", "Secret", "read_secret"]
