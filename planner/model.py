"""The capacity-planning integer program, built with PuLP.

Sets: models m, platforms p, regions r, quarters t; a model only gets variables on the
platforms it has a usable profile for (:func:`planner.parameters.candidates`).

Decisions: replicas ``x[m,p,r,t]`` (integer in ``dedicated`` allocation), purchases
``b[p,r,t]`` ordered in quarter t (integer, in service after the lead time), in-service
servers ``y[p,r,t]``.

Units inside the model are scaled so that coefficients stay within a few orders of magnitude
(SOLVER_NOTES pitfall 9): cost in kUSD, power in kW, and each demand row divided by the
throughput of the model's largest replica, so its right-hand side is in "replicas".
``rhs_scale`` gives a row's user units per model unit (queries/s per scaled demand unit; 1 for
kW, RU, servers and replicas): slack in user units is ``slack * rhs_scale`` and a dual in USD
per user unit is ``pi / USD_SCALE / rhs_scale``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import pulp

from planner.demand import peak_demand
from planner.diurnal import layout as diurnal
from planner.fleet import Fleet
from planner.parameters import (
    candidates,
    inventory_by_quarter,
    order_quarters,
    power_caps,
    running_cost_per_quarter,
    serves_in,
)
from planner.topology import backups

USD_SCALE = 1e-3  # objective in kUSD
# Tie-breaks (secondary objectives) are scaled from the data so that they can never move the
# primary objective by more than this relative amount: a tenth of the smallest gap the shipped
# cases use, and large enough that HiGHS (optimality tolerance 1e-7) still sees them.
TIE_BREAK_TOLERANCE = 1e-5
# Elastic (explain-infeasibility) penalties, in kUSD per unit of slack. A cap may move only to
# serve demand, never instead of spending money, so a cap's kW, RU or server is priced far
# above any server; unserved demand (per largest replica's throughput) far above any cap move.
CAP_PENALTY_KUSD = 1e4
UNSERVED_PENALTY_KUSD = 1e8

Key = tuple


@dataclass
class PlanningModel:
    """A built model: the PuLP problem plus our own indices of its variables and rows."""

    fleet: Fleet
    prob: pulp.LpProblem
    candidates: pd.DataFrame
    demand: pd.DataFrame
    x: dict[Key, pulp.LpVariable] = field(default_factory=dict)
    b: dict[Key, pulp.LpVariable] = field(default_factory=dict)
    y: dict[Key, pulp.LpVariable] = field(default_factory=dict)
    slack: dict[tuple[str, Key], pulp.LpVariable] = field(default_factory=dict)
    rows: dict[str, tuple[str, Key]] = field(default_factory=dict)
    rhs_scale: dict[str, float] = field(default_factory=dict)
    elastic: frozenset[str] = frozenset()
    build_seconds: float = 0.0
    _pending: dict[str, pulp.LpConstraint] = field(default_factory=dict)

    @property
    def variables(self) -> list[pulp.LpVariable]:
        """Return every variable, in build order (cheaper than ``prob.variables()``)."""
        return [*self.x.values(), *self.b.values(), *self.y.values(), *self.slack.values()]

    def add_row(
        self,
        family: str,
        key: Key,
        expr: pulp.LpAffineExpression,
        sense: int,
        rhs: float,
        scale: float = 1.0,
    ) -> None:
        """Queue constraint ``expr (sense) rhs`` named ``<family>_<ids>``; elastic adds slack."""
        name = "_".join([family, *(str(k) for k in key)])
        if family in self.elastic:
            s = self.prob.add_variable(f"slack_{name}", lowBound=0)
            self.slack[(family, key)] = s
            expr = pulp.LpAffineExpression([*expr.items(), (s, float(sense))])
        self._pending[name] = pulp.LpConstraint(expr, sense, name=name, rhs=rhs)
        self.rows[name] = (family, key)
        self.rhs_scale[name] = scale

    def flush(self) -> None:
        """Add all queued constraints to the problem in one call (much faster than +=)."""
        self.prob.extend(self._pending)
        self._pending = {}


# Families whose rows can get a penalised slack in the elastic (explain-infeasibility) model; a
# ">=" row gets +slack and a "<=" row gets -slack, so slack measures the shortfall or excess.
# Demand families say what cannot be served; cap families what would have to move.
DEMAND_FAMILIES = frozenset({"demand", "dr", "minrep"})
CAP_FAMILIES = frozenset({"power", "space", "supply"})
ELASTIC_FAMILIES = DEMAND_FAMILIES | CAP_FAMILIES


def build_model(fleet: Fleet, elastic: bool | frozenset[str] = False) -> PlanningModel:
    """Build the capacity-planning ILP of ``fleet``.

    Reads as a table of contents: each ``add_*`` function adds one family of variables or
    constraints and documents its inequality.

    Args:
        fleet: A checked fleet.
        elastic: Families whose rows get penalised slack (``True``: all of
            :data:`ELASTIC_FAMILIES`), so the slack shows what falls short. Unserved demand
            is priced far above a moved cap, and a moved cap far above any server, so with
            only :data:`DEMAND_FAMILIES` the slack is the demand that cannot be served under
            the caps, and with all families the caps that would have to move to serve it.
    """
    start = time.perf_counter()
    prob = pulp.LpProblem(f"fleet_{fleet.name}", pulp.LpMinimize)
    families = ELASTIC_FAMILIES if elastic is True else frozenset(elastic or ())
    unknown = families - ELASTIC_FAMILIES
    if unknown:
        raise ValueError(f"no elastic rows for {sorted(unknown)}; use {sorted(ELASTIC_FAMILIES)}")
    model = PlanningModel(fleet, prob, candidates(fleet), peak_demand(fleet), elastic=families)
    add_replica_variables(model)
    add_purchase_variables(model)
    add_in_service_variables(model)
    add_demand_constraints(model)
    add_min_replica_constraints(model)
    add_disaster_recovery_constraints(model)
    add_volume_constraints(model)
    add_capacity_constraints(model)
    add_availability_constraints(model)
    add_power_constraints(model)
    add_space_constraints(model)
    add_supply_constraints(model)
    set_objective(model)
    model.flush()
    model.build_seconds = time.perf_counter() - start
    return model


def _active_cells(model: PlanningModel) -> pd.DataFrame:
    """Return the (model, region, quarter) cells that need replicas (local or DR demand)."""
    dem = model.demand
    if dem.empty:
        return dem.assign(need=[])
    fleet = model.fleet
    dr = fleet.settings.disaster_recovery
    models_t = dem[["model_id", "quarter"]].drop_duplicates()
    local = dem[["model_id", "region_id", "quarter"]]
    if dr.enabled:
        phases = fleet.models.set_index("model_id")["phase"]
        dr_models = models_t[models_t["model_id"].map(phases).isin(dr.phases)]
        regions = fleet.regions[["region_id"]]
        local = pd.concat([local, dr_models.merge(regions, how="cross")], ignore_index=True)
    if diurnal.is_slotted(fleet):
        local = pd.concat([local, diurnal.volume_cells(fleet)], ignore_index=True)
    return local.drop_duplicates().sort_values(["model_id", "region_id", "quarter"])


def add_replica_variables(model: PlanningModel) -> None:
    """Add replicas x[m,p,r,t] >= 0 (integer when allocation is dedicated).

    Only for usable (model, platform) pairs and cells where the model has local or DR demand.
    """
    cat = "Integer" if model.fleet.settings.allocation == "dedicated" else "Continuous"
    cells = _active_cells(model)
    pairs = cells.merge(model.candidates[["model_id", "platform_id"]], on="model_id")
    add = model.prob.add_variable
    for m, r, t, p in zip(
        pairs["model_id"], pairs["region_id"], pairs["quarter"], pairs["platform_id"], strict=True
    ):
        model.x[(m, p, r, int(t))] = add(f"x_{m}_{p}_{r}_{t}", lowBound=0, cat=cat)


def add_purchase_variables(model: PlanningModel) -> None:
    """Add purchases b[p,r,t] >= 0 integer, ordered in t, only where they can arrive in time.

    Upper bound: the platform's supply per quarter (the shared limit is a constraint), except
    where supply rows are elastic: there the bound would hide what the supply has to grow by.
    """
    fleet = model.fleet
    horizon = fleet.settings.horizon_quarters
    for p in fleet.platforms.itertuples(index=False):
        bounded = not pd.isna(p.supply_per_quarter) and "supply" not in model.elastic
        upper = float(p.supply_per_quarter) if bounded else None
        for t in order_quarters(p, horizon):
            for r in fleet.regions["region_id"]:
                model.b[(p.platform_id, r, t)] = model.prob.add_variable(
                    f"b_{p.platform_id}_{r}_{t}", lowBound=0, upBound=upper, cat="Integer"
                )


def add_in_service_variables(model: PlanningModel) -> None:
    """Add in-service servers y[p,r,t] >= 0 where servers can exist (inventory or purchases).

    Integer in pooled allocation; continuous in dedicated allocation, where y >= sum of whole
    replicas makes every optimal y whole anyway and the solver branches less.
    """
    fleet = model.fleet
    cat = "Continuous" if fleet.settings.allocation == "dedicated" else "Integer"
    inv = inventory_by_quarter(fleet)
    keys = set(zip(inv["platform_id"], inv["region_id"], inv["quarter"], strict=True))
    platforms = fleet.platforms.set_index("platform_id")
    for p, r, t0 in model.b:
        plat = platforms.loc[p]
        keys |= {(p, r, t) for t in fleet.quarters if serves_in(plat, t0, t)}
    for p, r, t in sorted(keys):
        model.y[(p, r, int(t))] = model.prob.add_variable(f"y_{p}_{r}_{t}", lowBound=0, cat=cat)


def add_demand_constraints(model: PlanningModel) -> None:
    """Demand within SLO: sum_p replica_qps[m,p] * u * x[m,p,r,t] >= peak[m,r,t].

    u is the target utilisation; each row is divided by the model's largest u * replica_qps.
    """
    util = model.fleet.settings.target_utilization
    cap = _replica_capacity(model, util)
    for d in model.demand.itertuples(index=False):
        terms = [
            (model.x[(d.model_id, p, d.region_id, d.quarter)], c)
            for p, c in cap.get(d.model_id, {}).items()
            if (d.model_id, p, d.region_id, d.quarter) in model.x
        ]
        top = max((c for _, c in terms), default=1.0)
        model.add_row(
            "demand",
            (d.model_id, d.region_id, d.quarter),
            pulp.LpAffineExpression([(v, c / top) for v, c in terms]),
            pulp.LpConstraintGE,
            d.peak_qps / top,
            scale=top,
        )


def add_min_replica_constraints(model: PlanningModel) -> None:
    """Minimum replicas: sum_p x[m,p,r,t] >= min_replicas[m] wherever m has demand in r, t."""
    mins = model.fleet.models.set_index("model_id")["min_replicas"]
    plats = model.candidates.groupby("model_id")["platform_id"].apply(list).to_dict()
    for d in model.demand.itertuples(index=False):
        need = int(mins[d.model_id])
        if need <= 0:
            continue
        terms = [
            (model.x[k], 1.0)
            for p in plats.get(d.model_id, [])
            if (k := (d.model_id, p, d.region_id, d.quarter)) in model.x
        ]
        model.add_row(
            "minrep",
            (d.model_id, d.region_id, d.quarter),
            pulp.LpAffineExpression(terms),
            pulp.LpConstraintGE,
            need,
        )


def add_disaster_recovery_constraints(model: PlanningModel) -> None:
    """Disaster recovery: with region f lost, its backups B(f) carry their demand and f's.

    sum_{r in B(f)} sum_p replica_qps * u_e * x[m,p,r,t] >= sum_{r in B(f)} peak[m,r,t]
    + peak[m,f,t], for every DR-phase model m, region f where m has demand, and quarter t.
    u_e is the emergency utilisation.
    """
    fleet = model.fleet
    dr = fleet.settings.disaster_recovery
    if not dr.enabled or model.demand.empty:
        return
    phases = fleet.models.set_index("model_id")["phase"]
    cap = _replica_capacity(model, dr.emergency_utilization)
    peak = model.demand.set_index(["model_id", "region_id", "quarter"])["peak_qps"].to_dict()
    backup = backups(fleet)
    for (m, f, t), lost in peak.items():
        if phases[m] not in dr.phases:
            continue
        survivors = backup.get(f, [])
        terms = [
            (model.x[k], c)
            for r in survivors
            for p, c in cap.get(m, {}).items()
            if (k := (m, p, r, t)) in model.x
        ]
        top = max((c for _, c in terms), default=1.0)
        rhs = lost + sum(peak.get((m, r, t), 0.0) for r in survivors)
        model.add_row(
            "dr",
            (m, f, t),
            pulp.LpAffineExpression([(v, c / top) for v, c in terms]),
            pulp.LpConstraintGE,
            rhs / top,
            scale=top,
        )


def add_volume_constraints(model: PlanningModel) -> None:
    """Daily volume of movable training (slotted fleets), over the n slots of a day.

    sum_s sum_p (1/n) * replica_qps[c_s,p] * u * x[c_s,p,r,t] >= mean_qps[m,r,t],
    with c_s the copy of training model m in slot s and mean_qps its daily volume as a rate;
    each row is divided by the model's largest u * replica_qps.
    """
    fleet = model.fleet
    vol = diurnal.volumes(fleet)
    if vol.empty:
        return
    n = diurnal.slot_count(fleet)
    cap = _replica_capacity(model, fleet.settings.target_utilization / n)
    copies = diurnal.volume_copies(fleet)
    for v in vol.itertuples(index=False):
        m, r, t = v.base_model_id, v.region_id, int(v.quarter)
        terms = [
            (model.x[k], c)
            for copy in copies[m]
            for p, c in cap.get(copy, {}).items()
            if (k := (copy, p, r, t)) in model.x
        ]
        top = max((c for _, c in terms), default=1.0)
        model.add_row(
            "volume",
            (m, r, t),
            pulp.LpAffineExpression([(x, c / top) for x, c in terms]),
            pulp.LpConstraintGE,
            float(v.mean_qps) / top,
            scale=top,
        )


def add_capacity_constraints(model: PlanningModel) -> None:
    """Fleet capacity: sum_m servers_per_replica[m,p] * x[m,p,r,t] <= y[p,r,t].

    In a slotted fleet one row per slot s: the models of slot s and those that run all day.
    """
    spr = model.candidates.set_index(["model_id", "platform_id"])["servers_per_replica"].to_dict()
    slots = diurnal.model_slots(model.fleet)
    n_slots = diurnal.slot_count(model.fleet)
    groups: dict[Key, list[tuple[pulp.LpVariable, float]]] = {}
    for (m, p, r, t), var in model.x.items():
        if slots:
            for s in diurnal.slots_of(slots[m], n_slots):
                groups.setdefault((p, r, t, s), []).append((var, float(spr[(m, p)])))
        else:
            groups.setdefault((p, r, t), []).append((var, float(spr[(m, p)])))
    for key, terms in sorted(groups.items()):
        y = model.y.get(key[:3])
        expr_terms = terms + ([(y, -1.0)] if y is not None else [])
        model.add_row(
            "capacity",
            key,
            pulp.LpAffineExpression(expr_terms),
            pulp.LpConstraintLE,
            0.0,
        )


def add_availability_constraints(model: PlanningModel) -> None:
    """Installed fleet: y[p,r,t] <= inventory[p,r,t] + sum of purchases in service at t."""
    fleet = model.fleet
    inv = inventory_by_quarter(fleet).set_index(["platform_id", "region_id", "quarter"])
    inv = inv["servers"].to_dict()
    platforms = fleet.platforms.set_index("platform_id")
    orders: dict[tuple[str, str], list[int]] = {}
    for p, r, t0 in model.b:
        orders.setdefault((p, r), []).append(t0)
    for (p, r, t), y in model.y.items():
        plat = platforms.loc[p]
        terms = [(y, 1.0)] + [
            (model.b[(p, r, t0)], -1.0) for t0 in orders.get((p, r), []) if serves_in(plat, t0, t)
        ]
        model.add_row(
            "available",
            (p, r, t),
            pulp.LpAffineExpression(terms),
            pulp.LpConstraintLE,
            float(inv.get((p, r, t), 0)),
        )


def add_power_constraints(model: PlanningModel) -> None:
    """Power: sum_p y[p,r,t] * power_w[p] / 1000 * PUE[r] <= cap_kw[r,t] (facility kW)."""
    fleet = model.fleet
    kw = running_cost_per_quarter(fleet).set_index(["platform_id", "region_id"])["facility_kw"]
    caps = power_caps(fleet).set_index(["region_id", "quarter"])["cap_kw"].to_dict()
    groups: dict[Key, list[tuple[pulp.LpVariable, float]]] = {}
    for (p, r, t), y in model.y.items():
        groups.setdefault((r, t), []).append((y, float(kw[(p, r)])))
    for (r, t), terms in sorted(groups.items()):
        model.add_row(
            "power",
            (r, t),
            pulp.LpAffineExpression(terms),
            pulp.LpConstraintLE,
            caps[(r, t)],
        )


def add_space_constraints(model: PlanningModel) -> None:
    """Space: sum_p y[p,r,t] * rack_units[p] <= space_limit_ru[r], where a limit is set."""
    fleet = model.fleet
    limits = fleet.regions.set_index("region_id")["space_limit_ru"].dropna().to_dict()
    if not limits:
        return
    ru = fleet.platforms.set_index("platform_id")["rack_units"].to_dict()
    groups: dict[Key, list[tuple[pulp.LpVariable, float]]] = {}
    for (p, r, t), y in model.y.items():
        if r in limits:
            groups.setdefault((r, t), []).append((y, float(ru[p])))
    for (r, t), terms in sorted(groups.items()):
        model.add_row(
            "space",
            (r, t),
            pulp.LpAffineExpression(terms),
            pulp.LpConstraintLE,
            float(limits[r]),
        )


def add_supply_constraints(model: PlanningModel) -> None:
    """Supply: sum_r b[p,r,t] <= supply_per_quarter[p], for platforms with a supply limit."""
    supply = model.fleet.platforms.set_index("platform_id")["supply_per_quarter"].dropna()
    if supply.empty:
        return
    groups: dict[Key, list[tuple[pulp.LpVariable, float]]] = {}
    for (p, _r, t), b in model.b.items():
        if p in supply.index:
            groups.setdefault((p, t), []).append((b, 1.0))
    for (p, t), terms in sorted(groups.items()):
        model.add_row(
            "supply",
            (p, t),
            pulp.LpAffineExpression(terms),
            pulp.LpConstraintLE,
            float(supply[p]),
        )


def cost_coefficients(fleet: Fleet) -> dict[str, dict]:
    """Return the USD cost of one purchase and of one in-service server-quarter, per key."""
    capex = fleet.platforms.set_index("platform_id")["capex_usd"].to_dict()
    run = running_cost_per_quarter(fleet)
    energy = run.set_index(["platform_id", "region_id"])["energy_usd"].to_dict()
    maint = run.set_index(["platform_id", "region_id"])["maintenance_usd"].to_dict()
    kw = run.set_index(["platform_id", "region_id"])["facility_kw"].to_dict()
    return {"capex": capex, "energy": energy, "maintenance": maint, "facility_kw": kw}


@dataclass(frozen=True)
class ObjectiveWeights:
    """Objective coefficients in model units (kUSD for tco and capex, kW for power).

    Attributes:
        purchase: Per server ordered, by platform.
        in_service: Per server in service for a quarter, by (platform, region).
        allocated: Per server that replicas occupy for a quarter, by (platform, region); a
            replica's column costs ``servers_per_replica`` times this.
    """

    purchase: dict[str, float]
    in_service: dict[tuple[str, str], float]
    allocated: dict[tuple[str, str], float]


def objective_weights(fleet: Fleet) -> ObjectiveWeights:
    """Return the objective's coefficients: the settings' objective plus scaled tie-breaks.

    Tie-breaks are lexicographic in effect: each is scaled from the data so that it can never
    move the primary objective by more than :data:`TIE_BREAK_TOLERANCE` (relative).

    - Every objective breaks ties on servers: ``d[p,r]`` per in-service and per allocated
      server-quarter keeps idle servers out of service and allocation minimal.
      ``d = tol / 2 * running cost`` (or, for servers that cost nothing to run, ``tol / 2``
      times the cheapest positive running or per-quarter capex cost), so on ``tco`` the
      tie-break of any plan is at most ``tol`` times its running cost.
    - ``power``: facility kW-quarters, then TCO weighted by ``tol / R`` with ``R`` the largest
      TCO per kW-quarter of one server-quarter (its capex, running cost and ``2 d``, per
      facility kW). A plan with least tie-break never buys a server it never runs, so its
      TCO is at most ``R`` times its kW-quarters, and no tie-break can buy more than ``tol``
      of the power objective.
    - ``capex``: purchases, then running cost weighted so that the running cost of every
      installed server and of every server the purchases can buy, over the horizon, is at
      most ``tol / 2`` of the cheapest purchase.
    """
    coef = cost_coefficients(fleet)
    tol = TIE_BREAK_TOLERANCE
    capex = {p: float(v) for p, v in coef["capex"].items()}
    run = {k: float(coef["energy"][k] + coef["maintenance"][k]) for k in coef["energy"]}
    kw = {k: float(v) for k, v in coef["facility_kw"].items()}
    life = fleet.platforms.set_index("platform_id")["lifetime_quarters"].to_dict()
    positive = [v for v in run.values() if v > 0] + [
        capex[p] / max(int(life[p]), 1) for p in capex if capex[p] > 0
    ]
    free = min(positive, default=1.0)
    tie = {k: tol / 2 * (v if v > 0 else free) for k, v in run.items()}
    objective = fleet.settings.objective
    if objective == "tco":
        return ObjectiveWeights(
            purchase={p: c * USD_SCALE for p, c in capex.items()},
            in_service={k: (run[k] + tie[k]) * USD_SCALE for k in run},
            allocated={k: tie[k] * USD_SCALE for k in run},
        )
    if objective == "power":
        worst = max(
            (
                (capex[p] + run[(p, r)] + 2 * tie[(p, r)]) / kw[(p, r)]
                for p, r in run
                if kw[(p, r)] > 0
            ),
            default=1.0,
        )
        eps = tol / max(worst, 1e-12)  # kW per USD of tie-break
        return ObjectiveWeights(
            purchase={p: eps * c for p, c in capex.items()},
            in_service={k: kw[k] + eps * (run[k] + tie[k]) for k in run},
            allocated={k: eps * tie[k] for k in run},
        )
    # capex: the running cost of the most servers a plan can run, against the cheapest purchase
    cheapest = min((c for c in capex.values() if c > 0), default=1.0)
    inventory = float(inventory_by_quarter(fleet)["servers"].sum())
    horizon = fleet.settings.horizon_quarters
    most = max((run[k] + 2 * tie[k] for k in run), default=1.0)
    eps = tol / 2 * cheapest / (max(most, 1e-12) * max(inventory, horizon, 1.0))
    return ObjectiveWeights(
        purchase={p: c * USD_SCALE for p, c in capex.items()},
        in_service={k: eps * (run[k] + tie[k]) * USD_SCALE for k in run},
        allocated={k: eps * tie[k] * USD_SCALE for k in run},
    )


def set_objective(model: PlanningModel) -> None:
    """Minimise the settings' objective plus tie-breaks (:func:`objective_weights`).

    Elastic slack is priced by :data:`UNSERVED_PENALTY_KUSD` (demand families) or
    :data:`CAP_PENALTY_KUSD` (cap families).
    """
    weights = objective_weights(model.fleet)
    terms: list[tuple[pulp.LpVariable, float]] = []
    for (p, _r, _t), b in model.b.items():
        terms.append((b, weights.purchase[p]))
    for (p, r, _t), y in model.y.items():
        terms.append((y, weights.in_service[(p, r)]))
    spr = model.candidates.set_index(["model_id", "platform_id"])["servers_per_replica"].to_dict()
    for (m, p, r, _t), x in model.x.items():
        terms.append((x, weights.allocated[(p, r)] * spr[(m, p)]))
    for (family, _key), s in model.slack.items():
        price = UNSERVED_PENALTY_KUSD if family in DEMAND_FAMILIES else CAP_PENALTY_KUSD
        terms.append((s, price))
    model.prob.setObjective(pulp.LpAffineExpression(terms))


def _replica_capacity(model: PlanningModel, utilization: float) -> dict[str, dict[str, float]]:
    """Return usable queries/s of one replica, by model and platform, at ``utilization``."""
    out: dict[str, dict[str, float]] = {}
    for c in model.candidates.itertuples(index=False):
        out.setdefault(c.model_id, {})[c.platform_id] = float(c.replica_qps) * utilization
    return out
