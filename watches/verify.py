"""Bulk verification: check ID + full name + date of birth rows against the population register.

Provinces run it to clean their copies (``lienthong records verify FILE``). Each well-formed row is
asked of the population database with its verify-citizen operation, which answers match or not and
discloses nothing else; a citizen it does not know is a mismatch like any other. Rows that cannot
be asked (a malformed ID, a date that is not a date, a birth date that contradicts the ID) are
``invalid`` with the reason; rows the upstream could not answer (an outage) are ``error``.

The report is a CSV the operator asked for; the rows' personal data never go to the logs.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TextIO

from connectors.base import CallContext
from connectors.errors import ConnectorError, NotFound, PermanentError, TransientError
from schemas.citizen_id import parse_citizen_id
from schemas.errors import SchemaError
from watches.files import SourceRow
from watches.rate_budget import RateBudget

VERIFY_COLUMNS = ("citizen_id", "full_name", "date_of_birth")
VERIFY_COLUMN_ALIASES = {
    "id": "citizen_id",
    "cccd": "citizen_id",
    "so_cccd": "citizen_id",
    "name": "full_name",
    "ho_ten": "full_name",
    "ho_va_ten": "full_name",
    "dob": "date_of_birth",
    "birth_date": "date_of_birth",
    "ngay_sinh": "date_of_birth",
}
REPORT_COLUMNS = ("line", "citizen_id", "result", "reason")
MAX_NAME_LENGTH = 500


class VerifyOutcome(StrEnum):
    """The verdict on one row."""

    MATCH = "match"
    MISMATCH = "mismatch"
    INVALID = "invalid"
    ERROR = "error"


class CitizenVerifier(Protocol):
    """What bulk verification needs of the population connector."""

    async def verify_citizen(
        self, citizen_id: str, full_name: str, date_of_birth: dt.date, ctx: CallContext
    ) -> bool:
        """Whether the register holds a citizen with this ID, name and date of birth."""
        ...


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """A row that can be asked of the register."""

    line: int
    citizen_id: str
    full_name: str
    date_of_birth: dt.date


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on one row of the file, in the report."""

    line: int
    citizen_id: str
    outcome: VerifyOutcome
    reason: str = ""


_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def parse_birth_date(text: str) -> dt.date:
    """A date as ``YYYY-MM-DD`` or ``DD/MM/YYYY`` (also with ``-`` or ``.``); ``ValueError``."""
    text = text.strip()
    match = _DMY.match(text)
    if match:
        day, month, year = (int(part) for part in match.groups())
        return dt.date(year, month, day)
    return dt.date.fromisoformat(text)


def request_of(row: SourceRow) -> VerifyRequest | VerifyResult:
    """The question a row asks, or its ``invalid`` verdict with the reason."""
    raw_id = row.get("citizen_id")

    def invalid(reason: str) -> VerifyResult:
        return VerifyResult(row.line, raw_id, VerifyOutcome.INVALID, reason)

    if "__invalid__" in row.values:
        return invalid(row.values["__invalid__"])
    try:
        parts = parse_citizen_id(raw_id)
    except SchemaError as exc:
        return invalid(str(exc))
    full_name = " ".join(row.get("full_name").split())
    if not full_name or len(full_name) > MAX_NAME_LENGTH:
        return invalid(f"full_name must be 1 to {MAX_NAME_LENGTH} characters")
    try:
        born = parse_birth_date(row.get("date_of_birth"))
    except ValueError:
        return invalid("date_of_birth is not a date (YYYY-MM-DD or DD/MM/YYYY)")
    if born.year != parts.birth_year:
        return invalid("date_of_birth does not agree with the citizen ID's birth year")
    if born > dt.date.today():
        return invalid("date_of_birth is in the future")
    return VerifyRequest(row.line, raw_id, full_name, born)


async def verify_rows(
    rows: Sequence[SourceRow],
    verifier: CitizenVerifier,
    *,
    context: Callable[[], CallContext],
    budget: RateBudget | None = None,
    upstream: str = "population",
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> list[VerifyResult]:
    """The verdict on every row, in file order; at most ``concurrency`` questions in flight."""
    semaphore = asyncio.Semaphore(concurrency)
    budget = budget or RateBudget.unlimited()

    async def verdict(row: SourceRow) -> VerifyResult:
        request = request_of(row)
        if isinstance(request, VerifyResult):
            result = request
        else:
            async with semaphore:
                await budget.acquire(upstream)
                result = await _ask(verifier, request, context())
        if on_progress is not None:
            on_progress(1)
        return result

    return list(await asyncio.gather(*(verdict(row) for row in rows)))


async def _ask(verifier: CitizenVerifier, request: VerifyRequest, ctx: CallContext) -> VerifyResult:
    def result(outcome: VerifyOutcome, reason: str = "") -> VerifyResult:
        return VerifyResult(request.line, request.citizen_id, outcome, reason)

    try:
        matched = await verifier.verify_citizen(
            request.citizen_id, request.full_name, request.date_of_birth, ctx
        )
    except NotFound:
        return result(VerifyOutcome.MISMATCH)
    except TransientError as exc:
        return result(VerifyOutcome.ERROR, f"upstream unavailable ({type(exc).__name__})")
    except PermanentError as exc:
        code = exc.fault_code or type(exc).__name__
        return result(VerifyOutcome.INVALID, f"refused by the population database ({code})")
    except ConnectorError as exc:  # pragma: no cover - every connector error is one of the above
        return result(VerifyOutcome.ERROR, type(exc).__name__)
    return result(VerifyOutcome.MATCH if matched else VerifyOutcome.MISMATCH)


def write_report(results: Sequence[VerifyResult], out: TextIO) -> None:
    """The CSV report: one line per row of the file, with its verdict and reason."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for item in results:
        writer.writerow([item.line, item.citizen_id, item.outcome.value, item.reason])


def summarise(results: Sequence[VerifyResult]) -> dict[str, int]:
    """How many rows got each verdict (every verdict listed, zero included)."""
    counts = Counter(item.outcome for item in results)
    return {outcome.value: counts.get(outcome, 0) for outcome in VerifyOutcome}


__all__ = [
    "REPORT_COLUMNS",
    "VERIFY_COLUMNS",
    "VERIFY_COLUMN_ALIASES",
    "CitizenVerifier",
    "VerifyOutcome",
    "VerifyRequest",
    "VerifyResult",
    "parse_birth_date",
    "request_of",
    "summarise",
    "verify_rows",
    "write_report",
]
