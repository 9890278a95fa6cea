"""Tests of planner.studies: fleet descriptions and what-if sweeps on a small fleet."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from planner import fleet_from_frames, make_plan, peak_demand
from planner.studies import (
    METRICS,
    asic_adoption_sweep,
    daily_queries,
    efficiency,
    plan_metrics,
    power_cap_sweep,
    provenance,
    region_loss_study,
    scale_power_caps,
    without_region,
)

_SRC = {"source": "test", "source_kind": "estimate"}


def _platform(pid: str, cls: str, power: float, capex: float, **kw) -> dict:
    return {"platform_id": pid, "platform_class": cls, "family": "f", "generation": "g",
            "power_w": power, "capex_usd": capex, "host_memory_gb": 256, "accel_memory_gb": 0,
            "accelerators": 0, "lead_time_quarters": 0, "lifetime_quarters": 16,
            "rack_units": 1, **_SRC, **kw}


@pytest.fixture(scope="module")
def fleet():
    """Three regions, a CPU, a GPU and an ASIC; demand from products through a call graph."""
    return fleet_from_frames(
        "study",
        {"horizon_quarters": 2, "target_utilization": 1.0, "energy_load_factor": 1.0},
        platforms=pd.DataFrame([
            _platform("cpu", "cpu", 500, 10_000),
            _platform("gpu", "accelerator_fabric", 3000, 100_000),
            _platform("asic", "inference_asic", 400, 12_000, source_kind="published"),
        ]),
        models=pd.DataFrame([
            {"model_id": "rank", "bucket": "ranking", "phase": "inference",
             "latency_slo_ms": 100, "latency_percentile": 99, "memory_gb": 10,
             "unit": "predictions", **_SRC},
            {"model_id": "vision", "bucket": "cv", "phase": "inference", "latency_slo_ms": 50,
             "latency_percentile": 99, "memory_gb": 1, "unit": "images", **_SRC},
        ]),
        profiles=pd.DataFrame([
            {"model_id": "rank", "platform_id": "cpu", "qps_per_server": 100, **_SRC},
            {"model_id": "rank", "platform_id": "asic", "qps_per_server": 150, **_SRC},
            {"model_id": "vision", "platform_id": "cpu", "qps_per_server": 20, **_SRC},
            {"model_id": "vision", "platform_id": "gpu", "qps_per_server": 400,
             "source": "measured here", "source_kind": "measured"},
        ]),
        regions=pd.DataFrame([
            {"region_id": r, "power_cap_kw": 200, "pue": 1.0, "electricity_usd_per_kwh": 0.1,
             "demand_share": s, **_SRC}
            for r, s in (("east", 0.5), ("west", 0.3), ("north", 0.2))
        ]),
        products=pd.DataFrame([
            {"product_id": "feed", "daily_requests": 8.64e6, "peak_to_average": 2.0,
             "growth_per_quarter": 0.1, **_SRC},
            {"product_id": "photos", "daily_requests": 8.64e5, "peak_to_average": 1.0,
             "growth_per_quarter": 0.0, **_SRC},
        ]),
        calls=pd.DataFrame([
            {"caller_id": "feed", "model_id": "rank", "items_per_request": 10, **_SRC},
            {"caller_id": "photos", "model_id": "vision", "items_per_request": 2, **_SRC},
        ]),
        demand=pd.DataFrame([
            {"model_id": "vision", "region_id": "north", "quarter": 0, "peak_qps": 50, **_SRC},
        ]),
    )


@pytest.fixture(scope="module")
def base(fleet):
    return make_plan(fleet)


def test_efficiency_lists_usable_pairs_with_ratios_relative_to_the_best(fleet):
    eff = efficiency(fleet)
    assert len(eff) == len(fleet.profiles)
    rank = eff[eff["model_id"] == "rank"].set_index("platform_id")
    assert rank.at["cpu", "qps_per_kw"] == pytest.approx(100 / 0.5)
    assert rank.at["asic", "qps_per_kusd"] == pytest.approx(150 / 12)
    assert rank.at["asic", "rel_qps"] == 1.0
    assert rank.at["cpu", "rel_qps"] == pytest.approx(100 / 150)
    assert eff.groupby("model_id")["rel_qps_per_kw"].max().eq(1.0).all()
    assert set(eff["source_kind"]) == {"estimate", "measured"}


def test_provenance_counts_rows_by_source_kind(fleet):
    prov = provenance(fleet)
    profiles = prov[prov["table"] == "profiles.csv"].set_index("source_kind")
    assert profiles["rows"].to_dict() == {"estimate": 3, "measured": 1}
    assert prov.groupby("table")["share"].sum().round(9).eq(1.0).all()
    assert "inventory.csv" not in set(prov["table"])  # empty tables are left out


def test_daily_queries_follow_the_call_graph(fleet):
    dq = daily_queries(fleet)
    q0 = dq[dq["quarter"] == 0].set_index("model_id")
    assert q0.at["rank", "daily_queries"] == pytest.approx(8.64e6 * 10)
    assert q0.at["rank", "peak_qps"] == pytest.approx(100 * 10 * 2.0)
    q1 = dq[(dq["quarter"] == 1) & (dq["model_id"] == "rank")]
    assert float(q1["daily_queries"].iloc[0]) == pytest.approx(8.64e7 * 1.1)
    assert q0.at["vision", "unit"] == "images"


def test_plan_metrics_match_the_plan(base):
    m = plan_metrics(base)
    assert list(m) == METRICS
    assert m["total_cost_usd"] == pytest.approx(base.total_cost_usd)
    cls_cost = sum(m[f"tco_usd_{c}"] for c in ("cpu", "accelerator_fabric", "inference_asic"))
    assert cls_cost == pytest.approx(base.total_cost_usd)
    shares = [m[f"served_share_{c}"] for c in ("cpu", "accelerator_fabric", "inference_asic")]
    assert sum(shares) == pytest.approx(1.0)
    # vision runs on cpu or gpu only, rank on cpu or asic: the asic share is at most one half
    assert m["served_share_inference_asic"] <= 0.5 + 1e-9


def test_asic_adoption_cheaper_faster_asic_lowers_cost(fleet, base):
    out = asic_adoption_sweep(fleet, (1.0, 2.0), (0.5, 1.0), base=base)
    assert len(out) == 4
    point = out.set_index(["throughput_multiplier", "price_multiplier"])
    assert point.at[(1.0, 1.0), "tco_change_pct"] == 0.0
    assert point.at[(2.0, 0.5), "total_cost_usd"] <= point.at[(1.0, 1.0), "total_cost_usd"]
    assert point["asic_tco_share"].between(0, 1).all()


def test_asic_adoption_needs_an_asic(fleet):
    no_asic = fleet.replace(platforms=fleet.platforms.assign(platform_class="cpu"))
    with pytest.raises(ValueError, match="no inference_asic"):
        asic_adoption_sweep(no_asic)


def test_scale_power_caps_keeps_the_input(fleet):
    tight = scale_power_caps(fleet, 0.5, ["east"])
    caps = tight.regions.set_index("region_id")["power_cap_kw"]
    assert caps["east"] == 100 and caps["west"] == 200
    assert fleet.regions["power_cap_kw"].eq(200).all()


def test_power_cap_sweep_reports_infeasible_points_as_rows(fleet, base):
    out = power_cap_sweep(fleet, (1.0, 0.001), base=base)
    assert list(out["feasible"]) == [True, False]
    assert math.isnan(out["total_cost_usd"].iloc[1])
    assert "short" in out["shortfall"].iloc[1]
    assert out["short_of"].iloc[0] == "" and "power" in out["short_of"].iloc[1]
    assert out["cap_kw"].iloc[1] == pytest.approx(0.6)


def test_without_region_moves_its_demand(fleet):
    smaller = without_region(fleet, "north")
    assert set(smaller.regions["region_id"]) == {"east", "west"}
    assert smaller.regions["demand_share"].sum() == pytest.approx(1.0)
    before = peak_demand(fleet).groupby(["model_id", "quarter"])["peak_qps"].sum()
    after = peak_demand(smaller).groupby(["model_id", "quarter"])["peak_qps"].sum()
    pd.testing.assert_series_equal(before, after)
    assert set(peak_demand(smaller)["region_id"]) == {"east", "west"}
    with pytest.raises(ValueError, match="unknown region"):
        without_region(fleet, "south")


def test_region_loss_study_prices_dr_and_each_region(fleet, base):
    out = region_loss_study(fleet, ["north"], base=base)
    assert list(out["case"]) == ["base", "no disaster recovery", "without north"]
    dr_off = out.set_index("case").loc["no disaster recovery"]
    assert dr_off["total_cost_usd"] <= base.total_cost_usd
    assert out["feasible"].all()


def test_a_point_the_solver_gives_up_on_is_a_row(fleet, base, monkeypatch):
    import planner.studies as studies
    from planner import SolverError

    def give_up(*args, **kwargs):
        raise SolverError("highs found no plan (time limit)")

    monkeypatch.setattr(studies, "make_plan", give_up)
    out = power_cap_sweep(fleet, (1.0, 0.5), base=base)
    assert list(out["feasible"]) == [True, False]
    assert out["shortfall"].iloc[1].startswith("no solution: highs found no plan")
    assert out["short_of"].iloc[1] == "no solution"


def test_a_sweep_needs_a_feasible_base(fleet):
    from planner import InfeasiblePlanError

    with pytest.raises(InfeasiblePlanError, match="needs a feasible base"):
        power_cap_sweep(scale_power_caps(fleet, 0.001), (1.0,))


def test_without_region_rewires_a_region_it_was_the_only_backup_of(fleet):
    chain = pd.DataFrame([
        {"region_id": a, "backup_region_id": b, **_SRC}
        for a, b in (("east", "west"), ("west", "north"), ("north", "east"))
    ])
    ringed = fleet.replace(topology=chain)
    smaller = without_region(ringed, "north")  # west's only backup was north
    edges = set(zip(smaller.topology["region_id"], smaller.topology["backup_region_id"],
                    strict=True))
    assert edges == {("east", "west"), ("west", "east")}
    assert make_plan(smaller).summary["verified"]


def test_without_region_keeps_optional_topology_columns(fleet):
    """A rewired edge has a blank network latency; the kept edges keep theirs."""
    chain = pd.DataFrame([
        {"region_id": a, "backup_region_id": b, "network_latency_ms": 30.0, **_SRC}
        for a, b in (("east", "west"), ("west", "north"), ("north", "east"))
    ])
    smaller = without_region(fleet.replace(topology=chain), "north")
    topo = smaller.topology.set_index(["region_id", "backup_region_id"])
    assert topo.loc[("east", "west"), "network_latency_ms"] == 30.0
    assert math.isnan(topo.loc[("west", "east"), "network_latency_ms"])


def test_without_region_from_a_later_quarter_moves_demand_from_then_on(fleet):
    later = without_region(fleet, "north", from_quarter=1)
    assert set(later.regions["region_id"]) == {"east", "west", "north"}
    before = peak_demand(fleet)
    after = peak_demand(later)
    total = ["model_id", "quarter"]
    pd.testing.assert_series_equal(before.groupby(total)["peak_qps"].sum(),
                                   after.groupby(total)["peak_qps"].sum())
    north = after[after["region_id"] == "north"]
    assert set(north["quarter"]) == {0}  # north serves its own demand until quarter 1
    q0 = before[before["quarter"] == 0].set_index(["model_id", "region_id"])["peak_qps"]
    pd.testing.assert_series_equal(
        after[after["quarter"] == 0].set_index(["model_id", "region_id"])["peak_qps"], q0)
    caps = later.region_power_caps.set_index(["region_id", "quarter"])["power_cap_kw"]
    assert caps[("north", 1)] < 0.01
    plan = make_plan(later)
    north_power = plan.power[(plan.power["region_id"] == "north") & (plan.power["quarter"] == 1)]
    assert float(north_power["power_kw"].iloc[0]) == 0.0
    with pytest.raises(ValueError, match="within the horizon"):
        without_region(fleet, "north", from_quarter=2)


def test_region_loss_study_with_notice_labels_the_quarter(fleet, base):
    out = region_loss_study(fleet, ["north"], base=base, from_quarter=1)
    assert list(out["case"]) == ["base", "no disaster recovery", "without north from 2020Q2"]
    assert out["feasible"].all()


def test_sweep_rows_carry_status_gap_and_whether_the_change_is_within_the_gaps(
        fleet, base, monkeypatch):
    import dataclasses

    import planner.studies as studies

    real = studies.make_plan

    def unproven(*args, **kwargs):  # every re-planned point stops at a 50 % gap
        plan = real(*args, **kwargs)
        return dataclasses.replace(plan, summary={**plan.summary, "gap": 0.5,
                                                  "status": "feasible"})

    out = power_cap_sweep(fleet, (1.0, 0.001), base=base)
    assert out["status"].tolist() == [base.summary["status"], "infeasible"]
    assert out["gap"].iloc[0] == pytest.approx(base.summary["gap"])
    assert math.isnan(out["gap"].iloc[1])
    assert out["within_gaps_of_base"].tolist() == [True, None]  # the base is the base

    # Doubling every ASIC's price changes the cost by far less than a 50 % gap: flagged.
    monkeypatch.setattr(studies, "make_plan", unproven)
    grid = asic_adoption_sweep(fleet, (1.0,), (1.0, 2.0), base=base)
    assert grid["status"].tolist() == [base.summary["status"], "feasible"]
    assert grid["gap"].iloc[1] == 0.5
    change = abs(grid["total_cost_usd"].iloc[1] - base.total_cost_usd)
    assert 0 < change <= 0.5 * grid["total_cost_usd"].iloc[1]
    assert grid["within_gaps_of_base"].tolist() == [True, True]
    # With proven plans the same change is real.
    monkeypatch.setattr(studies, "make_plan", real)
    proven = asic_adoption_sweep(fleet, (1.0,), (1.0, 2.0), base=base)
    assert proven["within_gaps_of_base"].tolist()[1] is False


def test_region_lost_later_keeps_model_shapes_and_drops_product_shapes() -> None:
    """Lost from quarter k, products become per-model demand: product shapes would name nothing.

    notebook 03's region-loss study failed ``check`` on the default case (shapes of products).
    """
    from planner import load_fleet

    default = load_fleet(Path(__file__).resolve().parents[1] / "fleet_data" / "default")
    products = set(default.products["product_id"])
    assert set(default.load_shapes["shape_of"]) & products  # the default case has such shapes
    lost = without_region(default, default.regions["region_id"].iloc[0], from_quarter=4)
    assert lost.products.empty
    assert set(lost.load_shapes["shape_of"]) <= set(lost.models["model_id"])
    kept = default.load_shapes[default.load_shapes["shape_of"].isin(default.models["model_id"])]
    assert len(lost.load_shapes) == len(kept)
