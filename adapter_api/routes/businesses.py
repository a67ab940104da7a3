"""``/v1/businesses``: a business from the national registry, by tax code (MST)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.openapi import UPSTREAM_STATUSES, responses
from adapter_api.routes.context import call_context, container_of, json_response
from schemas.models import Business
from schemas.patterns import TAX_CODE_PATTERN
from schemas.tax_code import TaxCode

router = APIRouter(prefix="/v1/businesses", tags=["businesses"])

GET_BUSINESS = "GetBusiness"

_read = require(Operation.BUSINESSES_READ)


@router.get(
    "/{tax_code}",
    operation_id="get_business",
    summary="Look up a business by tax code",
    response_model=Business,
    response_model_exclude_none=True,
    responses=responses(404, *UPSTREAM_STATUSES),
)
async def get_business(
    request: Request,
    tax_code: Annotated[TaxCode, Path(pattern=TAX_CODE_PATTERN, description="MST")],
    client: Annotated[ApiClient, Depends(_read)],
) -> Response:
    """The business and its legal representatives."""
    container = container_of(request)
    ctx = call_context(client)
    with container.metrics.upstream_call("registry", GET_BUSINESS):
        business = await container.registry.get_business(tax_code, ctx)
    return json_response(business)


__all__ = ["router"]
