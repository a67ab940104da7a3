"""Translating the other packages' errors into the API's (status, stable code, upstream named).

| raised by | error | status | code |
|---|---|---|---|
| connectors | ``UpstreamTimeout`` | 504 | ``upstream_timeout`` |
| connectors | ``CircuitOpen`` | 503 | ``circuit_open`` (``Retry-After``) |
| connectors | ``UpstreamUnavailable`` / other ``TransientError`` | 503 | ``upstream_unavailable`` |
| connectors | ``NotFound`` | 404 | ``<what>_not_found`` |
| connectors | ``BadUpstreamSignature`` | 502 | ``upstream_bad_signature`` |
| connectors | ``BadUpstreamResponse`` | 502 | ``upstream_bad_response`` |
| connectors | ``InvalidRequest`` / ``UpstreamRejected`` | 502 | ``upstream_rejected`` |
| schemas | ``IllegalTransition`` | 409 | ``illegal_transition`` |
| schemas | ``InconsistentRecord`` / ``InvalidWireRecord`` | 502 | ``upstream_bad_record`` |
| schemas | other ``SchemaError`` | 422 | ``validation_failed`` (``errors`` names the field) |
| security | ``SecurityError`` (on a request) | 401 | its ``reason`` |
| store | ``DossierNotFound`` | 404 | ``dossier_not_found`` |
| store | ``SequenceConflict`` | 409 | ``sequence_conflict`` |
| store | ``EventBeforeReceipt`` | 409 | ``event_before_receipt`` |
| store | ``EventOutOfOrder`` | 409 | ``event_out_of_order`` |
| store | ``InvalidInitialStatus`` | 422 | ``invalid_initial_status`` |
| store | ``InvalidCursor`` | 400 | ``invalid_cursor`` |
| store | ``DatabaseUnavailable`` | 503 | ``store_unavailable`` |
| timeliness | ``InvalidReportQuery`` | 400 | ``invalid_report_query`` (``field``) |
| timeliness | ``ApologyNotFound`` | 404 | ``apology_not_found`` |
| timeliness | ``ApologyAlreadyDecided`` | 409 | ``apology_already_confirmed`` |
| timeliness | ``InvalidAppointment`` | 422 | ``invalid_appointment`` |
| timeliness | ``CalendarError`` | 422 | its ``code`` |

Every upstream problem carries ``upstream`` and, when known, the upstream ``message_id``.
"""

from __future__ import annotations

from adapter_api.errors import (
    ApiError,
    BadRequest,
    Conflict,
    InvalidInput,
    NotFoundError,
    ServiceUnavailable,
    Unauthenticated,
    UpstreamFailed,
    UpstreamTimedOut,
)
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    CircuitOpen,
    ConnectorError,
    NotFound,
    TransientError,
    UpstreamTimeout,
)
from schemas.errors import IllegalTransition, InconsistentRecord, InvalidWireRecord, SchemaError
from security.errors import SecurityError
from store.errors import (
    DatabaseUnavailable,
    DossierNotFound,
    EventTimeConflict,
    InvalidCursor,
    InvalidInitialStatus,
    SequenceConflict,
)
from timeliness.errors import (
    ApologyAlreadyDecided,
    ApologyNotFound,
    CalendarError,
    InvalidAppointment,
    InvalidReportQuery,
)

_NOT_FOUND_CODES = {
    "population": "citizen_not_found",
    "registry": "business_not_found",
    "portal": "dossier_not_found",
}


def from_connector_error(exc: ConnectorError, *, retry_after: int = 5) -> ApiError:
    """The API error for a connector failure; the upstream is named, never the payload."""
    name = exc.upstream
    if isinstance(exc, UpstreamTimeout):
        return UpstreamTimedOut(
            f"the {name} service did not answer in time",
            upstream=name,
            upstream_message_id=exc.message_id,
        )
    if isinstance(exc, CircuitOpen):
        return ServiceUnavailable(
            f"calls to the {name} service are paused after repeated failures",
            code="circuit_open",
            headers={"Retry-After": str(retry_after)},
            upstream=name,
            upstream_message_id=exc.message_id,
        )
    if isinstance(exc, TransientError):
        return ServiceUnavailable(
            f"the {name} service is unavailable",
            code="upstream_unavailable",
            headers={"Retry-After": str(retry_after)},
            upstream=name,
            upstream_message_id=exc.message_id,
        )
    if isinstance(exc, NotFound):
        code = _NOT_FOUND_CODES.get(name, "not_found")
        return NotFoundError(f"the {name} service has no such record", code=code, upstream=name)
    if isinstance(exc, BadUpstreamSignature):
        return UpstreamFailed(
            f"the {name} service's reply failed signature verification",
            code="upstream_bad_signature",
            reason=exc.fault_code,
            upstream=name,
            upstream_message_id=exc.message_id,
        )
    if isinstance(exc, BadUpstreamResponse):
        return UpstreamFailed(
            f"the {name} service's reply is malformed or does not match the request",
            code="upstream_bad_response",
            upstream=name,
            upstream_message_id=exc.message_id,
        )
    return UpstreamFailed(
        f"the {name} service refused the request",
        code="upstream_rejected",
        fault_code=exc.fault_code,
        upstream=name,
        upstream_message_id=exc.message_id,
    )


def from_schema_error(exc: SchemaError, *, location: str = "body") -> ApiError:
    """The API error for a canonical-schema refusal of the caller's input."""
    if isinstance(exc, IllegalTransition):
        return Conflict(
            exc.message,
            code="illegal_transition",
            current_status=int(exc.old),
            requested_status=int(exc.new),
        )
    field = f"{location}.{exc.field}" if exc.field else location
    return InvalidInput(
        f"invalid {exc.field or 'input'}",
        errors=[{"field": field, "message": exc.message}],
    )


def to_api_error(exc: BaseException, *, upstream: str | None = None) -> ApiError | None:
    """The API error for ``exc``, or ``None`` when it is not one the API knows (a bug: 500).

    ``upstream`` names the system a record came from when a schema error is about its data.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ConnectorError):
        return from_connector_error(exc)
    if isinstance(exc, DossierNotFound):
        return NotFoundError("no such dossier", code="dossier_not_found")
    if isinstance(exc, SequenceConflict):
        return Conflict(
            f"event sequence {exc.given} conflicts; the next sequence is {exc.expected}",
            code="sequence_conflict",
            expected_sequence=exc.expected,
        )
    if isinstance(exc, EventTimeConflict):
        return Conflict(
            "an event's time may not go back: not before the dossier's receipt, not before "
            "its previous event",
            code=exc.code,
        )
    if isinstance(exc, InvalidInitialStatus):
        return InvalidInput(
            "a new dossier must start submitted (1) or accepted (2)",
            code="invalid_initial_status",
            errors=[{"field": "body.status", "message": "not a status a dossier may start in"}],
        )
    if isinstance(exc, InvalidCursor):
        return BadRequest("the cursor was not issued by this service", code="invalid_cursor")
    if isinstance(exc, InvalidReportQuery):
        return BadRequest(str(exc), code=exc.code, field=exc.field)
    if isinstance(exc, ApologyNotFound):
        return NotFoundError("no such apology", code=exc.code)
    if isinstance(exc, ApologyAlreadyDecided):
        return Conflict(str(exc), code=exc.code)
    if isinstance(exc, InvalidAppointment | CalendarError):
        return InvalidInput(
            str(exc), code=exc.code, errors=[{"field": "body.new_due_at", "message": str(exc)}]
        )
    if isinstance(exc, InconsistentRecord | InvalidWireRecord) or (
        upstream is not None and isinstance(exc, SchemaError)
    ):
        name = upstream or "upstream"
        return UpstreamFailed(
            f"the {name} service returned a record that fails validation",
            code="upstream_bad_record",
            upstream=upstream,
        )
    if isinstance(exc, SchemaError):
        return from_schema_error(exc)
    if isinstance(exc, SecurityError):
        return Unauthenticated(exc.message, code=exc.reason)
    if isinstance(exc, DatabaseUnavailable):
        return ServiceUnavailable("the store is unavailable", code="store_unavailable")
    return None


__all__ = ["from_connector_error", "from_schema_error", "to_api_error"]
