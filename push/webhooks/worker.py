"""The webhook worker: claim (subscription, dossier) heads, deliver in order, settle, repeat.

Heads are delivered concurrently (up to ``concurrency`` requests in flight), the deliveries of one
head one after the other: a failure stops that head, so a later change never overtakes an earlier
one. Nothing is marked delivered before the receiver answered 2xx; a worker killed before it
settles leaves its heads to the next claim when the lease ends, and the receiver gets those
deliveries again with the same delivery ids (at least once; a receiver deduplicates by id).

The URL is checked against the client's allow-list again at every send (the clients file may
have changed since the subscription was made): a URL no longer allowed is never called and the
delivery becomes a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import aiohttp

from push import metrics
from push.backoff import Backoff
from push.webhooks.outbox import Delivery, SqlWebhookOutbox, WebhookClaim, WebhookOutcome
from push.webhooks.sender import WebhookTransport, delivery_request
from push.webhooks.urls import allowed
from schemas.times import utc_now
from security.http_signatures import HttpSigner
from store.errors import DatabaseFailure

log = logging.getLogger("lienthong.push")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How much a claim takes, how long it is leased, how many requests fly at once."""

    pairs_per_claim: int = 500
    items_per_pair: int = 50
    lease: dt.timedelta = dt.timedelta(seconds=60)
    lease_margin: dt.timedelta = dt.timedelta(seconds=5)
    concurrency: int = 64
    lanes: int = 2
    idle_poll: float = 0.2
    error_pause: float = 2.0
    backoff: Backoff = field(default_factory=Backoff)


#: client id -> the URLs it may receive webhooks at
AllowList = Callable[[str], Collection[str]]


class WebhookWorker:
    """Delivers the webhook outbox; ``run`` until stopped, ``drain`` until idle."""

    def __init__(
        self,
        outbox: SqlWebhookOutbox,
        transport: WebhookTransport,
        signer: HttpSigner,
        allow_list: AllowList,
        *,
        settings: WebhookSettings | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._signer = signer
        self._allow_list = allow_list
        self._settings = settings or WebhookSettings()
        self._clock = clock
        self._rng = rng or random.Random()
        self._gate = asyncio.Semaphore(self._settings.concurrency)

    async def run_once(self) -> int:
        """Claim one batch, deliver it, settle it; how many deliveries were handled."""
        settings = self._settings
        claims = await self._outbox.claim(
            pairs=settings.pairs_per_claim,
            items_per_pair=settings.items_per_pair,
            lease=settings.lease,
        )
        if not claims:
            return 0
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(self._deliver(claim) for claim in claims))
        await self._outbox.settle(outcomes)
        metrics.CYCLE_SECONDS.labels(kind="webhook").observe(time.perf_counter() - started)
        return _count(outcomes)

    async def drain(self, *, max_cycles: int = 100_000) -> int:
        """Run cycles until nothing is claimable now; how many deliveries were handled."""
        total = 0
        for _ in range(max_cycles):
            handled = await self.run_once()
            if not handled:
                break
            total += handled
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Run ``lanes`` claim loops until ``stop`` is set."""
        await asyncio.gather(*(self._lane(stop) for _ in range(self._settings.lanes)))

    async def _lane(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except DatabaseFailure as exc:
                log.warning("webhook lane: database error (%s); pausing", exc.kind)
                await _sleep_unless(stop, self._settings.error_pause)
                continue
            if not handled:
                await _sleep_unless(stop, self._settings.idle_poll * random.uniform(0.75, 1.25))

    async def _deliver(self, claim: WebhookClaim) -> WebhookOutcome:
        delivered: list[int] = []
        deadline = claim.lease_until - self._settings.lease_margin
        for item in claim.items:
            if self._clock() >= deadline:
                break
            error = await self._send(claim, item)
            if error is None:
                delivered.append(item.id)
                continue
            retry_at, permanent = None, error.startswith("not allowed")
            if not permanent:
                retry_at = self._settings.backoff.next_attempt(
                    item.attempts, self._clock(), self._rng
                )
            metrics.count("webhook", "retry" if retry_at else "dead")
            log.info(
                "webhook delivery %d to subscription %s failed (%s)",
                item.id,
                claim.subscription_id,
                error,
            )
            return WebhookOutcome(claim, tuple(delivered), item.id, error, retry_at)
        metrics.count("webhook", "delivered", len(delivered))
        return WebhookOutcome(claim, tuple(delivered))

    async def _send(self, claim: WebhookClaim, item: Delivery) -> str | None:
        """Send one delivery; None when the receiver took it, else a short error."""
        if not allowed(claim.url, self._allow_list(claim.client_id)):
            return "not allowed: the URL left the client's allow-list"
        body, headers = delivery_request(item, claim.url, self._signer)
        try:
            async with self._gate:
                status = await self._transport.post(claim.url, body, headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"no answer ({type(exc).__name__})"
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            return f"HTTP {status} (redirects are not followed)"
        return f"HTTP {status}"


def _count(outcomes: Sequence[WebhookOutcome]) -> int:
    return sum(len(o.delivered) + (o.failed is not None) for o in outcomes)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = ["AllowList", "WebhookSettings", "WebhookWorker"]
