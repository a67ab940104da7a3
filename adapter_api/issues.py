"""Purpose binding: the dossier named in ``X-Issue`` must justify the lookup of this citizen.

A citizen lookup (or verification) is processing of personal data bound to a stated purpose: the
dossier it serves. The purpose holds when the dossier

1. is registered, in a sector the caller may see (else 422 ``unknown_issue``);
2. is open, or closed (moved to a terminal status: refused, withdrawn, stopped, result
   delivered) no longer ago than the grace period (``purpose_grace_days``), so that a late
   correction can still be checked; and
3. names the citizen: as its applicant or among its ``related_persons`` (the child of a birth
   registration, the deceased of a death registration …).

Otherwise the lookup is refused (403 ``purpose_mismatch``) before anything is asked upstream.

:class:`IssueDirectory` answers from the store and remembers answers for a short while (a burst
of lookups for one dossier costs one query). Writes through the API forget the dossier, so the
writing process sees a change at once; another process may use what it read for up to
``ttl_seconds``. A cached answer that would refuse is read again from the store before it does,
so a person just added is never refused on a stale entry; a person removed, or a dossier just
closed beyond its grace, may still be served by another process for up to ``ttl_seconds``.
Unknown codes are never cached.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from dataclasses import dataclass

from store.dossier_reads import DossierReads


@dataclass(frozen=True, slots=True)
class Issue:
    """What purpose binding needs of a dossier: its sector, its persons, when it closed."""

    sector: str | None
    persons: frozenset[str]
    closed_at: dt.datetime | None

    def serves(self, citizen_id: str, *, now: dt.datetime, grace: dt.timedelta) -> bool:
        """True when a lookup of ``citizen_id`` at ``now`` may be made for this dossier."""
        if self.closed_at is not None and now - self.closed_at > grace:
            return False
        return citizen_id in self.persons


class IssueDirectory:
    """Registered dossiers as purposes, with a bounded, short-lived cache (module docstring)."""

    def __init__(
        self,
        dossiers: DossierReads,
        *,
        ttl_seconds: float = 60.0,
        max_entries: int = 10_000,
    ) -> None:
        self._dossiers = dossiers
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[Issue, float]] = OrderedDict()

    async def get(self, dossier_code: str, *, fresh: bool = False) -> Issue | None:
        """The dossier as a purpose (``None``: not registered); ``fresh`` skips the cache."""
        now = time.monotonic()
        hit = None if fresh else self._cache.get(dossier_code)
        if hit is not None and hit[1] > now:
            return hit[0]
        facts = await self._dossiers.purpose(dossier_code)
        if facts is None:
            self._cache.pop(dossier_code, None)
            return None
        issue = Issue(facts.sector, facts.persons, facts.closed_at)
        self._cache[dossier_code] = (issue, now + self._ttl)
        self._cache.move_to_end(dossier_code)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return issue

    async def serves(
        self, issue: Issue, dossier_code: str, citizen_id: str, *, grace: dt.timedelta
    ) -> bool:
        """Whether ``issue`` (as :meth:`get` gave it) serves ``citizen_id`` now; a refusal is
        confirmed against the store first."""
        now = dt.datetime.now(dt.UTC)
        if issue.serves(citizen_id, now=now, grace=grace):
            return True
        fresh = await self.get(dossier_code, fresh=True)
        return fresh is not None and fresh.serves(citizen_id, now=now, grace=grace)

    def forget(self, dossier_code: str) -> None:
        """Drop what is remembered of ``dossier_code`` (called after a write)."""
        self._cache.pop(dossier_code, None)


__all__ = ["Issue", "IssueDirectory"]
