"""The whole-replica bound: the LP's prices on shared rows, each model-quarter block whole."""

from __future__ import annotations

import numpy as np
import pytest
from cases import demand, make_fleet, model, platform, profile, region, tiny_fleet
from hypothesis import given
from test_properties import PROPERTY, fleet_rows, typed_fleet

import planner.optimization.anytime as anytime
from planner.optimization import solve_anytime
from planner.optimization.block_bound import block_bound
from planner.optimization.highs import run_highs
from planner.optimization.rolling import (
    quarter_bound,
    quarter_bound_of,
    quarter_lps,
    whole_replica_quarter_bounds,
)
from planner.optimization.strengthen import cap_covering_coefficients
from planner.scale import build_matrix


def _lumpy_case():
    """One model needing 25 qps on a 10-qps CPU: the LP runs 2.5 servers, any plan 3."""
    return make_fleet(
        platforms=[platform("cpu", capex_usd=1_000)], models=[model("m")],
        profiles=[profile("m", "cpu", 10)], regions=[region("east")],
        demand=[demand("m", "east", 0, 25)],
    )


def _bounds(fleet):
    mm = cap_covering_coefficients(build_matrix(fleet))
    lp = run_highs(mm)
    mip = run_highs(mm, integer=mm.integer, mip_gap=0.0)
    return mm, lp, mip


def test_lumpy_case_bound_is_the_whole_optimum_not_the_lp():
    mm, lp, mip = _bounds(_lumpy_case())
    assert lp.objective == pytest.approx(mip.objective * 2.5 / 3, rel=1e-6)
    raised = block_bound(mm, lp.row_dual)
    assert raised.bound == pytest.approx(mip.objective, rel=1e-5)
    assert raised.bound <= mip.objective
    assert (raised.blocks, raised.fractional, raised.solved) == (1, 1, 1)


def test_bound_with_no_time_is_the_lp_and_still_valid():
    mm, lp, _mip = _bounds(_lumpy_case())
    raised = block_bound(mm, lp.row_dual, deadline=0.0)
    assert raised.solved == 0
    assert raised.bound == pytest.approx(lp.objective, rel=1e-5)
    assert raised.bound <= lp.objective


def test_any_multipliers_give_a_valid_bound():
    """Zero prices leave servers free: the bound falls to the replicas' own cost, still below
    every plan (the relaxation is valid for any multipliers of the right signs)."""
    mm, lp, mip = _bounds(tiny_fleet())
    for duals in (np.zeros(mm.n_rows), 0.5 * lp.row_dual, 2.0 * lp.row_dual):
        raised = block_bound(mm, duals)
        if raised is not None:  # None: a part unbounded at these prices
            assert raised.bound <= mip.objective + 1e-6


def _two_quarter_case():
    """Quarter 0 needs 15 qps, quarter 1 25 qps of 10-qps CPUs (1 kUSD each)."""
    return make_fleet(
        platforms=[platform("cpu", capex_usd=1_000)], models=[model("m")],
        profiles=[profile("m", "cpu", 10)], regions=[region("east")],
        demand=[demand("m", "east", 0, 15), demand("m", "east", 1, 25)],
        settings={"horizon_quarters": 2},
    )


def test_by_quarter_whole_replicas_prove_the_hand_optimum():
    """The LP bound by quarter charges the last quarter 2.5 servers' capex, 2.5 kUSD; whole
    replicas need 3 there, 3 kUSD, which is the optimum (3 servers bought, opex a few USD)."""
    mm = build_matrix(_two_quarter_case())
    lps = quarter_lps(mm)
    assert quarter_bound_of(lps) == pytest.approx(quarter_bound(mm))
    assert quarter_bound_of(lps) == pytest.approx(2.5, rel=1e-4)
    steps = list(whole_replica_quarter_bounds(lps))
    assert [q for q, _ in steps] == [1, 0]  # the larger quarter first
    bounds = [b for _, b in steps]
    assert bounds == sorted(bounds)  # each quarter only raises the sum
    optimum = run_highs(mm, integer=mm.integer, mip_gap=0.0).objective
    assert bounds[-1] == pytest.approx(3.0, rel=1e-4) and bounds[-1] <= optimum
    assert list(whole_replica_quarter_bounds(lps, deadline=0.0)) == []


def test_ties_at_the_lp_prices_leave_the_lp_bound():
    """tiny: at the LP's prices an east CPU serves ranking as cheaply per qps as an ASIC, so
    12 whole CPUs price like 4.8 ASICs and the bound stays at 117.6 kUSD (below 120): the
    bound is only as strong as the prices it is given, and never above a plan."""
    lps = quarter_lps(build_matrix(tiny_fleet()))
    *_, (_, last) = whole_replica_quarter_bounds(lps)
    assert last == pytest.approx(117.6, rel=1e-4) and last <= 120.0


def test_large_models_report_the_bound_after_the_region_polish(monkeypatch):
    monkeypatch.setattr(anytime, "LARGE_MODEL_COLS", 0)
    run = solve_anytime(build_matrix(_lumpy_case()), time_limit_s=10.0, mip_gap=0.0)
    assert run.status == "optimal"
    # The rounding already finds the optimum here; the bound proves it without the MIP.
    assert any(p.stage.startswith("whole-replica bound") for p in run.history)


@PROPERTY
@given(fleet_rows(objective=None))
def test_random_bounds_lie_between_the_lp_and_every_plan(drawn):
    rows, settings_over = drawn
    mm = cap_covering_coefficients(build_matrix(typed_fleet(rows, settings_over)))
    lp = run_highs(mm)
    if lp.row_dual is None:
        return
    raised = block_bound(mm, lp.row_dual)
    assert raised is not None
    scale = max(1.0, abs(lp.objective))
    # Below the LP only by the margin kept for the solvers' tolerances (terms of opposite
    # signs, each far larger than the sum, can make it exceed 1e-5 of the LP).
    assert raised.bound >= lp.objective - raised.margin - 1e-6 * scale
    mip = run_highs(mm, integer=mm.integer, mip_gap=1e-6, time_limit_s=20)
    if mip.objective is not None:
        assert raised.bound <= mip.objective + 1e-6 * scale


@pytest.mark.parametrize("whole_fits", [False, True])
def test_hyperscale_bounds_by_quarter_or_by_the_whole_lp(monkeypatch, whole_fits):
    """Quarter by quarter, the time left decides where the bound comes from: too little for
    the whole LP, whole replicas quarter by quarter; enough, the whole LP, its rounding and
    its blocks. Either way the hand optimum (3 servers) is proven and the plan is the same."""
    monkeypatch.setattr(anytime, "BY_QUARTER_COLS", 0)
    monkeypatch.setattr(anytime, "LARGE_MODEL_COLS", 0)
    monkeypatch.setattr(anytime, "WHOLE_PATH_FACTOR", 0.0 if whole_fits else 1e12)
    run = solve_anytime(build_matrix(_two_quarter_case()), time_limit_s=20.0, mip_gap=0.005)
    stages = [p.stage for p in run.history]
    by_quarter = any(s.startswith("whole-replica bound, quarter") for s in stages)
    assert by_quarter != whole_fits
    assert ("whole-lp rounding" in stages) == whole_fits
    assert any(s.startswith("whole-replica bound (") for s in stages) == whole_fits
    assert run.status == "optimal" and run.objective == pytest.approx(3.0, rel=0.01)
