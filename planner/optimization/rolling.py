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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.demand import peak_demand
from planner.diurnal.layout import is_slotted
from planner.fleet import Fleet, empty_table
from planner.optimization.anytime import AnytimeResult, solve_anytime
from planner.optimization.block_bound import block_bound
from planner.optimization.highs import HighsRun, run_highs
from planner.optimization.strengthen import cap_covering_coefficients
from planner.parameters import inventory_by_quarter, power_caps
from planner.scale import MatrixModel, build_matrix
from planner.schema import TABLES

BOUND_MARGIN = 1e-5  # relative: the bound by quarter is reported this much below its LPs


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


def no_purchases() -> pd.DataFrame:
    """Return an empty purchase list (the ``bought`` argument of :func:`quarter_fleet`)."""
    return pd.DataFrame(columns=["platform_id", "region_id", "quarter", "servers"])


def quarter_fleet(fleet: Fleet, quarter: int, bought: pd.DataFrame, *,
                  relax_purchases: bool = False) -> Fleet:
    """Return the one-quarter fleet of ``quarter`` given the servers earlier quarters bought.

    ``bought`` has one row per purchase of the whole horizon decided so far: platform_id,
    region_id, order quarter (``quarter`` column) and ``servers``. ``relax_purchases`` (for
    :func:`quarter_bound`): no supply limit.
    """
    s = fleet.settings
    plat = fleet.platforms.copy()
    # Orderable lead time quarters earlier (so also whenever a server of it could serve now).
    order = quarter - plat["lead_time_quarters"].to_numpy(dtype=np.int64)
    orderable = order >= plat["available_from_quarter"].to_numpy(dtype=np.int64)
    # One quarter: what arrives in `quarter` is ordered "now", with no lead time.
    plat["lead_time_quarters"] = 0
    plat["available_from_quarter"] = np.where(orderable, 0, 1)
    if relax_purchases:
        plat["supply_per_quarter"] = np.nan

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
    whole = _WholeColumns(mm)
    bought = no_purchases()
    steps: list[QuarterStep] = []
    for t in fleet.quarters:
        q_start = time.perf_counter()
        qm = build_matrix(quarter_fleet(fleet, t, bought))
        run: AnytimeResult = solve_anytime(qm, time_limit_s=quarter_time_limit_s,
                                           mip_gap=mip_gap, threads=threads)
        step = QuarterStep(t, qm.n_cols, run.objective, run.lp_bound,
                           time.perf_counter() - q_start, run.status)
        steps.append(step)
        if progress is not None:
            progress(step)
        if not run.has_solution:
            return RollingResult(None, None, steps, time.perf_counter() - start, t)
        x_cols, b_cols, y_cols = whole.of(qm, t)
        n_qx, n_qb = len(qm.x), len(qm.b)
        values[x_cols] = run.values[:n_qx]
        values[y_cols] = run.values[n_qx + n_qb:n_qx + n_qb + len(qm.y)]
        bv = run.values[n_qx:n_qx + n_qb]
        use = bv > 0
        values[b_cols[use]] = bv[use]
        # What this quarter bought, by order quarter, is installed base from now on.
        new = mm.b.iloc[b_cols[use] - whole.n_x][["platform_id", "region_id", "quarter"]]
        bought = pd.concat([bought, new.assign(servers=bv[use])], ignore_index=True)
    objective = float(mm.cost @ values)
    return RollingResult(values, objective, steps, time.perf_counter() - start)


@dataclass
class QuarterLP:
    """One quarter's relaxed fleet (the whole model's costs) and its LP relaxation."""

    quarter: int
    model: MatrixModel
    lp: HighsRun


def quarter_lps(mm: MatrixModel, *, deadline: float = math.inf, threads: int = 1,
                should_stop: Callable[[], bool] | None = None) -> list[QuarterLP] | None:
    """Return each quarter's relaxed model and LP for :func:`quarter_bound` (see above).

    Each quarter's fleet has the installed base of that quarter and every platform that
    could be in service by then, bought without lead time or supply limit; its costs are
    the whole model's own coefficients (purchases: the last quarter only), so tie-breaks are
    those of the whole model. Covering coefficients are capped (valid for whole plans).
    None when a quarter's LP does not finish before ``deadline`` (``time.perf_counter()``).
    """
    fleet = mm.fleet
    last = fleet.settings.horizon_quarters - 1
    whole = _WholeColumns(mm)
    out: list[QuarterLP] = []
    for t in fleet.quarters:
        qm = cap_covering_coefficients(build_matrix(
            quarter_fleet(fleet, t, no_purchases(), relax_purchases=True)))
        x_cols, b_cols, y_cols = whole.of(qm, t)
        n_qx, n_qb = len(qm.x), len(qm.b)
        cost = np.zeros(qm.n_cols)
        cost[:n_qx] = mm.cost[x_cols]
        if t == last:
            cost[n_qx:n_qx + n_qb] = mm.cost[b_cols]
        cost[n_qx + n_qb:] = mm.cost[y_cols]
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return None
        qm = dataclasses.replace(qm, cost=cost)
        lp = run_highs(qm, time_limit_s=remaining, threads=threads, should_stop=should_stop)
        if lp.status != "Optimal" or lp.objective is None:
            return None
        out.append(QuarterLP(int(t), qm, lp))
    return out


def quarter_bound(mm: MatrixModel, *, deadline: float = math.inf, threads: int = 1,
                  should_stop: Callable[[], bool] | None = None) -> float | None:
    """Return a lower bound on every whole plan of ``mm``: the sum of :func:`quarter_lps`."""
    lps = quarter_lps(mm, deadline=deadline, threads=threads, should_stop=should_stop)
    return None if lps is None else quarter_bound_of(lps)


def quarter_bound_of(lps: list[QuarterLP]) -> float:
    """Return the bound of these quarters' LPs (their sum, a hair below)."""
    return _margin(sum(q.lp.objective for q in lps))


def whole_replica_quarter_bounds(
    lps: list[QuarterLP], *, deadline: float = math.inf,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, float]]:
    """Yield (quarter, bound) as each quarter's LP is raised by whole-replica blocks.

    Each quarter's relaxed model is bounded by :func:`~planner.optimization.block_bound.
    block_bound` at its LP's duals; the quarter keeps the larger of that and its LP. The
    bound yielded is the sum over all quarters so far, valid after every step, so the
    caller can stop at any time. Largest quarters first: the later quarters, where power
    binds, gain most (synthetic XL: last quarter +10 %, first +1.7 %).
    """
    values = {q.quarter: q.lp.objective for q in lps}
    for q in sorted(lps, key=lambda q: -q.lp.objective):
        if time.perf_counter() >= deadline or (should_stop and should_stop()):
            return
        if q.lp.row_dual is None:
            continue
        raised = block_bound(q.model, q.lp.row_dual, deadline=deadline,
                             should_stop=should_stop)
        if raised is not None and raised.bound > values[q.quarter]:
            values[q.quarter] = raised.bound
        yield q.quarter, _margin(sum(values.values()))


def _margin(total: float) -> float:
    # A hair below what HiGHS reports: its optimality tolerances.
    return total * (1 - BOUND_MARGIN) if total > 0 else total


class _WholeColumns:
    """Where a one-quarter model's columns sit in the whole model."""

    def __init__(self, mm: MatrixModel) -> None:
        self.n_x, self.n_b = len(mm.x), len(mm.b)
        self.x = _index(mm.x, ["model_id", "platform_id", "region_id", "quarter"])
        self.b = _index(mm.b, ["platform_id", "region_id", "quarter"])
        self.y = _index(mm.y, ["platform_id", "region_id", "quarter"])
        self.lead = mm.fleet.platforms.set_index("platform_id")["lead_time_quarters"]

    def of(self, qm: MatrixModel, quarter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the whole model's columns of ``qm``'s replicas, purchases, in-service.

        A purchase of the quarter model is the whole model's order of ``quarter`` − lead time.
        """
        qx, qb, qy = qm.x, qm.b, qm.y
        now = np.full(len(qx), quarter)
        x = _positions(self.x, qx["model_id"], qx["platform_id"], qx["region_id"], now)
        order = quarter - qb["platform_id"].map(self.lead).to_numpy(dtype=np.int64)
        b = self.n_x + _positions(self.b, qb["platform_id"], qb["region_id"], order)
        y = self.n_x + self.n_b + _positions(self.y, qy["platform_id"], qy["region_id"],
                                             np.full(len(qy), quarter))
        return x, b, y


def _index(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Return column position by key tuple."""
    return pd.Series(np.arange(len(frame)), index=pd.MultiIndex.from_frame(frame[keys]))


def _positions(index: pd.Series, *arrays) -> np.ndarray:
    """Return the whole model's positions of the quarter's columns with these keys."""
    if len(arrays[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    found = index.reindex(pd.MultiIndex.from_arrays(list(arrays))).to_numpy()
    if np.isnan(found).any():  # a quarter column the whole model lacks: a bug, not data
        raise AssertionError("a one-quarter column has no column in the whole model")
    return found.astype(np.int64)
