"""Check warnings: a case that plans, but probably not as meant (demand.csv shorter than the
horizon), is planned and the warning reaches the summary, report.md and the CLI's stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cases import (
    call,
    demand,
    make_fleet,
    model,
    plan_verified,
    platform,
    product,
    profile,
    region,
    tiny_fleet,
    write_fleet,
)
from typer.testing import CliRunner

from planner import Scenario, check_fleet, fleet_warnings, load_fleet
from planner.checks import MAX_WARNING_MODELS
from planner.cli import app

REPO_ROOT = Path(__file__).resolve().parents[1]


def short_fleet(horizon: int = 4, rank_quarters: tuple[int, ...] = (0, 1), **tables):
    """rank (CPU 100 qps) has demand rows only in ``rank_quarters``; vision in every quarter."""
    return make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank"), model("vision", bucket="cv")],
        profiles=[profile("rank", "cpu", 100), profile("vision", "cpu", 50)],
        regions=[region("east")],
        demand=[demand("rank", "east", q, 1000) for q in rank_quarters]
        + [demand("vision", "east", q, 100) for q in range(horizon)],
        settings={"horizon_quarters": horizon},
        **tables,
    )


def test_short_demand_is_one_warning_naming_model_and_quarters():
    fleet = short_fleet()  # checked on construction: a warning never raises
    warnings = check_fleet(fleet)
    assert len(warnings) == 1
    (w,) = warnings
    assert w.severity == "warning" and w.file == "demand.csv"
    assert "model 'rank'" in w.message and "quarters 2-3 of the 4-quarter horizon" in w.message
    assert "zero demand" in w.message
    assert "lower horizon_quarters to 2" in w.fix
    assert fleet_warnings(fleet) == warnings


def test_short_demand_still_plans_and_summary_carries_the_warning():
    fleet = short_fleet()
    plan = plan_verified(fleet)
    assert plan.summary["verified"] is True
    assert plan.summary["warnings"] == [w.render() for w in fleet_warnings(fleet)]
    assert "'rank'" in plan.summary["warnings"][0]
    # the warning is true: rank is served in quarters 0-1 and gets nothing in 2-3
    rank = plan.allocation[plan.allocation["model_id"] == "rank"]
    served = rank.groupby("quarter")["servers"].sum()
    assert served.get(0, 0) > 0 and served.get(2, 0) == 0 and served.get(3, 0) == 0


def test_zero_rows_say_no_demand_on_purpose():
    fleet = make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "east", 1, 1000),
                demand("rank", "east", 2, 0), demand("rank", "east", 3, 0)],
        settings={"horizon_quarters": 4},
    )
    assert check_fleet(fleet) == []
    assert plan_verified(fleet).summary["warnings"] == []


def test_gap_inside_the_horizon_lists_ranges_and_no_shorter_horizon():
    (w,) = fleet_warnings(short_fleet(horizon=8, rank_quarters=(0, 1, 3, 4)))
    assert "quarters 2, 5-7 of the 8-quarter horizon" in w.message
    assert "horizon_quarters" not in w.fix  # a shorter horizon would not close quarter 2

    (w,) = fleet_warnings(short_fleet(horizon=4, rank_quarters=(0, 2, 3)))
    assert "in quarter 1 of the 4-quarter horizon" in w.message
    assert "horizon_quarters" not in w.fix


def test_models_reached_by_products_are_not_warned():
    # rank's demand.csv row covers quarter 0 only, but products.csv traffic reaches it in
    # every quarter: its demand is never zero, so no warning
    fleet = make_fleet(
        platforms=[platform("cpu")],
        models=[model("rank")],
        profiles=[profile("rank", "cpu", 100)],
        regions=[region("east", demand_share=1.0)],
        products=[product("feed", 8_640_000)],
        calls=[call("feed", "rank", 1.0)],
        demand=[demand("rank", "east", 0, 50)],
        settings={"horizon_quarters": 3},
    )
    assert fleet_warnings(fleet) == []


def test_many_models_are_capped_one_line_each():
    n = MAX_WARNING_MODELS + 3
    ids = [f"m{i:02d}" for i in range(n)]
    fleet = make_fleet(
        platforms=[platform("cpu")],
        models=[model(m) for m in ids],
        profiles=[profile(m, "cpu", 100) for m in ids],
        regions=[region("east"), region("west")],
        # two regions per model: still one line per model
        demand=[demand(m, r, 0, 10) for m in ids for r in ("east", "west")],
        settings={"horizon_quarters": 3},
    )
    warnings = fleet_warnings(fleet)
    assert len(warnings) == MAX_WARNING_MODELS + 1
    named = [w for w in warnings if "model '" in w.message]
    assert [w.message.split("'")[1] for w in named] == ids[:MAX_WARNING_MODELS]
    assert all("quarters 1-2 of the 3-quarter horizon" in w.message for w in named)
    assert "and 3 more models" in warnings[-1].message
    assert all(w.severity == "warning" for w in warnings)


@pytest.mark.parametrize("case", ["default", "tiny", "h200_companion"])
def test_bundled_cases_have_no_warnings(case):
    folder = REPO_ROOT / "fleet_data" / case
    if not (folder / "settings.yaml").exists():
        pytest.skip(f"no bundled case {case}")
    assert check_fleet(load_fleet(folder, check=False)) == []


def test_scenario_that_extends_the_horizon_is_warned_in_the_summary():
    plan = plan_verified(tiny_fleet(), Scenario(name="longer", horizon_quarters=3))
    assert len(plan.summary["warnings"]) == 2  # rank and vision both stop at quarter 1
    assert all("quarter 2 of the 3-quarter horizon" in w for w in plan.summary["warnings"])
    assert plan.summary["verified"] is True


# ------------------------------------------------------------------------------------------
# the command line


def test_cli_check_prints_warning_and_exits_0(tmp_path):
    case = write_fleet(short_fleet(), tmp_path / "short")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "planner", "check", str(case)],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "valid fleet case" in result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1
    assert "model 'rank'" in lines[0] and "quarters 2-3" in lines[0]


def test_cli_check_of_an_invalid_case_still_exits_3(tmp_path):
    fleet = short_fleet()
    case = write_fleet(fleet, tmp_path / "bad")
    text = (case / "demand.csv").read_text(encoding="utf-8")
    (case / "demand.csv").write_text(text.replace("rank,east,0", "nosuch,east,0"),
                                     encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(case)])
    assert result.exit_code == 3
    assert "unknown id" in result.stderr


def test_cli_plan_writes_warnings_to_summary_and_report(tmp_path):
    case = write_fleet(short_fleet(), tmp_path / "short")
    out = tmp_path / "plan"
    result = CliRunner().invoke(app, ["plan", str(case), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning: demand.csv" in result.stderr and "model 'rank'" in result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["warnings"]) == 1 and "quarters 2-3" in summary["warnings"][0]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "**Warning**: demand.csv" in report and "quarters 2-3" in report


def test_cli_plan_scenario_warnings_are_printed(tmp_path):
    case = write_fleet(tiny_fleet(), tmp_path / "tiny",
                       scenarios={"longer": {"horizon_quarters": 3}})
    out = tmp_path / "plan"
    base = CliRunner().invoke(app, ["plan", str(case), "--out", str(out)])
    assert base.exit_code == 0, base.output
    assert "warning:" not in base.stderr
    longer = CliRunner().invoke(app, ["plan", str(case), "--out", str(out),
                                      "--scenario", "longer"])
    assert longer.exit_code == 0, longer.output
    lines = [ln for ln in longer.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 2 and all("scenario 'longer':" in ln for ln in lines)
