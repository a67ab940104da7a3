"""The API's routers: the core ones, and the optional ones other parts contribute.

Each module in :data:`ROUTER_MODULES` exposes ``router`` (a FastAPI ``APIRouter``). Optional
modules (access log, watch, changes, records) are included when they exist, so the adapter runs
while they are being written and picks them up without an edit here.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

#: (module, required) in the order their routes are matched.
ROUTER_MODULES: tuple[tuple[str, bool], ...] = (
    ("adapter_api.routes.health", True),
    ("adapter_api.routes.services", True),
    ("adapter_api.routes.citizens", True),
    ("adapter_api.routes.businesses", True),
    ("adapter_api.routes.dossiers", True),
    ("adapter_api.routes.timeliness", True),
    ("adapter_api.routes.access_log", False),
    ("adapter_api.routes.watch", False),
    ("adapter_api.routes.changes", False),
    ("adapter_api.routes.records", False),
    ("adapter_api.routes.chains", False),
    ("adapter_api.routes.subscriptions", False),
    ("adapter_api.routes.notices", False),
)


def api_routers() -> list[APIRouter]:
    """The routers to include: every required one, and each optional one that is present."""
    routers = []
    for module_name, required in ROUTER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if required or exc.name != module_name:
                raise
            continue
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            raise TypeError(f"{module_name} must define `router: APIRouter`")
        routers.append(router)
    return routers


__all__ = ["ROUTER_MODULES", "api_routers"]
