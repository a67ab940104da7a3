"""Problem details (RFC 9457): the one shape of every error the API returns.

``type`` is ``urn:lienthong:problem:<code>``; ``code`` is the same stable snake_case code on its
own, for callers that switch on it. Validation problems list the offending fields in ``errors``;
upstream problems name the ``upstream``. ``request_id`` repeats the ``X-Request-Id`` header.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:lienthong:problem:"


class FieldError(BaseModel):
    """One invalid input: where it is (``body.citizen_id``, ``query.cursor``) and why."""

    field: str
    message: str
    code: str | None = Field(
        None, description="what is wrong, when it has a stable code (control_character …)"
    )


class Problem(BaseModel):
    """An RFC 9457 problem document with lienthong's extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI naming the problem kind: urn:lienthong:problem:<code>")
    title: str = Field(description="short, human-readable summary of the problem kind")
    status: int = Field(description="the HTTP status code of this response")
    detail: str = Field(description="explanation specific to this occurrence")
    code: str = Field(description="stable machine-readable code")
    instance: str | None = Field(None, description="the request path")
    request_id: str | None = Field(None, description="the X-Request-Id of the request")
    upstream: str | None = Field(None, description="the national system that failed, if any")
    errors: list[FieldError] | None = Field(None, description="invalid fields, if any")


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The JSON bytes of a problem document (``None`` members left out)."""
    doc: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        doc["instance"] = instance
    if request_id is not None:
        doc["request_id"] = request_id
    if extra:
        doc.update({key: value for key, value in extra.items() if value is not None})
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A ``Response`` carrying a problem document with ``application/problem+json``."""
    body = problem_body(
        status, code, title, detail, instance=instance, request_id=request_id, extra=extra
    )
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_openapi(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting ``statuses`` as problem documents."""
    schema_ref = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema_ref}},
        }
        for status in statuses
    }


_DESCRIPTIONS: dict[int, str] = {
    400: (
        "malformed request (bad header, cursor or parameter; a repeated accountability "
        "header, %2F in the path, a JSON body repeating a key)"
    ),
    401: "unknown client, missing or bad signature, replayed request",
    403: "the client is not allowed this operation",
    404: "no such resource (or not visible to this client)",
    405: "method not allowed",
    406: "not acceptable",
    408: "the request's headers or body did not arrive in time",
    409: "conflicts with the current state (illegal status transition)",
    413: "request body too large",
    414: "request line too long",
    415: "unsupported media type",
    422: "invalid input; `errors` names the fields",
    429: "rate limit or daily budget spent, or too many bodies in flight (see `Retry-After`)",
    431: "request header block too large",
    500: "internal error",
    502: "an upstream national system answered wrongly (named in `upstream`)",
    503: "an upstream is unavailable or its circuit is open (named in `upstream`), or the "
    "adapter has too many bodies in flight",
    504: "an upstream did not answer in time (named in `upstream`)",
}

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "TYPE_PREFIX",
    "FieldError",
    "Problem",
    "problem_body",
    "problem_openapi",
    "problem_response",
]
