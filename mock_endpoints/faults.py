"""Fault injection: what each mock upstream does wrong, set at start-up or at run time.

One :class:`UpstreamFaults` per upstream (``population``, ``registry``, ``portal``, the agency
systems ``civil-status``, ``residence``, ``social-security``, and the push receivers
``ministry``, ``zns`` and ``sms``), gathered in a
:class:`FaultPlan` that the mock consults on every call to that upstream's data endpoints (the
WSDL, the admin routes and the token/login calls of drops are never faulted, see below):

``latency_ms``
    added before the call is handled.
``error_rate``
    share of calls (0–1, seeded RNG) answered as "temporarily unavailable": a SOAP
    ``soapenv:Server`` fault ``UNAVAILABLE`` (HTTP 500) for the population service, HTTP 503 with
    the protocol's error body for the registry and the portal. Nothing is applied.
``outage``
    every call answered at once with the same "unavailable" answer (HTTP 503 for REST, the
    ``UNAVAILABLE`` fault for SOAP). A real outage refuses connections; one ASGI server sharing
    one port for three upstreams cannot do that per path, so the mock answers immediately instead.
``drop_after_commit``
    share of calls (0–1) that are handled — the portal stores the dossier or applies the progress
    update — and whose response is then withheld: the connection stays silent until the client
    gives up (its timeout) or ``stall_seconds`` pass, after which a 504 is sent. Only calls that
    did their work are dropped (portal writes; population and registry lookups), never the
    login or token calls, so a client can always retry. ``drop_count``, when set, caps how many
    more responses are dropped (``drop_after_commit=1, drop_count=1`` drops exactly the next one).

The plan is changed through ``GET``/``PUT /_admin/faults`` (JSON, see :meth:`FaultPlan.to_json`)
or ``--fault upstream:field=value`` on the command line (:func:`parse_fault_option`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from mock_endpoints.errors import FaultSpecError

UPSTREAMS: tuple[str, ...] = (
    "population",
    "registry",
    "portal",
    "civil-status",
    "residence",
    "social-security",
    "ministry",
    "zns",
    "sms",
)


@dataclass(frozen=True)
class UpstreamFaults:
    """The faults of one upstream; the default injects nothing."""

    latency_ms: int = 0
    error_rate: float = 0.0
    outage: bool = False
    drop_after_commit: float = 0.0
    drop_count: int | None = None
    stall_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.latency_ms > 600_000:
            raise FaultSpecError("latency_ms must be between 0 and 600000")
        for name in ("error_rate", "drop_after_commit"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultSpecError(f"{name} must be between 0 and 1")
        if self.drop_count is not None and self.drop_count < 0:
            raise FaultSpecError("drop_count must not be negative")
        if not 0.0 < self.stall_seconds <= 3600.0:
            raise FaultSpecError("stall_seconds must be between 0 and 3600")

    @property
    def active(self) -> bool:
        """True when this upstream injects any fault at all."""
        return self != UpstreamFaults()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpstreamFaults:
        """Build from a JSON object; unknown fields or wrong types raise :class:`FaultSpecError`."""
        if not isinstance(data, Mapping):
            raise FaultSpecError("the faults of an upstream must be a JSON object")
        known = {field.name: field for field in fields(cls)}
        values: dict[str, Any] = {}
        for name, raw in data.items():
            if name not in known:
                raise FaultSpecError(f"unknown fault field {name!r}")
            values[name] = _coerce(name, raw)
        return cls(**values)


def _coerce(name: str, raw: Any) -> Any:
    """A JSON or command-line value converted to the field's type."""
    try:
        if name == "outage":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in {"true", "1", "yes", "on"}:
                return True
            if isinstance(raw, str) and raw.lower() in {"false", "0", "no", "off"}:
                return False
            if isinstance(raw, int):
                return bool(raw)
            raise FaultSpecError("outage must be true or false")
        if isinstance(raw, bool):
            raise FaultSpecError(f"{name} must be a number")
        if name == "drop_count":
            return None if raw is None or raw == "" else int(raw)
        if name == "latency_ms":
            return int(raw)
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"{name} must be a number") from exc


@dataclass(frozen=True)
class Decision:
    """What to do with one call: wait, refuse as unavailable, and/or drop its response."""

    latency_seconds: float = 0.0
    unavailable: bool = False
    drop: bool = False
    stall_seconds: float = 30.0


_NOTHING = Decision()


class FaultPlan:
    """The faults of every upstream, changeable at run time; thread-safe, one seeded RNG each."""

    def __init__(
        self, faults: Mapping[str, UpstreamFaults] | None = None, *, seed: int = 42
    ) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, UpstreamFaults] = dict.fromkeys(UPSTREAMS, UpstreamFaults())
        self._rngs = {name: random.Random(f"{seed}:faults:{name}") for name in UPSTREAMS}
        self._counters: dict[str, dict[str, int]] = {name: _zero() for name in UPSTREAMS}
        if faults:
            self.update(faults)

    def get(self, upstream: str) -> UpstreamFaults:
        """The current faults of ``upstream``."""
        _check_upstream(upstream)
        with self._lock:
            return self._faults[upstream]

    def set(self, upstream: str, faults: UpstreamFaults) -> None:
        """Replace the faults of one upstream."""
        _check_upstream(upstream)
        with self._lock:
            self._faults[upstream] = faults

    def update(self, faults: Mapping[str, UpstreamFaults]) -> None:
        """Replace the faults of the upstreams named in ``faults``; the others keep theirs."""
        for upstream in faults:
            _check_upstream(upstream)
        with self._lock:
            self._faults.update(faults)

    def replace_all(self, faults: Mapping[str, UpstreamFaults]) -> None:
        """Replace the whole plan: upstreams not named in ``faults`` inject nothing."""
        for upstream in faults:
            _check_upstream(upstream)
        with self._lock:
            self._faults = {name: faults.get(name, UpstreamFaults()) for name in UPSTREAMS}

    def decide(self, upstream: str, *, droppable: bool = True) -> Decision:
        """Draw what happens to the next call to ``upstream`` (counts it in :meth:`counters`)."""
        with self._lock:
            faults = self._faults[upstream]
            counters = self._counters[upstream]
            counters["calls"] += 1
            if not faults.active:
                return _NOTHING
            rng = self._rngs[upstream]
            unavailable = faults.outage or (
                faults.error_rate > 0 and rng.random() < faults.error_rate
            )
            drop = False
            if not unavailable and droppable and faults.drop_after_commit > 0:
                budget = faults.drop_count
                if (budget is None or budget > 0) and rng.random() < faults.drop_after_commit:
                    drop = True
                    if budget is not None:
                        self._faults[upstream] = replace(faults, drop_count=budget - 1)
            if unavailable:
                counters["unavailable"] += 1
            if drop:
                counters["dropped"] += 1
            return Decision(
                latency_seconds=faults.latency_ms / 1000.0,
                unavailable=unavailable,
                drop=drop,
                stall_seconds=faults.stall_seconds,
            )

    def counters(self) -> dict[str, dict[str, int]]:
        """Per upstream: calls seen, calls answered unavailable, responses dropped."""
        with self._lock:
            return {name: dict(values) for name, values in self._counters.items()}

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON: ``{"faults": {upstream: {...}}, "counters": {...}}``."""
        with self._lock:
            return {
                "faults": {name: asdict(value) for name, value in self._faults.items()},
                "counters": {name: dict(values) for name, values in self._counters.items()},
            }


def _zero() -> dict[str, int]:
    return {"calls": 0, "unavailable": 0, "dropped": 0}


def _check_upstream(upstream: str) -> None:
    if upstream not in UPSTREAMS:
        raise FaultSpecError(f"unknown upstream {upstream!r} (one of {', '.join(UPSTREAMS)})")


def parse_plan_json(data: Any) -> dict[str, UpstreamFaults]:
    """``{upstream: {field: value}}`` (as PUT to ``/_admin/faults``) → faults per upstream."""
    if not isinstance(data, Mapping):
        raise FaultSpecError("the fault plan must be a JSON object keyed by upstream")
    plan: dict[str, UpstreamFaults] = {}
    for upstream, value in data.items():
        _check_upstream(str(upstream))
        plan[str(upstream)] = UpstreamFaults.from_json(value)
    return plan


def parse_fault_option(option: str) -> tuple[str, str, Any]:
    """``upstream:field=value`` (``--fault``) → ``(upstream, field, value)``, value as a string.

    ``portal:outage`` (no value) means ``portal:outage=true``.
    """
    upstream, sep, assignment = option.partition(":")
    if not sep or not assignment:
        raise FaultSpecError(f"expected upstream:field=value, got {option!r}")
    _check_upstream(upstream)
    name, eq, value = assignment.partition("=")
    if not eq:
        if name != "outage":
            raise FaultSpecError(f"expected upstream:field=value, got {option!r}")
        value = "true"
    return upstream, name, value


def plan_from_options(options: Iterable[str]) -> dict[str, UpstreamFaults]:
    """Several ``--fault`` options gathered into faults per upstream."""
    gathered: dict[str, dict[str, Any]] = {}
    for option in options:
        upstream, name, value = parse_fault_option(option)
        gathered.setdefault(upstream, {})[name] = value
    return {name: UpstreamFaults.from_json(values) for name, values in gathered.items()}


__all__ = [
    "UPSTREAMS",
    "Decision",
    "FaultPlan",
    "UpstreamFaults",
    "parse_fault_option",
    "parse_plan_json",
    "plan_from_options",
]
