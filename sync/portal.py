"""What the worker needs from the National Public Service Portal: the ``PortalClient`` role.

``connectors.portal.PortalConnector`` (signed REST over HTTP) satisfies it; ``sync.testing``
ships ``FakePortal`` for tests. Failures are ``connectors.errors``: ``TransientError`` is retried
later with backoff, ``PermanentError`` makes a dead letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from connectors.base import CallContext
from schemas.models import Dossier, DossierEvent


class PortalRecord(Protocol):
    """What the portal holds for a dossier, as far as the worker and reconciliation care."""

    @property
    def status(self) -> int:
        """The dossier's status code at the portal (1–10)."""
        ...


class PortalClient(Protocol):
    """The portal operations sync uses (look up, sync dossiers, push progress)."""

    async def lookup_dossier(self, code: str, ctx: CallContext) -> PortalRecord | None:
        """The portal's record of the dossier, or None when the portal does not have it."""
        ...

    async def sync_dossiers(
        self, dossiers: Sequence[Dossier], *, is_updating: bool, ctx: CallContext
    ) -> object:
        """Create (``is_updating=False``) or update the dossiers at the portal, all or nothing."""
        ...

    async def push_progress(self, events: Sequence[DossierEvent], ctx: CallContext) -> object:
        """Push progress steps; each carries its idempotency key, so a repeat is applied once."""
        ...


__all__ = ["PortalClient", "PortalRecord"]
