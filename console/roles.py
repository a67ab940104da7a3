"""Operator roles and what each may do in the console.

* ``viewer`` sees the overview, dossiers, dead letters, timeliness, the message log's state and
  the registered clients; changes nothing.
* ``operator`` also retries dead letters, re-sends and reconciles dossiers, runs the message-log
  check and downloads evidence bundles.
* ``auditor`` also reads the access log (who looked up a citizen), runs the message-log check and
  downloads evidence bundles; changes nothing in the delivery queue.

Only an auditor reads the access log; only an operator retries or reconciles.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ConsoleRole(StrEnum):
    """The role an operator account has."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """One thing a role may do."""

    VIEW = "view"
    ACT = "act"
    EVIDENCE = "evidence"
    ACCESS_LOG = "access_log"


GRANTS: Mapping[ConsoleRole, frozenset[Permission]] = {
    ConsoleRole.VIEWER: frozenset({Permission.VIEW}),
    ConsoleRole.OPERATOR: frozenset({Permission.VIEW, Permission.ACT, Permission.EVIDENCE}),
    ConsoleRole.AUDITOR: frozenset({Permission.VIEW, Permission.EVIDENCE, Permission.ACCESS_LOG}),
}


def allows(role: ConsoleRole, permission: Permission) -> bool:
    """Whether ``role`` grants ``permission``."""
    return permission in GRANTS[role]


__all__ = ["GRANTS", "ConsoleRole", "Permission", "allows"]
