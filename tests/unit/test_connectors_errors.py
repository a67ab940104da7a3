"""The connectors' error tree: what is retryable, what each error carries."""

from __future__ import annotations

import pytest

import connectors.errors as errors
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    CircuitOpen,
    ConnectorError,
    InvalidRequest,
    NotFound,
    PermanentError,
    TransientError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)


@pytest.mark.parametrize("cls", [UpstreamTimeout, UpstreamUnavailable, CircuitOpen])
def test_transient_errors_are_retryable(cls: type[ConnectorError]) -> None:
    """Timeouts, unavailability and an open circuit are transient."""
    exc = cls("x", upstream="population")
    assert isinstance(exc, TransientError)
    assert exc.retryable


@pytest.mark.parametrize(
    "cls", [NotFound, InvalidRequest, UpstreamRejected, BadUpstreamSignature, BadUpstreamResponse]
)
def test_permanent_errors_are_not_retryable(cls: type[ConnectorError]) -> None:
    """Refusals, bad signatures and malformed replies are permanent."""
    exc = cls("x", upstream="registry")
    assert isinstance(exc, PermanentError)
    assert not exc.retryable


def test_error_carries_structured_fields() -> None:
    """An error keeps its upstream, message id, fault code and status, and shows them in repr."""
    exc = NotFound(
        "population: GetCitizen answered CITIZEN_NOT_FOUND",
        upstream="population",
        message_id="abc",
        fault_code="CITIZEN_NOT_FOUND",
        status=500,
    )
    assert (exc.upstream, exc.message_id, exc.fault_code, exc.status) == (
        "population",
        "abc",
        "CITIZEN_NOT_FOUND",
        500,
    )
    assert exc.message.startswith("population:")
    assert "CITIZEN_NOT_FOUND" in repr(exc)


def test_every_error_is_documented_in_the_tree() -> None:
    """Each exported class appears in the module docstring's tree."""
    assert errors.__doc__ is not None
    for name in errors.__all__:
        assert name in errors.__doc__
