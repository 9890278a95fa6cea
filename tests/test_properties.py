"""Properties of the planner on random small fleets (hypothesis).

Fleets have 1-3 models, 1-3 platforms, 1-2 regions and 1-3 quarters with random throughput,
costs and demand. They are always feasible: power caps are generous, there is no space or
supply limit, every platform has lead time 0, and every model has a profile on a platform it
fits on (``p0`` holds 256 GB, more than any model needs).

Building a fleet through the CSV validation costs ~0.2 s, so the examples build their
tables directly with the declared dtypes (:func:`typed_fleet`); a test checks that this
gives the same tables as :func:`planner.fleet.fleet_from_frames`.
"""

from __future__ import annotations

import copy

import pandas as pd
import pulp
import pytest
from cases import (
    assert_same_tables,
    demand,
    fleet_tables,
    inventory,
    model,
    platform,
    profile,
    region,
    settings_dict,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.checks import check_fleet
from planner.fleet import Fleet, empty_table, fleet_from_frames
from planner.model import build_model
from planner.parameters import servers_per_replica
from planner.results import extract_plan
from planner.scenarios import apply_scenario, scenario_from_dict
from planner.schema import BUCKETS, TABLES
from planner.settings import Settings
from planner.solve import make_solver, solve_model
from planner.verify import verify_plan

PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REL = 1e-6
ABS = 2e-6  # kUSD: HiGHS' default absolute MIP gap (1e-6) plus rounding


def _dtype(column) -> str:
    if column.dtype == "int":
        return "Int64" if column.nullable else "int64"
    return {"str": "str", "float": "float64"}[column.dtype]


def typed_fleet(rows: dict[str, list[dict]], settings_over: dict, name: str = "random",
                check: bool = True) -> Fleet:
    """Build a fleet from row dicts with the declared dtypes and defaults, then check it."""
    tables = {}
    for tname, table in TABLES.items():
        data = rows.get(tname) or []
        if not data:
            tables[tname] = empty_table(table)
            continue
        raw = pd.DataFrame(data)
        cols = {}
        for c in table.columns:
            values = raw[c.name] if c.name in raw else pd.Series([None] * len(raw))
            if c.default is not None:
                values = values.where(values.notna(), c.default)
            cols[c.name] = values.astype(_dtype(c))
        tables[tname] = pd.DataFrame(cols)
    fleet = Fleet(name=name, settings=Settings.model_validate(settings_dict(**settings_over)),
                  **tables)
    if check:
        check_fleet(fleet)
    return fleet


@st.composite
def fleet_rows(draw, objective: str | None = "tco") -> tuple[dict[str, list[dict]], dict]:
    """Draw the rows and settings of a random feasible fleet."""
    n_platforms = draw(st.integers(1, 3))
    n_models = draw(st.integers(1, 3))
    regions = ["east", "west"][: draw(st.integers(1, 2))]
    horizon = draw(st.integers(1, 3))

    platforms = []
    for i in range(n_platforms):
        platforms.append(platform(
            f"p{i}",
            platform_class=draw(st.sampled_from(["cpu", "accelerator_fabric",
                                                 "inference_asic"])),
            power_w=draw(st.integers(100, 3000)),
            capex_usd=draw(st.integers(1, 50)) * 1000,
            host_memory_gb=256 if i == 0 else draw(st.sampled_from([32, 64, 128])),
            accel_memory_gb=draw(st.sampled_from([0, 0, 32])),
            lifetime_quarters=draw(st.integers(1, 4)),
            rack_units=draw(st.sampled_from([1, 2, 4])),
            maintenance_usd_per_quarter=draw(st.sampled_from([0, 0, 50, 200])),
        ))

    models, profiles = [], []
    for j in range(n_models):
        m = model(f"m{j}", bucket=draw(st.sampled_from(BUCKETS)),
                  phase=draw(st.sampled_from(["inference", "inference", "training"])),
                  memory_gb=draw(st.sampled_from([4, 40, 100, 200])),
                  min_replicas=draw(st.integers(0, 2)), max_shards=draw(st.integers(1, 2)))
        models.append(m)
        chosen = draw(st.sets(st.integers(0, n_platforms - 1), min_size=1))
        fits = {i for i in chosen if servers_per_replica(
            m["memory_gb"], platforms[i]["host_memory_gb"],
            platforms[i]["accel_memory_gb"]) <= m["max_shards"]}
        if not fits:
            chosen.add(0)  # p0 (256 GB) holds every model
        for i in sorted(chosen):
            profiles.append(profile(m["model_id"], f"p{i}", draw(st.integers(10, 500))))

    region_rows = [region(r, power_cap_kw=1e7, pue=draw(st.sampled_from([1.0, 1.2, 1.5])),
                          electricity_usd_per_kwh=draw(st.sampled_from([0.0, 0.05, 0.1])))
                   for r in regions]

    demand_rows = []
    for m in models:
        for r in regions:
            for q in range(horizon):
                qps = draw(st.integers(0, 3000)) / draw(st.sampled_from([1, 10]))
                if qps > 0:
                    demand_rows.append(demand(m["model_id"], r, q, qps))
    if not demand_rows:
        demand_rows.append(demand("m0", regions[0], 0, draw(st.integers(1, 3000))))

    inventory_rows = []
    for p in platforms:
        for r in regions:
            if draw(st.booleans()):
                retire = draw(st.one_of(st.none(), st.integers(0, horizon)))
                inventory_rows.append(inventory(p["platform_id"], r, draw(st.integers(0, 20)),
                                                retire))

    dr = len(regions) == 2 and draw(st.booleans())
    settings_over = {
        "horizon_quarters": horizon,
        "target_utilization": draw(st.sampled_from([0.5, 0.7, 1.0])),
        "energy_load_factor": draw(st.sampled_from([0.6, 1.0])),
        "allocation": draw(st.sampled_from(["dedicated", "pooled"])),
        "objective": objective or draw(st.sampled_from(["tco", "power", "capex"])),
        "disaster_recovery": {"enabled": dr,
                              "emergency_utilization": draw(st.sampled_from([0.8, 1.0]))},
    }
    rows = {"platforms": platforms, "models": models, "profiles": profiles,
            "regions": region_rows, "demand": demand_rows, "inventory": inventory_rows}
    return rows, settings_over


def solve(fleet: Fleet):
    """Build and solve with mip_gap 0; return the model and the result.

    With mip_gap 0 HiGHS still stops at its default absolute gap (1e-6 kUSD), which
    :func:`planner.solve.solve_model` then labels ``feasible``; accept that, nothing worse.
    """
    model_ = build_model(fleet)
    result = solve_model(model_, solver="highs", mip_gap=0.0)
    assert result.has_solution, result
    assert result.bound is not None and result.objective - result.bound <= ABS, result
    return model_, result


def objective(fleet: Fleet) -> float:
    """Return the optimal objective (kUSD for tco, including the tiny tie-break)."""
    return solve(fleet)[1].objective


def at_least(a: float, b: float) -> bool:
    """Return a >= b up to solver tolerance."""
    return a >= b - ABS - REL * max(abs(a), abs(b))


def test_typed_fleet_matches_the_loader():
    rows = {
        "platforms": [platform("p0"), platform("p1", supply_per_quarter=4, host_memory_gb=64)],
        "models": [model("m0", memory_gb=100, max_shards=2), model("m1", bucket="cv")],
        "profiles": [profile("m0", "p0", 50), profile("m0", "p1", 80), profile("m1", "p0", 9)],
        "regions": [region("east", space_limit_ru=40), region("west")],
        "demand": [demand("m0", "east", 0, 120.5), demand("m1", "west", 1, 30)],
        "inventory": [inventory("p0", "east", 3, 1), inventory("p1", "west", 2)],
    }
    fast = typed_fleet(rows, {"horizon_quarters": 2})
    frames = {k: pd.DataFrame(v).dropna(axis=1, how="all") for k, v in rows.items()}
    slow = fleet_from_frames("random", settings_dict(horizon_quarters=2), **frames)
    for name in TABLES:
        pd.testing.assert_frame_equal(fast.table(name), slow.table(name), check_like=True,
                                      obj=name)
    assert fast.settings == slow.settings


@PROPERTY
@given(fleet_rows(objective=None))
def test_every_plan_passes_the_verifier(drawn):
    rows, settings_over = drawn
    fleet = typed_fleet(rows, settings_over)
    plan = extract_plan(*solve(fleet))
    result = verify_plan(fleet, plan)
    assert result.ok, str(result)
    assert result.recomputed_cost_usd == pytest.approx(plan.total_cost_usd, rel=1e-9, abs=1e-6)


@PROPERTY
@given(fleet_rows(), st.sampled_from([1.0, 1.1, 1.5, 3.0]), st.integers(0, 2000))
def test_more_demand_never_lowers_cost(drawn, factor, extra):
    rows, settings_over = drawn
    fleet = typed_fleet(rows, settings_over)
    more_rows = copy.deepcopy(rows)
    for row in more_rows["demand"]:
        row["peak_qps"] *= factor
    more_rows["demand"][0]["peak_qps"] += extra
    more = typed_fleet(more_rows, settings_over, check=False)
    # The objective is the TCO in kUSD plus a tie-break of 0.01 USD per allocated server.
    assert at_least(objective(more), objective(fleet))


@PROPERTY
@given(fleet_rows(), st.data())
def test_adding_a_platform_never_raises_cost(drawn, data):
    rows, settings_over = drawn
    fleet = typed_fleet(rows, settings_over)
    more_rows = copy.deepcopy(rows)
    more_rows["platforms"].append(platform(
        "extra", power_w=data.draw(st.integers(100, 3000)),
        capex_usd=data.draw(st.integers(1, 50)) * 1000,
        lifetime_quarters=data.draw(st.integers(1, 4))))
    for m in rows["models"]:
        if data.draw(st.booleans()):
            more_rows["profiles"].append(profile(m["model_id"], "extra",
                                                 data.draw(st.integers(10, 1000))))
    more = typed_fleet(more_rows, settings_over, check=False)
    assert at_least(objective(fleet), objective(more))


@PROPERTY
@given(fleet_rows(objective=None))
def test_plan_cost_is_at_least_the_lp_relaxation(drawn):
    rows, settings_over = drawn
    fleet = typed_fleet(rows, settings_over)
    _model, result = solve(fleet)
    relaxed = build_model(fleet)
    relaxed.prob.solve(make_solver("highs", 60, 0.0, 1, mip=False))
    assert relaxed.prob.status == pulp.LpStatusOptimal
    lp_bound = pulp.value(relaxed.prob.objective)
    assert at_least(result.objective, lp_bound)
    assert result.bound is not None
    assert at_least(result.objective, result.bound)


@st.composite
def scenarios_for(draw, rows: dict[str, list[dict]]) -> dict:
    """Draw a scenario that only names ids present in ``rows``."""
    models = [m["model_id"] for m in rows["models"]]
    buckets = sorted({m["bucket"] for m in rows["models"]})
    regions = [r["region_id"] for r in rows["regions"]]
    platforms = [p["platform_id"] for p in rows["platforms"]]
    factor = st.sampled_from([0.5, 1.0, 1.3, 2.0])
    out: dict = {"demand_multiplier": {
        "bucket": draw(st.dictionaries(st.sampled_from(buckets), factor, max_size=2)),
        "region": draw(st.dictionaries(st.sampled_from(regions), factor, max_size=2)),
        "model": draw(st.dictionaries(st.sampled_from(models), factor, max_size=2)),
    }}
    change = st.fixed_dictionaries({}, optional={
        "throughput_multiplier": factor, "capex_multiplier": factor, "power_multiplier": factor,
        "supply_per_quarter": st.integers(0, 10), "available_from_quarter": st.integers(0, 2),
        "available": st.booleans()})
    out["platform_changes"] = draw(st.dictionaries(st.sampled_from(platforms), change,
                                                   max_size=2))
    if draw(st.booleans()):
        out["new_platforms"] = [{"platform": platform("newp"), "profiles_from": {
            "platform_id": draw(st.sampled_from(platforms)),
            "throughput_multiplier": draw(factor)}}]
    out["power_cap_kw"] = draw(st.dictionaries(st.sampled_from(regions),
                                               st.sampled_from([10.0, 1e6]), max_size=2))
    out["slo_changes"] = draw(st.dictionaries(
        st.sampled_from(models),
        st.fixed_dictionaries({"latency_slo_ms": st.sampled_from([10, 50]),
                               "throughput_multiplier": factor}), max_size=2))
    out["disaster_recovery"] = draw(st.one_of(st.none(), st.booleans()))
    out["horizon_quarters"] = draw(st.one_of(st.none(), st.integers(1, 4)))
    out["objective"] = draw(st.one_of(st.none(), st.sampled_from(["tco", "power", "capex"])))
    return {k: v for k, v in out.items() if v is not None}


@PROPERTY
@given(st.data())
def test_scenarios_never_mutate_the_input_fleet(data):
    rows, settings_over = data.draw(fleet_rows(objective=None))
    fleet = typed_fleet(rows, settings_over)
    before = fleet_tables(fleet)
    settings_before = fleet.settings.model_copy(deep=True)
    overrides = data.draw(scenarios_for(rows))
    changed = apply_scenario(fleet, scenario_from_dict(overrides, name="random"))
    assert_same_tables(before, fleet)
    assert fleet.settings == settings_before
    assert fleet.demand_adjustments is None
    # A scenario applied to the scenario's output must not touch that output either.
    snapshot = fleet_tables(changed)
    apply_scenario(changed, scenario_from_dict(overrides, name="again"))
    assert_same_tables(snapshot, changed)
