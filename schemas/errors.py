"""Errors raised by ``schemas``: bad identifiers, bad times, contradictions, illegal transitions.

Messages name the field and what is wrong, never the value (identifiers are personal data)::

    SchemaError(ValueError)          every error in this package; ``.field`` names what is wrong
    ├── InvalidCitizenId             a CCCD that is not 12 digits, or has an unknown region/century
    ├── InvalidTaxCode               an MST of the wrong shape, check digit or branch suffix
    ├── InvalidDossierCode           a dossier or agency code of the wrong shape, date or serial
    ├── IllegalTransition            a dossier status change the lifecycle does not allow
    ├── InconsistentRecord           a record whose fields contradict each other (ID vs birth date)
    ├── InvalidWireTime              a portal time that is not ``yyyyMMddHHmmss`` or a real instant
    ├── NaiveDatetime                a datetime without a time zone where an instant is needed
    └── InvalidWireRecord            a wire payload (SOAP body, registry or portal JSON) that does
                                     not map to a canonical model; ``.problems`` lists each field

Being ``ValueError`` subclasses, they become field errors when raised inside pydantic validators.
"""

from __future__ import annotations

from typing import Protocol


class StatusLike(Protocol):
    """What an :class:`IllegalTransition` reads of a status (``schemas.status.DossierStatus``
    fits; named here so that the error tree does not import the lifecycle that raises it)."""

    @property
    def label(self) -> str: ...

    def __int__(self) -> int: ...


class SchemaError(ValueError):
    """Raised when a value does not meet the canonical schema; ``field`` names the value's role."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidCitizenId(SchemaError):
    """Raised when a citizen ID (CCCD) is malformed: length, digits, region code or century."""


class InvalidTaxCode(SchemaError):
    """Raised when a tax code (MST) is malformed: length, digits, check digit or branch."""


class InvalidDossierCode(SchemaError):
    """Raised when a dossier code or an agency code is malformed: shape, date or serial."""


class IllegalTransition(SchemaError):
    """Raised when a dossier would move between two statuses the lifecycle does not connect."""

    def __init__(self, old: StatusLike, new: StatusLike) -> None:
        super().__init__(
            f"illegal dossier status transition {int(old)} ({old.label}) -> "
            f"{int(new)} ({new.label})",
            field="status",
        )
        self.old = old
        self.new = new


class InconsistentRecord(SchemaError):
    """Raised when two fields of one record contradict each other (e.g. CCCD and birth date)."""


class InvalidWireTime(SchemaError):
    """Raised when a portal time string is not ``yyyyMMddHHmmss`` naming a real local time."""


class NaiveDatetime(SchemaError):
    """Raised when a datetime has no time zone where an instant is required."""


class InvalidWireRecord(SchemaError):
    """Raised when a wire payload cannot be read into a canonical model.

    ``problems`` holds one ``"field: what is wrong"`` line per problem (no values).
    """

    def __init__(
        self, message: str, *, problems: tuple[str, ...] = (), field: str | None = None
    ) -> None:
        super().__init__(
            message if not problems else f"{message}: {'; '.join(problems)}", field=field
        )
        self.problems = problems
