"""``/healthz`` (alive), ``/readyz`` (keys, store, upstream breakers) and ``/metrics``.

These three are not signed (probes and Prometheus cannot sign) and disclose no personal data.
Readiness fails (503) when the signing keys cannot be loaded or the store cannot be reached; an
open upstream breaker is reported (``degraded``) but does not take the adapter out of rotation,
since the other upstreams and the dossier routes still work.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from adapter_api.metrics import PROMETHEUS_CONTENT_TYPE
from adapter_api.models import HealthView, ReadinessView
from adapter_api.routes.context import container_of, json_response

router = APIRouter(tags=["operations"])

_ALIVE = HealthView(status="ok")


@router.get("/healthz", operation_id="healthz", summary="Liveness", response_model=HealthView)
async def healthz() -> Response:
    """Always 200 while the process serves requests."""
    return json_response(_ALIVE)


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: keys loadable, store reachable, upstream breakers",
    response_model=ReadinessView,
    responses={503: {"description": "not ready", "model": ReadinessView}},
)
async def readyz(request: Request) -> Response:
    """200 when ready, 503 when a critical check fails; every check's verdict either way."""
    container = container_of(request)
    checks: dict[str, dict[str, Any]] = {}
    ready = True
    for name, check in container.readiness.items():
        try:
            ok, detail = await check()
        except Exception as exc:
            ok, detail = False, type(exc).__name__
        checks[name] = {"ok": ok, "detail": detail, "critical": True}
        ready = ready and ok
    degraded = False
    for upstream in container.upstreams:
        health = upstream.health()
        checks[f"upstream:{upstream.name}"] = {
            "ok": health.ready,
            "detail": health.state.value,
            "critical": False,
        }
        degraded = degraded or not health.ready
    checks["upstreams"] = {
        "ok": not degraded,
        "detail": "degraded" if degraded else "ok",
        "critical": False,
    }
    view = ReadinessView(ready=ready, checks=checks)
    return json_response(view, status=200 if ready else 503)


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Requests by route and status, upstream calls, breaker states, outbox depth."""
    body = await container_of(request).metrics.render()
    return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)


__all__ = ["router"]
