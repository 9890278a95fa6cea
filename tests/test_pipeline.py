"""make_plan refuses a plan the verifier rejects, and falls back to the greedy plan only when
the solver's incumbent is unproven and worse on the settings' objective.

The solver is replaced by a stub (``planner.pipeline._plan_anytime``) that returns a plan
built by hand with :func:`planner.results.plan_from_decisions` and a chosen status, so each
path is reached on purpose and every expected cost is arithmetic on the tiny fleets.
"""

from __future__ import annotations

import pandas as pd
import pytest
from cases import demand, make_fleet, model, platform, profile, region, tiny_fleet

import planner.pipeline
from planner.baselines import greedy_plan
from planner.errors import SolverError
from planner.pipeline import make_plan
from planner.results import plan_from_decisions, plan_totals
from planner.verify import VIOLATION_COLUMNS, Verification

# The tiny fleet's optimum (also the greedy plan): 4 ASIC in Q0 and 5 in Q1 for rank in east
# (5 bought, 12,000 USD each), 6 CPU for vision in west (10,000 USD each).
TINY_REPLICAS = {
    ("rank", "asic", "east", 0): 4,
    ("rank", "asic", "east", 1): 5,
    ("vision", "cpu", "west", 0): 6,
    ("vision", "cpu", "west", 1): 6,
}
TINY_BUYS = {("asic", "east", 0): 5, ("cpu", "west", 0): 6}
TINY_OPTIMUM = 5 * 12_000 + 6 * 10_000


def incumbent(fleet, replicas, purchases, status="feasible", bound_kusd=None):
    """A solver result as _plan_anytime returns it: a plan with a summary, no model."""
    plan = plan_from_decisions(fleet, replicas, purchases)
    plan.summary = {
        "case": fleet.name,
        "status": status,
        "solver": "highs",
        "objective": fleet.settings.objective,
        "best_bound": bound_kusd,
        "gap": None,
        **plan_totals(plan),
    }
    return plan


def stub_solver(monkeypatch, plan) -> None:
    monkeypatch.setattr(planner.pipeline, "_plan_anytime", lambda *a, **k: (plan, None))


def test_a_plan_the_verifier_rejects_is_refused(monkeypatch):
    fleet = tiny_fleet()
    seen = []

    def reject(fleet_, plan):
        seen.append(plan)
        frame = pd.DataFrame(
            [("power", "fleet", 2, "east Q1", "injected failure")], columns=VIOLATION_COLUMNS
        )
        return Verification(frame, plan.total_cost_usd)

    monkeypatch.setattr(planner.pipeline, "verify_plan", reject)
    with pytest.raises(SolverError, match="failed independent verification") as exc:
        make_plan(fleet)
    assert "injected failure" in str(exc.value)
    assert len(seen) == 1  # the solver's plan itself was checked


def test_a_rejected_unproven_plan_is_refused_not_swapped_for_the_greedy(monkeypatch):
    """Q1 short of demand (4 ASIC serve 1,000 < 1,200 qps) and 3 idle ASIC bought: invalid and
    156,000 USD, dearer than the valid greedy plan, which must not quietly replace it."""
    fleet = tiny_fleet()
    short = dict(TINY_REPLICAS)
    short[("rank", "asic", "east", 1)] = 4
    buys = dict(TINY_BUYS)
    buys[("asic", "east", 0)] = 8
    bad = incumbent(fleet, short, buys)
    assert bad.total_cost_usd == pytest.approx(8 * 12_000 + 6 * 10_000)
    stub_solver(monkeypatch, bad)
    with pytest.raises(SolverError, match="demand"):
        make_plan(fleet)


def test_an_unproven_worse_incumbent_falls_back_to_the_greedy_plan(monkeypatch):
    fleet = tiny_fleet()
    buys = dict(TINY_BUYS)
    buys[("asic", "east", 0)] = 8  # 3 idle ASIC servers too many: valid, 36,000 USD worse
    worse = incumbent(fleet, TINY_REPLICAS, buys, bound_kusd=110.0)
    assert worse.total_cost_usd == pytest.approx(TINY_OPTIMUM + 3 * 12_000)
    stub_solver(monkeypatch, worse)
    plan = make_plan(fleet)
    assert plan.total_cost_usd == pytest.approx(TINY_OPTIMUM)
    assert plan.summary["source"].startswith("greedy baseline")
    assert plan.summary["status"] == "feasible"  # still not proven
    assert plan.summary["verified"] is True
    assert plan.summary["total_cost_usd"] == pytest.approx(TINY_OPTIMUM)
    assert plan.summary["gap"] == pytest.approx((120.0 - 110.0) / 120.0)
    assert int(plan.purchases["servers"].sum()) == 11


def test_a_proven_plan_is_never_replaced(monkeypatch):
    fleet = tiny_fleet()
    buys = dict(TINY_BUYS)
    buys[("asic", "east", 0)] = 8
    stub_solver(monkeypatch, incumbent(fleet, TINY_REPLICAS, buys, status="optimal"))
    plan = make_plan(fleet)
    assert plan.total_cost_usd == pytest.approx(TINY_OPTIMUM + 3 * 12_000)
    assert "source" not in plan.summary


def test_an_unproven_incumbent_better_than_the_greedy_is_kept(monkeypatch):
    """150 qps: two 100-qps CPUs (2,000 USD) beat the greedy's one big server (5,000 USD), which
    it picks for its better throughput per dollar (0.2 vs 0.1 qps/USD)."""
    fleet = make_fleet(
        platforms=[platform("cpu", capex_usd=1_000), platform("big", capex_usd=5_000)],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100), profile("rank", "big", 1_000)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 150)],
    )
    stub_solver(
        monkeypatch, incumbent(fleet, {("rank", "cpu", "east", 0): 2}, {("cpu", "east", 0): 2})
    )
    plan = make_plan(fleet)
    assert plan.total_cost_usd == pytest.approx(2 * 1_000)
    assert "source" not in plan.summary
    assert greedy_plan(fleet).total_cost_usd == pytest.approx(5_000)  # the greedy was worse


def test_the_fallback_compares_on_the_objective_not_on_cost(monkeypatch):
    """Objective power: ten 100 W servers (1 kW, 50,000 USD) beat ten 1,000 W ones (10 kW,
    10,000 USD); a greedy plan cheaper in USD must not replace the lower-power incumbent."""
    fleet = make_fleet(
        platforms=[
            platform("hot", power_w=1_000, capex_usd=1_000),
            platform("cool", power_w=100, capex_usd=5_000),
        ],
        models=[model("rank")],
        profiles=[profile("rank", "hot", 100), profile("rank", "cool", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1_000)],
        settings={"objective": "power"},
    )
    stub_solver(
        monkeypatch, incumbent(fleet, {("rank", "cool", "east", 0): 10}, {("cool", "east", 0): 10})
    )
    plan = make_plan(fleet)
    assert float(plan.power["power_kw"].sum()) == pytest.approx(10 * 0.1)
    assert plan.total_cost_usd == pytest.approx(50_000)
    assert "source" not in plan.summary
