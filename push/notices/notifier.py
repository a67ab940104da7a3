"""The notifier: claim due notices, apply the rules, send by ZNS (then SMS), settle each.

For each claimed notice, in this order:

1. no contact recorded for the dossier, or no consent → ``skipped`` (``no consent``);
2. the phone opted out → ``skipped`` (``opted out``);
3. inside quiet hours → back to pending until they end (not an attempt);
4. the event's template is rendered with the dossier's variables;
5. ZNS is tried first (unless an earlier attempt already fell back to SMS); when ZNS cannot
   deliver it (no Zalo account, template refused, out of quota) the SMS goes out at once;
6. the result is settled straight away: ``delivered`` with its channel, retried later with
   backoff, or ``dead``.

The tracking id (one per event) goes with every attempt: it is ZNS's ``tracking_id`` and the SMS
``RequestId``, on which the SMS provider refuses a second send. Logs name the notice id, the event
and the provider's code — never the phone, the name or the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from push import metrics
from push.backoff import Backoff
from push.notices.channels import NoticeChannel, SendResult, Verdict
from push.notices.outbox import ClaimedNotice, NoticeOutcome, SqlNotices
from push.notices.quiet_hours import QuietHours
from push.notices.templates import Template
from schemas.status import DossierStatus
from schemas.times import VN_TZ, utc_now
from store.errors import DatabaseFailure
from store.push_writes import ItemState, NoticeEvent

log = logging.getLogger("lienthong.push")


@dataclass(frozen=True, slots=True)
class NotifierSettings:
    """How many notices a claim takes and how long, how many are sent at once."""

    batch: int = 200
    lease: dt.timedelta = dt.timedelta(seconds=60)
    concurrency: int = 32
    idle_poll: float = 0.5
    error_pause: float = 2.0
    quiet_hours: QuietHours = field(default_factory=lambda: QuietHours.parse("21:00-07:00"))
    backoff: Backoff = field(default_factory=lambda: Backoff(base=30.0, cap=3600.0, attempts=8))


class Notifier:
    """Sends the due notices; ``run`` until stopped, ``drain`` until nothing is due."""

    def __init__(
        self,
        notices: SqlNotices,
        templates: Mapping[NoticeEvent, Template],
        *,
        zns: NoticeChannel | None,
        sms: NoticeChannel | None,
        settings: NotifierSettings | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        if zns is None and sms is None:
            raise ValueError("a notifier needs at least one channel")
        self._notices = notices
        self._templates = templates
        self._zns = zns
        self._sms = sms
        self._settings = settings or NotifierSettings()
        self._clock = clock
        self._rng = rng or random.Random()
        self._gate = asyncio.Semaphore(self._settings.concurrency)

    async def run_once(self) -> int:
        """Claim one batch and handle every notice in it; how many were claimed."""
        claimed = await self._notices.claim(limit=self._settings.batch, lease=self._settings.lease)
        await asyncio.gather(*(self._handle(notice) for notice in claimed))
        return len(claimed)

    async def drain(self, *, max_cycles: int = 10_000) -> int:
        """Run cycles until nothing is due now; how many notices were handled."""
        total = 0
        for _ in range(max_cycles):
            handled = await self.run_once()
            if not handled:
                break
            total += handled
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and send until ``stop`` is set."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except DatabaseFailure as exc:
                log.warning("notifier: database error (%s); pausing", exc.kind)
                await _sleep_unless(stop, self._settings.error_pause)
                continue
            if not handled:
                await _sleep_unless(stop, self._settings.idle_poll * random.uniform(0.75, 1.25))

    async def _handle(self, notice: ClaimedNotice) -> None:
        async with self._gate:
            outcome = await self._decide(notice)
        await self._notices.settle(notice, outcome)
        log.info(
            "notice %d (%s): %s%s",
            notice.id,
            notice.event.value,
            outcome.state.value,
            f" by {outcome.channel}" if outcome.channel else "",
        )

    async def _decide(self, notice: ClaimedNotice) -> NoticeOutcome:
        if notice.dossier is None:
            metrics.count("notice", "dead")
            return NoticeOutcome(ItemState.DEAD, error="the dossier is not stored")
        if notice.phone is None or not notice.consent:
            metrics.count("notice", "skipped")
            return NoticeOutcome(ItemState.SKIPPED, error="no consent", attempted=False)
        if notice.opted_out:
            metrics.count("notice", "skipped")
            return NoticeOutcome(ItemState.SKIPPED, error="opted out", attempted=False)
        resume = self._settings.quiet_hours.resume_at(self._clock())
        if resume is not None:
            metrics.count("notice", "deferred")
            return NoticeOutcome(ItemState.PENDING, available_at=resume, attempted=False)
        rendered = self._templates[notice.event].render(_variables(notice))
        channel = self._zns if notice.channel != "sms" and self._zns is not None else self._sms
        assert channel is not None
        result = await channel.send(notice.phone, rendered, notice.tracking_id)
        if result.verdict is Verdict.FALLBACK and self._sms is not None and channel is self._zns:
            metrics.count(channel.name, "fallback")
            log.info("notice %d: ZNS refused it (%s); sending by SMS", notice.id, result.error)
            channel = self._sms
            result = await channel.send(notice.phone, rendered, notice.tracking_id)
        return self._outcome(notice, channel.name, result)

    def _outcome(self, notice: ClaimedNotice, channel: str, result: SendResult) -> NoticeOutcome:
        if result.verdict is Verdict.SENT:
            metrics.count(channel, "delivered")
            return NoticeOutcome(
                ItemState.DELIVERED, channel, result.provider_id, error=result.error
            )
        if result.verdict is Verdict.RETRY:
            retry_at = self._settings.backoff.next_attempt(
                notice.attempts, self._clock(), self._rng
            )
            if retry_at is not None:
                metrics.count(channel, "retry")
                return NoticeOutcome(
                    ItemState.PENDING, channel, error=result.error, available_at=retry_at
                )
        metrics.count(channel, "dead")
        return NoticeOutcome(ItemState.DEAD, channel, error=result.error)


def _date(value: Any) -> str:
    if not value:
        return "chưa xác định"
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)[:30]
    if when.tzinfo is not None:
        when = when.astimezone(VN_TZ)
    return when.strftime("%d/%m/%Y")


def _variables(notice: ClaimedNotice) -> dict[str, str]:
    """The template variables of ``notice``: its dossier's fields and the event's extras."""
    dossier = notice.dossier or {}
    try:
        status = DossierStatus(int(dossier.get("status", 0))).vietnamese
    except ValueError:
        status = ""
    return {
        "dossier_code": notice.dossier_code,
        "title": str(dossier.get("title", ""))[:100],
        "agency_code": str(dossier.get("agency_code", "")),
        "status": status,
        "due_date": _date(dossier.get("due_at")),
        "applicant_name": str(dossier.get("applicant_name", ""))[:30],
        "new_due_date": _date(notice.extra.get("new_due_at")),
        "reason": str(notice.extra.get("reason", ""))[:100],
    }


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = ["Notifier", "NotifierSettings"]
