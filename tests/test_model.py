"""The formulation on tiny fleets whose optimum is computed by hand.

Each test builds a fleet small enough to solve on paper, writes the expected optimum as
arithmetic, and checks the plan's tables. Every plan goes through :func:`verify_plan`
(``plan_verified``). Unless a test says otherwise: target utilisation 1.0, electricity free
(cost = capex), PUE 1, lead time 0, DR off, mip_gap 0.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from cases import (
    backup,
    call,
    demand,
    inventory,
    make_fleet,
    model,
    plan_verified,
    platform,
    power_cap,
    product,
    profile,
    region,
    tiny_fleet,
)

from planner.demand import peak_demand
from planner.errors import FleetDataError, InfeasiblePlanError
from planner.model import build_model
from planner.parameters import candidates
from planner.pipeline import explain_infeasibility, make_plan
from planner.schema import HOURS_PER_QUARTER


def servers(plan, table: str = "allocation", **where: object) -> float:
    """Sum the ``servers`` column of ``plan.<table>`` over rows matching ``where``."""
    frame = getattr(plan, table)
    for col, value in where.items():
        frame = frame[frame[col] == value]
    return float(frame["servers"].sum())


def in_service(plan, **where: object) -> float:
    frame = plan.fleet
    for col, value in where.items():
        frame = frame[frame[col] == value]
    return float(frame["in_service_servers"].sum())


def one_model_fleet(qps_demand: dict[int, float], *, qps: float = 100, util: float = 1.0,
                    **kw) -> object:
    """One model (rank) on one CPU platform (10,000 USD, 100 qps) in one region (east)."""
    horizon = max(qps_demand) + 1
    return make_fleet(
        platforms=kw.pop("platforms", [platform("cpu")]),
        models=kw.pop("models", [model("rank")]),
        profiles=kw.pop("profiles", [profile("rank", "cpu", qps)]),
        regions=kw.pop("regions", [region("east")]),
        demand=[demand("rank", "east", q, v) for q, v in qps_demand.items()],
        settings={"horizon_quarters": horizon, "target_utilization": util,
                  **kw.pop("settings", {})},
        **kw,
    )


# ------------------------------------------------------------------------------------------
# The reference example


def test_tiny_example_optimum():
    plan = plan_verified(tiny_fleet())
    # rank: ceil(1200 / 250) = 5 ASIC (60,000 USD) beats ceil(1200 / 100) = 12 CPU;
    # vision runs only on CPU: ceil(300 / 50) = 6 CPU.
    assert plan.total_cost_usd == pytest.approx(5 * 12_000 + 6 * 10_000)
    assert servers(plan, model_id="rank", quarter=0) == 4  # ceil(1000 / 250)
    assert servers(plan, model_id="rank", quarter=1) == 5
    assert servers(plan, model_id="rank", platform_id="cpu") == 0
    assert servers(plan, model_id="vision", platform_id="cpu", quarter=1) == 6
    assert servers(plan, "purchases", platform_id="asic", region_id="east") == 5
    assert servers(plan, "purchases", platform_id="cpu", region_id="west") == 6
    assert plan.summary["status"] == "optimal"
    assert plan.summary["verified"] is True


# ------------------------------------------------------------------------------------------
# Demand within SLO at target utilisation


def test_demand_rounds_up_to_whole_servers_at_target_utilization():
    plan = plan_verified(one_model_fleet({0: 1000, 1: 1500}, util=0.7))
    # Usable qps per server = 100 * 0.7 = 70: ceil(1000 / 70) = 15, ceil(1500 / 70) = 22.
    assert math.ceil(1000 / 70) == 15 and math.ceil(1500 / 70) == 22
    assert servers(plan, quarter=0) == 15
    assert servers(plan, quarter=1) == 22
    assert plan.total_cost_usd == pytest.approx(22 * 10_000)
    assert (plan.allocation["utilization"] <= 0.7 + 1e-9).all()


def test_demand_exactly_at_capacity_does_not_round_up():
    plan = plan_verified(one_model_fleet({0: 1400}, util=0.7))
    # 1400 / (100 * 0.7) = 20 exactly: 20 servers, not 21.
    assert servers(plan) == 20
    assert plan.total_cost_usd == pytest.approx(20 * 10_000)


def test_demand_from_products_through_the_call_graph():
    fleet = make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank"), model("emb")],
        profiles=[profile("rank", "cpu", 100), profile("emb", "cpu", 100)],
        regions=[region("east", demand_share=0.75), region("west", demand_share=0.25)],
        products=[product("feed", 8_640_000, peak_to_average=2.0, growth_per_quarter=0.5)],
        calls=[call("feed", "rank", 5), call("rank", "emb", 2)],
        settings={"horizon_quarters": 2},
    )
    # feed peak = 8,640,000 / 86,400 * 2 = 200 requests/s; rank = 5 per request, emb = 2 per
    # rank query; quarter 1 grows by 1.5; east gets 75 %, west 25 %.
    rank_q0 = 8_640_000 / 86_400 * 2.0 * 5
    expected = {("rank", "east", 0): rank_q0 * 0.75, ("rank", "west", 0): rank_q0 * 0.25,
                ("rank", "east", 1): rank_q0 * 1.5 * 0.75,
                ("rank", "west", 1): rank_q0 * 1.5 * 0.25}
    expected |= {("emb", r, q): 2 * v for (_m, r, q), v in list(expected.items())}
    got = peak_demand(fleet).set_index(["model_id", "region_id", "quarter"])["peak_qps"]
    assert got.to_dict() == pytest.approx(expected)

    plan = plan_verified(fleet)
    per_cell = {k: math.ceil(v / 100) for k, v in expected.items()}
    # Quarter 1: rank 12 + 4, emb 23 + 8 = 47 servers, bought by quarter 1.
    assert sum(v for (m, r, q), v in per_cell.items() if q == 1) == 12 + 4 + 23 + 8
    assert plan.total_cost_usd == pytest.approx((12 + 4 + 23 + 8) * 10_000)
    for (m, r, q), n in per_cell.items():
        assert servers(plan, model_id=m, region_id=r, quarter=q) == n


# ------------------------------------------------------------------------------------------
# Fleet capacity: existing inventory is used before buying


def test_inventory_is_used_before_buying():
    plan = plan_verified(one_model_fleet({0: 1500}, inventory=[inventory("cpu", "east", 10)]))
    # 15 servers needed, 10 installed: buy 5.
    assert plan.total_cost_usd == pytest.approx(5 * 10_000)
    assert servers(plan, "purchases") == 5
    row = plan.fleet.iloc[0]
    assert (row["available_servers"], row["in_service_servers"], row["allocated_servers"]) == (
        15, 15, 15)


def test_enough_inventory_buys_nothing():
    plan = plan_verified(one_model_fleet({0: 1500}, inventory=[inventory("cpu", "east", 20)]))
    assert plan.total_cost_usd == pytest.approx(0.0)
    assert plan.purchases.empty
    assert servers(plan) == 15
    assert 15 <= in_service(plan) <= 20


def test_expensive_inventory_platform_is_still_used_first():
    fleet = one_model_fleet(
        {0: 1500},
        platforms=[platform("cpu"), platform("asic", capex_usd=12_000)],
        profiles=[profile("rank", "cpu", 100), profile("rank", "asic", 250)],
        inventory=[inventory("asic", "east", 4)],
    )
    plan = plan_verified(fleet)
    # 4 installed ASIC serve 1,000 qps for free; the other 500: 2 ASIC (24,000 USD) beat
    # 5 CPU (50,000 USD).
    assert plan.total_cost_usd == pytest.approx(2 * 12_000)
    assert servers(plan, platform_id="asic") == 6


# ------------------------------------------------------------------------------------------
# Power cap


def power_fleet(cap_kw: float, **kw) -> object:
    """CPU 10,000 USD / 500 W / 100 qps against ASIC 30,000 USD / 400 W / 250 qps, PUE 1.5."""
    return one_model_fleet(
        kw.pop("qps_demand", {0: 1000}),
        platforms=[platform("cpu", power_w=500, capex_usd=10_000),
                   platform("asic", platform_class="inference_asic", power_w=400,
                            capex_usd=30_000)],
        profiles=[profile("rank", "cpu", 100), profile("rank", "asic", 250)],
        regions=[region("east", power_cap_kw=cap_kw, pue=1.5)],
        **kw,
    )


def test_without_power_cap_cheap_cpu_wins():
    plan = plan_verified(power_fleet(1_000))
    # 10 CPU = 100,000 USD; any ASIC mix costs more (1 ASIC + 8 CPU = 110,000).
    assert plan.total_cost_usd == pytest.approx(10 * 10_000)
    assert servers(plan, platform_id="cpu") == 10


def test_power_cap_forces_the_power_efficient_asic():
    plan = plan_verified(power_fleet(2.5))
    # 10 CPU need 10 * 0.5 kW * 1.5 = 7.5 kW > 2.5. 4 ASIC need 4 * 0.4 * 1.5 = 2.4 kW;
    # 3 ASIC (1.8 kW) leave room for no CPU (0.75 kW each), so 4 ASIC it is.
    assert plan.total_cost_usd == pytest.approx(4 * 30_000)
    assert servers(plan, platform_id="asic") == 4
    assert servers(plan, platform_id="cpu") == 0
    assert plan.power["power_kw"].iloc[0] == pytest.approx(4 * 0.4 * 1.5)
    assert (plan.power["headroom_kw"] >= -1e-9).all()


def test_power_cap_that_changes_over_time():
    fleet = power_fleet(2.5, qps_demand={0: 500, 1: 1000},
                        region_power_caps=[power_cap("east", 1, 100)])
    plan = plan_verified(fleet)
    # Q0 (2.5 kW): 500 qps fit only as 2 ASIC (1.2 kW); 1 ASIC + 3 CPU needs 2.85 kW.
    # Q1 (100 kW): the other 500 qps as 5 CPU (50,000) rather than 2 ASIC (60,000).
    assert plan.total_cost_usd == pytest.approx(2 * 30_000 + 5 * 10_000)
    assert list(plan.power["cap_kw"]) == [2.5, 100]
    assert servers(plan, platform_id="asic", quarter=0) == 2
    assert servers(plan, platform_id="cpu", quarter=1) == 5


# ------------------------------------------------------------------------------------------
# Memory fit


def memory_fleet(memory_gb: float, max_shards: int = 1) -> object:
    """ASIC (12,000 USD, 250 qps, 64 + 32 GB) against CPU (10,000 USD, 100 qps, 256 GB)."""
    return one_model_fleet(
        {0: 1000},
        platforms=[platform("cpu", host_memory_gb=256),
                   platform("asic", platform_class="inference_asic", capex_usd=12_000,
                            host_memory_gb=64, accel_memory_gb=32)],
        models=[model("rank", memory_gb=memory_gb, max_shards=max_shards)],
        profiles=[profile("rank", "cpu", 100), profile("rank", "asic", 250)],
    )


def test_model_that_fits_uses_the_cheaper_asic():
    plan = plan_verified(memory_fleet(50))
    assert plan.total_cost_usd == pytest.approx(4 * 12_000)  # ceil(1000 / 250) = 4


def test_model_too_big_for_the_asic_goes_to_cpu():
    fleet = memory_fleet(200)
    # 200 GB > 64 + 32 GB: a replica would span ceil(200 / 96) = 3 ASIC > max_shards 1.
    assert list(candidates(fleet)["platform_id"]) == ["cpu"]
    plan = plan_verified(fleet)
    assert plan.total_cost_usd == pytest.approx(10 * 10_000)
    assert set(plan.allocation["platform_id"]) == {"cpu"}


def test_sharding_makes_two_server_replicas():
    fleet = one_model_fleet({0: 500}, models=[model("rank", memory_gb=400, max_shards=2)])
    # 400 GB on 256 GB servers: 2 servers per replica of 2 * 100 = 200 qps;
    # ceil(500 / 200) = 3 replicas = 6 servers.
    plan = plan_verified(fleet)
    row = plan.allocation.iloc[0]
    assert (row["replicas"], row["servers"], row["capacity_qps"]) == (3, 6, 600)
    assert plan.total_cost_usd == pytest.approx(6 * 10_000)


def test_model_that_fits_nowhere_is_a_data_error():
    with pytest.raises(FleetDataError, match="max_shards"):
        one_model_fleet({0: 500}, models=[model("rank", memory_gb=400, max_shards=1)])


# ------------------------------------------------------------------------------------------
# Lead time


def test_lead_time_delays_a_purchase():
    fleet = one_model_fleet(
        {1: 500, 2: 1000},
        platforms=[platform("slow", capex_usd=5_000, lead_time_quarters=2),
                   platform("fast", capex_usd=20_000, lead_time_quarters=0)],
        profiles=[profile("rank", "slow", 100), profile("rank", "fast", 100)],
    )
    model_ = build_model(fleet)
    # slow ordered in Q1 or Q2 would arrive after the 3-quarter horizon: no such variables.
    assert sorted(k for k in model_.b if k[0] == "slow") == [("slow", "east", 0)]
    plan = plan_verified(fleet)
    # Q1 (500 qps) only fast servers can serve: 5 * 20,000. The Q2 growth (500 qps) comes
    # from 5 slow servers ordered in Q0, arriving in Q2: 5 * 5,000.
    assert plan.total_cost_usd == pytest.approx(5 * 20_000 + 5 * 5_000)
    slow = plan.purchases[plan.purchases["platform_id"] == "slow"]
    assert slow[["order_quarter", "arrival_quarter", "servers"]].values.tolist() == [[0, 2, 5]]
    assert servers(plan, platform_id="slow", quarter=1) == 0
    assert servers(plan, platform_id="fast", quarter=1) == 5


def test_lead_time_bridged_by_inventory():
    fleet = one_model_fleet(
        {0: 300, 1: 300, 2: 800},
        platforms=[platform("slow", capex_usd=5_000, lead_time_quarters=2)],
        profiles=[profile("rank", "slow", 100)],
        inventory=[inventory("slow", "east", 3)],
    )
    plan = plan_verified(fleet)
    # 3 installed serve Q0 and Q1; Q2 needs 8: 5 ordered in Q0, arriving in Q2.
    assert plan.total_cost_usd == pytest.approx(5 * 5_000)
    assert plan.purchases[["order_quarter", "arrival_quarter", "servers"]].values.tolist() == [
        [0, 2, 5]]


# ------------------------------------------------------------------------------------------
# Disaster recovery


def dr_fleet(qps: dict[str, float], regions=("east", "west"), *, enabled: bool = True,
             phase: str = "inference", topology=()) -> object:
    return make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank", phase=phase)],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region(r) for r in regions],
        demand=[demand("rank", r, 0, v) for r, v in qps.items()],
        topology=list(topology),
        settings={"disaster_recovery": {"enabled": enabled, "emergency_utilization": 0.9}},
    )


def test_without_dr_only_the_demand_region_gets_servers():
    plan = plan_verified(dr_fleet({"east": 900}, enabled=False))
    assert plan.total_cost_usd == pytest.approx(9 * 10_000)
    assert set(plan.allocation["region_id"]) == {"east"}


def test_dr_forces_servers_into_a_second_region():
    plan = plan_verified(dr_fleet({"east": 900}))
    # Losing east, west alone must carry 900 qps at 90 %: ceil(900 / (100 * 0.9)) = 10.
    assert servers(plan, region_id="east") == 9
    assert servers(plan, region_id="west") == 10
    assert plan.total_cost_usd == pytest.approx((9 + 10) * 10_000)


def test_dr_with_demand_in_both_regions():
    plan = plan_verified(dr_fleet({"east": 900, "west": 450}))
    # Either survivor carries 900 + 450 = 1,350 qps at 90 %: 15 servers in each region.
    assert servers(plan, region_id="east") == 15
    assert servers(plan, region_id="west") == 15
    assert plan.total_cost_usd == pytest.approx(2 * 15 * 10_000)


def test_dr_leaves_training_alone():
    plan = plan_verified(dr_fleet({"east": 900}, phase="training"))
    assert plan.total_cost_usd == pytest.approx(9 * 10_000)


def test_dr_follows_the_topology():
    topology = [backup("a", "b"), backup("b", "a"), backup("c", "a")]
    plan = plan_verified(dr_fleet({"a": 900}, regions=("a", "b", "c"), topology=topology))
    # Only b backs up a: b gets ceil(900 / 90) = 10 servers, c none.
    assert servers(plan, region_id="b") == 10
    assert servers(plan, region_id="c") == 0
    assert plan.total_cost_usd == pytest.approx((9 + 10) * 10_000)


# ------------------------------------------------------------------------------------------
# Minimum replicas, space, supply


def test_min_replicas_above_demand():
    plan = plan_verified(one_model_fleet({0: 10}, models=[model("rank", min_replicas=3)]))
    # 10 qps needs 1 server, but the model wants 3 replicas.
    assert servers(plan) == 3
    assert plan.total_cost_usd == pytest.approx(3 * 10_000)


def test_min_replicas_count_replicas_not_servers():
    plan = plan_verified(one_model_fleet(
        {0: 10}, models=[model("rank", memory_gb=400, max_shards=2, min_replicas=2)]))
    assert plan.allocation["replicas"].sum() == 2
    assert plan.total_cost_usd == pytest.approx(2 * 2 * 10_000)


def space_fleet(limit_ru: float | None) -> object:
    return one_model_fleet(
        {0: 1000},
        platforms=[platform("cpu", capex_usd=10_000, rack_units=2),
                   platform("dense", capex_usd=15_000, rack_units=1)],
        profiles=[profile("rank", "cpu", 100), profile("rank", "dense", 100)],
        regions=[region("east", space_limit_ru=limit_ru)],
    )


def test_space_limit_forces_denser_servers():
    assert plan_verified(space_fleet(None)).total_cost_usd == pytest.approx(10 * 10_000)
    plan = plan_verified(space_fleet(14))
    # a CPU (2 RU) + b dense (1 RU): a + b >= 10, 2a + b <= 14 -> a <= 4: 4 CPU + 6 dense.
    assert plan.total_cost_usd == pytest.approx(4 * 10_000 + 6 * 15_000)
    assert servers(plan, platform_id="dense") == 6


def supply_fleet(qps_demand: dict[tuple[str, int], float], regions=("east", "west")) -> object:
    horizon = max(q for _r, q in qps_demand) + 1
    return make_fleet(
        platforms=[platform("cheap", capex_usd=10_000, supply_per_quarter=6),
                   platform("dear", capex_usd=20_000)],
        models=[model("rank")],
        profiles=[profile("rank", "cheap", 100), profile("rank", "dear", 100)],
        regions=[region(r) for r in regions],
        demand=[demand("rank", r, q, v) for (r, q), v in qps_demand.items()],
        settings={"horizon_quarters": horizon},
    )


def test_supply_limit_is_shared_across_regions():
    plan = plan_verified(supply_fleet({("east", 0): 500, ("west", 0): 500}))
    # 10 servers needed, at most 6 cheap ones per quarter over both regions.
    assert plan.total_cost_usd == pytest.approx(6 * 10_000 + 4 * 20_000)
    assert servers(plan, "purchases", platform_id="cheap") == 6


def test_supply_limit_in_a_single_region():
    plan = plan_verified(supply_fleet({("east", 0): 1000}, regions=("east",)))
    assert plan.total_cost_usd == pytest.approx(6 * 10_000 + 4 * 20_000)


def test_supply_limit_is_per_quarter():
    plan = plan_verified(supply_fleet({("east", 1): 500, ("west", 1): 500}))
    # Buying 6 in Q0 and 4 in Q1 gets all 10 cheap.
    assert plan.total_cost_usd == pytest.approx(10 * 10_000)
    per_quarter = plan.purchases.groupby("order_quarter")["servers"].sum()
    assert (per_quarter <= 6).all()


# ------------------------------------------------------------------------------------------
# Retirement


def test_retired_inventory_is_replaced():
    plan = plan_verified(one_model_fleet({0: 1000, 1: 1000},
                                         inventory=[inventory("cpu", "east", 10, 1)]))
    # The 10 installed servers are gone from Q1 (retire_quarter 1): buy 10.
    assert plan.total_cost_usd == pytest.approx(10 * 10_000)
    assert servers(plan, "purchases") == 10
    q1 = plan.fleet[plan.fleet["quarter"] == 1].iloc[0]
    assert q1["available_servers"] == 10  # the purchased ones only


def test_inventory_without_retirement_lasts():
    plan = plan_verified(one_model_fleet({0: 1000, 1: 1000},
                                         inventory=[inventory("cpu", "east", 10)]))
    assert plan.total_cost_usd == pytest.approx(0.0)


# ------------------------------------------------------------------------------------------
# Energy


def test_energy_and_maintenance_cost_arithmetic():
    fleet = one_model_fleet(
        {0: 500, 1: 500},
        platforms=[platform("cpu", power_w=500, maintenance_usd_per_quarter=100)],
        regions=[region("east", pue=1.5, electricity_usd_per_kwh=0.1)],
        settings={"energy_load_factor": 0.6},
    )
    plan = plan_verified(fleet)
    energy_per_server_quarter = 500 / 1000 * 1.5 * 0.6 * 2190 * 0.1
    assert HOURS_PER_QUARTER == 2190
    # 5 servers bought, in service for 2 quarters.
    assert plan.costs["energy_usd"].sum() == pytest.approx(2 * 5 * energy_per_server_quarter)
    assert plan.costs["maintenance_usd"].sum() == pytest.approx(2 * 5 * 100)
    assert plan.total_cost_usd == pytest.approx(
        5 * 10_000 + 2 * 5 * (500 / 1000 * 1.5 * 0.6 * 2190 * 0.1) + 2 * 5 * 100)
    assert plan.summary["energy_usd"] == pytest.approx(2 * 5 * energy_per_server_quarter)


def test_energy_makes_buying_cheaper_than_running_old_inventory():
    fleet = one_model_fleet(
        {0: 100},
        platforms=[platform("old", power_w=1_000, capex_usd=50_000),
                   platform("new", power_w=100, capex_usd=1_000)],
        profiles=[profile("rank", "old", 100), profile("rank", "new", 100)],
        regions=[region("east", electricity_usd_per_kwh=1.0)],
        inventory=[inventory("old", "east", 1)],
    )
    plan = plan_verified(fleet)
    # Running the old server: 1 kW * 2190 h * 1 USD = 2,190 USD; a new one costs
    # 1,000 + 0.1 * 2190 = 1,219 USD.
    assert plan.total_cost_usd == pytest.approx(1_000 + 0.1 * 2190 * 1.0)
    assert in_service(plan, platform_id="old") == 0


# ------------------------------------------------------------------------------------------
# Objective alternatives


def test_objective_power_minimises_facility_power():
    tco = plan_verified(power_fleet(1_000))
    power = plan_verified(power_fleet(1_000, settings={"objective": "power"}))
    assert tco.total_cost_usd == pytest.approx(10 * 10_000)
    assert tco.power["power_kw"].sum() == pytest.approx(10 * 0.5 * 1.5)
    # Least power: 4 ASIC (0.0016 kW per qps beats the CPU's 0.005).
    assert power.power["power_kw"].sum() == pytest.approx(4 * 0.4 * 1.5)
    assert power.total_cost_usd == pytest.approx(4 * 30_000)
    assert power.summary["objective"] == "power"


def test_objective_capex_ignores_energy():
    def fleet(objective: str):
        return one_model_fleet(
            {0: 100},
            platforms=[platform("cpu", power_w=500, capex_usd=10_000),
                       platform("eff", power_w=100, capex_usd=10_500)],
            profiles=[profile("rank", "cpu", 100), profile("rank", "eff", 100)],
            regions=[region("east", electricity_usd_per_kwh=1.0)],
            settings={"objective": objective},
        )

    tco = plan_verified(fleet("tco"))
    capex = plan_verified(fleet("capex"))
    # TCO: eff 10,500 + 0.1 * 2190 = 10,719 < cpu 10,000 + 0.5 * 2190 = 11,095.
    assert tco.total_cost_usd == pytest.approx(10_500 + 0.1 * 2190)
    # capex only: cpu's 10,000 < 10,500; its plan still reports the energy it costs.
    assert capex.total_cost_usd == pytest.approx(10_000 + 0.5 * 2190)
    assert capex.purchases["platform_id"].tolist() == ["cpu"]


# ------------------------------------------------------------------------------------------
# Tie-breaks are lexicographic in effect: they never outweigh the primary objective


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_power_tie_break_never_outweighs_half_a_watt(solver):
    def fleet(new_w: float):
        return one_model_fleet(
            {0: 100},
            platforms=[platform("old", power_w=400, capex_usd=10_000),
                       platform("new", power_w=new_w, capex_usd=10_000)],
            profiles=[profile("rank", "old", 100), profile("rank", "new", 100)],
            inventory=[inventory("old", "east", 1)],
            settings={"objective": "power"},
        )

    # The installed 400 W server is free; a 399.5 W one costs 10,000 USD. Least power is
    # the purchase (0.3995 kW < 0.4 kW) whatever it costs: the old server leaves service.
    plan = plan_verified(fleet(399.5), solver=solver)
    assert plan.power["power_kw"].sum() == pytest.approx(0.3995)
    assert plan.purchases["platform_id"].tolist() == ["new"]
    assert in_service(plan, platform_id="old") == 0
    # At equal power the tie-break (TCO) still decides: keep the free server.
    plan = plan_verified(fleet(400), solver=solver)
    assert plan.purchases.empty and in_service(plan, platform_id="old") == 1


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_idle_servers_leave_service_with_pooled_allocation_and_free_running(solver):
    # fleet_data/tiny with pooled allocation and nothing to pay for running a server
    # (electricity 0, maintenance 0): only the tie-break keeps idle servers out of service.
    fleet = make_fleet(
        platforms=[platform("cpu", power_w=1_000, capex_usd=5_000, lead_time_quarters=1),
                   platform("asic", platform_class="inference_asic", power_w=500,
                            capex_usd=8_000, accel_memory_gb=32, accelerators=4,
                            lead_time_quarters=1)],
        models=[model("rank"), model("vision", bucket="cv")],
        profiles=[profile("rank", "cpu", 100), profile("rank", "asic", 250),
                  profile("vision", "cpu", 50), profile("vision", "asic", 500)],
        regions=[region("east", power_cap_kw=6), region("west", power_cap_kw=5)],
        inventory=[inventory("cpu", "east", 5), inventory("cpu", "west", 4)],
        demand=[demand("rank", "east", 0, 300), demand("rank", "east", 1, 400),
                demand("rank", "west", 0, 200), demand("rank", "west", 1, 300),
                demand("vision", "east", 0, 100), demand("vision", "east", 1, 1_000),
                demand("vision", "west", 0, 100), demand("vision", "west", 1, 500)],
        settings={"horizon_quarters": 2, "allocation": "pooled"},
    )
    plan = plan_verified(fleet, solver=solver)
    # Q0: every installed cpu serves (east 3 + 2, west 2 + 2). Q1: vision on ASICs (east 2,
    # west 1, bought in Q0: 3 * 8,000 USD), rank on 4 of 5 cpu in east and 3 of 4 in west.
    assert plan.total_cost_usd == pytest.approx(3 * 8_000)
    q1 = plan.fleet[plan.fleet["quarter"] == 1].set_index(["platform_id", "region_id"])
    assert q1["in_service_servers"].to_dict() == {
        ("asic", "east"): 2, ("asic", "west"): 1, ("cpu", "east"): 4, ("cpu", "west"): 3}
    assert plan.power["power_kw"].tolist() == pytest.approx([5, 4 + 1, 4, 3 + 0.5])


# ------------------------------------------------------------------------------------------
# Pooled against dedicated allocation


def pooling_fleet(allocation: str) -> object:
    return make_fleet(
        platforms=[platform("cpu")],
        models=[model("a"), model("b")],
        profiles=[profile("a", "cpu", 100), profile("b", "cpu", 100)],
        regions=[region("east")],
        demand=[demand("a", "east", 0, 150), demand("b", "east", 0, 150)],
        settings={"allocation": allocation},
    )


def test_dedicated_allocation_rounds_each_model():
    plan = plan_verified(pooling_fleet("dedicated"))
    assert plan.total_cost_usd == pytest.approx((2 + 2) * 10_000)  # ceil(1.5) per model


def test_pooled_allocation_shares_whole_servers():
    plan = plan_verified(pooling_fleet("pooled"))
    # 1.5 + 1.5 replicas share 3 whole servers.
    assert plan.total_cost_usd == pytest.approx(3 * 10_000)
    assert sorted(plan.allocation["replicas"]) == pytest.approx([1.5, 1.5])
    assert in_service(plan) == 3


# ------------------------------------------------------------------------------------------
# Solvers and determinism


SOLVER_CASES = {
    "tiny": tiny_fleet,
    "power": lambda: power_fleet(2.5),
    "space": lambda: space_fleet(14),
    "supply": lambda: supply_fleet({("east", 0): 500, ("west", 0): 500}),
    "dr": lambda: dr_fleet({"east": 900, "west": 450}),
    "pooled": lambda: pooling_fleet("pooled"),
}


@pytest.mark.parametrize("case", sorted(SOLVER_CASES))
def test_cbc_and_highs_agree(case):
    fleet = SOLVER_CASES[case]()
    highs = plan_verified(fleet, solver="highs")
    cbc = plan_verified(fleet, solver="cbc")
    assert cbc.summary["solver"] == "cbc" and highs.summary["solver"] == "highs"
    assert cbc.summary["status"] == highs.summary["status"] == "optimal"
    assert cbc.total_cost_usd == pytest.approx(highs.total_cost_usd)
    assert cbc.summary["objective_value"] == pytest.approx(highs.summary["objective_value"],
                                                           rel=1e-6)
    assert cbc.summary["best_bound"] is not None


TIMING_KEYS = {"build_seconds", "solve_seconds", "wall_seconds", "first_plan_seconds"}


def _without_timings(summary: dict) -> dict:
    """The summary without wall-clock figures (the stages keep their names and values)."""
    out = {k: v for k, v in summary.items() if k not in TIMING_KEYS}
    if "stages" in out:
        out["stages"] = [{k: v for k, v in s.items() if k != "seconds"} for s in out["stages"]]
    return out


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_same_input_gives_identical_tables(solver):
    first = plan_verified(tiny_fleet(), solver=solver)
    second = plan_verified(tiny_fleet(), solver=solver)
    for name, table in first.tables().items():
        pd.testing.assert_frame_equal(second.tables()[name], table, obj=name)
    assert _without_timings(second.summary) == _without_timings(first.summary)


# ------------------------------------------------------------------------------------------
# Infeasible cases are explained


def test_infeasible_demand_names_model_region_quarter_and_shortfall():
    fleet = one_model_fleet(
        {0: 200, 1: 400, 2: 800},
        util=0.8,
        platforms=[platform("slow", capex_usd=5_000, lead_time_quarters=2)],
        profiles=[profile("rank", "slow", 100)],
        inventory=[inventory("slow", "east", 3)],
    )
    # Q1: only the 3 installed servers exist (a purchase arrives in Q2 at the earliest):
    # 3 * 100 * 0.8 = 240 usable qps against 400 -> 160 qps short.
    with pytest.raises(InfeasiblePlanError) as exc:
        make_plan(fleet)
    explanation = exc.value.explanation
    assert isinstance(explanation, pd.DataFrame)
    assert len(explanation) == 1
    row = explanation.iloc[0]
    assert (row["constraint"], row["model_id"], row["region_id"], int(row["quarter"])) == (
        "demand", "rank", "east", 1)
    assert row["amount"] == pytest.approx(400 - 3 * 100 * 0.8)
    assert row["unit"] == "queries/s"
    assert "rank east Q1 short by 160.0 queries/s" in str(exc.value)
    pd.testing.assert_frame_equal(explain_infeasibility(fleet), explanation)


def test_infeasible_power_cap_names_the_unserved_demand_then_the_kw():
    fleet = one_model_fleet({0: 1000}, regions=[region("east", power_cap_kw=3)])
    # Under 3 kW only 6 servers of 0.5 kW run: 600 of 1,000 qps, 400 short. Serving it
    # needs 10 servers = 5 kW against the 3 kW cap: 2 kW over.
    with pytest.raises(InfeasiblePlanError) as exc:
        make_plan(fleet)
    explanation = exc.value.explanation
    assert explanation[["constraint", "region_id", "quarter", "unit"]].values.tolist() == [
        ["demand", "east", 0, "queries/s"], ["power", "east", 0, "kW"]]
    assert explanation["amount"].tolist() == pytest.approx([1000 - 6 * 100, 10 * 0.5 - 3])
    message = str(exc.value)
    assert message.index("rank east Q0 short by 400.0 queries/s") < message.index(
        "power cap: east Q0 would have to rise by 2.0 kW")


def test_infeasible_without_explanation():
    fleet = one_model_fleet({0: 1000}, regions=[region("east", power_cap_kw=3)])
    with pytest.raises(InfeasiblePlanError) as exc:
        make_plan(fleet, explain=False)
    assert exc.value.explanation is None


def cbc_stale_bound_fleet() -> object:
    """A pooled fleet (found by hypothesis) whose CBC log has a progress line whose
    'best possible' bound (6.126 kUSD) is stale: CBC goes on to prove 6.2479 optimal."""
    return make_fleet(
        platforms=[platform("p0", power_w=347, capex_usd=27_000, lifetime_quarters=1,
                            maintenance_usd_per_quarter=50),
                   platform("p1", power_w=219, capex_usd=1_000, host_memory_gb=32,
                            lifetime_quarters=2, maintenance_usd_per_quarter=200)],
        models=[model("m0", memory_gb=4, min_replicas=0), model("m1", memory_gb=4, min_replicas=0),
                model("m2", memory_gb=4, min_replicas=2)],
        profiles=[profile("m0", "p0", 301), profile("m0", "p1", 10), profile("m1", "p0", 454),
                  profile("m2", "p0", 100), profile("m2", "p1", 165)],
        regions=[region("east", electricity_usd_per_kwh=0.1)],
        demand=[demand("m0", "east", 2, 184.6), demand("m1", "east", 2, 87.2),
                demand("m2", "east", 0, 117.3), demand("m2", "east", 1, 1042.0),
                demand("m2", "east", 2, 219.5)],
        inventory=[inventory("p0", "east", 4)],
        settings={"horizon_quarters": 3, "allocation": "pooled"},
    )


def test_cbc_stale_bound_case_has_the_same_optimum():
    fleet = cbc_stale_bound_fleet()
    highs = plan_verified(fleet, solver="highs", mip_gap=0.001)
    cbc = plan_verified(fleet, solver="cbc", mip_gap=0.001)
    assert cbc.summary["objective_value"] == pytest.approx(highs.summary["objective_value"],
                                                           rel=1e-3)


def test_cbc_proven_optimum_is_reported_optimal():
    cbc = plan_verified(cbc_stale_bound_fleet(), solver="cbc", mip_gap=0.001)
    assert cbc.summary["status"] == "optimal"
    assert cbc.summary["gap"] <= 0.001
