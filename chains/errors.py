"""Errors raised by ``chains``.

Tree::

    ChainError                  base of every error the chains package raises itself
    ├── DefinitionError         a chain definition file that cannot be read or is inconsistent
    ├── UnknownChain            a filing names a chain that no definition describes
    ├── InvalidFiling           a filing that lacks what its chain needs, or contradicts itself
    ├── ChainConflict           a chain dossier taken in already, filed again with other content
    ├── ChainNotFound           no chain dossier with that code
    └── StepNotRetryable        a retry asked of a step that is not given up on (dead)

Agency failures are not raised to callers: the worker records them on the step (its last
error, its next attempt, or its death) by the ``connectors.errors`` split between
``TransientError`` and ``PermanentError``. Messages carry codes and names, never personal data.
"""

from __future__ import annotations


class ChainError(Exception):
    """Base of every error raised by the chains package."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DefinitionError(ChainError):
    """Raised when a chain definition file cannot be read or contradicts itself."""


class UnknownChain(ChainError):
    """Raised when a filing names a chain no definition describes."""


class InvalidFiling(ChainError):
    """Raised when a filing lacks a field its chain needs (``field`` names it) or is invalid."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ChainConflict(ChainError):
    """Raised when a chain dossier already taken in is filed again with different content."""


class ChainNotFound(ChainError):
    """Raised when no chain dossier has the given code."""


class StepNotRetryable(ChainError):
    """Raised when a retry is asked of a step that is not dead."""


__all__ = [
    "ChainConflict",
    "ChainError",
    "ChainNotFound",
    "DefinitionError",
    "InvalidFiling",
    "StepNotRetryable",
    "UnknownChain",
]
