"""Side-by-side comparison of plans (scenarios) in numbers."""

from __future__ import annotations

import pandas as pd

from planner.results import Plan


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
    peak facility power by region, cost by bucket and by platform class, and totals.
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
    }
