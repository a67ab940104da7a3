"""The fault plan: validation, parsing, seeded decisions, drop budgets."""

from __future__ import annotations

import pytest

from mock_endpoints.errors import FaultSpecError
from mock_endpoints.faults import (
    FaultPlan,
    UpstreamFaults,
    parse_fault_option,
    parse_plan_json,
    plan_from_options,
)


def test_default_plan_injects_nothing() -> None:
    """With no faults, a call is neither delayed, refused nor dropped."""
    decision = FaultPlan().decide("portal")
    assert (decision.latency_seconds, decision.unavailable, decision.drop) == (0.0, False, False)


def test_outage_refuses_every_call() -> None:
    """``outage`` answers every call as unavailable and never drops."""
    plan = FaultPlan({"registry": UpstreamFaults(outage=True, drop_after_commit=1.0)})
    decisions = [plan.decide("registry") for _ in range(20)]
    assert all(d.unavailable and not d.drop for d in decisions)
    assert not plan.decide("portal").unavailable


def test_error_rate_is_seeded_and_roughly_right() -> None:
    """The same seed refuses the same calls; about error_rate of them."""

    def run(seed: int) -> list[bool]:
        plan = FaultPlan({"population": UpstreamFaults(error_rate=0.3)}, seed=seed)
        return [plan.decide("population").unavailable for _ in range(1000)]

    first = run(5)
    assert first == run(5)
    assert first != run(6)
    assert 0.24 < sum(first) / 1000 < 0.36


def test_drop_count_limits_how_many_are_dropped() -> None:
    """``drop_count=2`` drops exactly the next two droppable responses."""
    plan = FaultPlan({"portal": UpstreamFaults(drop_after_commit=1.0, drop_count=2)})
    assert not plan.decide("portal", droppable=False).drop
    drops = [plan.decide("portal").drop for _ in range(5)]
    assert drops == [True, True, False, False, False]
    assert plan.get("portal").drop_count == 0
    assert plan.counters()["portal"]["dropped"] == 2


def test_latency_is_reported_in_seconds() -> None:
    """``latency_ms`` becomes the decision's delay in seconds."""
    plan = FaultPlan({"portal": UpstreamFaults(latency_ms=250)})
    assert plan.decide("portal").latency_seconds == pytest.approx(0.25)


@pytest.mark.parametrize(
    "values",
    [{"error_rate": 1.5}, {"latency_ms": -1}, {"drop_count": -2}, {"stall_seconds": 0}],
)
def test_out_of_range_values_are_refused(values: dict[str, float]) -> None:
    """Rates outside 0–1, negative latency or counts, and a zero stall are refused."""
    with pytest.raises(FaultSpecError):
        UpstreamFaults.from_json(values)


def test_json_plan_is_parsed_and_checked() -> None:
    """A PUT body maps upstream -> faults; unknown upstreams and fields are refused."""
    plan = parse_plan_json({"portal": {"drop_after_commit": 1, "outage": "false"}})
    assert plan["portal"] == UpstreamFaults(drop_after_commit=1.0)
    with pytest.raises(FaultSpecError, match="upstream"):
        parse_plan_json({"nowhere": {}})
    with pytest.raises(FaultSpecError, match="field"):
        parse_plan_json({"portal": {"explode": True}})
    with pytest.raises(FaultSpecError):
        parse_plan_json({"portal": {"outage": "maybe"}})


def test_command_line_options_are_gathered() -> None:
    """``--fault upstream:field=value`` options combine per upstream; bare ``outage`` is true."""
    plan = plan_from_options(
        ["portal:drop_after_commit=1", "portal:drop_count=1", "registry:outage"]
    )
    assert plan["portal"] == UpstreamFaults(drop_after_commit=1.0, drop_count=1)
    assert plan["registry"] == UpstreamFaults(outage=True)
    assert parse_fault_option("population:latency_ms=20") == ("population", "latency_ms", "20")
    with pytest.raises(FaultSpecError):
        parse_fault_option("portal")


def test_replace_all_resets_unnamed_upstreams() -> None:
    """Replacing the plan clears the faults of upstreams it does not name."""
    plan = FaultPlan({"portal": UpstreamFaults(outage=True)})
    plan.replace_all({"registry": UpstreamFaults(latency_ms=5)})
    assert plan.get("portal") == UpstreamFaults()
    assert plan.get("registry").latency_ms == 5
    assert plan.to_json()["faults"]["registry"]["latency_ms"] == 5
