"""Solver plumbing: status mapping and repeated in-process HiGHS solves."""

import pytest

import planner as pl

TINY = "fleet_data/tiny"


def test_highs_solves_again_with_another_thread_count():
    # HiGHS keeps a global thread scheduler; a second solve asking for another thread count
    # used to come back "not set" (no plan) unless the scheduler is reset.
    fleet = pl.load_fleet(TINY)
    first = pl.make_plan(fleet, threads=1, insight=True)
    second = pl.make_plan(fleet, threads=2)
    third = pl.make_plan(fleet, threads=1)
    assert first.summary["status"] == second.summary["status"] == third.summary["status"]
    assert second.total_cost_usd == pytest.approx(first.total_cost_usd)
    assert third.total_cost_usd == pytest.approx(first.total_cost_usd)


def test_lp_relaxation_is_its_own_bound():
    fleet = pl.load_fleet(TINY)
    model = pl.build_model(fleet)
    for var in model.variables:
        var.cat = "Continuous"
    result = pl.solve_model(model)
    assert result.status == "optimal"
    assert result.bound == pytest.approx(result.objective)
    assert result.gap == pytest.approx(0.0)
