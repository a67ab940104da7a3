"""Webhooks on real HTTP: every change of a subscriber's sectors, once, in order, signed.

Dossiers are recorded into the store (SQLite and PostgreSQL); the webhook worker delivers to a
receiver served on 127.0.0.1 that records each request as it came; every recorded signature is
then checked with the independent ``http-message-signatures`` library.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from push.errors import WebhookUrlNotAllowed
from push.webhooks.outbox import SqlWebhookOutbox
from push.webhooks.sender import AiohttpWebhookTransport
from push.webhooks.subscriptions import SqlSubscriptions
from push.webhooks.worker import WebhookSettings, WebhookWorker
from security.http_signatures import HttpSigner
from security.keys import load_party
from store.push_writes import SubscriptionState
from store.tables.push import push_deliveries
from tests.support.push import (
    changes_by_dossier,
    expected_changes,
    record_lifecycles,
    verify_independently,
)
from tests.support.servers import serve_app
from tests.support.stores import FakeClock
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, WebhookReceiver]]:
    """One receiver for the module."""
    receiver = WebhookReceiver()
    with serve_app(receiver.app()) as url:
        yield url, receiver


@pytest.fixture
def receiver(served: tuple[str, WebhookReceiver]) -> WebhookReceiver:
    """The receiver, emptied and healthy."""
    _, state = served
    with state.lock:
        state.received.clear()
        state.outage, state.delay, state.refused = False, 0.0, 0
    return state


@pytest.fixture
def hook_url(served: tuple[str, WebhookReceiver]) -> str:
    """The receiver's URL for subscription A."""
    return f"{served[0]}/hooks/a"


@pytest.fixture
def clock() -> FakeClock:
    """A settable clock a minute ahead of the real one."""
    return FakeClock()


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpWebhookTransport]:
    """Keep-alive connections, closed after the test."""
    transport = AiohttpWebhookTransport(timeout=5.0)
    yield transport
    await transport.aclose()


def _worker(
    engine: AsyncEngine,
    transport: AiohttpWebhookTransport,
    keys: Path,
    clock: FakeClock,
    allowed: dict[str, frozenset[str]],
) -> WebhookWorker:
    return WebhookWorker(
        SqlWebhookOutbox(engine, clock=clock),
        transport,
        HttpSigner(load_party(keys, "adapter")),
        lambda client_id: allowed.get(client_id, frozenset()),
        settings=WebhookSettings(pairs_per_claim=7, items_per_pair=3),
        clock=clock,
    )


async def test_every_change_of_the_sectors_arrives_once_in_order_and_verifies(
    engine: AsyncEngine,
    receiver: WebhookReceiver,
    hook_url: str,
    transport: AiohttpWebhookTransport,
    dev_keys: Path,
    clock: FakeClock,
) -> None:
    """Each change of a TP dossier reaches the TP subscriber once, in per-dossier order, with a
    signature http-message-signatures accepts; dossiers of other sectors never do."""
    subscriptions = SqlSubscriptions(engine)
    sub = await subscriptions.create(
        "ministry", hook_url, allowed_urls={hook_url}, visible_sectors={"TP", "YT"}, sectors=["TP"]
    )
    await record_lifecycles(engine, range(1, 6), sector="TP")
    await record_lifecycles(engine, range(6, 8), sector="YT")
    worker = _worker(engine, transport, dev_keys, clock, {"ministry": frozenset({hook_url})})
    await worker.drain()
    received = receiver.snapshot()
    got, duplicates = changes_by_dossier(received)
    assert got == expected_changes(range(1, 6))
    assert duplicates == 0
    assert {item.delivery["subscription_id"] for item in received} == {sub.id}
    for item in received:
        verify_independently(dev_keys, item)
        assert item.headers["lienthong-delivery-id"] == item.delivery["delivery_id"]
    stats = await SqlWebhookOutbox(engine, clock=clock).stats()
    assert (stats.pending, stats.dead, stats.delivered) == (0, 0, len(received))


async def test_an_outage_delays_deliveries_and_loses_none(
    engine: AsyncEngine,
    receiver: WebhookReceiver,
    hook_url: str,
    transport: AiohttpWebhookTransport,
    dev_keys: Path,
    clock: FakeClock,
) -> None:
    """While the receiver answers 503 nothing is marked delivered; after it, all arrive in order."""
    await SqlSubscriptions(engine).create(
        "ministry", hook_url, allowed_urls={hook_url}, visible_sectors={"TP"}
    )
    await record_lifecycles(engine, range(1, 4))
    worker = _worker(engine, transport, dev_keys, clock, {"ministry": frozenset({hook_url})})
    receiver.outage = True
    await worker.drain()
    outbox = SqlWebhookOutbox(engine, clock=clock)
    stats = await outbox.stats()
    assert receiver.refused > 0
    assert receiver.snapshot() == []
    assert stats.delivered == 0
    assert stats.pending == 3 * 8
    assert stats.waiting == 3
    receiver.outage = False
    for _ in range(20):
        clock.advance(3600)
        await worker.drain()
        if (await outbox.stats()).pending == 0:
            break
    got, duplicates = changes_by_dossier(receiver.snapshot())
    assert got == expected_changes(range(1, 4))
    assert duplicates == 0


async def test_a_url_not_allowed_is_refused_and_never_called(
    engine: AsyncEngine,
    receiver: WebhookReceiver,
    hook_url: str,
    transport: AiohttpWebhookTransport,
    dev_keys: Path,
    clock: FakeClock,
) -> None:
    """A subscription names only an allow-listed URL, character for character; a URL that left
    the allow-list since is never called (its deliveries die)."""
    subscriptions = SqlSubscriptions(engine)
    near_misses = [
        hook_url + "/",
        hook_url.upper(),
        hook_url.replace("127.0.0.1", "localhost"),
        hook_url.replace("http://", "http://user@"),
        hook_url + "?x=1",
        "http://169.254.169.254/latest/meta-data/",
    ]
    for url in near_misses:
        with pytest.raises(WebhookUrlNotAllowed):
            await subscriptions.create(
                "ministry", url, allowed_urls={hook_url}, visible_sectors={"TP"}
            )
    await subscriptions.create(
        "ministry", hook_url, allowed_urls={hook_url}, visible_sectors={"TP"}
    )
    await record_lifecycles(engine, range(1, 2), steps=1)
    worker = _worker(engine, transport, dev_keys, clock, {"ministry": frozenset()})
    await worker.drain()
    assert receiver.snapshot() == []
    dead = await SqlWebhookOutbox(engine, clock=clock).dead_letters()
    assert [d.last_error for d in dead] == ["not allowed: the URL left the client's allow-list"]


async def test_pause_holds_deliveries_and_replay_sends_them_again(
    engine: AsyncEngine,
    receiver: WebhookReceiver,
    hook_url: str,
    transport: AiohttpWebhookTransport,
    dev_keys: Path,
    clock: FakeClock,
) -> None:
    """A paused subscription receives nothing (its changes queue); resumed, it gets them; a replay
    from a cursor sends the later deliveries again under their own ids."""
    subscriptions = SqlSubscriptions(engine)
    sub = await subscriptions.create(
        "ministry", hook_url, allowed_urls={hook_url}, visible_sectors={"TP"}
    )
    await subscriptions.set_state("ministry", sub.id, SubscriptionState.PAUSED)
    await record_lifecycles(engine, range(1, 3), steps=2)
    worker = _worker(engine, transport, dev_keys, clock, {"ministry": frozenset({hook_url})})
    await worker.drain()
    assert receiver.snapshot() == []
    await subscriptions.set_state("ministry", sub.id, SubscriptionState.ACTIVE)
    await worker.drain()
    first = [item.delivery["delivery_id"] for item in receiver.snapshot()]
    assert len(first) == 2 * 3
    async with engine.connect() as connection:
        ids = sorted((await connection.scalars(select(push_deliveries.c.id))).all())
    cursor = ids[2]
    requeued = await SqlWebhookOutbox(engine, clock=clock).replay(sub.id, cursor)
    assert requeued == len([i for i in ids if i > cursor])
    await worker.drain()
    again = [item.delivery["delivery_id"] for item in receiver.snapshot()][len(first) :]
    assert sorted(again, key=int) == [str(i) for i in ids if i > cursor]
