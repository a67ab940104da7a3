"""``FastPathRoute``: valid requests read by the fast reader, the rest by FastAPI's parameters."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from adapter_api.routes.fast_path import FastPathRoute, fast_path, without_fast_paths


async def _read(request: Request) -> dict[str, Any] | None:
    value = request.headers.get("x-token")
    if value is None or not value.isdigit():
        return None
    # marked, so that the test sees which path read the header (a real reader never does this)
    return {"name": request.path_params["name"], "token": f"fast {value}"}


async def _caller(request: Request) -> str:
    return request.headers.get("x-caller", "nobody")


async def _needs_a_header(x_key: Annotated[str, Header()]) -> str:
    return x_key


def _app() -> FastAPI:
    router = APIRouter(route_class=FastPathRoute)

    @router.get("/fast/{name}")
    @fast_path(_read)
    async def declared(
        request: Request,
        name: str,
        token: Annotated[str, Header(alias="X-Token", pattern=r"^[0-9]+$")],
        caller: Annotated[str, Depends(_caller)],
    ) -> Response:
        return PlainTextResponse(f"{name} {token} by {caller}")

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


async def test_valid_request_is_read_by_the_fast_reader() -> None:
    """A request the reader vouches for calls the endpoint with the reader's inputs and the
    dependencies resolved, without FastAPI's parameter handling."""
    response = await _get(_app(), "/fast/a", {"X-Token": "42", "X-Caller": "me"})
    assert response.text == "a fast 42 by me"


async def test_other_requests_get_the_declared_parameters_checks() -> None:
    """When the reader declines, the declared parameters decide (here: a 422)."""
    refused = await _get(_app(), "/fast/a", {"X-Token": "abc"})
    missing = await _get(_app(), "/fast/a")
    assert refused.status_code == 422
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "X-Token"]


async def test_without_fast_paths_every_request_takes_the_declared_parameters() -> None:
    """``without_fast_paths`` turns the reader off: the same valid request is read by FastAPI."""
    app = _app()
    without_fast_paths(app)
    response = await _get(app, "/fast/a", {"X-Token": "42", "X-Caller": "me"})
    assert response.text == "a 42 by me"


async def test_routes_without_a_fast_handler_are_unchanged_and_documented() -> None:
    """A plain route works as usual; the fast route's declared header is in the OpenAPI."""
    app = _app()
    assert (await _get(app, "/plain")).text == "plain"
    parameters = app.openapi()["paths"]["/fast/{name}"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"name", "X-Token"}


def test_a_fast_path_refuses_a_dependency_it_cannot_resolve_alone() -> None:
    """A dependency reading parameters of its own cannot be resolved from the request alone:
    the route refuses to be built rather than answer differently from the declared one."""
    router = APIRouter(route_class=FastPathRoute)

    @fast_path(_read)
    async def endpoint(request: Request, key: Annotated[str, Depends(_needs_a_header)]) -> Response:
        return PlainTextResponse(key)

    with pytest.raises(TypeError, match="fast path"):
        router.add_api_route("/x", endpoint)
