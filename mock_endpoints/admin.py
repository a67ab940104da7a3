"""Admin routes of the mock (``/_admin/…``): the test data, what the portal holds, faults, changes.

Plain JSON, neither signed nor authenticated: they are for integrators and tests on a sandbox
that listens on 127.0.0.1. Lists take ``?limit=N`` (default 100, ``0`` or ``all`` for everything).

    GET    /_admin                                   index of these routes
    GET    /_admin/faults                            the fault plan and counters
    PUT    /_admin/faults                            replace the whole plan {upstream: {...}}
    PUT    /_admin/faults/{upstream}                 replace one upstream's faults
    DELETE /_admin/faults                            no faults anywhere
    GET    /_admin/population/citizens               citizens (ID, name, birth date, …, version)
    GET    /_admin/population/citizens/{id}          one citizen
    PATCH  /_admin/population/citizens/{id}          change one: {"province_code": "079"} moves
                                                     them; or permanent_address, current_address,
                                                     full_name, ethnicity
    GET    /_admin/registry/businesses               businesses (tax code, name, status, …)
    GET    /_admin/registry/businesses/{tax_code}    one business, in the registry's JSON too
    PATCH  /_admin/registry/businesses/{tax_code}    change one: {"status": "dissolved"} …
    DELETE /_admin/registry/tokens                   expire every access token now
    GET    /_admin/portal/procedures                 the procedure catalogue
    GET    /_admin/portal/dossiers                   dossiers the portal holds (code, status)
    GET    /_admin/portal/summary                    how many dossiers and progress steps it holds
    GET    /_admin/portal/dossiers/{dossier_code}    one: record, status, every step held with
                                                     how many times it arrived
    DELETE /_admin/portal/dossiers/{dossier_code}    lose one dossier (a portal that lost it)
    DELETE /_admin/portal/dossiers                   forget every dossier
    DELETE /_admin/portal/sessions                   expire every session now
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_endpoints.errors import FaultSpecError, InvalidChange, UnknownRecord
from mock_endpoints.faults import FaultPlan, UpstreamFaults, parse_plan_json
from mock_endpoints.portal_state import PortalState
from mock_endpoints.records import MockRecords, Versioned
from mock_endpoints.responses import JsonResponse
from mock_endpoints.tokens import TokenStore
from schemas.models import Business, Citizen
from schemas.wire.registry import STATUS_TEXT, business_to_registry

DEFAULT_LIMIT = 100


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status_code=status)


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if raw == "all":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise InvalidChange("limit must be a non-negative integer or 'all'")
    value = int(raw)
    return None if value == 0 else value


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidChange("the body must be JSON") from exc


def citizen_json(item: Versioned[Citizen]) -> dict[str, Any]:
    """A citizen as the admin routes list it."""
    return {
        **item.record.model_dump(mode="json"),
        "version": item.version,
        "changed_at": item.changed_at,
    }


def business_json(item: Versioned[Business], *, wire: bool = False) -> dict[str, Any]:
    """A business as the admin routes list it (``wire``: with the registry's JSON)."""
    data = {
        **item.record.model_dump(mode="json"),
        "status_text": STATUS_TEXT[item.record.status],
        "version": item.version,
        "changed_at": item.changed_at,
    }
    if wire:
        data["registry_json"] = business_to_registry(item.record)
    return data


class AdminRoutes:
    """The ``/_admin`` routes over the mock's state."""

    def __init__(
        self,
        *,
        records: MockRecords,
        faults: FaultPlan,
        portal: PortalState | None,
        tokens: TokenStore | None,
        served: tuple[str, ...],
    ) -> None:
        self.records = records
        self.faults = faults
        self.portal = portal
        self.tokens = tokens
        self.served = served

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes (only those of the systems served, plus faults)."""
        routes: list[BaseRoute] = [
            Route("/_admin", self.index, methods=["GET"]),
            Route("/_admin/faults", self.get_faults, methods=["GET"]),
            Route("/_admin/faults", self.put_faults, methods=["PUT"]),
            Route("/_admin/faults", self.clear_faults, methods=["DELETE"]),
            Route("/_admin/faults/{upstream}", self.put_upstream_faults, methods=["PUT"]),
        ]
        if "population" in self.served:
            routes += [
                Route("/_admin/population/citizens", self.citizens, methods=["GET"]),
                Route("/_admin/population/citizens/{citizen_id}", self.citizen, methods=["GET"]),
                Route(
                    "/_admin/population/citizens/{citizen_id}",
                    self.change_citizen,
                    methods=["PATCH"],
                ),
            ]
        if "registry" in self.served:
            routes += [
                Route("/_admin/registry/businesses", self.businesses, methods=["GET"]),
                Route("/_admin/registry/businesses/{tax_code}", self.business, methods=["GET"]),
                Route(
                    "/_admin/registry/businesses/{tax_code}",
                    self.change_business,
                    methods=["PATCH"],
                ),
                Route("/_admin/registry/tokens", self.expire_tokens, methods=["DELETE"]),
            ]
        if "portal" in self.served:
            routes += [
                Route("/_admin/portal/procedures", self.procedures, methods=["GET"]),
                Route("/_admin/portal/dossiers", self.dossiers, methods=["GET"]),
                Route("/_admin/portal/summary", self.summary, methods=["GET"]),
                Route("/_admin/portal/dossiers", self.clear_dossiers, methods=["DELETE"]),
                Route("/_admin/portal/dossiers/{dossier_code}", self.dossier, methods=["GET"]),
                Route(
                    "/_admin/portal/dossiers/{dossier_code}",
                    self.forget_dossier,
                    methods=["DELETE"],
                ),
                Route("/_admin/portal/sessions", self.expire_sessions, methods=["DELETE"]),
            ]
        return routes

    async def index(self, request: Request) -> Response:
        """``GET /_admin``: what is served and where."""
        return JsonResponse({"served": list(self.served), "routes": __doc__})

    # -- faults ------------------------------------------------------------------------------

    async def get_faults(self, request: Request) -> Response:
        """``GET /_admin/faults``."""
        return JsonResponse(self.faults.to_json())

    async def put_faults(self, request: Request) -> Response:
        """``PUT /_admin/faults``: the whole plan; upstreams left out inject nothing."""
        try:
            plan = parse_plan_json(await _json_body(request))
        except (FaultSpecError, InvalidChange) as exc:
            return _error(400, str(exc))
        self.faults.replace_all(plan)
        return JsonResponse(self.faults.to_json())

    async def put_upstream_faults(self, request: Request) -> Response:
        """``PUT /_admin/faults/{upstream}``: one upstream's faults."""
        try:
            faults = UpstreamFaults.from_json(await _json_body(request))
            self.faults.set(request.path_params["upstream"], faults)
        except (FaultSpecError, InvalidChange) as exc:
            return _error(400, str(exc))
        return JsonResponse(self.faults.to_json())

    async def clear_faults(self, request: Request) -> Response:
        """``DELETE /_admin/faults``."""
        self.faults.replace_all({})
        return JsonResponse(self.faults.to_json())

    # -- population --------------------------------------------------------------------------

    async def citizens(self, request: Request) -> Response:
        """``GET /_admin/population/citizens?limit=``."""
        try:
            limit = _limit(request)
        except InvalidChange as exc:
            return _error(400, str(exc))
        items = self.records.citizens(limit)
        total = self.records.citizen_count()
        return JsonResponse({"total": total, "citizens": [citizen_json(c) for c in items]})

    async def citizen(self, request: Request) -> Response:
        """``GET /_admin/population/citizens/{citizen_id}``."""
        item = self.records.citizen_entry(request.path_params["citizen_id"])
        if item is None:
            return _error(404, "no such citizen")
        return JsonResponse(citizen_json(item))

    async def change_citizen(self, request: Request) -> Response:
        """``PATCH /_admin/population/citizens/{citizen_id}``."""
        try:
            changes = await _json_body(request)
            if not isinstance(changes, dict):
                raise InvalidChange("the body must be a JSON object")
            changed = self.records.change_citizen(request.path_params["citizen_id"], changes)
        except UnknownRecord as exc:
            return _error(404, str(exc))
        except InvalidChange as exc:
            return _error(400, str(exc))
        return JsonResponse(citizen_json(changed))

    # -- registry ----------------------------------------------------------------------------

    async def businesses(self, request: Request) -> Response:
        """``GET /_admin/registry/businesses?limit=``."""
        try:
            limit = _limit(request)
        except InvalidChange as exc:
            return _error(400, str(exc))
        items = self.records.businesses(limit)
        total = self.records.business_count()
        return JsonResponse({"total": total, "businesses": [business_json(b) for b in items]})

    async def business(self, request: Request) -> Response:
        """``GET /_admin/registry/businesses/{tax_code}``."""
        item = self.records.business_entry(request.path_params["tax_code"])
        if item is None:
            return _error(404, "no such business")
        return JsonResponse(business_json(item, wire=True))

    async def change_business(self, request: Request) -> Response:
        """``PATCH /_admin/registry/businesses/{tax_code}``."""
        try:
            changes = await _json_body(request)
            if not isinstance(changes, dict):
                raise InvalidChange("the body must be a JSON object")
            changed = self.records.change_business(request.path_params["tax_code"], changes)
        except UnknownRecord as exc:
            return _error(404, str(exc))
        except InvalidChange as exc:
            return _error(400, str(exc))
        return JsonResponse(business_json(changed, wire=True))

    async def expire_tokens(self, request: Request) -> Response:
        """``DELETE /_admin/registry/tokens``."""
        count = self.tokens.revoke_all() if self.tokens is not None else 0
        return JsonResponse({"expired": count})

    # -- portal ------------------------------------------------------------------------------

    async def procedures(self, request: Request) -> Response:
        """``GET /_admin/portal/procedures?limit=``."""
        assert self.portal is not None
        try:
            limit = _limit(request)
        except InvalidChange as exc:
            return _error(400, str(exc))
        found = self.portal.procedures()
        shown = found if limit is None else found[:limit]
        return JsonResponse(
            {"total": len(found), "procedures": [procedure.to_wire() for procedure in shown]}
        )

    async def dossiers(self, request: Request) -> Response:
        """``GET /_admin/portal/dossiers?limit=``."""
        assert self.portal is not None
        try:
            limit = _limit(request)
        except InvalidChange as exc:
            return _error(400, str(exc))
        return JsonResponse({"dossiers": self.portal.dossier_codes(limit)})

    async def summary(self, request: Request) -> Response:
        """``GET /_admin/portal/summary``: dossiers held and progress steps applied, in total."""
        assert self.portal is not None
        held = self.portal.dossier_codes()
        return JsonResponse(
            {"dossiers": len(held), "progress": sum(item["progress"] for item in held)}
        )

    async def dossier(self, request: Request) -> Response:
        """``GET /_admin/portal/dossiers/{dossier_code}``."""
        assert self.portal is not None
        held = self.portal.held(request.path_params["dossier_code"])
        if held is None:
            return _error(404, "the portal holds no such dossier")
        return JsonResponse(held)

    async def forget_dossier(self, request: Request) -> Response:
        """``DELETE /_admin/portal/dossiers/{dossier_code}``: the portal loses that dossier."""
        assert self.portal is not None
        if not self.portal.forget(request.path_params["dossier_code"]):
            return _error(404, "the portal holds no such dossier")
        return JsonResponse({"forgotten": 1})

    async def clear_dossiers(self, request: Request) -> Response:
        """``DELETE /_admin/portal/dossiers``."""
        assert self.portal is not None
        return JsonResponse({"forgotten": self.portal.clear()})

    async def expire_sessions(self, request: Request) -> Response:
        """``DELETE /_admin/portal/sessions``."""
        assert self.portal is not None
        return JsonResponse({"expired": self.portal.expire_sessions()})


__all__ = ["DEFAULT_LIMIT", "AdminRoutes", "business_json", "citizen_json"]
