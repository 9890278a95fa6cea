"""Migration-aware planning: a move cost and a move cap against the current allocation.

The case: one model needing 200 qps (2 replicas of 100 qps, one server each) in one region.
The current allocation runs both replicas on platform ``a`` (1,000 USD per server, bought when
``b`` cost 1,010 USD). Now ``b`` costs 990 USD: a reshuffle saves 2 × (1,000 − 990) = 20 USD.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from cases import demand, make_fleet, model, platform, profile, region, write_fleet
from typer.testing import CliRunner

from planner.cli import app
from planner.migration import MigrationOptions, make_stable_plan, moves_report
from planner.pipeline import make_plan


def _fleet(b_capex: float, qps: float = 200.0, bucket: str = "ranking"):
    return make_fleet(
        platforms=[platform("a", capex_usd=1000), platform("b", capex_usd=b_capex)],
        models=[model("m", bucket=bucket)],
        profiles=[profile("m", "a", 100), profile("m", "b", 100)],
        regions=[region("east")],
        demand=[demand("m", "east", 0, qps)],
    )


@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    """The current allocation: 2 replicas of m on a (a was the cheaper platform then)."""
    alloc = make_plan(_fleet(b_capex=1010)).allocation
    assert alloc[["platform_id", "replicas"]].values.tolist() == [["a", 2.0]]
    return alloc


def _stable(current, cost: float, qps: float = 200.0, **options):
    return make_stable_plan(_fleet(990, qps), current,
                            MigrationOptions(move_cost_usd=cost, **options))


def test_move_cost_above_the_saving_keeps_the_current_allocation(current) -> None:
    stable = _stable(current, cost=50)  # moving both costs 100 USD > 20 USD saved
    assert stable.moves.empty
    assert stable.plan.allocation[["platform_id", "replicas"]].values.tolist() == [["a", 2.0]]
    s = stable.summary
    assert s["kept_current"] and s["moves"] == 0
    assert s["tco_usd"] == pytest.approx(2 * 1000)
    assert s["unconstrained_tco_usd"] == pytest.approx(2 * 990)
    assert s["stability_cost_usd"] == pytest.approx(20)
    assert s["unconstrained_moves"] == 2 and s["unconstrained_move_cost_usd"] == 100
    report = "\n".join(moves_report(stable))
    assert "0 replicas" in report and "current allocation is kept" in report
    assert "Stability costs 20 USD" in report


def test_move_cost_below_the_saving_moves_and_says_so(current) -> None:
    stable = _stable(current, cost=5)  # moving both costs 10 USD < 20 USD saved
    assert stable.moves[["quarter", "model_id", "from_platform", "from_region", "to_platform",
                         "to_region", "replicas"]].values.tolist() == [
        [0, "m", "a", "east", "b", "east", 2.0]]
    s = stable.summary
    assert not s["kept_current"]
    assert s["moves"] == 2 and s["moves_by_quarter"] == {0: 2.0} and s["moved_models"] == ["m"]
    assert s["move_cost_total_usd"] == pytest.approx(2 * 5)
    assert s["tco_usd"] == pytest.approx(2 * 990) and s["stability_cost_usd"] == pytest.approx(0)
    assert stable.plan.summary["verified"]
    assert "Q0 m: 2 replicas a/east -> b/east" in "\n".join(moves_report(stable))


def test_move_cap_limits_moves_per_quarter(current) -> None:
    stable = _stable(current, cost=5, max_moves_per_quarter=1)
    assert stable.summary["moves"] == 1
    assert stable.summary["tco_usd"] == pytest.approx(1000 + 990)
    assert stable.summary["stability_cost_usd"] == pytest.approx(10)


def test_replicas_dropped_with_demand_are_not_moves(current) -> None:
    # demand halves: 1 replica is needed; removing the other is no move (min(removed, added))
    kept = _stable(current, cost=50, qps=100)
    assert kept.summary["moves"] == 0 and kept.summary["move_cost_total_usd"] == 0
    assert kept.plan.allocation[["platform_id", "replicas"]].values.tolist() == [["a", 1.0]]
    # a move cost above a server's price must not keep an idle replica to avoid "moving" it
    dear = _stable(current, cost=5000, qps=100)
    assert dear.plan.total_cost_usd == pytest.approx(1000) and dear.summary["moves"] == 0
    moved = _stable(current, cost=5, qps=100)  # 5 USD to move one < 10 USD saved
    assert moved.summary["moves"] == 1 and moved.summary["move_cost_total_usd"] == 5
    assert moved.plan.allocation[["platform_id", "replicas"]].values.tolist() == [["b", 1.0]]


def test_bucket_override_of_the_move_cost(current) -> None:
    stable = _stable(current, cost=5, bucket_move_cost_usd={"ranking": 50})
    assert stable.summary["kept_current"]
    other = _stable(current, cost=5, bucket_move_cost_usd={"cv": 50})  # m is ranking
    assert other.summary["moves"] == 2


def test_cli_plan_current_from_a_folder_and_from_the_store(tmp_path: Path) -> None:
    write_fleet(_fleet(1010), tmp_path / "before")
    write_fleet(_fleet(990), tmp_path / "now")
    store = tmp_path / "plans.db"
    runner = CliRunner()

    def cli(*args: object):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    cli("plan", tmp_path / "before", "--out", tmp_path / "p0", "--store", store)
    out = cli("plan", tmp_path / "now", "--out", tmp_path / "keep", "--current", tmp_path / "p0",
              "--move-cost", 50)
    assert "current allocation is kept" in out
    summary = json.loads((tmp_path / "keep" / "summary.json").read_text())
    assert summary["migration"]["kept_current"] and summary["migration"]["stability_cost_usd"] == 20
    out = cli("plan", tmp_path / "now", "--out", tmp_path / "move", "--current", "1",
              "--store", store, "--move-cost", 5, "--name", "moved")
    assert "2 replicas a/east -> b/east" in out
    moves = pd.read_csv(tmp_path / "move" / "moves.csv")
    assert moves["replicas"].tolist() == [2]
    cli("verify", tmp_path / "now", tmp_path / "move")
    history = cli("history", "--store", store, "--name", "moved")
    assert "moved" in history
    result = runner.invoke(app, ["plan", str(tmp_path / "now"), "--out", str(tmp_path / "x"),
                                 "--current", "nowhere"])
    assert result.exit_code == 2 and "neither a plan folder nor a store id" in result.output


def test_settings_yaml_gives_the_move_cost_and_the_command_line_overrides_it(
    tmp_path: Path,
) -> None:
    """``migration.move_cost_usd: 50`` in settings.yaml keeps the allocation (100 USD of moves
    against 20 USD saved); ``--move-cost 5`` on the same case moves both replicas."""
    write_fleet(_fleet(1010), tmp_path / "before")
    now = _fleet(990)
    settings = now.settings.model_copy(
        update={"migration": now.settings.migration.model_copy(update={"move_cost_usd": 50.0})}
    )
    write_fleet(dataclasses.replace(now, settings=settings), tmp_path / "now")
    assert "move_cost_usd: 50" in (tmp_path / "now" / "settings.yaml").read_text()
    runner = CliRunner()

    def cli(*args: object) -> str:
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    cli("plan", tmp_path / "before", "--out", tmp_path / "p0")
    cli("plan", tmp_path / "now", "--out", tmp_path / "keep", "--current", tmp_path / "p0")
    kept = json.loads((tmp_path / "keep" / "summary.json").read_text())["migration"]
    assert kept["kept_current"] and kept["moves"] == 0
    cli("plan", tmp_path / "now", "--out", tmp_path / "move", "--current", tmp_path / "p0",
        "--move-cost", 5)
    moved = json.loads((tmp_path / "move" / "summary.json").read_text())["migration"]
    assert not moved["kept_current"] and moved["moves"] == 2


def test_settings_reject_a_negative_move_cost() -> None:
    from pydantic import ValidationError

    from planner.settings import Settings

    with pytest.raises(ValidationError, match="move_cost_usd"):
        Settings.model_validate({"migration": {"move_cost_usd": -1}})
