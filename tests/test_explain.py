"""Honest explanations: infeasible cases say the unserved demand first, then the caps.

Every expected number is worked out by hand in the test from the tiny fleet's data.
"""

from __future__ import annotations

import pandas as pd
import pytest
from cases import backup, demand, inventory, make_fleet, model, platform, profile, region

from planner.errors import InfeasiblePlanError
from planner.pipeline import make_plan


def _infeasible(fleet) -> InfeasiblePlanError:
    with pytest.raises(InfeasiblePlanError) as exc:
        make_plan(fleet)
    return exc.value


def _rows(explanation: pd.DataFrame) -> list[list]:
    cols = ["constraint", "model_id", "platform_id", "region_id", "quarter", "unit"]
    return explanation[cols].astype(object).where(explanation[cols].notna(), None).values.tolist()


def _in_order(message: str, *parts: str) -> None:
    """Assert every part is in the message, in this order."""
    at = [message.index(p) for p in parts]
    assert at == sorted(at), message


# ------------------------------------------------------------------------------------------
# Infeasibility: demand first, caps second


def asic_under_power_cap():
    """One ASIC (450 W, 6,000 qps) fits under a 500 W cap; demand is 12,000 qps."""
    return make_fleet(
        platforms=[
            platform(
                "asic",
                platform_class="inference_asic",
                power_w=450,
                capex_usd=12_000,
                accel_memory_gb=32,
                accelerators=4,
            )
        ],
        models=[model("rank")],
        profiles=[profile("rank", "asic", 6_000)],
        regions=[region("east", power_cap_kw=0.5)],
        demand=[demand("rank", "east", 0, 12_000)],
    )


def test_power_cap_case_says_the_unserved_qps_first():
    error = _infeasible(asic_under_power_cap())
    # Under 0.5 kW one 0.45 kW ASIC runs: 6,000 of 12,000 qps served, 6,000 short.
    # Serving it takes 2 ASICs = 0.9 kW: the cap would have to rise by 0.4 kW.
    assert _rows(error.explanation) == [
        ["demand", "rank", None, "east", 0, "queries/s"],
        ["power", None, None, "east", 0, "kW"],
    ]
    assert error.explanation["amount"].tolist() == pytest.approx([12_000 - 6_000, 2 * 0.45 - 0.5])
    message = str(error)
    _in_order(
        message,
        "Demand that cannot be served under the caps:",
        "peak demand not served: rank east Q0 short by 6,000.0 queries/s",
        "To serve it, these caps would have to move:",
        "power cap: east Q0 would have to rise by 0.4 kW",
    )


def test_disaster_recovery_shortfall_names_the_lost_region():
    # DR on: losing east, west must carry east's 300 qps at 90 % utilisation. West's 0.5 kW
    # cap runs one 0.5 kW server: 100 * 0.9 = 90 qps, so 210 qps are not covered. Covering
    # them takes ceil(300 / 90) = 4 servers = 2 kW in west: its cap would rise by 1.5 kW.
    fleet = make_fleet(
        platforms=[platform("cpu", power_w=500)],
        models=[model("rank", min_replicas=0)],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east"), region("west", power_cap_kw=0.5)],
        topology=[backup("east", "west"), backup("west", "east")],
        demand=[demand("rank", "east", 0, 300)],
        settings={"disaster_recovery": {"enabled": True, "emergency_utilization": 0.9}},
    )
    error = _infeasible(fleet)
    assert _rows(error.explanation) == [
        ["dr", "rank", None, "east", 0, "queries/s"],
        ["power", None, None, "west", 0, "kW"],
    ]
    assert error.explanation["amount"].tolist() == pytest.approx([300 - 0.9 * 100, 4 * 0.5 - 0.5])
    _in_order(
        str(error),
        "demand not covered after losing region east: rank Q0 short by 210.0",
        "power cap: west Q0 would have to rise by 1.5 kW",
    )


def test_supply_shortfall_says_how_many_more_servers():
    # 500 qps need 5 servers of 100 qps; only 2 can be bought in the quarter: 300 qps short,
    # and the supply would have to grow by 3 servers.
    fleet = make_fleet(
        platforms=[platform("cpu", supply_per_quarter=2)],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 500)],
    )
    error = _infeasible(fleet)
    assert _rows(error.explanation) == [
        ["demand", "rank", None, "east", 0, "queries/s"],
        ["supply", None, "cpu", None, 0, "servers"],
    ]
    assert error.explanation["amount"].tolist() == pytest.approx([500 - 2 * 100, 5 - 2])
    _in_order(
        str(error),
        "rank east Q0 short by 300.0 queries/s",
        "supply of purchases: cpu Q0 would have to grow by 3.0 servers",
    )


def test_space_shortfall_says_how_many_more_rack_units():
    # 2 RU of space hold two 1 RU servers (one installed, one bought): 200 of 500 qps, 300
    # short; 5 servers need 5 RU: 3 RU more.
    fleet = make_fleet(
        platforms=[platform("cpu", rack_units=1)],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east", space_limit_ru=2)],
        inventory=[inventory("cpu", "east", 1)],
        demand=[demand("rank", "east", 0, 500)],
    )
    error = _infeasible(fleet)
    assert _rows(error.explanation) == [
        ["demand", "rank", None, "east", 0, "queries/s"],
        ["space", None, None, "east", 0, "RU"],
    ]
    assert error.explanation["amount"].tolist() == pytest.approx([500 - 2 * 100, 5 - 2])
    _in_order(
        str(error),
        "rank east Q0 short by 300.0 queries/s",
        "rack space limit: east Q0 would have to rise by 3.0 RU",
    )


def test_shortfall_no_cap_can_fix_says_so():
    # New servers take two quarters to arrive: in Q0 only the 1 installed server (100 qps)
    # serves 250 qps, and no cap move helps.
    fleet = make_fleet(
        platforms=[platform("cpu", lead_time_quarters=2)],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east")],
        inventory=[inventory("cpu", "east", 1)],
        demand=[demand("rank", "east", 0, 250)],
    )
    error = _infeasible(fleet)
    assert _rows(error.explanation) == [["demand", "rank", None, "east", 0, "queries/s"]]
    assert error.explanation["amount"].tolist() == pytest.approx([150])
    assert "No power, space or supply cap limits it" in str(error)
