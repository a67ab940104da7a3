"""The OpenAPI document: every status a route can answer is listed, errors as problem+json.

Routes declare their own extra statuses with :func:`responses`; :func:`install_openapi` adds
what every ``/v1`` operation can answer (400, 401, 403, 413, 422, 429, 500, 503), the
``Problem`` schema and
the HTTP Message Signatures security scheme, and documents the ``X-Request-Id`` response header.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from adapter_api.problems import PROBLEM_MEDIA_TYPE, Problem, problem_openapi

#: Statuses any signed ``/v1`` operation can answer (413: a body over the route's limit; 429:
#: a rate limit spent, or the client's bodies in flight; 503: the adapter's bodies in flight).
COMMON_STATUSES = (400, 401, 403, 413, 422, 429, 500, 503)
#: Statuses an operation that calls a national system can add.
UPSTREAM_STATUSES = (502, 503, 504)

_SECURITY_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "Signature",
    "description": (
        "HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530). Cover `@method`, "
        "`@target-uri`, `content-type` and `content-digest` with `created`, `expires`, `keyid` "
        "(your client id) and `nonce`; label `sig1`. Responses are signed by the adapter and "
        "bound to the request with `;req`."
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's extra problem statuses (404, 409, 502 …)."""
    return problem_openapi(*statuses)


def _with_request_id_header(response: dict[str, Any]) -> None:
    headers = response.setdefault("headers", {})
    headers.setdefault(
        "X-Request-Id",
        {
            "description": "the request's X-Request-Id, or a new UUID",
            "schema": {"type": "string"},
        },
    )


def install_openapi(app: FastAPI, *, signed_prefix: str = "/v1") -> None:
    """Replace ``app.openapi`` by one that completes every operation's responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schemas["Problem"].pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        components.setdefault("securitySchemes", {})["HttpMessageSignature"] = _SECURITY_SCHEME
        for path, operations in schema.get("paths", {}).items():
            signed = path.startswith(signed_prefix)
            for operation in operations.values():
                answers: dict[str, Any] = operation.setdefault("responses", {})
                extra = COMMON_STATUSES if signed else (500,)
                for status, entry in problem_openapi(*extra).items():
                    answers.setdefault(str(status), entry)
                if "422" in answers:
                    answers["422"] = problem_openapi(422)[422]
                for entry in answers.values():
                    _with_request_id_header(entry)
                    content = entry.get("content", {})
                    if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                        content.pop("application/json")
                if signed:
                    operation["security"] = [{"HttpMessageSignature": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["COMMON_STATUSES", "UPSTREAM_STATUSES", "install_openapi", "responses"]
