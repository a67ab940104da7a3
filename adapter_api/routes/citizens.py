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
from typing import Annotated, overload

from fastapi import APIRouter, Depends, Header, Path
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from adapter_api.access import access_entry, refused_entry
from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.container import Container
from adapter_api.errors import Forbidden, InvalidInput
from adapter_api.models import CitizenView, Official, VerifyCitizenRequest, VerifyCitizenResult
from adapter_api.openapi import UPSTREAM_STATUSES, responses
from adapter_api.routes.context import (
    JSON_MEDIA_TYPE,
    call_context,
    container_of,
    json_response,
    model_json,
    records_together,
    request_id_in,
    send_json,
)
from connectors.errors import NotFound
from schemas.citizen_id import CitizenId
from schemas.dossier_code import DossierCode
from schemas.patterns import CITIZEN_ID_PATTERN, DOSSIER_CODE_PATTERN, OFFICIAL_PATTERN

router = APIRouter(prefix="/v1/citizens", tags=["citizens"])

GET_CITIZEN = "GetCitizen"
VERIFY_CITIZEN = "VerifyCitizen"
#: what a client's allow-list must grant for a lookup
LOOKUP_OPERATION = Operation.CITIZENS_READ


_read = require(LOOKUP_OPERATION)
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
    container: Container,
    scope: Scope,
    client: ApiClient,
    *,
    citizen_id: str,
    user_id: str,
    issue: str,
    operation: str,
) -> None:
    """Return when ``issue`` justifies this query of ``citizen_id`` (``adapter_api.issues``)
    made by the request of ``scope``.

    422 ``unknown_issue`` when it is not a registered dossier the client may see (malformed
    input, like a bad header: not logged); 403 ``purpose_mismatch`` when the dossier is closed
    beyond the grace period or does not name the citizen, written to the access log (outcome
    ``refused``, no upstream message) first.
    """
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
        request_id=request_id_in(scope),
    )
    await container.access_log.record(entry)
    raise Forbidden(
        "the dossier in X-Issue does not justify this lookup: it must be open (or recently "
        "closed) and name the citizen as applicant or related person",
        code="purpose_mismatch",
    )


_verify = require(Operation.CITIZENS_VERIFY)


@overload
async def look_up_citizen(
    container: Container,
    scope: Scope,
    client: ApiClient,
    citizen_id: str,
    user_id: str,
    issue: str,
    send: None = None,
) -> bytes: ...


@overload
async def look_up_citizen(
    container: Container,
    scope: Scope,
    client: ApiClient,
    citizen_id: str,
    user_id: str,
    issue: str,
    send: Send,
) -> None: ...


async def look_up_citizen(
    container: Container,
    scope: Scope,
    client: ApiClient,
    citizen_id: str,
    user_id: str,
    issue: str,
    send: Send | None = None,
) -> bytes | None:
    """A checked lookup for the request of ``scope``, its client admitted: purpose, upstream
    call, access log; the answer's JSON, minimised to the fields the client may see. The
    route's body, whichever way the request came (FastAPI's route below, or the direct route
    of ``adapter_api.routes.direct``).

    With ``send`` the JSON is answered on it (:func:`~adapter_api.routes.context.send_json`)
    and None returned: the direct route hands this coroutine to the front layer as the ASGI
    app's own (one frame fewer on every resumption of the lookup)."""
    await check_issue(
        container,
        scope,
        client,
        citizen_id=citizen_id,
        user_id=user_id,
        issue=issue,
        operation=GET_CITIZEN,
    )
    ctx = call_context(client, user_id=user_id, issue=issue)
    fields = client.citizen_fields
    request_id = request_id_in(scope)
    # the exchange and the access-log row are committed together before the answer goes out
    async with container.logs.together():  # records_together's block, without its call
        try:
            with container.metrics.upstream_call("population", GET_CITIZEN):
                citizen = await container.population.get_citizen(citizen_id, ctx)
        except NotFound:
            await container.access_log.record(
                access_entry(citizen_id, client, ctx, GET_CITIZEN, (), request_id)
            )
            raise
        await container.access_log.record(
            access_entry(citizen_id, client, ctx, GET_CITIZEN, fields, request_id)
        )
    body = model_json(citizen, include=fields)
    if send is None:
        return body
    await send_json(send, body)
    return None


@router.get(
    "/{citizen_id}",
    operation_id="get_citizen",
    summary="Look up a citizen for a dossier",
    response_model=CitizenView,
    response_model_exclude_none=True,
    responses=responses(403, 404, *UPSTREAM_STATUSES),
)
async def get_citizen(
    request: Request,
    citizen_id: Annotated[CitizenId, Path(pattern=CITIZEN_ID_PATTERN, description="CCCD")],
    user_id: UserIdHeader,
    issue: IssueHeader,
    client: Annotated[ApiClient, Depends(_read)],
) -> Response:
    """The citizen, minimised to the fields the caller may see; the lookup is access-logged.

    A valid request is served by the direct route (``adapter_api.routes.direct``) before it
    gets here; this declaration documents the route and answers the rest (its refusals)."""
    body = await look_up_citizen(
        container_of(request), request.scope, client, citizen_id, user_id, issue
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


def lookup_route() -> APIRoute:
    """The route of ``get_citizen`` as FastAPI's routing puts it in the scope."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is get_citizen:
            return route
    raise LookupError("get_citizen is not a route of the citizens router")


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
    container = container_of(request)
    await check_issue(
        container,
        request.scope,
        client,
        citizen_id=body.citizen_id,
        user_id=user_id,
        issue=issue,
        operation=VERIFY_CITIZEN,
    )
    if container.rate_limiter is not None:  # one try of today's budget for this citizen
        container.rate_limiter.spend_verify(client, body.citizen_id)
    ctx = call_context(client, user_id=user_id, issue=issue)
    request_id = request_id_in(request.scope)
    async with records_together(container):
        with container.metrics.upstream_call("population", VERIFY_CITIZEN):
            match = await container.population.verify_citizen(
                body.citizen_id, body.full_name, body.date_of_birth, ctx
            )
        await container.access_log.record(
            access_entry(body.citizen_id, client, ctx, VERIFY_CITIZEN, (), request_id)
        )
    return json_response(VerifyCitizenResult(match=match))


__all__ = [
    "LOOKUP_OPERATION",
    "IssueHeader",
    "UserIdHeader",
    "check_issue",
    "look_up_citizen",
    "lookup_route",
    "router",
]
