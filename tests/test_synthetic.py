"""The seeded synthetic fleet generator used by benchmarks, tests and the dashboard."""

import pandas as pd
import pytest

import planner as pl
from planner.synthetic import SIZES, synthetic_fleet


@pytest.mark.parametrize("size", ["XS", "S"])
def test_generated_fleets_are_valid_and_sized(size):
    fleet = synthetic_fleet(size, seed=3)
    pl.check_fleet(fleet)
    spec = SIZES[size]
    assert len(fleet.models) == spec.models
    assert len(fleet.platforms) == spec.platforms
    assert len(fleet.regions) == spec.regions
    assert fleet.settings.horizon_quarters == spec.quarters
    assert set(fleet.platforms["platform_class"]) == {"cpu", "inference_asic",
                                                      "accelerator_fabric"}
    assert fleet.settings.disaster_recovery.enabled


def test_same_seed_same_fleet_other_seed_other_fleet():
    a, b, c = synthetic_fleet("XS", seed=1), synthetic_fleet("XS", seed=1), synthetic_fleet("XS", 2)
    for name in pl.TABLES:
        pd.testing.assert_frame_equal(a.table(name), b.table(name))
    assert not a.profiles.equals(c.profiles)


def test_xs_plan_is_verified_and_never_above_greedy():
    fleet = synthetic_fleet("XS", seed=0)
    plan = pl.make_plan(fleet)
    assert plan.summary["verified"]
    greedy = pl.greedy_plan(fleet)
    if pl.verify_plan(fleet, greedy).ok:
        assert plan.total_cost_usd <= greedy.total_cost_usd * (1 + fleet.settings.solver.mip_gap)
