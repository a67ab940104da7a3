"""Push wired from the adapter's settings: subscriptions, outboxes, channels, workers.

Built once by :mod:`lienthong.bootstrap` (and by ``lienthong notify``): the templates are read
and checked here, so a bad template file stops the start. In sandbox mode the ZNS and SMS URLs
default to the mock endpoints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from adapter_api.clients import ClientRegistry
from adapter_api.push_parts import Push
from lienthong.settings import Settings
from push.backoff import Backoff
from push.notices.channels import SmsChannel, ZnsChannel
from push.notices.notifier import Notifier, NotifierSettings
from push.notices.outbox import SqlNotices
from push.notices.quiet_hours import QuietHours
from push.notices.templates import load_templates
from push.service import PushService
from push.webhooks.outbox import SqlWebhookOutbox
from push.webhooks.sender import AiohttpWebhookTransport
from push.webhooks.subscriptions import SqlSubscriptions
from push.webhooks.worker import WebhookSettings, WebhookWorker
from security.http_signatures import HttpSigner


def build_push(
    settings: Settings, engine: AsyncEngine, signer: HttpSigner, clients: ClientRegistry
) -> Push:
    """Push on ``engine``, signing webhooks with ``signer``; checks the templates."""
    templates = load_templates(settings.push_notice_templates)
    quiet = QuietHours.parse(settings.push_quiet_hours)
    transport = AiohttpWebhookTransport(
        timeout=settings.push_webhook_timeout, connections=settings.push_webhook_concurrency
    )
    webhooks = SqlWebhookOutbox(engine)

    def allow_list(client_id: str) -> frozenset[str]:
        client = clients.get(client_id)
        return client.webhook_urls if client is not None else frozenset()

    worker = WebhookWorker(
        webhooks,
        transport,
        signer,
        allow_list,
        settings=WebhookSettings(
            lanes=settings.push_webhook_lanes,
            concurrency=settings.push_webhook_concurrency,
            backoff=Backoff(attempts=settings.push_webhook_attempts),
            lease=dt.timedelta(seconds=settings.push_webhook_lease_seconds),
            lease_margin=dt.timedelta(seconds=min(5.0, settings.push_webhook_lease_seconds / 4)),
        ),
    )
    zns = ZnsChannel(
        settings.push_zns_url or f"{settings.mock_base_url}/zns/message/template",
        settings.push_zns_access_token,
    )
    sms = SmsChannel(
        settings.push_sms_url or f"{settings.mock_base_url}/sms/SendMultipleMessage_V4_post_json/",
        settings.push_sms_api_key,
        settings.push_sms_secret_key,
        settings.push_sms_brandname,
    )
    notices = SqlNotices(engine)
    defaults = NotifierSettings()
    notifier = Notifier(
        notices,
        templates,
        zns=zns,
        sms=sms,
        settings=dataclasses.replace(
            defaults,
            quiet_hours=quiet,
            backoff=dataclasses.replace(defaults.backoff, attempts=settings.push_notice_attempts),
            lease=dt.timedelta(seconds=60),
        ),
    )
    service = PushService(worker, notifier, closers=[transport.aclose, zns.aclose, sms.aclose])
    return Push(SqlSubscriptions(engine), webhooks, notices, service)


__all__ = ["build_push"]
