"""What the worker needs from the National Public Service Portal: the ``PortalClient`` role.

``connectors.portal.PortalConnector`` (signed REST over HTTP) satisfies it; ``sync.testing``
ships ``FakePortal`` for tests. The role's answers — ``PortalDossier``, ``BatchResult``,
``ItemResult`` — are exported here; sync takes them from this module. They are defined in
``connectors.portal_answers``, beside the error tree an ``ItemResult`` carries, because the
connector that builds them may not import ``sync``; nothing in sync imports the concrete
connector. A call that fails as a whole raises ``connectors.errors``
(``TransientError`` is retried later with backoff, ``PermanentError`` narrows the batch down and
makes a dead letter); a batch call answers one ``ItemResult`` per record, each ok or with its own
error, so one refused dossier does not fail the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from connectors.base import CallContext
from connectors.portal_answers import BatchResult, ItemResult, PortalDossier
from schemas.models import Dossier
from schemas.wire.portal import ProgressStep


class PortalClient(Protocol):
    """The portal operations sync uses (look up, sync dossiers, push progress)."""

    async def lookup_dossier(self, code: str, ctx: CallContext) -> PortalDossier | None:
        """What the portal holds for the dossier (``TraCuuHoSo``) with its steps, or None."""
        ...

    async def sync_dossiers(
        self, dossiers: Sequence[Dossier], *, is_updating: bool, ctx: CallContext
    ) -> BatchResult:
        """Create (``is_updating=False``) or update dossiers (``DongBoHoSoMC``); one result each."""
        ...

    async def push_progress(self, steps: Sequence[ProgressStep], ctx: CallContext) -> BatchResult:
        """Push progress records (``CapNhatTienDoHoSoMC``); the portal applies each one it gets,
        as often as it gets it, so a failed call is not resent blindly (``sync.readback``)."""
        ...


__all__ = ["BatchResult", "ItemResult", "PortalClient", "PortalDossier"]
