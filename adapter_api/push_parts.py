"""What the push routes use: the subscriptions, the outboxes and the service (built by the
composition root, ``lienthong.push_wiring``), and the dossier view's push state."""

from __future__ import annotations

from dataclasses import dataclass

from adapter_api.models import NoticeStateView, PushStateView
from push.notices.outbox import SqlNotices
from push.service import PushService
from push.webhooks.outbox import SqlWebhookOutbox
from push.webhooks.subscriptions import SqlSubscriptions


@dataclass
class Push:
    """What the routes and the CLI use, and the service that delivers."""

    subscriptions: SqlSubscriptions
    webhooks: SqlWebhookOutbox
    notices: SqlNotices
    service: PushService


async def push_state(push: Push, dossier_code: str) -> PushStateView:
    """The dossier's webhook deliveries by state and its notices, for the dossier view."""
    notices = await push.notices.for_dossier(dossier_code)
    return PushStateView(
        webhooks=await push.webhooks.counts_for_dossier(dossier_code),
        notices=[
            NoticeStateView(
                event=n.event,
                state=n.state,
                channel=n.channel,
                attempts=n.attempts,
                sent_at=n.sent_at,
                last_error=n.last_error,
            )
            for n in notices
        ],
    )


__all__ = ["Push", "push_state"]
