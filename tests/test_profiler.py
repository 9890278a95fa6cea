"""The latency-bounded throughput profiler: graphs, load replay, bisection, curves, CLI.

Timings are never asserted (the machine is shared); only structure: graphs build and run,
the replayed queue matches hand arithmetic, the search converges to a bracket that straddles
the bound, curves are non-decreasing in the bound and their rows validate.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import FleetDataError
from planner.profiler import (
    ProfileSettings,
    QuerySizes,
    model_config,
    profile_models,
    read_at_slo,
    validate_curves,
)
from planner.profiler.graphs import build_graph, embedding_scale_for
from planner.profiler.loadgen import Load, latencies, max_rate, percentile_ms
from planner.profiler.measure import make_session

QUICK = {"queries": 2000, "repeats": 2, "percentiles": (95.0,), "bounds_ms": (5.0, 20.0, 80.0)}


def _load(
    service_s: float,
    gaps: list[float],
    sizes: list[int] | None = None,
    max_batch: int = 1,
    timeout_s: float = 0.0,
) -> Load:
    """A load with a fixed service time per item and unit noise."""
    n = len(gaps)
    return Load(
        np.asarray(gaps, dtype=float),
        np.asarray(sizes or [1] * n),
        lambda items: np.asarray(items, dtype=float) * service_s,
        np.ones(n),
        max_batch,
        timeout_s,
    )


@pytest.mark.parametrize("model_id, out_width", [("rmc_tiny", 1), ("cnn_tiny", 10)])
def test_graphs_build_check_and_run_on_onnx_runtime(model_id, out_width):
    built = build_graph(model_config(model_id))
    outputs = make_session(built).run(None, built.feed(3, np.random.default_rng(0)))
    assert outputs[0].shape == (3, out_width)
    assert np.isfinite(outputs[0]).all()


def test_embedding_tables_are_scaled_to_the_budget_and_the_factor_recorded():
    rmc1 = model_config("rmc1")
    # 8 tables x 4,000,000 rows x 32 dims x 4 B = 4.096 GB; a 1 GB budget needs 1/5
    assert rmc1.embedding_bytes == 8 * 4_000_000 * 32 * 4
    assert embedding_scale_for(rmc1, 1e9) == 5
    assert embedding_scale_for(rmc1, 5e9) == 1
    tiny = build_graph(model_config("rmc_tiny"), embedding_scale=10)
    assert tiny.embedding_scale == 10
    assert tiny.table_rows == (100, 100)  # 1000 rows / 10


def test_fcfs_replay_matches_hand_arithmetic():
    # arrivals at 1, 2, 3 s (gaps 1 at rate 1); service 1.5 s each:
    # done 2.5, 4.0, 5.5 -> latencies 1.5, 2.0, 2.5
    load = _load(1.5, [1.0] * 40)
    lat, busy = latencies(load, rate=1.0)
    full = np.array([1.5 + 0.5 * k for k in range(40)])
    np.testing.assert_allclose(lat, full[len(full) - len(lat) :])
    # busy 40 x 1.5 = 60 s of the run's 61 s (the last query is done at 2.5 + 39 x 1.5)
    assert busy == pytest.approx(60 / 61)


def test_batching_waits_for_the_timeout_or_a_full_batch():
    # service 1 s per item; max batch 2, timeout 0.5 s; arrivals at 1, 1.2 and 10 s.
    # batch {1, 1.2} fills at 1.2 -> done 3.2; the lone query at 10 waits the timeout: done 11.5
    load = _load(1.0, [1.0, 0.2, 8.8], max_batch=2, timeout_s=0.5)
    lat, _ = latencies(load, rate=1.0)
    np.testing.assert_allclose(lat, [2.2, 2.0, 1.5])


def test_bisection_converges_to_a_bracket_around_the_bound():
    rng = np.random.default_rng(1)
    n = 4000
    load = Load(
        rng.exponential(1.0, n),
        np.ones(n, dtype=int),
        lambda items: np.asarray(items, dtype=float) * 1e-3,
        np.ones(n),
    )
    found = max_rate(load, bound_ms=5.0, percentile=95.0, rtol=0.005)
    low, high = found.bracket
    assert (high - low) / high <= 0.005
    assert percentile_ms(load, low, 95.0) <= 5.0 < percentile_ms(load, high, 95.0)
    # an M/D/1 replica of 1 ms service meets 5 ms p95 below saturation (1000 q/s)
    assert 500 < found.rate < 1000


def test_a_bound_below_the_service_time_is_reported_infeasible():
    load = _load(0.010, [1.0] * 400)  # 10 ms per query
    found = max_rate(load, bound_ms=5.0, percentile=95.0)
    assert not found.feasible and found.latency_ms == pytest.approx(10.0)


@pytest.fixture(scope="module")
def tiny_curves() -> tuple[pd.DataFrame, list[str]]:
    settings = ProfileSettings(platform_id="test_box", replicas_per_server=4, **QUICK)
    return profile_models(["rmc_tiny", "cnn_tiny"], settings)


def test_profile_rows_validate_and_are_measured(tiny_curves):
    curves, _ = tiny_curves
    validate_curves(curves)  # raises on any invalid row
    assert set(curves["model_id"]) == {"rmc_tiny", "cnn_tiny"}
    assert (curves["source_kind"] == "measured").all()
    src = curves["source"].iloc[0]
    for word in ("cores", "GB", "load average", "ONNX Runtime", "1 intra-op thread", "command"):
        assert word in src
    assert (curves["queries_per_point"] == 2000).all()
    assert (curves["embedding_scale"] == 1).all()
    np.testing.assert_allclose(curves["qps_per_server"], 4 * curves["qps_per_replica"])
    # rmc_tiny queries carry items (log-normal sizes), cnn_tiny one image each
    items = curves.groupby("model_id")["mean_query_items"].first()
    assert items["cnn_tiny"] == 1 and items["rmc_tiny"] > 20


def test_curves_are_monotone_in_the_bound_and_meet_it(tiny_curves):
    curves, notes = tiny_curves
    for _, curve in curves.groupby(["model_id", "percentile"]):
        qps = curve.sort_values("latency_ms")["qps_per_server"].to_numpy()
        assert (np.diff(qps) >= 0).all()
    assert (curves["latency_at_rate_ms"] <= curves["latency_ms"]).all()
    assert (curves["resolution"] <= 0.01 + 1e-12).all()
    assert len(curves) + len(notes) == 2 * len(QUICK["bounds_ms"])


def test_validate_curves_rejects_a_curve_that_falls():
    rows = pd.DataFrame(
        [
            {
                "model_id": "m",
                "platform_id": "p",
                "latency_ms": b,
                "percentile": 99.0,
                "qps_per_server": q,
                "source": "test",
                "source_kind": "measured",
            }
            for b, q in ((10, 100.0), (20, 80.0), (40, 120.0))
        ]
    )
    with pytest.raises(FleetDataError) as info:
        validate_curves(rows)
    assert "row 1" in str(info.value) and "qps_per_server" in str(info.value)


def test_read_at_slo_interpolates_holds_the_top_and_drops_below_the_first_bound():
    curves = pd.DataFrame(
        [
            {
                "model_id": m,
                "platform_id": "box",
                "latency_ms": b,
                "percentile": 95.0,
                "qps_per_server": q,
                "source": "measured here",
                "source_kind": "measured",
            }
            for m in ("a", "b", "c", "d")
            for b, q in ((10, 100.0), (50, 300.0), (100, 400.0))
        ]
    )
    models = pd.DataFrame(
        {
            "model_id": ["a", "b", "c", "d"],
            "latency_slo_ms": [30.0, 200.0, 5.0, 50.0],
            "latency_percentile": [95.0, 95.0, 95.0, 99.0],
        }
    )
    got = read_at_slo(curves, models).set_index("model_id")
    assert got.at["a", "qps_per_server"] == pytest.approx(100 + (30 - 10) / (50 - 10) * 200)
    assert got.at["a", "source_kind"] == "derived"  # interpolated, not measured itself
    assert got.at["b", "qps_per_server"] == 400.0 and got.at["b", "source_kind"] == "measured"
    assert "c" not in got.index  # SLO below the smallest bound: cannot serve
    assert "d" not in got.index  # no curve at the model's percentile


def test_query_sizes_are_heavy_tailed_with_the_stated_mean_and_cap():
    sizes = QuerySizes("lognormal").sample(200_000, np.random.default_rng(0))
    assert sizes.min() >= 1 and sizes.max() <= 1024
    assert sizes.mean() == pytest.approx(165, rel=0.05)
    assert np.percentile(sizes, 99) > 4 * np.median(sizes)  # a heavy tail
    assert set(QuerySizes("mlperf").sample(1000, np.random.default_rng(0))) <= {
        100,
        200,
        300,
        400,
        500,
        600,
        700,
    }
    with pytest.raises(ValueError):
        QuerySizes("pareto")


def test_profile_command_writes_validated_rows(tmp_path):
    out = tmp_path / "curves.csv"
    result = CliRunner().invoke(
        app,
        [
            "profile",
            "--model",
            "rmc_tiny",
            "--platform",
            "test_box",
            "--out",
            str(out),
            "--bounds",
            "5,50",
            "--percentiles",
            "95",
            "--queries",
            "2000",
            "--repeats",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = validate_curves(pd.read_csv(out))
    assert len(rows) >= 1 and (rows["platform_id"] == "test_box").all()
    assert not math.isnan(rows["qps_per_server"].iloc[0])


@pytest.mark.parametrize(
    "args", [["--bounds", "ten"], ["--queries", "50"], ["--model", "nope"], ["--sizes", "pareto"]]
)
def test_profile_command_refuses_bad_options_with_exit_2(tmp_path, args):
    base = ["profile", "--platform", "x", "--out", str(tmp_path / "c.csv")]
    if "--model" not in args:
        base += ["--model", "rmc_tiny"]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2
    assert not (tmp_path / "c.csv").exists()
