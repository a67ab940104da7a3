"""Errors raised by ``store``.

Tree::

    StoreError                  base of every error the store raises itself
    ├── DossierNotFound         no dossier with that code is stored
    ├── InvalidInitialStatus    a new dossier whose status is not one a dossier may start in
    ├── SequenceConflict        an event whose sequence is not the next one, or that differs from
    │                           the event already stored under that sequence
    ├── EventTimeConflict       an event whose time goes back (its ``code`` says how)
    │   ├── EventBeforeReceipt  it happened before the dossier was received
    │   └── EventOutOfOrder     it happened before the dossier's previous event
    ├── OutboxItemNotFound      no delivery with that id (or it is not in the state asked for)
    ├── InvalidCursor           a feed cursor that this store did not issue
    ├── DatabaseUrlError        a database URL or data folder that cannot be used
    └── DatabaseFailure         the database failed a statement or a transaction
        ├── DatabaseUnavailable it cannot be reached, is locked or busy, lost the connection,
        │                       or no pooled connection came in time (try again later)
        └── ConstraintViolation it refused a row for a constraint (most often a key that a
                                concurrent writer took first)

A transition the dossier lifecycle forbids raises ``schemas.errors.IllegalTransition`` unchanged,
before anything is written. Messages carry codes and ids, never personal data.

The database's own errors (SQLAlchemy's, the driver's) never leave the store: every engine the
store makes translates them into a :class:`DatabaseFailure` (``store.db_errors``), the original
kept as its ``__cause__``. Its message names the kind of failure only, never the statement or
its values.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by the store."""


class DossierNotFound(StoreError):
    """Raised when no dossier with the given code is stored."""

    def __init__(self, dossier_code: str) -> None:
        super().__init__(f"dossier {dossier_code} is not stored")
        self.dossier_code = dossier_code


class InvalidInitialStatus(StoreError):
    """Raised when a dossier is registered in a status other than submitted (1) or accepted (2)."""

    def __init__(self, dossier_code: str, status: int) -> None:
        super().__init__(f"dossier {dossier_code} cannot be registered with status {status}")
        self.dossier_code = dossier_code
        self.status = status


class SequenceConflict(StoreError):
    """Raised when an event's sequence is not the dossier's next one (``expected``).

    An event equal to the one already stored under its sequence is a replay and is not an error.
    """

    def __init__(self, dossier_code: str, *, expected: int, given: int) -> None:
        super().__init__(
            f"dossier {dossier_code}: event sequence {given} given, {expected} expected"
        )
        self.dossier_code = dossier_code
        self.expected = expected
        self.given = given


class EventTimeConflict(StoreError):
    """Raised when an event's time goes back; ``code`` is the stable refusal code."""

    code = "event_time_conflict"

    def __init__(self, dossier_code: str, message: str) -> None:
        super().__init__(f"dossier {dossier_code}: {message}")
        self.dossier_code = dossier_code


class EventBeforeReceipt(EventTimeConflict):
    """Raised when an event happened before its dossier was received."""

    code = "event_before_receipt"

    def __init__(self, dossier_code: str) -> None:
        super().__init__(dossier_code, "the event happened before the dossier was received")


class EventOutOfOrder(EventTimeConflict):
    """Raised when an event happened before the dossier's previous event."""

    code = "event_out_of_order"

    def __init__(self, dossier_code: str) -> None:
        super().__init__(dossier_code, "the event happened before the dossier's previous event")


class OutboxItemNotFound(StoreError):
    """Raised when no outbox delivery with the given id exists in the state the caller needs."""

    def __init__(self, item_id: int, state: str) -> None:
        super().__init__(f"no {state} outbox item with id {item_id}")
        self.item_id = item_id
        self.state = state


class InvalidCursor(StoreError):
    """Raised when a feed cursor cannot be decoded (it was not issued by this store)."""


class DatabaseUrlError(StoreError):
    """Raised when a database URL or data folder cannot be turned into a usable engine URL."""


class DatabaseFailure(StoreError):
    """Raised when the database fails a statement or a transaction.

    ``kind`` is the name of the database error's class as SQLAlchemy calls it
    (``OperationalError``, ``IntegrityError``, ``DatabaseError``…), for logs and figures.
    """

    def __init__(self, kind: str, message: str = "the database failed") -> None:
        super().__init__(f"{message} ({kind})")
        self.kind = kind


class DatabaseUnavailable(DatabaseFailure):
    """Raised when the database cannot be reached, is locked or busy, lost the connection, or
    no pooled connection was free in time: a transient failure, worth trying again later."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind, "the database is unavailable")


class ConstraintViolation(DatabaseFailure):
    """Raised when the database refuses a row for a constraint (a unique key, most often taken
    by a concurrent writer first; a missing required value; a foreign key)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind, "the database refused a row for a constraint")


__all__ = [
    "ConstraintViolation",
    "DatabaseFailure",
    "DatabaseUnavailable",
    "DatabaseUrlError",
    "DossierNotFound",
    "EventBeforeReceipt",
    "EventOutOfOrder",
    "EventTimeConflict",
    "InvalidCursor",
    "InvalidInitialStatus",
    "OutboxItemNotFound",
    "SequenceConflict",
    "StoreError",
]
