"""Webhook subscriptions: a client's standing request for the dossier changes of some sectors.

A subscription is created only for a URL that is, character for character, in the client's
allow-list (``push.webhooks.urls``), and only for sectors the client sees (a ministry: its own;
all of them when none are named). Pausing keeps the deliveries queued (the dossier write path
still enqueues them) and sends none until resumed; deleting stops them for good.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from push.errors import InvalidSectors, SubscriptionNotFound
from push.webhooks.urls import require_allowed
from schemas.times import utc_now
from store.push_writes import SubscriptionState
from store.tables.push import push_heads, push_subscriptions


@dataclass(frozen=True, slots=True)
class Subscription:
    """A client's subscription as the API shows it."""

    id: str
    client_id: str
    url: str
    sectors: tuple[str, ...]
    state: SubscriptionState
    created_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "id": self.id,
            "url": self.url,
            "sectors": list(self.sectors),
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
        }


def _subscription(row: Any) -> Subscription:
    return Subscription(
        row.id,
        row.client_id,
        row.url,
        tuple(row.sectors),
        SubscriptionState(row.state),
        row.created_at,
    )


class SqlSubscriptions:
    """Subscriptions on one engine; every call is scoped to the calling client."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def create(
        self,
        client_id: str,
        url: str,
        *,
        allowed_urls: Collection[str],
        visible_sectors: Collection[str] | None,
        sectors: Collection[str] | None = None,
    ) -> Subscription:
        """Subscribe ``client_id`` to ``sectors`` at ``url`` (refused unless allowed)."""
        require_allowed(url, allowed_urls, client_id)
        chosen = _sectors(sectors, visible_sectors)
        row = {
            "id": str(uuid.uuid4()),
            "client_id": client_id,
            "url": url,
            "sectors": sorted(chosen),
            "state": SubscriptionState.ACTIVE.value,
            "created_at": self._clock(),
        }
        async with self._engine.begin() as connection:
            await connection.execute(push_subscriptions.insert().values(**row))
        return _subscription(_Row(row))

    async def list(self, client_id: str) -> list[Subscription]:
        """The client's subscriptions that are not deleted, oldest first."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(push_subscriptions)
                .where(
                    push_subscriptions.c.client_id == client_id,
                    push_subscriptions.c.state != SubscriptionState.DELETED.value,
                )
                .order_by(push_subscriptions.c.created_at, push_subscriptions.c.id)
            )
            return [_subscription(row) for row in rows]

    async def get(self, client_id: str, subscription_id: str) -> Subscription:
        """One of the client's subscriptions; ``SubscriptionNotFound`` otherwise."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(push_subscriptions).where(
                        push_subscriptions.c.id == subscription_id,
                        push_subscriptions.c.client_id == client_id,
                        push_subscriptions.c.state != SubscriptionState.DELETED.value,
                    )
                )
            ).one_or_none()
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        return _subscription(row)

    async def set_state(
        self, client_id: str, subscription_id: str, state: SubscriptionState
    ) -> Subscription:
        """Pause, resume or delete one of the client's subscriptions."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(push_subscriptions)
                .where(
                    push_subscriptions.c.id == subscription_id,
                    push_subscriptions.c.client_id == client_id,
                    push_subscriptions.c.state != SubscriptionState.DELETED.value,
                )
                .values(state=state.value)
                .returning(*push_subscriptions.c)
            )
            row = result.one_or_none()
            if row is None:
                raise SubscriptionNotFound(subscription_id)
            if state is SubscriptionState.DELETED:
                await connection.execute(
                    delete(push_heads).where(push_heads.c.subscription_id == subscription_id)
                )
        return _subscription(row)


class _Row:
    """A dict seen as a row (attribute access), for a subscription just inserted."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _sectors(asked: Collection[str] | None, visible: Collection[str] | None) -> set[str]:
    if asked is None:
        if visible is None:
            raise InvalidSectors([])  # a client that sees every sector must name them
        chosen = set(visible)
    else:
        chosen = {str(sector) for sector in asked}
        if visible is not None and not chosen <= set(visible):
            raise InvalidSectors(sorted(chosen - set(visible)))
    if not chosen:
        raise InvalidSectors([])
    return chosen


__all__ = ["SqlSubscriptions", "Subscription"]
