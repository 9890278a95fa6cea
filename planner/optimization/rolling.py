"""Quarter by quarter: a first plan for fleets too large for one LP relaxation in time.

At hyperscale (synthetic XL: 430 k columns, XXL: 860 k) the LP relaxation of the whole
horizon alone takes most of a minute (XL) or several (XXL) on one core, so the anytime path's
first plan, which rounds that LP, comes too late. The horizon couples quarters only through
purchases (a server bought serves every quarter of its life) and the per-quarter supply
limit, so the case is planned one quarter at a time, in order: quarter ``t`` is an ordinary
one-quarter fleet whose installed base is what the earlier quarters left in service
(installed servers not retired, plus the servers they bought), whose purchases are those that
arrive in ``t``, under ``t``'s demand, power caps, rack space and supply. Each such fleet is
planned by the anytime path (:func:`planner.optimization.anytime.solve_anytime`), and the
quarters' plans are put together into one plan of the whole horizon, checked against every
row of the whole model.

Planning a quarter without the later ones is myopic: a server bought in ``t`` is charged its
whole capex there, although it also serves later quarters. Demand grows, so what ``t`` buys
is used later too; the cost of the myopia is measured against the whole LP in
``bench/README.md``. A quarter whose fleet has no plan (supply that a lookahead would have
spread over earlier quarters) ends the decomposition without a plan; the caller falls back to
the whole model.

:func:`quarter_bound` is a lower bound from the same one-quarter fleets, for when the whole
LP is too slow too: each quarter may buy what it needs with no supply limit, the last quarter
pays full capex for every bought server in service there and the earlier quarters pay none
(a server in service in the last quarter is charged once, one that is not is charged
nothing, so no plan costs less than the sum). Demand grows, so the last quarter needs the
most servers and most capex is kept. Synthetic XL: 225,911 kUSD in 10 s against the whole
capped LP's 240,816 in 47 s (6.2 % weaker).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.demand import peak_demand
from planner.diurnal.layout import is_slotted
from planner.fleet import Fleet, empty_table
from planner.model import TIE_BREAK_TOLERANCE
from planner.optimization.anytime import AnytimeResult, solve_anytime
from planner.optimization.highs import run_highs
from planner.optimization.strengthen import cap_covering_coefficients
from planner.parameters import inventory_by_quarter, power_caps
from planner.scale import MatrixModel, build_matrix
from planner.schema import TABLES


@dataclass
class QuarterStep:
    """One quarter's plan: its fleet's size, its cost and how long it took."""

    quarter: int
    columns: int
    objective: float | None
    lp_bound: float | None
    seconds: float
    status: str


@dataclass
class RollingResult:
    """The whole horizon's plan (full solution vector of the whole model) and its steps."""

    values: np.ndarray | None
    objective: float | None
    steps: list[QuarterStep] = field(default_factory=list)
    seconds: float = 0.0
    failed_quarter: int | None = None

    @property
    def has_solution(self) -> bool:
        """Return whether every quarter was planned."""
        return self.values is not None


def quarter_fleet(fleet: Fleet, quarter: int, bought: pd.DataFrame) -> Fleet:
    """Return the one-quarter fleet of ``quarter`` given the servers earlier quarters bought.

    ``bought`` has one row per purchase of the whole horizon decided so far: platform_id,
    region_id, order quarter (``quarter`` column) and ``servers``.
    """
    s = fleet.settings
    plat = fleet.platforms.copy()
    lead = plat["lead_time_quarters"].to_numpy(dtype=np.int64)
    order = quarter - lead
    orderable = (order >= plat["available_from_quarter"].to_numpy(dtype=np.int64)) & \
        (order >= 0)
    # One quarter: what arrives in `quarter` is ordered "now", with no lead time.
    plat["lead_time_quarters"] = 0
    plat["available_from_quarter"] = np.where(orderable, 0, 1)

    inv = inventory_by_quarter(fleet)
    installed = inv[inv["quarter"] == quarter][["platform_id", "region_id", "servers"]]
    alive = _in_service(fleet, bought, quarter)
    stock = pd.concat([installed, alive], ignore_index=True)
    stock = stock.groupby(["platform_id", "region_id"], as_index=False)["servers"].sum()
    stock = stock[stock["servers"] > 0]
    inventory = empty_table(TABLES["inventory"]).reindex(range(len(stock)))
    inventory["platform_id"] = stock["platform_id"].to_numpy()
    inventory["region_id"] = stock["region_id"].to_numpy()
    inventory["servers"] = stock["servers"].to_numpy(dtype=np.int64)
    inventory["retire_quarter"] = pd.array([pd.NA] * len(stock), dtype="Int64")
    inventory = inventory.astype(fleet.inventory.dtypes.to_dict(), errors="ignore")

    caps = power_caps(fleet)
    cap_now = caps[caps["quarter"] == quarter].set_index("region_id")["cap_kw"]
    regions = fleet.regions.copy()
    regions["power_cap_kw"] = regions["region_id"].map(cap_now).to_numpy()

    dem = peak_demand(fleet)
    dem = dem[dem["quarter"] == quarter].assign(quarter=0)
    demand = empty_table(TABLES["demand"]).reindex(range(len(dem)))
    for col in ("model_id", "region_id", "quarter", "peak_qps"):
        demand[col] = dem[col].to_numpy()
    demand = demand.astype({"quarter": "int64", "peak_qps": "float64"})

    settings = s.model_copy(update={"horizon_quarters": 1})
    return fleet.replace(
        name=f"{fleet.name}_q{quarter}", settings=settings, platforms=plat,
        regions=regions, region_power_caps=fleet.region_power_caps.iloc[0:0],
        inventory=inventory, demand=demand, demand_adjustments=None,
        products=fleet.products.iloc[0:0], calls=fleet.calls.iloc[0:0],
    )


def _in_service(fleet: Fleet, bought: pd.DataFrame, quarter: int) -> pd.DataFrame:
    """Return the servers ``bought`` (by order quarter) that serve in ``quarter``."""
    if bought.empty:
        return pd.DataFrame(columns=["platform_id", "region_id", "servers"])
    plat = fleet.platforms.set_index("platform_id")
    arrive = bought["quarter"].to_numpy() + \
        bought["platform_id"].map(plat["lead_time_quarters"]).to_numpy()
    life = bought["platform_id"].map(plat["lifetime_quarters"]).to_numpy()
    keep = (arrive <= quarter) & (quarter < arrive + life)
    return bought.loc[keep, ["platform_id", "region_id", "servers"]]


def solve_rolling(
    mm: MatrixModel,
    *,
    mip_gap: float,
    quarter_time_limit_s: float = 0.0,
    threads: int = 1,
    progress: Callable[[QuarterStep], None] | None = None,
) -> RollingResult:
    """Plan ``mm``'s fleet one quarter at a time; return the whole horizon's solution vector.

    ``quarter_time_limit_s`` bounds each quarter's improvement (0: its first plan only, which
    depends on the case alone, not on the machine's load).
    """
    start = time.perf_counter()
    fleet = mm.fleet
    if is_slotted(fleet):
        raise ValueError("quarter-by-quarter planning does not take slotted fleets")
    values = np.zeros(mm.n_cols)
    x_index = _index(mm.x, ["model_id", "platform_id", "region_id", "quarter"])
    b_index = _index(mm.b, ["platform_id", "region_id", "quarter"])
    y_index = _index(mm.y, ["platform_id", "region_id", "quarter"])
    n_x, n_b = len(mm.x), len(mm.b)
    lead = mm.fleet.platforms.set_index("platform_id")["lead_time_quarters"]
    bought = pd.DataFrame(columns=["platform_id", "region_id", "quarter", "servers"])
    steps: list[QuarterStep] = []
    for t in fleet.quarters:
        q_start = time.perf_counter()
        qf = quarter_fleet(fleet, t, bought)
        qm = build_matrix(qf)
        run: AnytimeResult = solve_anytime(qm, time_limit_s=quarter_time_limit_s,
                                           mip_gap=mip_gap, threads=threads)
        step = QuarterStep(t, qm.n_cols, run.objective, run.lp_bound,
                           time.perf_counter() - q_start, run.status)
        steps.append(step)
        if progress is not None:
            progress(step)
        if not run.has_solution:
            return RollingResult(None, None, steps, time.perf_counter() - start, t)
        v = run.values
        qx, qb, qy = qm.x, qm.b, qm.y
        xv = v[:len(qx)]
        values[_positions(x_index, qx["model_id"], qx["platform_id"], qx["region_id"],
                          np.full(len(qx), t))] = xv
        bv = v[len(qx):len(qx) + len(qb)]
        if len(qb):
            order = t - qb["platform_id"].map(lead).to_numpy()
            cols = _positions(b_index, qb["platform_id"], qb["region_id"], order)
            use = bv > 0
            values[n_x + cols[use]] = bv[use]
            new = pd.DataFrame({"platform_id": qb["platform_id"].to_numpy()[use],
                                "region_id": qb["region_id"].to_numpy()[use],
                                "quarter": order[use], "servers": bv[use]})
            bought = pd.concat([bought, new], ignore_index=True)
        yv = v[len(qx) + len(qb):len(qx) + len(qb) + len(qy)]
        values[n_x + n_b + _positions(y_index, qy["platform_id"], qy["region_id"],
                                      np.full(len(qy), t))] = yv
    objective = float(mm.cost @ values)
    return RollingResult(values, objective, steps, time.perf_counter() - start)


def quarter_bound(mm: MatrixModel, *, deadline: float = math.inf, threads: int = 1,
                  should_stop: Callable[[], bool] | None = None) -> float | None:
    """Return a lower bound on every whole plan of ``mm``, one LP per quarter (see above).

    Each quarter's fleet has the installed base of that quarter and every platform that
    could be in service by then, bought without lead time or supply limit; its costs are
    the whole model's own coefficients (purchases: the last quarter only), so tie-breaks are
    those of the whole model. Covering coefficients are capped (valid for whole plans).
    None when a quarter's LP does not finish before ``deadline`` (``time.perf_counter()``).
    """
    fleet = mm.fleet
    horizon = fleet.settings.horizon_quarters
    x_index = _index(mm.x, ["model_id", "platform_id", "region_id", "quarter"])
    b_index = _index(mm.b, ["platform_id", "region_id", "quarter"])
    y_index = _index(mm.y, ["platform_id", "region_id", "quarter"])
    n_x, n_b = len(mm.x), len(mm.b)
    plat0 = fleet.platforms
    lead = plat0.set_index("platform_id")["lead_time_quarters"]
    empty = pd.DataFrame(columns=["platform_id", "region_id", "quarter", "servers"])
    total = 0.0
    for t in fleet.quarters:
        qf = quarter_fleet(fleet, t, empty)
        plat = qf.platforms.copy()
        by_now = (t - plat0["lead_time_quarters"] >= plat0["available_from_quarter"]).to_numpy()
        plat["available_from_quarter"] = np.where(by_now, 0, 1)
        plat["supply_per_quarter"] = np.nan
        qm = cap_covering_coefficients(build_matrix(qf.replace(platforms=plat)))
        qx, qb, qy = qm.x, qm.b, qm.y
        cost = np.zeros(qm.n_cols)
        cost[:len(qx)] = mm.cost[_positions(x_index, qx["model_id"], qx["platform_id"],
                                            qx["region_id"], np.full(len(qx), t))]
        if len(qb) and t == horizon - 1:
            order = t - qb["platform_id"].map(lead).to_numpy()
            cols = _positions(b_index, qb["platform_id"], qb["region_id"], order)
            cost[len(qx):len(qx) + len(qb)] = mm.cost[n_x + cols]
        cost[len(qx) + len(qb):] = mm.cost[n_x + n_b + _positions(
            y_index, qy["platform_id"], qy["region_id"], np.full(len(qy), t))]
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return None
        lp = run_highs(dataclasses.replace(qm, cost=cost), time_limit_s=remaining,
                       threads=threads, should_stop=should_stop)
        if lp.status != "Optimal" or lp.objective is None:
            return None
        total += lp.objective
    # HiGHS' optimality tolerances: a hair below what it reports.
    return total * (1 - TIE_BREAK_TOLERANCE) if total > 0 else total


def _index(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Return column position by key tuple."""
    return pd.Series(np.arange(len(frame)), index=pd.MultiIndex.from_frame(frame[keys]))


def _positions(index: pd.Series, *arrays) -> np.ndarray:
    """Return the whole model's positions of the quarter's columns with these keys."""
    found = index.reindex(pd.MultiIndex.from_arrays(list(arrays))).to_numpy()
    if np.isnan(found).any():  # a quarter column the whole model lacks: a bug, not data
        raise AssertionError("a one-quarter column has no column in the whole model")
    return found.astype(np.int64)
