"""The public surface of ``connectors``: pinned, importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import connectors

PINNED = {
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
}


def test_all_is_pinned() -> None:
    """Adding or removing a public name is a deliberate change of this list."""
    assert set(connectors.__all__) == PINNED


def test_every_public_name_resolves() -> None:
    """Each name in ``__all__`` is reachable from the package."""
    for name in connectors.__all__:
        assert getattr(connectors, name) is not None


def test_importing_the_error_tree_stays_light() -> None:
    """``connectors.errors`` does not drag zeep or aiohttp in (callers only need the tree)."""
    code = (
        "import sys, connectors.errors, connectors.base;"
        "print(sorted(m for m in ('zeep', 'aiohttp', 'tenacity') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
