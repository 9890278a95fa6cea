"""The independent verifier: tampered plans, its independence from the model side, and agreement.

A valid plan is made once per module; each tamper test deep-copies it, changes one cell or row
of one table, and asserts exactly which checks :func:`verify_plan` reports (a changed cell
breaks the constraint it is in and every table derived from it). Then: ``verify.py`` imports
nothing from the model side (AST), its own recomputation of demand, inventory, power caps and
backups agrees with the model side's on several cases and with hand-worked numbers, and a bug
planted in a model-side helper makes ``make_plan`` refuse the plan.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

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

import planner.baselines
import planner.demand
import planner.model
import planner.parameters
import planner.results
import planner.scale
import planner.topology
from planner.errors import SolverError
from planner.fleet import load_fleet
from planner.pipeline import make_plan
from planner.scenarios import apply_scenario, load_scenarios
from planner.synthetic import synthetic_fleet
from planner.verify import (
    backups_from_inputs,
    demand_from_inputs,
    inventory_from_inputs,
    power_caps_from_inputs,
    verify_plan,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
ENERGY = 500 / 1000 * 1.0 * 1.0 * 2190 * 0.1  # USD per server-quarter: kW * PUE * load * h * price


@pytest.fixture(scope="module")
def fleet():
    """rank needs 10 servers in Q0 and 30 in Q1 (100 qps each) in east.

    20 CPU servers are installed; ``late`` (5,000 USD, supply 10 per quarter) can be ordered
    from Q1; ``gpu`` has no profile. The cap is 6 kW in Q0 and 20 kW from Q1.
    """
    return make_fleet(
        platforms=[
            platform("cpu", capex_usd=10_000),
            platform("late", capex_usd=5_000, available_from_quarter=1, supply_per_quarter=10),
            platform("gpu", platform_class="accelerator_fabric", capex_usd=1_000),
        ],
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


# ----------------------------------------------------------------------------------------------
# Constraints


def test_dropping_a_server_breaks_demand(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="cpu", quarter=1)
    bad.allocation.loc[m, ["replicas", "servers"]] -= 1
    # the row's capacity_qps and the fleet's allocated_servers no longer match it either
    assert checks(fleet, bad) == {"demand", "allocation_table", "fleet_table"}
    assert "demand" in str(verify_plan(fleet, bad))


def test_dropping_a_whole_cell_breaks_min_replicas(fleet, plan):
    bad = tamper(plan)
    bad.allocation = bad.allocation[bad.allocation["quarter"] != 0].reset_index(drop=True)
    assert checks(fleet, bad) == {"demand", "min_replicas", "fleet_table"}


def test_in_service_beyond_installed(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.fleet, platform_id="cpu", quarter=1)
    bad.fleet.loc[m, "in_service_servers"] = 22  # only 20 installed
    # facility_kw of the row and power_kw of east Q1 were derived from the old count
    assert checks(fleet, bad, check_cost=False) == {"installed", "fleet_table", "power_table"}
    # the extra servers also cost energy the cost table and the summary do not report
    assert checks(fleet, bad) == {"installed", "fleet_table", "power_table", "cost", "summary"}


def test_allocation_beyond_in_service(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="cpu", quarter=0)
    bad.allocation.loc[m, ["replicas", "servers"]] += 1
    assert checks(fleet, bad) == {"capacity", "allocation_table", "fleet_table"}


def test_allocation_on_a_platform_without_profile(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.allocation, platform_id="late", quarter=1)
    bad.allocation.loc[m, "platform_id"] = "gpu"
    found = checks(fleet, bad)
    assert "profile" in found
    assert found <= {"profile", "demand", "fleet_table", "allocation_table"}


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
    # arriving in Q0, the servers are installed there (no fleet row) and cost capex in Q0
    assert checks(fleet, bad) == {"availability", "fleet_table", "cost"}


def test_wrong_arrival_quarter(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.purchases, platform_id="late")
    bad.purchases.loc[m, "arrival_quarter"] = 2  # lead time 0: arrives when ordered (Q1)
    assert checks(fleet, bad) == {"lead_time"}


def test_purchases_over_supply(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.purchases, platform_id="late")
    bad.purchases.loc[m, "servers"] = 12  # supply is 10 per quarter
    assert checks(fleet, bad, check_cost=False) == {"supply", "purchases_table", "fleet_table"}


def test_power_over_cap(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.fleet, platform_id="cpu", quarter=0)
    bad.fleet.loc[m, "in_service_servers"] = 20  # 20 * 0.5 kW = 10 kW > 6 kW in Q0
    assert checks(fleet, bad, check_cost=False) == {"power", "fleet_table", "power_table"}


def test_space_over_limit(fleet, plan):
    regions = fleet.regions.copy()
    regions["space_limit_ru"] = 25.0  # Q1 runs 30 servers of 1 RU
    assert checks(fleet.replace(regions=regions), plan) == {"space"}


def test_dr_plan_is_valid(dr_fleet, dr_plan):
    assert verify_plan(dr_fleet, dr_plan).ok
    assert dr_plan.allocation.groupby("region_id")["servers"].sum().to_dict() == {
        "east": 9,
        "west": 10,
    }


def test_dr_shortfall(dr_fleet, dr_plan):
    bad = tamper(dr_plan)
    m = rows(bad.allocation, region_id="west")
    bad.allocation.loc[m, ["replicas", "servers"]] -= 1  # 9 * 100 * 0.9 = 810 < 900
    result = verify_plan(dr_fleet, bad)
    assert set(result.violations["check"]) == {
        "disaster_recovery",
        "allocation_table",
        "fleet_table",
    }
    assert "losing east" in str(result)


# ----------------------------------------------------------------------------------------------
# Every table a plan writes is cross-checked: one edited cell, one named row.


def only(fleet, plan, table: str, check: str) -> pd.DataFrame:
    """Assert that the violations are all ``check`` in ``table``; return them."""
    v = verify_plan(fleet, plan).violations
    assert not v.empty
    assert set(v["check"]) == {check}, v.to_string()
    assert set(v["table"]) == {table}, v.to_string()
    return v


def test_edited_power_kw_is_caught_on_its_row(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.power, quarter=1)
    bad.power.loc[m, "power_kw"] -= 5  # hides 5 kW (and keeps headroom consistent)
    bad.power.loc[m, "headroom_kw"] += 5
    v = only(fleet, bad, "power", "power_table")
    assert list(v["row"].dropna()) == [int(m.to_numpy().nonzero()[0][0]) + 1] * 2


def test_edited_cap_and_missing_power_row(fleet, plan):
    bad = tamper(plan)
    bad.power.loc[rows(bad.power, quarter=0), "cap_kw"] = 60.0
    only(fleet, bad, "power", "power_table")
    gone = tamper(plan)
    gone.power = gone.power[gone.power["quarter"] != 1].reset_index(drop=True)
    v = only(fleet, gone, "power", "power_table")
    assert "no row" in v["detail"].iloc[0]


@pytest.mark.parametrize("column", ["allocated_servers", "available_servers", "facility_kw"])
def test_edited_fleet_column_is_caught(fleet, plan, column):
    bad = tamper(plan)
    m = rows(bad.fleet, platform_id="late", quarter=1)
    bad.fleet.loc[m, column] += 3
    v = only(fleet, bad, "fleet", "fleet_table")
    assert v["detail"].str.startswith(column).all()
    assert list(v["row"]) == [int(m.to_numpy().nonzero()[0][0]) + 1]


def test_edited_purchase_capex(fleet, plan):
    bad = tamper(plan)
    bad.purchases.loc[rows(bad.purchases, platform_id="late"), "capex_usd"] = 40_000
    only(fleet, bad, "purchases", "purchases_table")


def test_edited_cost_cell_and_missing_cost_row(fleet, plan):
    bad = tamper(plan)
    m = rows(bad.costs, platform_id="cpu", quarter=0)
    bad.costs.loc[m, ["energy_usd", "total_usd"]] -= 100  # consistent row, wrong energy
    bad.costs.loc[rows(bad.costs, platform_id="late", quarter=1), "total_usd"] += 100  # same sum
    v = only(fleet, bad, "costs", "cost")
    assert v["row"].notna().all()
    gone = tamper(plan)
    gone.costs = gone.costs[gone.costs["platform_id"] != "late"].reset_index(drop=True)
    assert "no cost row" in " ".join(only(fleet, gone, "costs", "cost")["detail"])


@pytest.mark.parametrize(
    "key", ["total_cost_usd", "energy_usd", "servers_purchased", "peak_power_kw"]
)
def test_edited_summary_total(fleet, plan, key):
    bad = tamper(plan)
    bad.summary[key] = bad.summary[key] + 7
    v = only(fleet, bad, "summary", "summary")
    assert list(v["where"]) == [key]


@pytest.mark.parametrize(
    ("column", "delta"), [("capacity_qps", 50.0), ("served_qps", 50.0), ("utilization", 0.1)]
)
def test_edited_allocation_column(fleet, plan, column, delta):
    bad = tamper(plan)
    bad.allocation.loc[rows(bad.allocation, platform_id="cpu", quarter=0), column] += delta
    only(fleet, bad, "allocation", "allocation_table")


def test_wrong_labels_unknown_ids_and_duplicates(fleet, plan):
    bad = tamper(plan)
    bad.fleet.loc[rows(bad.fleet, platform_id="cpu", quarter=0), "platform_class"] = "gpu"
    only(fleet, bad, "fleet", "label")
    unknown = tamper(plan)
    unknown.costs.loc[rows(unknown.costs, platform_id="cpu", quarter=0), "region_id"] = "mars"
    assert "unknown" in checks(fleet, unknown)
    dup = tamper(plan)
    dup.power = pd.concat([dup.power, dup.power.iloc[[0]]], ignore_index=True)
    assert "duplicate" in checks(fleet, dup)


def test_changed_costs_are_a_cost_mismatch(fleet, plan):
    bad = tamper(plan)
    bad.costs["total_usd"] *= 1.1
    assert checks(fleet, bad) == {"cost"}
    assert checks(fleet, bad, check_cost=False) == set()


def test_cost_mismatch_against_other_prices(fleet, plan):
    regions = fleet.regions.copy()
    regions["electricity_usd_per_kwh"] = 0.2
    result = verify_plan(fleet.replace(regions=regions), plan)
    assert set(result.violations["check"]) == {"cost", "summary"}
    assert result.recomputed_cost_usd == pytest.approx(10 * 5_000 + (10 + 30) * 2 * ENERGY)


def test_missing_columns_are_one_violation_each_table(fleet, plan):
    bad = tamper(plan)
    bad.power = bad.power.drop(columns=["cap_kw"])
    v = verify_plan(fleet, bad).violations
    assert list(v["check"]) == ["columns"] and "cap_kw" in v["detail"].iloc[0]


# ----------------------------------------------------------------------------------------------
# Independence: verify.py recomputes the inputs itself.

ALLOWED_IMPORTS = {
    "planner.fleet": None,
    "planner.results": {"Plan"},
    "planner.schema": None,
    "planner.errors": None,
}


def test_verify_imports_nothing_from_the_model_side():
    """Only the loaded tables (fleet), the Plan class, schema constants and errors."""
    tree = ast.parse((REPO_ROOT / "planner" / "verify.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
            assert not [n for n in names if n.split(".")[0] == "planner"], names
        elif isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            if node.level or module.split(".")[0] == "planner":
                assert module in ALLOWED_IMPORTS, f"verify.py imports {module}"
                allowed = ALLOWED_IMPORTS[module]
                imported = {a.name for a in node.names}
                assert allowed is None or imported <= allowed, f"{module}: {imported}"
                if module == "planner.schema":  # constants only, no functions
                    assert all(a.name.isupper() for a in node.names), imported


def graph_fleet():
    """Every input shape the recomputation reads: a call graph with two paths, growth, shares,
    plain demand on top, a scenario multiplier, a retiring inventory row, a cap schedule and
    a topology.

    Product ``feed`` has 8,640,000 daily requests (100/s mean), peak-to-average 2 and 10 %
    growth; each request calls ``rank`` twice and ``embed`` once, and each ``rank`` query calls
    ``embed`` three times. Regions: east 75 %, west 25 %, south none.
    """
    return make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank"), model("embed")],
        profiles=[profile("rank", "cpu", 100), profile("embed", "cpu", 100)],
        regions=[
            region("east", demand_share=0.75, power_cap_kw=50),
            region("west", demand_share=0.25, power_cap_kw=40),
            region("south", demand_share=0.0, power_cap_kw=30),
        ],
        products=[product("feed", 8_640_000, peak_to_average=2, growth_per_quarter=0.1)],
        calls=[call("feed", "rank", 2), call("feed", "embed", 1), call("rank", "embed", 3)],
        demand=[demand("rank", "south", 1, 50)],
        inventory=[
            inventory("cpu", "east", 10, retire_quarter=2),
            inventory("cpu", "east", 4),
            inventory("cpu", "west", 6, retire_quarter=0),
        ],
        region_power_caps=[
            power_cap("east", 1, 45),
            power_cap("east", 2, 42),
            power_cap("west", 2, 35),
        ],
        topology=[
            backup("east", "west"),
            backup("west", "east"),
            backup("south", "east"),
            backup("south", "west"),
        ],
        settings={"horizon_quarters": 3},
    )


def test_recomputed_inputs_match_hand_worked_numbers():
    fleet = graph_fleet()
    peak = demand_from_inputs(fleet)
    # feed peak 200/s; rank gets 2 per request, embed 1 + 2 * 3 = 7.
    assert peak[("rank", "east", 0)] == pytest.approx(200 * 2 * 0.75)
    assert peak[("embed", "west", 2)] == pytest.approx(200 * 1.1**2 * 7 * 0.25)
    assert peak[("rank", "south", 1)] == pytest.approx(50)  # plain demand row only
    assert ("embed", "south", 0) not in peak  # zero share: no demand
    assert len(peak) == 2 * 2 * 3 + 1
    assert inventory_from_inputs(fleet) == {
        ("cpu", "east", 0): 14,
        ("cpu", "east", 1): 14,
        ("cpu", "east", 2): 4,
    }
    caps = power_caps_from_inputs(fleet)
    assert [caps[("east", t)] for t in range(3)] == [50, 45, 42]
    assert [caps[("west", t)] for t in range(3)] == [40, 40, 35]
    assert backups_from_inputs(fleet) == {
        "east": ["west"],
        "south": ["east", "west"],
        "west": ["east"],
    }
    scaled = fleet.replace(
        demand_adjustments=pd.DataFrame(
            [
                {"model_id": "rank", "region_id": None, "multiplier": 2.0},
                {"model_id": None, "region_id": "west", "multiplier": 3.0},
            ]
        )
    )
    again = demand_from_inputs(scaled)
    assert again[("rank", "west", 0)] == pytest.approx(peak[("rank", "west", 0)] * 6)
    assert again[("embed", "east", 0)] == pytest.approx(peak[("embed", "east", 0)])


def _default_fleets():
    base = load_fleet(REPO_ROOT / "fleet_data" / "default")
    scenarios = load_scenarios(REPO_ROOT / "fleet_data" / "default")
    return [base, *(apply_scenario(base, s) for s in scenarios.values())]


def _agreement_cases():
    from conftest import VALID_SETTINGS, VALID_TABLES

    from planner.fleet import fleet_from_frames

    valid = fleet_from_frames(
        "valid", VALID_SETTINGS, **{k: pd.DataFrame(v) for k, v in VALID_TABLES.items()}
    )
    return [tiny_fleet(), graph_fleet(), valid, synthetic_fleet("XS", 0), *_default_fleets()]


def test_model_side_and_verifier_agree_on_the_inputs():
    """peak_demand, inventory_by_quarter, power_caps and backups equal the verifier's own."""
    for fleet in _agreement_cases():
        model_peak = {
            (d.model_id, d.region_id, int(d.quarter)): d.peak_qps
            for d in planner.demand.peak_demand(fleet).itertuples(index=False)
        }
        assert model_peak == pytest.approx(demand_from_inputs(fleet)), fleet.name
        inv = planner.parameters.inventory_by_quarter(fleet)
        model_inv = {
            (i.platform_id, i.region_id, int(i.quarter)): i.servers
            for i in inv.itertuples(index=False)
            if i.servers
        }
        assert model_inv == inventory_from_inputs(fleet), fleet.name
        caps = planner.parameters.power_caps(fleet)
        assert {
            (c.region_id, int(c.quarter)): c.cap_kw for c in caps.itertuples(index=False)
        } == power_caps_from_inputs(fleet), fleet.name
        assert planner.topology.backups(fleet) == backups_from_inputs(fleet), fleet.name


# ----------------------------------------------------------------------------------------------
# A bug planted in a model-side helper is caught: make_plan refuses the plan.

_peak, _inventory = planner.demand.peak_demand, planner.parameters.inventory_by_quarter
_caps, _backups = planner.parameters.power_caps, planner.topology.backups


def _no_growth(fleet):  # forgets product growth
    return _peak(fleet.replace(products=fleet.products.assign(growth_per_quarter=0.0)))


def _retire_late(fleet):  # keeps servers one quarter past retire_quarter
    return _inventory(
        fleet.replace(
            inventory=fleet.inventory.assign(retire_quarter=fleet.inventory["retire_quarter"] + 1)
        )
    )


def _no_schedule(fleet):  # ignores region_power_caps.csv
    return _caps(fleet.replace(region_power_caps=fleet.region_power_caps.iloc[0:0]))


def _self_backup(fleet):  # lets a lost region back itself up
    return {r: sorted({*b, r}) for r, b in _backups(fleet).items()}


def _bug_cases():
    cpu = [platform("cpu", capex_usd=1_000)]
    rank = ([model("rank")], [profile("rank", "cpu", 100)])
    growth = make_fleet(
        platforms=cpu,
        models=rank[0],
        profiles=rank[1],
        regions=[region("east", demand_share=1.0)],
        products=[product("feed", 8_640_000, growth_per_quarter=1.0)],
        calls=[call("feed", "rank", 1)],
        settings={"horizon_quarters": 2},
    )
    retiring = make_fleet(
        platforms=cpu,
        models=rank[0],
        profiles=rank[1],
        regions=[region("east")],
        inventory=[inventory("cpu", "east", 10, retire_quarter=1)],
        demand=[demand("rank", "east", t, 1000) for t in (0, 1)],
        settings={"horizon_quarters": 2},
    )
    capped = make_fleet(
        platforms=[
            platform("hot", power_w=1000, capex_usd=1_000),
            platform("cool", power_w=100, capex_usd=5_000),
        ],
        models=rank[0],
        profiles=[profile("rank", "hot", 100), profile("rank", "cool", 100)],
        regions=[region("east", power_cap_kw=100)],
        region_power_caps=[power_cap("east", 1, 2)],
        demand=[demand("rank", "east", t, 1000) for t in (0, 1)],
        settings={"horizon_quarters": 2},
    )
    dr = make_fleet(
        platforms=cpu,
        models=rank[0],
        profiles=rank[1],
        regions=[region("east"), region("west")],
        demand=[demand("rank", "east", 0, 900)],
        settings={"disaster_recovery": {"enabled": True, "emergency_utilization": 0.9}},
    )
    return [
        ("peak_demand", _no_growth, growth, "demand"),
        ("inventory_by_quarter", _retire_late, retiring, "installed"),
        ("power_caps", _no_schedule, capped, "power"),
        ("backups", _self_backup, dr, "disaster_recovery"),
    ]


@pytest.mark.parametrize(
    ("name", "buggy", "fleet", "check"), _bug_cases(), ids=[c[0] for c in _bug_cases()]
)
def test_a_bug_in_a_model_side_helper_is_caught(monkeypatch, name, buggy, fleet, check):
    plan_verified(fleet)  # without the bug the case plans and verifies
    for module in (
        planner.demand,
        planner.parameters,
        planner.topology,
        planner.model,
        planner.scale,
        planner.results,
        planner.baselines,
    ):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, buggy)
    with pytest.raises(SolverError, match="failed independent verification") as exc:
        make_plan(fleet)
    assert f" {check} " in str(exc.value)


# ----------------------------------------------------------------------------------------------
# Reading a plan folder back, and `python -m planner verify`


def invoke(*args: object):
    from typer.testing import CliRunner

    from planner.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_plan_folder(tmp_path_factory):
    """The tiny case and its plan written in every format (the plan is 120,000 USD)."""
    from cases import write_fleet

    root = tmp_path_factory.mktemp("tiny")
    case = write_fleet(
        tiny_fleet(),
        root / "case",
        scenarios={"growth": {"demand_multiplier": {"bucket": {"ranking": 2}}}},
    )
    result = invoke(
        "plan",
        case,
        "--out",
        root / "plan",
        "--format",
        "csv",
        "--format",
        "parquet",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    return case, root / "plan"


def copy_plan(folder: Path, dest: Path, fmt: str = "csv") -> Path:
    """Copy a plan folder keeping one format of the tables (plus summary.json)."""
    import shutil

    dest.mkdir()
    for path in folder.iterdir():
        if path.suffix in (f".{fmt}", ".md") or path.name == "summary.json":
            shutil.copy(path, dest / path.name)
    return dest


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_read_plan_round_trips_every_format(tiny_plan_folder, tmp_path, fmt):
    from planner.plan_io import PLAN_COLUMNS, read_plan

    case, folder = tiny_plan_folder
    plan = read_plan(copy_plan(folder, tmp_path / fmt, fmt))
    fleet = load_fleet(case)
    result = verify_plan(fleet, plan)
    assert result.ok, str(result)
    assert result.recomputed_cost_usd == pytest.approx(120_000)
    assert plan.summary["total_cost_usd"] == pytest.approx(120_000)
    for name, columns in PLAN_COLUMNS.items():
        # the declared columns are exactly those `plan` writes (no drift between the two)
        written = pd.read_csv(folder / f"{name}.csv")
        assert list(written.columns) == list(columns), name
        assert (
            getattr(plan, name)["quarter" if "quarter" in columns else "order_quarter"].dtype
            == "int64"
        )


def test_verify_command_accepts_the_plan_and_names_the_edited_row(tiny_plan_folder, tmp_path):
    case, folder = tiny_plan_folder
    assert invoke("verify", case, folder).exit_code == 0
    edited = copy_plan(folder, tmp_path / "edited")
    fleet_csv = pd.read_csv(edited / "fleet.csv")
    fleet_csv.loc[2, "allocated_servers"] += 1  # data row 3, line 4
    fleet_csv.to_csv(edited / "fleet.csv", index=False)
    power = pd.read_csv(edited / "power.csv")
    power.loc[0, "power_kw"] = 0.5
    power.to_csv(edited / "power.csv", index=False)
    result = invoke("verify", case, edited)
    assert result.exit_code == 5, result.output
    assert "fleet.csv row 3 (line 4): fleet_table" in result.stdout
    assert "allocated_servers" in result.stdout
    assert "power.csv row 1 (line 2): power_table" in result.stdout
    assert "Traceback" not in result.output


def test_verify_command_reports_unreadable_plans_as_data_errors(tiny_plan_folder, tmp_path):
    case, folder = tiny_plan_folder
    bad = copy_plan(folder, tmp_path / "bad")
    alloc = pd.read_csv(bad / "allocation.csv", dtype=str)
    alloc.loc[1, "servers"] = "lots"
    alloc.to_csv(bad / "allocation.csv", index=False)
    (bad / "costs.csv").unlink()
    result = invoke("verify", case, bad)
    assert result.exit_code == 3, result.output
    assert "allocation.csv, row 2 (line 3), column 'servers'" in result.output
    assert "costs.csv: file missing" in result.output
    assert invoke("verify", case, tmp_path / "nowhere").exit_code == 3


@pytest.mark.parametrize("row", [1, 2])
def test_a_plan_row_with_an_extra_field_is_a_data_error(tiny_plan_folder, tmp_path, row):
    # pandas took column 1 as the index and the typed read crashed: "unexpected ValueError"
    case, folder = tiny_plan_folder
    bad = copy_plan(folder, tmp_path / "extra")
    lines = (bad / "purchases.csv").read_text(encoding="utf-8").splitlines()
    lines[row] += ",x"
    (bad / "purchases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("verify", case, bad)
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert f"purchases.csv: cannot be read (ValueError: row {row} (line {row + 1}) has" in text
    assert "unexpected" not in result.output and "Traceback" not in result.output


def test_verify_command_uses_the_plans_scenario(tiny_plan_folder, tmp_path):
    case, _ = tiny_plan_folder
    out = tmp_path / "growth"
    assert invoke("plan", case, "--scenario", "growth", "--out", out).exit_code == 0
    result = invoke("verify", case, out)  # the scenario is read from summary.json
    assert result.exit_code == 0, result.output
    assert "scenario 'growth'" in result.output
    # against the base case the growth plan serves twice the ranking demand there is
    against_base = invoke("verify", case, out, "--scenario", "base")
    assert against_base.exit_code == 5
    assert "served_qps" in against_base.stdout
    assert invoke("verify", case, out, "--scenario", "nope").exit_code in (2, 3)


def test_verify_command_points_to_a_plan_parked_by_a_killed_run(tiny_plan_folder, tmp_path):
    case, folder = tiny_plan_folder
    copy_plan(folder, tmp_path / ".gone.old")  # what a kill between the two renames leaves
    result = invoke("verify", case, tmp_path / "gone")
    assert result.exit_code == 3
    assert ".gone.old" in result.output and "rename it back" in result.output


def test_a_plan_with_empty_tables_is_checked_too():
    """20 installed servers cover the 1,000 qps: nothing is bought (an empty purchases table)."""
    fleet = make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east")],
        inventory=[inventory("cpu", "east", 20)],
        demand=[demand("rank", "east", 0, 1000)],
    )
    plan = plan_verified(fleet)
    assert plan.purchases.empty
    bad = tamper(plan)
    bad.allocation = bad.allocation.iloc[0:0]
    assert checks(fleet, bad) == {"demand", "min_replicas", "fleet_table"}
