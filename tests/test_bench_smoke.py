"""The benchmark code path runs end to end on the smallest synthetic fleet (no timing asserts)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_on_xs_without_writing():
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--sizes", "XS", "--repeats", "1", "--solvers",
         "highs,cbc", "--time-limit", "20", "--no-write"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("| size | path |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = {cells[1]: dict(zip(columns, cells, strict=True))
            for ln in lines if ln.startswith("| XS |")
            for cells in [[c.strip() for c in ln.strip("|").split("|")]]
            if len(cells) == len(columns)}
    assert set(rows) == {"pulp+highs", "pulp+cbc", "arrays+highs"}
    for path, row in rows.items():
        assert row["status"] == "optimal", (path, row)
        assert row["verified"] == "yes", (path, row)
    # The LP relaxation, Lagrangian bound and greedy baseline were measured too.
    start = lines.index(next(ln for ln in lines if ln.startswith("| size | columns |")))
    names = [c.strip() for c in lines[start].strip("|").split("|")]
    cells = [c.strip() for c in lines[start + 2].strip("|").split("|")]
    bounds = dict(zip(names, cells, strict=True))
    assert bounds["size"] == "XS"
    assert bounds["LP status"] == "optimal"
    for name in ("LP bound (k$)", "Lagrangian bound (k$)", "greedy cost M$"):
        assert bounds[name] != "–", bounds


def _levers():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_levers", ROOT / "bench" / "levers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relax_and_fix_returns_a_whole_feasible_plan_of_the_full_model():
    from planner.fleet import load_fleet
    from planner.scale import build_matrix, solve_matrix

    mm = build_matrix(load_fleet(ROOT / "fleet_data" / "tiny"))
    plan = _levers().relax_and_fix(mm, time_limit_s=20, gap=0.0, seed=0)
    values = plan.values
    assert plan.has_solution
    ints = values[mm.integer]
    assert (abs(ints - ints.round()) < 1e-9).all()
    activity = mm.matrix @ values
    assert (activity >= mm.row_lower - 1e-6).all() and (activity <= mm.row_upper + 1e-6).all()
    assert plan.bound <= plan.objective + 1e-9  # the LP bound is below any plan
    exact = solve_matrix(mm, 20, 0.0)
    assert plan.objective >= exact.objective - 1e-6
    # Handed to HiGHS as a warm start, the exact optimum is still found.
    warm = solve_matrix(mm, 20, 0.0, warm_start=values)
    assert warm.objective == pytest.approx(exact.objective, rel=1e-9)


def test_levers_table_runs_on_the_tiny_fleet_without_writing():
    done = subprocess.run(
        [sys.executable, "bench/levers.py", "--case", "fleet_data/tiny", "--seeds", "0",
         "--time-limit", "20", "--no-write"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [ln for ln in done.stdout.splitlines()
            if ln.startswith("| ") and not ln.startswith("| lever")]
    levers = {ln.strip("|").split("|")[0].strip().split(" (")[0] for ln in rows}
    assert {"lp", "highs defaults", "relax-and-fix", "relax-and-fix → highs"} <= levers
    # tiny's optimum, worked out by hand in fleet_data/tiny/README.md: 33,565 USD.
    highs = next(ln for ln in rows if ln.startswith("| highs defaults |"))
    assert "| 33.6 |" in highs


def test_bounds_table_flags_a_lagrangian_bound_weaker_than_the_lp():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    rows = {"lp": {"lp_bound": 100.0, "status": "optimal"}, "greedy": {}}
    weak = run.bounds_table({"XL": {**rows, "lagrangian": {"lagrangian_bound": -5.0}}})
    strong = run.bounds_table({"XL": {**rows, "lagrangian": {"lagrangian_bound": 101.0}}})
    assert "(below the LP: no use)" in weak
    assert "(below the LP" not in strong


def test_plain_array_path_and_lagrangian_bound_still_run():
    """bench/decomposition.py (experiments that lost) stays runnable: a verified plain-HiGHS
    plan equal to make_plan's optimum on XS, and a Lagrangian bound that is a bound."""
    import importlib

    import planner as pl
    from planner.scale import build_matrix
    from planner.synthetic import synthetic_fleet

    sys.path.insert(0, str(ROOT / "bench"))  # bench scripts import each other by name
    module = importlib.import_module("decomposition")
    fleet = synthetic_fleet("XS", seed=0)
    plan = module.plan_at_scale(fleet, mip_gap=1e-6)
    assert pl.verify_plan(fleet, plan).ok
    reference = pl.make_plan(fleet, mip_gap=1e-6)
    assert abs(plan.total_cost_usd - reference.total_cost_usd) <= 1e-6 * reference.total_cost_usd
    bound = module.lagrangian_bound(build_matrix(fleet), time_limit_s=10)
    assert bound.bound <= plan.summary["objective_value"] * (1 + 1e-6)


def _bench_anytime():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_anytime", ROOT / "bench" / "anytime.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_anytime_bench_row_on_the_quarter_path_solves_the_lp_after_the_run(monkeypatch):
    """With a zero limit the quarter-by-quarter run ends before any bound: the row takes the
    capped whole LP solved after the run, and says so; --no-lp-after leaves the LP columns."""
    import planner.optimization.anytime as anytime

    monkeypatch.setattr(anytime, "BY_QUARTER_COLS", 0)
    bench = _bench_anytime()
    row = bench.measure("S", time_limit=0.0, mip_gap=0.005, plain=False)
    assert row["verified"] and row["status"] == "feasible" and row["lp_after_run"]
    assert 0 < row["lp_gap"] < 1 and row["final_gap"] == pytest.approx(row["lp_gap"])
    assert row["peak_mb"] > 0
    bare = bench.measure("S", time_limit=0.0, mip_gap=0.005, plain=False, lp_after=False)
    assert "lp_after_run" not in bare and bare["lp_gap"] is None and bare["final_gap"] is None
    assert "| S |" in bench.table([row, bare])


def test_block_bound_bench_row_puts_the_bound_between_the_lp_and_plans():
    """bench/block_bound.py on the default case: the block bound is at least the capped LP,
    the by-quarter blocks at least the quarter LPs, and the table shows the row."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_block_bound",
                                                  ROOT / "bench" / "block_bound.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    row = module.measure("default", by_quarter=True)
    assert row["lp"] <= row["bound"] and row["gain"] >= 0
    assert row["quarter_lp"] <= row["quarter_blocks"] + 1e-6
    assert row["fractional"] <= row["blocks"] and row["solved"] == row["fractional"]
    assert "| default |" in module.table([row])
