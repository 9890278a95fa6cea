"""Regression on the bundled default fleet, checked against numbers derived in this file.

Nothing here is "locked from a run". The default case's CSV tables and settings.yaml are read
with pandas, and the test recomputes from them on its own:

* peak demand per model, region and quarter (products → call graph → regional shares);
* which platforms each model can run on (a profile row whose memory fits ``max_shards``
  servers: ``dlrm_ads`` spans 2 two-socket servers), installed inventory per quarter, power
  caps per quarter,
  when an order arrives and what a server costs to run;
* the linear-programming relaxation of the plan (continuous servers, every constraint family),
  written here with :func:`scipy.optimize.linprog`. Its optimum is a lower bound on any plan's
  cost, and it must equal the planner's own LP bound up to the planner's one-cent tie-break.

The plan is then checked against these numbers (demand served at the target utilisation,
orders arriving after their lead time, power within every cap) rather than against itself.
Solves are outcome-based: the first plan of the anytime path is limited by work, not by the
clock, so its cost and gap do not depend on how busy the machine is.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

import planner as pl

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "fleet_data" / "default"
HOURS_PER_QUARTER = 8_760 / 4
SECONDS_PER_DAY = 86_400
TOL = 1e-6


# ----------------------------------------------------------------------------------------------
# The default case, recomputed from its files


@dataclass(frozen=True)
class Case:
    """The default case's inputs as plain pandas and dicts, read straight from the files."""

    settings: dict
    platforms: pd.DataFrame  # indexed by platform_id
    models: pd.DataFrame  # indexed by model_id
    regions: pd.DataFrame  # indexed by region_id
    profiles: pd.DataFrame
    inventory: pd.DataFrame
    caps: pd.DataFrame
    topology: pd.DataFrame
    demand: dict[tuple[str, str, int], float]  # (model, region, quarter) -> peak qps

    @property
    def horizon(self) -> int:
        return int(self.settings["horizon_quarters"])

    def usable(self) -> pd.DataFrame:
        """Return (model, platform, qps, shards) for profiles whose model fits its servers.

        A replica spans ``shards`` = ceil(memory / one server's memory) servers, at most the
        model's ``max_shards``; each of them serves ``qps_per_server`` (the schema's rule).
        """
        rows = self.profiles.join(self.models[["memory_gb", "max_shards"]], on="model_id").join(
            self.platforms[["host_memory_gb", "accel_memory_gb"]], on="platform_id"
        )
        one = rows["host_memory_gb"] + rows["accel_memory_gb"]
        rows["shards"] = np.ceil(rows["memory_gb"] / one - 1e-9).clip(lower=1).astype(int)
        fits = rows["shards"] <= rows["max_shards"]
        return rows.loc[fits, ["model_id", "platform_id", "qps_per_server", "shards"]]

    def installed(self, platform_id: str, region_id: str, quarter: int) -> int:
        """Return inventory servers still installed (``retire_quarter`` is the first without)."""
        inv = self.inventory
        rows = inv[(inv["platform_id"] == platform_id) & (inv["region_id"] == region_id)]
        alive = rows["retire_quarter"].isna() | (quarter < rows["retire_quarter"])
        return int(rows.loc[alive, "servers"].sum())

    def cap_kw(self, region_id: str, quarter: int) -> float:
        """Return the power cap: the latest region_power_caps row at or before ``quarter``."""
        rows = self.caps[(self.caps["region_id"] == region_id) & (self.caps["quarter"] <= quarter)]
        if len(rows):
            return float(rows.sort_values("quarter")["power_cap_kw"].iloc[-1])
        return float(self.regions.at[region_id, "power_cap_kw"])

    def facility_kw(self, platform_id: str, region_id: str) -> float:
        """Return one server's provisioned facility power (kW, PUE included)."""
        return self.platforms.at[platform_id, "power_w"] / 1000 * self.regions.at[region_id, "pue"]

    def running_usd(self, platform_id: str, region_id: str) -> float:
        """Return energy plus maintenance of one in-service server for one quarter."""
        energy = (
            self.facility_kw(platform_id, region_id)
            * self.settings["energy_load_factor"]
            * HOURS_PER_QUARTER
            * self.regions.at[region_id, "electricity_usd_per_kwh"]
        )
        return energy + self.platforms.at[platform_id, "maintenance_usd_per_quarter"]

    def order_quarters(self, platform_id: str) -> list[int]:
        """Return the quarters an order can be placed in so that it arrives within the horizon."""
        plat = self.platforms.loc[platform_id]
        start, lead = int(plat["available_from_quarter"]), int(plat["lead_time_quarters"])
        return [t for t in range(start, self.horizon) if t + lead < self.horizon]

    def in_service(self, platform_id: str, order_quarter: int, quarter: int) -> bool:
        """Return whether a server ordered in ``order_quarter`` is in service in ``quarter``."""
        plat = self.platforms.loc[platform_id]
        arrival = order_quarter + int(plat["lead_time_quarters"])
        return arrival <= quarter < arrival + int(plat["lifetime_quarters"])


def _queries_per_request(calls: pd.DataFrame, caller: str) -> dict[str, float]:
    """Return model queries per request of ``caller``, summed over every call path."""
    out: dict[str, float] = {}
    for row in calls[calls["caller_id"] == caller].itertuples(index=False):
        out[row.model_id] = out.get(row.model_id, 0.0) + row.items_per_request
        for model_id, q in _queries_per_request(calls, row.model_id).items():
            out[model_id] = out.get(model_id, 0.0) + row.items_per_request * q
    return out


def _peak_demand(
    products: pd.DataFrame, calls: pd.DataFrame, regions: pd.DataFrame, horizon: int
) -> dict[tuple[str, str, int], float]:
    """Peak qps = daily requests / 86,400 x peak-to-average x (1 + growth)^t x queries per
    request x the region's demand share (product peaks taken as coinciding)."""
    demand: dict[tuple[str, str, int], float] = {}
    for p in products.itertuples(index=False):
        peak = p.daily_requests / SECONDS_PER_DAY * p.peak_to_average
        for model_id, q in _queries_per_request(calls, p.product_id).items():
            for t in range(horizon):
                for region_id, share in regions["demand_share"].items():
                    key = (model_id, region_id, t)
                    rate = peak * (1 + p.growth_per_quarter) ** t * q * share
                    demand[key] = demand.get(key, 0.0) + rate
    return demand


def _profiles_at_slo(rows: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Read profiles.csv as the planner should: one (model, platform, qps) per pair.

    A row with a blank latency_ms is the throughput at the SLO. Curve rows are read at the
    model's SLO, on the curve at its percentile or else the smallest percentile above it:
    linear between bounds, the last value beyond the largest, no row below the smallest.
    """
    slo = models.set_index("model_id")
    out = [rows.loc[rows["latency_ms"].isna(), ["model_id", "platform_id", "qps_per_server"]]]
    curves = rows[rows["latency_ms"].notna()]
    read = []
    for (m, p), g in curves.groupby(["model_id", "platform_id"]):
        bound, pct = slo.at[m, "latency_slo_ms"], slo.at[m, "latency_percentile"]
        above = sorted(q for q in g["percentile"].unique() if q >= pct)
        if not above:
            continue
        g = g[g["percentile"] == above[0]].sort_values("latency_ms")
        if bound < g["latency_ms"].iloc[0]:
            continue
        qps = float(np.interp(bound, g["latency_ms"], g["qps_per_server"]))
        read.append({"model_id": m, "platform_id": p, "qps_per_server": qps})
    out.append(pd.DataFrame(read, columns=["model_id", "platform_id", "qps_per_server"]))
    return pd.concat(out, ignore_index=True)


def _read_case() -> Case:
    def csv(name: str) -> pd.DataFrame:
        return pd.read_csv(DEFAULT / f"{name}.csv")

    settings = yaml.safe_load((DEFAULT / "settings.yaml").read_text(encoding="utf-8"))
    regions = csv("regions").set_index("region_id")
    return Case(
        settings=settings,
        platforms=csv("platforms").set_index("platform_id"),
        models=csv("models").set_index("model_id"),
        regions=regions,
        profiles=_profiles_at_slo(csv("profiles"), csv("models")),
        inventory=csv("inventory"),
        caps=csv("region_power_caps"),
        topology=csv("topology"),
        demand=_peak_demand(
            csv("products"), csv("calls"), regions, int(settings["horizon_quarters"])
        ),
    )


@pytest.fixture(scope="module")
def case() -> Case:
    """The default case, read from its files by this test."""
    return _read_case()


# ----------------------------------------------------------------------------------------------
# An independent LP relaxation


def lp_relaxation_usd(case: Case) -> float:
    """Return the optimum of the plan's LP relaxation, built here with scipy.

    Variables: servers s[m,p,r,t] >= 0 running model m (in service, so they cost energy and
    maintenance) and orders b[p,r,o] >= 0. Rows, all relaxed to continuous servers:

    * demand: sum_p qps * u * s >= peak[m,r,t]; minimum replicas sum_p s / shards >= min_replicas;
    * disaster recovery (inference models): with f lost, sum_{r in B(f)} sum_p qps * u_e * s
      >= peak[m,f,t] + sum_{r in B(f)} peak[m,r,t];
    * servers: sum_m s[m,p,r,t] <= installed[p,r,t] + orders in service at t;
    * power: sum facility kW * s <= cap[r,t]; space: sum rack units * s <= limit[r];
    * supply: sum_r b[p,r,o] <= supply_per_quarter[p].

    Cost: sum capex * b + sum running cost per quarter * s.
    """
    usable = case.usable()
    regions = list(case.regions.index)
    quarters = range(case.horizon)
    u = case.settings["target_utilization"]
    dr = case.settings["disaster_recovery"]
    backups = case.topology.groupby("region_id")["backup_region_id"].apply(list).to_dict()

    cost: list[float] = []
    s: dict[tuple[str, str, str, int], int] = {}
    for row in usable.itertuples(index=False):
        for r in regions:
            for t in quarters:
                s[(row.model_id, row.platform_id, r, t)] = len(cost)
                cost.append(case.running_usd(row.platform_id, r))
    b: dict[tuple[str, str, int], int] = {}
    for p in case.platforms.index:
        for o in case.order_quarters(p):
            for r in regions:
                b[(p, r, o)] = len(cost)
                cost.append(float(case.platforms.at[p, "capex_usd"]))

    rows: list[list[tuple[int, float]]] = []  # every row as "terms <= rhs"
    rhs: list[float] = []

    def le(terms: list[tuple[int, float]], bound: float) -> None:
        rows.append(terms)
        rhs.append(bound)

    qps = (
        usable.groupby("model_id")
        .apply(
            lambda g: dict(zip(g["platform_id"], g["qps_per_server"], strict=True)),
            include_groups=False,
        )
        .to_dict()
    )
    shards = usable.set_index(["model_id", "platform_id"])["shards"].to_dict()
    for (m, r, t), peak in case.demand.items():
        terms = [(s[(m, p, r, t)], -q * u) for p, q in qps[m].items()]
        le(terms, -peak)
        # replicas = servers / shards
        le(
            [(s[(m, p, r, t)], -1.0 / shards[(m, p)]) for p in qps[m]],
            -float(case.models.at[m, "min_replicas"]),
        )
        if dr["enabled"] and case.models.at[m, "phase"] in dr["phases"]:
            survivors = backups.get(r, [])
            le(
                [
                    (s[(m, p, f, t)], -q * dr["emergency_utilization"])
                    for f in survivors
                    for p, q in qps[m].items()
                ],
                -(peak + sum(case.demand.get((m, f, t), 0.0) for f in survivors)),
            )
    servers: dict[tuple[str, str, int], list[int]] = {}
    for (_m, p, r, t), i in s.items():
        servers.setdefault((p, r, t), []).append(i)
    for (p, r, t), idx in servers.items():
        arrived = [
            (j, -1.0)
            for (pp, rr, o), j in b.items()
            if (pp, rr) == (p, r) and case.in_service(p, o, t)
        ]
        le([(i, 1.0) for i in idx] + arrived, case.installed(p, r, t))
    for r in regions:
        for t in quarters:
            here = [(i, key) for key, i in s.items() if key[2:] == (r, t)]
            le([(i, case.facility_kw(key[1], r)) for i, key in here], case.cap_kw(r, t))
            limit = case.regions.at[r, "space_limit_ru"]
            if not math.isnan(limit):
                le([(i, case.platforms.at[key[1], "rack_units"]) for i, key in here], limit)
    for p, supply in case.platforms["supply_per_quarter"].dropna().items():
        for o in case.order_quarters(p):
            le([(b[(p, r, o)], 1.0) for r in regions], supply)

    coo = [(k, i, c) for k, terms in enumerate(rows) for i, c in terms]
    k, i, c = (np.array(v) for v in zip(*coo, strict=True))
    matrix = coo_matrix((c, (k, i)), shape=(len(rows), len(cost))).tocsr()
    result = linprog(cost, A_ub=matrix, b_ub=rhs, bounds=(0, None), method="highs")
    assert result.status == 0, result.message
    return float(result.fun)


# ----------------------------------------------------------------------------------------------
# Plans of the default case


@functools.cache
def first_plan_of(scenario: str | None) -> pl.Plan:
    """The anytime path's first plan: time limit 0, so it depends on work, not on speed."""
    fleet = pl.load_fleet(DEFAULT)
    chosen = None if scenario is None else pl.load_scenarios(DEFAULT)[scenario]
    return pl.make_plan(fleet, chosen, time_limit_s=0)


@pytest.fixture(scope="module")
def first_plan() -> pl.Plan:
    """The default case's first plan (see :func:`first_plan_of`)."""
    return first_plan_of(None)


@pytest.fixture(scope="module")
def plan() -> pl.Plan:
    """The default plan with a time limit far above the measured 0.6-3.6 s of proof."""
    return pl.make_plan(pl.load_fleet(DEFAULT), time_limit_s=120)


def test_independent_lp_relaxation_bounds_the_plan(case, first_plan, plan):
    from planner.optimization.highs import run_highs
    from planner.scale import build_matrix

    lp_usd = lp_relaxation_usd(case)
    # The planner's own model, relaxed, is the same relaxation plus a tie-break of one cent
    # per allocated server-quarter: at most ~10,000 servers x 8 quarters x 0.01 USD = 800 USD,
    # 8e-5 of the ~10 M USD cost (130 USD measured). A model that drops or mis-scales a row
    # or a cost term moves the two apart by far more.
    model_lp_usd = run_highs(build_matrix(pl.load_fleet(DEFAULT))).objective * 1000
    assert lp_usd <= model_lp_usd <= lp_usd + 800
    # The anytime path's LP caps covering coefficients (planner.optimization.strengthen):
    # the same whole plans, so it is at least as strong and still below every plan (0.33 %
    # stronger here, measured).
    planner_lp_usd = first_plan.summary["lp_bound"] * 1000
    assert lp_usd <= planner_lp_usd <= min(first_plan.total_cost_usd, plan.total_cost_usd)
    for p in (first_plan, plan):
        # Any plan costs at least the relaxation; the proven bound is at least the LP.
        assert p.total_cost_usd >= lp_usd * (1 - 1e-6)
        assert p.summary["best_bound"] * 1000 >= lp_usd * (1 - 1e-4)
        assert p.summary["best_bound"] <= p.summary["objective_value"] + 1e-6


def test_first_plan_is_verified_and_within_its_work_limited_gap(case, first_plan):
    s = first_plan.summary
    assert s["verified"] is True
    assert pl.verify_plan(pl.load_fleet(DEFAULT), first_plan).ok
    # Stages 1-4 are bounded by node limits, so this plan and its gap to the LP bound are the
    # same on any machine: 3.45 % measured (HiGHS 1.x), 326 k USD over a 9.45 M USD LP.
    # SOLVER_NOTES: whole replicas and the expensive Zion platform put the best plans above
    # the LP, and the rounding adds about as much again. That overhead is about fixed in USD
    # (384 k USD, 1.7 %, on the 22.3 M USD case before the per-platform ranking rooflines of
    # issue 13 made the installed CPUs cover most ranking work); 4.5 % is the ceiling.
    lp_usd = s["lp_bound"] * 1000
    assert first_plan.total_cost_usd <= lp_usd * 1.045
    assert s["first_plan_objective"] == pytest.approx(s["objective_value"])


def test_improved_plan_is_never_worse_than_the_first(first_plan, plan):
    s = plan.summary
    assert s["verified"] is True
    assert s["status"] in ("optimal", "feasible")
    # Improvement and proof only ever keep a cheaper plan; whether the proof finishes within
    # the time limit depends on the machine, so status "optimal" is not asserted.
    assert s["first_plan_objective"] == pytest.approx(
        first_plan.summary["objective_value"], rel=1e-9
    )
    assert plan.total_cost_usd <= first_plan.total_cost_usd + 1e-6
    assert s["gap"] <= first_plan.summary["gap"] + 1e-9
    if s["status"] == "optimal":
        assert (
            s["gap"]
            <= yaml.safe_load((DEFAULT / "settings.yaml").read_text())["solver"]["mip_gap"] + 1e-9
        )


@pytest.mark.parametrize("which", ["first_plan", "plan"])
def test_every_demand_row_is_served_at_the_target_utilisation(case, which, request):
    alloc = request.getfixturevalue(which).allocation
    qps = case.usable().set_index(["model_id", "platform_id"])["qps_per_server"]
    alloc = alloc.join(qps, on=["model_id", "platform_id"])
    assert alloc["qps_per_server"].notna().all(), "a model runs on a platform it cannot use"
    usable_qps = alloc["servers"] * alloc["qps_per_server"] * case.settings["target_utilization"]
    have = usable_qps.groupby([alloc["model_id"], alloc["region_id"], alloc["quarter"]]).sum()
    assert len(case.demand) == 15 * 3 * 8  # every model has demand in every region and quarter
    for key, peak in case.demand.items():
        assert have.get(key, 0.0) >= peak * (1 - TOL), (key, have.get(key, 0.0), peak)


@pytest.mark.parametrize("which", ["first_plan", "plan"])
def test_every_region_survives_the_loss_of_another(case, which, request):
    """Disaster recovery from the files: with f lost, its backups carry f's demand too."""
    alloc = request.getfixturevalue(which).allocation
    qps = case.usable().set_index(["model_id", "platform_id"])["qps_per_server"]
    alloc = alloc.join(qps, on=["model_id", "platform_id"])
    emergency = case.settings["disaster_recovery"]["emergency_utilization"]
    cap = (
        (alloc["servers"] * alloc["qps_per_server"] * emergency)
        .groupby([alloc["model_id"], alloc["region_id"], alloc["quarter"]])
        .sum()
    )
    inference = case.models.index[case.models["phase"] == "inference"]
    for lost, backups in case.topology.groupby("region_id")["backup_region_id"]:
        for m in inference:
            for t in range(case.horizon):
                need = case.demand[(m, lost, t)] + sum(case.demand[(m, r, t)] for r in backups)
                have = sum(cap.get((m, r, t), 0.0) for r in backups)
                assert have >= need * (1 - TOL), (lost, m, t, have, need)


@pytest.mark.parametrize("which", ["first_plan", "plan"])
def test_orders_arrive_after_their_lead_time_and_fill_the_fleet(case, which, request):
    p = request.getfixturevalue(which)
    for row in p.purchases.itertuples(index=False):
        plat = case.platforms.loc[row.platform_id]
        assert row.arrival_quarter == row.order_quarter + plat["lead_time_quarters"]
        assert row.order_quarter >= plat["available_from_quarter"]
        assert row.arrival_quarter < case.horizon
        assert row.servers == int(row.servers) > 0
        assert row.capex_usd == pytest.approx(row.servers * plat["capex_usd"])
    # In service never exceeds what is installed and has arrived (and not yet retired), and
    # every allocated server is in service.
    orders = p.purchases
    for row in p.fleet.itertuples(index=False):
        mine = orders[
            (orders["platform_id"] == row.platform_id) & (orders["region_id"] == row.region_id)
        ]
        arrived = sum(
            o.servers
            for o in mine.itertuples(index=False)
            if case.in_service(row.platform_id, o.order_quarter, row.quarter)
        )
        there = case.installed(row.platform_id, row.region_id, row.quarter) + arrived
        assert row.in_service_servers <= there + TOL, row
        assert row.allocated_servers <= row.in_service_servers + TOL, row
    allocated = p.allocation.groupby(["platform_id", "region_id", "quarter"])["servers"].sum()
    in_service = p.fleet.set_index(["platform_id", "region_id", "quarter"])["in_service_servers"]
    assert (allocated <= in_service.reindex(allocated.index).fillna(0) + TOL).all()


@pytest.mark.parametrize("which", ["first_plan", "plan"])
def test_power_stays_under_every_cap(case, which, request):
    p = request.getfixturevalue(which)
    kw = p.fleet.apply(
        lambda f: f["in_service_servers"] * case.facility_kw(f["platform_id"], f["region_id"]),
        axis=1,
    )
    power = kw.groupby([p.fleet["region_id"], p.fleet["quarter"]]).sum()
    assert len(power) == len(case.regions) * case.horizon
    for (r, t), used in power.items():
        assert used <= case.cap_kw(r, t) + TOL, (r, t, used, case.cap_kw(r, t))
    # The caps that change during the horizon (region_power_caps.csv) are the plan's caps too.
    caps = p.power.set_index(["region_id", "quarter"])["cap_kw"]
    assert caps[("prn", 3)] == 2300.0 and caps[("prn", 2)] == 3400.0
    assert caps[("lla", 2)] == 2350.0 and caps[("frc", 7)] == 3800.0


@pytest.mark.parametrize("which", ["first_plan", "plan"])
def test_cost_adds_up_from_the_files(case, which, request):
    p = request.getfixturevalue(which)
    capex = sum(
        row.servers * case.platforms.at[row.platform_id, "capex_usd"]
        for row in p.purchases.itertuples(index=False)
    )
    running = sum(
        row.in_service_servers * case.running_usd(row.platform_id, row.region_id)
        for row in p.fleet.itertuples(index=False)
    )
    assert p.total_cost_usd == pytest.approx(capex + running, rel=1e-9)


# ----------------------------------------------------------------------------------------------
# Every scenario of the default case


SCENARIOS = sorted(pl.load_scenarios(DEFAULT))


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_default_scenario_plans_and_verifies(name):
    fleet = pl.load_fleet(DEFAULT)
    scenario = pl.load_scenarios(DEFAULT)[name]
    plan = first_plan_of(name)  # time limit 0: the same plan on any machine
    s = plan.summary
    assert s["verified"] is True
    assert s["scenario"] == name
    check = pl.verify_plan(pl.apply_scenario(fleet, scenario), plan)
    assert check.ok, str(check)
    assert check.recomputed_cost_usd == pytest.approx(plan.total_cost_usd, rel=1e-9)
    assert s["status"] in ("optimal", "feasible")
    assert s["best_bound"] <= s["objective_value"] + 1e-6
    # Measured first-plan gaps are 3.1-4.1 % (a rounding overhead about fixed in USD on a
    # ~10 M USD case; 0.35-1.5 % on the 22 M USD case before issue 13's per-platform ranking
    # rooflines); 5 % is the ceiling for a work-limited plan.
    assert 0 <= s["gap"] <= 0.05


def test_scenarios_shift_cost_in_their_stated_direction():
    """Each scenario's first plan and LP bound against the base's (all work-limited)."""
    names = ("ranking_growth_15", "asic_2x", "no_dr", "cap_prn_2200kw")
    plans = {name: first_plan_of(name) for name in names}
    base = first_plan_of(None)
    lp = {name: p.summary["lp_bound"] for name, p in plans.items()}
    base_lp = base.summary["lp_bound"]
    # Proven by the relaxations themselves: more demand and a lower cap shrink the feasible
    # set, so their LP optimum cannot be lower; dropping DR enlarges it.
    assert lp["ranking_growth_15"] > base_lp
    assert lp["cap_prn_2200kw"] >= base_lp * (1 - 1e-9)
    assert lp["no_dr"] < base_lp
    # Plans: more demand costs more, doubled ASIC throughput and no DR headroom cost less,
    # each by more than the base plan's gap, so the direction is not solver slack.
    cost = {name: p.total_cost_usd for name, p in plans.items()}
    gap = base.summary["gap"]
    assert cost["ranking_growth_15"] > base.total_cost_usd * (1 + gap)
    assert cost["asic_2x"] < base.total_cost_usd * (1 - gap)
    assert cost["no_dr"] < base.total_cost_usd * (1 - gap)
    assert cost["cap_prn_2200kw"] >= base_lp * 1000


# ----------------------------------------------------------------------------------------------
# Data reference and provenance


def test_fleet_readme_reference_is_current():
    text = (ROOT / "fleet_data" / "README.md").read_text(encoding="utf-8")
    assert pl.data_reference_markdown() in text, (
        "fleet_data/README.md is stale: run `python -m planner reference --write "
        "fleet_data/README.md`"
    )
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
