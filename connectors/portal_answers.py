"""The portal's answers as the sync's ``PortalClient`` role sees them: a dossier it holds, and the
per-record results of a batch call.

They belong to the role (``sync.portal`` re-exports them and sync imports them from there), not
to the connector that produces them: ``connectors.portal.PortalConnector`` and
``sync.testing.FakePortal`` both answer with them. They live here, beside the connectors' error
tree that an ``ItemResult`` carries, because ``connectors`` may not import ``sync``.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.errors import ConnectorError
from schemas.models import Dossier
from schemas.status import DossierStatus


@dataclass(frozen=True, slots=True)
class PortalDossier:
    """A dossier as the portal holds it (``TraCuuHoSo``), with the progress records it holds
    (``QuaTrinhXuLy``, as text, in the order they arrived)."""

    code: str
    status: DossierStatus
    dossier: Dossier
    steps: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The portal's answer for one item of a batch: ok, or the error it names."""

    dossier_code: str | None
    idempotency_key: str | None
    error: ConnectorError | None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        """Whether the portal accepted (or had already applied) this item."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Per-item results of a ``DongBoHoSoMC`` or ``CapNhatTienDoHoSoMC`` call, in order."""

    items: tuple[ItemResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every item was accepted."""
        return all(item.ok for item in self.items)

    @property
    def failed(self) -> tuple[ItemResult, ...]:
        """The items the portal refused."""
        return tuple(item for item in self.items if not item.ok)


__all__ = ["BatchResult", "ItemResult", "PortalDossier"]
