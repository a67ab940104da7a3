"""The API's routers, in the order their routes are matched (:data:`ROUTERS`).

Each module here exposes ``router`` (a FastAPI ``APIRouter``); ``adapter_api.app`` includes
every one of them.
"""

from __future__ import annotations

from fastapi import APIRouter

from adapter_api.routes import (
    access_log,
    businesses,
    chains,
    changes,
    citizens,
    dossiers,
    health,
    notices,
    services,
    subscriptions,
    timeliness,
    watch,
)

#: every router of the API, in the order their routes are matched
ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    services.router,
    citizens.router,
    businesses.router,
    dossiers.router,
    timeliness.router,
    access_log.router,
    watch.router,
    changes.router,
    chains.router,
    subscriptions.router,
    notices.router,
)

__all__ = ["ROUTERS"]
