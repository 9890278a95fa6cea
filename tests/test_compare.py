"""compare_plans: each plan's status and gap, and whether cost differences are within the gaps.

The tiny fleet (tests/cases.py) costs 120,000 USD; with ranking demand doubled, 180,000 USD
(10 ASICs instead of 5). Both are proven optimal; tests then set the gaps by hand to put the
60,000 USD difference inside or outside the gaps.
"""

from __future__ import annotations

import dataclasses

import pytest
from cases import tiny_fleet

from planner.compare import (
    DIFFERENCES_TABLE,
    NOT_SIGNIFICANT,
    SIGNIFICANT,
    STATUS_TABLE,
    compare_plans,
    cost_gap_usd,
    within_gaps,
)
from planner.pipeline import make_plan
from planner.results import Plan
from planner.scenarios import scenario_from_dict

GROWTH = scenario_from_dict({"demand_multiplier": {"bucket": {"ranking": 2}}}, name="growth")


@pytest.fixture(scope="module")
def plans() -> tuple[Plan, Plan]:
    fleet = tiny_fleet()
    return make_plan(fleet), make_plan(fleet, GROWTH)


def with_summary(plan: Plan, **changes: object) -> Plan:
    """Return ``plan`` with summary entries changed (the module's plans stay untouched)."""
    return dataclasses.replace(plan, summary={**plan.summary, **changes})


def test_existing_tables_are_kept_and_status_table_added(plans):
    base, growth = plans
    tables = compare_plans({"base": base, "growth": growth})
    assert list(tables)[:6] == [
        "Totals",
        "Servers in service, last quarter, by platform class",
        "Servers purchased by platform class",
        "Peak facility power (kW) by region",
        "TCO (USD) by bucket",
        "TCO (USD) by platform class",
    ]
    assert tables["Totals"].loc["total_cost_usd", "growth - base"] == pytest.approx(60_000)
    status = tables[STATUS_TABLE]
    assert list(status.columns) == ["base", "growth"]
    assert status.loc["status"].tolist() == ["optimal", "optimal"]
    assert status.loc["gap", "base"] == base.summary["gap"]
    # the model's bound (kUSD) in USD, never above the plan's cost; proven: at the cost
    bound = status.loc["best_bound_usd", "growth"]
    assert bound == pytest.approx(growth.summary["best_bound"] * 1e3, rel=1e-5)
    assert bound <= growth.total_cost_usd
    assert bound >= growth.total_cost_usd * (1 - 1e-6)
    assert status.loc["verified"].tolist() == [True, True]


def test_a_difference_larger_than_the_gaps_is_significant(plans):
    base, growth = plans
    # 0.1 * 120,000 + 0.1 * 180,000 = 30,000 < 60,000
    diff = compare_plans({"base": with_summary(base, gap=0.1, status="feasible"),
                          "growth": with_summary(growth, gap=0.1, status="feasible")})
    row = diff[DIFFERENCES_TABLE].loc["growth - base"]
    assert row["difference_usd"] == pytest.approx(60_000)
    assert row["combined_gaps_usd"] == pytest.approx(30_000)
    assert row["within_gaps"] is not None and not row["within_gaps"]
    assert row["note"] == SIGNIFICANT
    assert diff[STATUS_TABLE].loc["status"].tolist() == ["feasible", "feasible"]


def test_a_difference_within_the_gaps_is_flagged_not_significant(plans):
    base, growth = plans
    # 0.2 * 120,000 + 0.25 * 180,000 = 69,000 >= 60,000
    tables = compare_plans({"base": with_summary(base, gap=0.2),
                            "growth": with_summary(growth, gap=0.25)})
    row = tables[DIFFERENCES_TABLE].loc["growth - base"]
    assert row["combined_gaps_usd"] == pytest.approx(69_000)
    assert bool(row["within_gaps"]) is True
    assert row["note"] == NOT_SIGNIFICANT == "not significant: within the solver gaps"


def test_unknown_gap_or_another_objective_cannot_be_judged(plans):
    base, growth = plans
    tables = compare_plans({"base": with_summary(base, gap=None),
                            "growth": growth})
    row = tables[DIFFERENCES_TABLE].loc["growth - base"]
    assert row["within_gaps"] is None and row["note"].startswith("unknown")
    # a gap on the power objective says nothing about cost, however large it is
    power = with_summary(growth, objective="power", gap=0.9)
    assert cost_gap_usd(power) is None
    assert compare_plans({"a": base, "b": power})[STATUS_TABLE].loc["best_bound_usd", "b"] is None


def test_plans_on_another_objective_or_horizon_are_not_comparable(plans):
    # short_horizon (power, 4 quarters) cost 3x base (tco, 8 quarters): no saving or loss
    base, growth = plans
    power = with_summary(growth, objective="power", horizon_quarters=4)
    note = compare_plans({"base": with_summary(base, horizon_quarters=8), "power": power})[
        DIFFERENCES_TABLE].loc["power - base", "note"]
    assert note == ("not comparable: objectives differ (tco vs power; cost is optimised only "
                    "on tco); horizons differ (8 vs 4 quarters)")
    # same objective, other horizon: the verdict on gaps gives way to the horizon
    short = with_summary(growth, horizon_quarters=4)
    row = compare_plans({"base": with_summary(base, horizon_quarters=8), "short": short})[
        DIFFERENCES_TABLE].loc["short - base"]
    assert row["note"] == "not comparable: horizons differ (8 vs 4 quarters)"
    # same objective and horizon: the gap verdict as before
    same = compare_plans({"base": base, "growth": growth})[DIFFERENCES_TABLE]
    assert same.loc["growth - base", "note"] in (SIGNIFICANT, NOT_SIGNIFICANT)


@pytest.mark.parametrize(
    ("a", "gap_a", "b", "gap_b", "expected"),
    [
        (100.0, 0.0, 100.0, 0.0, True),  # equal proven plans: no difference at all
        (100.0, 0.0, 105.0, 0.0, False),
        (100.0, 0.0, 105.0, 0.05, True),  # 5 <= 5.25
        (100.0, 0.02, 105.0, 0.02, False),  # 5 > 4.1
        (100.0, 0.02, 105.0, None, None),
    ],
)
def test_within_gaps(a, gap_a, b, gap_b, expected):
    assert within_gaps(a, gap_a, b, gap_b) is expected
