"""What the mock agency systems hold: requests by reference, a behaviour each, one settable clock.

Three agency systems take the steps of inter-agency chains (``chains``): civil status (birth and
death certificates; a newborn's personal identification number comes from the population mock's
records), residence (permanent residence registered or removed) and social security (the child's
health insurance card, the funeral allowance). Each is an :class:`AgencyBook`.

Like the real systems as far as they are known, and harsher where they are not:

- a request is **not deduplicated** by its reference: the same request sent twice is two
  requests and two certificates (``dedupe`` in the behaviour turns the kinder reading on). A
  client that does not know whether its request arrived must read it back by reference first;
- an answer can take days: a request is decided when the agencies' clock (:class:`AgencyClock`,
  real time plus a settable offset) reaches its ``ready_at``; until then it is ``processing``,
  or ``verification`` when the agency asked for verification;
- an agency refuses with a reason, either because its behaviour says so or because what it was
  sent does not hold (a mother, a deceased person or a child the population database lacks).

Behaviours (``PUT /_admin/agencies/{agency}/behaviour``): ``mode`` is ``issue`` (decide at once),
``slow`` (decide after ``days``), ``verify`` (ask for verification, decide after ``days``),
``refuse`` (refuse with ``reason`` after ``days``); ``count`` limits how many next requests the
behaviour applies to (then back to ``issue``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from mock_endpoints.errors import InvalidChange
from mock_endpoints.records import MockRecords
from schemas.citizen_id import Sex, make_citizen_id
from schemas.models import Citizen
from schemas.regions import PROVINCE_CODES

AGENCIES: tuple[str, ...] = ("civil-status", "residence", "social-security")
MODES: tuple[str, ...] = ("issue", "slow", "verify", "refuse")
#: what each agency's requests answer while undecided, by mode
_PENDING_STATE = {"slow": "processing", "verify": "verification", "refuse": "processing"}


class AgencyInputError(ValueError):
    """A request the agency cannot read (HTTP 400): unknown action, a field missing or malformed."""


class Refusal(Exception):
    """The agency decides against the request; ``reason`` is said to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgencyClock:
    """Real time plus an offset the sandbox admin sets (to let days pass at once)."""

    def __init__(self, now: Callable[[], dt.datetime] | None = None) -> None:
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()
        self.offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        """The agencies' present."""
        with self._lock:
            return self._now() + self.offset

    def advance(self, days: float) -> None:
        """Let ``days`` pass at once."""
        with self._lock:
            self.offset += dt.timedelta(days=days)

    def set_offset(self, days: float) -> None:
        """Put the clock ``days`` ahead of real time (0: real time)."""
        with self._lock:
            self.offset = dt.timedelta(days=days)


@dataclass(frozen=True)
class Behaviour:
    """How an agency answers its next requests."""

    mode: str = "issue"
    days: float = 0.0
    reason: str = "the dossier does not meet the conditions"
    count: int | None = None
    dedupe: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidChange(f"mode must be one of {', '.join(MODES)}")
        if not 0 <= self.days <= 365:
            raise InvalidChange("days must be between 0 and 365")
        if self.count is not None and self.count < 0:
            raise InvalidChange("count must not be negative")
        if not self.reason.strip() or len(self.reason) > 500:
            raise InvalidChange("reason must be 1-500 characters")

    @classmethod
    def from_json(cls, data: Any) -> Behaviour:
        """From ``PUT /_admin/agencies/{agency}/behaviour``'s body."""
        if not isinstance(data, Mapping):
            raise InvalidChange("the behaviour must be a JSON object")
        unknown = sorted(set(data) - {"mode", "days", "reason", "count", "dedupe"})
        if unknown:
            raise InvalidChange(f"unknown behaviour field {unknown[0]!r}")
        try:
            return cls(
                mode=str(data.get("mode", "issue")),
                days=float(data.get("days", 0)),
                reason=str(data.get("reason", cls.reason)),
                count=None if data.get("count") is None else int(data["count"]),
                dedupe=bool(data.get("dedupe", False)),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidChange("days and count must be numbers") from exc


@dataclass
class AgencyRequest:
    """One request as the agency holds it."""

    number: int
    reference: str
    action: str
    fields: dict[str, Any]
    received_at: dt.datetime
    ready_at: dt.datetime
    mode: str
    reason: str
    decided_at: dt.datetime | None = None
    state: str = "received"
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Action:
    """What an agency does for one action: the fields it needs and how it decides."""

    needs: tuple[str, ...]
    decide: Callable[[AgencyBook, dict[str, Any]], dict[str, Any]]


@dataclass
class AgencyBook:
    """One agency system's requests, behaviour and numbering."""

    agency: str
    actions: Mapping[str, Action]
    clock: AgencyClock
    records: MockRecords
    behaviour: Behaviour = field(default_factory=Behaviour)
    _requests: list[AgencyRequest] = field(default_factory=list)
    _by_reference: dict[str, list[AgencyRequest]] = field(default_factory=dict)
    _serial: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def submit(self, reference: Any, action: Any, fields: Any) -> tuple[bool, dict[str, Any]]:
        """Take a request in; ``(created, view)``. Raises ``AgencyInputError``."""
        if not isinstance(reference, str) or not 0 < len(reference) <= 128:
            raise AgencyInputError("reference must be a string of 1-128 characters")
        spec = self.actions.get(action) if isinstance(action, str) else None
        if spec is None:
            raise AgencyInputError(f"unknown action for {self.agency}")
        if not isinstance(fields, Mapping):
            raise AgencyInputError("fields must be a JSON object")
        for name in spec.needs:
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip():
                raise AgencyInputError(f"fields.{name} is required")
        with self._lock:
            if self.behaviour.dedupe and reference in self._by_reference:
                return False, self._view(self._by_reference[reference][0])
            behaviour = self.behaviour
            if behaviour.count is not None:
                left = behaviour.count - 1
                self.behaviour = (
                    replace(behaviour, count=left)
                    if left > 0
                    else Behaviour(dedupe=behaviour.dedupe)
                )
            now = self.clock.now()
            request = AgencyRequest(
                number=len(self._requests) + 1,
                reference=reference,
                action=action,
                fields=dict(fields),
                received_at=now,
                ready_at=now + dt.timedelta(days=behaviour.days),
                mode=behaviour.mode,
                reason=behaviour.reason,
            )
            self._requests.append(request)
            self._by_reference.setdefault(reference, []).append(request)
            return True, self._view(request)

    def find(self, reference: str) -> dict[str, Any] | None:
        """The first request sent under ``reference``, as the agency answers it; or None."""
        with self._lock:
            found = self._by_reference.get(reference)
            return None if not found else self._view(found[0])

    def requests(self, reference: str | None = None) -> list[dict[str, Any]]:
        """Every request (or those under ``reference``), in arrival order."""
        with self._lock:
            chosen = self._requests if reference is None else self._by_reference.get(reference, [])
            return [self._view(r) for r in chosen]

    def summary(self) -> dict[str, Any]:
        """Counts for the admin: requests, distinct references, references sent more than once."""
        with self._lock:
            doubled = sum(1 for items in self._by_reference.values() if len(items) > 1)
            return {
                "agency": self.agency,
                "requests": len(self._requests),
                "references": len(self._by_reference),
                "doubled": doubled,
                "behaviour": asdict(self.behaviour),
            }

    def clear(self) -> None:
        """Forget every request and go back to the default behaviour."""
        with self._lock:
            self._requests.clear()
            self._by_reference.clear()
            self.behaviour = Behaviour()

    def next_number(self, prefix: str) -> str:
        """The agency's next document number, ``PREFIX-YYYY-NNNNNN``."""
        with self._lock:
            self._serial += 1
            return f"{prefix}-{self.clock.now().year}-{self._serial:06d}"

    # -- deciding ------------------------------------------------------------------------------

    def _view(self, request: AgencyRequest) -> dict[str, Any]:
        self._decide(request)
        return {
            "reference": request.reference,
            "number": request.number,
            "action": request.action,
            "state": request.state,
            "result": request.result,
            "reason": request.reason if request.state == "refused" else None,
            "received_at": request.received_at.isoformat(),
            "decided_at": None if request.decided_at is None else request.decided_at.isoformat(),
        }

    def _decide(self, request: AgencyRequest) -> None:
        if request.decided_at is not None:
            return
        now = self.clock.now()
        if now < request.ready_at:
            request.state = _PENDING_STATE[request.mode]
            return
        request.decided_at = now
        if request.mode == "refuse":
            request.state = "refused"
            return
        try:
            request.result = self.actions[request.action].decide(self, request.fields)
        except Refusal as refusal:
            request.state, request.reason = "refused", refusal.reason
            return
        request.state = "issued"


# --- the three agencies' actions ---------------------------------------------------------------


def _citizen(book: AgencyBook, citizen_id: str, who: str) -> Citizen:
    found = book.records.citizen(citizen_id)
    if found is None:
        raise Refusal(f"the {who} is not in the population database")
    return found


def _register_birth(book: AgencyBook, fields: dict[str, Any]) -> dict[str, Any]:
    mother = _citizen(book, fields["mother_id"], "mother")
    try:
        born = dt.date.fromisoformat(fields["child_date_of_birth"])
        sex = Sex(fields["child_sex"])
    except ValueError as exc:
        raise Refusal("the child's date of birth or sex cannot be read") from exc
    region = mother.citizen_id[:3] if mother.citizen_id[:3] in PROVINCE_CODES else "001"
    certificate = book.next_number("KS")
    serial = int(certificate.rsplit("-", 1)[1])
    for attempt in range(1000):
        pin = make_citizen_id(region, born.year, sex, (serial * 7919 + attempt) % 1_000_000)
        if book.records.citizen(pin) is None:
            break
    try:
        child = Citizen(
            citizen_id=pin,
            full_name=fields["child_full_name"],
            date_of_birth=born,
            sex=sex,
            place_of_origin=mother.place_of_origin,
            permanent_address=mother.permanent_address,
        )
        book.records.add_citizen(child)
    except (ValidationError, InvalidChange) as exc:
        raise Refusal("the child cannot be registered in the population database") from exc
    return {"certificate_number": certificate, "pin": pin}


def _register_death(book: AgencyBook, fields: dict[str, Any]) -> dict[str, Any]:
    _citizen(book, fields["deceased_id"], "deceased person")
    return {"certificate_number": book.next_number("KT")}


def _register_residence(book: AgencyBook, fields: dict[str, Any]) -> dict[str, Any]:
    _citizen(book, fields["citizen_id"], "child")
    _citizen(book, fields["head_of_household_id"], "head of household")
    book.records.change_citizen(fields["citizen_id"], {"permanent_address": fields["address"]})
    return {"residence_number": book.next_number("TT")}


def _remove_residence(book: AgencyBook, fields: dict[str, Any]) -> dict[str, Any]:
    _citizen(book, fields["citizen_id"], "deceased person")
    return {"removal_number": book.next_number("XTT")}


def _health_card(book: AgencyBook, fields: dict[str, Any]) -> dict[str, Any]:
    child = _citizen(book, fields["citizen_id"], "child")
    number = book.next_number("TE1")
    return {"card_number": f"TE1{child.citizen_id[:2]}{number[-10:].replace('-', '0')}"}


def _funeral_allowance(book: AgencyBook, fields: dict[str, Any]) -> dict[str, Any]:
    _citizen(book, fields["citizen_id"], "deceased person")
    _citizen(book, fields["claimant_id"], "claimant")
    return {"decision_number": book.next_number("QD-MTP")}


ACTIONS: Mapping[str, Mapping[str, Action]] = {
    "civil-status": {
        "register_birth": Action(
            ("child_full_name", "child_date_of_birth", "child_sex", "mother_id"), _register_birth
        ),
        "register_death": Action(
            ("deceased_id", "date_of_death", "place_of_death"), _register_death
        ),
    },
    "residence": {
        "register_permanent_residence": Action(
            ("citizen_id", "birth_certificate", "address", "head_of_household_id"),
            _register_residence,
        ),
        "remove_permanent_residence": Action(
            ("citizen_id", "death_certificate"), _remove_residence
        ),
    },
    "social-security": {
        "issue_health_card": Action(("citizen_id", "birth_certificate", "residence"), _health_card),
        "decide_funeral_allowance": Action(
            ("citizen_id", "death_certificate", "claimant_id"), _funeral_allowance
        ),
    },
}


def agency_books(records: MockRecords, clock: AgencyClock) -> dict[str, AgencyBook]:
    """One book per agency system, sharing the clock and the population records."""
    return {name: AgencyBook(name, ACTIONS[name], clock, records) for name in AGENCIES}


__all__ = [
    "ACTIONS",
    "AGENCIES",
    "MODES",
    "AgencyBook",
    "AgencyClock",
    "AgencyInputError",
    "AgencyRequest",
    "Behaviour",
    "Refusal",
    "agency_books",
]
