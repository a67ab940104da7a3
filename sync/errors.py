"""Errors raised by ``sync``.

Tree::

    SyncError               base of every error the sync package raises itself
    └── SyncConfigError     the worker cannot be built: no portal URL, keys missing, bad settings

Delivery failures are not raised to callers: the worker records them on the outbox item (its
last error, its next attempt, or its death) using the ``connectors.errors`` split between
``TransientError`` (retried with backoff) and ``PermanentError`` (a dead letter at once).
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error raised by the sync package."""


class SyncConfigError(SyncError):
    """Raised when a worker cannot be built from the settings it was given."""


__all__ = ["SyncConfigError", "SyncError"]
