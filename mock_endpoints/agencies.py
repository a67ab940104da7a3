"""The mock agency systems over HTTP: civil status, residence, social security.

Each is REST/JSON behind the same signed path as the registry and the portal
(:class:`mock_endpoints.rest.SignedRest`: the request's RFC 9421 signature checked, the fault
plan applied under the agency's own name, every answer signed by the agency's party)::

    POST /{agency}/api/requests               {"reference", "action", "fields": {…}}
         201 the request as the agency holds it (below); 200 when ``dedupe`` found it again
    GET  /{agency}/api/requests/{reference}   the first request sent under that reference, or 404

    {"reference", "number", "action", "state": "processing" | "verification" | "issued" |
     "refused", "result": {…} | null, "reason": str | null, "received_at", "decided_at"}

Errors are ``{"Code", "Message"}``: 400 ``INVALID_REQUEST``, 401 ``BAD_SIGNATURE``,
404 ``NOT_FOUND``, 503 ``UNAVAILABLE`` (faults). A request is not deduplicated (see
:mod:`mock_endpoints.agency_state`). Admin routes (plain JSON, like the others)::

    GET    /_admin/agencies                          every agency's counts and behaviour, the clock
    PUT    /_admin/agencies/{agency}/behaviour       {"mode", "days", "reason", "count", "dedupe"}
    GET    /_admin/agencies/{agency}/requests        every request (``?reference=`` narrows)
    PUT    /_admin/agencies/clock                    {"offset_days": n}: the agencies' clock
    POST   /_admin/agencies/clock/advance            {"days": n}: let days pass
    DELETE /_admin/agencies                          forget every request, default behaviours
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_endpoints.agency_state import AgencyBook, AgencyClock, AgencyInputError, Behaviour
from mock_endpoints.errors import InvalidChange
from mock_endpoints.responses import JsonResponse
from mock_endpoints.rest import Call, RestAnswer, SignedRest
from security.errors import SecurityError

REQUESTS_PATH = "/{agency}/api/requests"


def agency_error(status: int, code: str, message: str) -> RestAnswer:
    """An error in the ``{"Code", "Message"}`` shape."""
    return RestAnswer(status, {"Code": code, "Message": message})


def signature_error(exc: SecurityError) -> RestAnswer:
    """401 ``BAD_SIGNATURE`` saying why (the reason code, never request content)."""
    return agency_error(
        401, "BAD_SIGNATURE", f"request signature not acceptable: {exc.message} ({exc.reason})"
    )


def unavailable() -> RestAnswer:
    """503 ``UNAVAILABLE`` (fault injection)."""
    return RestAnswer(
        503,
        {"Code": "UNAVAILABLE", "Message": "the agency system is temporarily unavailable"},
        {"retry-after": "1"},
    )


class AgencyService:
    """The two calls of one agency system."""

    def __init__(self, book: AgencyBook) -> None:
        self.book = book

    async def submit(self, call: Call) -> RestAnswer:
        """``POST /{agency}/api/requests``."""
        try:
            body = json.loads(call.body)
        except (ValueError, UnicodeDecodeError):
            return agency_error(400, "INVALID_REQUEST", "the body is not JSON")
        if not isinstance(body, dict):
            return agency_error(400, "INVALID_REQUEST", "the body must be a JSON object")
        try:
            created, view = self.book.submit(
                body.get("reference"), body.get("action"), body.get("fields")
            )
        except AgencyInputError as exc:
            return agency_error(400, "INVALID_REQUEST", str(exc))
        return RestAnswer(201 if created else 200, view)

    async def find(self, call: Call) -> RestAnswer:
        """``GET /{agency}/api/requests/{reference}``."""
        found = self.book.find(call.request.path_params["reference"])
        if found is None:
            return agency_error(404, "NOT_FOUND", "no request has this reference")
        return RestAnswer(200, found)


def agency_routes(books: dict[str, AgencyBook], rests: dict[str, SignedRest]) -> list[BaseRoute]:
    """The data routes of every agency in ``books`` (each through its own ``SignedRest``)."""
    routes: list[BaseRoute] = []
    for name, book in books.items():
        routes += _routes_of(REQUESTS_PATH.format(agency=name), AgencyService(book), rests[name])
    return routes


def _routes_of(path: str, service: AgencyService, rest: SignedRest) -> list[BaseRoute]:
    async def submit(request: Request) -> Response:
        return await rest.run(request, service.submit)

    async def find(request: Request) -> Response:
        return await rest.run(request, service.find)

    return [
        Route(path, submit, methods=["POST"]),
        Route(path + "/{reference}", find, methods=["GET"]),
    ]


class AgencyAdmin:
    """``/_admin/agencies…``: behaviours, requests, the clock."""

    def __init__(self, books: dict[str, AgencyBook], clock: AgencyClock) -> None:
        self.books = books
        self.clock = clock

    def routes(self) -> list[BaseRoute]:
        """The admin routes."""
        return [
            Route("/_admin/agencies", self.index, methods=["GET"]),
            Route("/_admin/agencies", self.clear, methods=["DELETE"]),
            Route("/_admin/agencies/clock", self.set_clock, methods=["PUT"]),
            Route("/_admin/agencies/clock/advance", self.advance, methods=["POST"]),
            Route("/_admin/agencies/{agency}/behaviour", self.behaviour, methods=["PUT"]),
            Route("/_admin/agencies/{agency}/requests", self.requests, methods=["GET"]),
        ]

    def _clock_json(self) -> dict[str, Any]:
        return {
            "now": self.clock.now().isoformat(),
            "offset_days": self.clock.offset.total_seconds() / 86400,
        }

    async def index(self, request: Request) -> Response:
        return JsonResponse(
            {
                "agencies": [book.summary() for book in self.books.values()],
                "clock": self._clock_json(),
            }
        )

    async def clear(self, request: Request) -> Response:
        for book in self.books.values():
            book.clear()
        return JsonResponse({"cleared": sorted(self.books)})

    async def set_clock(self, request: Request) -> Response:
        days = await _number(request, "offset_days")
        if isinstance(days, Response):
            return days
        self.clock.set_offset(days)
        return JsonResponse(self._clock_json())

    async def advance(self, request: Request) -> Response:
        days = await _number(request, "days")
        if isinstance(days, Response):
            return days
        self.clock.advance(days)
        return JsonResponse(self._clock_json())

    async def behaviour(self, request: Request) -> Response:
        book = self.books.get(request.path_params["agency"])
        if book is None:
            return JsonResponse({"error": "no such agency"}, status_code=404)
        try:
            body = json.loads(await request.body())
            book.behaviour = Behaviour.from_json(body)
        except ValueError as exc:  # JSON errors and InvalidChange alike
            message = str(exc) if isinstance(exc, InvalidChange) else "the body is not JSON"
            return JsonResponse({"error": message}, status_code=400)
        return JsonResponse(book.summary())

    async def requests(self, request: Request) -> Response:
        book = self.books.get(request.path_params["agency"])
        if book is None:
            return JsonResponse({"error": "no such agency"}, status_code=404)
        reference = request.query_params.get("reference")
        return JsonResponse({"requests": book.requests(reference)})


async def _number(request: Request, name: str) -> float | Response:
    try:
        body = json.loads(await request.body())
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(name)
        if not -3650 <= value <= 3650:
            raise ValueError(name)
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"error": f"{name} must be a number of days"}, status_code=400)
    return float(value)


__all__ = [
    "REQUESTS_PATH",
    "AgencyAdmin",
    "AgencyService",
    "agency_error",
    "agency_routes",
    "signature_error",
    "unavailable",
]
