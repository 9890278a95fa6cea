"""A finite time limit is a hard one: a solver call that ignores it is stopped, not waited for.

HiGHS can run past its own time limit with no interrupt callback firing (upstream HiGHS
issues 885 and 2226); these tests stand a sleeping call in for such a run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cases import tiny_fleet

import planner.optimization.highs as highs
from planner.optimization import solve_anytime
from planner.optimization.isolated import can_fork, run_isolated
from planner.scale import build_matrix

DEFAULT = Path(__file__).resolve().parents[1] / "fleet_data" / "default"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the hard limit forks, which the planner does on Linux")


def _stuck(flag):
    time.sleep(120)  # ignores the flag, as a HiGHS procedure that never checks its clock
    return "finished"


def test_a_stuck_call_is_killed_after_its_grace():
    start = time.perf_counter()
    assert run_isolated(_stuck, soft_deadline=start + 0.2, grace_s=0.5) is None
    assert time.perf_counter() - start < 5.0


def test_a_call_that_answers_its_flag_returns_its_value():
    def polite(flag):
        while not flag:
            time.sleep(0.01)
        return {"stopped": True, "pid": os.getpid()}

    out = run_isolated(polite, soft_deadline=time.perf_counter() + 0.2, grace_s=30.0)
    assert out["stopped"] and out["pid"] != os.getpid()  # it did run in a child


def test_should_stop_raises_the_flag_before_the_deadline():
    asked = time.perf_counter()
    out = run_isolated(lambda flag: _wait_for(flag), soft_deadline=asked + 600, grace_s=600,
                       should_stop=lambda: time.perf_counter() - asked > 0.3)
    assert out == "flag" and time.perf_counter() - asked < 10.0


def _wait_for(flag):
    while not flag:
        time.sleep(0.01)
    return "flag"


def test_an_error_in_the_child_is_raised_in_the_caller():
    def broken(flag):
        raise ValueError("bad bounds")

    with pytest.raises(ValueError, match="bad bounds"):
        run_isolated(broken, soft_deadline=time.perf_counter() + 10, grace_s=10)


def test_run_highs_with_a_limit_gives_the_in_process_answer():
    mm = build_matrix(tiny_fleet())
    here = highs.run_highs(mm, integer=mm.integer, mip_gap=0.0)  # no limit: in-process
    forked = highs.run_highs(mm, integer=mm.integer, mip_gap=0.0, time_limit_s=60.0)
    assert forked.status == here.status == "Optimal"
    np.testing.assert_allclose(forked.values, here.values)
    assert forked.objective == pytest.approx(here.objective)


def test_run_highs_kills_a_stuck_solve_and_returns_no_values(monkeypatch):
    monkeypatch.setattr(highs, "_run_here", lambda *a, **k: _stuck(None))
    mm = build_matrix(tiny_fleet())
    start = time.perf_counter()
    run = highs.run_highs(mm, integer=mm.integer, time_limit_s=0.3)
    assert run.status == "Killed" and run.values is None
    assert time.perf_counter() - start < 0.3 + highs.grace_seconds(0.3) + 2.0


def test_the_anytime_path_keeps_its_plan_when_a_polish_run_is_stuck(monkeypatch):
    """Every clock-bounded stage hangs: the first plan still comes back, on time."""
    import planner as pl

    real = highs._run_here

    def stuck_when_clocked(*args, time_limit_s, **kwargs):
        if time_limit_s != float("inf"):
            return _stuck(None)
        return real(*args, time_limit_s=time_limit_s, **kwargs)

    monkeypatch.setattr(highs, "_run_here", stuck_when_clocked)
    mm = build_matrix(pl.load_fleet(DEFAULT))
    start = time.perf_counter()
    result = solve_anytime(mm, time_limit_s=1.0, mip_gap=0.0)
    assert time.perf_counter() - start < result.first_seconds + 1.0 + highs.grace_seconds(1.0) + 3
    assert result.values is not None and result.objective == result.first_objective
    killed = [p.stage for p in result.history if p.stage.startswith(("polish", "root", "proof"))]
    assert killed  # a clock-bounded stage did run (and was killed)


def test_more_than_one_thread_runs_in_process():
    assert can_fork(1) and not can_fork(2)


def test_solve_matrix_with_a_limit_gives_the_in_process_answer_and_kills_a_stuck_solve(
        monkeypatch):
    import planner.scale as scale

    mm = build_matrix(tiny_fleet())
    here = scale.solve_matrix(mm, float("inf"), 0.0)
    forked = scale.solve_matrix(mm, 60.0, 0.0)
    assert forked.status == here.status == "optimal"
    np.testing.assert_allclose(forked.values, here.values)
    monkeypatch.setattr(scale, "_solve_matrix_here", lambda *a, **k: _stuck(None))
    start = time.perf_counter()
    stuck = scale.solve_matrix(mm, 0.3, 0.0)
    assert stuck.status == "no_solution" and stuck.values is None
    assert "killed" in stuck.message
    assert time.perf_counter() - start < 0.3 + highs.grace_seconds(0.3) + 2.0


def test_pulp_solves_with_a_limit_copy_values_and_duals_back_and_a_stuck_one_is_killed(
        monkeypatch):
    """The PuLP path (CBC-free HiGHS, used by migration, explain and the lowest-power end of
    the frontier) is hard-limited too; the values it leaves on the model come back."""
    import pulp

    import planner.solve as solve
    from planner.model import build_model

    here = build_model(tiny_fleet())
    expected = solve.solve_model(here, "highs", float("inf"), 0.0)
    values = {v.name: v.varValue for v in here.prob.variables()}
    forked = build_model(tiny_fleet())
    result = solve.solve_model(forked, "highs", 60.0, 0.0)
    assert result.status == expected.status == "optimal"
    assert result.objective == pytest.approx(expected.objective)
    assert {v.name: v.varValue for v in forked.prob.variables()} == pytest.approx(values)
    assert forked.prob.sol_status == pulp.LpSolutionOptimal
    assert any(c.pi is not None for c in forked.prob.constraints.values())

    stuck_model = build_model(tiny_fleet())
    monkeypatch.setattr(stuck_model.prob, "solve", lambda *a, **k: _stuck(None))
    start = time.perf_counter()
    stuck = solve.solve_model(stuck_model, "highs", 0.3, 0.0)
    assert stuck.status == "no_solution" and "killed" in stuck.message
    assert time.perf_counter() - start < 0.3 + highs.grace_seconds(0.3) + 2.0
