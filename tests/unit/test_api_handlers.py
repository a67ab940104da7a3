"""Problem documents from the app itself: validation fields, routing errors, the 500 guard."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Header, Path
from pydantic import BaseModel

from adapter_api.errors import Forbidden
from adapter_api.handlers import ErrorBoundary, install_handlers
from adapter_api.openapi import install_openapi
from adapter_api.request_id import RequestIdMiddleware


class Body(BaseModel):
    """A body with one required integer."""

    count: int


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/things/{thing_id}")
    async def post_thing(
        thing_id: Annotated[str, Path(pattern=r"^[0-9]+$")],
        body: Body,
        x_issue: Annotated[str, Header(alias="X-Issue")],
    ) -> dict[str, int]:
        return {"count": body.count}

    @app.get("/v1/forbidden")
    async def forbidden() -> None:
        raise Forbidden("no", code="operation_not_allowed")

    @app.get("/v1/boom")
    async def boom() -> None:
        citizen_id = "00108" + "5000123"
        raise RuntimeError(f"a bug with a citizen id {citizen_id} in its message")

    install_handlers(app)
    install_openapi(app)
    app.add_middleware(ErrorBoundary)
    app.add_middleware(RequestIdMiddleware)
    return app


async def _request(method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_validation_errors_name_each_field() -> None:
    """Path, header and body problems each appear with their location and name."""
    response = await _request("POST", "/v1/things/abc", json={"count": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"path.thing_id", "header.X-Issue", "body.count"}
    assert "many" not in response.text


async def test_malformed_json_is_a_field_error() -> None:
    """A body that is not JSON is a 422 saying so."""
    response = await _request(
        "POST",
        "/v1/things/1",
        content=b"{not json",
        headers={"content-type": "application/json", "X-Issue": "x"},
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.text


async def test_api_errors_become_problems_with_request_id() -> None:
    """An ApiError is rendered with its status, code and the request id."""
    response = await _request("GET", "/v1/forbidden", headers={"X-Request-Id": "abc"})
    problem = response.json()
    assert (response.status_code, problem["code"], problem["request_id"]) == (
        403,
        "operation_not_allowed",
        "abc",
    )


async def test_unexpected_exceptions_are_a_500_problem_without_details() -> None:
    """A bug answers 500 internal_error; its message (maybe personal data) is not echoed."""
    response = await _request("GET", "/v1/boom")
    assert response.status_code == 500
    problem = response.json()
    assert problem["code"] == "internal_error"
    assert "001085000123" not in json.dumps(problem)
    assert response.headers["x-request-id"]


async def test_openapi_lists_problem_statuses() -> None:
    """install_openapi adds the common problem statuses and the Problem schema."""
    doc = (await _request("GET", "/openapi.json")).json()
    responses = doc["paths"]["/v1/things/{thing_id}"]["post"]["responses"]
    assert {"400", "401", "403", "422", "500"} <= set(responses)
    assert responses["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "HTTPValidationError" not in doc["components"]["schemas"]


async def test_the_500_log_line_has_no_exception_message(caplog: pytest.LogCaptureFixture) -> None:
    """The guard logs the exception type and stack, not its message (which may hold an ID)."""
    with caplog.at_level(logging.ERROR, logger="lienthong.api"):
        await _request("GET", "/v1/boom")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError" in text
    assert "001085000123" not in text
