"""Writing a citizen lookup to the access log (``store.access_log``), in its own transaction."""

from __future__ import annotations

from collections.abc import Iterable

from adapter_api.clients import CITIZEN_FIELDS, ApiClient
from adapter_api.container import Container
from connectors.base import CallContext
from schemas.times import utc_now
from store.access_log import AccessLogEntry, record_lookup


async def record_citizen_access(
    container: Container,
    citizen_id: str,
    client: ApiClient,
    ctx: CallContext,
    operation: str,
    fields: Iterable[str],
    request_id: str,
) -> None:
    """Record that ``client`` looked ``citizen_id`` up for ``ctx.issue``, getting ``fields``."""
    wanted = set(fields)
    entry = AccessLogEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        organisation=client.organisation,
        official=ctx.user_id,
        dossier_code=ctx.issue,
        operation=operation,
        fields=tuple(name for name in CITIZEN_FIELDS if name in wanted),
        request_id=request_id,
        message_id=ctx.message_id,
        occurred_at=utc_now(),
    )
    async with container.sessions.begin() as session:
        await record_lookup(session, entry, key=container.access_log_key)


__all__ = ["record_citizen_access"]
