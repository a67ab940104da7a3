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
    └── DatabaseUrlError        a database URL or data folder that cannot be used

A transition the dossier lifecycle forbids raises ``schemas.errors.IllegalTransition`` unchanged,
before anything is written. Messages carry codes and ids, never personal data.
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


__all__ = [
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
