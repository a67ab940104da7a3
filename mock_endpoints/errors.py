"""Errors raised inside the mock national endpoints.

Tree::

    MockError                     base of everything the mocks raise
    ├── FaultSpecError            a fault plan (CLI option, admin JSON) is malformed
    ├── UnknownRecord             an admin route names a citizen, business or dossier that is absent
    ├── InvalidChange             an admin change to a record is malformed or not allowed
    └── PortalError               a portal call is refused; ``.error_code`` is the portal's code
                                  (see :mod:`mock_endpoints.portal_state`)

Messages never carry personal data: no citizen IDs, names, birth dates or addresses.
"""

from __future__ import annotations


class MockError(Exception):
    """Base of the errors raised by ``mock_endpoints``."""


class FaultSpecError(MockError, ValueError):
    """Raised when a fault plan (``--fault`` option or ``/_admin/faults`` JSON) is malformed."""


class UnknownRecord(MockError, LookupError):
    """Raised when an admin route names a record the mock does not hold."""


class InvalidChange(MockError, ValueError):
    """Raised when an admin change to a record is malformed or not allowed."""


class PortalError(MockError):
    """Raised when the portal mock refuses a call; ``error_code`` is what the portal answers."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


__all__ = ["FaultSpecError", "InvalidChange", "MockError", "PortalError", "UnknownRecord"]
