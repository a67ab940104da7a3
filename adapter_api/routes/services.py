"""``/v1/services``: the catalogue of national systems behind the adapter, and their health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.auth import require
from adapter_api.clients import ApiClient, Operation
from adapter_api.models import CatalogueView, ServiceView
from adapter_api.routes.context import container_of, json_response

router = APIRouter(prefix="/v1", tags=["services"])

_read = require(Operation.SERVICES_READ)


@router.get(
    "/services",
    operation_id="get_services",
    summary="Connectors, their operations and health; what the caller may do",
    response_model=CatalogueView,
)
async def get_services(request: Request, client: Annotated[ApiClient, Depends(_read)]) -> Response:
    """One entry per upstream (breaker state, last success and failure), and the caller."""
    container = container_of(request)
    services = []
    for upstream in container.upstreams:
        health = upstream.health()
        services.append(
            ServiceView(
                name=upstream.name,
                protocol=str(getattr(upstream, "protocol", "http")),
                operations=list(health.operations),
                health=health.as_dict(),
            )
        )
    return json_response(CatalogueView(services=services, client=client.as_dict()))


__all__ = ["router"]
