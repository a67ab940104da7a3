"""The operator console: web pages served by the adapter at ``/console``.

Operators are people with accounts (``lienthong operators add``), roles (viewer, operator,
auditor), Argon2id passwords, server-side sessions with idle expiry, CSRF tokens, lockout after
failed logins, and an audit trail of everything they do. The pages read and act on the adapter's
own parts through :class:`~console.backend.ConsoleBackend`.
"""

from __future__ import annotations

from console.accounts import Accounts, Identity, LockoutPolicy, password_hasher
from console.audit import AuditTrail
from console.backend import ConsoleBackend
from console.roles import ConsoleRole, Permission
from console.sessions import SessionManager, SessionPolicy
from console.web import Console, ConsoleSettings

__all__ = [
    "Accounts",
    "AuditTrail",
    "Console",
    "ConsoleBackend",
    "ConsoleRole",
    "ConsoleSettings",
    "Identity",
    "LockoutPolicy",
    "Permission",
    "SessionManager",
    "SessionPolicy",
    "password_hasher",
]
