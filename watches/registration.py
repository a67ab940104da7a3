"""Registering watches: one (the API) or many at once from a file (``lienthong records import``).

A watch names a citizen (CCCD) or a business (tax code), the client that holds a copy of it, and
the purpose that allows it. For a citizen the purpose is required and must be allowed by the
:class:`WatchPolicy` (a dossier code that exists, or a standing purpose granted to that client),
and so is the official (``VN`` + CCCD) accountable for it, whom the population lookups that
refresh it name; for a business (public register data) both are optional.

A bulk import validates every row, then writes the good ones in one transaction: a bad row is
reported with its line and reason and the rest are imported; an unexpected failure (the database
going away) rolls the whole import back, so nothing is ever half-imported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.citizen_id import validate_citizen_id
from schemas.errors import SchemaError
from schemas.tax_code import validate_tax_code
from store.watches.types import Watch, WatchKind
from store.watches.watch_list import put_watch
from watches.files import SourceRow

#: column aliases accepted in import files (left: as written, lower case; right: canonical)
WATCH_COLUMN_ALIASES = {
    "record_id": "id",
    "type": "kind",
    "loai": "kind",
    "dossier_code": "purpose",
    "client_id": "client",
    "user_id": "official",
    "x_user_id": "official",
}
WATCH_COLUMNS = ("kind", "id")
MAX_PURPOSE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a watch is refused: a stable code and an explanation without personal data."""

    code: str
    message: str


class WatchPolicy(Protocol):
    """Who may watch what: the client registry and the purposes it grants."""

    def knows_client(self, client: str) -> bool:
        """Whether ``client`` is a registered API client."""
        ...

    async def refusal(self, session: AsyncSession, watch: Watch) -> Refusal | None:
        """Why ``watch`` is not allowed (its purpose is not granted), or ``None`` if it is."""
        ...


def make_watch(
    kind: str, record_id: str, client: str, purpose: str, official: str = ""
) -> Watch | Refusal:
    """A well-formed watch from raw values, or why they are not one (the policy aside)."""
    try:
        watch_kind = WatchKind(kind.strip().lower())
    except ValueError:
        return Refusal("invalid_kind", "kind must be 'citizen' or 'business'")
    record_id = record_id.strip()
    try:
        if watch_kind is WatchKind.CITIZEN:
            record_id = validate_citizen_id(record_id)
        else:
            record_id = validate_tax_code(record_id)
    except SchemaError as exc:
        code = "invalid_citizen_id" if watch_kind is WatchKind.CITIZEN else "invalid_tax_code"
        return Refusal(code, str(exc))
    client = client.strip()
    if not client:
        return Refusal("missing_client", "no client is named for this watch")
    purpose = purpose.strip()
    if len(purpose) > MAX_PURPOSE_LENGTH:
        return Refusal("invalid_purpose", f"purpose is longer than {MAX_PURPOSE_LENGTH} characters")
    if watch_kind is WatchKind.CITIZEN and not purpose:
        return Refusal(
            "missing_purpose",
            "a citizen watch needs a purpose: a dossier code or a standing purpose",
        )
    official = official.strip()
    if official:
        try:
            if not official.startswith("VN"):
                raise SchemaError("official must be VN followed by a citizen ID")
            validate_citizen_id(official[2:])
        except SchemaError:
            return Refusal(
                "invalid_official", "official must be VN followed by the official's CCCD"
            )
    elif watch_kind is WatchKind.CITIZEN:
        return Refusal(
            "missing_official", "a citizen watch needs the official (VN + CCCD) accountable for it"
        )
    return Watch(watch_kind, record_id, client, purpose, official or None)


async def check_watch(session: AsyncSession, policy: WatchPolicy, watch: Watch) -> Refusal | None:
    """Why ``policy`` refuses ``watch`` (unknown client, purpose not granted), or ``None``."""
    if not policy.knows_client(watch.client):
        return Refusal("unknown_client", "the client is not registered")
    return await policy.refusal(session, watch)


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row left out of an import: where it is, what it named, and why."""

    line: int
    kind: str
    record_id: str
    code: str
    message: str


@dataclass(slots=True)
class ImportReport:
    """The outcome of a bulk import."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Rows written (new watches and updated purposes)."""
        return self.created + self.updated


async def import_watches(
    sessions: async_sessionmaker[AsyncSession],
    rows: Sequence[SourceRow],
    *,
    policy: WatchPolicy,
    default_client: str | None,
    now: dt.datetime,
    default_official: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate ``rows`` and write the good ones in one transaction; the report lists the rest."""
    report = ImportReport(rows=len(rows))
    seen: dict[tuple[WatchKind, str, str], int] = {}
    async with sessions.begin() as session:
        for row in rows:
            outcome = _watch_of(row, default_client, default_official)
            if isinstance(outcome, Watch):
                key = (outcome.kind, outcome.record_id, outcome.client)
                refusal = (
                    Refusal("duplicate_row", f"the same watch is on line {seen[key]}")
                    if key in seen
                    else await check_watch(session, policy, outcome)
                )
                if refusal is None:
                    seen[key] = row.line
                    if await put_watch(session, outcome, now=now):
                        report.created += 1
                    else:
                        report.updated += 1
                else:
                    outcome = refusal
            if isinstance(outcome, Refusal):
                report.rejected.append(
                    RejectedRow(
                        row.line, row.get("kind"), row.get("id"), outcome.code, outcome.message
                    )
                )
            if on_progress is not None:
                on_progress(1)
    return report


def _watch_of(
    row: SourceRow, default_client: str | None, default_official: str | None
) -> Watch | Refusal:
    if "__invalid__" in row.values:
        return Refusal("invalid_row", row.values["__invalid__"])
    if "__extra__" in row.values:
        return Refusal("invalid_row", "the row has more cells than the header")
    return make_watch(
        row.get("kind"),
        row.get("id"),
        row.get("client") or default_client or "",
        row.get("purpose"),
        row.get("official") or (default_official if _is_citizen(row) else None) or "",
    )


def _is_citizen(row: SourceRow) -> bool:
    return row.get("kind").lower() == WatchKind.CITIZEN.value


__all__ = [
    "MAX_PURPOSE_LENGTH",
    "WATCH_COLUMNS",
    "WATCH_COLUMN_ALIASES",
    "ImportReport",
    "Refusal",
    "RejectedRow",
    "WatchPolicy",
    "check_watch",
    "import_watches",
    "make_watch",
]
