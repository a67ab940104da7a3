"""The ``@authority`` values the adapter accepts by default and when configured."""

from __future__ import annotations

import pytest

from lienthong.settings import Settings


def test_sandbox_default_is_the_serve_address_and_its_loopback_names() -> None:
    """In sandbox, host:port plus 127.0.0.1:port and localhost:port; nothing else."""
    settings = Settings(sandbox=True, host="127.0.0.1", port=8123)
    assert settings.resolved_public_authorities == {
        "127.0.0.1:8123",
        "localhost:8123",
    }


def test_outside_sandbox_only_host_port() -> None:
    """Outside sandbox the default is the serve address alone."""
    settings = Settings(sandbox=False, host="10.0.0.5", port=8000)
    assert settings.resolved_public_authorities == {"10.0.0.5:8000"}


def test_configured_names_also_match_without_their_default_port() -> None:
    """A configured name is lower-cased; ``:443``/``:80`` also match the bare host (RFC 9421
    drops a scheme's default port from ``@authority``); the serve address is not added."""
    settings = Settings(
        sandbox=True, port=8000, public_authorities=["API.Lienthong.example:443", "gw:8080"]
    )
    assert settings.resolved_public_authorities == {
        "api.lienthong.example:443",
        "api.lienthong.example",
        "gw:8080",
    }


def test_the_list_comes_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """``LIENTHONG_PUBLIC_AUTHORITIES`` is a JSON list."""
    monkeypatch.setenv("LIENTHONG_PUBLIC_AUTHORITIES", '["a.example:8443"]')
    assert Settings().resolved_public_authorities == {"a.example:8443"}
