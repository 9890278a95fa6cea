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


def test_cbc_stopped_on_its_gap_reports_the_bound_not_the_incumbent(tmp_path):
    """CBC says "Optimal solution found (within gap tolerance)" when it stops on gapRel; the
    bound is then the incumbent minus the absolute gap it printed, so the gap is not 0."""
    from cases import tiny_fleet

    from planner.model import build_model
    from planner.solve import _best_bound, _relative_gap

    log = tmp_path / "cbc.log"
    log.write_text("Cbc0011I Exiting as integer gap of 2.5 less than 1e-10 or 1%\n"
                   "Cbc0001I Search completed - best objective 250\n"
                   "Result - Optimal solution found (within gap tolerance)\n\n"
                   "Objective value:                250.00000000\n", encoding="utf-8")
    model = build_model(tiny_fleet())
    bound = _best_bound(model, "cbc", str(log), 250.0)
    assert bound == 247.5
    assert _relative_gap(250.0, bound) == 0.01
    complete = tmp_path / "done.log"
    complete.write_text("Result - Optimal solution found\n\nObjective value: 250\n",
                        encoding="utf-8")
    assert _best_bound(model, "cbc", str(complete), 250.0) == 250.0
