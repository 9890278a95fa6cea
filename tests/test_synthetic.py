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


def _case(name: str):
    from pathlib import Path

    from cases import tiny_fleet

    if name == "tiny":
        return tiny_fleet()
    if name.startswith("slotted:"):  # time of day: 4 slots per day (planner.diurnal)
        from planner.diurnal import expand_fleet
        from planner.diurnal.plan import with_diurnal

        return expand_fleet(with_diurnal(_case(name.removeprefix("slotted:")), slots=4))
    if name.startswith("default"):
        root = Path(__file__).resolve().parents[1] / "fleet_data" / "default"
        fleet = pl.load_fleet(root)
        _, _, scenario = name.partition(":")
        return pl.apply_scenario(fleet, pl.load_scenarios(root)[scenario]) if scenario \
            else fleet
    return synthetic_fleet(name, seed=0)


@pytest.mark.parametrize("case", ["tiny", "default", "default:short_horizon",
                                  "default:new_asic", "XS", "slotted:default:short_horizon"])
def test_array_model_is_the_pulp_model(case):
    """planner.scale builds the same columns, rows, coefficients and bounds as build_model.

    The formulation is written twice (PuLP for explanations and CBC, arrays for the anytime
    path); this pins them to one matrix on every test case.
    """
    import numpy as np

    from planner.scale import build_matrix

    fleet = _case(case)
    mm, model = build_matrix(fleet), pl.build_model(fleet)
    names = mm.column_names()
    assert sorted(names) == sorted(v.name for v in model.variables)
    assert sorted(mm.row_names()) == sorted(model.rows)
    constraints = model.prob.constraints
    matrix = mm.matrix.tocsr()
    for i, name in enumerate(mm.row_names()):
        row = matrix.getrow(i)
        mine = {names[j]: v for j, v in zip(row.indices, row.data, strict=True)}
        theirs = {v.name: a for v, a in constraints[name].items()}
        assert mine.keys() == theirs.keys(), name
        assert all(abs(mine[k] - theirs[k]) <= 1e-9 * max(1, abs(theirs[k])) for k in mine)
        rhs = -constraints[name].constant
        bound = mm.row_lower[i] if constraints[name].sense == 1 else mm.row_upper[i]
        assert abs(bound - rhs) <= 1e-9 * max(1, abs(rhs)), name
    objective = {v.name: a for v, a in model.prob.objective.items()}
    assert np.allclose([objective.get(n, 0.0) for n in names], mm.cost, rtol=1e-12, atol=0)
    integer = {v.name: v.cat == "Integer" for v in model.variables}
    assert [integer[n] for n in names] == mm.integer.tolist()


