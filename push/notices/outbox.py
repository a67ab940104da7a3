"""Notices as the notifier and operators see them: claim, settle, contacts, opt-outs, inspect.

Notices are written by the dossier write path (``store.push_writes``), one per event, unique by
tracking id. ``claim`` leases due pending notices (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
loads, with each, its dossier, the applicant's phone and consent and whether that phone opted out —
read at send time, so consent withdrawn or an opt-out made after the event still stops it.
``settle`` records one notice's fate at once (the notifier settles each as soon as its answer is
in, to keep the window in which a crash could send it again as short as one answer), guarded by
the claim's token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from push.errors import NoticeNotFound
from schemas.times import utc_now
from store.outbox import any_of
from store.push_writes import ItemState, NoticeEvent
from store.tables.dossiers import dossiers
from store.tables.push import push_contacts, push_notices, push_opt_outs
from store.types import UtcDateTime


@dataclass(frozen=True, slots=True)
class ClaimedNotice:
    """A leased notice with what sending it needs (phone and consent as recorded now)."""

    id: int
    tracking_id: str
    dossier_code: str
    event: NoticeEvent
    extra: dict[str, Any]
    channel: str | None
    attempts: int
    token: str
    dossier: dict[str, Any] | None
    phone: str | None
    consent: bool
    opted_out: bool


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """What became of a claimed notice.

    ``state`` pending with ``available_at`` means wait (quiet hours: ``attempted`` False; a
    failure to retry: ``attempted`` True).
    """

    state: ItemState
    channel: str | None = None
    provider_id: str | None = None
    error: str | None = None
    available_at: dt.datetime | None = None
    attempted: bool = True


@dataclass(frozen=True, slots=True)
class NoticeView:
    """A notice as the dossier view and the CLI show it (no phone, no text)."""

    id: int
    event: str
    state: str
    channel: str | None
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "id": self.id,
            "event": self.event,
            "state": self.state,
            "channel": self.channel,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "last_error": self.last_error,
        }


def _view(row: Any) -> NoticeView:
    return NoticeView(
        int(row.id),
        row.event,
        row.state,
        row.channel,
        int(row.attempts),
        row.created_at,
        row.sent_at,
        row.last_error,
    )


class SqlNotices:
    """The notices, contacts and opt-outs on one engine."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        picked = (
            select(push_notices.c.id)
            .where(
                push_notices.c.state == ItemState.PENDING.value,
                push_notices.c.available_at <= bindparam("now", type_=UtcDateTime()),
            )
            .order_by(push_notices.c.available_at, push_notices.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        self._lease = (
            update(push_notices)
            .where(push_notices.c.id == picked.c.id)
            .values(
                available_at=bindparam("lease_until", type_=UtcDateTime()),
                claim_token=bindparam("token"),
            )
            .returning(push_notices.c.id)
        )
        self._load = (
            select(
                push_notices,
                dossiers.c.payload.label("dossier"),
                push_contacts.c.phone,
                push_contacts.c.consent,
                push_opt_outs.c.phone.label("opted_out"),
            )
            .select_from(
                push_notices.outerjoin(dossiers, dossiers.c.code == push_notices.c.dossier_code)
                .outerjoin(
                    push_contacts, push_contacts.c.dossier_code == push_notices.c.dossier_code
                )
                .outerjoin(push_opt_outs, push_opt_outs.c.phone == push_contacts.c.phone)
            )
            .where(any_of(push_notices.c.id, "ids", postgres=self._postgres))
            .order_by(push_notices.c.id)
        )

    async def claim(
        self, *, limit: int = 100, lease: dt.timedelta = dt.timedelta(seconds=60)
    ) -> list[ClaimedNotice]:
        """Lease up to ``limit`` due notices and load what sending them needs."""
        now = self._clock()
        token = str(uuid.uuid4())
        async with self._engine.begin() as connection:
            leased = await connection.execute(
                self._lease,
                {"now": now, "limit": limit, "lease_until": now + lease, "token": token},
            )
            ids = sorted(int(row.id) for row in leased)
            if not ids:
                return []
            rows = await connection.execute(self._load, {"ids": ids})
            return [
                ClaimedNotice(
                    id=int(row.id),
                    tracking_id=row.tracking_id,
                    dossier_code=row.dossier_code,
                    event=NoticeEvent(row.event),
                    extra=dict(row.extra or {}),
                    channel=row.channel,
                    attempts=int(row.attempts),
                    token=token,
                    dossier=dict(row.dossier) if row.dossier is not None else None,
                    phone=row.phone,
                    consent=bool(row.consent),
                    opted_out=row.opted_out is not None,
                )
                for row in rows
            ]

    async def settle(self, notice: ClaimedNotice, outcome: NoticeOutcome) -> None:
        """Record ``outcome`` for ``notice`` (nothing when its claim was taken over)."""
        now = self._clock()
        values: dict[str, Any] = {
            "state": outcome.state.value,
            "claim_token": None,
            "available_at": outcome.available_at,
            "last_error": (outcome.error or None) and outcome.error[:1000],
        }
        if outcome.channel is not None:
            values["channel"] = outcome.channel
        if outcome.attempted:
            values["attempts"] = push_notices.c.attempts + 1
        if outcome.state is ItemState.DELIVERED:
            values["sent_at"] = now
            values["provider_id"] = outcome.provider_id
        async with self._engine.begin() as connection:
            await connection.execute(
                update(push_notices)
                .where(push_notices.c.id == notice.id, push_notices.c.claim_token == notice.token)
                .values(**values)
            )

    async def set_contact(self, dossier_code: str, phone: str, *, consent: bool) -> None:
        """Record the applicant's (normalised) phone and consent for ``dossier_code``."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        row = {"dossier_code": dossier_code, "phone": phone, "consent": consent}
        now = self._clock()
        statement = insert(push_contacts).values(**row, recorded_at=now)
        async with self._engine.begin() as connection:
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["dossier_code"],
                    set_={"phone": phone, "consent": consent, "recorded_at": now},
                )
            )

    async def opt_out(self, phone: str) -> None:
        """Send nothing more to ``phone`` (normalised), whatever the dossier."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        statement = insert(push_opt_outs).values(phone=phone, opted_out_at=self._clock())
        async with self._engine.begin() as connection:
            await connection.execute(statement.on_conflict_do_nothing(index_elements=["phone"]))

    async def for_dossier(self, dossier_code: str) -> list[NoticeView]:
        """The dossier's notices, oldest first."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(push_notices)
                .where(push_notices.c.dossier_code == dossier_code)
                .order_by(push_notices.c.id)
            )
            return [_view(row) for row in rows]

    async def stats(self) -> dict[str, dict[str, int]]:
        """Notices by state, then by channel (``-`` for none yet)."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(
                    push_notices.c.state, push_notices.c.channel, func.count().label("n")
                ).group_by(push_notices.c.state, push_notices.c.channel)
            )
            result: dict[str, dict[str, int]] = {}
            for row in rows:
                result.setdefault(row.state, {})[row.channel or "-"] = int(row.n)
            return result

    async def dead_letters(self, *, limit: int = 100) -> list[NoticeView]:
        """The dead notices, oldest first."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(push_notices)
                .where(push_notices.c.state == ItemState.DEAD.value)
                .order_by(push_notices.c.id)
                .limit(limit)
            )
            return [_view(row) for row in rows]

    async def retry(self, notice_id: int | None = None) -> int:
        """Make dead notice ``notice_id`` (all of them when None) due now; how many."""
        condition = [push_notices.c.state == ItemState.DEAD.value]
        if notice_id is not None:
            condition.append(push_notices.c.id == notice_id)
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(push_notices)
                .where(*condition)
                .values(
                    state=ItemState.PENDING.value,
                    attempts=0,
                    available_at=self._clock(),
                    claim_token=None,
                )
                .returning(push_notices.c.id)
            )
            count = len(result.all())
        if notice_id is not None and not count:
            raise NoticeNotFound(notice_id, ItemState.DEAD.value)
        return count


__all__ = ["ClaimedNotice", "NoticeOutcome", "NoticeView", "SqlNotices"]
