"""``/v1/chains``: take an inter-agency chain dossier in once, and see where its steps stand.

``PUT /v1/chains/{dossier_code}`` takes the filing (the chain's id, the applicant, the receipt
time, what the steps need); the chain dossier is registered for the portal and its first step
queued, in one transaction. The same filing sent again answers 200 and changes nothing; another
filing under the same code is 409. ``GET /v1/chains/{dossier_code}`` shows each step: agency,
state, result reference, deadline, working days used. A ministry (a client limited to sectors)
sees only the steps of its sectors, and a chain with none of them answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.errors import Conflict, InvalidInput, NotFoundError, ServiceUnavailable
from adapter_api.openapi import responses
from adapter_api.routes.context import container_of, json_response
from chains.desk import ChainDesk
from chains.errors import ChainConflict, ChainNotFound, InvalidFiling
from chains.intake import ChainFiling
from chains.views import ChainView
from schemas.patterns import DOSSIER_CODE_PATTERN
from store.errors import ConstraintViolation

router = APIRouter(prefix="/v1/chains", tags=["chains"])

_write = require(Operation.DOSSIERS_WRITE)
_read = require(Operation.DOSSIERS_READ)

Code = Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, description="chain dossier code")]


class ChainBody(BaseModel):
    """The one filing of a chain."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    chain: str = Field(min_length=1, max_length=64, description="the chain definition's id")
    agency_code: str = Field(min_length=1, max_length=64)
    applicant_name: str = Field(min_length=1, max_length=500)
    applicant_id: str = Field(min_length=10, max_length=14)
    received_at: AwareDatetime
    subject: dict[str, str] = Field(description="the fields the chain's steps need")


class ChainTaken(BaseModel):
    """What the PUT did."""

    dossier_code: str
    chain: str
    created: bool
    due_at: dt.datetime


class StepOut(BaseModel):
    """One step as shown (its result's reference, never the result itself)."""

    position: int
    name: str
    title: str
    agency: str
    sector: str
    state: str
    result_reference: str | None
    reference: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    due_at: dt.datetime | None
    working_days_used: int | None
    late: bool
    verification: bool
    reason: str | None


class ChainOut(BaseModel):
    """A chain dossier and its steps."""

    dossier_code: str
    chain: str
    title: str
    state: str
    received_at: dt.datetime
    due_at: dt.datetime
    working_days_limit: int
    working_days_used: int
    late: bool
    verification: bool
    finished_at: dt.datetime | None
    stopped_step: str | None
    stopped_reason: str | None
    steps: list[StepOut]


def _desk(request: Request) -> ChainDesk:
    desk: ChainDesk | None = getattr(container_of(request), "chain_desk", None)
    if desk is None:
        raise ServiceUnavailable("chains are not configured", code="chains_unavailable")
    return desk


def _out(view: ChainView) -> ChainOut:
    return ChainOut(
        dossier_code=view.dossier_code,
        chain=view.chain_id,
        title=view.title,
        state=view.state,
        received_at=view.received_at,
        due_at=view.due_at,
        working_days_limit=view.working_days_limit,
        working_days_used=view.working_days_used,
        late=view.late,
        verification=view.verification,
        finished_at=view.finished_at,
        stopped_step=view.stopped_step,
        stopped_reason=view.stopped_reason,
        steps=[
            StepOut(
                position=s.position,
                name=s.name,
                title=s.title,
                agency=s.agency,
                sector=s.sector,
                state=s.state,
                result_reference=s.result_reference,
                reference=s.reference or "",
                started_at=s.started_at,
                finished_at=s.finished_at,
                due_at=s.due_at,
                working_days_used=s.working_days_used,
                late=s.late,
                verification=s.verification,
                reason=s.reason,
            )
            for s in view.steps
        ],
    )


@router.put(
    "/{dossier_code}",
    operation_id="put_chain",
    summary="Take an inter-agency chain dossier in (once)",
    response_model=ChainTaken,
    responses={201: {"description": "taken in", "model": ChainTaken}, **responses(404, 409)},
)
async def put_chain(
    request: Request,
    dossier_code: Code,
    body: ChainBody,
    client: Annotated[ApiClient, Depends(_write)],
) -> Response:
    """201 when the chain is new, 200 when the same filing was taken in before."""
    desk = _desk(request)
    definition = desk.definition(body.chain)
    if definition is None:
        raise NotFoundError("no chain has this id", code="chain_unknown")
    if not client.sees_sector(definition.sector):
        raise NotFoundError("no chain has this id", code="chain_unknown")
    filing = ChainFiling(
        chain_id=body.chain,
        dossier_code=dossier_code,
        agency_code=body.agency_code,
        applicant_name=body.applicant_name,
        applicant_id=body.applicant_id,
        received_at=body.received_at,
        subject=body.subject,
    )
    try:
        taken = await desk.take_in(definition, filing)
    except ConstraintViolation as exc:  # lost the race to another request twice in a row
        raise Conflict("the chain dossier is being taken in", code="chain_conflict") from exc
    except ChainConflict as exc:
        raise Conflict(exc.message, code="chain_conflict") from exc
    except InvalidFiling as exc:
        field = f"body.{exc.field}" if exc.field else "body"
        raise InvalidInput(
            f"invalid input: {field}", errors=[{"field": field, "message": exc.message}]
        ) from exc
    result = ChainTaken(
        dossier_code=dossier_code, chain=body.chain, created=taken.created, due_at=taken.due_at
    )
    return json_response(result, status=201 if taken.created else 200)


@router.get(
    "/{dossier_code}",
    operation_id="get_chain",
    summary="A chain dossier: each step's agency, state, result reference, deadline",
    response_model=ChainOut,
    responses=responses(404),
)
async def get_chain(
    request: Request, dossier_code: Code, client: Annotated[ApiClient, Depends(_read)]
) -> Response:
    """The chain and the steps the caller may see."""
    try:
        view = await _desk(request).view(dossier_code, sectors=client.sectors)
    except ChainNotFound as exc:
        raise NotFoundError("no such chain dossier", code="chain_not_found") from exc
    return json_response(_out(view))


__all__ = ["router"]
