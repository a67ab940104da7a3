"""Problem documents and the mapping of every package's errors to a status and a stable code."""

from __future__ import annotations

import json

import pytest

from adapter_api.error_mapping import to_api_error
from adapter_api.errors import ApiError
from adapter_api.problems import PROBLEM_MEDIA_TYPE, problem_response
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    CircuitOpen,
    InvalidRequest,
    NotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.errors import IllegalTransition, InconsistentRecord, InvalidTaxCode
from schemas.status import DossierStatus
from security.errors import ReplayedMessage, UnknownKey
from store.errors import (
    DatabaseUnavailable,
    DossierNotFound,
    InvalidCursor,
    InvalidInitialStatus,
    SequenceConflict,
)


def test_problem_response_has_rfc9457_members() -> None:
    """A problem carries type, title, status, detail and code, as application/problem+json."""
    response = problem_response(
        404, "dossier_not_found", "Not found", "no such dossier", instance="/v1/x", request_id="r1"
    )
    assert response.status_code == 404
    assert response.media_type == PROBLEM_MEDIA_TYPE
    doc = json.loads(bytes(response.body))
    assert doc == {
        "type": "urn:lienthong:problem:dossier_not_found",
        "title": "Not found",
        "status": 404,
        "detail": "no such dossier",
        "code": "dossier_not_found",
        "instance": "/v1/x",
        "request_id": "r1",
    }


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (UpstreamTimeout("t", upstream="population", message_id="m1"), 504, "upstream_timeout"),
        (UpstreamUnavailable("u", upstream="registry"), 503, "upstream_unavailable"),
        (CircuitOpen("c", upstream="portal"), 503, "circuit_open"),
        (NotFound("n", upstream="population"), 404, "citizen_not_found"),
        (NotFound("n", upstream="registry"), 404, "business_not_found"),
        (BadUpstreamSignature("s", upstream="population"), 502, "upstream_bad_signature"),
        (BadUpstreamResponse("r", upstream="population"), 502, "upstream_bad_response"),
        (InvalidRequest("i", upstream="population"), 502, "upstream_rejected"),
        (UpstreamRejected("r", upstream="registry"), 502, "upstream_rejected"),
        (DossierNotFound("000.00.04.H04-261126-0007"), 404, "dossier_not_found"),
        (InvalidCursor("bad"), 400, "invalid_cursor"),
        (SequenceConflict("c", expected=3, given=5), 409, "sequence_conflict"),
        (InvalidInitialStatus("c", 9), 422, "invalid_initial_status"),
        (
            IllegalTransition(DossierStatus.RESULT_DELIVERED, DossierStatus.SUBMITTED),
            409,
            "illegal_transition",
        ),
        (
            InvalidTaxCode("tax_code has a wrong check digit", field="tax_code"),
            422,
            "validation_failed",
        ),
        (InconsistentRecord("x", field="citizen_id"), 502, "upstream_bad_record"),
        (UnknownKey("no such key"), 401, "unknown_key"),
        (ReplayedMessage("replayed"), 401, "replayed_nonce"),
        (DatabaseUnavailable("OperationalError"), 503, "store_unavailable"),
    ],
)
def test_errors_map_to_status_and_code(exc: Exception, status: int, code: str) -> None:
    """Each known error becomes the documented status with its stable code."""
    api_error = to_api_error(exc)
    assert api_error is not None
    assert (api_error.status, api_error.code) == (status, code)


def test_upstream_errors_name_the_upstream_and_message_id() -> None:
    """A 5xx caused by an upstream says which one, and the upstream message id to trace it."""
    api_error = to_api_error(UpstreamTimeout("t", upstream="population", message_id="m-1"))
    assert api_error is not None
    assert api_error.extra["upstream"] == "population"
    assert api_error.extra["upstream_message_id"] == "m-1"
    assert "population" in api_error.detail


def test_circuit_open_says_when_to_retry() -> None:
    """An open breaker answers with Retry-After so callers back off."""
    api_error = to_api_error(CircuitOpen("c", upstream="portal"))
    assert api_error is not None
    assert api_error.headers["Retry-After"].isdigit()


def test_field_errors_name_the_field() -> None:
    """A schema refusal of caller input lists the field in ``errors``."""
    api_error = to_api_error(InvalidTaxCode("tax_code has a wrong check digit", field="tax_code"))
    assert api_error is not None
    assert api_error.extra["errors"] == [
        {"field": "body.tax_code", "message": "tax_code has a wrong check digit"}
    ]


def test_unknown_exceptions_are_not_mapped() -> None:
    """A bug is not disguised as a client error: the mapping leaves it to the 500 guard."""
    assert to_api_error(RuntimeError("boom")) is None
    api_error = ApiError("x")
    assert to_api_error(api_error) is api_error
