"""``GET /v1/access-log/{citizen_id}``: who looked this citizen up, when, for which dossier.

Newest first, a page at a time (``limit``, and the ``next_cursor`` of the previous page as
``cursor``). Only clients whose allow-list grants ``access_log.read`` may ask. Each entry names
the client and its organisation, the official, the dossier the lookup served, the operation, the
field names returned (never their values), the request id, the upstream message id (which
``lienthong log export`` turns into an evidence bundle) and the outcome: ``answered``, or
``refused`` when the lookup's purpose did not hold (``purpose_mismatch``; nothing was asked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.openapi import responses
from adapter_api.routes.context import container_of, json_response
from schemas.citizen_id import CitizenId
from schemas.patterns import CITIZEN_ID_PATTERN
from store.access_log import DEFAULT_LIMIT, MAX_LIMIT, AccessLogItem

router = APIRouter(prefix="/v1/access-log", tags=["access log"])

_read = require(Operation.ACCESS_LOG_READ)


class AccessLogEntryView(BaseModel):
    """One lookup of the citizen."""

    model_config = ConfigDict(frozen=True)

    occurred_at: datetime = Field(description="when the lookup was made (UTC)")
    client_id: str = Field(description="the API client that made it (its keyid)")
    organisation: str = Field(description="the client's organisation")
    official: str | None = Field(None, description="the official (VN + CCCD) it was made for")
    dossier_code: str | None = Field(None, description="the dossier (or purpose) it served")
    operation: str = Field(description="what was done, e.g. GetCitizen")
    fields: list[str] = Field(description="the names of the fields returned (no values)")
    request_id: str | None = Field(None, description="the X-Request-Id of the lookup")
    message_id: str | None = Field(None, description="the message id of the upstream exchange")
    outcome: str = Field(
        "answered",
        description="answered, or refused: the lookup's purpose did not hold (nothing was asked)",
    )


class AccessLogPageView(BaseModel):
    """A page of the citizen's access log, newest first."""

    model_config = ConfigDict(frozen=True)

    citizen_id: str
    entries: list[AccessLogEntryView]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for older entries")


def _view(item: AccessLogItem) -> AccessLogEntryView:
    return AccessLogEntryView(
        occurred_at=item.occurred_at,
        client_id=item.client_id,
        organisation=item.organisation,
        official=item.official,
        dossier_code=item.dossier_code,
        operation=item.operation,
        fields=list(item.fields),
        request_id=item.request_id,
        message_id=item.message_id,
        outcome=item.outcome,
    )


@router.get(
    "/{citizen_id}",
    operation_id="get_access_log",
    summary="Who looked this citizen up",
    response_model=AccessLogPageView,
    response_model_exclude_none=True,
    responses=responses(400),
)
async def get_access_log(
    request: Request,
    citizen_id: Annotated[CitizenId, Path(pattern=CITIZEN_ID_PATTERN, description="CCCD")],
    client: Annotated[ApiClient, Depends(_read)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="entries per page")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
) -> Response:
    """The lookups of this citizen, newest first."""
    book = container_of(request).access_log_book
    page = await book.page_for(citizen_id, limit=limit, cursor=cursor)
    view = AccessLogPageView(
        citizen_id=citizen_id,
        entries=[_view(item) for item in page.items],
        next_cursor=page.next_cursor,
    )
    return json_response(view)


__all__ = ["AccessLogEntryView", "AccessLogPageView", "router"]
