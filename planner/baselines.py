"""Simple capacity plans to compare the optimised plan with, built without a solver.

Every baseline serves the same requirements as the model: peak demand at the target
utilisation, minimum replicas wherever a model has demand, and the disaster-recovery rule of
:func:`planner.model.add_disaster_recovery_constraints`. DR is met with an even split: when
region f is lost, each of its backup regions B(f) takes ``peak[f] / |B(f)|`` on top of its own
peak at the emergency utilisation, so a region provisions
``max(peak / u, (peak + max_f share_f) / u_e)`` qps of latency-bounded throughput, and every DR
row of the model holds.

The engine walks region by region and quarter by quarter. A model first takes free servers of
its allowed platforms (inventory and the baseline's earlier purchases), then buys the rest on
its preferred platform, ordering as late as the lead time allows and within the supply; when
no allowed platform can arrive in time it buys anyway, and :func:`planner.verify.verify_plan`
reports the violation. Power caps and space limits are not looked at. Baselines are costed with
:func:`planner.results.cost_table` like the optimised plan; the caller verifies them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from planner.demand import peak_demand
from planner.fleet import Fleet
from planner.model import cost_coefficients
from planner.parameters import candidates, inventory_by_quarter, serves_in
from planner.results import Plan, plan_from_decisions, plan_totals
from planner.topology import backups
from planner.verify import verify_plan

Metric = Literal["cost", "power"]
Prefs = Callable[[str, str], list[str]]  # (model_id, region_id) -> platforms, best first
EPS = 1e-9
TOTAL = "total"
UNALLOCATED = "unallocated"


def requirements(fleet: Fleet) -> pd.DataFrame:
    """Return what each (model, region, quarter) must provision to meet demand and DR.

    Returns:
        Columns model_id, region_id, quarter, need_qps (latency-bounded qps at 100 %
        utilisation), min_replicas (only where the model has local demand).
    """
    s = fleet.settings
    demand = peak_demand(fleet)
    peak = {
        (m, r, int(t)): q
        for m, r, t, q in demand[["model_id", "region_id", "quarter", "peak_qps"]].itertuples(
            index=False
        )
    }
    extra = _dr_extra(fleet, peak) if s.disaster_recovery.enabled else {}
    mins = fleet.models.set_index("model_id")["min_replicas"]
    rows = []
    for key in sorted(set(peak) | set(extra)):
        local = peak.get(key, 0.0)
        need = max(
            local / s.target_utilization,
            (local + extra.get(key, 0.0)) / s.disaster_recovery.emergency_utilization
            if key in extra
            else 0.0,
        )
        rows.append((*key, need, int(mins[key[0]]) if local > 0 else 0))
    return pd.DataFrame(
        rows, columns=["model_id", "region_id", "quarter", "need_qps", "min_replicas"]
    )


def _dr_extra(fleet: Fleet, peak: dict[tuple, float]) -> dict[tuple, float]:
    """Return the largest even share of a lost region's peak each backup region must absorb."""
    phases = fleet.models.set_index("model_id")["phase"]
    dr_phases = fleet.settings.disaster_recovery.phases
    backup = backups(fleet)
    extra: dict[tuple, float] = {}
    for (m, f, t), lost in peak.items():
        survivors = backup.get(f, [])
        if phases[m] not in dr_phases or not survivors:
            continue
        for r in survivors:
            extra[(m, r, t)] = max(extra.get((m, r, t), 0.0), lost / len(survivors))
    return extra


def greedy_plan(fleet: Fleet, metric: Metric = "cost") -> Plan:
    """Put each model on the platform with the best throughput per dollar (or per watt).

    Args:
        fleet: The fleet.
        metric: ``cost``: qps per USD of a server's horizon cost (capex plus running cost for
            ``min(lifetime, horizon)`` quarters in that region); ``power``: qps per watt.

    Returns:
        The baseline plan (not verified; call :func:`planner.verify.verify_plan`).
    """
    if metric not in ("cost", "power"):
        raise ValueError(f"metric must be 'cost' or 'power', not '{metric}'")
    return _greedy(_Context.of(fleet), metric)


def _greedy(ctx: _Context, metric: Metric) -> Plan:
    ranked = _ranked(ctx, metric)
    return _to_plan(ctx, f"greedy_{metric}", _run(ctx, lambda m, r: ranked.get((m, r), [])))


def cpu_only_plan(fleet: Fleet) -> Plan:
    """Serve every model on CPU servers only: the best CPU per dollar, CPU inventory first.

    Models without a CPU profile are left unserved; verification reports their demand.
    """
    return _cpu_only(_Context.of(fleet))


def _cpu_only(ctx: _Context) -> Plan:
    ranked = _ranked(ctx, "cost", classes=("cpu",))
    return _to_plan(ctx, "cpu_only", _run(ctx, lambda m, r: ranked.get((m, r), [])))


def best_single_platform_plan(fleet: Fleet) -> Plan:
    """Serve each bucket on one platform: the one whose greedy plan for the bucket is cheapest.

    Platforms that cannot serve every model of the bucket are skipped when another can; among
    the rest, a platform whose plan needs no purchase against timing or supply wins over one
    that does, then the cheaper one.
    """
    return _single_platform(_Context.of(fleet))


def _single_platform(ctx: _Context) -> Plan:
    buckets = ctx.fleet.models.set_index("model_id")["bucket"].to_dict()
    pairs = ctx.pairs
    choice: dict[str, str] = {}
    for bucket in sorted({buckets[m] for m in ctx.need["model_id"]}):
        models = {m for m in ctx.need["model_id"] if buckets[m] == bucket}
        scored = []
        for p, group in pairs[pairs["model_id"].isin(models)].groupby("platform_id"):
            probe = _run(ctx, lambda m, r, p=p: [p], models)
            missing = len(models - set(group["model_id"]))
            scored.append((missing, probe.forced, probe.cost(ctx), p))
        if scored:
            choice[bucket] = min(scored)[3]
    state = _run(ctx, lambda m, r: [choice[buckets[m]]] if buckets[m] in choice else [])
    plan = _to_plan(ctx, "single_platform", state)
    plan.summary["platform_by_bucket"] = choice
    return plan


@dataclass(frozen=True)
class _Context:
    """What every baseline of one fleet reads, computed once."""

    fleet: Fleet
    pairs: pd.DataFrame
    need: pd.DataFrame
    coef: dict[str, dict]
    platforms: dict[str, object]  # platform_id -> row (attributes as in platforms.csv)
    spr: dict[tuple[str, str], int]
    replica_qps: dict[tuple[str, str], float]

    @classmethod
    def of(cls, fleet: Fleet) -> _Context:
        pairs = candidates(fleet)
        key = list(zip(pairs["model_id"], pairs["platform_id"], strict=True))
        need = requirements(fleet)
        order = {r: i for i, r in enumerate(fleet.regions["region_id"])}
        need = (
            need.assign(order=need["region_id"].map(order))
            .sort_values(["order", "quarter", "model_id"])
            .drop(columns="order")
        )
        return cls(
            fleet,
            pairs,
            need,
            cost_coefficients(fleet),
            {p.platform_id: p for p in fleet.platforms.itertuples(index=False)},
            dict(zip(key, pairs["servers_per_replica"].astype(int), strict=True)),
            dict(zip(key, pairs["replica_qps"].astype(float), strict=True)),
        )


def _ranked(
    ctx: _Context, metric: Metric, classes: tuple[str, ...] | None = None
) -> dict[tuple[str, str], list[str]]:
    """Return, per (model, region), its usable platforms ordered best first by ``metric``."""
    pairs = ctx.pairs
    if classes is not None:
        pairs = pairs[pairs["platform_class"].isin(classes)]
    coef = ctx.coef
    horizon = ctx.fleet.settings.horizon_quarters
    out: dict[tuple[str, str], list[str]] = {}
    for r in ctx.fleet.regions["region_id"]:
        scored = []
        for c in pairs.itertuples(index=False):
            if metric == "power":
                score = c.qps_per_server / c.power_w
            else:
                quarters = min(int(ctx.platforms[c.platform_id].lifetime_quarters), horizon)
                run = coef["energy"][(c.platform_id, r)] + coef["maintenance"][(c.platform_id, r)]
                cost = coef["capex"][c.platform_id] + quarters * run
                score = c.qps_per_server / cost if cost > 0 else math.inf
            scored.append((c.model_id, -score, c.platform_id))
        for m, _score, p in sorted(scored):
            out.setdefault((m, r), []).append(p)
    return out


@dataclass
class _State:
    """The baseline being built: servers installed, allocated and bought so far."""

    ctx: _Context
    available: dict[tuple, float] = field(default_factory=dict)
    used: dict[tuple, float] = field(default_factory=dict)
    supply_left: dict[tuple[str, int], float] = field(default_factory=dict)
    bought: dict[tuple, int] = field(default_factory=dict)
    replicas: dict[tuple, int] = field(default_factory=dict)
    forced: int = 0
    unserved: set[str] = field(default_factory=set)

    def free(self, p: str, r: str, t: int) -> float:
        return self.available.get((p, r, t), 0.0) - self.used.get((p, r, t), 0.0)

    def order_quarters(self, p: str, t: int) -> list[int]:
        """Return quarters, latest first, in which an order of ``p`` serves quarter ``t``."""
        plat = self.ctx.platforms[p]
        start = max(0, int(plat.available_from_quarter))
        return [
            t0
            for t0 in range(t - int(plat.lead_time_quarters), start - 1, -1)
            if serves_in(plat, t0, t)
        ]

    def buyable(self, p: str, t: int) -> float:
        """Return how many servers of ``p`` can still be bought to serve in quarter ``t``."""
        return sum(self.supply_left.get((p, t0), math.inf) for t0 in self.order_quarters(p, t))

    def buy(self, p: str, r: str, t: int, servers: int, forced: bool = False) -> None:
        """Order ``servers`` of ``p`` for region ``r`` so they serve in ``t``."""
        if forced:
            plat = self.ctx.platforms[p]
            self.forced += 1
            start = max(0, int(plat.available_from_quarter))
            latest = self.ctx.fleet.settings.horizon_quarters - 1
            self._order(p, r, min(max(start, t - int(plat.lead_time_quarters)), latest), servers)
            return
        for t0 in self.order_quarters(p, t):
            take = min(servers, self.supply_left.get((p, t0), math.inf))
            if take > 0:
                self._order(p, r, t0, int(take))
                servers -= int(take)
            if servers <= 0:
                return

    def _order(self, p: str, r: str, t0: int, servers: int) -> None:
        plat = self.ctx.platforms[p]
        self.bought[(p, r, t0)] = self.bought.get((p, r, t0), 0) + servers
        if (p, t0) in self.supply_left:
            self.supply_left[(p, t0)] -= servers
        for t in self.ctx.fleet.quarters:
            if serves_in(plat, t0, t):
                self.available[(p, r, t)] = self.available.get((p, r, t), 0.0) + servers

    def allocate(self, m: str, p: str, r: str, t: int, replicas: int) -> None:
        self.replicas[(m, p, r, t)] = self.replicas.get((m, p, r, t), 0) + replicas
        self.used[(p, r, t)] = self.used.get((p, r, t), 0.0) + replicas * self.ctx.spr[(m, p)]

    def cost(self, ctx: _Context) -> float:
        """Return capex of purchases plus running cost of in-service (allocated) servers."""
        coef = ctx.coef
        capex = sum(n * coef["capex"][p] for (p, _r, _t), n in self.bought.items())
        return capex + sum(
            n * (coef["energy"][(p, r)] + coef["maintenance"][(p, r)])
            for (p, r, _t), n in self.used.items()
        )


def _run(ctx: _Context, prefs: Prefs, models: set[str] | None = None) -> _State:
    """Run the greedy engine with per-(model, region) platform preferences."""
    fleet = ctx.fleet
    state = _State(ctx)
    inv = inventory_by_quarter(fleet)
    state.available = {(p, r, int(t)): float(n) for p, r, t, n in inv.itertuples(index=False)}
    state.supply_left = {
        (p.platform_id, t): float(p.supply_per_quarter)
        for p in ctx.platforms.values()
        if not pd.isna(p.supply_per_quarter)
        for t in fleet.quarters
    }
    for m, r, t, qps, replicas in ctx.need.itertuples(index=False):
        if models is None or m in models:
            _serve(state, m, r, int(t), qps, int(replicas), prefs(m, r))
    return state


def _serve(
    state: _State, m: str, r: str, t: int, qps: float, replicas: int, allowed: list[str]
) -> None:
    """Provision one (model, region, quarter): free servers first, then purchases."""
    spr = state.ctx.spr
    allowed = [p for p in allowed if (m, p) in spr]
    if not allowed:
        state.unserved.add(m)
        return
    for p in allowed:
        if qps <= EPS and replicas <= 0:
            return
        k = min(_wanted(state, m, p, qps, replicas), int(state.free(p, r, t) // spr[(m, p)]))
        qps, replicas = _take(state, m, p, r, t, k, qps, replicas)
    for p in allowed:
        if qps <= EPS and replicas <= 0:
            return
        k = min(
            _wanted(state, m, p, qps, replicas), int(min(state.buyable(p, t), 1e12) // spr[(m, p)])
        )
        if k > 0:
            state.buy(p, r, t, k * spr[(m, p)])
        qps, replicas = _take(state, m, p, r, t, k, qps, replicas)
    if qps > EPS or replicas > 0:
        p = allowed[0]
        k = _wanted(state, m, p, qps, replicas)
        state.buy(p, r, t, k * spr[(m, p)], forced=True)
        _take(state, m, p, r, t, k, qps, replicas)


def _wanted(state: _State, m: str, p: str, qps: float, replicas: int) -> int:
    """Return replicas of ``m`` on ``p`` that cover ``qps`` and ``replicas`` still missing."""
    return max(math.ceil(max(qps, 0.0) / state.ctx.replica_qps[(m, p)] - EPS), replicas, 0)


def _take(
    state: _State, m: str, p: str, r: str, t: int, k: int, qps: float, replicas: int
) -> tuple[float, int]:
    """Allocate ``k`` replicas and return what is still missing."""
    if k <= 0:
        return qps, replicas
    state.allocate(m, p, r, t, k)
    return qps - k * state.ctx.replica_qps[(m, p)], replicas - k


def _to_plan(ctx: _Context, name: str, state: _State) -> Plan:
    """Turn the engine's state into a :class:`Plan` with the optimiser's tables."""
    plan = plan_from_decisions(ctx.fleet, replicas=dict(state.replicas),
                               purchases=dict(state.bought), in_service=dict(state.used))
    plan.summary = _summary(ctx.fleet, name, plan, state)
    return plan


def _summary(fleet: Fleet, name: str, plan: Plan, state: _State) -> dict:
    return {
        "case": fleet.name,
        "status": "baseline",
        "baseline": name,
        "objective": fleet.settings.objective,
        **plan_totals(plan),
        "horizon_quarters": fleet.settings.horizon_quarters,
        "forced_purchases": state.forced,
        "unserved_models": sorted(state.unserved),
    }


def baseline_plans(fleet: Fleet) -> dict[str, Plan]:
    """Return every baseline by name: greedy_cost, greedy_power, cpu_only, single_platform."""
    ctx = _Context.of(fleet)
    return {
        "greedy_cost": _greedy(ctx, "cost"),
        "greedy_power": _greedy(ctx, "power"),
        "cpu_only": _cpu_only(ctx),
        "single_platform": _single_platform(ctx),
    }


def compare_to_baselines(
    fleet: Fleet, plan: Plan, baselines: dict[str, Plan] | None = None
) -> pd.DataFrame:
    """Compare the optimised ``plan`` with each baseline, per bucket and in total.

    Servers and power are taken in each plan's peak-power quarter; TCO over the horizon. A
    bucket's share of a platform's servers, power and running cost in a region and quarter is
    its share of the allocated servers there; its share of capex is its share of the allocated
    server-quarters of that platform and region over the horizon. What no model uses is
    reported as bucket ``unallocated``.

    Args:
        fleet: The fleet the plan was made for (after any scenario).
        plan: The optimised plan.
        baselines: Precomputed baselines by name; :func:`baseline_plans` when absent.

    Returns:
        One row per (bucket, baseline) with bucket ``total`` last: servers, power_kw and
        tco_usd of the optimised plan and the baseline, savings_usd and savings_pct
        (baseline minus optimised, relative to the baseline), power_savings_kw, and the
        baseline's verification (baseline_verified, baseline_violations, baseline_status:
        ``feasible`` or ``infeasible (n violations)``; comparable: whether its saving means
        anything, i.e. the verifier accepts the baseline).
    """
    baselines = baseline_plans(fleet) if baselines is None else baselines
    ours = bucket_breakdown(plan)
    frames = []
    for name, base in baselines.items():
        check = verify_plan(fleet, base)
        merged = ours.merge(
            bucket_breakdown(base), on="bucket", how="outer", suffixes=("_optimised", "_baseline")
        ).fillna(0.0)
        merged.insert(1, "baseline", name)
        merged["savings_usd"] = merged["tco_usd_baseline"] - merged["tco_usd_optimised"]
        merged["savings_pct"] = [
            100.0 * s / b if b > 0 else math.nan
            for s, b in zip(merged["savings_usd"], merged["tco_usd_baseline"], strict=True)
        ]
        merged["power_savings_kw"] = merged["power_kw_baseline"] - merged["power_kw_optimised"]
        merged["baseline_verified"] = check.ok
        merged["baseline_violations"] = len(check.violations)
        # a baseline that breaks constraints is cheaper for it: its saving means nothing
        merged["comparable"] = check.ok
        merged["baseline_status"] = baseline_status(len(check.violations))
        merged["_o"] = merged["bucket"].eq(TOTAL)
        frames.append(merged.sort_values(["_o", "bucket"]).drop(columns="_o"))
    out = pd.concat(frames, ignore_index=True)
    columns = [
        "bucket",
        "baseline",
        "servers_optimised",
        "servers_baseline",
        "power_kw_optimised",
        "power_kw_baseline",
        "tco_usd_optimised",
        "tco_usd_baseline",
        "savings_usd",
        "savings_pct",
        "power_savings_kw",
        "baseline_verified",
        "baseline_violations",
        "baseline_status",
        "comparable",
    ]
    return out[columns]


def baseline_status(violations: int) -> str:
    """Return ``feasible`` or ``infeasible (n violations)`` for a baseline."""
    if violations == 0:
        return "feasible"
    return f"infeasible ({violations} violation{'s' if violations != 1 else ''})"


def savings_overview(savings: pd.DataFrame) -> pd.DataFrame:
    """Return one row per baseline (its ``total`` bucket) of :func:`compare_to_baselines`.

    A baseline the verifier rejects is not a plan: its saving is reported as not comparable
    (NaN), whatever its cost.

    Returns:
        Columns baseline, baseline_status, tco_usd_baseline, savings_usd, savings_pct,
        comparable.
    """
    totals = savings[savings["bucket"] == TOTAL]
    out = totals[["baseline", "baseline_status", "tco_usd_baseline", "savings_usd",
                  "savings_pct", "comparable"]].reset_index(drop=True)
    bad = ~out["comparable"].astype(bool)
    out.loc[bad, ["savings_usd", "savings_pct"]] = math.nan
    return out


def bucket_breakdown(plan: Plan) -> pd.DataFrame:
    """Return servers and power (peak-power quarter) and TCO per bucket, plus ``total``.

    See :func:`compare_to_baselines` for how shared servers are attributed.
    """
    key = ["platform_id", "region_id", "quarter"]
    alloc = plan.allocation.groupby(["bucket", *key], as_index=False)["servers"].sum()
    share = alloc.assign(share=alloc["servers"] / alloc.groupby(key)["servers"].transform("sum"))
    per_quarter = plan.power.groupby("quarter")["power_kw"].sum()
    peak_t = int(per_quarter.idxmax()) if len(per_quarter) else 0
    fleet = plan.fleet.set_index(key)
    costs = plan.costs.set_index(key)
    running = (costs["energy_usd"] + costs["maintenance_usd"]).to_dict()
    server_quarters = alloc.groupby(["bucket", "platform_id", "region_id"])["servers"].sum()
    life_share = (
        server_quarters / server_quarters.groupby(["platform_id", "region_id"]).transform("sum")
    ).to_dict()
    capex = plan.costs.groupby(["platform_id", "region_id"])["capex_usd"].sum().to_dict()
    rows: dict[str, list[float]] = {}
    for b, p, r, t, servers, s in share[["bucket", *key, "servers", "share"]].itertuples(
        index=False
    ):
        acc = rows.setdefault(b, [0.0, 0.0, 0.0])
        acc[2] += s * running.get((p, r, t), 0.0)
        if t == peak_t:
            acc[0] += servers
            acc[1] += s * float(fleet["facility_kw"].get((p, r, t), 0.0))
    for (b, p, r), s in life_share.items():
        rows.setdefault(b, [0.0, 0.0, 0.0])[2] += s * capex.get((p, r), 0.0)
    total = [
        float(plan.fleet.loc[plan.fleet["quarter"] == peak_t, "in_service_servers"].sum()),
        float(per_quarter.max()) if len(per_quarter) else 0.0,
        plan.total_cost_usd,
    ]
    rest = [total[i] - sum(v[i] for v in rows.values()) for i in range(3)]
    if any(abs(v) > 1e-6 * max(1.0, abs(total[i])) for i, v in enumerate(rest)):
        rows[UNALLOCATED] = rest
    rows[TOTAL] = total
    return pd.DataFrame(
        [(b, *v) for b, v in rows.items()], columns=["bucket", "servers", "power_kw", "tco_usd"]
    )
