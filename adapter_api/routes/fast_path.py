"""The hot routes' fast paths: valid requests skip FastAPI's generic parameter machinery.

Why: FastAPI resolves an endpoint's parameters generically — each one looked up, validated by
pydantic and collected — about 70 µs of CPU per citizen lookup measured on this machine, worth
skipping on the busiest routes. Only the *reading of the inputs* is shadowed: the endpoint's
body runs on both paths.

How: an endpoint decorated with :func:`fast_path` keeps its declared signature (the OpenAPI
document and every refusal come from it) and names a *reader* ``(request) -> inputs | None``.
When the reader vouches for a request it returns the endpoint's declared inputs by parameter
name, already checked; :class:`FastPathRoute` then resolves the endpoint's dependencies (each a
function of the request alone, such as ``adapter_api.auth.require``) and calls the endpoint.
When it returns ``None`` the request goes through FastAPI's own handler, which answers the
precise problem.

The readers and the plain paths they shadow:

* :func:`citizen_lookup_inputs` — ``GET /v1/citizens/{citizen_id}``
  (``adapter_api.routes.citizens.get_citizen``): the path's CCCD, ``X-User-Id``, ``X-Issue``;
  read by the direct route that serves this request before FastAPI sees it
  (:mod:`adapter_api.routes.direct`);
* :func:`read_dossier_write` — ``PUT /v1/dossiers/{dossier_code}``
  (``adapter_api.routes.dossiers.put_dossier``): the path's code and the ``DossierBody``;
* :func:`read_event` — ``POST /v1/dossiers/{dossier_code}/events``
  (``adapter_api.routes.dossiers.post_event``): the path's code and the ``EventBody``.

What must stay identical: a reader accepts nothing the declared parameters refuse and reads the
same values from what it accepts — the same patterns, validators and models (a body read from
its JSON text by pydantic rather than from ``json.loads``'s objects). Whatever it is not sure of
(a header missing or repeated, another content type, a body the model refuses) it leaves to
FastAPI. ``tests/unit/test_api_fast_path_parity.py`` sends the same requests, valid and invalid,
through both paths (:func:`without_fast_paths` turns an app's fast paths off) and requires the
same status, problem code and body. The same switch turns the direct route off
(:func:`fast_paths_on`).
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from adapter_api.models import DossierBody, EventBody, validate_official
from schemas.citizen_id import validate_citizen_id
from schemas.dossier_code import validate_dossier_code
from schemas.errors import SchemaError
from schemas.patterns import CITIZEN_ID_PATTERN, DOSSIER_CODE_PATTERN, OFFICIAL_PATTERN

#: an endpoint's declared inputs by parameter name (its dependencies and request left out)
Inputs = dict[str, Any]
FastReader = Callable[[Request], Awaitable[Inputs | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_Body = TypeVar("_Body", bound=BaseModel)

_ATTRIBUTE = "__lienthong_fast_path__"


def fast_path(read: FastReader) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint to be called with ``read``'s inputs when ``read`` vouches for them."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, read)
        return endpoint

    return mark


#: a dependency the fast path resolves: (the endpoint's parameter, the function, its request
#: parameter's name)
_Resolver = tuple[str, Callable[..., Awaitable[Any]], str]


def _resolver(dependency: Dependant) -> _Resolver | None:
    """How to resolve ``dependency`` when it is an async function of the request alone (no
    parameters of its own to read, nothing below it); None for any other."""
    call, name, request = dependency.call, dependency.name, dependency.request_param_name
    if (
        call is None
        or name is None
        or request is None
        or not inspect.iscoroutinefunction(call)
        or dependency.path_params
        or dependency.query_params
        or dependency.header_params
        or dependency.cookie_params
        or dependency.body_params
        or dependency.dependencies
    ):
        return None
    return name, call, request


#: the apps whose requests all take the plain path (:func:`without_fast_paths`); a route is
#: shared by every app that includes its router, so the choice is the app's, made per request
_PLAIN_APPS: weakref.WeakSet[Any] = weakref.WeakSet()
#: whether any app ever took the plain path (a plain flag: the set's ``len`` is Python code)
_plain_apps_made = False


def fast_paths_on(scope: Scope) -> bool:
    """Whether the request of ``scope`` may take a fast path (its app's choice,
    :func:`without_fast_paths`)."""
    return not _plain_apps_made or scope.get("app") not in _PLAIN_APPS


def fast_paths_on_app(app: Any) -> bool:
    """Whether ``app``'s requests may take fast paths (:func:`without_fast_paths`)."""
    return not _plain_apps_made or app not in _PLAIN_APPS


class FastPathRoute(APIRoute):
    """An ``APIRoute`` that tries its endpoint's :func:`fast_path` reader first.

    Only the route's own dependencies are resolved on the fast path: a router holding fast
    paths is included without dependencies of its own (``include_router(dependencies=...)``).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()
        read: FastReader | None = getattr(self.endpoint, _ATTRIBUTE, None)
        if read is None:
            return standard
        request_name = self.dependant.request_param_name
        found = [_resolver(dependency) for dependency in self.dependant.dependencies]
        resolvers = [resolver for resolver in found if resolver is not None]
        if request_name is None or len(resolvers) != len(found):
            raise TypeError(
                f"{self.path}: a fast path needs the endpoint to take the request and "
                "depend only on async functions of the request"
            )
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            if fast_paths_on(request.scope):
                inputs = await read(request)
                if inputs is not None:
                    for name, resolve, request_parameter in resolvers:
                        inputs[name] = await resolve(**{request_parameter: request})
                    response: Response = await endpoint(**{request_name: request}, **inputs)
                    return response
            return await standard(request)

        return handler


def without_fast_paths(app: FastAPI) -> None:
    """Answer every request of ``app`` through the declared parameters only (the parity
    tests' plain side; also a way to rule a fast path out when chasing a bug)."""
    global _plain_apps_made
    _PLAIN_APPS.add(app)
    _plain_apps_made = True


# ------------------------------------------------------------------------------- readers

_CITIZEN_ID = re.compile(CITIZEN_ID_PATTERN)
_OFFICIAL = re.compile(OFFICIAL_PATTERN)
_DOSSIER_CODE = re.compile(DOSSIER_CODE_PATTERN)
#: the purpose headers of a lookup, ``X-User-Id`` and ``X-Issue``, as raw names: both single
#: fields, which the front layer reads (``adapter_api.request_guard.SINGLE_HEADER_NAMES``)
_PURPOSE_HEADERS = (b"x-user-id", b"x-issue")


def single_headers(
    headers: Iterable[tuple[bytes, bytes]], first: bytes, second: bytes
) -> tuple[str, str] | None:
    """The one value of header ``first`` and the one of header ``second`` (lower-case) among
    the ASGI ``headers``, read in one pass; None when either is absent or repeated."""
    one: str | None = None
    two: str | None = None
    for key, value in headers:
        if key == first:
            if one is not None:
                return None
            one = value.decode("latin-1")
        elif key == second:
            if two is not None:
                return None
            two = value.decode("latin-1")
    return None if one is None or two is None else (one, two)


def citizen_lookup_inputs(
    citizen_id: str,
    headers: Iterable[tuple[bytes, bytes]],
    single: dict[bytes, bytes] | None = None,
) -> Inputs | None:
    """``get_citizen``'s inputs when valid: the path's CCCD (``citizen_id``) and the purpose
    headers among the ASGI ``headers``, checked with the declared parameters' patterns and
    validators; None when any is missing, repeated or refused.

    ``single``, when given, is the first value of each single field among ``headers``, which
    repeat none of them: what the server's protocol or the front layer leaves in the scope
    (``adapter_api.request_guard.SINGLE_FIELDS_KEY``). The purpose headers (single fields)
    are read there: each is there once or not at all, its value the one the headers carry,
    what :func:`single_headers` would read."""
    if single is None:
        purpose = single_headers(headers, *_PURPOSE_HEADERS)
        if purpose is None:
            return None
        user_id, issue = purpose
    else:
        raw_user_id = single.get(b"x-user-id")
        raw_issue = single.get(b"x-issue")
        if raw_user_id is None or raw_issue is None:
            return None
        user_id, issue = raw_user_id.decode("latin-1"), raw_issue.decode("latin-1")
    if (
        _CITIZEN_ID.fullmatch(citizen_id) is None
        or _OFFICIAL.fullmatch(user_id) is None
        or _DOSSIER_CODE.fullmatch(issue) is None
    ):
        return None
    try:
        validate_citizen_id(citizen_id)
        validate_official(user_id)
        validate_dossier_code(issue)
    except SchemaError:
        return None
    return {"citizen_id": citizen_id, "user_id": user_id, "issue": issue}


async def read_coded_body(request: Request, model: type[_Body]) -> Inputs | None:
    """The path's dossier code (pattern and validator checked) and the JSON body as
    ``model``, as ``dossier_code`` and ``body``; None for a body that is not
    ``application/json`` or that ``model`` refuses."""
    code = request.path_params.get("dossier_code")
    content_type = request.headers.get("content-type", "")
    if (
        not isinstance(code, str)
        or _DOSSIER_CODE.fullmatch(code) is None
        or content_type.partition(";")[0].strip().lower() != "application/json"
    ):
        return None
    try:
        validate_dossier_code(code)
        body = model.model_validate_json(await request.body())
    except (SchemaError, ValidationError):
        return None
    return {"dossier_code": code, "body": body}


async def read_dossier_write(request: Request) -> Inputs | None:
    """``put_dossier``'s inputs when valid."""
    return await read_coded_body(request, DossierBody)


async def read_event(request: Request) -> Inputs | None:
    """``post_event``'s inputs when valid."""
    return await read_coded_body(request, EventBody)


__all__ = [
    "FastPathRoute",
    "FastReader",
    "Inputs",
    "citizen_lookup_inputs",
    "fast_path",
    "fast_paths_on",
    "fast_paths_on_app",
    "read_coded_body",
    "read_dossier_write",
    "read_event",
    "single_headers",
    "without_fast_paths",
]
