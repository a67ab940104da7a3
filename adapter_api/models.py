"""The API's own request and response shapes (the canonical records live in ``schemas.models``).

Request bodies refuse unknown fields; the dossier code of a path is not repeated in the body.
Inputs are taken as the OpenAPI document describes them and nothing looser: instants are RFC 3339
strings with an offset (not Unix numbers), dates ``YYYY-MM-DD``, statuses JSON integers. Text
is clean text and times lie in their windows (the types of ``schemas.models``): a dossier's
instants, ``updated_since`` included, in 2000–2099; a birth date from 1900 to today.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from schemas.citizen_id import CitizenId, Sex, validate_citizen_id
from schemas.dossier_code import AgencyCode
from schemas.models import (
    MAX_RELATED_PERSONS,
    ApplicantId,
    BirthDate,
    Code,
    DossierTime,
    LongText,
    RelatedPerson,
    Text,
)
from schemas.status import DossierStatus

_IN = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _rfc3339_text(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise ValueError("must be an RFC 3339 date-time with a UTC offset")
    return value


def _date_text(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _status_number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a status code 1-10 (an integer)")
    return value


#: An instant as RFC 3339 text with an offset.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
#: An instant of a dossier's life as RFC 3339 text with an offset, in 2000–2099.
DossierInstant = Annotated[DossierTime, BeforeValidator(_rfc3339_text)]
#: A calendar date as ``YYYY-MM-DD``.
IsoDate = Annotated[date, BeforeValidator(_date_text)]
#: A birth date as ``YYYY-MM-DD``, from 1900 to today.
BirthDateText = Annotated[BirthDate, BeforeValidator(_date_text)]
#: A dossier status given as a JSON integer.
StatusCode = Annotated[DossierStatus, BeforeValidator(_status_number)]


def validate_official(value: str) -> str:
    """``VN`` followed by the official's CCCD (the form ``OFFICIAL_PATTERN`` checks first)."""
    validate_citizen_id(value[2:])
    return value


#: The official a query is made for (``X-User-Id``): ``VN`` + their CCCD.
Official = Annotated[str, AfterValidator(validate_official)]
_OUT = ConfigDict(frozen=True)


class CitizenView(BaseModel):
    """A citizen, minimised: only the fields the caller is allowed to see are present."""

    model_config = _OUT

    citizen_id: str
    full_name: str | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None
    place_of_origin: str | None = None
    permanent_address: str | None = None
    current_address: str | None = None
    nationality: str | None = None
    ethnicity: str | None = None


class VerifyCitizenRequest(BaseModel):
    """Does the population database hold a citizen with this ID, name and date of birth?"""

    model_config = _IN

    citizen_id: CitizenId
    full_name: Text
    date_of_birth: BirthDateText


class VerifyCitizenResult(BaseModel):
    """Yes or no, and nothing else about the citizen."""

    model_config = _OUT

    match: bool


class DossierBody(BaseModel):
    """A dossier to register or update (its code is the path's)."""

    model_config = _IN

    procedure_code: Code
    agency_code: AgencyCode
    sector_code: Code
    applicant_name: Text
    applicant_id: ApplicantId
    status: StatusCode
    received_at: DossierInstant
    due_at: DossierInstant | None = None
    updated_at: DossierInstant
    title: LongText
    related_persons: list[RelatedPerson] = Field(
        default_factory=list,
        max_length=MAX_RELATED_PERSONS,
        description=(
            "citizens the dossier concerns besides the applicant (child, spouse, deceased, "
            "guardian …): a citizen lookup for the dossier must be about one of them or the "
            "applicant"
        ),
    )


class EventBody(BaseModel):
    """A status change or a progress step of a dossier (its code is the path's)."""

    model_config = _IN

    sequence: int = Field(ge=1, le=2_147_483_647, strict=True)
    status: StatusCode
    occurred_at: DossierInstant
    officer: Text | None = None
    note: LongText | None = None


class SyncStateView(BaseModel):
    """How far the dossier's changes have reached the national portal."""

    model_config = _OUT

    status: str = Field(description="pending, delivered or dead")
    pending: int = Field(description="changes waiting to be delivered")
    dead: int = Field(description="changes given up on (dead letters)")
    delivered: int = Field(description="changes the portal acknowledged")
    last_delivered_at: datetime | None = None
    last_error: str | None = Field(None, description="code of the last delivery failure")


class TimelinessView(BaseModel):
    """Where a dossier stands against its due date (docs/timeliness.md)."""

    model_config = _OUT

    state: str = Field(
        description="early, on_time, late (resolved); on_track, at_risk, overdue (open); "
        "closed (refused, withdrawn, stopped); no_due_date"
    )
    due_at: datetime | None = Field(
        None, description="the effective due time: the appointment moved by paused working days"
    )
    resolved_at: datetime | None = None
    working_days_used: int | None = Field(None, description="working days the agency has used")
    working_days_paused: int = Field(description="working days with the applicant (paused)")
    paused: bool = Field(description="the applicant holds the dossier now")
    due_warning: str | None = Field(
        None, description="why the due date given contradicts the procedure's processing time"
    )


class NoticeStateView(BaseModel):
    """One notice to the applicant: its event and where it is (no phone, no text)."""

    model_config = _OUT

    event: str
    state: str = Field(description="pending, delivered, skipped or dead")
    channel: str | None = Field(None, description="zns or sms")
    attempts: int
    sent_at: datetime | None = None
    last_error: str | None = None


class PushStateView(BaseModel):
    """Where the dossier's webhooks (counts by state) and applicant notices are."""

    model_config = _OUT

    webhooks: dict[str, int] = Field(description="webhook deliveries by state")
    notices: list[NoticeStateView]


class DossierView(BaseModel):
    """A dossier as stored, with its sync state."""

    model_config = _OUT

    code: str
    procedure_code: str
    agency_code: str
    sector_code: str
    applicant_name: str
    applicant_id: str
    status: DossierStatus
    received_at: datetime
    due_at: datetime | None = None
    updated_at: datetime
    title: str
    related_persons: list[RelatedPerson] = Field(default_factory=list)
    last_sequence: int = Field(description="sequence of the last event recorded")
    timeliness: TimelinessView | None = None
    sync: SyncStateView | None = None
    push: PushStateView | None = Field(None, description="webhooks and notices (one dossier)")


class DossierWriteResult(BaseModel):
    """What a dossier write did; a change is queued for the portal in the same transaction."""

    model_config = _OUT

    code: str
    created: bool = Field(description="the dossier was new")
    changed: bool = Field(description="something was written (false: identical to the stored one)")
    status: DossierStatus
    last_sequence: int
    due_at: datetime | None = Field(None, description="the due date stored (given or computed)")
    warnings: list[str] | None = Field(
        None, description="what went ahead but looks wrong (a due date contradicting the procedure)"
    )


class EventView(BaseModel):
    """One recorded step of a dossier's history."""

    model_config = _OUT

    sequence: int
    status: DossierStatus
    occurred_at: datetime
    officer: str | None = None
    note: str | None = None


class EventAccepted(BaseModel):
    """An event accepted and queued for the portal in the same transaction."""

    model_config = _OUT

    dossier_code: str
    sequence: int
    status: DossierStatus
    duplicate: bool = Field(description="this very event was already recorded (a retry)")


class HistoryView(BaseModel):
    """A dossier's events in order, and its sync state."""

    model_config = _OUT

    dossier_code: str
    events: list[EventView]
    sync: SyncStateView | None = None
    timeliness: TimelinessView | None = None


class FeedPage(BaseModel):
    """One page of the dossier feed; pass ``next_cursor`` back to continue."""

    model_config = _OUT

    items: list[DossierView]
    next_cursor: str = Field(description="opaque; where the next page starts (poll again later)")
    has_more: bool = Field(description="more changes are waiting after this page")


class ServiceView(BaseModel):
    """One connector of the catalogue."""

    model_config = _OUT

    name: str
    protocol: str
    operations: list[str]
    health: dict[str, Any]


class CatalogueView(BaseModel):
    """The service catalogue: connectors, operations, health, and what the caller may do."""

    model_config = _OUT

    services: list[ServiceView]
    client: dict[str, Any]


class HealthView(BaseModel):
    """Liveness."""

    model_config = _OUT

    status: str


class ReadinessView(BaseModel):
    """Readiness: each check's verdict."""

    model_config = _OUT

    ready: bool
    checks: dict[str, dict[str, Any]]


class ReportRowView(BaseModel):
    """One group of the timeliness report."""

    model_config = _OUT

    key: str = Field(description="the agency, sector, procedure code or month (YYYY-MM)")
    received: int
    resolved: int
    early: int
    on_time: int
    late: int
    open: int
    open_overdue: int
    closed: int = Field(description="refused, withdrawn or stopped (outside the rates)")
    on_time_rate: float | None = Field(None, description="(early + on time) / resolved")
    early_rate: float | None = None
    late_rate: float | None = None


class TimelinessReportView(BaseModel):
    """Dossiers received in a period, by group: resolved early, on time, late; open overdue."""

    model_config = _OUT

    from_date: date = Field(description="first day of receipt counted (Vietnam time)")
    to_date: date = Field(description="last day of receipt counted (inclusive)")
    group_by: str
    computed_at: datetime
    rows: list[ReportRowView]
    total: ReportRowView


class ApologyView(BaseModel):
    """An apology (phiếu xin lỗi và hẹn lại ngày trả kết quả)."""

    model_config = _OUT

    id: int
    dossier_code: str
    state: str = Field(description="draft or confirmed")
    trigger: str = Field(description="overdue or at_risk")
    original_due_at: datetime
    proposed_due_at: datetime = Field(description="the new appointment (once confirmed: agreed)")
    reason: str | None = None
    created_at: datetime
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None


class ApologyList(BaseModel):
    """Apologies, newest first."""

    model_config = _OUT

    items: list[ApologyView]


class ConfirmApologyBody(BaseModel):
    """Confirm a drafted apology, optionally with another appointment than the one proposed."""

    model_config = _IN

    new_due_at: AwareDatetime | None = Field(
        None, description="the agreed appointment; the proposed one when absent"
    )


__all__ = [
    "ApologyList",
    "ApologyView",
    "BirthDateText",
    "CatalogueView",
    "CitizenView",
    "ConfirmApologyBody",
    "DossierBody",
    "DossierInstant",
    "DossierView",
    "DossierWriteResult",
    "EventAccepted",
    "EventBody",
    "EventView",
    "FeedPage",
    "HealthView",
    "HistoryView",
    "Instant",
    "IsoDate",
    "Official",
    "ReadinessView",
    "ReportRowView",
    "ServiceView",
    "StatusCode",
    "SyncStateView",
    "TimelinessReportView",
    "TimelinessView",
    "VerifyCitizenRequest",
    "VerifyCitizenResult",
    "validate_official",
]
