"""Errors raised by the message log.

Tree::

    MessageLogError            base of everything the message log raises
    ├── RecordNotFound         no record carries the requested message id
    ├── BodyUnavailable        a body is needed but was purged or cannot be read
    │   └── BodyDecryptionError  a stored body does not decrypt under its record's binding
    └── ExportError            an evidence bundle cannot be written

Messages name records by sequence number and message id, never by their contents.
"""

from __future__ import annotations


class MessageLogError(Exception):
    """Base of every error the message log raises."""


class RecordNotFound(MessageLogError):
    """Raised when no record carries the requested message id."""

    def __init__(self, message_id: str) -> None:
        super().__init__(f"no message log record has message id {message_id!r}")
        self.message_id = message_id


class BodyUnavailable(MessageLogError):
    """Raised when a body is needed but was purged after its retention period or is unreadable."""


class BodyDecryptionError(BodyUnavailable):
    """Raised when a stored body fails AES-GCM authentication for its record and kind."""


class ExportError(MessageLogError):
    """Raised when an evidence bundle cannot be written."""


__all__ = [
    "BodyDecryptionError",
    "BodyUnavailable",
    "ExportError",
    "MessageLogError",
    "RecordNotFound",
]
