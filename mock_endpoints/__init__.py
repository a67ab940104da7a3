"""Mock national endpoints (population SOAP, business registry REST, public service portal).

``create_mock_app(MockSettings(keys_dir=…))`` serves all three at the URL layout listed
in ``mock_endpoints/app.py``; ``lienthong mock serve`` runs it. See ``mock_endpoints/README.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mock_endpoints.data import SyntheticData
from mock_endpoints.faults import FaultPlan, UpstreamFaults
from mock_endpoints.settings import MockSettings

if TYPE_CHECKING:
    from mock_endpoints.app import MockState, create_mock_app


def __getattr__(name: str) -> Any:
    # the app pulls in the HTTP stack and the signature code: load it only when asked for
    if name in ("create_mock_app", "MockState"):
        from mock_endpoints import app

        return getattr(app, name)
    raise AttributeError(name)


__all__ = [
    "FaultPlan",
    "MockSettings",
    "MockState",
    "SyntheticData",
    "UpstreamFaults",
    "create_mock_app",
]
