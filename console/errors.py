"""Errors raised by ``console``.

Tree::

    ConsoleError            base of every error the console raises itself
    ├── OperatorError       an operator name or role that cannot be used, a name taken or unknown
    ├── LoginRefused        a name and password that do not open a session (one message for both)
    ├── LockedOut           an account locked after repeated failed logins, until ``until``
    ├── Forbidden           the operator's role does not allow the page or action
    └── CsrfRefused         a state-changing request without the session's CSRF token

Messages name operators and actions, never a password, a session id or personal data.
"""

from __future__ import annotations

import datetime as dt


class ConsoleError(Exception):
    """Base of every error raised by the console."""


class OperatorError(ConsoleError):
    """Raised for an operator name or role that cannot be used, a name taken, or one unknown."""


class LoginRefused(ConsoleError):
    """Raised when a name and password do not open a session (the same for an unknown name)."""


class LockedOut(ConsoleError):
    """Raised when an account is locked after repeated failed logins."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"locked until {until.isoformat(timespec='seconds')}")
        self.until = until


class Forbidden(ConsoleError):
    """Raised when the operator's role does not allow the page or action."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"the role does not allow {permission}")
        self.permission = permission


class CsrfRefused(ConsoleError):
    """Raised when a state-changing request lacks the session's CSRF token."""


__all__ = [
    "ConsoleError",
    "CsrfRefused",
    "Forbidden",
    "LockedOut",
    "LoginRefused",
    "OperatorError",
]
