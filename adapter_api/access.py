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
    return AccessLogEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        organisation=client.organisation,
        official=ctx.user_id,
        dossier_code=ctx.issue,
        operation=operation,
        fields=logged_fields(fields),
        request_id=request_id,
        message_id=ctx.message_id,
        occurred_at=utc_now(),
    )


#: the logged form of the field sets seen (a client's set, none), by the set: a handful
_LOGGED_FIELDS: dict[frozenset[str] | tuple[str, ...], tuple[str, ...]] = {}
_LOGGED_FIELDS_KEPT = 64


def logged_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """The names of ``fields`` as the access log keeps them: the known citizen fields among
    them, in ``CITIZEN_FIELDS`` order. A frozenset or tuple (a client's set, ``()``) is
    looked up in a small memo (its form does not change); anything else is read each time."""
    if type(fields) is not frozenset and type(fields) is not tuple:
        return _in_order(fields)
    found = _LOGGED_FIELDS.get(fields)
    if found is None:
        if len(_LOGGED_FIELDS) >= _LOGGED_FIELDS_KEPT:
            _LOGGED_FIELDS.clear()
        found = _LOGGED_FIELDS[fields] = _in_order(fields)
    return found


def _in_order(fields: Iterable[str]) -> tuple[str, ...]:
    wanted = set(fields)
    return tuple(name for name in CITIZEN_FIELDS if name in wanted)


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


__all__ = ["access_entry", "logged_fields", "refused_entry"]
