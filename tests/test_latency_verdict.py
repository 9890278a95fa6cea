"""The tail-latency verdict of a plan folder, and `verify` showing it.

``latency_verdict`` reads what ``python -m planner latency`` wrote; the verdict must follow
the check (meets / misses), say when no check was run, and call a check of an allocation
that was edited since stale.
"""

from __future__ import annotations

import json

from test_latency import QUICK, _allocation, _fleet
from typer.testing import CliRunner

from planner.cli import app
from planner.latency import check_latency, latency_verdict, latency_verdict_of, write_latency


def _checked_plan(tmp_path, rows):
    plan = tmp_path / "plan"
    plan.mkdir()
    allocation = _allocation(rows)
    allocation.to_csv(plan / "allocation.csv", index=False)
    (plan / "summary.json").write_text(json.dumps({"status": "optimal"}), encoding="utf-8")
    write_latency(check_latency(_fleet(rank_items=10.0), allocation, QUICK), plan)
    return plan


def test_an_unchecked_plan_says_how_to_check_it(tmp_path):
    verdict = latency_verdict(tmp_path)
    assert verdict.status == "not_checked" and not verdict.ok
    assert "python -m planner latency case plan" in verdict.line("case", "plan")


def test_a_plan_whose_cells_meet_their_slo_says_so(tmp_path):
    verdict = latency_verdict(_checked_plan(tmp_path, [("vision", 4, 0.5)]))
    assert verdict.ok and verdict.misses.empty
    assert verdict.line() == "tail latency: all 1 cells meet their SLO"


def test_a_plan_at_99_percent_names_the_cell_that_misses(tmp_path):
    verdict = latency_verdict(_checked_plan(tmp_path, [("vision", 4, 0.99), ("rank", 3, 0.3)]))
    assert verdict.status == "misses" and not verdict.ok
    assert verdict.misses["model_id"].tolist() == ["vision"]
    line = verdict.line()
    assert "1 of 2 cells miss" in line and "vision on cpu" in line and "latency.csv" in line


def test_editing_the_allocation_makes_the_check_stale(tmp_path):
    plan = _checked_plan(tmp_path, [("vision", 4, 0.5)])
    edited = _allocation([("vision", 4, 0.99)])
    edited.to_csv(plan / "allocation.csv", index=False)
    assert latency_verdict(plan).status == "stale"
    assert "re-run" in latency_verdict(plan).line()


def test_the_verdict_of_an_in_memory_check_matches_the_written_one(tmp_path):
    result = check_latency(_fleet(), _allocation([("vision", 4, 0.99)]), QUICK)
    in_memory = latency_verdict_of(result.summary, result.cells)
    written = latency_verdict(_checked_plan(tmp_path, [("vision", 4, 0.99)]))
    assert in_memory.status == written.status == "misses"
    assert in_memory.misses["model_id"].tolist() == written.misses["model_id"].tolist()


def test_verify_shows_the_tail_latency_result_of_a_plan(tmp_path):
    plan = tmp_path / "plan"
    runner = CliRunner()
    made = runner.invoke(app, ["plan", "fleet_data/tiny", "--out", str(plan)])
    assert made.exit_code == 0, made.output
    before = runner.invoke(app, ["verify", "fleet_data/tiny", str(plan)])
    assert before.exit_code == 0, before.output
    assert "tail latency: not checked" in before.output
    checked = runner.invoke(app, ["latency", "fleet_data/tiny", str(plan), "--queries", "500",
                                  "--reps", "3"])
    assert checked.exit_code == 0, checked.output
    meets = json.loads((plan / "summary.json").read_text("utf-8"))["latency"]
    after = runner.invoke(app, ["verify", "fleet_data/tiny", str(plan)])
    assert after.exit_code == 0, after.output  # advice: a miss does not fail verify
    if meets["all_cells_meet_slo"]:
        assert f"tail latency: all {meets['cells']} cells meet their SLO" in after.output
    else:
        assert f"{meets['cells_missing_slo']} of {meets['cells']} cells miss" in after.output
