"""``/v1/citizens``: look a citizen up for a dossier, or verify ID + name + birth date.

Both are bound to a purpose: ``X-User-Id`` names the official (``VN`` + their CCCD) and
``X-Issue`` the dossier the query serves, which must be registered in a sector the caller sees,
open (or closed within the grace period) and name the citizen as applicant or related person
(``adapter_api.issues``; else 403 ``purpose_mismatch``, logged as ``refused`` without asking
upstream); both travel to the population database in the X-Road header, and the request
signature covers both. Each query that reached the database is written to the access log (the
field names returned, never their values; none for a verify); a lookup's answer holds only the
fields the caller is allowed to see. The query's exchange (message log) and its access-log row are
committed together (``records_together``) before the answer is sent; if either cannot be kept,
the request fails.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.access import access_entry, refused_entry
from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.errors import Forbidden, InvalidInput
from adapter_api.models import CitizenView, Official, VerifyCitizenRequest, VerifyCitizenResult
from adapter_api.openapi import UPSTREAM_STATUSES, responses
from adapter_api.routes.context import (
    call_context,
    container_of,
    json_response,
    records_together,
    request_id_of,
)
from adapter_api.routes.fast_path import FastPathRoute, fast_path, read_citizen_lookup
from connectors.errors import NotFound
from schemas.citizen_id import CitizenId
from schemas.dossier_code import DossierCode
from schemas.patterns import CITIZEN_ID_PATTERN, DOSSIER_CODE_PATTERN, OFFICIAL_PATTERN

#: valid lookups skip FastAPI's parameter machinery (``fast_path``); the rest go through it
router = APIRouter(prefix="/v1/citizens", tags=["citizens"], route_class=FastPathRoute)

GET_CITIZEN = "GetCitizen"
VERIFY_CITIZEN = "VerifyCitizen"


_read = require(Operation.CITIZENS_READ)
UserIdHeader = Annotated[
    Official,
    Header(alias="X-User-Id", pattern=OFFICIAL_PATTERN, description="VN + the official's CCCD"),
]
IssueHeader = Annotated[
    DossierCode,
    Header(
        alias="X-Issue",
        pattern=DOSSIER_CODE_PATTERN,
        description="code of the registered dossier this lookup serves",
    ),
]


async def check_issue(
    request: Request,
    client: ApiClient,
    *,
    citizen_id: str,
    user_id: str,
    issue: str,
    operation: str,
) -> None:
    """Return when ``issue`` justifies this query of ``citizen_id`` (``adapter_api.issues``).

    422 ``unknown_issue`` when it is not a registered dossier the client may see (malformed
    input, like a bad header: not logged); 403 ``purpose_mismatch`` when the dossier is closed
    beyond the grace period or does not name the citizen, written to the access log (outcome
    ``refused``, no upstream message) first.
    """
    container = container_of(request)
    found = await container.issues.get(issue)
    if found is None or not client.sees_sector(found.sector):
        raise InvalidInput(
            "X-Issue must name a registered dossier",
            code="unknown_issue",
            errors=[{"field": "header.X-Issue", "message": "no such dossier is registered"}],
        )
    grace = dt.timedelta(days=container.settings.purpose_grace_days)
    if await container.issues.serves(found, issue, citizen_id, grace=grace):
        return
    entry = refused_entry(
        citizen_id,
        client,
        official=user_id,
        dossier_code=issue,
        operation=operation,
        request_id=request_id_of(request),
    )
    await container.access_log.record(entry)
    raise Forbidden(
        "the dossier in X-Issue does not justify this lookup: it must be open (or recently "
        "closed) and name the citizen as applicant or related person",
        code="purpose_mismatch",
    )


_verify = require(Operation.CITIZENS_VERIFY)


async def _lookup(
    request: Request, client: ApiClient, citizen_id: str, user_id: str, issue: str
) -> Response:
    """A checked lookup: purpose, upstream call, access log, minimised answer."""
    await check_issue(
        request, client, citizen_id=citizen_id, user_id=user_id, issue=issue, operation=GET_CITIZEN
    )
    container = container_of(request)
    ctx = call_context(request, client, user_id=user_id, issue=issue)
    fields = client.citizen_fields
    # the exchange and the access-log row are committed together before the answer goes out
    async with records_together(container):
        try:
            with container.metrics.upstream_call("population", GET_CITIZEN):
                citizen = await container.population.get_citizen(citizen_id, ctx)
        except NotFound:
            await container.access_log.record(
                access_entry(citizen_id, client, ctx, GET_CITIZEN, (), request_id_of(request))
            )
            raise
        await container.access_log.record(
            access_entry(citizen_id, client, ctx, GET_CITIZEN, fields, request_id_of(request))
        )
    return json_response(citizen, include=fields)


@router.get(
    "/{citizen_id}",
    operation_id="get_citizen",
    summary="Look up a citizen for a dossier",
    response_model=CitizenView,
    response_model_exclude_none=True,
    responses=responses(403, 404, *UPSTREAM_STATUSES),
)
@fast_path(read_citizen_lookup)
async def get_citizen(
    request: Request,
    citizen_id: Annotated[CitizenId, Path(pattern=CITIZEN_ID_PATTERN, description="CCCD")],
    user_id: UserIdHeader,
    issue: IssueHeader,
    client: Annotated[ApiClient, Depends(_read)],
) -> Response:
    """The citizen, minimised to the fields the caller may see; the lookup is access-logged."""
    return await _lookup(request, client, citizen_id, user_id, issue)


@router.post(
    "/verify",
    operation_id="verify_citizen",
    summary="Does this ID belong to this name and date of birth?",
    response_model=VerifyCitizenResult,
    responses=responses(403, *UPSTREAM_STATUSES),
)
async def verify_citizen(
    request: Request,
    body: VerifyCitizenRequest,
    user_id: UserIdHeader,
    issue: IssueHeader,
    client: Annotated[ApiClient, Depends(_verify)],
) -> Response:
    """``{"match": true|false}``; nothing else about the citizen is disclosed (access-logged)."""
    await check_issue(
        request,
        client,
        citizen_id=body.citizen_id,
        user_id=user_id,
        issue=issue,
        operation=VERIFY_CITIZEN,
    )
    container = container_of(request)
    if container.rate_limiter is not None:  # one try of today's budget for this citizen
        container.rate_limiter.spend_verify(client, body.citizen_id)
    ctx = call_context(request, client, user_id=user_id, issue=issue)
    async with records_together(container):
        with container.metrics.upstream_call("population", VERIFY_CITIZEN):
            match = await container.population.verify_citizen(
                body.citizen_id, body.full_name, body.date_of_birth, ctx
            )
        await container.access_log.record(
            access_entry(body.citizen_id, client, ctx, VERIFY_CITIZEN, (), request_id_of(request))
        )
    return json_response(VerifyCitizenResult(match=match))


__all__ = ["IssueHeader", "UserIdHeader", "check_issue", "router"]
