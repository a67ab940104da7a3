"""The webhook outbox as workers and operators see it: claim, settle, inspect, retry, replay.

Deliveries are written by the dossier write path (``store.push_writes``). ``claim`` leases up to
N (subscription, dossier) heads of active subscriptions (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` serialises claimers) and loads each pair's oldest pending deliveries
in id order, with the subscription's client and URL. ``settle`` locks the settled dossiers' rows
(the lock every dossier writer takes, in the same order) and then records what was delivered,
the first failure of each pair (retried at ``retry_at`` or dead), and moves each head on to the
pair's next pending delivery or drops it. A head whose lease was taken over (its token changed)
is left alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from push.errors import DeliveryNotFound
from schemas.times import utc_now
from store.outbox import any_of
from store.push_writes import ItemState, SubscriptionState
from store.tables.dossiers import dossiers
from store.tables.push import push_deliveries, push_heads, push_subscriptions
from store.types import UtcDateTime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook delivery as claimed: its id is the delivery id and the subscriber's cursor."""

    id: int
    subscription_id: str
    dossier_code: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class WebhookClaim:
    """A leased (subscription, dossier) head and its oldest pending deliveries, in order."""

    subscription_id: str
    dossier_code: str
    client_id: str
    url: str
    token: str
    lease_until: dt.datetime
    items: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """A delivered prefix of a claim's items, then at most one failure (retried or dead)."""

    claim: WebhookClaim
    delivered: tuple[int, ...] = ()
    failed: int | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookStats:
    """Deliveries by state, and heads in flight or backing off."""

    pending: int
    delivered: int
    dead: int
    leased: int
    waiting: int


@dataclass(frozen=True, slots=True)
class WebhookDeadLetter:
    """A delivery given up on, and why."""

    id: int
    subscription_id: str
    dossier_code: str
    event_type: str
    attempts: int
    last_error: str | None
    last_attempt_at: dt.datetime | None


_ACTIVE = select(push_subscriptions.c.id).where(
    push_subscriptions.c.state == SubscriptionState.ACTIVE.value
)


class _Statements:
    """The worker's statements for one dialect, built once."""

    def __init__(self, postgres: bool) -> None:
        picked = (
            select(push_heads.c.subscription_id, push_heads.c.dossier_code)
            .where(
                push_heads.c.available_at <= bindparam("now", type_=UtcDateTime()),
                push_heads.c.subscription_id.in_(_ACTIVE.scalar_subquery()),
            )
            .order_by(push_heads.c.available_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        self.lease = (
            update(push_heads)
            .where(
                push_heads.c.subscription_id == picked.c.subscription_id,
                push_heads.c.dossier_code == picked.c.dossier_code,
            )
            .values(
                available_at=bindparam("lease_until", type_=UtcDateTime()),
                claim_token=bindparam("token"),
            )
            .returning(push_heads.c.subscription_id, push_heads.c.dossier_code)
        )
        rank = (
            func.row_number()
            .over(
                partition_by=(push_deliveries.c.subscription_id, push_deliveries.c.dossier_code),
                order_by=push_deliveries.c.id,
            )
            .label("rank")
        )
        ranked = (
            select(
                push_deliveries.c.id,
                push_deliveries.c.subscription_id,
                push_deliveries.c.dossier_code,
                push_deliveries.c.event_type,
                push_deliveries.c.payload,
                push_deliveries.c.attempts,
                push_deliveries.c.created_at,
                rank,
            )
            .where(
                any_of(push_deliveries.c.dossier_code, "codes", postgres=postgres),
                any_of(push_deliveries.c.subscription_id, "subs", postgres=postgres),
                push_deliveries.c.state == ItemState.PENDING.value,
            )
            .subquery()
        )
        self.items = (
            select(ranked).where(ranked.c.rank <= bindparam("per_pair")).order_by(ranked.c.id)
        )
        self.targets = select(
            push_subscriptions.c.id, push_subscriptions.c.client_id, push_subscriptions.c.url
        ).where(any_of(push_subscriptions.c.id, "subs", postgres=postgres))
        self.lock = (
            select(dossiers.c.code)
            .where(any_of(dossiers.c.code, "codes", postgres=postgres))
            .order_by(dossiers.c.code)
            .with_for_update()
        )
        self.delivered = (
            update(push_deliveries)
            .where(
                any_of(push_deliveries.c.id, "ids", postgres=postgres),
                push_deliveries.c.state == ItemState.PENDING.value,
            )
            .values(
                state=ItemState.DELIVERED.value,
                delivered_at=bindparam("now", type_=UtcDateTime()),
                last_attempt_at=bindparam("now", type_=UtcDateTime()),
            )
        )
        self.next_heads = (
            select(
                push_deliveries.c.subscription_id,
                push_deliveries.c.dossier_code,
                func.min(push_deliveries.c.id).label("next_id"),
            )
            .where(
                any_of(push_deliveries.c.dossier_code, "codes", postgres=postgres),
                any_of(push_deliveries.c.subscription_id, "subs", postgres=postgres),
                push_deliveries.c.state == ItemState.PENDING.value,
            )
            .group_by(push_deliveries.c.subscription_id, push_deliveries.c.dossier_code)
        )
        same_claim = (
            push_heads.c.subscription_id == bindparam("b_sub"),
            push_heads.c.dossier_code == bindparam("b_code"),
            push_heads.c.claim_token == bindparam("b_token"),
        )
        self.move_heads = (
            update(push_heads)
            .where(*same_claim)
            .values(
                head_id=bindparam("b_head"),
                available_at=bindparam("b_at", type_=UtcDateTime()),
                claim_token=None,
            )
        )
        self.drop_heads = delete(push_heads).where(*same_claim)


_STATEMENTS = {postgres: _Statements(postgres) for postgres in (True, False)}


class SqlWebhookOutbox:
    """The webhook outbox on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._sql = _STATEMENTS[self._postgres]

    async def claim(
        self,
        *,
        pairs: int = 200,
        items_per_pair: int = 50,
        lease: dt.timedelta = dt.timedelta(seconds=60),
    ) -> list[WebhookClaim]:
        """Lease up to ``pairs`` available heads of active subscriptions; load their items."""
        now = self._clock()
        lease_until = now + lease
        token = str(uuid.uuid4())
        sql = self._sql
        async with self._engine.begin() as connection:
            leased = await connection.execute(
                sql.lease,
                {"now": now, "limit": pairs, "lease_until": lease_until, "token": token},
            )
            keys = sorted((row.subscription_id, row.dossier_code) for row in leased)
            if not keys:
                return []
            codes = sorted({code for _, code in keys})
            subs = sorted({sub for sub, _ in keys})
            targets = {
                row.id: (row.client_id, row.url)
                for row in await connection.execute(sql.targets, {"subs": subs})
            }
            items: dict[tuple[str, str], list[Delivery]] = {key: [] for key in keys}
            rows = await connection.execute(
                sql.items, {"codes": codes, "subs": subs, "per_pair": items_per_pair}
            )
            for row in rows:
                bucket = items.get((row.subscription_id, row.dossier_code))
                if bucket is not None:
                    bucket.append(
                        Delivery(
                            int(row.id),
                            row.subscription_id,
                            row.dossier_code,
                            row.event_type,
                            dict(row.payload),
                            int(row.attempts),
                            row.created_at,
                        )
                    )
        return [
            WebhookClaim(sub, code, *targets[sub], token, lease_until, tuple(items[sub, code]))
            for sub, code in keys
        ]

    async def settle(self, outcomes: Sequence[WebhookOutcome]) -> None:
        """Record deliveries and failures and move each claimed head on, in one transaction."""
        if not outcomes:
            return
        now = self._clock()
        sql = self._sql
        codes = sorted({o.claim.dossier_code for o in outcomes})
        async with self._engine.begin() as connection:
            await connection.execute(sql.lock, {"codes": codes})
            delivered = [item for o in outcomes for item in o.delivered]
            if delivered:
                await connection.execute(sql.delivered, {"ids": delivered, "now": now})
            for outcome in outcomes:
                if outcome.failed is not None:
                    await _record_failure(connection, outcome, now)
            await self._advance(connection, [o for o in outcomes if o.failed is None], now)

    async def _advance(
        self, connection: AsyncConnection, outcomes: Sequence[WebhookOutcome], now: dt.datetime
    ) -> None:
        if not outcomes:
            return
        codes = sorted({o.claim.dossier_code for o in outcomes})
        subs = sorted({o.claim.subscription_id for o in outcomes})
        rows = await connection.execute(self._sql.next_heads, {"codes": codes, "subs": subs})
        following = {(row.subscription_id, row.dossier_code): int(row.next_id) for row in rows}
        moves, drops = [], []
        for o in outcomes:
            key = (o.claim.subscription_id, o.claim.dossier_code)
            params = {"b_sub": key[0], "b_code": key[1], "b_token": o.claim.token}
            if key in following:
                moves.append({**params, "b_head": following[key], "b_at": now})
            else:
                drops.append(params)
        if moves:
            await connection.execute(self._sql.move_heads, moves)
        if drops:
            await connection.execute(self._sql.drop_heads, drops)

    async def stats(self) -> WebhookStats:
        """Deliveries by state; heads leased now, and heads waiting for a retry."""
        now = self._clock()
        async with self._engine.connect() as connection:
            counts = {
                row.state: int(row.n)
                for row in await connection.execute(
                    select(push_deliveries.c.state, func.count().label("n")).group_by(
                        push_deliveries.c.state
                    )
                )
            }
            leased = await connection.scalar(
                select(func.count())
                .select_from(push_heads)
                .where(push_heads.c.available_at > now, push_heads.c.claim_token.is_not(None))
            )
            waiting = await connection.scalar(
                select(func.count())
                .select_from(push_heads)
                .where(push_heads.c.available_at > now, push_heads.c.claim_token.is_(None))
            )
        return WebhookStats(
            pending=counts.get(ItemState.PENDING.value, 0),
            delivered=counts.get(ItemState.DELIVERED.value, 0),
            dead=counts.get(ItemState.DEAD.value, 0),
            leased=int(leased or 0),
            waiting=int(waiting or 0),
        )

    async def counts_for_dossier(self, dossier_code: str) -> dict[str, int]:
        """The dossier's webhook deliveries (all subscriptions) by state."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(push_deliveries.c.state, func.count().label("n"))
                .where(push_deliveries.c.dossier_code == dossier_code)
                .group_by(push_deliveries.c.state)
            )
            return {row.state: int(row.n) for row in rows}

    async def dead_letters(self, *, limit: int = 100) -> list[WebhookDeadLetter]:
        """The dead webhook deliveries, oldest first."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(push_deliveries)
                .where(push_deliveries.c.state == ItemState.DEAD.value)
                .order_by(push_deliveries.c.id)
                .limit(limit)
            )
            return [
                WebhookDeadLetter(
                    int(row.id),
                    row.subscription_id,
                    row.dossier_code,
                    row.event_type,
                    int(row.attempts),
                    row.last_error,
                    row.last_attempt_at,
                )
                for row in rows
            ]

    async def retry(self, delivery_id: int) -> None:
        """Give dead delivery ``delivery_id`` a fresh budget; its pair is claimable now."""
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    update(push_deliveries)
                    .where(
                        push_deliveries.c.id == delivery_id,
                        push_deliveries.c.state == ItemState.DEAD.value,
                    )
                    .values(state=ItemState.PENDING.value, attempts=0)
                    .returning(push_deliveries.c.subscription_id, push_deliveries.c.dossier_code)
                )
            ).one_or_none()
            if row is None:
                raise DeliveryNotFound(delivery_id, ItemState.DEAD.value)
            await self._reset_heads(connection, [(row.subscription_id, row.dossier_code)])

    async def retry_all(self) -> int:
        """Retry every dead delivery; how many."""
        async with self._engine.begin() as connection:
            rows = (
                await connection.execute(
                    update(push_deliveries)
                    .where(push_deliveries.c.state == ItemState.DEAD.value)
                    .values(state=ItemState.PENDING.value, attempts=0)
                    .returning(push_deliveries.c.subscription_id, push_deliveries.c.dossier_code)
                )
            ).all()
            await self._reset_heads(
                connection, sorted({(r.subscription_id, r.dossier_code) for r in rows})
            )
        return len(rows)

    async def replay(self, subscription_id: str, cursor: int) -> int:
        """Send again every delivery of ``subscription_id`` with an id above ``cursor``; how many.

        They keep their delivery ids, so a receiver that deduplicates by id sees each once.
        """
        async with self._engine.begin() as connection:
            rows = (
                await connection.execute(
                    update(push_deliveries)
                    .where(
                        push_deliveries.c.subscription_id == subscription_id,
                        push_deliveries.c.id > cursor,
                        push_deliveries.c.state != ItemState.PENDING.value,
                    )
                    .values(state=ItemState.PENDING.value, attempts=0)
                    .returning(push_deliveries.c.dossier_code)
                )
            ).all()
            await self._reset_heads(
                connection, sorted({(subscription_id, r.dossier_code) for r in rows})
            )
        return len(rows)

    async def _reset_heads(self, connection: AsyncConnection, keys: list[tuple[str, str]]) -> None:
        """Point each pair's head at its oldest pending delivery, claimable now."""
        if not keys:
            return
        now = self._clock()
        rows = await connection.execute(
            select(
                push_deliveries.c.subscription_id,
                push_deliveries.c.dossier_code,
                func.min(push_deliveries.c.id).label("head"),
            )
            .where(
                tuple_(push_deliveries.c.subscription_id, push_deliveries.c.dossier_code).in_(keys),
                push_deliveries.c.state == ItemState.PENDING.value,
            )
            .group_by(push_deliveries.c.subscription_id, push_deliveries.c.dossier_code)
        )
        heads = [(r.subscription_id, r.dossier_code, int(r.head)) for r in rows]
        await connection.execute(
            delete(push_heads).where(
                tuple_(push_heads.c.subscription_id, push_heads.c.dossier_code).in_(keys)
            )
        )
        if heads:
            await connection.execute(
                push_heads.insert(),
                [
                    {"subscription_id": s, "dossier_code": c, "head_id": h, "available_at": now}
                    for s, c, h in heads
                ],
            )


async def _record_failure(
    connection: AsyncConnection, outcome: WebhookOutcome, now: dt.datetime
) -> None:
    dead = outcome.retry_at is None
    await connection.execute(
        update(push_deliveries)
        .where(
            push_deliveries.c.id == outcome.failed,
            push_deliveries.c.state == ItemState.PENDING.value,
        )
        .values(
            attempts=push_deliveries.c.attempts + 1,
            last_error=(outcome.error or "unknown error")[:1000],
            last_attempt_at=now,
            state=(ItemState.DEAD if dead else ItemState.PENDING).value,
        )
    )
    await connection.execute(
        update(push_heads)
        .where(
            push_heads.c.subscription_id == outcome.claim.subscription_id,
            push_heads.c.dossier_code == outcome.claim.dossier_code,
            push_heads.c.claim_token == outcome.claim.token,
        )
        .values(head_id=outcome.failed, available_at=outcome.retry_at, claim_token=None)
    )


__all__ = [
    "Delivery",
    "SqlWebhookOutbox",
    "WebhookClaim",
    "WebhookDeadLetter",
    "WebhookOutcome",
    "WebhookStats",
]
