"""``FastPathRoute``: valid requests answered by the fast handler, the rest by FastAPI's."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, Header
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from adapter_api.routes.fast_path import FastPathRoute, fast_path


async def _fast(request: Request) -> Response | None:
    value = request.headers.get("x-token")
    if value is None or not value.isdigit():
        return None
    return PlainTextResponse(f"fast {value}")


def _app() -> FastAPI:
    router = APIRouter(route_class=FastPathRoute)

    @router.get("/fast/{name}")
    @fast_path(_fast)
    async def declared(
        name: str, token: Annotated[str, Header(alias="X-Token", pattern=r"^[0-9]+$")]
    ) -> Response:
        return PlainTextResponse(f"standard {token}")

    @router.get("/plain")
    async def plain() -> Response:
        return PlainTextResponse("plain")

    app = FastAPI()
    app.include_router(router)
    return app


async def _get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


async def test_valid_request_is_answered_by_the_fast_handler() -> None:
    """A request the fast handler vouches for never reaches FastAPI's parameter handling."""
    response = await _get(_app(), "/fast/a", {"X-Token": "42"})
    assert response.text == "fast 42"


async def test_other_requests_get_the_declared_parameters_checks() -> None:
    """When the fast handler declines, the declared parameters decide (here: a 422)."""
    refused = await _get(_app(), "/fast/a", {"X-Token": "abc"})
    missing = await _get(_app(), "/fast/a")
    assert refused.status_code == 422
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "X-Token"]


async def test_routes_without_a_fast_handler_are_unchanged_and_documented() -> None:
    """A plain route works as usual; the fast route's declared header is in the OpenAPI."""
    app = _app()
    assert (await _get(app, "/plain")).text == "plain"
    parameters = app.openapi()["paths"]["/fast/{name}"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"name", "X-Token"}
