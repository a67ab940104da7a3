"""``/v1/watch``: the records a client holds copies of, so it learns when they change nationally.

``PUT /v1/watch/{kind}/{id}`` registers (or re-purposes) a watch of a citizen (CCCD) or a business
(tax code); ``DELETE`` removes it; ``GET /v1/watch`` lists the caller's own watches. A citizen watch
needs a purpose: a registered dossier the caller may see, or a standing purpose granted to it in
the client registry (anything else is 403 ``purpose_not_granted``), and ``X-User-Id``: the
official accountable for it, whom the population lookups that refresh it name. The refresh job
then re-reads watched records and the changes appear in ``GET /v1/changes``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.errors import Forbidden, InvalidInput, NotFoundError
from adapter_api.openapi import responses
from adapter_api.routes.context import container_of, json_response
from schemas.patterns import OFFICIAL_PATTERN
from schemas.text import clean_line
from store.watches.types import Watch, WatchKind
from watches.registration import MAX_PURPOSE_LENGTH, Refusal, make_watch

router = APIRouter(prefix="/v1/watch", tags=["records"])

_write = require(Operation.WATCH_WRITE)

RecordId = Annotated[
    str, Path(min_length=10, max_length=14, pattern=r"^[0-9-]+$", description="CCCD or tax code")
]
MAX_LIST = 1000


class WatchBody(BaseModel):
    """The purpose of a watch: required for a citizen, optional for a business."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    purpose: Annotated[str, AfterValidator(clean_line)] | None = Field(
        None,
        max_length=MAX_PURPOSE_LENGTH,
        description="a registered dossier's code, or a standing purpose granted to the client",
    )


class WatchView(BaseModel):
    """One watch of the calling client."""

    model_config = ConfigDict(frozen=True)

    kind: WatchKind
    id: str
    purpose: str
    official: str | None = None
    created_at: datetime | None = None


class WatchList(BaseModel):
    """The calling client's watches, by kind and id."""

    model_config = ConfigDict(frozen=True)

    watches: list[WatchView]


def _view(watch: Watch) -> WatchView:
    return WatchView(
        kind=watch.kind,
        id=watch.record_id,
        purpose=watch.purpose,
        official=watch.official,
        created_at=watch.created_at,
    )


def _invalid(refusal: Refusal) -> InvalidInput:
    field = {
        "missing_purpose": "body.purpose",
        "invalid_purpose": "body.purpose",
        "missing_official": "header.X-User-Id",
        "invalid_official": "header.X-User-Id",
    }.get(refusal.code, "path.id")
    return InvalidInput(
        refusal.message, code=refusal.code, errors=[{"field": field, "message": refusal.message}]
    )


@router.put(
    "/{kind}/{record_id}",
    operation_id="put_watch",
    summary="Watch a citizen or a business for national changes",
    response_model=WatchView,
    responses={201: {"description": "a new watch", "model": WatchView}},
)
async def put_watch_route(
    request: Request,
    kind: WatchKind,
    record_id: RecordId,
    client: Annotated[ApiClient, Depends(_write)],
    body: WatchBody | None = None,
    user_id: Annotated[
        str | None,
        Header(
            alias="X-User-Id",
            pattern=OFFICIAL_PATTERN,
            description="VN + the CCCD of the official accountable for a citizen watch",
        ),
    ] = None,
) -> Response:
    """201 for a new watch, 200 when it existed (its purpose and official are updated)."""
    purpose = body.purpose if body is not None and body.purpose else ""
    watch = make_watch(kind.value, record_id, client.client_id, purpose, user_id or "")
    if isinstance(watch, Refusal):
        raise _invalid(watch)
    registered = await container_of(request).watch_desk.register(watch)
    if isinstance(registered, Refusal):
        raise Forbidden(registered.message, code=registered.code)
    return json_response(_view(registered.watch), status=201 if registered.created else 200)


@router.delete(
    "/{kind}/{record_id}",
    operation_id="delete_watch",
    summary="Stop watching a record",
    status_code=204,
    responses=responses(404),
)
async def delete_watch_route(
    request: Request,
    kind: WatchKind,
    record_id: RecordId,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """204 when the caller's watch was removed; 404 when it had none."""
    if not await container_of(request).watch_desk.remove(kind, record_id, client.client_id):
        raise NotFoundError("the client does not watch this record", code="watch_not_found")
    return Response(status_code=204)


@router.get(
    "",
    operation_id="list_watches",
    summary="The records the calling client watches",
    response_model=WatchList,
)
async def list_watches_route(
    request: Request,
    client: Annotated[ApiClient, Depends(_write)],
    kind: Annotated[WatchKind | None, Query(description="only this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = MAX_LIST,
) -> Response:
    """The caller's watches (never another client's)."""
    desk = container_of(request).watch_desk
    watches = await desk.watches_of(client.client_id, kind=kind, limit=limit)
    return json_response(WatchList(watches=[_view(watch) for watch in watches]))


__all__ = ["WatchBody", "WatchList", "WatchView", "router"]
