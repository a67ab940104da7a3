"""Signed SOAP and REST clients to the national systems, with retries and circuit breaking.

``build_connectors(ConnectorsConfig…)`` gives the population (SOAP + WS-Security + X-Road),
business registry (REST, OAuth2) and portal (REST, session) connectors; ``connectors.errors``
holds the one error tree; ``CallContext`` says who asks and why. Modules: ``base`` (context,
role, settings), ``transport`` (httptools / aiohttp / httpx; ``http_client`` under the first),
``resilience`` (breaker, retries, limits), ``exchange`` (what the message log records),
``soap`` / ``rest`` (the signed bases),
``population`` / ``registry`` / ``portal`` (the concrete connectors), ``factory``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.base import (
        BreakerSettings,
        BreakerState,
        CallContext,
        Connector,
        ConnectorHealth,
        RetrySettings,
        Timeouts,
        UpstreamConfig,
    )
    from connectors.errors import (
        AlreadyExists,
        BadUpstreamResponse,
        BadUpstreamSignature,
        CircuitOpen,
        ConnectorError,
        IllegalMove,
        InvalidRequest,
        NotFound,
        OutOfOrder,
        PermanentError,
        TransientError,
        UpstreamRejected,
        UpstreamTimeout,
        UpstreamUnavailable,
    )
    from connectors.exchange import Exchange, ExchangeRecorder, MemoryRecorder, NullRecorder
    from connectors.factory import Connectors, ConnectorsConfig, build_connectors
    from connectors.population import PopulationConnector
    from connectors.portal import PortalConnector, Procedure
    from connectors.portal_answers import BatchResult, ItemResult, PortalDossier
    from connectors.registry import RegistryConnector
    from connectors.transport import (
        AiohttpTransport,
        FakeTransport,
        HttpResponse,
        HttptoolsTransport,
        Transport,
    )

#: public name -> the module defining it (imported on first use: importing
#: ``connectors.errors`` must not pull in zeep, aiohttp and the security stack)
_MODULES: dict[str, str] = {
    "AiohttpTransport": "connectors.transport",
    "AlreadyExists": "connectors.errors",
    "BadUpstreamResponse": "connectors.errors",
    "BadUpstreamSignature": "connectors.errors",
    "BatchResult": "connectors.portal_answers",
    "BreakerSettings": "connectors.base",
    "BreakerState": "connectors.base",
    "CallContext": "connectors.base",
    "CircuitOpen": "connectors.errors",
    "Connector": "connectors.base",
    "ConnectorError": "connectors.errors",
    "ConnectorHealth": "connectors.base",
    "Connectors": "connectors.factory",
    "ConnectorsConfig": "connectors.factory",
    "Exchange": "connectors.exchange",
    "ExchangeRecorder": "connectors.exchange",
    "FakeTransport": "connectors.transport",
    "HttpResponse": "connectors.transport",
    "HttptoolsTransport": "connectors.transport",
    "IllegalMove": "connectors.errors",
    "InvalidRequest": "connectors.errors",
    "ItemResult": "connectors.portal_answers",
    "MemoryRecorder": "connectors.exchange",
    "NotFound": "connectors.errors",
    "NullRecorder": "connectors.exchange",
    "OutOfOrder": "connectors.errors",
    "PermanentError": "connectors.errors",
    "PopulationConnector": "connectors.population",
    "PortalConnector": "connectors.portal",
    "PortalDossier": "connectors.portal_answers",
    "Procedure": "connectors.portal",
    "RegistryConnector": "connectors.registry",
    "RetrySettings": "connectors.base",
    "Timeouts": "connectors.base",
    "TransientError": "connectors.errors",
    "Transport": "connectors.transport",
    "UpstreamConfig": "connectors.base",
    "UpstreamRejected": "connectors.errors",
    "UpstreamTimeout": "connectors.errors",
    "UpstreamUnavailable": "connectors.errors",
    "build_connectors": "connectors.factory",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AiohttpTransport",
    "AlreadyExists",
    "BadUpstreamResponse",
    "BadUpstreamSignature",
    "BatchResult",
    "BreakerSettings",
    "BreakerState",
    "CallContext",
    "CircuitOpen",
    "Connector",
    "ConnectorError",
    "ConnectorHealth",
    "Connectors",
    "ConnectorsConfig",
    "Exchange",
    "ExchangeRecorder",
    "FakeTransport",
    "HttpResponse",
    "HttptoolsTransport",
    "IllegalMove",
    "InvalidRequest",
    "ItemResult",
    "MemoryRecorder",
    "NotFound",
    "NullRecorder",
    "OutOfOrder",
    "PermanentError",
    "PopulationConnector",
    "PortalConnector",
    "PortalDossier",
    "Procedure",
    "RegistryConnector",
    "RetrySettings",
    "Timeouts",
    "TransientError",
    "Transport",
    "UpstreamConfig",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "build_connectors",
]
