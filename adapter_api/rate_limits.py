"""Rate limits per client and operation, and the verify budget per citizen and client.

Every ``/v1`` call is counted for its client and operation (:meth:`RateLimiter.check`, called by
the ``require`` dependency once the allow-list has granted the operation): at most the client's
limit (clients file ``rate_limits``, else the settings' default) per fixed window. A verify also
spends one try of the client's daily budget for that citizen (:meth:`RateLimiter.spend_verify`),
so a birth date cannot be found by trying dates: the budget is counted per day in
Asia/Ho_Chi_Minh under a keyed hash of the citizen ID — the raw ID is never a counter's key.

Every counted answer carries the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-
headers; added by :func:`add_rate_limit_fields`) saying what is left; over a limit the answer is
``429`` with ``Retry-After`` and the fields saying nothing is::

    RateLimit-Policy: "citizens.read";q=600;w=60
    RateLimit: "citizens.read";r=0;t=17

The counters are shared like the replay cache (:mod:`security.rate_counters`): memory for one
process, a shared-memory table for the workers of one host, Redis for several hosts.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from starlette.types import Message, Scope

from adapter_api.clients import ApiClient, Operation, RateLimit
from adapter_api.errors import ServiceUnavailable, TooManyRequests
from security.errors import RateCounterUnavailable
from security.rate_counters import Count, RateCounter

#: a day of Asia/Ho_Chi_Minh (UTC+7) starts at 17:00 UTC
VN_DAY_OFFSET = -7 * 3600
DAY = 86400
VERIFY_POLICY = "citizens.verify.citizen"
#: where ``require`` leaves the RateLimit fields of a counted call
STATE_KEY = "ratelimit"
RawHeaders = list[tuple[bytes, bytes]]


class RateLimiter:
    """Counts calls against the clients' limits (see the module docstring)."""

    def __init__(
        self,
        counter: RateCounter,
        *,
        default: RateLimit,
        verify_budget: int,
        citizen_key: bytes,
    ) -> None:
        self._counter = counter
        self._default = default
        self._verify_budget = verify_budget
        self._citizen_key = citizen_key

    def limit_of(self, client: ApiClient, operation: Operation) -> RateLimit:
        """The limit that applies to ``client`` calling ``operation``."""
        limits = client.rate_limits
        return limits.get(operation) or limits.get("*") or self._default

    def check(self, client: ApiClient, operation: Operation) -> RawHeaders:
        """Count one call; raise ``TooManyRequests`` when it is over the client's limit.

        Returns the RateLimit fields of the answer (what is left of the window and when it ends),
        for :func:`add_rate_limit_fields` to add to the response.
        """
        name = str.__str__(operation)  # its value: a StrEnum is that string
        # limit_of and _hit written out: once per counted call, two calls fewer
        limits = client.rate_limits
        limit = limits.get(operation) or limits.get("*") or self._default
        calls, seconds = limit.calls, limit.seconds
        try:
            count = self._counter.hit(f"op:{client.client_id}:{name}", seconds)
        except RateCounterUnavailable as exc:
            raise _unavailable(exc) from exc
        if count.calls > calls:
            raise _too_many(
                name,
                calls,
                seconds,
                count,
                f"client {client.client_id} is over its limit of {name} calls",
            )
        reset = max(1, math.ceil(count.reset_after))
        # the fields' values formatted as bytes: the ASCII of the same text
        raw_name = name.encode("ascii")
        return [
            (b"ratelimit-policy", b'"%s";q=%d;w=%d' % (raw_name, calls, seconds)),
            (b"ratelimit", b'"%s";r=%d;t=%d' % (raw_name, calls - count.calls, reset)),
        ]

    def spend_verify(self, client: ApiClient, citizen_id: str) -> None:
        """Spend one verify try on ``citizen_id``; ``TooManyRequests`` when today's are spent."""
        budget = client.verify_daily_budget or self._verify_budget
        citizen = hmac.new(self._citizen_key, citizen_id.encode(), hashlib.sha256).hexdigest()
        key = f"verify:{client.client_id}:{citizen[:32]}"
        count = self._hit(key, DAY, VN_DAY_OFFSET)
        if count.calls > budget:
            raise _too_many(
                VERIFY_POLICY,
                budget,
                DAY,
                count,
                "today's verify budget for this citizen is spent",
                code="verify_budget_spent",
            )

    def _hit(self, key: str, window: int, offset: int) -> Count:
        try:
            return self._counter.hit(key, window, offset=offset)
        except RateCounterUnavailable as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: RateCounterUnavailable) -> ServiceUnavailable:
    """The 503 of a call the counters cannot count."""
    return ServiceUnavailable(exc.message, code=exc.reason, headers={"Retry-After": "1"})


def add_rate_limit_fields(start: Message, scope: Scope) -> None:
    """Add the RateLimit fields a counted call left in ``scope["state"]["ratelimit"]`` to its
    response ``start`` (a response that carries its own — a 429 — is left as it is)."""
    headers = start.get("headers", [])
    with_fields = with_rate_limit_fields(headers, scope)
    if with_fields is not headers:
        start["headers"] = with_fields


def with_rate_limit_fields(headers: RawHeaders, scope: Scope) -> RawHeaders:
    """``headers`` of a response with the RateLimit fields a counted call left in
    ``scope["state"]["ratelimit"]`` added, as a new list; ``headers`` itself when there are
    none, or when it carries its own (a 429)."""
    fields = (scope.get("state") or {}).get(STATE_KEY)
    if not fields:
        return headers
    for name, _ in headers:
        if name.lower() == b"ratelimit":
            return headers
    return [*headers, *fields]


def _too_many(
    policy: str, quota: int, window: int, count: Count, detail: str, *, code: str = "rate_limited"
) -> TooManyRequests:
    reset = max(1, math.ceil(count.reset_after))
    return TooManyRequests(
        detail,
        code=code,
        headers={
            "Retry-After": str(reset),
            "RateLimit-Policy": f'"{policy}";q={quota};w={window}',
            "RateLimit": f'"{policy}";r=0;t={reset}',
        },
    )


__all__ = [
    "DAY",
    "STATE_KEY",
    "VN_DAY_OFFSET",
    "RateLimiter",
    "add_rate_limit_fields",
    "with_rate_limit_fields",
]
