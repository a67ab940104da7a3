"""``FakePortal``: an in-memory portal with the real one's rules and injectable faults, for tests.

It keeps what the portal mock keeps (dossiers; every progress record it is sent, applied as it
comes — twice when sent twice, unless ``dedup``; the lifecycle's rules for dossier updates,
"already exists" on a second create; ``lookup_dossier`` lists the steps held) and can be down,
fail the next N calls, refuse the next N calls whole, answer the next N with an answer that does
not verify (after applying them), apply a call and then lose the answer (``UpstreamTimeout``),
refuse given dossiers, or lose a dossier (``forget``).
Like ``PortalConnector``, a batch call answers a ``BatchResult`` with one result per record (the
portal's per-item error codes as ``connectors.errors``), and raises only when the call fails as a
whole (an outage, a burst of errors, an answer lost after commit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from connectors.base import CallContext
from connectors.errors import (
    AlreadyExists,
    BadUpstreamSignature,
    ConnectorError,
    IllegalMove,
    InvalidRequest,
    NotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.errors import IllegalTransition, SchemaError
from schemas.models import Dossier
from schemas.status import check_transition
from schemas.wire.portal import ProgressStep, step_identity, step_to_portal
from sync.portal import BatchResult, ItemResult, PortalClient, PortalDossier

_UPSTREAM = "portal"


@dataclass
class PortalFaults:
    """What goes wrong next: an outage, N failing calls, N calls refused whole (nothing applied),
    N calls applied whose answer does not verify, N applied-then-lost answers, dossiers refused
    record by record."""

    down: bool = False
    fail_next: int = 0
    reject_next: int = 0
    garble_next: int = 0
    drop_after_commit_next: int = 0
    refuse: set[str] = field(default_factory=set)


@dataclass
class AppliedProgress:
    """One progress record the portal holds (``key``/``sequence`` are the fake's own bookkeeping:
    the record carries neither; empty/0 for a step lienthong never sent)."""

    key: str
    sequence: int
    status: int
    record: dict[str, str] = field(default_factory=dict)


class FakePortal:
    """An in-memory ``PortalClient`` that applies every progress record it is sent."""

    def __init__(self, *, dedup: bool = False) -> None:
        self.dedup = dedup
        self.faults = PortalFaults()
        self.dossiers: dict[str, Dossier] = {}
        self.progress: dict[str, list[AppliedProgress]] = {}
        self.keys_seen: Counter[str] = Counter()
        self.creates: Counter[str] = Counter()
        self.calls: list[str] = []
        self.dropped: list[str] = []
        self.garbled = 0
        self._garbled_raised = 0

    # --- PortalClient -----------------------------------------------------------------------------

    async def lookup_dossier(self, code: str, ctx: CallContext) -> PortalDossier | None:
        """The dossier held under ``code``, or None."""
        self._enter("lookup", commits=False)
        held = self.dossiers.get(code)
        if held is None:
            return None
        steps = tuple(dict(step.record) for step in self.progress.get(code, []))
        return PortalDossier(code, held.status, held, steps)

    async def sync_dossiers(
        self, dossiers: Sequence[Dossier], *, is_updating: bool, ctx: CallContext
    ) -> BatchResult:
        """Create or update each dossier; one result each."""
        drop = self._enter("sync_update" if is_updating else "sync_create", commits=True)
        results = [
            ItemResult(d.code, None, self._sync_one(d, is_updating=is_updating)) for d in dossiers
        ]
        return self._leave(drop, results)

    async def push_progress(self, steps: Sequence[ProgressStep], ctx: CallContext) -> BatchResult:
        """Apply each record as it comes (once per identity with ``dedup``); one result each."""
        drop = self._enter("push_progress", commits=True)
        results = []
        for step in steps:
            event = step.event
            results.append(ItemResult(event.dossier_code, None, self._push_one(step)))
        return self._leave(drop, results)

    def forget(self, code: str) -> None:
        """Lose a dossier and its progress (a portal that lost it)."""
        self.dossiers.pop(code, None)
        self.progress.pop(code, None)

    def add_foreign_step(self, code: str, record: dict[str, str]) -> None:
        """Hold a step lienthong never sent (entered at the portal by someone else)."""
        self.progress.setdefault(code, []).append(AppliedProgress("", 0, 0, record))

    # --- what tests look at -----------------------------------------------------------------------

    def applied_twice(self) -> list[str]:
        """Steps (by their key, which the fake knows and the portal does not) applied more than
        once (must stay empty)."""
        applied = Counter(p.key for steps in self.progress.values() for p in steps if p.key)
        return sorted(key for key, n in applied.items() if n > 1)

    @property
    def out_of_order(self) -> list[str]:
        """Keys of steps applied that do not follow the step before them by one (must stay
        empty)."""
        late = []
        for steps in self.progress.values():
            ours = [p for p in steps if p.key]
            late += [b.key for a, b in pairwise(ours) if b.sequence != a.sequence + 1]
        return late

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
            raise InvalidRequest(
                "portal refused the call (error_code 1)",
                upstream=_UPSTREAM,
                fault_code="INVALID_INPUT",
                status=200,
            )
        if commits and self.faults.garble_next > 0:
            self.faults.garble_next -= 1
            self.garbled += 1
            return True
        if commits and self.faults.drop_after_commit_next > 0:
            self.faults.drop_after_commit_next -= 1
            self.dropped.append(operation)
            return True
        return False

    def _leave(self, drop: bool, results: list[ItemResult]) -> BatchResult:
        if drop and self.garbled > self._garbled_raised:
            self._garbled_raised += 1
            raise BadUpstreamSignature(
                "portal answer signature invalid", upstream=_UPSTREAM, fault_code="invalid"
            )
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

    def _push_one(self, step: ProgressStep) -> ConnectorError | None:
        event = step.event
        key = event.idempotency_key
        self.keys_seen[key] += 1
        if event.dossier_code in self.faults.refuse:
            return _error(InvalidRequest, "INVALID_INPUT", "refused by the fake portal")
        try:
            record = step_to_portal(step)
        except (SchemaError, ValueError, OverflowError):
            return _error(InvalidRequest, "INVALID_INPUT", "a record the portal cannot read")
        held = self.dossiers.get(event.dossier_code)
        if held is None:
            return _error(NotFound, "NOT_FOUND", "no such dossier")
        steps = self.progress.setdefault(event.dossier_code, [])
        identity = step_identity(record)
        if self.dedup and any(step_identity(p.record) == identity for p in steps):
            return None  # identical to one held: acknowledged, not applied again
        steps.append(AppliedProgress(key, event.sequence, int(event.status), record))
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
