"""The access-log entries of citizen lookups, as the API makes them from a caller and a call.

They are written by the store's access-log writer (``store.logs``), which commits the rows of
lookups that arrive together in one transaction, shared with the message log's records.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapter_api.clients import CITIZEN_FIELDS, ApiClient
from connectors.base import CallContext
from schemas.times import utc_now
from store.access_log import AccessLogEntry


def access_entry(
    citizen_id: str,
    client: ApiClient,
    ctx: CallContext,
    operation: str,
    fields: Iterable[str],
    request_id: str,
) -> AccessLogEntry:
    """The access-log entry of ``client`` querying ``citizen_id`` for ``ctx.issue``."""
    wanted = set(fields)
    return AccessLogEntry(
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


def refused_entry(
    citizen_id: str,
    client: ApiClient,
    *,
    official: str | None,
    dossier_code: str | None,
    operation: str,
    request_id: str,
) -> AccessLogEntry:
    """The access-log entry of a query refused before anything was asked (outcome ``refused``:
    no fields, no upstream message)."""
    return AccessLogEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        organisation=client.organisation,
        official=official,
        dossier_code=dossier_code,
        operation=operation,
        fields=(),
        request_id=request_id,
        message_id=None,
        occurred_at=utc_now(),
        outcome="refused",
    )


__all__ = ["access_entry", "refused_entry"]
