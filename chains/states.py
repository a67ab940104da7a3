"""The states of a chain and of its steps, and what each means."""

from __future__ import annotations

from enum import StrEnum


class ChainState(StrEnum):
    """Where a chain stands: its steps going on, all done, or stopped at a refusal."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"


class StepState(StrEnum):
    """Where a step stands.

    ``waiting`` for the step before it; ``pending`` to be sent (or being sent) to its agency;
    ``submitted`` taken in by the agency, not decided yet (polled); ``verification`` the agency
    asked for verification (polled; the deadlines move); ``done`` the agency issued its result;
    ``refused`` the agency refused (the chain stops here); ``dead`` given up on after errors
    (an operator retries it); ``not_reached`` a step after a refusal, never sent.
    """

    WAITING = "waiting"
    PENDING = "pending"
    SUBMITTED = "submitted"
    VERIFICATION = "verification"
    DONE = "done"
    REFUSED = "refused"
    DEAD = "dead"
    NOT_REACHED = "not_reached"


#: states in which a worker takes the step (to send it, or to ask the agency how it stands)
ACTIVE_STATES = frozenset({StepState.PENDING, StepState.SUBMITTED, StepState.VERIFICATION})

__all__ = ["ACTIVE_STATES", "ChainState", "StepState"]
