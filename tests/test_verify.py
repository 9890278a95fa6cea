"""The independent verifier catches each kind of violation in a tampered plan.

A valid plan is made once per module; each test deep-copies it, changes one thing in its
tables, and asserts which checks :func:`verify_plan` reports.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from cases import (
    demand,
    inventory,
    make_fleet,
    model,
    plan_verified,
    platform,
    power_cap,
    profile,
    region,
)

from planner.verify import verify_plan

ENERGY = 500 / 1000 * 1.0 * 1.0 * 2190 * 0.1  # USD per server-quarter: kW * PUE * load * h * price


@pytest.fixture(scope="module")
def fleet():
    """rank needs 10 servers in Q0 and 30 in Q1 (100 qps each) in east.

    20 CPU servers are installed; ``late`` (5,000 USD, supply 10 per quarter) can be ordered
    from Q1; ``gpu`` has no profile. The cap is 6 kW in Q0 and 20 kW from Q1.
    """
    return make_fleet(
        platforms=[platform("cpu", capex_usd=10_000),
                   platform("late", capex_usd=5_000, available_from_quarter=1,
                            supply_per_quarter=10),
                   platform("gpu", platform_class="accelerator_fabric", capex_usd=1_000)],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100), profile("rank", "late", 100)],
        regions=[region("east", power_cap_kw=6, electricity_usd_per_kwh=0.1)],
        region_power_caps=[power_cap("east", 1, 20)],
        inventory=[inventory("cpu", "east", 20)],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "east", 1, 3000)],
        settings={"horizon_quarters": 2},
    )


@pytest.fixture(scope="module")
def plan(fleet):
    return plan_verified(fleet)


@pytest.fixture(scope="module")
def dr_fleet():
    return make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east"), region("west")],
        demand=[demand("rank", "east", 0, 900)],
        settings={"disaster_recovery": {"enabled": True, "emergency_utilization": 0.9}},
    )


@pytest.fixture(scope="module")
def dr_plan(dr_fleet):
    return plan_verified(dr_fleet)


def tamper(plan):
    return copy.deepcopy(plan)


def checks(fleet, plan, check_cost: bool = True) -> set[str]:
    return set(verify_plan(fleet, plan, check_cost=check_cost).violations["check"])


def rows(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for col, value in where.items():
        mask &= frame[col] == value
    assert mask.sum() == 1, f"expected one row with {where}"
    return mask


def test_untampered_plan_is_valid(fleet, plan):
    result = verify_plan(fleet, plan)
    assert result.ok, str(result)
    # 10 ``late`` bought in Q1; 10 servers run in Q0, 30 in Q1.
    assert result.recomputed_cost_usd == pytest.approx(10 * 5_000 + (10 + 30) * ENERGY)
    assert plan.total_cost_usd == pytest.approx(10 * 5_000 + (10 + 30) * ENERGY)
    assert "verified" in str(result)


def test_dropping_a_server_breaks_demand(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="cpu", quarter=1)
    bad.allocation.loc[m, ["replicas", "servers"]] -= 1
    assert checks(fleet, bad) == {"demand"}
    assert "demand" in str(verify_plan(fleet, bad))


def test_dropping_a_whole_cell_breaks_min_replicas(fleet, plan):
    bad = tamper(plan)
    bad.allocation = bad.allocation[bad.allocation["quarter"] != 0].reset_index(drop=True)
    assert checks(fleet, bad) == {"demand", "min_replicas"}


def test_in_service_beyond_installed(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.fleet, platform_id="cpu", quarter=1)
    bad.fleet.loc[m, "in_service_servers"] = 22  # only 20 installed
    assert checks(fleet, bad, check_cost=False) == {"installed"}
    # the extra servers also cost energy the plan does not report
    assert checks(fleet, bad) == {"installed", "cost"}


def test_allocation_beyond_in_service(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="cpu", quarter=0)
    bad.allocation.loc[m, ["replicas", "servers"]] += 1
    assert checks(fleet, bad) == {"capacity"}


def test_allocation_on_a_platform_without_profile(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="late", quarter=1)
    bad.allocation.loc[m, "platform_id"] = "gpu"
    found = checks(fleet, bad)
    assert "profile" in found
    assert found <= {"profile", "demand"}


def test_fractional_replicas_in_dedicated_allocation(fleet, plan):
    bad = tamper(plan)
    bad.allocation = bad.allocation.astype({"replicas": "float64", "servers": "float64"})
    m = rows(bad.allocation, platform_id="cpu", quarter=0)
    bad.allocation.loc[m, ["replicas", "servers"]] = 9.5
    assert "integrality" in checks(fleet, bad)


def test_servers_not_matching_replicas(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="cpu", quarter=0)
    bad.allocation.loc[m, "servers"] = 9  # 10 single-server replicas need 10 servers
    assert "memory_fit" in checks(fleet, bad)


def test_purchase_before_available_from_quarter(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.purchases, platform_id="late")
    bad.purchases.loc[m, ["order_quarter", "arrival_quarter"]] = 0
    assert checks(fleet, bad) == {"availability"}


def test_wrong_arrival_quarter(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.purchases, platform_id="late")
    bad.purchases.loc[m, "arrival_quarter"] = 2  # lead time 0: arrives when ordered (Q1)
    assert checks(fleet, bad) == {"lead_time"}


def test_purchases_over_supply(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.purchases, platform_id="late")
    bad.purchases.loc[m, "servers"] = 12  # supply is 10 per quarter
    assert checks(fleet, bad, check_cost=False) == {"supply"}


def test_power_over_cap(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.fleet, platform_id="cpu", quarter=0)
    bad.fleet.loc[m, "in_service_servers"] = 20  # 20 * 0.5 kW = 10 kW > 6 kW in Q0
    assert checks(fleet, bad, check_cost=False) == {"power"}


def test_space_over_limit(fleet, plan):
    regions = fleet.regions.copy()
    regions["space_limit_ru"] = 25.0  # Q1 runs 30 servers of 1 RU
    assert checks(fleet.replace(regions=regions), plan) == {"space"}


def test_changed_costs_are_a_cost_mismatch(fleet, plan):
    bad = tamper(plan)
    bad.costs["total_usd"] *= 1.1
    assert checks(fleet, bad) == {"cost"}
    assert checks(fleet, bad, check_cost=False) == set()


def test_cost_mismatch_against_other_prices(fleet, plan):
    regions = fleet.regions.copy()
    regions["electricity_usd_per_kwh"] = 0.2
    result = verify_plan(fleet.replace(regions=regions), plan)
    assert set(result.violations["check"]) == {"cost"}
    assert result.recomputed_cost_usd == pytest.approx(10 * 5_000 + (10 + 30) * 2 * ENERGY)


def test_dr_plan_is_valid(dr_fleet, dr_plan):
    assert verify_plan(dr_fleet, dr_plan).ok
    assert dr_plan.allocation.groupby("region_id")["servers"].sum().to_dict() == {
        "east": 9, "west": 10}


def test_dr_shortfall(dr_fleet, dr_plan):
    bad = tamper(dr_plan)
    m = rows(bad.allocation, region_id="west")
    bad.allocation.loc[m, ["replicas", "servers"]] -= 1  # 9 * 100 * 0.9 = 810 < 900
    result = verify_plan(dr_fleet, bad)
    assert set(result.violations["check"]) == {"disaster_recovery"}
    assert "losing east" in str(result)
