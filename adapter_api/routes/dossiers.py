"""``/v1/dossiers``: register and move dossiers (province), read them and their feed (ministries).

Every write and the portal delivery it causes are recorded in one transaction (the outbox); the
writes of concurrent requests share it (``container.dossier_writes``, a group commit), each
request answered with its own outcome. The sync worker delivers them. A client limited to sectors
(a ministry) sees only dossiers of those sectors: any other dossier answers 404, exactly as one
that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.errors import Forbidden, InvalidInput, NotFoundError
from adapter_api.handlers import field_error, problem_code
from adapter_api.models import (
    DossierBody,
    DossierInstant,
    DossierView,
    DossierWriteResult,
    EventAccepted,
    EventBody,
    EventView,
    FeedPage,
    HistoryView,
    SyncStateView,
    TimelinessView,
)
from adapter_api.openapi import responses
from adapter_api.push_parts import push_state
from adapter_api.routes.context import container_of, json_response
from adapter_api.routes.fast_path import FastPathRoute, fast_path, read_dossier_write, read_event
from schemas.dossier_code import DossierCode
from schemas.errors import SchemaError
from schemas.models import Dossier, DossierEvent
from schemas.patterns import DOSSIER_CODE_PATTERN
from schemas.times import utc_now
from store.dossiers import DossierRecord, SyncState
from store.feed import MAX_LIMIT
from timeliness.classify import Classifier

#: valid writes skip FastAPI's parameter machinery (``fast_path``); the rest go through it
router = APIRouter(prefix="/v1/dossiers", tags=["dossiers"], route_class=FastPathRoute)

_write = require(Operation.DOSSIERS_WRITE)
_read = require(Operation.DOSSIERS_READ)

Code = Annotated[DossierCode, Path(pattern=DOSSIER_CODE_PATTERN, description="dossier code")]


def _no_such_dossier() -> NotFoundError:
    """404 for a dossier not stored, and the same for one the client may not see."""
    return NotFoundError("no such dossier", code="dossier_not_found")


def _sync_view(state: SyncState | None) -> SyncStateView | None:
    if state is None:
        return None
    return SyncStateView(
        status=state.status.value,
        pending=state.pending,
        dead=state.dead,
        delivered=state.delivered,
        last_delivered_at=state.last_delivered_at,
        last_error=state.last_error,
    )


def _timeliness_view(
    record: DossierRecord, classifier: Classifier | None, now: datetime
) -> TimelinessView | None:
    """The dossier's timeliness class at ``now`` (None when the adapter has no calendar)."""
    if classifier is None:
        return None
    found = classifier.classify(record.deadline, record.dossier.status, now)
    return TimelinessView(
        state=found.state.value,
        due_at=found.due_at,
        resolved_at=record.deadline.resolved_at,
        working_days_used=found.working_days_used,
        working_days_paused=found.working_days_paused,
        paused=found.paused,
        due_warning=found.due_warning,
    )


def _classifier(request: Request) -> Classifier | None:
    timeliness = container_of(request).timeliness
    return timeliness.classifier if timeliness is not None else None


def _dossier_view(
    record: DossierRecord,
    state: SyncState | None,
    classifier: Classifier | None = None,
    now: datetime | None = None,
) -> DossierView:
    return DossierView(
        **record.dossier.model_dump(),
        last_sequence=record.last_sequence,
        sync=_sync_view(state),
        timeliness=_timeliness_view(record, classifier, now or utc_now()),
    )


def _invalid_body(exc: ValidationError) -> InvalidInput:
    errors: list[dict[str, Any]] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        loc = [str(part) for part in error.get("loc", ())]
        if isinstance(cause, SchemaError) and cause.field and not loc:
            loc = [cause.field]
        message = cause.message if isinstance(cause, SchemaError) else str(error.get("msg"))
        errors.append(field_error(".".join(["body", *loc]), message, error.get("type")))
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return InvalidInput(f"invalid input: {fields}", code=problem_code(errors), errors=errors)


def _dossier(code: str, body: DossierBody) -> Dossier:
    try:
        return Dossier(code=code, **body.model_dump())
    except ValidationError as exc:
        raise _invalid_body(exc) from exc


def _event(code: str, body: EventBody) -> DossierEvent:
    try:
        return DossierEvent(dossier_code=code, **body.model_dump())
    except ValidationError as exc:
        raise _invalid_body(exc) from exc


async def _put(request: Request, client: ApiClient, dossier: Dossier) -> Response:
    if not client.sees_sector(dossier.sector_code):
        raise Forbidden(
            "the dossier's sector is not one of this client's", code="sector_not_allowed"
        )
    container = container_of(request)
    write = await container.dossier_writes.put(dossier, sectors=client.sectors)
    container.issues.forget(dossier.code)
    result = DossierWriteResult(
        code=dossier.code,
        created=write.created,
        changed=write.changed,
        status=write.record.dossier.status,
        last_sequence=write.record.last_sequence,
        due_at=write.record.dossier.due_at,
        warnings=list(write.warnings) or None,
    )
    return json_response(result, status=201 if write.created else 200)


async def _post(request: Request, client: ApiClient, event: DossierEvent) -> Response:
    container = container_of(request)
    write = await container.dossier_writes.post(event, sectors=client.sectors)
    container.issues.forget(event.dossier_code)  # it may have closed
    result = EventAccepted(
        dossier_code=event.dossier_code,
        sequence=write.event.sequence,
        status=write.event.status,
        duplicate=write.replayed,
    )
    return json_response(result, status=202)


@router.put(
    "/{dossier_code}",
    operation_id="put_dossier",
    summary="Register or update a dossier (queued for the national portal)",
    response_model=DossierWriteResult,
    responses={
        201: {"description": "registered", "model": DossierWriteResult},
        **responses(404, 409),
    },
)
@fast_path(read_dossier_write)
async def put_dossier(
    request: Request,
    dossier_code: Code,
    body: DossierBody,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """201 when the dossier is new, 200 when it was updated (or sent again unchanged)."""
    return await _put(request, client, _dossier(dossier_code, body))


@router.post(
    "/{dossier_code}/events",
    operation_id="post_dossier_event",
    summary="Record a status change or progress step (queued for the national portal)",
    status_code=202,
    response_model=EventAccepted,
    responses=responses(404, 409),
)
@fast_path(read_event)
async def post_event(
    request: Request,
    dossier_code: Code,
    body: EventBody,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """202: recorded and queued; sending the same event again is answered as a duplicate."""
    return await _post(request, client, _event(dossier_code, body))


@router.get(
    "/{dossier_code}",
    operation_id="get_dossier",
    summary="A dossier, its status and sync state",
    response_model=DossierView,
    response_model_exclude_none=True,
    responses=responses(404),
)
async def get_one(
    request: Request,
    dossier_code: Code,
    client: Annotated[ApiClient, Depends(_read)],
) -> Response:
    """The stored dossier with its sync state."""
    container = container_of(request)
    found = await container.dossier_reads.visible_dossier(dossier_code, visible=client.sees_sector)
    if found is None:
        raise _no_such_dossier()
    view = _dossier_view(found.record, found.sync, _classifier(request))
    if container.push is not None:
        view = view.model_copy(update={"push": await push_state(container.push, dossier_code)})
    return json_response(view)


@router.get(
    "/{dossier_code}/history",
    operation_id="get_dossier_history",
    summary="A dossier's events in order",
    response_model=HistoryView,
    response_model_exclude_none=True,
    responses=responses(404),
)
async def get_history(
    request: Request,
    dossier_code: Code,
    client: Annotated[ApiClient, Depends(_read)],
) -> Response:
    """Every recorded step, oldest first, and the sync state."""
    reads = container_of(request).dossier_reads
    timeline = await reads.timeline(dossier_code, visible=client.sees_sector)
    if timeline is None:
        raise _no_such_dossier()
    view = HistoryView(
        dossier_code=dossier_code,
        events=[
            EventView(
                sequence=e.sequence,
                status=e.status,
                occurred_at=e.occurred_at,
                officer=e.officer,
                note=e.note,
            )
            for e in timeline.events
        ],
        sync=_sync_view(timeline.sync),
        timeliness=_timeliness_view(timeline.record, _classifier(request), utc_now()),
    )
    return json_response(view)


@router.get(
    "",
    operation_id="get_dossier_feed",
    summary="The feed: dossiers changed since a cursor or a time, in change order",
    response_model=FeedPage,
    response_model_exclude_none=True,
)
async def get_feed(
    request: Request,
    client: Annotated[ApiClient, Depends(_read)],
    updated_since: Annotated[
        DossierInstant | None,
        Query(description="only dossiers changed at or after this instant (with offset)"),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="the next_cursor of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Response:
    """One page of dossiers in the caller's sectors; continue with ``next_cursor``."""
    since: datetime | None = updated_since
    found = await container_of(request).dossier_reads.feed_page(
        updated_since=since, cursor=cursor, sectors=client.sectors, limit=limit
    )
    page, states = found.page, found.sync
    classifier, now = _classifier(request), utc_now()
    view = FeedPage(
        items=[_dossier_view(r, states.get(r.dossier.code), classifier, now) for r in page.items],
        next_cursor=page.cursor,
        has_more=page.has_more,
    )
    return json_response(view)


__all__ = ["router"]
