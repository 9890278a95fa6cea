"""The command line: exit codes, messages, plan output on disk, and atomic writes.

A few tests run the real ``python -m planner`` in a subprocess (exit codes, tracebacks, what
a user sees); the rest use typer's CliRunner on :data:`planner.cli.app`, which is faster and
lets tests monkeypatch the writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cases import (
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

import planner.output
from planner.cli import app
from planner.schema import TABLES

REPO_ROOT = Path(__file__).resolve().parents[1]
PLAN_FILES = {
    "allocation.csv",
    "purchases.csv",
    "fleet.csv",
    "power.csv",
    "costs.csv",
    "summary.json",
    "report.md",
}
SCENARIOS = {
    "growth": {"description": "ranking doubles", "demand_multiplier": {"bucket": {"ranking": 2}}},
    "cheap_asic": {"platform_changes": {"asic": {"capex_multiplier": 0.5}}},
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m planner ARGS`` the way a user would."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "planner", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def tiny_case(tmp_path: Path) -> Path:
    """The tiny example (optimum 120,000 USD) as a case folder with two scenarios."""
    return write_fleet(tiny_fleet(), tmp_path / "tiny", scenarios=SCENARIOS)


@pytest.fixture
def infeasible_case(tmp_path: Path) -> Path:
    """Demand of 400 qps in Q1 against 3 installed servers (240 usable qps); new servers
    need two quarters to arrive."""
    fleet = make_fleet(
        platforms=[platform("slow", capex_usd=5_000, lead_time_quarters=2)],
        models=[model("rank")],
        profiles=[profile("rank", "slow", 100)],
        regions=[region("east")],
        inventory=[inventory("slow", "east", 3)],
        demand=[
            demand("rank", "east", 0, 200),
            demand("rank", "east", 1, 400),
            demand("rank", "east", 2, 800),
        ],
        settings={"horizon_quarters": 3, "target_utilization": 0.8},
    )
    return write_fleet(fleet, tmp_path / "short")


@pytest.fixture
def broken_case(case_dir: Path, mutate) -> Path:
    """conftest's valid case with a bad throughput and a bad phase."""
    mutate(case_dir, "profiles.csv", 1, "qps_per_server", -5)
    mutate(case_dir, "models.csv", 2, "phase", "serving")
    return case_dir


# ------------------------------------------------------------------------------------------
# check


def test_check_valid_case(case_dir, tmp_path):
    result = run("check", str(case_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid fleet case" in result.stdout
    for heading in ("Rows per table", "Peak demand", "coverage"):
        assert heading in result.stdout
    assert "Traceback" not in result.stderr


def test_check_invalid_case_lists_every_problem_without_traceback(broken_case, tmp_path):
    result = run("check", str(broken_case), cwd=tmp_path)
    assert result.returncode == 3
    text = result.stderr
    assert "Traceback" not in text and "Traceback" not in result.stdout
    assert "2 problems found" in text
    assert (
        "  - profiles.csv, row 1 (line 2), column 'qps_per_server': must be greater than 0" in text
    )
    assert "  - models.csv, row 2 (line 3), column 'phase': is not an allowed value" in text
    assert "Fix:" in text


def test_check_missing_folder(tmp_path):
    result = invoke("check", tmp_path / "nowhere")
    assert result.exit_code == 3
    assert "is not a folder" in result.stderr


def test_debug_shows_the_traceback(broken_case, tmp_path):
    result = run("check", str(broken_case), "--debug", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "FleetDataError" in result.stderr


# ------------------------------------------------------------------------------------------
# usage errors


def test_missing_argument_is_a_usage_error(tmp_path):
    result = run("plan", cwd=tmp_path)
    assert result.returncode == 2
    assert "Missing argument" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args", [["plan"], ["check"], ["frobnicate"], ["compare", "x"], ["plan", "x", "--bogus"]]
)
def test_usage_errors_exit_2(args):
    assert invoke(*args).exit_code == 2


def test_unknown_format_is_a_usage_error(tiny_case, tmp_path):
    result = invoke("plan", tiny_case, "--out", tmp_path / "out", "--format", "xlsx")
    assert result.exit_code == 2
    assert "xlsx" in result.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------
# plan


def test_plan_writes_tables_summary_and_report(tiny_case, tmp_path):
    out = tmp_path / "plans" / "tiny"
    result = run("plan", str(tiny_case), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == PLAN_FILES
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "status",
        "objective_value",
        "best_bound",
        "gap",
        "build_seconds",
        "solve_seconds",
        "total_cost_usd",
    ):
        assert key in summary
    assert summary["status"] == "optimal"
    assert summary["verified"] is True
    assert summary["total_cost_usd"] == pytest.approx(5 * 12_000 + 6 * 10_000)
    purchases = pd.read_csv(out / "purchases.csv")
    assert purchases.groupby("platform_id")["servers"].sum().to_dict() == {"asic": 5, "cpu": 6}
    assert pd.read_csv(out / "costs.csv")["total_usd"].sum() == pytest.approx(120_000)
    report = (out / "report.md").read_text()
    assert report.startswith("# Capacity plan: tiny")
    assert "120,000 USD" in report
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["total_cost_usd"] == pytest.approx(120_000)
    # only the plan folder is left next to it: no temporary folders
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]


def test_plan_formats_parquet_and_json(tiny_case, tmp_path):
    out = tmp_path / "out"
    result = invoke("plan", tiny_case, "--out", out, "--format", "parquet", "--format", "json")
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    for table in ("allocation", "purchases", "fleet", "power", "costs"):
        assert {f"{table}.parquet", f"{table}.json"} <= names
        assert f"{table}.csv" not in names
        pd.testing.assert_frame_equal(
            pd.read_json(out / f"{table}.json", orient="records"),
            pd.read_parquet(out / f"{table}.parquet"),
            check_dtype=False,
        )
    alloc = pd.read_parquet(out / "allocation.parquet")
    assert alloc["servers"].sum() == 4 + 5 + 6 + 6
    records = json.loads((out / "purchases.json").read_text())
    assert sum(r["servers"] for r in records) == 11
    assert {"summary.json", "report.md"} <= names


def test_plan_with_scenario_and_solver_options(tiny_case, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "plan",
        tiny_case,
        "--out",
        out,
        "--scenario",
        "cheap_asic",
        "--solver",
        "cbc",
        "--time-limit",
        "60",
        "--gap",
        "0",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "cheap_asic"
    assert summary["solver"] == "cbc"
    assert summary["total_cost_usd"] == pytest.approx(5 * 6_000 + 6 * 10_000)


def test_plan_unknown_scenario_is_a_usage_error(tiny_case, tmp_path):
    result = invoke("plan", tiny_case, "--out", tmp_path / "out", "--scenario", "nosuch")
    assert result.exit_code == 2
    assert "unknown --scenario 'nosuch'" in result.stderr
    assert "growth" in result.stderr
    assert not (tmp_path / "out").exists()


def test_plan_replaces_a_previous_plan(tiny_case, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.csv").write_text("old\n")
    assert invoke("plan", tiny_case, "--out", out).exit_code == 0
    assert {p.name for p in out.iterdir()} == PLAN_FILES
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_infeasible_plan_exits_4_and_says_what_falls_short(infeasible_case, tmp_path):
    out = tmp_path / "out"
    result = run("plan", str(infeasible_case), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    # 3 servers * 100 qps * 0.8 = 240 usable against 400 in Q1
    assert "peak demand not served: rank east Q1 short by 160.0 queries/s" in result.stderr
    assert not out.exists()
    shortfalls = pd.read_csv(tmp_path / "out_infeasible.csv")
    assert shortfalls[["constraint", "model_id", "region_id", "quarter"]].values.tolist() == [
        ["demand", "rank", "east", 1]
    ]
    assert shortfalls["amount"].tolist() == pytest.approx([400 - 3 * 100 * 0.8])


def test_infeasible_hint_names_the_file_written(infeasible_case, tmp_path):
    out = tmp_path / "out"
    result = invoke("plan", infeasible_case, "--out", out)
    assert result.exit_code == 4
    assert (tmp_path / "out_infeasible.csv").exists()
    assert "out_infeasible.csv" in result.stderr


# ------------------------------------------------------------------------------------------
# atomic output


def crash_after_first_file(monkeypatch) -> list[Path]:
    """Make planner.output._write_frame write one file, then raise on the next."""
    written: list[Path] = []
    real = planner.output._write_frame

    def flaky(frame, path, fmt):
        if written:
            raise RuntimeError("disk on fire")
        real(frame, path, fmt)
        written.append(path)

    monkeypatch.setattr(planner.output, "_write_frame", flaky)
    return written


def test_crash_mid_write_leaves_no_output_folder(tiny_case, tmp_path, monkeypatch):
    written = crash_after_first_file(monkeypatch)
    out = tmp_path / "plans" / "tiny"
    result = invoke("plan", tiny_case, "--out", out)
    assert result.exit_code != 0
    # an unexpected error ends as one line naming it, exit 1, no traceback
    assert result.exit_code == 1 and "RuntimeError: disk on fire" in result.stderr
    assert len(written) == 1  # one file had been written (into the temporary folder)
    assert not written[0].exists()
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary folder left behind


def test_crash_mid_write_keeps_the_previous_plan(tiny_case, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert invoke("plan", tiny_case, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    crash_after_first_file(monkeypatch)
    result = invoke("plan", tiny_case, "--out", out, "--scenario", "growth")
    assert result.exit_code == 1 and "RuntimeError: disk on fire" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


def test_failed_swap_keeps_the_previous_plan(tiny_case, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert invoke("plan", tiny_case, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_replace = os.replace
    calls: list[tuple] = []

    def flaky_replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(planner.output.os, "replace", flaky_replace)
    result = invoke("plan", tiny_case, "--out", out)
    assert result.exit_code == 1 and "OSError: rename failed" in result.stderr
    monkeypatch.undo()
    assert out.is_dir()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# ------------------------------------------------------------------------------------------
# compare and reference


def test_compare_prints_side_by_side_tables(tiny_case, tmp_path):
    result = run(
        "compare", str(tiny_case), "--scenario", "base", "--scenario", "growth", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for title in (
        "Totals",
        "Servers in service, last quarter, by platform class",
        "Servers purchased by platform class",
        "Peak facility power (kW) by region",
        "TCO (USD) by bucket",
        "TCO (USD) by platform class",
    ):
        assert title in text
    assert "growth - base" in text
    totals = text.split("Totals")[1].split("Servers in service")[0]
    cost_line = next(line for line in totals.splitlines() if line.startswith("total_cost_usd"))
    # base 120,000; growth doubles rank: ceil(2400 / 250) = 10 ASIC -> 120,000 + 60,000
    assert cost_line.split()[1:] == ["120,000", "180,000", "60,000"]  # money to the dollar
    bought = next(line for line in totals.splitlines() if line.startswith("servers_purchased"))
    assert all("." not in v for v in bought.split()[1:]), bought  # servers are whole
    power = next(line for line in totals.splitlines() if line.startswith("peak_power_kw"))
    assert all(v.count(".") == 1 and len(v.split(".")[1]) == 1 for v in power.split()[1:])


def test_compare_unknown_scenario(tiny_case):
    result = invoke("compare", tiny_case, "--scenario", "base", "--scenario", "nosuch")
    assert result.exit_code == 2
    assert "unknown --scenario 'nosuch'" in result.stderr


def test_reference_prints_every_table():
    result = invoke("reference")
    assert result.exit_code == 0, result.output
    for table in TABLES.values():
        assert f"`{table.file}`" in result.stdout
        for column in table.columns:
            assert f"`{column.name}`" in result.stdout
    assert "settings.yaml" in result.stdout


def test_reference_write_keeps_the_head_of_the_file(tmp_path):
    target = tmp_path / "README.md"
    target.write_text("# My fleet\n\nIntro.\n\n<!-- DATA REFERENCE -->\n\nold reference\n")
    result = invoke("reference", "--write", target)
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith("# My fleet\n\nIntro.\n\n<!-- DATA REFERENCE -->")
    assert "old reference" not in text
    assert "`platforms.csv`" in text


# ------------------------------------------------------------------------------------------
# explain and frontier


def test_explain_lists_savings_and_binding_constraints(tiny_case, tmp_path):
    out = tmp_path / "explained"
    result = invoke("explain", tiny_case, "--top", "3", "--out", out)
    assert result.exit_code == 0, result.output
    assert "Savings of the optimised plan versus baselines" in result.stdout
    for baseline in ("greedy_cost", "cpu_only", "single_platform"):
        assert baseline in result.stdout
    assert "binding constraints" in result.stdout
    savings = pd.read_csv(out / "savings.csv")
    total = savings[(savings["bucket"] == "total") & (savings["baseline"] == "cpu_only")]
    # CPU-only serves ranking with 100-qps CPU servers instead of 250-qps ASICs, so it can
    # never be cheaper than the optimum.
    assert (total["savings_usd"] >= -1e-6).all()
    assert (out / "binding.csv").exists() and (out / "shadow_prices.csv").exists()


@pytest.fixture
def tradeoff_case(tmp_path: Path) -> Path:
    """A cheap high-power and a dear low-power platform compete for 400 qps (one quarter).

    Both serve 100 qps per server, so every plan runs 4 servers; electricity is free, so TCO
    is capex: ``hot`` 1,000 USD at 1,000 W, ``cool`` 3,000 USD at 250 W.
    """
    fleet = make_fleet(
        platforms=[
            platform("hot", power_w=1000, capex_usd=1_000),
            platform("cool", power_w=250, capex_usd=3_000),
        ],
        models=[model("rank")],
        profiles=[profile("rank", "hot", 100), profile("rank", "cool", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 400)],
    )
    return write_fleet(fleet, tmp_path / "tradeoff")


def test_frontier_traces_the_hand_computed_trade_off(tradeoff_case, tmp_path):
    target = tmp_path / "frontier.csv"
    result = invoke("frontier", tradeoff_case, "--points", "3", "--out", target)
    assert result.exit_code == 0, result.output
    frontier = pd.read_csv(target).sort_values("power_budget_kw")
    assert frontier["verified"].all()
    assert (frontier["status"] == "optimal").all()
    # Lowest power: 4 cool = 1.0 kW for 12,000 USD; cheapest: 4 hot = 4.0 kW for 4,000 USD.
    # The middle budget is (1.0 + 4.0) / 2 = 2.5 kW: h hot and 4 - h cool draw
    # 1.0 h + 0.25 (4 - h) <= 2.5, so h <= 2: 2 hot + 2 cool = 2,000 + 6,000 = 8,000 USD.
    assert frontier["power_budget_kw"].tolist() == pytest.approx([1.0, 2.5, 4.0])
    assert frontier["power_kw"].tolist() == pytest.approx([1.0, 2.5, 4.0])
    assert frontier["tco_usd"].tolist() == pytest.approx([12_000, 8_000, 4_000])
    assert frontier["servers_purchased"].tolist() == [4, 4, 4]


# ------------------------------------------------------------------------------------------
# status and gap in every command's output


def test_plan_prints_status_gap_bound_and_first_plan(tiny_case, tmp_path):
    out = tmp_path / "out"
    result = invoke("plan", tiny_case, "--out", out)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text())
    for key in ("status", "gap", "first_plan_seconds", "first_plan_gap", "stopped"):
        assert printed[key] == summary[key], key
    # the bound in USD like the cost (summary.json keeps the solver's kUSD objective)
    assert printed["best_bound_usd"] == pytest.approx(120_000, rel=1e-6)
    assert printed["best_bound_usd"] <= printed["total_cost_usd"]
    assert "optimal, gap 0.000 %, best bound 120,000 USD; first plan in " in result.stderr
    report = (out / "report.md").read_text()
    assert "- Best bound: 120,000 USD" in report
    assert "- First plan after " in report and "gap 0.000 % against the best bound" in report
    assert "- Stopped because the gap target was reached" in report
    stages = report.split("## Solver stages")[1].split("## Purchases")[0]
    rows = [line for line in stages.splitlines() if line.startswith("| ")][1:]
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [s["stage"] for s in summary["stages"]]


def test_cbc_plan_report_has_no_anytime_lines(tiny_case, tmp_path):
    out = tmp_path / "out"
    result = invoke("plan", tiny_case, "--out", out, "--solver", "cbc")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert "first_plan_seconds" not in printed and printed["status"] == "optimal"
    report = (out / "report.md").read_text()
    assert "Best bound" in report and "## Solver stages" not in report


@pytest.fixture
def same_case(tmp_path: Path) -> Path:
    """The tiny case with a scenario that changes nothing and one that doubles ranking."""
    scenarios = {"same": {"demand_multiplier": {"bucket": {"ranking": 1.0}}}, **SCENARIOS}
    return write_fleet(tiny_fleet(), tmp_path / "same", scenarios=scenarios)


def test_compare_prints_status_gap_and_whether_differences_are_within_gaps(same_case):
    result = invoke(
        "compare", same_case, "--scenario", "base", "--scenario", "same", "--scenario", "growth"
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    status = text.split("Status and gap")[1].split("Total cost differences")[0]
    status_line = next(line for line in status.splitlines() if line.startswith("status"))
    assert status_line.split()[1:] == ["optimal"] * 3
    gap_line = next(line for line in status.splitlines() if line.startswith("gap"))
    assert gap_line.split()[1:] == ["0.000", "%"] * 3
    diffs = text.split("Total cost differences versus the first plan")[1]
    same = next(line for line in diffs.splitlines() if line.startswith("same - base"))
    growth = next(line for line in diffs.splitlines() if line.startswith("growth - base"))
    assert same.endswith("not significant: within the solver gaps")
    assert growth.endswith("significant: larger than the solver gaps")
    assert "not significant" not in growth


def test_explain_prints_status_and_gap(tiny_case):
    result = invoke("explain", tiny_case, "--top", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Plan: optimal, gap 0.000 %, best bound 120,000 USD")


def test_frontier_prints_and_writes_status_and_gap(tiny_case, tmp_path):
    target = tmp_path / "frontier.csv"
    result = invoke("frontier", tiny_case, "--points", "2", "--out", target, "--gap", "0")
    assert result.exit_code == 0, result.output
    frontier = pd.read_csv(target)
    assert {"status", "gap", "best_bound_usd", "within_gaps_of_previous", "note"} <= set(
        frontier.columns
    )
    assert (frontier["status"] == "optimal").all()
    assert "0.000 %" in result.stdout and "optimal" in result.stdout


def test_sensitivity_command_prints_status_gap_and_notes(tiny_case, tmp_path):
    target = tmp_path / "sweep.csv"
    result = invoke(
        "sensitivity",
        tiny_case,
        "--parameter",
        "capex:asic",
        "--values",
        "1,1,0.5",
        "--out",
        target,
    )
    assert result.exit_code == 0, result.output
    sweep = pd.read_csv(target)
    assert sweep["status"].tolist() == ["optimal"] * 3
    # 120,000 twice, then 5 ASICs at 6,000: 90,000
    assert sweep["tco_usd"].tolist() == pytest.approx([120_000, 120_000, 90_000])
    assert sweep["note"].fillna("").tolist() == [
        "",
        "not significant: within the solver gaps of value 1.0",
        "",
    ]
    assert "Sensitivity to capex:asic" in result.stdout
    assert "not significant: within the solver gaps of value 1.0" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--parameter", "capex:asic", "--values", "1,x"], 2, "comma-separated numbers"),
        (["--parameter", "latency:asic", "--values", "1"], 2, "kind one of"),
        (["--parameter", "capex:tpu", "--values", "1"], 3, "unknown platform 'tpu'"),
        # a command-line value, said as one (it named a scenarios.yaml key before)
        (["--parameter", "demand:ranking", "--values", "-1,1"], 2, "of 0 or more"),
        (["--parameter", "power_cap:east", "--values", "nan"], 2, "not nan"),
    ],
)
def test_sensitivity_command_errors(tiny_case, args, code, message):
    result = invoke("sensitivity", tiny_case, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ------------------------------------------------------------------------------------------
# synthetic


def test_synthetic_writes_a_case_that_plan_plans(tmp_path):
    from planner.fleet import load_fleet
    from planner.pipeline import make_plan
    from planner.synthetic import synthetic_fleet

    case = tmp_path / "cases" / "xs"
    result = invoke("synthetic", "XS", "--out", case, "--seed", "4")
    assert result.exit_code == 0, result.output
    assert "written to" in result.stderr
    assert [p.name for p in case.parent.iterdir()] == ["xs"]  # no temporary folder left
    assert {p.name for p in case.iterdir()} >= {
        "platforms.csv",
        "models.csv",
        "profiles.csv",
        "regions.csv",
        "demand.csv",
        "settings.yaml",
    }
    loaded, generated = load_fleet(case), synthetic_fleet("XS", 4)
    for name in TABLES:
        pd.testing.assert_frame_equal(
            loaded.table(name), generated.table(name), check_like=True, obj=name
        )
    assert loaded.settings == generated.settings
    assert make_plan(loaded).summary["verified"]
    planned = invoke("plan", case, "--out", tmp_path / "plan")
    assert planned.exit_code == 0, planned.output
    assert json.loads((tmp_path / "plan" / "summary.json").read_text())["verified"] is True


def test_synthetic_refuses_a_non_empty_folder_unless_forced(tmp_path):
    case = tmp_path / "xs"
    case.mkdir()
    (case / "notes.txt").write_text("mine\n")
    result = invoke("synthetic", "XS", "--out", case)
    assert result.exit_code == 2
    assert "exists and is not empty" in result.stderr and "--force" in result.stderr
    assert [p.name for p in case.iterdir()] == ["notes.txt"]
    forced = invoke("synthetic", "XS", "--out", case, "--force")
    assert forced.exit_code == 0, forced.output
    assert not (case / "notes.txt").exists() and (case / "settings.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xs"]


def test_synthetic_into_an_empty_folder_and_bad_size(tmp_path):
    case = tmp_path / "empty"
    case.mkdir()
    assert invoke("synthetic", "xs", "--out", case).exit_code == 0  # sizes are case-blind
    assert (case / "settings.yaml").exists()
    bad = invoke("synthetic", "XXXL", "--out", tmp_path / "big")
    assert bad.exit_code == 2
    assert "unknown size 'XXXL'" in bad.stderr and "XS, S, M, L, XL, XXL" in bad.stderr
    assert not (tmp_path / "big").exists()
    assert invoke("synthetic", "--out", tmp_path / "x").exit_code == 2  # size missing


def test_printed_tables_round_by_what_they_count_even_with_repeated_labels(capsys):
    import pandas as pd

    from planner import cli

    frame = pd.DataFrame(
        {"p99_ms": [12.25, float("nan")], "servers": [3.0, 1278.0]}, index=["rmc1", "rmc1"]
    )
    cli._print_frame("cells", frame)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split() == ["rmc1", "12.2", "3"]
    assert lines[-1].split() == ["rmc1", "NaN", "1,278"]
