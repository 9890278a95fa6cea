"""Honest explanations: infeasible cases say the unserved demand first, then the caps.

Every expected number is worked out by hand in the test from the tiny fleet's data.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from cases import (
    backup,
    demand,
    inventory,
    make_fleet,
    model,
    platform,
    profile,
    region,
    tiny_fleet,
    write_fleet,
)
from typer.testing import CliRunner

from planner.baselines import compare_to_baselines, cpu_only_plan, savings_overview
from planner.cli import app
from planner.errors import InfeasiblePlanError
from planner.optimization.anytime import AnytimeResult
from planner.pipeline import make_plan
from planner.verify import verify_plan


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


# ------------------------------------------------------------------------------------------
# Exit codes: infeasible and "no plan within the limits" are both 4, with different words


REPO_ROOT = Path(__file__).resolve().parents[1]


def _invoke(*args: object, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_readme_documents_exit_code_4_for_both():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "4 infeasible or no plan within the" in " ".join(readme.split())


def test_infeasible_case_exits_4_with_the_demand_first(tmp_path):
    case = write_fleet(asic_under_power_cap(), tmp_path / "capped")
    result = _invoke("plan", case, "--out", tmp_path / "out")
    assert result.exit_code == 4
    assert "Traceback" not in result.stderr
    _in_order(
        " ".join(result.stderr.split()),
        "rank east Q0 short by 6,000.0 queries/s",
        "power cap: east Q0 would have to rise by 0.4 kW",
    )
    assert not (tmp_path / "out").exists()


def test_no_plan_within_the_limits_exits_4_and_is_not_called_infeasible(tmp_path, monkeypatch):
    import planner.pipeline

    def out_of_time(*_args, **_kwargs) -> AnytimeResult:
        # the time limit ran out before any plan: no values, no infeasibility proof
        return AnytimeResult("feasible", None, None, 10.0, None, None, None, 10.0, stopped="time")

    monkeypatch.setattr(planner.pipeline, "solve_anytime", out_of_time)
    case = write_fleet(tiny_fleet(), tmp_path / "tiny")
    result = _invoke("plan", case, "--out", tmp_path / "out", "--time-limit", "1")
    assert result.exit_code == 4
    message = " ".join(result.stderr.split())
    assert "found no plan for 'tiny' within the limits" in message
    assert "raise --time-limit" in message
    assert "meets every constraint" not in message
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------
# explain: baselines that break constraints are marked, and the table fits the terminal


def capped_tiny():
    """tiny_fleet with a 4 kW cap in east: CPU-only needs 10 then 12 CPUs (5, then 6 kW)."""
    fleet = tiny_fleet()
    regions = fleet.regions.copy()
    regions.loc[regions["region_id"] == "east", "power_cap_kw"] = 4.0
    return make_fleet(
        platforms=fleet.platforms.to_dict("records"),
        models=fleet.models.to_dict("records"),
        profiles=fleet.profiles.to_dict("records"),
        regions=regions.to_dict("records"),
        demand=fleet.demand.to_dict("records"),
        settings={"horizon_quarters": 2},
    )


def test_baseline_breaking_constraints_is_infeasible_and_not_comparable():
    fleet = capped_tiny()
    plan = make_plan(fleet)
    violations = len(verify_plan(fleet, cpu_only_plan(fleet)).violations)
    assert violations >= 2  # east over its 4 kW cap in both quarters
    overview = savings_overview(compare_to_baselines(fleet, plan)).set_index("baseline")
    assert overview.at["cpu_only", "baseline_status"] == f"infeasible ({violations} violations)"
    assert not overview.at["cpu_only", "comparable"]
    assert math.isnan(overview.at["cpu_only", "savings_usd"])
    # greedy by cost picks the ASIC for rank (250 qps per 12,000 USD beats 100 per 10,000):
    # 5 ASIC = 2 kW fits, so it is a plan and its saving counts.
    assert overview.at["greedy_cost", "baseline_status"] == "feasible"
    assert overview.at["greedy_cost", "savings_usd"] >= -1e-6


@pytest.mark.parametrize("width", [80, 120])
def test_explain_table_fits_the_terminal(tmp_path, width):
    case = write_fleet(capped_tiny(), tmp_path / "capped")
    result = _invoke(
        "explain", case, "--time-limit", "60", "--gap", "0", env={"COLUMNS": str(width)}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Savings of"))
    table = lines[start + 1 : lines.index("", start + 1)]
    assert all(len(line) <= width for line in table), table
    assert table[0].split() == ["baseline", "status", "TCO,", "USD", "saving,", "USD"]
    rows = {line.split()[0]: line for line in table[2:]}
    assert set(rows) == {"greedy_cost", "greedy_power", "cpu_only", "single_platform"}
    assert "infeasible (" in rows["cpu_only"] and "not comparable" in rows["cpu_only"]
    assert "…" not in result.stdout  # nothing cut


# ------------------------------------------------------------------------------------------
# Published tables: quarter labels next to quarter numbers, numbers rounded as people read them


def priced_tiny():
    """tiny_fleet with PUE 1.13 and 0.07 USD/kWh: 0.565 kW per CPU, cents in every cost."""
    fleet = tiny_fleet()
    regions = fleet.regions.assign(pue=1.13, electricity_usd_per_kwh=0.07)
    return make_fleet(
        platforms=fleet.platforms.to_dict("records"),
        models=fleet.models.to_dict("records"),
        profiles=fleet.profiles.to_dict("records"),
        regions=regions.to_dict("records"),
        demand=fleet.demand.to_dict("records"),
        settings={"horizon_quarters": 2, "first_quarter": "2021Q4"},
    )


def test_written_tables_have_quarter_labels_and_rounded_numbers(tmp_path):
    from planner.output import write_plan
    from planner.plan_io import read_plan

    fleet = priced_tiny()
    plan = make_plan(fleet)
    exact_kw = plan.fleet["facility_kw"].copy()
    folder = write_plan(plan, tmp_path / "plan", fleet)
    power = pd.read_csv(folder / "power.csv")
    # first_quarter 2021Q4: quarter 1 is the next year's first
    assert power[["quarter", "quarter_label"]].drop_duplicates().values.tolist() == [
        [0, "2021Q4"],
        [1, "2022Q1"],
    ]
    purchases = pd.read_csv(folder / "purchases.csv")
    assert set(purchases["order_quarter_label"]) == {"2021Q4"}
    fleet_csv = pd.read_csv(folder / "fleet.csv")
    # kW to 0.1: 0.565 kW per CPU server, 0.452 per ASIC (PUE 1.13)
    assert fleet_csv["facility_kw"].tolist() == pytest.approx(exact_kw.round(1).tolist())
    assert (fleet_csv["facility_kw"] * 10).round(9).mod(1).eq(0).all()
    assert any(v * 1000 % 100 for v in exact_kw)  # the exact values did need rounding
    for column in ("available_servers", "in_service_servers", "allocated_servers"):
        assert fleet_csv[column].dtype == "int64"
    costs = pd.read_csv(folder / "costs.csv")
    for column in ("capex_usd", "energy_usd", "maintenance_usd", "total_usd"):
        assert costs[column].dtype == "int64"
    assert (
        costs["total_usd"] == costs[["capex_usd", "energy_usd", "maintenance_usd"]].sum(axis=1)
    ).all()
    # energy has cents (0.565 kW * 2190 h * 0.07 USD = 86.61 per CPU-quarter) but the
    # published total is within half a dollar of the exact one
    assert costs["total_usd"].sum() == pytest.approx(plan.total_cost_usd, abs=0.5)
    assert plan.total_cost_usd != round(plan.total_cost_usd)
    # the plan in memory keeps its exact values, and the rounded folder still verifies
    assert plan.fleet["facility_kw"].tolist() == exact_kw.tolist()
    assert verify_plan(fleet, read_plan(folder)).ok
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "2022Q1" in report


# ------------------------------------------------------------------------------------------
# Every command that solves takes the same solver options


@pytest.mark.parametrize("command", ["plan", "compare", "explain", "frontier", "sensitivity"])
def test_every_solving_command_takes_solver_time_limit_and_gap(command):
    import typer.main

    group = typer.main.get_command(app)
    options = {p.name: p for p in group.commands[command].params}
    reference = {p.name: p for p in group.commands["plan"].params}
    for name, flag in (("solver", "--solver"), ("time_limit", "--time-limit"), ("gap", "--gap")):
        assert flag in options[name].opts, (command, name)
        # one shared definition: the same flag, help and validation everywhere
        assert options[name].help == reference[name].help
        # (typer wraps each callback, so compare what it wraps by name)
        assert options[name].callback.__name__ == reference[name].callback.__name__


@pytest.mark.parametrize("width", [80, 120])
def test_savings_table_fits_with_the_longest_cells(width):
    from rich.console import Console

    from planner.describe import savings_table

    # The longest cells the table can hold: the longest baseline name, a three-digit count
    # of violations (139 seen on the default case), billions of USD and a negative saving.
    overview = pd.DataFrame(
        {
            "baseline": ["single_platform", "greedy_power"],
            "baseline_status": ["infeasible (139 violations)", "feasible"],
            "tco_usd_baseline": [1_234_567_890.0, 2_345_678_901.0],
            "savings_usd": [math.nan, -1_234_567_890.0],
            "savings_pct": [math.nan, -100.0],
            "comparable": [False, True],
        }
    )
    console = Console(width=width, record=True)
    console.print(savings_table(overview))
    lines = console.export_text().splitlines()
    assert all(len(line) <= width for line in lines)
    assert "…" not in "".join(lines)
    assert len(lines) == 2 + len(overview)  # header, rule, one line per baseline
    assert "not comparable" in lines[2] and "-1,234.6 M (-100.0 %)" in lines[3]


def test_published_money_totals_do_not_drift():
    from planner.results import published_tables

    fleet = priced_tiny()
    plan = make_plan(fleet)
    # 0.4 USD on every cost cell: rounding each cell alone would lose 0.4 USD per cell
    costs = plan.costs.copy()
    parts = ["capex_usd", "energy_usd", "maintenance_usd"]
    costs[parts] = costs[parts].round() + 0.4
    costs["total_usd"] = costs[parts].sum(axis=1)
    plan.costs = costs
    published = published_tables(plan, fleet)["costs"]
    assert len(costs) * 3 * 0.4 > 1  # enough cells for the drift to show
    assert published["total_usd"].sum() == pytest.approx(costs["total_usd"].sum(), abs=0.5)
    assert ((published[parts] - costs[parts]).abs() <= 1).all().all()
    assert plan.costs["energy_usd"].equals(costs["energy_usd"])  # the plan is left as it was
