"""Notices to applicants: record the applicant's phone and consent, and take opt-outs.

``PUT /v1/dossiers/{code}/contact`` records the phone (normalised to ``84…``; anything else is 422
``invalid_phone``) and whether the applicant consented to notices; without consent nothing is
sent. ``POST /v1/notices/opt-out`` stops every notice to a phone, whatever the dossier. Neither
answer repeats the number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.errors import InvalidInput, NotFoundError, ServiceUnavailable
from adapter_api.openapi import responses
from adapter_api.push_parts import Push
from adapter_api.routes.context import container_of
from push.errors import InvalidPhone
from push.notices.phones import normalise_phone
from schemas.patterns import DOSSIER_CODE_PATTERN

router = APIRouter(tags=["push"])

_write = require(Operation.NOTICES_WRITE)

Code = Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, description="dossier code")]


class ContactBody(BaseModel):
    """The applicant's phone and their consent to notices."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=1, max_length=32)
    consent: bool


class OptOutBody(BaseModel):
    """A phone that wants no more notices."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=1, max_length=32)


def _push(request: Request) -> Push:
    push = container_of(request).push
    if push is None:
        raise ServiceUnavailable("push is not configured", code="push_unavailable")
    return push


def _phone(raw: str) -> str:
    try:
        return normalise_phone(raw)
    except InvalidPhone as exc:
        raise InvalidInput(
            str(exc),
            code="invalid_phone",
            errors=[{"field": "body.phone", "message": exc.reason}],
        ) from exc


@router.put(
    "/v1/dossiers/{dossier_code}/contact",
    operation_id="put_dossier_contact",
    summary="Record the applicant's phone and consent to notices",
    status_code=204,
    responses=responses(404, 422),
)
async def put_contact(
    request: Request,
    dossier_code: Code,
    body: ContactBody,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """204 once recorded; 404 for a dossier the client may not see."""
    phone = _phone(body.phone)
    reads = container_of(request).dossier_reads
    if await reads.record(dossier_code, visible=client.sees_sector) is None:
        raise NotFoundError("no such dossier", code="dossier_not_found")
    await _push(request).notices.set_contact(dossier_code, phone, consent=body.consent)
    return Response(status_code=204)


@router.post(
    "/v1/notices/opt-out",
    operation_id="opt_out_of_notices",
    summary="Send no more notices to a phone",
    status_code=204,
    responses=responses(422),
)
async def opt_out(
    request: Request, body: OptOutBody, client: Annotated[ApiClient, Depends(_write)]
) -> Response:
    """204 once recorded (also when it already was)."""
    await _push(request).notices.opt_out(_phone(body.phone))
    return Response(status_code=204)


__all__ = ["router"]
