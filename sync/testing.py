"""``FakePortal``: an in-memory portal with the real one's rules and injectable faults, for tests.

It keeps what the portal mock keeps (dossiers, progress applied once per idempotency key, the
lifecycle's transition rules, "already exists" on a second create) and can be down, fail the next
N calls, apply a call and then lose the answer (``UpstreamTimeout``), or refuse given dossiers.
Like ``PortalConnector``, a batch call answers a ``BatchResult`` with one result per record (the
portal's per-item error codes as ``connectors.errors``), and raises only when the call fails as a
whole (an outage, a burst of errors, an answer lost after commit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.base import CallContext
from connectors.errors import (
    AlreadyExists,
    BadUpstreamSignature,
    ConnectorError,
    IllegalMove,
    InvalidRequest,
    NotFound,
    OutOfOrder,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.portal import BatchResult, ItemResult, PortalDossier
from schemas.errors import IllegalTransition
from schemas.models import Dossier, DossierEvent
from schemas.status import check_transition
from sync.portal import PortalClient

_UPSTREAM = "portal"


@dataclass
class PortalFaults:
    """What goes wrong next: an outage, N failing calls, N calls refused whole (a bad signature on
    the answer), N applied-then-lost answers, dossiers refused record by record."""

    down: bool = False
    fail_next: int = 0
    reject_next: int = 0
    drop_after_commit_next: int = 0
    refuse: set[str] = field(default_factory=set)


@dataclass
class AppliedProgress:
    """One progress step the portal applied."""

    key: str
    sequence: int
    status: int


class FakePortal:
    """An in-memory ``PortalClient`` that applies progress once per idempotency key."""

    def __init__(self) -> None:
        self.faults = PortalFaults()
        self.dossiers: dict[str, Dossier] = {}
        self.progress: dict[str, list[AppliedProgress]] = {}
        self.keys_seen: Counter[str] = Counter()
        self.creates: Counter[str] = Counter()
        self.calls: list[str] = []
        self.dropped: list[str] = []
        self.out_of_order: list[str] = []

    # --- PortalClient -----------------------------------------------------------------------------

    async def lookup_dossier(self, code: str, ctx: CallContext) -> PortalDossier | None:
        """The dossier held under ``code``, or None."""
        self._enter("lookup", commits=False)
        held = self.dossiers.get(code)
        return None if held is None else PortalDossier(code, held.status, held)

    async def sync_dossiers(
        self, dossiers: Sequence[Dossier], *, is_updating: bool, ctx: CallContext
    ) -> BatchResult:
        """Create or update each dossier; one result each."""
        drop = self._enter("sync_update" if is_updating else "sync_create", commits=True)
        results = [
            ItemResult(d.code, None, self._sync_one(d, is_updating=is_updating)) for d in dossiers
        ]
        return self._leave(drop, results)

    async def push_progress(self, events: Sequence[DossierEvent], ctx: CallContext) -> BatchResult:
        """Apply each step once per idempotency key; one result each."""
        drop = self._enter("push_progress", commits=True)
        results = [ItemResult(e.dossier_code, e.idempotency_key, self._push_one(e)) for e in events]
        return self._leave(drop, results)

    # --- what tests look at -----------------------------------------------------------------------

    def applied_twice(self) -> list[str]:
        """Idempotency keys applied more than once (must stay empty)."""
        applied = Counter(p.key for steps in self.progress.values() for p in steps)
        return sorted(key for key, n in applied.items() if n > 1)

    def sequences(self, code: str) -> list[int]:
        """The sequences of the steps applied to ``code``, in the order applied."""
        return [p.sequence for p in self.progress.get(code, [])]

    # --- internals --------------------------------------------------------------------------------

    def _enter(self, operation: str, *, commits: bool) -> bool:
        self.calls.append(operation)
        if self.faults.down:
            raise UpstreamUnavailable("portal unavailable (outage)", upstream=_UPSTREAM, status=503)
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            raise UpstreamUnavailable("portal unavailable (burst)", upstream=_UPSTREAM, status=503)
        if self.faults.reject_next > 0:
            self.faults.reject_next -= 1
            raise BadUpstreamSignature(
                "portal answer signature invalid", upstream=_UPSTREAM, fault_code="invalid"
            )
        if commits and self.faults.drop_after_commit_next > 0:
            self.faults.drop_after_commit_next -= 1
            self.dropped.append(operation)
            return True
        return False

    def _leave(self, drop: bool, results: list[ItemResult]) -> BatchResult:
        if drop:
            raise UpstreamTimeout("portal answer lost after commit", upstream=_UPSTREAM)
        return BatchResult(tuple(results))

    def _sync_one(self, dossier: Dossier, *, is_updating: bool) -> ConnectorError | None:
        if dossier.code in self.faults.refuse:
            return _error(InvalidRequest, "INVALID_INPUT", "refused by the fake portal")
        held = self.dossiers.get(dossier.code)
        if not is_updating:
            if held is not None:
                return _error(AlreadyExists, "ALREADY_EXISTS", "send isUpdating=true")
            self.dossiers[dossier.code] = dossier
            self.creates[dossier.code] += 1
            return None
        if held is None:
            return _error(NotFound, "NOT_FOUND", "no such dossier to update")
        if held.status != dossier.status:
            try:
                check_transition(held.status, dossier.status)
            except IllegalTransition:
                return _error(IllegalMove, "ILLEGAL_MOVE", "illegal status move")
        self.dossiers[dossier.code] = dossier
        return None

    def _push_one(self, event: DossierEvent) -> ConnectorError | None:
        key = event.idempotency_key
        self.keys_seen[key] += 1
        if event.dossier_code in self.faults.refuse:
            return _error(InvalidRequest, "INVALID_INPUT", "refused by the fake portal")
        held = self.dossiers.get(event.dossier_code)
        if held is None:
            return _error(NotFound, "NOT_FOUND", "no such dossier")
        steps = self.progress.setdefault(event.dossier_code, [])
        if any(step.key == key for step in steps):
            return None  # already applied: acknowledged, not applied again
        last = steps[-1].sequence if steps else 0
        if event.sequence <= last:
            return _error(OutOfOrder, "OUT_OF_ORDER", "out of order")
        if event.sequence != last + 1:
            self.out_of_order.append(key)
        try:
            check_transition(held.status, event.status)
        except IllegalTransition:
            return _error(IllegalMove, "ILLEGAL_MOVE", "illegal status move")
        steps.append(AppliedProgress(key, event.sequence, int(event.status)))
        updated_at = max(held.updated_at, event.occurred_at)
        self.dossiers[event.dossier_code] = held.model_copy(
            update={"status": event.status, "updated_at": updated_at}
        )
        return None


def _error(cls: type[ConnectorError], fault: str, message: str) -> ConnectorError:
    return cls(f"portal: {message}", upstream=_UPSTREAM, fault_code=fault, status=200)


def _is_a_portal_client(portal: FakePortal) -> PortalClient:
    return portal  # mypy checks that FakePortal plays the PortalClient role


__all__ = ["AppliedProgress", "FakePortal", "PortalFaults"]
