"""Slotted plans through the anytime path (planner.diurnal.solve): a first plan that depends
only on the case, never worse than the peak-only plan, verified, with status and gap.

The case is small but needs real rounding: three platforms (one ≥ 10× the median capex, so
the expensive-platform stage runs), two regions backing each other up, two quarters, two
inference models with different day shapes, movable training, six slots.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from cases import (
    SRC,
    backup,
    call,
    demand,
    make_fleet,
    model,
    platform,
    product,
    profile,
    region,
)

import planner as pl
import planner.optimization.anytime as anytime
from planner.diurnal.plan import peak_start, plan_diurnal, with_diurnal
from planner.diurnal.slots import expand_fleet
from planner.diurnal.solve import solve_day
from planner.scale import build_matrix


def shape(subject: str, peak_hour: int) -> list[dict]:
    """Return a smooth day (mean 1) peaking at ``peak_hour``."""
    raw = [1.0 + 0.6 * math.cos(2 * math.pi * (h - peak_hour) / 24) for h in range(24)]
    return [{"shape_of": subject, "hour": h, "relative_load": v, **SRC}
            for h, v in enumerate(raw)]


@functools.cache
def mixed_case(slots: int = 6) -> pl.Fleet:
    """Cheap and mid CPU servers, a big expensive box; feed and ads peak 9 h apart."""
    return make_fleet(
        platforms=[
            platform("cpu", capex_usd=10_000, power_w=400),
            platform("cpu2", capex_usd=14_000, power_w=450),
        ],
        models=[model("feed", min_replicas=2), model("ads", min_replicas=2),
                model("trn", phase="training", min_replicas=0)],
        profiles=[
            profile("feed", "cpu", 7.0), profile("feed", "cpu2", 11.0),
            profile("ads", "cpu", 5.0), profile("ads", "cpu2", 8.5),
            profile("trn", "cpu", 3.0),
        ],
        regions=[region("a", demand_share=0.6), region("b", demand_share=0.4)],
        topology=[backup("a", "b"), backup("b", "a")],
        products=[product("feed_app", 412.0 * 86_400, growth_per_quarter=0.2),
                  product("ads_app", 337.0 * 86_400, growth_per_quarter=0.1)],
        calls=[call("feed_app", "feed", 1.0), call("ads_app", "ads", 1.0)],
        demand=[demand("trn", r, t, q) for t in (0, 1) for r, q in (("a", 61.0), ("b", 37.0))],
        load_shapes=shape("feed_app", 20) + shape("ads_app", 11),
        settings={
            "horizon_quarters": 2,
            "disaster_recovery": {"enabled": True, "emergency_utilization": 1.0},
            "diurnal": {"slots": slots},
            "solver": {"mip_gap": 0.001},
        },
    )


@functools.cache
def peak_plan() -> pl.Plan:
    """The peak-only plan of the case (its replicas repeated in every slot are feasible)."""
    return pl.make_plan(with_diurnal(mixed_case(), slots=0), explain=False)


def slotted_model():
    """Return the slotted array model and the peak-only plan as its start vector."""
    mm = build_matrix(expand_fleet(mixed_case()))
    return mm, [("peak-only plan", peak_start(mm, peak_plan()))]


def first_plan(time_limit_s: float = 0.0):
    """Return the anytime result with no time for improvement: the first plan."""
    mm, starts = slotted_model()
    return mm, starts, solve_day(mm, starts, path="anytime", time_limit_s=time_limit_s,
                                 mip_gap=0.001)


def test_first_slotted_plan_is_deterministic_and_beats_the_peak_plan():
    """Same first plan twice (time limit 0 and 0.01 s); cheaper than the peak-only plan."""
    mm, starts, a = first_plan(0.0)
    _, _, b = first_plan(0.01)
    assert a.has_solution and b.has_solution
    assert np.array_equal(a.values, b.values)
    assert a.first_objective == b.first_objective
    peak_cost = float(mm.cost @ starts[0][1])
    # the rounding, not the start, is the first plan here: harvesting pays off at once
    assert a.first_objective < peak_cost * (1 - 1e-6)
    assert a.kept_start == ""
    assert a.first_seconds is not None and a.lp_bound is not None
    assert a.bound >= a.lp_bound - 1e-9 and a.objective >= a.bound - 1e-9
    assert a.gap == pytest.approx((a.objective - a.bound) / a.objective)


def test_first_plan_does_not_read_the_clock(monkeypatch):
    """A clock that jumps an hour at every reading changes nothing before the first plan."""
    _, _, steady = first_plan(0.0)
    ticks = iter(range(10**9))
    monkeypatch.setattr(anytime.time, "perf_counter", lambda: 3600.0 * next(ticks))
    _, _, jumpy = first_plan(0.0)
    assert np.array_equal(steady.values, jumpy.values)  # limit 0: the first plan
    assert jumpy.first_objective == steady.first_objective


def test_a_cheaper_start_is_the_first_plan():
    """A start cheaper than the rounding's plan is kept as the first plan (never worse)."""
    mm, starts, rounded = first_plan(0.0)
    offered = [("better plan", rounded.values)]
    again = solve_day(mm, offered, path="anytime", time_limit_s=0.0, mip_gap=0.001)
    assert again.first_objective <= rounded.first_objective + 1e-9
    worse = solve_day(mm, starts, path="anytime", time_limit_s=0.0, mip_gap=0.001)
    assert worse.first_objective <= float(mm.cost @ starts[0][1]) + 1e-9


def test_plan_diurnal_reports_status_gap_and_first_plan():
    """The verified plan carries status, gap, best bound and its first plan's time and gap;
    it is never worse than the first plan nor than the peak-only plan."""
    result = plan_diurnal(mixed_case(), path="anytime", time_limit_s=2.0, peak=peak_plan())
    s = result.plan.summary
    assert s["verified"] and s["slot_path"] == "anytime"
    assert s["status"] in ("optimal", "feasible")
    assert s["best_bound"] <= s["objective_value"] + 1e-9
    assert s["objective_value"] <= s["first_plan_objective"] + 1e-9
    assert s["first_plan_gap"] >= s["gap"] - 1e-12
    assert result.plan.total_cost_usd < peak_plan().total_cost_usd
    assert not s["kept_peak_plan"]
    assert any(st["stage"].startswith("polish") for st in s["stages"])
    assert pl.verify_plan(result.fleet, result.plan).ok


def test_a_coarse_plan_repeated_into_finer_slots_is_feasible():
    """Slot s of 12 takes the replicas of slot s // 2 of a 6-slot plan: a plan of the 12."""
    coarse = plan_diurnal(mixed_case(6), path="anytime", time_limit_s=0.0, peak=peak_plan()).plan
    fine = build_matrix(expand_fleet(mixed_case(12)))
    values = peak_start(fine, coarse, ratio=2)
    st = anytime._Structure(fine)
    assert anytime._violations(fine, anytime._normalise(fine, st, values)) == []
    # without the mapping slot 5 of 12 would take slot 5 of 6 (another time of day)
    assert anytime._violations(fine, anytime._normalise(fine, st, peak_start(fine, coarse)))


def test_more_than_six_slots_start_from_the_six_slot_first_plan():
    """12 slots: the 6-slot first plan decides expensive platforms and is a start, so the
    first plan is no worse than it, and the whole first plan is found the same way twice."""
    six = plan_diurnal(mixed_case(6), path="anytime", time_limit_s=0.0, peak=peak_plan()).plan
    a = plan_diurnal(mixed_case(12), path="anytime", time_limit_s=0.0, peak=peak_plan()).plan
    b = plan_diurnal(mixed_case(12), path="anytime", time_limit_s=0.0, peak=peak_plan()).plan
    assert a.summary["coarse_slots"] == 6 and a.summary["verified"]
    assert a.summary["first_plan_objective"] <= six.summary["objective_value"] + 1e-9
    assert a.summary["first_plan_objective"] == b.summary["first_plan_objective"]
    assert a.allocation.equals(b.allocation) and a.purchases.equals(b.purchases)
