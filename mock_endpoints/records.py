"""The citizens and businesses the population and registry mocks answer from, changeable by admins.

Starts from a :class:`~mock_endpoints.data.SyntheticData` snapshot; admin routes change a record
(a citizen moves, a business is suspended or dissolved) so tests can watch the change travel
through the adapter. Every record has a ``version`` (1 at start, +1 per change) and the time of
its last change. Thread-safe.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from mock_endpoints import places
from mock_endpoints.data import SyntheticData
from mock_endpoints.errors import InvalidChange, UnknownRecord
from schemas.models import Business, BusinessStatus, Citizen
from schemas.regions import PROVINCE_CODES
from schemas.wire.registry import STATUS_OF_TEXT

T = TypeVar("T")

#: citizen fields an admin may change (identity fields — ID, birth date, sex — may not)
CITIZEN_CHANGES = frozenset(
    {"permanent_address", "current_address", "full_name", "ethnicity", "province_code"}
)
#: business fields an admin may change
BUSINESS_CHANGES = frozenset({"status", "name", "head_office_address", "legal_form"})


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A record with its version and the time of its last change (ISO 8601, UTC)."""

    record: T
    version: int
    changed_at: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class MockRecords:
    """Citizens by ID and businesses by tax code, in drawing order; thread-safe."""

    def __init__(self, data: SyntheticData) -> None:
        self._lock = threading.Lock()
        self._seed = data.seed
        self._citizens: dict[str, Versioned[Citizen]] = {
            c.citizen_id: Versioned(c, 1, None) for c in data.citizens
        }
        self._businesses: dict[str, Versioned[Business]] = {
            b.tax_code: Versioned(b, 1, None) for b in data.businesses
        }

    # -- citizens ----------------------------------------------------------------------------

    def citizen(self, citizen_id: str) -> Citizen | None:
        """The citizen with ``citizen_id``, or None."""
        found = self._citizens.get(citizen_id)
        return None if found is None else found.record

    def citizen_entry(self, citizen_id: str) -> Versioned[Citizen] | None:
        """The citizen with ``citizen_id`` and its version, or None."""
        return self._citizens.get(citizen_id)

    def citizens(self, limit: int | None = None) -> list[Versioned[Citizen]]:
        """The first ``limit`` citizens (all when None), with versions."""
        with self._lock:
            values = list(self._citizens.values())
        return values if limit is None else values[:limit]

    def citizen_count(self) -> int:
        """How many citizens there are."""
        return len(self._citizens)

    def change_citizen(self, citizen_id: str, changes: Mapping[str, Any]) -> Versioned[Citizen]:
        """Apply an admin change; ``province_code`` moves the citizen to a new address there."""
        unknown = sorted(set(changes) - CITIZEN_CHANGES)
        if unknown:
            raise InvalidChange(f"these citizen fields cannot be changed: {', '.join(unknown)}")
        if not changes:
            raise InvalidChange("no change given")
        with self._lock:
            found = self._citizens.get(citizen_id)
            if found is None:
                raise UnknownRecord("no such citizen")
            update = dict(changes)
            province = update.pop("province_code", None)
            if province is not None:
                if province not in PROVINCE_CODES:
                    raise InvalidChange("province_code is not a known province code")
                rng = random.Random(f"{self._seed}:move:{citizen_id}:{found.version}")
                address = places.street_address(rng, province)
                update.setdefault("permanent_address", address)
                update.setdefault("current_address", address)
            data = found.record.model_dump()
            data.update(update)
            try:
                citizen = Citizen.model_validate(data)
            except ValidationError as exc:
                raise InvalidChange(_fields(exc)) from exc
            changed = Versioned(citizen, found.version + 1, _now())
            self._citizens[citizen_id] = changed
            return changed

    def add_citizen(self, citizen: Citizen) -> Versioned[Citizen]:
        """Register a new citizen (a newborn given a personal identification number)."""
        with self._lock:
            if citizen.citizen_id in self._citizens:
                raise InvalidChange("this citizen ID is taken")
            added = Versioned(citizen, 1, _now())
            self._citizens[citizen.citizen_id] = added
            return added

    # -- businesses --------------------------------------------------------------------------

    def business(self, tax_code: str) -> Business | None:
        """The business with ``tax_code``, or None."""
        found = self._businesses.get(tax_code)
        return None if found is None else found.record

    def business_entry(self, tax_code: str) -> Versioned[Business] | None:
        """The business with ``tax_code`` and its version, or None."""
        return self._businesses.get(tax_code)

    def businesses(self, limit: int | None = None) -> list[Versioned[Business]]:
        """The first ``limit`` businesses (all when None), with versions."""
        with self._lock:
            values = list(self._businesses.values())
        return values if limit is None else values[:limit]

    def business_count(self) -> int:
        """How many businesses there are."""
        return len(self._businesses)

    def change_business(self, tax_code: str, changes: Mapping[str, Any]) -> Versioned[Business]:
        """Apply an admin change: a new status (``dissolved``, ``suspended`` …), name or address.

        ``status`` is a ``BusinessStatus`` value or the registry's Vietnamese status text.
        """
        unknown = sorted(set(changes) - BUSINESS_CHANGES)
        if unknown:
            raise InvalidChange(f"these business fields cannot be changed: {', '.join(unknown)}")
        if not changes:
            raise InvalidChange("no change given")
        update = dict(changes)
        if "status" in update:
            update["status"] = _status(update["status"])
        with self._lock:
            found = self._businesses.get(tax_code)
            if found is None:
                raise UnknownRecord("no such business")
            data = found.record.model_dump()
            data.update(update)
            try:
                business = Business.model_validate(data)
            except ValidationError as exc:
                raise InvalidChange(_fields(exc)) from exc
            changed = Versioned(business, found.version + 1, _now())
            self._businesses[tax_code] = changed
            return changed


def _status(value: object) -> BusinessStatus:
    if isinstance(value, str):
        if value in STATUS_OF_TEXT:
            return STATUS_OF_TEXT[value]
        try:
            return BusinessStatus(value)
        except ValueError:
            pass
    choices = ", ".join(status.value for status in BusinessStatus)
    raise InvalidChange(f"status must be one of {choices} (or the registry's Vietnamese text)")


def _fields(exc: ValidationError) -> str:
    where = sorted({".".join(str(p) for p in e["loc"]) or "record" for e in exc.errors()})
    return "invalid value for: " + ", ".join(where)


__all__ = ["BUSINESS_CHANGES", "CITIZEN_CHANGES", "MockRecords", "Versioned"]
