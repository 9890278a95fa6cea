"""Regression on the bundled default fleet, and the generated data reference."""

from pathlib import Path

import pytest

import planner as pl

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "fleet_data" / "default"

# Locked from a verified run: HiGHS, settings.yaml gap 0.5 %, objective 24,120.37 kUSD against
# a proven bound of 24,082.11 kUSD. Any plan within the configured gap of the optimum lies
# within [bound, bound / (1 - gap)], so the objective may move by at most the gap.
LOCKED_OBJECTIVE_KUSD = 24_120.367
LOCKED_BOUND_KUSD = 24_082.105


def test_default_fleet_plans_verified_within_gap():
    fleet = pl.load_fleet(DEFAULT)
    plan = pl.make_plan(fleet)
    s = plan.summary
    assert s["verified"] is True
    assert s["status"] == "optimal"
    assert s["gap"] <= fleet.settings.solver.mip_gap + 1e-9
    # every model is served in every region and quarter where it has demand
    demand = pl.peak_demand(fleet)
    served = plan.allocation.groupby(["model_id", "region_id", "quarter"])["served_qps"].sum()
    for d in demand.itertuples(index=False):
        assert served[(d.model_id, d.region_id, d.quarter)] == pytest.approx(d.peak_qps, rel=1e-6)
    # the bound is a bound, and the plan's objective is within the gap of it
    assert s["best_bound"] <= s["objective_value"] + 1e-6
    gap = fleet.settings.solver.mip_gap
    objective = s["objective_value"]
    assert LOCKED_BOUND_KUSD * (1 - gap) <= objective <= LOCKED_OBJECTIVE_KUSD / (1 - gap)


def test_fleet_readme_reference_is_current():
    text = (ROOT / "fleet_data" / "README.md").read_text(encoding="utf-8")
    assert pl.data_reference_markdown() in text, (
        "fleet_data/README.md is stale: run `python -m planner reference --write "
        "fleet_data/README.md`")
    for table in pl.TABLES.values():
        assert f"`{table.file}`" in text


def test_every_default_row_has_provenance():
    fleet = pl.load_fleet(DEFAULT)
    for name in pl.TABLES:
        frame = fleet.table(name)
        if frame.empty:
            continue
        assert frame["source"].str.strip().str.len().gt(10).all(), name
        assert frame["source_kind"].isin(["measured", "published", "derived", "estimate"]).all()
