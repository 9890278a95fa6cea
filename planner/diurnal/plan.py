"""Plan a fleet by time of day: slotted fleet, anytime solve, verification, harvesting report.

A slotted fleet has one capacity row per slot and volume rows across slots; it is solved by
the anytime path of ordinary plans with the peak-only plan (repeated in every slot) offered
as a start (:mod:`planner.diurnal.solve`), so the first plan depends only on the case, is
never worse than the peak-only plan, and the time limit bounds improvement and proof.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.diurnal.follow_sun import (
    add_shifts,
    moved,
    moved_share,
    read_moves,
    served_demand,
    served_hourly,
)
from planner.diurnal.harvest import (
    harvest_by_platform_slot,
    harvest_report,
    savings,
    slot_load,
)
from planner.diurnal.layout import EVERY_SLOT, allocated_servers
from planner.diurnal.preempt import (
    add_emergency,
    check_emergency,
    emergency,
    emergency_frame,
    preemptible_share,
    read_emergency,
)
from planner.diurnal.preempt import enabled as preempts
from planner.diurnal.shapes import hourly_demand
from planner.diurnal.slots import copy_id, expand_fleet
from planner.diurnal.solve import solve_day
from planner.diurnal.verify import check_slots
from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.results import Plan, plan_from_decisions, plan_totals
from planner.scale import build_matrix
from planner.verify import verify_plan

DIRECT_SLOTS = 6  # more slots: plan a coarse divisor first (coarse_slots)


@dataclass
class DiurnalPlan:
    """A time-of-day plan.

    Attributes:
        plan: The verified plan of the slotted fleet; ``allocation`` has ``base_model_id`` and
            ``slot`` (-1: the same replicas all day) next to each copy's ``model_id``.
        fleet: The slotted fleet the plan is for (``verify_plan(fleet, plan)`` re-checks it).
        hourly: Demand per model, region, quarter and UTC hour.
        load: Servers per platform, region, quarter and slot: inference, training
            (harvested and dedicated), in service (:func:`planner.diurnal.slot_load`).
        harvest: Per quarter: training server-hours dedicated vs harvested, harvested share.
        separate: With ``compare``: the plan with training planned on servers of its own.
        savings: With ``compare``: servers, facility kW and cost saved per quarter against
            ``separate``.
        moved: Follow the sun: inference load served in another region, per copy, edge and
            quarter (:func:`planner.diurnal.follow_sun.moved`); empty when off.
        emergency: With ``preempt_training_for_dr``: per lost region, the inference replicas
            survivors would run on servers whose training is pre-empted.
        summary: Slots, model size, solve time, status, gap, DR note, share of the day's
            inference load moved.
    """

    plan: Plan
    fleet: Fleet
    hourly: pd.DataFrame
    load: pd.DataFrame
    harvest: pd.DataFrame
    separate: Plan | None = None
    savings: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: dict = field(default_factory=dict)
    moved: pd.DataFrame = field(default_factory=pd.DataFrame)
    emergency: pd.DataFrame = field(default_factory=pd.DataFrame)

    def as_plan(self, scenario: str | None = None) -> Plan:
        """Return the slotted plan with the time-of-day tables and a ``diurnal`` summary."""
        plan = self.plan
        plan.diurnal = {
            "slot_load": self.load,
            "harvest": self.harvest,
            "harvest_by_slot": harvest_by_platform_slot(self.load),
        }
        if not self.savings.empty:
            plan.diurnal["harvest_savings"] = self.savings
        if self.fleet.settings.diurnal.follow_sun_share > 0:
            plan.diurnal["follow_sun"] = self.moved
        if preempts(self.fleet):
            plan.diurnal["dr_preemption"] = self.emergency
        plan.summary = {**self.summary, "scenario": scenario, "diurnal": diurnal_summary(self)}
        return plan


def diurnal_summary(result: DiurnalPlan) -> dict:
    """Return the time-of-day facts of a plan for ``summary.json`` and the CLI line."""
    harvest = result.harvest
    served = float(harvest["training_server_hours"].sum()) if len(harvest) else 0.0
    share = float(harvest["harvested_server_hours"].sum()) / served if served else None
    return {
        "slots": result.summary.get("slots"),
        "harvested_share": share,
        "kept_peak_plan": result.summary.get("kept_peak_plan"),
        "peak_only_cost_usd": result.summary.get("peak_only_cost_usd"),
        "dr_note": result.summary.get("dr_note"),
        "follow_sun_moved_share": result.summary.get("follow_sun_moved_share"),
        "dr_preemptible_share": result.summary.get("dr_preemptible_share"),
    }


def diurnal_line(facts: dict) -> str:
    """Return the CLI's one-line time-of-day report from ``summary["diurnal"]``."""
    share = facts.get("harvested_share")
    harvested = "no training" if share is None else f"training harvested {share:.0%}"
    peak = facts.get("peak_only_cost_usd")
    against = f"; peak-only plan {peak:,.0f} USD" if peak is not None else ""
    kept = " (kept: nothing cheaper found)" if facts.get("kept_peak_plan") else ""
    moved_share = facts.get("follow_sun_moved_share")
    sun = "" if moved_share is None else f"; follow the sun moved {moved_share:.1%} of inference"
    preempt = facts.get("dr_preemptible_share")
    if preempt is not None:
        sun += f"; {preempt:.0%} of training server-hours would be pre-empted by a region loss"
    return (
        f"time of day: {facts.get('slots')} slots, {harvested} of training server-hours"
        f"{against}{kept}{sun}; {facts.get('dr_note')}"
    )


def solve_slotted(
    slotted: Fleet,
    time_limit_s: float,
    mip_gap: float,
    threads: int = 1,
    start: Plan | None = None,
    others: tuple[Plan, ...] = (),
    path: str = "anytime",
    coarse: Plan | None = None,
) -> Plan:
    """Solve a slotted fleet and return its verified plan.

    ``path`` "anytime" (:func:`planner.diurnal.solve.solve_day`): LP bound, rounding and a
    purchase MIP bounded by node limits (the first plan does not depend on the clock or the
    machine's load), then polish and proof within ``time_limit_s``; "highs": plain HiGHS with
    the time limit (the old path, kept for ``bench/diurnal.py``).

    ``start`` is a peak-only plan of the same fleet: every slot's demand is at most the daily
    peak, so its replicas repeated in every slot are a feasible slotted plan, offered as a
    start and kept when nothing cheaper is found (``summary["kept_peak_plan"]``). ``others``
    are slotted plans of a more constrained fleet (training flat all day), offered the same
    way. ``coarse`` is the first plan of the same fleet with fewer slots (a divisor): offered
    as a start, and its expensive-platform replicas are kept in the first plan instead of
    that stage's MIP (at 24 slots the MIP's root alone ran minutes; see
    :func:`coarse_slots`). With ``preempt_training_for_dr`` the old path is used: the
    rounding keeps each cell's throughput but not the pre-emption rows (emergency servers
    within the training servers of a platform), so its plans would be refused there.
    """
    base = build_matrix(slotted)
    n_x, n_b, n_y = base.n_x, len(base.b), len(base.y)
    n_base = n_x + n_b + n_y  # then follow-the-sun shifts, then emergency replicas
    mm, shifts = add_shifts(slotted, base)
    mm, spare = add_emergency(slotted, mm)
    n_shift = n_base + len(shifts)
    starts = []
    for name, candidate in (("peak-only plan", start),
                            *(("training on its own servers", p) for p in others)):
        if candidate is not None:
            warm = peak_start(mm, candidate)
            starts.append((name, np.concatenate([warm, np.zeros(mm.n_cols - len(warm))])))
    expensive = None
    if coarse is not None:
        ratio = slotted.settings.diurnal.slots // int(coarse.summary["slots"])
        warm = peak_start(mm, coarse, ratio)
        expensive = np.concatenate([warm, np.zeros(mm.n_cols - len(warm))])
        starts.append((f"{coarse.summary['slots']}-slot plan", expensive))
    if preempts(slotted):
        path = "highs"
    result = solve_day(mm, starts, time_limit_s=time_limit_s, mip_gap=mip_gap,
                       threads=threads, path=path, expensive_values=expensive)
    if result.status == "infeasible":
        raise InfeasiblePlanError(
            f"no plan serves every slot of '{slotted.name}' within the caps; try "
            "`python -m planner explain` on the peak-only case, or raise caps",
            None,
        )
    if not result.has_solution:
        raise SolverError(
            f"highs found no slotted plan within {time_limit_s:g} s; raise "
            "--time-limit or the gap, or use fewer slots"
        )
    kept_peak = result.kept_start == "peak-only plan"
    values = result.values
    moves = moved(shifts, values[n_base:n_shift], slotted.settings.diurnal.slots)
    rescue = emergency(spare, values[n_shift:])
    dedicated = slotted.settings.allocation == "dedicated"
    x = values[:n_x].copy()
    x[np.abs(x) < 1e-6] = 0.0
    if dedicated:
        x = np.round(x)
    keep = x > 0
    xs = mm.x[keep]
    replicas = dict(
        zip(
            zip(
                xs["model_id"],
                xs["platform_id"],
                xs["region_id"],
                xs["quarter"].astype(int),
                strict=True,
            ),
            x[keep].tolist(),
            strict=True,
        )
    )
    b = np.round(values[n_x : n_x + n_b])
    bs = mm.b[b > 0]
    purchases = dict(
        zip(
            zip(bs["platform_id"], bs["region_id"], bs["quarter"].astype(int), strict=True),
            b[b > 0].tolist(),
            strict=True,
        )
    )
    # In service: the busiest slot's servers (dedicated), or HiGHS' whole servers (pooled).
    in_service = allocated_servers(slotted, xs.assign(servers=x[keep] * xs["spr"].to_numpy()))
    if not dedicated:
        ys = mm.y.assign(v=np.round(values[n_x + n_b : n_base]))
        in_service = {
            (p, r, int(t)): float(v)
            for p, r, t, v in zip(
                ys["platform_id"], ys["region_id"], ys["quarter"], ys["v"], strict=True
            )
            if v > 0
        }
    plan = plan_from_decisions(
        slotted, replicas, purchases, in_service, served_demand(mm.demand, moves)
    )
    plan.diurnal = {"follow_sun": moves, "dr_preemption": rescue}
    slots = slotted.models.set_index("model_id")
    plan.allocation["base_model_id"] = plan.allocation["model_id"].map(slots["base_model_id"])
    plan.allocation["slot"] = plan.allocation["model_id"].map(slots["slot"]).astype(int)
    plan.summary = {
        "case": slotted.name,
        "status": result.status,
        "solver": "highs",
        "objective": slotted.settings.objective,
        "objective_value": result.objective,
        "best_bound": result.bound,
        "gap": result.gap,
        "lp_bound": result.lp_bound,
        # a coarse plan's time is part of the first plan's (it decided expensive platforms)
        "first_plan_seconds": None if result.first_seconds is None
        else round(result.first_seconds + coarse_seconds(coarse), 4),
        "coarse_slots": None if coarse is None else coarse.summary["slots"],
        "first_plan_objective": result.first_objective,
        "first_plan_gap": result.first_gap,
        "stopped": result.stopped,
        "slot_path": result.path,
        "build_seconds": round(mm.build_seconds, 4),
        "solve_seconds": round(result.seconds, 4),
        "columns": mm.n_cols,
        "rows": mm.n_rows,
        "integers": int(mm.integer.sum()),
        "slots": slotted.settings.diurnal.slots,
        "kept_peak_plan": kept_peak,
        "kept_start": result.kept_start or None,
        "stages": result.stages,
        **plan_totals(plan),
    }
    # shifted load is checked where it is served: an ordinary plan of the served fleet
    served = served_fleet(slotted, moves)
    verification = verify_plan(without_dr(served) if preempts(slotted) else served, plan)
    if not verification.ok:
        raise SolverError(f"the slotted plan failed independent verification:\n{verification}")
    problems = check_emergency(served, plan, rescue) if preempts(slotted) else []
    if problems:
        raise SolverError("the slotted plan's region-loss cover fails:\n" + "\n".join(problems))
    plan.summary["verified"] = True
    return plan


def coarse_seconds(coarse: Plan | None) -> float:
    """Return the build and solve seconds of a coarse plan (0 without one)."""
    if coarse is None:
        return 0.0
    return float(coarse.summary["build_seconds"]) + float(coarse.summary["solve_seconds"])


def coarse_slots(n_slots: int) -> int | None:
    """Return the slots of the coarse plan a fine one starts from, or None (plan directly).

    Up to :data:`DIRECT_SLOTS` slots the expensive-platform MIP decides in a few seconds on
    the default case (6 slots: 4.5 s); beyond, the largest divisor of ``n_slots`` up to that
    many is planned first (24 and 12 slots: 6; 8: 4), its first plan only (node limits, no
    clock), and the fine plan starts from it.
    """
    if n_slots <= DIRECT_SLOTS:
        return None
    return max(d for d in range(1, DIRECT_SLOTS + 1) if n_slots % d == 0)


def peak_start(mm, peak: Plan, ratio: int = 0) -> np.ndarray:
    """Return a slotted solution vector from a plan: peak-only replicas repeat in every slot.

    ``ratio`` > 0: ``peak`` is a plan with ``ratio`` times fewer slots (a coarse plan); slot
    s takes the replicas of its coarse slot s // ratio. A coarse slot's demand is the largest
    of its fine slots' and a volume row sums throughput over the day, so either way the
    vector is a feasible plan of ``mm`` (without follow-the-sun shifts).
    """
    models = mm.fleet.models.set_index("model_id")
    base = models["base_model_id"]
    replicas = peak.allocation.set_index(["model_id", "platform_id", "region_id", "quarter"])[
        "replicas"
    ]
    rest = [mm.x["platform_id"], mm.x["region_id"], mm.x["quarter"].astype("int64")]
    source = mm.x["model_id"]
    if ratio > 0:
        slot = source.map(models["slot"]).astype(int)
        coarse = [copy_id(b, s // ratio) for b, s in zip(source.map(base), slot, strict=True)]
        source = source.where(slot == EVERY_SLOT, pd.Series(coarse, index=source.index))
    # a copy takes the plan's replicas of the same copy, else of its base model (all day)
    same = replicas.reindex(pd.MultiIndex.from_arrays([source, *rest]))
    of_base = replicas.reindex(pd.MultiIndex.from_arrays([mm.x["model_id"].map(base), *rest]))
    x = np.nan_to_num(np.where(same.isna(), of_base.to_numpy(), same.to_numpy()))
    bought = peak.purchases.set_index(["platform_id", "region_id", "order_quarter"])["servers"]
    b = (
        bought.reindex(pd.MultiIndex.from_frame(mm.b[["platform_id", "region_id", "quarter"]]))
        .fillna(0.0)
        .to_numpy()
    )
    serving = peak.fleet.set_index(["platform_id", "region_id", "quarter"])["in_service_servers"]
    y = (
        serving.reindex(pd.MultiIndex.from_frame(mm.y[["platform_id", "region_id", "quarter"]]))
        .fillna(0.0)
        .to_numpy()
    )
    return np.concatenate([x, b, y]).astype(np.float64)


def plan_diurnal(
    fleet: Fleet,
    *,
    slots: int | None = None,
    compare: bool = False,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    peak: Plan | None = None,
    peak_fallback: bool = True,
    path: str = "anytime",
) -> DiurnalPlan:
    """Plan ``fleet`` per time-of-day slot and report the training harvested.

    Args:
        fleet: A checked fleet with load shapes (without shapes every slot is the peak).
        slots: Slots per day; default ``settings.diurnal.slots`` (24 when that is 0).
        compare: Also plan training on servers of its own (``harvest_training`` off) and
            report the servers, power and cost harvesting saves.
        time_limit_s: HiGHS time limit per solve; default from settings.
        mip_gap: Relative gap; default from settings.
        threads: Solver threads; default from settings.
        peak: The peak-only plan of ``fleet``, if already made.
        peak_fallback: Make the peak-only plan (``make_plan`` with slots 0) when not given and
            offer it (repeated in every slot) as a start, so the slotted plan is never worse
            than the peak plan.
        path: "anytime" (default) or "highs": plain HiGHS with the time limit, to compare
            (:func:`planner.diurnal.solve.solve_day`).
    """
    options = fleet.settings.solver
    limits = (
        time_limit_s if time_limit_s is not None else options.time_limit_s,
        mip_gap if mip_gap is not None else options.mip_gap,
        threads or options.threads,
    )
    n = slots if slots is not None else (fleet.settings.diurnal.slots or 24)
    if peak is None and peak_fallback:
        from planner.pipeline import make_plan

        peak = make_plan(
            with_diurnal(fleet, slots=0),
            time_limit_s=limits[0],
            mip_gap=limits[1],
            threads=limits[2],
            explain=False,
        )
    fleet = with_diurnal(fleet, slots=n)
    hourly = hourly_demand(fleet)
    slotted = expand_fleet(fleet, hourly)
    separate = None
    if compare and fleet.settings.diurnal.harvest_training:
        # training on servers of its own first: it is also a harvesting plan (training flat)
        flat = with_diurnal(fleet, harvest_training=False)
        separate = solve_slotted(expand_fleet(flat, hourly), *limits, start=peak, path=path,
                                 coarse=coarse_plan(flat, hourly, limits, peak, path))
    others = (separate,) if separate is not None else ()
    plan = solve_slotted(slotted, *limits, start=peak, others=others, path=path,
                         coarse=coarse_plan(fleet, hourly, limits, peak, path))
    moves = plan.diurnal.get("follow_sun", pd.DataFrame())
    served = served_hourly(hourly, moves, n)
    problems = check_slots(fleet, slotted, plan, served)
    if problems:
        raise SolverError("the slotted plan does not serve every hour:\n" + "\n".join(problems))
    load = slot_load(slotted, plan)
    out = DiurnalPlan(
        plan, served_fleet(slotted, moves), hourly, load, harvest_report(slotted, load)
    )
    out.moved = moves
    out.emergency = plan.diurnal.get("dr_preemption", pd.DataFrame())
    if separate is not None:
        out.separate, out.savings = separate, savings(plan, separate)
    out.summary = dict(plan.summary)
    out.summary["dr_note"] = dr_note(fleet)
    if preempts(slotted):
        out.summary["dr_preemptible_share"] = preemptible_share(slotted, load, out.emergency)
    if fleet.settings.diurnal.follow_sun_share > 0:
        phase = fleet.models.set_index("model_id")["phase"]
        inference = hourly[hourly["model_id"].map(phase) == "inference"]
        out.summary["follow_sun_moved_share"] = moved_share(moves, inference)
    if peak is not None:
        out.summary["peak_only_cost_usd"] = peak.total_cost_usd

    return out


def coarse_plan(fleet: Fleet, hourly: pd.DataFrame, limits: tuple, peak: Plan | None,
                path: str) -> Plan | None:
    """Return the first plan of ``fleet`` at :func:`coarse_slots` slots, or None.

    Time limit 0: the first plan only, found by node limits, so it does not depend on the
    clock either. Only for the anytime path (plain HiGHS takes no starts).
    """
    n = coarse_slots(fleet.settings.diurnal.slots)
    if n is None or path != "anytime":
        return None
    coarse = expand_fleet(with_diurnal(fleet, slots=n), hourly)
    return solve_slotted(coarse, 0.0, limits[1], limits[2], start=peak)


def served_fleet(slotted: Fleet, moves: pd.DataFrame) -> Fleet:
    """Return the slotted fleet with its demand where follow the sun serves it."""
    if moves.empty:
        return slotted
    return dataclasses.replace(slotted, demand=served_demand(slotted.demand, moves))


def fleet_to_verify(slotted: Fleet, plan: Plan, folder: Path) -> tuple[Fleet, list[str]]:
    """Return the fleet a written slotted plan is verified against, and its DR problems.

    ``folder``'s ``follow_sun.csv`` moves demand to where it is served; with
    ``preempt_training_for_dr`` the region-loss cover is checked here from
    ``dr_preemption.csv`` (:func:`planner.diurnal.preempt.check_emergency`) and the fleet
    comes back with disaster recovery off for :func:`planner.verify.verify_plan`.
    """
    moves_file = folder / "follow_sun.csv"
    moves = read_moves(moves_file) if moves_file.is_file() else pd.DataFrame()
    served = served_fleet(slotted, moves)
    if not preempts(slotted):
        return served, []
    rescue_file = folder / "dr_preemption.csv"
    rescue = read_emergency(rescue_file) if rescue_file.is_file() else emergency_frame()
    return without_dr(served), check_emergency(served, plan, rescue)


def without_dr(fleet: Fleet) -> Fleet:
    """Return ``fleet`` with disaster recovery off (checked separately with pre-emption)."""
    dr = fleet.settings.disaster_recovery.model_copy(update={"enabled": False})
    settings = fleet.settings.model_copy(update={"disaster_recovery": dr})
    return dataclasses.replace(fleet, settings=settings)


def with_diurnal(fleet: Fleet, **changes: object) -> Fleet:
    """Return ``fleet`` with some ``settings.diurnal`` keys changed (validated)."""
    settings = fleet.settings.model_copy(
        update={
            "diurnal": fleet.settings.diurnal.model_validate(
                {**fleet.settings.diurnal.model_dump(), **changes}
            )
        }
    )
    return dataclasses.replace(fleet, settings=settings)


def dr_note(fleet: Fleet) -> str:
    """Say whether capacity kept for the loss of a region may be harvested."""
    dr = fleet.settings.disaster_recovery
    if not dr.enabled:
        return "disaster recovery is off: no capacity is kept for region loss"
    if fleet.settings.diurnal.preempt_training_for_dr:
        return (
            "capacity kept for region loss may run training: losing a region pre-empts "
            "training on the survivors' servers, which then serve the lost load "
            "(dr_preemption: the emergency replicas per lost region)"
        )
    return (
        "capacity kept for region loss is not harvested: training runs only on servers "
        "that inference, with its disaster-recovery reserve, leaves idle"
    )
