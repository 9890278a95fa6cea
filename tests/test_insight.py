"""Shadow prices and binding constraints (planner.insight) on tiny fleets priced by hand.

Duals of an integer program only make sense around a linear program. ``shadow_prices`` keeps
the plan's purchase pattern and treats servers as divisible, so each case below is built so
that the LP optimum is itself whole (demand a multiple of the servers' throughput, caps that
fall on whole servers): then the LP is the integer plan, its basis is not degenerate and each
price is one number we can write down as arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from planner.fleet import Fleet, load_fleet
from planner.insight import binding_constraints, shadow_prices
from planner.model import PlanningModel, build_model
from planner.results import extract_plan
from planner.schema import HOURS_PER_QUARTER
from planner.solve import solve_model

SRC = {"source": "test", "source_kind": "estimate"}
NO_DR = {"enabled": False}


def platform(pid: str, cls: str, capex: float, watts: float, **extra: object) -> dict:
    return {
        "platform_id": pid,
        "platform_class": cls,
        "family": "f",
        "generation": "g",
        "power_w": watts,
        "capex_usd": capex,
        "host_memory_gb": 64,
        "lead_time_quarters": 0,
        "lifetime_quarters": 16,
        "rack_units": 1,
        **SRC,
        **extra,
    }


def model_row(mid: str, bucket: str = "ranking") -> dict:
    return {
        "model_id": mid,
        "bucket": bucket,
        "phase": "inference",
        "latency_slo_ms": 100,
        "latency_percentile": 99,
        "memory_gb": 10,
        **SRC,
    }


def profile(mid: str, pid: str, qps: float) -> dict:
    return {"model_id": mid, "platform_id": pid, "qps_per_server": qps, **SRC}


def region(rid: str, cap_kw: float, price: float = 0.0, pue: float = 1.0) -> dict:
    return {
        "region_id": rid,
        "power_cap_kw": cap_kw,
        "pue": pue,
        "electricity_usd_per_kwh": price,
        **SRC,
    }


def demand(mid: str, rid: str, quarter: int, qps: float) -> dict:
    return {"model_id": mid, "region_id": rid, "quarter": quarter, "peak_qps": qps, **SRC}


@pytest.fixture
def make_fleet(tmp_path: Path, write_case: Callable[..., Path]) -> Callable[..., Fleet]:
    """Write a case as CSV files in tmp_path and load it like the CLI does."""
    count = iter(range(100))

    def make(settings: dict, **tables: list[dict]) -> Fleet:
        return load_fleet(write_case(tmp_path / f"case{next(count)}", settings=settings, **tables))

    return make


def solved(fleet: Fleet) -> PlanningModel:
    model = build_model(fleet)
    assert solve_model(model).status == "optimal"
    return model


def price(frame: pd.DataFrame, constraint: str) -> float:
    return float(frame.loc[frame["constraint"] == constraint, "shadow_price"].iloc[0])


def row(frame: pd.DataFrame, constraint: str) -> pd.Series:
    return frame.loc[frame["constraint"] == constraint].iloc[0]


@pytest.fixture
def power_bound(make_fleet: Callable[..., Fleet]) -> Fleet:
    """1000 qps on 250-qps servers under a 2.5 kW cap.

    cpu: 10,000 USD, 1 kW; asic: 20,000 USD, 0.25 kW; gpu: 40,000 USD, 500 qps, 1 kW.
    4 servers are needed; with c cpu and 4 - c asic the power is c + 0.25 (4 - c) <= 2.5, so
    c <= 2: the plan is 2 cpu + 2 asic = 60,000 USD, with demand and power both at their limit.
    """
    return make_fleet(
        {"horizon_quarters": 1, "target_utilization": 1.0, "disaster_recovery": NO_DR},
        platforms=[
            platform("cpu", "cpu", 10_000, 1000),
            platform("asic", "inference_asic", 20_000, 250),
            platform("gpu", "accelerator_fabric", 40_000, 1000),
        ],
        models=[model_row("rank")],
        profiles=[
            profile("rank", "cpu", 250),
            profile("rank", "asic", 250),
            profile("rank", "gpu", 500),
        ],
        regions=[region("east", 2.5)],
        demand=[demand("rank", "east", 0, 1000)],
    )


def test_power_bound_prices_by_hand(power_bound: Fleet) -> None:
    model = solved(power_bound)
    plan = extract_plan(model, solve_model(model))
    assert dict(zip(plan.purchases["platform_id"], plan.purchases["servers"], strict=True)) == {
        "cpu": 2,
        "asic": 2,
    }
    sp = shadow_prices(model)
    # One more kW lets one asic (20,000) become a cpu (10,000); the swap frees 0.75 kW, so a
    # kW is worth 10,000 / 0.75. It is a limit: more of it saves money, so the price is < 0.
    assert price(sp, "power_east_0") == pytest.approx(-10_000 / 0.75, rel=1e-6)
    # One more qps needs 1/250 of a server within the same power: take it as an asic (20,000
    # per 250 qps) plus the 0.25 kW it draws, bought back at 10,000 / 0.75 per kW.
    assert price(sp, "demand_rank_east_0") == pytest.approx(
        (20_000 + 0.25 * 10_000 / 0.75) / 250, rel=1e-5
    )
    power = row(sp, "power_east_0")
    assert power["binding"] and power["unit"] == "USD per kW"
    assert power["description"] == (
        "region east is power-bound in 2020Q1: 1 more kW of power cap saves 13,333 USD"
    )
    assert "costs 93.3 USD" in row(sp, "demand_rank_east_0")["description"]


def test_purchase_reduced_costs_say_why_gpu_is_not_bought(power_bound: Fleet) -> None:
    sp = shadow_prices(solved(power_bound))
    demand_price = (20_000 + 0.25 * 10_000 / 0.75) / 250
    kw_price = 10_000 / 0.75
    # A gpu serves 500 qps and draws 1 kW: worth 500 * demand_price - 1 * kw_price = 33,333
    # USD, but costs 40,000: buying one raises TCO by 6,667, which is why the plan buys none.
    assert price(sp, "b_gpu_east_0") == pytest.approx(
        40_000 - (500 * demand_price - kw_price), rel=1e-5
    )
    assert "not bought" in row(sp, "b_gpu_east_0")["description"]
    # The platforms the plan buys pay for themselves exactly at the margin.
    assert price(sp, "b_cpu_east_0") == pytest.approx(0.0, abs=0.05)
    assert price(sp, "b_asic_east_0") == pytest.approx(0.0, abs=0.05)


def single_asic_case(make_fleet: Callable[..., Fleet], allocation: str) -> Fleet:
    """1000 qps at 80 % utilisation: 1250 qps of asics (12,000 USD, 250 qps) = 5 servers."""
    return make_fleet(
        {
            "horizon_quarters": 1,
            "target_utilization": 0.8,
            "energy_load_factor": 0.5,
            "allocation": allocation,
            "disaster_recovery": NO_DR,
        },
        platforms=[
            platform("asic", "inference_asic", 12_000, 400),
            platform("cpu", "cpu", 10_000, 500),
        ],
        models=[model_row("rank")],
        profiles=[profile("rank", "asic", 250), profile("rank", "cpu", 100)],
        regions=[region("east", 100.0, price=0.1, pue=1.5)],
        demand=[demand("rank", "east", 0, 1000)],
    )


def energy_usd(watts: float) -> float:
    """One server-quarter of energy: kW * PUE 1.5 * load 0.5 * hours * 0.1 USD/kWh."""
    return watts / 1000 * 1.5 * 0.5 * HOURS_PER_QUARTER * 0.1


@pytest.mark.parametrize("allocation", ["dedicated", "pooled"])
def test_marginal_asic_price_per_qps(make_fleet: Callable[..., Fleet], allocation: str) -> None:
    # The marginal server is an asic: 12,000 USD plus a quarter of energy for 250 qps at 80 %
    # utilisation. The same whether replicas are whole (dedicated) or pooled, because the LP
    # treats both as divisible and 1000 / (250 * 0.8) = 5 servers is whole.
    sp = shadow_prices(solved(single_asic_case(make_fleet, allocation)))
    asic_price = (12_000 + energy_usd(400)) / (250 * 0.8)
    assert price(sp, "demand_rank_east_0") == pytest.approx(asic_price, rel=1e-5)
    # A cpu serves 80 usable qps for 10,000 USD plus its energy: not bought, by this much.
    assert price(sp, "b_cpu_east_0") == pytest.approx(
        10_000 + energy_usd(500) - 100 * 0.8 * asic_price, rel=1e-5
    )
    assert price(sp, "power_east_0") == 0.0
    assert not row(sp, "power_east_0")["binding"]
    assert row(sp, "power_east_0")["slack"] == pytest.approx(100.0 - 5 * 0.4 * 1.5)
    assert "changes nothing" in row(sp, "power_east_0")["description"]


def test_supply_price_two_regions(make_fleet: Callable[..., Fleet]) -> None:
    # 1000 qps in each of two regions on 250-qps servers: 8 servers. Only 6 cheap cpus (10,000)
    # can be bought per quarter, the other 2 are asics (20,000). One more unit of supply turns
    # an asic into a cpu: it saves 10,000. The marginal qps is an asic: 20,000 / 250.
    fleet = make_fleet(
        {"horizon_quarters": 1, "target_utilization": 1.0, "disaster_recovery": NO_DR},
        platforms=[
            platform("cpu", "cpu", 10_000, 500, supply_per_quarter=6),
            platform("asic", "inference_asic", 20_000, 250),
        ],
        models=[model_row("rank")],
        profiles=[profile("rank", "cpu", 250), profile("rank", "asic", 250)],
        regions=[region("east", 100.0), region("west", 100.0)],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "west", 0, 1000)],
    )
    sp = shadow_prices(solved(fleet))
    assert price(sp, "supply_cpu_0") == pytest.approx(-10_000, rel=1e-6)
    assert row(sp, "supply_cpu_0")["binding"]
    assert row(sp, "supply_cpu_0")["unit"] == "USD per server"
    for r in ("east", "west"):
        assert price(sp, f"demand_rank_{r}_0") == pytest.approx(20_000 / 250, rel=1e-5)


def test_disaster_recovery_price(make_fleet: Callable[..., Fleet]) -> None:
    # Demand only in east (1000 qps). Losing east, west must carry it at 80 % emergency
    # utilisation: 1000 / (250 * 0.8) = 5 asics there, so one more qps to cover costs
    # 20,000 / 200 USD, while one more qps of east's own demand costs 20,000 / 250.
    fleet = make_fleet(
        {
            "horizon_quarters": 1,
            "target_utilization": 1.0,
            "disaster_recovery": {"enabled": True, "emergency_utilization": 0.8},
        },
        platforms=[platform("asic", "inference_asic", 20_000, 250)],
        models=[model_row("rank")],
        profiles=[profile("rank", "asic", 250)],
        regions=[region("east", 100.0), region("west", 100.0)],
        demand=[demand("rank", "east", 0, 1000)],
    )
    sp = shadow_prices(solved(fleet))
    assert price(sp, "dr_rank_east_0") == pytest.approx(20_000 / (250 * 0.8), rel=1e-5)
    assert price(sp, "demand_rank_east_0") == pytest.approx(20_000 / 250, rel=1e-5)
    dr = row(sp, "dr_rank_east_0")
    assert dr["unit"] == "USD per qps" and dr["binding"]
    assert dr["description"].startswith("covering rank when region east is lost in 2020Q1")


def test_a_server_bought_early_also_serves_later(make_fleet: Callable[..., Fleet]) -> None:
    # 1000 qps in 2020Q1 and 1250 in 2020Q2 on asics that live 16 quarters: 4 servers for Q1
    # and a 5th for Q2. One more qps in Q1 is served by buying earlier what Q2 needs anyway,
    # so it costs nothing; one more qps in Q2 costs a fresh asic's 12,000 / 250.
    fleet = make_fleet(
        {"horizon_quarters": 2, "target_utilization": 1.0, "disaster_recovery": NO_DR},
        platforms=[platform("asic", "inference_asic", 12_000, 400)],
        models=[model_row("rank")],
        profiles=[profile("rank", "asic", 250)],
        regions=[region("east", 100.0)],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "east", 1, 1250)],
    )
    sp = shadow_prices(solved(fleet))
    assert price(sp, "demand_rank_east_0") == pytest.approx(0.0, abs=1e-3)
    assert price(sp, "demand_rank_east_1") == pytest.approx(12_000 / 250, rel=1e-5)
    assert "2020Q2" in row(sp, "demand_rank_east_1")["description"]


def test_model_is_restored(power_bound: Fleet) -> None:
    model = solved(power_bound)
    result = solve_model(model)
    before = extract_plan(model, result)
    bounds = [(v.name, v.lowBound, v.upBound, v.cat, v.varValue) for v in model.variables]
    first = shadow_prices(model)
    assert [(v.name, v.lowBound, v.upBound, v.cat, v.varValue) for v in model.variables] == bounds
    after = extract_plan(model, result)
    for name in before.TABLES:
        pd.testing.assert_frame_equal(getattr(before, name), getattr(after, name))
    pd.testing.assert_frame_equal(first, shadow_prices(model))
    assert "around the fixed integer plan" in first.attrs["note"]


def test_fixing_every_integer_leaves_nothing_to_price(power_bound: Fleet) -> None:
    # With every server count fixed, no continuous variable can serve one more qps: the LP
    # prices it at zero, and a purchase's reduced cost is just its capex.
    sp = shadow_prices(solved(power_bound), fix="all")
    assert price(sp, "demand_rank_east_0") == 0.0
    assert price(sp, "power_east_0") == 0.0
    assert price(sp, "b_gpu_east_0") == pytest.approx(40_000, rel=1e-6)
    assert "every integer decision is fixed" in sp.attrs["note"]
    with pytest.raises(ValueError, match="fix must be"):
        shadow_prices(solved(power_bound), fix="some")  # type: ignore[arg-type]


def test_binding_constraints_ranked(power_bound: Fleet) -> None:
    model = solved(power_bound)
    top = binding_constraints(model, top=20)
    assert top["binding"].all()
    sizes = top["shadow_price"].abs().tolist()
    assert sizes == sorted(sizes, reverse=True)
    assert {"power_east_0", "demand_rank_east_0"} <= set(top["constraint"])
    # Min replicas (1 needed, 4 placed) has headroom; the unused gpu's rows are 0 <= 0.
    assert "minrep_rank_east_0" not in set(top["constraint"])
    assert not top["constraint"].str.contains("gpu").any()
    assert len(binding_constraints(model, top=2)) == 2
    assert top.attrs["note"]


def test_power_objective_prices_in_kw(make_fleet: Callable[..., Fleet]) -> None:
    # Minimising power, one more qps needs 1/250 of a 0.4 kW asic for the quarter; the tiny
    # TCO tie-break of the power objective (at most 1e-5 of it) is within the tolerance.
    fleet = make_fleet(
        {
            "horizon_quarters": 1,
            "target_utilization": 1.0,
            "objective": "power",
            "disaster_recovery": NO_DR,
        },
        platforms=[platform("asic", "inference_asic", 12_000, 400)],
        models=[model_row("rank")],
        profiles=[profile("rank", "asic", 250)],
        regions=[region("east", 100.0)],
        demand=[demand("rank", "east", 0, 1000)],
    )
    sp = shadow_prices(solved(fleet))
    demand_row = row(sp, "demand_rank_east_0")
    assert demand_row["unit"] == "kW-quarters per qps"
    assert demand_row["shadow_price"] == pytest.approx(0.4 / 250, rel=1e-2)


def test_unsolved_model_is_refused(power_bound: Fleet) -> None:
    with pytest.raises(ValueError, match="solve_model first"):
        shadow_prices(build_model(power_bound))
