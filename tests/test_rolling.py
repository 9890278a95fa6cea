"""Quarter by quarter: the hyperscale first plan, one quarter at a time, checked whole."""

from __future__ import annotations

import numpy as np
import pytest
from cases import demand, inventory, make_fleet, model, platform, profile, region, tiny_fleet
from hypothesis import given
from test_properties import PROPERTY, fleet_rows, typed_fleet

import planner as pl
import planner.optimization.anytime as anytime
from planner.optimization import solve_anytime
from planner.optimization.rolling import (
    no_purchases,
    quarter_bound,
    quarter_fleet,
    solve_rolling,
)
from planner.results import objective_value
from planner.scale import build_matrix, plan_from_values
from planner.synthetic import synthetic_fleet


def _bought(plan) -> dict[tuple[str, int], int]:
    frame = plan.purchases.groupby(["platform_id", "order_quarter"])["servers"].sum()
    return {k: int(v) for k, v in frame.items() if v > 0}


def test_tiny_by_quarter_buys_what_each_quarter_adds_and_is_the_optimum():
    """Quarter 0 needs 4 ASICs for rank (1,000 qps / 250) and 6 CPUs for vision; quarter 1
    one more ASIC (1,200 qps). That is the whole-horizon optimum too: 120,000 USD."""
    fleet = tiny_fleet()
    mm = build_matrix(fleet)
    rolled = solve_rolling(mm, mip_gap=0.0)
    assert rolled.has_solution and [s.quarter for s in rolled.steps] == [0, 1]
    plan = plan_from_values(mm, rolled.values)
    assert pl.verify_plan(fleet, plan).ok
    assert plan.total_cost_usd == pytest.approx(120_000, rel=1e-9)
    assert _bought(plan) == {("asic", 0): 4, ("asic", 1): 1, ("cpu", 0): 6}


def _lead_time_case():
    """10 installed CPUs serve quarter 0 (100 qps each); quarter 1 needs 1,500 qps. A CPU
    ordered now arrives next quarter: quarter 1's 5 extra servers are ordered in quarter 0."""
    return make_fleet(
        platforms=[platform("cpu", lead_time_quarters=1)],
        models=[model("m")], profiles=[profile("m", "cpu", 100)], regions=[region("east")],
        demand=[demand("m", "east", 0, 1_000), demand("m", "east", 1, 1_500)],
        inventory=[inventory("cpu", "east", 10)],
        settings={"horizon_quarters": 2},
    )


def test_a_quarters_purchases_are_ordered_a_lead_time_earlier():
    fleet = _lead_time_case()
    q1 = quarter_fleet(fleet, 1, bought=no_purchases())
    assert q1.settings.horizon_quarters == 1
    assert q1.platforms["lead_time_quarters"].tolist() == [0]
    assert q1.inventory["servers"].tolist() == [10]
    mm = build_matrix(fleet)
    rolled = solve_rolling(mm, mip_gap=0.0)
    plan = plan_from_values(mm, rolled.values)
    assert pl.verify_plan(fleet, plan).ok
    assert _bought(plan) == {("cpu", 0): 5}


def test_servers_bought_earlier_are_installed_base_later():
    fleet = tiny_fleet()
    bought = no_purchases()
    bought.loc[0] = ["asic", "east", 0, 4]
    q1 = quarter_fleet(fleet, 1, bought)
    stock = q1.inventory.set_index(["platform_id", "region_id"])["servers"].to_dict()
    assert stock == {("asic", "east"): 4}
    assert q1.demand["peak_qps"].sum() == pytest.approx(1_200 + 300)


def test_anytime_takes_the_quarter_path_on_large_models(monkeypatch):
    """Above BY_QUARTER_COLS the first plan is made by quarter; the whole LP then bounds it
    and the polish never makes it worse. Deterministic at the first-plan stage."""
    monkeypatch.setattr(anytime, "BY_QUARTER_COLS", 0)
    fleet = synthetic_fleet("S", seed=3)
    mm = build_matrix(fleet)
    first = solve_anytime(mm, time_limit_s=0.0, mip_gap=0.005)
    again = solve_anytime(mm, time_limit_s=0.0, mip_gap=0.005)
    np.testing.assert_array_equal(first.first_values, again.first_values)
    assert first.history[-1].stage == "quarter by quarter" and first.bound is None
    longer = solve_anytime(mm, time_limit_s=20.0, mip_gap=0.005)
    np.testing.assert_array_equal(longer.first_values, first.first_values)
    stages = [p.stage for p in longer.history]
    assert "bound by quarter" in stages and "lp relaxation" in stages
    assert "whole-lp rounding" in stages  # the whole model's stages 1-4, in a forked child
    assert longer.objective <= first.objective + 1e-9
    assert longer.lp_bound is not None and longer.lp_bound <= longer.objective
    assert pl.verify_plan(fleet, plan_from_values(mm, longer.values)).ok


def _supply_case():
    """Quarter 1 needs 10 CPUs (1,000 qps at 100), quarter 0 one; at most 5 can be bought a
    quarter. Quarter by quarter, quarter 0 buys 1 and quarter 1 can add only 5: no plan.
    The whole horizon buys 5 + 5."""
    return make_fleet(
        platforms=[platform("cpu", supply_per_quarter=5)],
        models=[model("m")], profiles=[profile("m", "cpu", 100)], regions=[region("east")],
        demand=[demand("m", "east", 0, 100), demand("m", "east", 1, 1_000)],
        settings={"horizon_quarters": 2},
    )


def test_no_plan_by_quarter_falls_back_to_the_whole_model(monkeypatch):
    monkeypatch.setattr(anytime, "BY_QUARTER_COLS", 0)
    fleet = _supply_case()
    mm = build_matrix(fleet)
    rolled = solve_rolling(mm, mip_gap=0.0)
    assert not rolled.has_solution and rolled.failed_quarter == 1
    run = solve_anytime(mm, time_limit_s=10.0, mip_gap=0.0)
    assert run.has_solution and run.status == "optimal"
    plan = plan_from_values(mm, run.values)
    assert pl.verify_plan(fleet, plan).ok
    assert _bought(plan) == {("cpu", 0): 5, ("cpu", 1): 5}
    assert any("the whole model instead" in p.stage for p in run.history)


@PROPERTY
@given(fleet_rows(objective=None))
def test_random_by_quarter_plans_are_verified_and_bounded(drawn):
    rows, settings_over = drawn
    fleet = typed_fleet(rows, settings_over)
    mm = build_matrix(fleet)
    rolled = solve_rolling(mm, mip_gap=0.005)
    if rolled.has_solution:  # myopia may leave a later quarter short (supply): no plan
        plan = plan_from_values(mm, rolled.values)
        assert pl.verify_plan(fleet, plan).ok
        assert rolled.objective == pytest.approx(objective_value(fleet, plan), rel=1e-9)
    else:
        assert rolled.failed_quarter is not None
    # The bound by quarter never exceeds a plan.
    bound = quarter_bound(mm)
    run = solve_anytime(mm, time_limit_s=10.0, mip_gap=0.0)
    if run.has_solution and bound is not None:
        assert bound <= run.objective + 1e-6 * max(1.0, abs(run.objective))


def test_quarter_bound_on_tiny_by_hand():
    """Quarter 1 pays full capex for what is in service there, quarter 0 pays none: its LP
    is 4.8 ASICs for 1,200 qps (250 each, 12 kUSD) and 6 CPUs for vision (10 kUSD):
    117.6 kUSD, below the 120 kUSD optimum (whole ASICs) as a bound must be."""
    bound = quarter_bound(build_matrix(tiny_fleet()))
    assert bound == pytest.approx(4.8 * 12 + 6 * 10, rel=1e-4)
    assert bound <= 120.0


def test_quarter_bound_gives_up_at_the_deadline():
    assert quarter_bound(build_matrix(tiny_fleet()), deadline=0.0) is None

