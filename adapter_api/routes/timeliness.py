"""The timeliness report and the apologies (docs/timeliness.md).

``GET /v1/reports/timeliness`` counts, per agency, sector, procedure or month, the dossiers
received in a period that were resolved early, on time or late and those open past their due
date, computed by the database; a ministry sees only its sectors. The apology routes list the
drafts lienthong makes when a dossier runs late, confirm one (which moves the due date and sends
it to the portal), and print it as a one-page PDF in Vietnamese.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.container import Container
from adapter_api.errors import NotFoundError, ServiceUnavailable
from adapter_api.models import (
    ApologyList,
    ApologyView,
    ConfirmApologyBody,
    ReportRowView,
    TimelinessReportView,
)
from adapter_api.openapi import responses
from adapter_api.routes.context import container_of, json_response
from schemas.dossier_code import DossierCode
from schemas.patterns import DOSSIER_CODE_PATTERN
from schemas.times import utc_now
from timeliness.apology import Apology, ApologyState
from timeliness.apology_pdf import render_apology_pdf
from timeliness.report import GroupBy, ReportQuery, ReportRow
from timeliness.service import Timeliness

router = APIRouter(tags=["timeliness"])

_reports = require(Operation.REPORTS_READ)
_read = require(Operation.DOSSIERS_READ)
_confirm = require(Operation.APOLOGIES_WRITE)

Code = Annotated[DossierCode, Path(pattern=DOSSIER_CODE_PATTERN, description="dossier code")]
ApologyId = Annotated[int, Path(ge=1, le=2**53, description="the apology's id")]


def _timeliness(container: Container) -> Timeliness:
    if container.timeliness is None:
        raise ServiceUnavailable("timeliness is not configured", code="timeliness_unavailable")
    return container.timeliness


def _row(row: ReportRow) -> ReportRowView:
    return ReportRowView(**row.as_dict())


def _apology(apology: Apology) -> ApologyView:
    return ApologyView(
        id=apology.id,
        dossier_code=apology.dossier_code,
        state=apology.state.value,
        trigger=apology.trigger.value,
        original_due_at=apology.original_due_at,
        proposed_due_at=apology.proposed_due_at,
        reason=apology.reason,
        created_at=apology.created_at,
        confirmed_at=apology.confirmed_at,
        confirmed_by=apology.confirmed_by,
    )


@router.get(
    "/v1/reports/timeliness",
    operation_id="get_timeliness_report",
    summary="On-time rates of the dossiers received in a period, by agency/sector/procedure/month",
    response_model=TimelinessReportView,
    response_model_exclude_none=True,
    responses=responses(400),
)
async def get_report(
    request: Request,
    client: Annotated[ApiClient, Depends(_reports)],
    from_: Annotated[
        str | None,
        Query(alias="from", max_length=10, description="first day of receipt, YYYY-MM-DD"),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=10, description="last day of receipt, YYYY-MM-DD")
    ] = None,
    group_by: Annotated[
        str | None,
        Query(max_length=16, description="|".join(g.value for g in GroupBy) + " (agency)"),
    ] = None,
) -> Response:
    """Counts and rates per group and in total; a ministry's report covers its sectors only."""
    query = ReportQuery.parse(from_, to, group_by, client.sectors)
    now = utc_now()
    container = container_of(request)
    counts_paused = _timeliness(container).classifier.counts_paused_time
    report = await container.timeliness_desk.report(query, now, counts_paused_time=counts_paused)
    view = TimelinessReportView(
        from_date=query.start,
        to_date=query.end,
        group_by=query.group_by.value,
        computed_at=now,
        rows=[_row(r) for r in report.rows],
        total=_row(report.total),
    )
    return json_response(view)


@router.get(
    "/v1/apologies",
    operation_id="list_apologies",
    summary="Apologies (drafts to confirm, confirmed ones), newest first",
    response_model=ApologyList,
    response_model_exclude_none=True,
)
async def get_apologies(
    request: Request,
    client: Annotated[ApiClient, Depends(_read)],
    state: Annotated[ApologyState | None, Query(description="draft or confirmed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The apologies of the dossiers the caller may see."""
    desk = container_of(request).timeliness_desk
    found = await desk.apologies(state=state, sectors=client.sectors, limit=limit)
    return json_response(ApologyList(items=[_apology(a) for a in found]))


@router.get(
    "/v1/dossiers/{dossier_code}/apologies",
    operation_id="list_dossier_apologies",
    summary="A dossier's apologies, newest first",
    response_model=ApologyList,
    response_model_exclude_none=True,
    responses=responses(404),
)
async def get_dossier_apologies(
    request: Request, dossier_code: Code, client: Annotated[ApiClient, Depends(_read)]
) -> Response:
    """Every apology of the dossier."""
    desk = container_of(request).timeliness_desk
    found = await desk.dossier_apologies(dossier_code, visible=client.sees_sector)
    if found is None:
        raise NotFoundError("no such dossier", code="dossier_not_found")
    return json_response(ApologyList(items=[_apology(a) for a in found]))


@router.post(
    "/v1/dossiers/{dossier_code}/apologies/{apology_id}/confirm",
    operation_id="confirm_apology",
    summary="Confirm a drafted apology: the due date moves and is sent to the portal",
    response_model=ApologyView,
    response_model_exclude_none=True,
    responses=responses(404, 409),
)
async def post_confirm(
    request: Request,
    dossier_code: Code,
    apology_id: ApologyId,
    client: Annotated[ApiClient, Depends(_confirm)],
    body: Annotated[ConfirmApologyBody | None, Body()] = None,
) -> Response:
    """The confirmed apology; the dossier's new due date is queued for the portal."""
    container = container_of(request)
    timeliness = _timeliness(container)
    confirmed = await container.timeliness_desk.confirm(
        dossier_code,
        apology_id,
        by=client.client_id,
        now=utc_now(),
        rules=timeliness.rules,
        new_due_at=body.new_due_at if body is not None else None,
        sectors=client.sectors,
    )
    return json_response(_apology(confirmed))


@router.get(
    "/v1/dossiers/{dossier_code}/apologies/{apology_id}/pdf",
    operation_id="get_apology_pdf",
    summary="The apology as a one-page PDF in Vietnamese",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **responses(404),
    },
)
async def get_pdf(
    request: Request,
    dossier_code: Code,
    apology_id: ApologyId,
    client: Annotated[ApiClient, Depends(_read)],
) -> Response:
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả, ready to print or send."""
    container = container_of(request)
    timeliness = _timeliness(container)
    printable = await container.timeliness_desk.printable(
        dossier_code, apology_id, visible=client.sees_sector
    )
    if printable is None:
        raise NotFoundError("no such dossier", code="dossier_not_found")
    apology = printable.apology
    pdf = await run_in_threadpool(
        render_apology_pdf,
        apology,
        printable.dossier,
        agency_name=timeliness.agency_name,
        font_path=timeliness.font_path,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="xin-loi-{apology.id}.pdf"'},
    )


__all__ = ["router"]
