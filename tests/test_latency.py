"""The tail-latency check: the SimPy queue against Erlang C, the service model, a hot plan.

The M/M/c closed forms are written here (not imported from the code under test): Erlang C
gives the probability of waiting C; the wait is 0 with probability 1 - C and otherwise
exponential with rate c*mu - lambda, so P(W > t) = C exp(-(c mu - lambda) t), the p-th
percentile of W is ln(C / (1 - p)) / (c mu - lambda) when C > 1 - p, and E[W] =
C / (c mu - lambda).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from cases import call, make_fleet, model, platform, profile, region, write_fleet
from typer.testing import CliRunner

from planner.cli import app
from planner.latency import (
    ServiceModel,
    SimulationSettings,
    cell_queues,
    check_latency,
    erlang_c,
    simulate_queue,
    write_latency,
)


def erlang_c_closed_form(c: int, rho: float) -> float:
    a = c * rho
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize("c, rho", [(1, 0.5), (3, 0.8), (10, 0.9)])
def test_erlang_c_recursion_matches_the_closed_form(c, rho):
    assert erlang_c(c, rho) == pytest.approx(erlang_c_closed_form(c, rho), rel=1e-12)


def test_mmc_simulation_agrees_with_erlang_c_within_its_interval():
    c, rho = 3, 0.8  # mu = 1 (time in mean service times), lambda = 2.4
    got = simulate_queue(c, rho, cv=1.0, percentiles=(95.0,), queries=8000, reps=6, seed=3)
    p_wait = erlang_c_closed_form(c, rho)  # 0.647
    drain = c * 1.0 - c * rho  # c mu - lambda = 0.6
    mean_wait = p_wait / drain
    p95_wait = math.log(p_wait / 0.05) / drain
    _, low, high = got.mean_wait
    assert low <= mean_wait <= high, (mean_wait, got.mean_wait)
    assert got.wait_ci[0][0] <= p95_wait <= got.wait_ci[0][1], (p95_wait, got.wait_ci)
    # the interval is informative, not the whole line
    assert got.wait_ci[0][1] - got.wait_ci[0][0] < 0.5 * p95_wait


def test_sojourn_percentile_agrees_with_the_mmc_sojourn_distribution():
    # T = W + S: P(T > t) = e^-t + C / (d - 1) (e^-t - e^-(d t)) with d = c mu - lambda != 1
    from scipy.optimize import brentq

    c, rho = 2, 0.75
    p_wait, drain = erlang_c_closed_form(c, rho), c * (1 - rho)

    def tail(t: float) -> float:
        return math.exp(-t) + p_wait / (drain - 1) * (math.exp(-t) - math.exp(-drain * t))

    p99 = brentq(lambda t: tail(t) - 0.01, 0.0, 100.0)
    got = simulate_queue(c, rho, cv=1.0, percentiles=(99.0,), queries=8000, reps=6, seed=5)
    _, low, high = got.at(99.0)
    assert low <= p99 <= high, (p99, got.at(99.0))


def test_deterministic_service_waits_less_than_exponential():
    md = simulate_queue(2, 0.8, cv=0.0, percentiles=(95.0,), queries=3000, reps=4, seed=1)
    mm = simulate_queue(2, 0.8, cv=1.0, percentiles=(95.0,), queries=3000, reps=4, seed=1)
    assert md.mean_wait[0] < mm.mean_wait[0]


def _fleet(rank_items: float = 100.0):
    return make_fleet(
        platforms=[platform("cpu")],
        models=[
            model("rank", latency_slo_ms=100),
            model("vision", bucket="cv", latency_slo_ms=100),
        ],
        profiles=[profile("rank", "cpu", 1000.0), profile("vision", "cpu", 1000.0)],
        regions=[region("east", demand_share=1.0)],
        products=[
            {
                "product_id": "feed",
                "daily_requests": 1.0,
                "peak_to_average": 1.0,
                "growth_per_quarter": 0.0,
                "source": "test",
                "source_kind": "estimate",
            }
        ],
        calls=[call("feed", "rank", rank_items), call("feed", "vision", 5.0)],
    )


def _allocation(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """Allocation rows (model, replicas, utilisation) on 'cpu' in 'east', quarter 0."""
    out = []
    for m, replicas, util in rows:
        capacity = replicas * 1000.0
        out.append(
            {
                "model_id": m,
                "bucket": "ranking" if m == "rank" else "cv",
                "phase": "inference",
                "platform_id": "cpu",
                "platform_class": "cpu",
                "region_id": "east",
                "quarter": 0,
                "replicas": replicas,
                "servers": replicas,
                "capacity_qps": capacity,
                "served_qps": util * capacity,
                "utilization": util,
            }
        )
    return pd.DataFrame(out)


def test_service_model_by_hand():
    cells = cell_queues(
        _fleet(),
        _allocation([("rank", 2, 0.5), ("vision", 4, 0.5)]),
        ServiceModel(service_fraction=0.25, service_cv=0.5),
    ).set_index("model_id")
    # rank: a request is 100 predictions, so a replica serves 1000 / 100 = 10 requests/s;
    # a quarter of the 100 ms SLO is 25 ms, ceil(10 x 0.025) = 1 worker, service 1 / 10 s:
    # the whole SLO, so such a replica can never meet it
    assert cells.at["rank", "request_items"] == 100
    assert cells.at["rank", "workers"] == 1
    assert cells.at["rank", "service_ms"] == pytest.approx(100.0)
    # vision: images are separate queries (callers' 5 images are not one request):
    # 1000 requests/s x 25 ms = 25 workers, service 25 / 1000 s
    assert cells.at["vision", "request_items"] == 1
    assert cells.at["vision", "workers"] == 25
    assert cells.at["vision", "service_ms"] == pytest.approx(25.0)
    assert cells.at["vision", "rho"] == pytest.approx(0.5)


QUICK = SimulationSettings(queries=2000, reps=5, seed=0)


def test_a_cell_at_99_percent_utilisation_is_flagged_and_a_calm_one_is_not():
    # rank requests of 10 predictions: 100 requests/s per replica, 3 workers of 30 ms
    fleet = _fleet(rank_items=10.0)
    alloc = _allocation([("vision", 4, 0.99), ("rank", 3, 0.30)])
    result = check_latency(fleet, alloc, QUICK)
    cells = result.cells.set_index("model_id")
    hot, calm = cells.loc["vision"], cells.loc["rank"]
    assert hot["method"] == "simulated"
    assert not hot["meets_slo"] and hot["latency_ms"] > hot["slo_ms"]
    assert hot["ci_low_ms"] < hot["latency_ms"] < hot["ci_high_ms"]
    assert hot["miss_ms"] == pytest.approx(hot["latency_ms"] - 100.0)
    assert 0.5 < hot["max_utilization"] < 0.99
    assert calm["meets_slo"] and calm["miss_ms"] == 0
    assert result.summary["all_cells_meet_slo"] is False
    assert result.summary["models_missing_slo"] == ["vision"]
    assert result.summary["worst_miss"]["model_id"] == "vision"


def test_the_utilisation_found_meets_the_slo_and_a_little_more_misses():
    fleet = _fleet()
    first = check_latency(fleet, _allocation([("vision", 4, 0.99)]), QUICK).cells.iloc[0]
    target = float(first["max_utilization"])
    at_target = check_latency(fleet, _allocation([("vision", 4, target)]), QUICK).cells
    assert bool(at_target["meets_slo"].iloc[0])
    above = check_latency(fleet, _allocation([("vision", 4, target + 0.02)]), QUICK).cells
    assert not bool(above["meets_slo"].iloc[0])


def test_latency_command_writes_latency_csv_and_the_summary_flag(tmp_path):
    case = write_fleet(_fleet(rank_items=10.0), tmp_path / "case")
    plan = tmp_path / "plan"
    plan.mkdir()
    _allocation([("vision", 4, 0.99), ("rank", 3, 0.30)]).to_csv(
        plan / "allocation.csv", index=False
    )
    (plan / "summary.json").write_text(json.dumps({"status": "optimal"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["latency", str(case), str(plan), "--queries", "2000"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(plan / "latency.csv")
    assert len(table) == 2 and table["meets_slo"].tolist().count(False) == 1
    summary = json.loads((plan / "summary.json").read_text("utf-8"))
    assert summary["status"] == "optimal"  # the rest of the summary is kept
    assert summary["latency"]["all_cells_meet_slo"] is False
    assert summary["latency"]["cells_missing_slo"] == 1


def test_a_plan_whose_cells_all_meet_says_so(tmp_path):
    plan = tmp_path / "plan"
    plan.mkdir()
    result = check_latency(_fleet(), _allocation([("vision", 4, 0.5)]), QUICK)
    write_latency(result, plan)
    summary = json.loads((plan / "summary.json").read_text("utf-8"))
    assert summary["latency"]["all_cells_meet_slo"] is True


def test_latency_command_on_a_folder_without_a_plan_exits_3(tmp_path):
    case = write_fleet(_fleet(), tmp_path / "case")
    result = CliRunner().invoke(app, ["latency", str(case), str(tmp_path)])
    assert result.exit_code == 3
    assert "allocation.csv" in result.output
