"""Side-by-side comparison of plans (scenarios) in numbers, with each plan's solver status.

A plan that stopped short of proof (status ``feasible``) may cost up to its gap more than the
best plan there is, so a difference between two plans' costs smaller than their gaps
together may be solver slack rather than a real effect of the scenario. :func:`within_gaps`
says when that is the case; the comparison, the frontier and the sweeps all use it.
"""

from __future__ import annotations

import math

import pandas as pd

from planner.results import Plan

STATUS_TABLE = "Status and gap"
DIFFERENCES_TABLE = "Total cost differences versus the first plan"
NOT_SIGNIFICANT = "not significant: within the solver gaps"
SIGNIFICANT = "significant: larger than the solver gaps"


def cost_gap_usd(plan: Plan) -> float | None:
    """Return how much cheaper (USD) the best plan could be than ``plan``, by its gap.

    None when the gap is unknown (e.g. CBC reported no bound) or measures another objective
    (``power`` or ``capex``), where it says nothing about total cost.
    """
    s = plan.summary
    gap = s.get("gap")
    if gap is None or s.get("objective", "tco") != "tco" or not math.isfinite(gap):
        return None
    return max(float(gap), 0.0) * plan.total_cost_usd


def within_gaps(
    cost_a: float, gap_a: float | None, cost_b: float, gap_b: float | None
) -> bool | None:
    """Return whether ``|cost_a - cost_b|`` is at most ``gap_a * cost_a + gap_b * cost_b``.

    Relative gaps, absolute costs. None when either gap (or cost) is unknown: then nobody can
    say whether the difference is real.
    """
    values = (cost_a, gap_a, cost_b, gap_b)
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    slack = max(gap_a, 0.0) * abs(cost_a) + max(gap_b, 0.0) * abs(cost_b)
    # A hair of tolerance so that two proven-optimal equal plans count as equal.
    return bool(abs(cost_a - cost_b) <= slack + 1e-9 * max(abs(cost_a), abs(cost_b), 1.0))


def significance_note(within: bool | None) -> str:
    """Return the words for a :func:`within_gaps` verdict."""
    if within is None:
        return "unknown: a plan's gap on cost is not known"
    return NOT_SIGNIFICANT if within else SIGNIFICANT


def comparability_note(first: dict, other: dict) -> str | None:
    """Return why two plans' total costs do not measure the same thing, or None.

    A plan on another objective minimises power or purchases and prices cost only as a
    tie-break (a ``power`` plan may replace old servers with efficient new ones at any price),
    and plans over different horizons add up different quarters: their cost difference is
    then no saving or loss of either plan.
    """
    reasons = []
    obj_a, obj_b = first.get("objective", "tco"), other.get("objective", "tco")
    if obj_a != obj_b:
        reasons.append(f"objectives differ ({obj_a} vs {obj_b}; cost is optimised only on tco)")
    hz_a, hz_b = first.get("horizon_quarters"), other.get("horizon_quarters")
    if hz_a is not None and hz_b is not None and hz_a != hz_b:
        reasons.append(f"horizons differ ({hz_a} vs {hz_b} quarters)")
    return "not comparable: " + "; ".join(reasons) if reasons else None


def cost_gap(plan: Plan) -> float | None:
    """Return the plan's relative gap on total cost, or None (see :func:`cost_gap_usd`)."""
    slack = cost_gap_usd(plan)
    if slack is None:
        return None
    return slack / plan.total_cost_usd if plan.total_cost_usd else 0.0


def bound_usd(summary: dict, cost_usd: float | None = None) -> float | None:
    """Return the best bound of a tco plan in USD, or None for other objectives or none.

    The solver's bound is on the objective (kUSD), which adds tie-breaks per allocated and
    in-service server to the cost (at most ``planner.model.TIE_BREAK_TOLERANCE`` of it), so
    for a proven plan it can exceed the cost by a sliver; capped at
    ``cost_usd`` so that a bound never reads as higher than a plan that exists.
    """
    bound = summary.get("best_bound")
    if bound is None or summary.get("objective", "tco") != "tco" or not math.isfinite(bound):
        return None
    usd = float(bound) * 1e3
    return min(usd, cost_usd) if cost_usd is not None else usd


def plan_status(plan: Plan) -> dict[str, object]:
    """Return the solver's verdict on a plan: status, gap, best bound (USD), why it stopped."""
    s = plan.summary
    return {
        "status": s.get("status"),
        "gap": s.get("gap"),
        # Other objectives' bounds are not costs, so they are left out rather than shown
        # as USD.
        "best_bound_usd": bound_usd(s, plan.total_cost_usd),
        "objective": s.get("objective"),
        "solver": s.get("solver"),
        "stopped": s.get("stopped"),
        "verified": s.get("verified"),
    }


def _differences(plans: dict[str, Plan]) -> pd.DataFrame:
    """Return each plan's total-cost difference to the first, and whether gaps explain it."""
    names = list(plans)
    first = plans[names[0]]
    rows = {}
    for name in names[1:]:
        plan = plans[name]
        slack_a, slack_b = cost_gap_usd(first), cost_gap_usd(plan)
        within = within_gaps(
            plan.total_cost_usd, cost_gap(plan), first.total_cost_usd, cost_gap(first)
        )
        rows[f"{name} - {names[0]}"] = {
            "difference_usd": plan.total_cost_usd - first.total_cost_usd,
            "combined_gaps_usd": None if slack_a is None or slack_b is None else slack_a + slack_b,
            "within_gaps": within,
            "note": comparability_note(first.summary, plan.summary)
            or significance_note(within),
        }
    columns = ["difference_usd", "combined_gaps_usd", "within_gaps", "note"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _bucket_cost(plan: Plan) -> pd.Series:
    """Attribute each platform's cost to buckets by their share of its allocated servers."""
    alloc = plan.allocation.groupby(["platform_id", "region_id", "quarter", "bucket"])["servers"]
    share = (alloc.sum() / alloc.sum().groupby(level=[0, 1, 2]).transform("sum")).rename("share")
    costs = plan.costs.set_index(["platform_id", "region_id", "quarter"])["total_usd"]
    joined = share.reset_index().merge(
        costs.reset_index(), on=["platform_id", "region_id", "quarter"]
    )
    return (joined["share"] * joined["total_usd"]).groupby(joined["bucket"]).sum()


def compare_plans(plans: dict[str, Plan]) -> dict[str, pd.DataFrame]:
    """Return tables comparing plans side by side, with the change versus the first plan.

    Keys: servers in service by platform class (last quarter), purchases by platform class,
    peak facility power by region, cost by bucket and by platform class, and totals; then
    :data:`STATUS_TABLE` (per plan: status, gap, best bound in USD, objective, solver, why
    it stopped, verified) and :data:`DIFFERENCES_TABLE` (per plan after the first: the
    difference of total cost, the plans' gaps together in USD, ``within_gaps`` and a note,
    :data:`NOT_SIGNIFICANT` when the difference is within the gaps, "not comparable: ..."
    when the plans' objectives or horizons differ, see :func:`comparability_note`).
    """

    def side(series: dict[str, pd.Series]) -> pd.DataFrame:
        frame = pd.DataFrame(series).fillna(0.0)
        first = frame.columns[0]
        for col in frame.columns[1:]:
            frame[f"{col} - {first}"] = frame[col] - frame[first]
        return frame

    last = {n: p.fleet[p.fleet["quarter"] == p.fleet["quarter"].max()] for n, p in plans.items()}
    totals = {
        n: pd.Series(
            {
                "total_cost_usd": p.total_cost_usd,
                "capex_usd": float(p.costs["capex_usd"].sum()),
                "energy_usd": float(p.costs["energy_usd"].sum()),
                "servers_purchased": float(p.purchases["servers"].sum())
                if len(p.purchases)
                else 0.0,
                "peak_power_kw": float(p.power.groupby("quarter")["power_kw"].sum().max()),
            }
        )
        for n, p in plans.items()
    }
    cls = {
        n: p.fleet[["platform_id", "platform_class"]].drop_duplicates() for n, p in plans.items()
    }
    return {
        "Totals": side(totals),
        "Servers in service, last quarter, by platform class": side(
            {n: f.groupby("platform_class")["in_service_servers"].sum() for n, f in last.items()}
        ),
        "Servers purchased by platform class": side(
            {n: p.purchases.groupby("platform_class")["servers"].sum() for n, p in plans.items()}
        ),
        "Peak facility power (kW) by region": side(
            {n: p.power.groupby("region_id")["power_kw"].max() for n, p in plans.items()}
        ),
        "TCO (USD) by bucket": side({n: _bucket_cost(p) for n, p in plans.items()}),
        "TCO (USD) by platform class": side(
            {
                n: p.costs.merge(cls[n], on="platform_id")
                .groupby("platform_class")["total_usd"]
                .sum()
                for n, p in plans.items()
            }
        ),
        STATUS_TABLE: pd.DataFrame({n: pd.Series(plan_status(p)) for n, p in plans.items()}),
        DIFFERENCES_TABLE: _differences(plans),
    }
