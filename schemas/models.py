"""The canonical records: citizens, businesses and their representatives, dossiers and their events.

All are frozen pydantic v2 models that refuse unknown fields. A validation error names the field
and what is wrong, never the value (``hide_input_in_errors``): these records hold personal data.
Every text field is clean text (``schemas.text``: NFC, no control, bidi or stray zero-width
character); a dossier's times lie in 2000–2099 and a birth date from 1900 to today
(``schemas.times``), so what reaches the store, the XML and the portal is clean or refused.
A record whose fields contradict each other fails with ``InconsistentRecord`` (inside pydantic's
``ValidationError``; ``exc.errors()[i]["ctx"]["error"]`` is the ``SchemaError``).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from schemas.citizen_id import CitizenId, Sex, birth_year_and_sex, parse_citizen_id
from schemas.dossier_code import AgencyCode, DossierCode, parse_dossier_code
from schemas.errors import InconsistentRecord, SchemaError
from schemas.status import DossierStatus
from schemas.tax_code import TaxCode, validate_tax_code
from schemas.text import line_validator, multiline_validator
from schemas.times import VN_TZ, in_dossier_window, plausible_birth_date

#: one line of clean text, not blank, surrounding whitespace removed (names, titles of people)
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(line_validator),
]
#: clean text that may span lines (tab and line feed allowed)
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    AfterValidator(multiline_validator),
]
#: a code: printable, no whitespace
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$"),
    AfterValidator(line_validator),
]
#: an instant of a dossier's life: timezone-aware, within 2000–2099 (Vietnam time)
DossierTime = Annotated[AwareDatetime, AfterValidator(in_dossier_window)]
#: a birth date: from 1900-01-01 up to today
BirthDate = Annotated[date, AfterValidator(plausible_birth_date)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


def validate_applicant_id(s: str) -> str:
    """``s`` when it is a citizen ID (12 digits) or a tax code (10, or 13 with a branch)."""
    if isinstance(s, str) and len(s) == 12 and s.isascii() and s.isdigit():
        parse_citizen_id(s, field="applicant_id")
        return s
    try:
        return validate_tax_code(s)
    except SchemaError as exc:
        raise SchemaError(
            "applicant_id must be a citizen ID (12 digits) or a tax code", field="applicant_id"
        ) from exc


ApplicantId = Annotated[str, AfterValidator(validate_applicant_id)]


class Citizen(BaseModel):
    """A person as the population database knows them."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    citizen_id: CitizenId
    full_name: Text
    date_of_birth: BirthDate
    sex: Sex
    place_of_origin: Text
    permanent_address: Text
    current_address: Text | None = None
    nationality: CountryCode = "VN"
    ethnicity: Text | None = None

    @model_validator(mode="after")
    def _agrees_with_citizen_id(self) -> Self:
        birth_year, sex = birth_year_and_sex(self.citizen_id)  # the field is valid by now
        problems = []
        if birth_year != self.date_of_birth.year:
            problems.append("citizen ID birth year does not match date_of_birth")
        if sex is not self.sex:
            problems.append("citizen ID sex digit does not match sex")
        if problems:
            raise InconsistentRecord("; ".join(problems), field="citizen_id")
        return self


class BusinessStatus(StrEnum):
    """Legal status of a business (the registry's *tình trạng pháp lý*; see ``wire.registry``)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DISSOLVING = "dissolving"
    DISSOLVED = "dissolved"
    BANKRUPT = "bankrupt"
    LICENCE_REVOKED = "licence_revoked"
    NOT_AT_REGISTERED_ADDRESS = "not_at_registered_address"


class Representative(BaseModel):
    """A legal representative of a business."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    citizen_id: CitizenId
    full_name: Text
    position: Text | None = None


class Business(BaseModel):
    """An enterprise or branch as the business registry knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    tax_code: TaxCode
    name: Text
    english_name: Text | None = None
    short_name: Text | None = None
    status: BusinessStatus
    legal_form: Text
    registered_on: date
    head_office_address: Text
    representatives: tuple[Representative, ...] = ()


class PersonRole(StrEnum):
    """How a person listed on a dossier is concerned by it (besides the applicant)."""

    CHILD = "child"
    SPOUSE = "spouse"
    PARENT = "parent"
    DECEASED = "deceased"
    GUARDIAN = "guardian"
    WARD = "ward"
    REPRESENTATIVE = "representative"
    OTHER = "other"


class RelatedPerson(BaseModel):
    """A citizen a dossier concerns besides its applicant: the child of a birth registration,
    the deceased of a death registration, the spouse of a marriage … (``PersonRole``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    citizen_id: CitizenId
    role: PersonRole


#: how many persons a dossier may list besides its applicant
MAX_RELATED_PERSONS = 20


class Dossier(BaseModel):
    """An administrative-procedure dossier (*hồ sơ*) and its current status.

    ``related_persons`` lists the citizens it concerns besides the applicant; a citizen lookup
    made for the dossier must be about one of them or the applicant (purpose binding).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    code: DossierCode
    procedure_code: Code
    agency_code: AgencyCode
    sector_code: Code
    applicant_name: Text
    applicant_id: ApplicantId
    status: DossierStatus
    received_at: DossierTime
    due_at: DossierTime | None = None
    updated_at: DossierTime
    title: LongText
    related_persons: tuple[RelatedPerson, ...] = Field((), max_length=MAX_RELATED_PERSONS)

    @property
    def person_ids(self) -> frozenset[str]:
        """The citizen IDs a lookup for this dossier may concern: applicant and listed persons."""
        return frozenset({self.applicant_id, *(p.citizen_id for p in self.related_persons)})

    @model_validator(mode="after")
    def _times_agree(self) -> Self:
        problems = []
        received_on = parse_dossier_code(self.code, field="code").received_on
        if self.received_at.astimezone(VN_TZ).date() != received_on:
            problems.append("dossier code receipt date does not match received_at (Vietnam time)")
        if self.due_at is not None and self.due_at < self.received_at:
            problems.append("due_at is before received_at")
        if self.updated_at < self.received_at:
            problems.append("updated_at is before received_at")
        if problems:
            raise InconsistentRecord("; ".join(problems), field="received_at")
        listed = [(p.citizen_id, p.role) for p in self.related_persons]
        if len(set(listed)) != len(listed):
            raise InconsistentRecord(
                "related_persons lists the same person in the same role twice",
                field="related_persons",
            )
        return self


class DossierEvent(BaseModel):
    """One step in a dossier's life: a status change or a progress step within a status."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    dossier_code: DossierCode
    sequence: Annotated[int, Field(ge=1, strict=True)]
    status: DossierStatus
    occurred_at: DossierTime
    officer: Text | None = None
    note: LongText | None = None

    @property
    def idempotency_key(self) -> str:
        """A key naming this step for the portal: the same step always has the same key."""
        return f"{self.dossier_code}#{self.sequence}"
