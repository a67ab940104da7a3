"""Read-back: which of a dossier's steps the portal holds, by comparing what it lists with ours.

The portal's progress records carry no sequence and no key, so a step is known only by what it
says (``schemas.wire.portal.step_identity``: dossier, officer, title, time to the second,
department, note, status). ``compare`` counts: for each identity, the first *n* of our steps with
it are held when the portal lists it *n* times; ours beyond that are missing; the portal's beyond
ours are *foreign* (steps lienthong never sent, or a step the portal applied twice).

Counting settles every case but one: two steps of a dossier that say exactly the same thing (or a
foreign step that says what one of ours says). Then the portal's list cannot tell which of them it
holds, only how many; the decision is still made by counting, and the steps concerned are reported
``unsettled`` so that the worker counts what it resends or skips on that basis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.errors import SchemaError
from schemas.models import DossierEvent
from schemas.wire.portal import event_to_portal, step_identity


@dataclass(frozen=True, slots=True)
class Readback:
    """How our steps of one dossier stand against what the portal lists for it."""

    held: frozenset[str]
    missing: tuple[DossierEvent, ...]
    foreign: tuple[Mapping[str, str], ...]
    unsettled: frozenset[str]


def identity_of(event: DossierEvent) -> tuple[str, ...] | None:
    """The identity of ``event`` as the portal would hold it (None: it cannot be written)."""
    try:
        return step_identity(event_to_portal(event))
    except (SchemaError, ValueError, OverflowError):
        return None


def compare(ours: Sequence[DossierEvent], held: Sequence[Mapping[str, str]]) -> Readback:
    """Match ``ours`` (in order) against the portal's ``held`` records (in order) by counting."""
    available = Counter(step_identity(record) for record in held)
    identities = [identity_of(event) for event in ours]
    repeated = {i for i, n in Counter(i for i in identities if i is not None).items() if n > 1}
    taken: Counter[tuple[str, ...]] = Counter()
    found: set[str] = set()
    missing: list[DossierEvent] = []
    for event, identity in zip(ours, identities, strict=True):
        if identity is not None and taken[identity] < available[identity]:
            taken[identity] += 1
            found.add(event.idempotency_key)
        else:
            missing.append(event)
    foreign: list[Mapping[str, str]] = []
    left = available - taken
    for record in reversed(held):  # of identical records, the later ones are the extra ones
        identity = step_identity(record)
        if left[identity] > 0:
            left[identity] -= 1
            foreign.append(record)
    foreign.reverse()
    clash = repeated | {step_identity(record) for record in foreign}
    unsettled = frozenset(
        event.idempotency_key
        for event, identity in zip(ours, identities, strict=True)
        if identity is not None and identity in clash
    )
    return Readback(frozenset(found), tuple(missing), tuple(foreign), unsettled)


__all__ = ["Readback", "compare", "identity_of"]
