"""The public surface of ``mock_endpoints``."""

from __future__ import annotations

import mock_endpoints


def test_all_is_pinned_and_resolves() -> None:
    """``__all__`` names exactly these, and each one resolves (the app lazily)."""
    assert sorted(mock_endpoints.__all__) == [
        "FaultPlan",
        "MockSettings",
        "MockState",
        "SyntheticData",
        "UpstreamFaults",
        "create_mock_app",
    ]
    for name in mock_endpoints.__all__:
        assert getattr(mock_endpoints, name) is not None
