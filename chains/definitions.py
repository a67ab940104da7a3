"""Chains as data: which agency each step goes to, what it needs, and how long it may take.

A chain definition is a TOML file (the shipped ones are in ``chains/definitions/``)::

    id = "birth-residence-card"            # what a filing names
    title = "…"                            # shown to people
    procedure_code = "1.013124"            # the chain dossier's procedure on the portal
    sector = "TP.HT"                       # the chain dossier's sector
    working_days = 3                       # the whole chain …
    working_days_with_verification = 5    # … and when an agency asked for verification
    cutoff = "15:00"                       # a filing after it counts from the next working day
    subject = ["child_full_name", …]       # the fields the one filing must carry

    [[steps]]                              # in order; each starts when the one before is done
    name = "birth"                         # unique in the chain; later steps refer to it
    agency = "civil-status"                # one of AGENCIES
    action = "register_birth"              # what the agency system is asked to do
    sector = "TP.HT"                       # the ministry sector that sees this step
    working_days = 2                       # optional per-step limit (and with verification)
    needs = { field = "subject.x" | "<earlier step>.<result field>" }
    reference = "certificate_number"       # the result field that names what the step produced

``load_definitions(folder)`` reads the shipped files and then the province's folder, whose files
replace shipped ones with the same ``id``. Every definition is checked when read: unknown
agencies, a step needing a later step's result or an undeclared subject field, non-positive
limits are ``DefinitionError`` naming the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from chains.errors import DefinitionError, InvalidFiling

#: the agency systems a step can go to (each a mock in the sandbox)
AGENCIES: tuple[str, ...] = ("civil-status", "residence", "social-security")
SHIPPED_DIR = Path(__file__).resolve().parent / "definitions"
SUBJECT = "subject"


@dataclass(frozen=True, slots=True)
class StepDefinition:
    """One step: an agency system, an action, the fields it needs, its own limit if any."""

    name: str
    title: str
    agency: str
    action: str
    sector: str
    needs: Mapping[str, str]
    reference: str
    working_days: int | None = None
    working_days_with_verification: int | None = None

    def limit(self, *, verification: bool) -> int | None:
        """The step's limit in working days (None: only the chain's limit bounds it)."""
        if verification and self.working_days_with_verification is not None:
            return self.working_days_with_verification
        return self.working_days


@dataclass(frozen=True, slots=True)
class ChainDefinition:
    """A chain of steps taken in by one filing and bounded by one deadline."""

    id: str
    title: str
    procedure_code: str
    sector: str
    working_days: int
    working_days_with_verification: int
    cutoff: time
    subject: tuple[str, ...]
    steps: tuple[StepDefinition, ...]

    def limit(self, *, verification: bool) -> int:
        """The whole chain's limit in working days."""
        return self.working_days_with_verification if verification else self.working_days

    def step(self, name: str) -> StepDefinition:
        """The step called ``name`` (``KeyError`` when there is none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def check_subject(self, subject: Mapping[str, Any]) -> None:
        """``InvalidFiling`` naming the first subject field missing or blank."""
        for name in self.subject:
            value = subject.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise InvalidFiling(f"subject.{name} is required", field=f"subject.{name}")
        unknown = sorted(set(subject) - set(self.subject))
        if unknown:
            raise InvalidFiling(
                f"subject.{unknown[0]} is not a field of this chain", field=f"subject.{unknown[0]}"
            )


def step_inputs(
    step: StepDefinition, subject: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What ``step`` sends: its needs read from the filing and the earlier steps' results.

    A result field an earlier step did not produce is ``InvalidFiling`` (the agency answered
    without it; the step cannot be sent).
    """
    inputs: dict[str, Any] = {}
    for field, source in step.needs.items():
        origin, _, name = source.partition(".")
        holder = subject if origin == SUBJECT else results.get(origin, {})
        if name not in holder:
            raise InvalidFiling(f"step {step.name} needs {source}, which is missing", field=source)
        inputs[field] = holder[name]
    return inputs


def load_definitions(folder: Path | None = None) -> dict[str, ChainDefinition]:
    """The shipped definitions, then ``folder``'s (which replace shipped ones of the same id)."""
    found: dict[str, ChainDefinition] = {}
    folders = [SHIPPED_DIR] + ([folder] if folder is not None else [])
    for where in folders:
        if not where.is_dir():
            raise DefinitionError(f"chain definitions folder {where} does not exist")
        for path in sorted(where.glob("*.toml")):
            definition = read_definition(path)
            found[definition.id] = definition
    return found


def read_definition(path: Path) -> ChainDefinition:
    """One definition file, checked (``DefinitionError`` naming the file and the problem)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DefinitionError(f"{path.name}: cannot be read as TOML ({exc})") from exc
    try:
        return parse_definition(data)
    except DefinitionError as exc:
        raise DefinitionError(f"{path.name}: {exc.message}") from exc


def parse_definition(data: Mapping[str, Any]) -> ChainDefinition:
    """A definition from its TOML data, checked."""
    subject = tuple(_strings(data, "subject"))
    steps: list[StepDefinition] = []
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DefinitionError("a chain needs at least one [[steps]]")
    for raw in raw_steps:
        if not isinstance(raw, Mapping):
            raise DefinitionError("each [[steps]] must be a table")
        steps.append(_step(raw, subject, [s.name for s in steps]))
    definition = ChainDefinition(
        id=_text(data, "id"),
        title=_text(data, "title"),
        procedure_code=_text(data, "procedure_code"),
        sector=_text(data, "sector"),
        working_days=_days(data, "working_days"),
        working_days_with_verification=_days(data, "working_days_with_verification"),
        cutoff=_cutoff(data.get("cutoff", "15:00")),
        subject=subject,
        steps=tuple(steps),
    )
    if definition.working_days_with_verification < definition.working_days:
        raise DefinitionError("working_days_with_verification is less than working_days")
    return definition


def _step(raw: Mapping[str, Any], subject: tuple[str, ...], earlier: list[str]) -> StepDefinition:
    name = _text(raw, "name")
    if name in earlier or name == SUBJECT:
        raise DefinitionError(f"step name {name!r} is used twice or reserved")
    agency = _text(raw, "agency")
    if agency not in AGENCIES:
        raise DefinitionError(f"step {name}: unknown agency {agency!r}")
    needs = raw.get("needs", {})
    if not isinstance(needs, Mapping) or not all(isinstance(v, str) for v in needs.values()):
        raise DefinitionError(f"step {name}: needs must map fields to sources")
    for field, source in needs.items():
        origin, dot, what = source.partition(".")
        if not dot or not what:
            raise DefinitionError(f"step {name}: source {source!r} of {field} is not origin.field")
        if origin == SUBJECT and what not in subject:
            raise DefinitionError(f"step {name}: {source} is not a declared subject field")
        if origin != SUBJECT and origin not in earlier:
            raise DefinitionError(f"step {name}: {source} is not an earlier step's result")
    days = _days(raw, "working_days") if "working_days" in raw else None
    verified = (
        _days(raw, "working_days_with_verification")
        if "working_days_with_verification" in raw
        else days
    )
    return StepDefinition(
        name=name,
        title=str(raw.get("title") or name),
        agency=agency,
        action=_text(raw, "action"),
        sector=_text(raw, "sector"),
        needs=dict(needs),
        reference=_text(raw, "reference"),
        working_days=days,
        working_days_with_verification=verified,
    )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"{key} must be a non-empty string")
    return value.strip()


def _days(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 365:
        raise DefinitionError(f"{key} must be a whole number of working days (1-365)")
    return value


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DefinitionError(f"{key} must be a list of field names")
    return list(value)


def _cutoff(value: Any) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise DefinitionError("cutoff must be a time such as 15:00") from exc


__all__ = [
    "AGENCIES",
    "SHIPPED_DIR",
    "ChainDefinition",
    "StepDefinition",
    "load_definitions",
    "parse_definition",
    "read_definition",
    "step_inputs",
]
