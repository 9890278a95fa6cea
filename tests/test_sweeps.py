"""Scenario sweeps (process pool and a real Dask LocalCluster), their report, robust purchases.

Every expected number is derived here from the tiny fleet (tests/cases.py ``tiny_fleet``):
ranking needs 1,200·m queries/s in east by quarter 1 (an ASIC serves 250 for 12,000 USD and
draws 0.4 kW, a CPU 100 for 10,000 USD and 0.5 kW), vision always needs 6 CPUs in west
(60,000 USD); electricity is free, so a plan's TCO is its capex.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest
from cases import demand, make_fleet, model, platform, profile, region, tiny_fleet, write_fleet
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import FleetDataError
from planner.pipeline import make_plan
from planner.sweeps import (
    load_sweep,
    parse_sweep,
    points,
    read_results,
    robust_plan,
    run_sweep,
    sweep_report,
    write_sweep_report,
)

MULTIPLIERS = [1.0, 1.2, 1.5, 2.0, -1.0]  # -1 is not a valid demand factor: an invalid row
CAPS_KW = [100.0, 2.4, 2.0, 1.6]
# a 1 % gap: most tiny plans are then proven at once (no greedy comparison), which is faster
GRID = {
    "grid": {"demand_multiplier.bucket.ranking": MULTIPLIERS, "power_cap_kw.east": CAPS_KW},
    "solver": {"mip_gap": 0.01},
}
SAMPLE = {
    "solver": {"mip_gap": 0.01},
    "samples": 20,
    "seed": 11,
    "distributions": {
        "demand_multiplier.bucket.ranking": {
            "dist": "triangular",
            "low": 0.8,
            "mode": 1.0,
            "high": 1.6,
        },
        "power_cap_kw.east": {"dist": "empirical", "file": "caps.csv", "column": "kw"},
        "platform_changes.asic.capex_multiplier": {
            "dist": "lognormal",
            "median": 1.0,
            "sigma": 0.2,
        },
    },
}
EMPIRICAL_CAPS = [100.0, 2.0, 1.2]


def _mixes(need_qps: float):
    """Yield (asics, cpus) that serve ``need_qps`` with nothing idle beyond one server."""
    for a in range(0, math.ceil(need_qps / 250) + 1):
        c = max(0, math.ceil((need_qps - 250 * a) / 100))
        yield a, c


def best_cost_usd(m: float, capex_multiplier: float = 1.0) -> float:
    """The optimum TCO of the tiny fleet with ranking demand times ``m``, power unlimited."""
    return 60_000 + min(12_000 * capex_multiplier * a + 10_000 * c for a, c in _mixes(1200 * m))


def least_kw(m: float) -> float:
    """The least facility kW in east that serves ranking demand times ``m``."""
    return min(0.4 * a + 0.5 * c for a, c in _mixes(1200 * m))


@pytest.fixture(scope="module")
def tiny_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_fleet(tiny_fleet(), tmp_path_factory.mktemp("sweep") / "case")
    pd.DataFrame({"kw": EMPIRICAL_CAPS}).to_csv(folder.parent / "caps.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def grid_pool(tiny_case: Path):
    out = tiny_case.parent / "grid_pool"
    return run_sweep(tiny_case, parse_sweep(GRID), out, workers=2), out


def _check_grid(results: pd.DataFrame) -> None:
    assert len(results) == 20
    assert list(results["scenario_id"]) == [f"s{i:04d}" for i in range(20)]
    combos = list(
        zip(
            results["in.demand_multiplier.bucket.ranking"],
            results["in.power_cap_kw.east"],
            strict=True,
        )
    )
    assert combos == [(m, c) for m in MULTIPLIERS for c in CAPS_KW]
    for row in results.to_dict("records"):
        m, cap = row["in.demand_multiplier.bucket.ranking"], row["in.power_cap_kw.east"]
        if m < 0:
            assert row["status"] == "invalid" and "ranking" in row["message"]
        elif least_kw(m) > cap + 1e-9:
            assert row["status"] == "infeasible", (m, cap)
            assert "No plan" in row["message"]
        else:
            assert row["status"] in ("optimal", "feasible"), (m, cap, row["message"])
            best = best_cost_usd(m)
            assert best - 1e-6 <= row["total_cost_usd"] <= best / (1 - row["gap"]) + 1e-6
            assert row["verified"]
            assert row["servers.cv"] == 6  # vision: 6 CPU servers in west
    planned = results[results["status"].isin(["optimal", "feasible"])]
    assert (planned["bought.q0"] + planned["bought.q1"] == planned["servers_purchased"]).all()
    # the power cap binds exactly where the least power equals the cap (m=1 at 2.0 kW)
    tight = planned[planned["in.power_cap_kw.east"] == 2.0]
    assert (
        tight.loc[tight["in.demand_multiplier.bucket.ranking"] == 1.0, "binding"]
        .iloc[0]
        .startswith("power east")
    )


def test_grid_through_the_process_pool(grid_pool):
    result, out = grid_pool
    assert result.planned == 20 and result.skipped == 0
    assert "process pool" in result.executor
    _check_grid(result.results)
    assert result.failed == (result.results["status"].isin(["infeasible", "invalid"])).sum()
    pd.testing.assert_frame_equal(read_results(out), result.results)
    assert len(pd.read_csv(out / "results.csv")) == 20
    workers = {w.split(":")[1] for w in result.results["worker"]}
    assert str(os.getpid()) not in workers and 1 <= len(workers) <= 2


def test_a_rerun_does_no_work_and_a_partial_one_replans_only_what_is_missing(
    grid_pool, tiny_case: Path
):
    _, out = grid_pool
    again = run_sweep(tiny_case, parse_sweep(GRID), out, workers=2)
    assert (again.planned, again.skipped) == (0, 20)
    assert again.executor.startswith("no executor")
    for sid in ("s0001", "s0007", "s0018"):
        (out / "rows" / f"{sid}.json").unlink()
    partial = run_sweep(tiny_case, parse_sweep(GRID), out, workers=1)
    assert (partial.planned, partial.skipped) == (3, 17)
    _check_grid(partial.results)


def test_changed_inputs_are_replanned(grid_pool, tiny_case: Path, tmp_path: Path):
    import shutil

    _, out = grid_pool
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    changed = {**GRID, "grid": {**GRID["grid"], "power_cap_kw.east": [100.0, 2.4, 2.0, 1.5]}}
    again = run_sweep(tiny_case, parse_sweep(changed), copy, workers=1)
    assert (again.planned, again.skipped) == (5, 15)  # the last cap, once per multiplier


@pytest.fixture(scope="module")
def cluster():
    """A real Dask LocalCluster of 2 worker processes, shared by the cluster tests."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as running:
        yield running.scheduler_address


def _worker_pids(results: pd.DataFrame) -> set[str]:
    return {w.split(":")[1] for w in results["worker"]}


def test_grid_through_a_cluster_gives_the_same_table(grid_pool, tiny_case: Path, cluster: str):
    pool, _ = grid_pool
    out = tiny_case.parent / "grid_cluster"
    result = run_sweep(tiny_case, parse_sweep(GRID), out, scheduler=cluster)
    assert f"dask cluster at {cluster}" in result.executor and result.planned == 20
    _check_grid(result.results)
    same = ["scenario_id", "status", "total_cost_usd", "servers_purchased"]
    pd.testing.assert_frame_equal(result.results[same], pool.results[same])
    pids = _worker_pids(result.results)
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2  # processes, not threads


def _check_sample(table: pd.DataFrame, spec, folder: Path) -> None:
    assert len(table) == 20
    expected = points(spec, folder)
    for key in SAMPLE["distributions"]:
        assert list(table[f"in.{key}"]) == [p[key] for p in expected]
    assert set(table["in.power_cap_kw.east"]) <= set(EMPIRICAL_CAPS)
    for row in table.to_dict("records"):
        m, cap = row["in.demand_multiplier.bucket.ranking"], row["in.power_cap_kw.east"]
        if least_kw(m) > cap + 1e-9:
            assert row["status"] == "infeasible"
        else:
            assert row["status"] in ("optimal", "feasible"), row["message"]
            best = best_cost_usd(m, row["in.platform_changes.asic.capex_multiplier"])
            assert best - 1e-6 <= row["total_cost_usd"] <= best / (1 - row["gap"]) + 1e-6


@pytest.mark.parametrize("executor", ["pool", "cluster"])
def test_sample_through_the_pool_and_a_cluster_and_resume(executor: str, tiny_case: Path):
    # the cluster case goes through ``scheduler="local"`` (a LocalCluster of processes started
    # by the sweep); the grid test above goes through a running cluster's address
    scheduler = "local" if executor == "cluster" else None
    spec = parse_sweep(SAMPLE)
    out = tiny_case.parent / f"sample_{executor}"
    progress = []
    result = run_sweep(
        tiny_case,
        spec,
        out,
        workers=2,
        scheduler=scheduler,
        sweep_folder=tiny_case.parent,
        progress=progress.append,
    )
    assert result.planned == 20
    if executor == "cluster":
        assert result.executor == "dask LocalCluster (2 workers)"
        assert str(os.getpid()) not in _worker_pids(result.results)  # processes, not threads
    _check_sample(result.results, spec, tiny_case.parent)
    assert progress[-1].done == 20 and progress[-1].running == 0
    assert progress[-1].failed == (result.results["status"] == "infeasible").sum()
    assert max(p.running for p in progress) <= 2
    again = run_sweep(tiny_case, spec, out, scheduler=scheduler, sweep_folder=tiny_case.parent)
    assert (again.planned, again.skipped) == (0, 20)


def test_points_are_reproducible_and_follow_their_distributions(tiny_case: Path):
    spec = parse_sweep(
        {
            "samples": 400,
            "seed": 3,
            "distributions": {
                "a.x": {"dist": "uniform", "low": 2, "high": 3},
                "a.y": {"dist": "normal", "mean": 1, "sd": 5, "low": 0, "high": 2},
                "a.z": {"dist": "choice", "values": [0, 4], "weights": [1, 3], "integer": True},
                "a.w": {"dist": "triangular", "low": 1, "mode": 1, "high": 2},
            },
        }
    )
    drawn = pd.DataFrame(points(spec))
    assert drawn.equals(pd.DataFrame(points(spec)))
    assert drawn["a.x"].between(2, 3).all() and drawn["a.y"].between(0, 2).all()
    assert set(drawn["a.z"]) == {0, 4} and 0.65 < (drawn["a.z"] == 4).mean() < 0.85
    assert drawn["a.w"].between(1, 2).all() and drawn["a.w"].mean() < 1.5  # peak at the low end
    other = parse_sweep({**spec.model_dump(exclude_none=True), "seed": 4})
    assert not drawn.equals(pd.DataFrame(points(other)))


UNIFORM = {"samples": 2, "distributions": {"x": {"dist": "uniform", "low": 0, "high": 1}}}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {
                "grid": {"x": [1]},
                "samples": 3,
                "distributions": {"x": {"dist": "uniform", "low": 0, "high": 1}},
            },
            "either 'grid'",
        ),
        ({"samples": 3}, "needs 'grid'"),
        ({"grid": {"x": []}}, "non-empty list"),
        ({"grid": {"x": [1]}, "workers": 3}, "key 'workers': unknown key"),
        (
            {
                "samples": 2,
                "distributions": {"x": {"dist": "triangular", "low": 2, "mode": 1, "high": 3}},
            },
            "low <= mode <= high",
        ),
        ({"samples": 2, "distributions": {"x": {"dist": "poisson", "lam": 2}}}, "dist"),
        # these crashed (exit 1), hung or were read as something else
        ({**UNIFORM, "seed": -1}, "key 'seed': Input should be greater than or equal to 0"),
        ({**UNIFORM, "samples": True}, "key 'samples': must be a number, not true/false"),
        ({"grid": {"x": [1]}, "solver": {"time_limit_s": math.inf}},
         "key 'solver.time_limit_s': Input should be a finite number"),
        ({"grid": {f"k{i}": list(range(10)) for i in range(7)}},
         "'grid' makes 10,000,000 scenarios"),
    ],
)
def test_invalid_sweep_files_say_which_key_and_how_to_fix(data, words):
    with pytest.raises(FleetDataError) as info:
        parse_sweep(data, "my_sweep.yaml")
    text = str(info.value)
    assert "my_sweep.yaml" in text and words in text and "README" in text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("grid: &a\n  x: [1]\nsolver: *a\n", "line 1: defines an anchor (&a)"),
        ("grid:\n  x: [1]\n  x: [2]\n", "line 3: duplicate key 'grid.x' (first on line 2)"),
    ],
)
def test_sweep_files_are_read_as_strictly_as_the_case_files(tmp_path: Path, text, words):
    # yaml.safe_load expanded aliases (a bomb hangs) and let the last repeated key win
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FleetDataError) as info:
        load_sweep(path)
    assert words in str(info.value)


def test_unknown_ids_and_paths_fail_before_any_work(tiny_case: Path, tmp_path: Path):
    bad = {
        "grid": {
            "platform_changes.nope.available": [True, False],
            "demand_multiplier.colour.red": [1.0],
        }
    }
    with pytest.raises(FleetDataError) as info:
        run_sweep(tiny_case, parse_sweep(bad), tmp_path / "out", workers=1)
    text = str(info.value)
    assert "sweep key 'platform_changes.nope.available'" in text and "'nope'" in text
    assert "sweep key 'demand_multiplier.colour.red'" in text
    assert not (tmp_path / "out" / "rows").exists()


def test_empirical_file_errors_name_the_file_and_column(tmp_path: Path, tiny_case: Path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "samples: 3\ndistributions:\n  power_cap_kw.east: {dist: empirical, "
        "file: caps.csv, column: watts}\n",
        encoding="utf-8",
    )
    pd.DataFrame({"kw": [1.0]}).to_csv(tmp_path / "caps.csv", index=False)
    with pytest.raises(FleetDataError, match=r"caps.csv.*no column 'watts'.*use one of kw"):
        run_sweep(tiny_case, sweep, tmp_path / "out", workers=1)


def test_report_of_the_grid(grid_pool):
    result, out = grid_pool
    tables = sweep_report(result.results)
    planned = result.results[result.results["status"].isin(["optimal", "feasible"])]
    q = tables["quantiles"].set_index("metric")
    assert q.loc["total_cost_usd", "q50"] == pytest.approx(planned["total_cost_usd"].median())
    assert q.loc["total_cost_usd", "scenarios"] == len(planned)
    sens = tables["sensitivity"].set_index("input")
    # cost never falls as demand grows, and grows over the grid: a positive rank correlation
    assert sens.loc["demand_multiplier.bucket.ranking", "spearman_rho"] > 0.5
    assert sens.loc["demand_multiplier.bucket.ranking", "swing"] == pytest.approx(
        best_cost_usd(2.0) - best_cost_usd(1.0), rel=0.05
    )
    freq = tables["purchases"].set_index(["platform_id", "region_id", "order_quarter"])
    assert freq.loc[("cpu", "west", 0), "share"] == 1.0  # vision's 6 CPUs, in every plan
    assert freq.loc[("cpu", "west", 0), "servers_mean"] == 6
    status = tables["status"].set_index("status")["scenarios"]
    assert status["invalid"] == 4 and status.sum() == 20
    files = write_sweep_report(out)
    assert "vega" in files["cost_histogram"].read_text(encoding="utf-8").lower()
    report = files["report"].read_text(encoding="utf-8")
    assert "## Failed scenarios" in report
    # costs print whole with separators (f"{v:.4g}" printed 12,345 USD as 1.234e+04)
    assert f"| {q.loc['total_cost_usd', 'q50']:,.0f} |" in report and "e+0" not in report


def test_cli_sweep_report_and_errors(grid_pool, tmp_path: Path, tiny_case: Path):
    _, out = grid_pool
    runner = CliRunner()
    res = runner.invoke(app, ["sweep-report", str(out)])
    assert res.exit_code == 0, res.output
    assert "What moves the cost" in res.output and (out / "sensitivity.csv").exists()
    assert runner.invoke(app, ["sweep-report", str(tmp_path)]).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {demand_multiplier.bucket.ranking: [1]}\nsamplez: 3\n", encoding="utf-8")
    res = runner.invoke(app, ["sweep", str(tiny_case), str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and "key 'samplez': unknown key" in res.output
    assert "Traceback" not in res.output


# --- robust purchases --------------------------------------------------------------------------

ROBUST = {
    "grid": {"demand_multiplier.bucket.ranking": [1.0, 1.4]},
    "robust": {"decide_before_quarter": 1},
}


def two_future_fleet():
    """One CPU platform (100 qps, 10,000 USD), 1,000 qps of ranking in quarters 0 and 1.

    Futures: demand x1.0 (10 servers) and x1.4 (14). Orders of quarter 0 come first, so the
    robust plan buys 14 now in both; the mean forecast (x1.2) buys 12, which is 200 qps short
    in the x1.4 future. Expected TCO: robust 140,000; each future alone (100,000 + 140,000)
    / 2 = 120,000, so robustness costs 20,000.
    """
    return make_fleet(
        platforms=[platform("cpu", capex_usd=10_000)],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "east", 1, 1000)],
        settings={"horizon_quarters": 2},
    )


def test_robust_purchases_cover_both_futures_and_the_mean_forecast_falls_short():
    result = robust_plan(two_future_fleet(), parse_sweep(ROBUST))
    s = result.summary
    bought = result.purchases.set_index(["platform_id", "region_id", "order_quarter"])
    assert bought.loc[("cpu", "east", 0), "servers"] == 14
    mean = result.mean_purchases.set_index(["platform_id", "region_id", "order_quarter"])
    assert mean.loc[("cpu", "east", 0), "servers"] == 12
    assert s["mean_forecast_inputs"] == {"demand_multiplier.bucket.ranking": pytest.approx(1.2)}
    futures = result.futures.set_index("future")
    assert list(futures["mean_short"]) == [False, True]
    assert futures.loc["f1", "mean_short_qps"] == pytest.approx(200.0)
    assert (s["mean_short_futures"], s["mean_short_qps_max"]) == (1, pytest.approx(200.0))
    assert futures.loc["f0", "mean_cost_usd"] == pytest.approx(120_000)
    assert s["expected_cost_usd"] == pytest.approx(140_000)
    assert s["perfect_foresight_cost_usd"] == pytest.approx(120_000)
    assert s["price_of_robustness_usd"] == pytest.approx(20_000)
    for plan in result.plans.values():  # each future's recourse plan passed the verifier
        assert plan.summary["verified"]
        assert plan.purchases.loc[plan.purchases["order_quarter"] == 0, "servers"].sum() == 14


def test_robust_with_more_scenarios_than_futures_checks_fresh_ones():
    spec = parse_sweep(
        {
            "grid": {"demand_multiplier.bucket.ranking": [1.0, 1.1, 1.4, 1.2]},
            "seed": 1,
            "robust": {"decide_before_quarter": 1, "max_futures": 2},
        }
    )
    result = robust_plan(two_future_fleet(), spec)
    s = result.summary
    assert (s["futures"], s["fresh_futures"]) == (2, 2)
    assert "sample-average approximation: 2 of the sweep's 4" in s["sampling"]
    sample = result.futures[result.futures["kind"] == "sample"]
    top = max(sample["in.demand_multiplier.bucket.ranking"])
    assert result.purchases["servers"].sum() == math.ceil(10 * top - 1e-9)
    fresh = result.futures[result.futures["kind"] == "fresh"]
    for row in fresh.to_dict("records"):  # short exactly where demand exceeds the orders
        m = row["in.demand_multiplier.bucket.ranking"]
        assert row["robust_short"] == (1000 * m > 100 * math.ceil(10 * top - 1e-9) + 1e-6)


def test_cli_plan_robust_writes_the_comparison(tmp_path: Path):
    case = write_fleet(two_future_fleet(), tmp_path / "case")
    sweep = tmp_path / "robust.yaml"
    sweep.write_text(json.dumps(ROBUST), encoding="utf-8")  # JSON is YAML
    assert load_sweep(sweep).robust.decide_before_quarter == 1
    store_url = f"sqlite:///{tmp_path / 'plans.db'}"
    res = CliRunner().invoke(
        app,
        ["plan", str(case), "--robust", str(sweep), "--out", str(tmp_path / "robust"),
         "--store", store_url, "--name", "hedge", "--note", "two futures"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "fall short in 1 of 2 futures" in res.output
    bought = pd.read_csv(tmp_path / "robust" / "robust_purchases.csv")
    assert bought["servers"].sum() == 14
    summary = json.loads((tmp_path / "robust" / "summary.json").read_text(encoding="utf-8"))
    assert summary["price_of_robustness_usd"] == pytest.approx(20_000)
    # recorded: one plan per future, each verified against its own future
    from planner.store import PlanStore
    from planner.verify import verify_plan

    with PlanStore(store_url) as store:
        history = store.history(name="hedge")
        assert list(history["scenario"]) == ["f0", "f1"]
        assert set(history["note"]) == {"two futures"}
        for record_id in history["id"]:
            record = store.get(int(record_id))
            assert record.command == "robust" and "robust_purchases" in record.extra
            assert record.plan.summary["robust"]["futures"] == 2
            assert verify_plan(store.planned_fleet(record), record.plan).ok
            assert record.plan.purchases["servers"].sum() == 14


def test_a_dead_worker_is_a_row_and_is_replanned_on_resume(
    tiny_case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    import planner.sweeps.run as run

    @contextlib.contextmanager
    def one_thread(workers, scheduler):
        with ThreadPoolExecutor(max_workers=1) as pool:
            yield pool, "one thread", 1

    real = run.plan_point

    def dies_on_s0001(case, base, sid, inputs, options):
        if sid == "s0001":
            raise MemoryError("worker killed")  # what a crashed worker's future raises
        return real(case, base, sid, inputs, options)

    monkeypatch.setattr(run, "open_executor", one_thread)
    monkeypatch.setattr(run, "plan_point", dies_on_s0001)
    spec = parse_sweep({"grid": {"demand_multiplier.bucket.ranking": [1.0, 1.2]}})
    first = run_sweep(tiny_case, spec, tmp_path / "out")
    row = first.results.set_index("scenario_id").loc["s0001"]
    assert row["status"] == "error" and "worker failed: MemoryError" in row["message"]
    assert first.failed == 1
    monkeypatch.setattr(run, "plan_point", real)
    again = run_sweep(tiny_case, spec, tmp_path / "out")
    assert (again.planned, again.skipped) == (1, 1)
    assert set(again.results["status"]) <= {"optimal", "feasible"}


def test_cli_sweep_plans_resumes_and_reports(tiny_case: Path, tmp_path: Path):
    sweep = tmp_path / "grid.yaml"
    sweep.write_text("grid:\n  demand_multiplier.bucket.ranking: [1.0, 1.2]\n", encoding="utf-8")
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(
        app, ["sweep", str(tiny_case), str(sweep), "--out", str(out), "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "2 planned now, 0 already done, 0 failed" in res.output
    assert len(pd.read_parquet(out / "results.parquet")) == 2
    res = runner.invoke(app, ["sweep", str(tiny_case), str(sweep), "--out", str(out)])
    assert res.exit_code == 0 and "0 planned now, 2 already done" in res.output
    assert (
        runner.invoke(
            app, ["sweep", str(tiny_case), str(sweep), "--out", str(out), "--workers", "0"]
        ).exit_code
        == 2
    )


# ---- lean plans (sweeps): the same tables, the greedy comparison only far from the bound ----


@pytest.mark.parametrize("allocation", ["dedicated", "pooled"])
def test_lean_tables_are_the_row_by_row_tables(allocation: str):
    from planner.optimization import solve_anytime
    from planner.plan_arrays import plan_tables
    from planner.scale import build_matrix, plan_from_values

    mm = build_matrix(tiny_fleet(allocation=allocation))
    values = solve_anytime(mm, time_limit_s=0.0, mip_gap=0.0, threads=1).values
    slow, fast = plan_from_values(mm, values), plan_tables(mm, values)
    for name in slow.TABLES:
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)
        assert getattr(fast, name).attrs == getattr(slow, name).attrs


def test_lean_plan_skips_the_greedy_only_near_the_bound(monkeypatch):
    import planner.pipeline as pipeline
    from planner.verify import verify_plan

    fleet = tiny_fleet()
    opts = {"time_limit_s": 0.0, "mip_gap": 0.0}  # the first plan: 2 % above its bound
    full, lean = make_plan(fleet, **opts), make_plan(fleet, lean=True, **opts)
    assert lean.summary["status"] == "feasible" and lean.summary["verified"]
    assert "not tried" in lean.summary["greedy_fallback"]
    assert "greedy_fallback" not in full.summary
    assert lean.total_cost_usd == pytest.approx(full.total_cost_usd)
    assert verify_plan(fleet, lean).ok
    tried = []
    monkeypatch.setattr(pipeline, "LEAN_GREEDY_GAP", 0.001)  # now the gap is too wide
    monkeypatch.setattr(pipeline, "_no_worse_than_greedy", lambda f, p: tried.append(p) or p)
    make_plan(fleet, lean=True, **opts)
    assert len(tried) == 1


def test_cvar_of_equally_likely_costs():
    from planner.sweeps.robust import cvar

    assert cvar([1, 2, 3, 4], 0.0) == pytest.approx(2.5)  # the mean
    assert cvar([1, 2, 3, 4], 0.5) == pytest.approx(3.5)  # mean of the worst half
    assert cvar([1, 2, 3, 4], 0.75) == pytest.approx(4.0)
    assert cvar([1, 2, 3], 0.5) == pytest.approx((3 + 0.5 * 2) / 1.5)  # a share of a future


def early_or_late_fleet():
    """Buy early (10,000 USD, one quarter's lead) or late (15,000 USD, quarter 1 only).

    Ranking demand of 1,000 qps in quarter 1, x1 or x2 (10 or 20 servers of 100 qps). With n
    early servers a future costs 10,000 n + 15,000 (N - n)+. Expected cost: slope -5,000 up to
    n = 10 and +2,500 beyond, so n = 10 (expected 175,000: 100,000 and 250,000). CVaR at
    alpha 0.5 is the worse future's cost, falling up to n = 20 (200,000 in both futures).
    """
    return make_fleet(
        platforms=[
            platform("early", capex_usd=10_000, lead_time_quarters=1),
            platform("late", capex_usd=15_000, available_from_quarter=1),
        ],
        models=[model("rank")],
        profiles=[profile("rank", "early", 100), profile("rank", "late", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 1, 1000)],
        settings={"horizon_quarters": 2},
    )


@pytest.mark.parametrize(
    ("objective", "early", "expected_usd", "cvar_usd"),
    [("expected", 10, 175_000, 250_000), ("cvar", 20, 200_000, 200_000)],
)
def test_robust_cvar_objective_buys_for_the_bad_future(objective, early, expected_usd, cvar_usd):
    spec = parse_sweep(
        {
            "grid": {"demand_multiplier.bucket.ranking": [1.0, 2.0]},
            "robust": {"decide_before_quarter": 1, "objective": objective, "alpha": 0.5},
        }
    )
    result = robust_plan(early_or_late_fleet(), spec)
    s = result.summary
    assert result.purchases.set_index("platform_id").loc["early", "servers"] == early
    assert s["expected_cost_usd"] == pytest.approx(expected_usd)
    assert s["cvar_cost_usd"] == pytest.approx(cvar_usd)
    assert s["perfect_foresight_cost_usd"] == pytest.approx(150_000)  # 100,000 and 200,000
    assert s["perfect_foresight_cvar_usd"] == pytest.approx(200_000)
    assert ("CVaR" in s["objective"]) == (objective == "cvar")
    assert all(p.summary["verified"] for p in result.plans.values())


def _worker_profiling() -> tuple[bool, str]:
    import dask

    return (
        dask.config.get("distributed.worker.profile.enabled"),
        dask.config.get("distributed.admin.system-monitor.interval"),
    )


def test_the_local_cluster_workers_run_without_the_sampling_profiler():
    # the profiler made plans 12-26 % slower in a Dask worker than in a pool process
    # (bench/README.md, "LocalCluster against the process pool on a quiet machine")
    from planner.sweeps.run import open_executor

    with open_executor(2, "local") as (executor, name, workers):
        assert name == "dask LocalCluster (2 workers)" and workers == 2
        assert executor.submit(_worker_profiling).result(timeout=60) == (False, "5s")
