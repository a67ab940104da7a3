"""``GET /v1/changes``: the feed of national changes to watched records, since an opaque cursor.

Each event says which record changed (``kind``, ``id``), how (``changed``, ``status_changed``,
``not_found``, ``reappeared``), when it was observed, and a field-level diff. Business changes are
public register data: every client allowed the feed sees them. A citizen's changes are personal
data: only a client watching that citizen (with a purpose, see ``/v1/watch``) sees them, the diff
is cut down to the citizen fields the client may see (a change only in fields it may not see is
not handed out), and every citizen event handed out is written to the access log first (for the
watch's purpose); asking for a citizen the client does not watch is 403 ``purpose_not_granted``
and leaves no access-log entry.

Poll with the returned ``next_cursor``; it stays put while nothing new is visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import CITIZEN_FIELDS, ApiClient, Operation
from adapter_api.errors import Forbidden, InvalidInput
from adapter_api.routes.context import call_context, container_of, json_response, request_id_of
from schemas.citizen_id import validate_citizen_id
from schemas.errors import SchemaError
from schemas.patterns import OFFICIAL_PATTERN
from schemas.tax_code import validate_tax_code
from schemas.times import utc_now
from store.access_log import AccessLogEntry
from store.cursors import CHANGE_CURSOR
from store.watches.change_reads import ChangeReads
from store.watches.types import ChangeEvent, ChangeType, WatchKind
from watches.diff import changed_fields, minimise_diff

router = APIRouter(prefix="/v1/changes", tags=["records"])

_read = require(Operation.CHANGES_READ)

#: the operation named in the access log for a citizen change handed out by the feed
FEED_OPERATION = "ChangeFeed"
MAX_LIMIT = 500


class DiffEntryView(BaseModel):
    """One changed leaf: its top-level ``field``, its ``path``, ``added|removed|changed``."""

    model_config = ConfigDict(frozen=True)

    field: str
    path: str
    op: str
    old: Any = None
    new: Any = None


class ChangeView(BaseModel):
    """One change of a watched record; ``cursor`` is the feed position just after it."""

    model_config = ConfigDict(frozen=True)

    cursor: str
    kind: WatchKind
    id: str
    type: str
    version: int
    observed_at: datetime
    diff: list[DiffEntryView]


class ChangesPage(BaseModel):
    """A page of the change feed and the cursor to continue from."""

    model_config = ConfigDict(frozen=True)

    changes: list[ChangeView]
    next_cursor: str
    has_more: bool


def _kind_of(record_id: str, kind: WatchKind | None) -> WatchKind:
    """The kind an ``id`` filter names (a CCCD or a tax code); 422 when it is neither."""
    candidates = [kind] if kind is not None else list(WatchKind)
    for candidate in candidates:
        try:
            if candidate is WatchKind.CITIZEN:
                validate_citizen_id(record_id)
            else:
                validate_tax_code(record_id)
        except SchemaError:
            continue
        return candidate
    message = "id must be a citizen ID or a tax code" if kind is None else f"id is not a {kind}"
    raise InvalidInput(message, errors=[{"field": "query.id", "message": message}])


def _view(event: ChangeEvent, client: ApiClient) -> ChangeView:
    diff = event.diff
    if event.kind is WatchKind.CITIZEN:
        diff = minimise_diff(diff, client.citizen_fields)
    return ChangeView(
        cursor=CHANGE_CURSOR.encode(event.position),
        kind=event.kind,
        id=event.record_id,
        type=event.change_type.value,
        version=event.version,
        observed_at=event.observed_at,
        diff=[DiffEntryView(**entry) for entry in diff],
    )


@router.get(
    "",
    operation_id="list_changes",
    summary="National changes to watched records since a cursor",
    response_model=ChangesPage,
)
async def list_changes(
    request: Request,
    client: Annotated[ApiClient, Depends(_read)],
    since: Annotated[
        str | None, Query(max_length=64, description="a cursor from an earlier page")
    ] = None,
    kind: Annotated[WatchKind | None, Query(description="only this kind of record")] = None,
    record_id: Annotated[
        str | None,
        Query(alias="id", min_length=10, max_length=14, description="only this CCCD or tax code"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    user_id: Annotated[
        str | None,
        Header(alias="X-User-Id", pattern=OFFICIAL_PATTERN, description="VN + the official's CCCD"),
    ] = None,
) -> Response:
    """Events after ``since`` that the caller may see, oldest first, at most ``limit``."""
    after = CHANGE_CURSOR.decode(since) if since else 0
    events = await _events(
        container_of(request).change_reads,
        client,
        after=after,
        kind=kind,
        record_id=record_id,
        limit=limit + 1,
    )
    has_more = len(events) > limit
    events = events[:limit]
    handed_out = [
        (event, view)
        for event in events
        for view in (_view(event, client),)
        if not _invisible(event, view)
    ]
    citizen_views = [(event, view) for event, view in handed_out if event.kind is WatchKind.CITIZEN]
    if citizen_views:
        await _log_citizen_changes(request, client, user_id, citizen_views)
    next_cursor = (
        CHANGE_CURSOR.encode(events[-1].position) if events else (since or CHANGE_CURSOR.encode(0))
    )
    page = ChangesPage(
        changes=[view for _, view in handed_out], next_cursor=next_cursor, has_more=has_more
    )
    return json_response(page)


async def _events(
    reads: ChangeReads,
    client: ApiClient,
    *,
    after: int,
    kind: WatchKind | None,
    record_id: str | None,
    limit: int,
) -> list[ChangeEvent]:
    """The events after ``after`` the filters name; a citizen's only for a client watching
    them (else 403 ``purpose_not_granted``, read in the same session as the events)."""
    kinds = [kind] if kind is not None else list(WatchKind)
    if record_id is not None:
        kinds = [_kind_of(record_id, kind)]
        if kinds[0] is WatchKind.CITIZEN:
            watched = await reads.watched_citizen_changes(
                record_id, client=client.client_id, after=after, limit=limit
            )
            if watched is None:
                raise Forbidden(
                    "the client does not watch this citizen for a purpose",
                    code="purpose_not_granted",
                )
            return watched
    return await reads.changes(
        client=client.client_id, after=after, kinds=kinds, record_id=record_id, limit=limit
    )


def _invisible(event: ChangeEvent, view: ChangeView) -> bool:
    """A citizen's change only in fields the caller may not see is not handed out at all."""
    return (
        event.kind is WatchKind.CITIZEN
        and event.change_type in (ChangeType.CHANGED, ChangeType.REAPPEARED)
        and not view.diff
    )


async def _log_citizen_changes(
    request: Request,
    client: ApiClient,
    user_id: str | None,
    handed_out: list[tuple[ChangeEvent, ChangeView]],
) -> None:
    """One access-log entry per citizen event, in one transaction, before the page is sent."""
    container = container_of(request)
    request_id = request_id_of(request)
    now = utc_now()
    message_id = call_context(client, user_id=user_id).message_id
    entries = []
    for event, view in handed_out:
        seen = {"citizen_id"} | changed_fields([entry.model_dump() for entry in view.diff])
        entries.append(
            AccessLogEntry(
                citizen_id=event.record_id,
                client_id=client.client_id,
                organisation=client.organisation,
                official=user_id,
                dossier_code=event.purpose,
                operation=FEED_OPERATION,
                fields=tuple(name for name in CITIZEN_FIELDS if name in seen),
                request_id=request_id,
                message_id=message_id,
                occurred_at=now,
            )
        )
    await container.access_log_book.record_together(entries)


__all__ = ["FEED_OPERATION", "ChangeView", "ChangesPage", "DiffEntryView", "router"]
