"""The array path for large fleets: the same integer program, built as arrays.

* :func:`build_matrix` builds exactly the columns, rows, coefficients, bounds and objective
  of :func:`planner.model.build_model` (same names, same scaling) with numpy/scipy, in a
  fraction of the time and memory, and without PuLP objects.
* :func:`solve_matrix` hands those arrays to HiGHS in-process (``passModel``: no per-row
  hand-over) and solves the MIP or its LP relaxation.
* :func:`plan_at_scale` chains them and returns the same :class:`~planner.results.Plan` as
  :func:`planner.pipeline.make_plan` (via :func:`planner.results.plan_from_decisions`), so
  :func:`planner.verify.verify_plan` checks it like any plan.
* :func:`lagrangian_bound` is a lower bound by decomposition: models couple only through
  each platform's servers per region and quarter; pricing those servers splits the program
  into (model, quarter) blocks, whose LP is tightened with mixed-integer rounding cuts of the
  demand and DR rows (valid for whole replicas). Prices come from a Dantzig-Wolfe master over
  block patterns. Any prices give a valid bound; good ones give a bound above the LP
  relaxation when whole replicas matter.

Finding *plans* by decomposition (LP rounding and diving, price-and-round over blocks,
relax-and-fix by quarter) was measured without gain; ``bench/README.md`` ("Levers tried")
has the numbers, and ``bench/levers.py`` re-measures the main ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.demand import peak_demand
from planner.errors import SolverError
from planner.fleet import Fleet
from planner.model import TIE_BREAK_USD_PER_SERVER, USD_SCALE, cost_coefficients
from planner.parameters import candidates, inventory_by_quarter, power_caps
from planner.results import Plan, plan_totals
from planner.solve import HIGHS_OPTIONS
from planner.topology import backups

INF = math.inf
FAMILIES = ("demand", "minrep", "dr", "capacity", "available", "power", "space", "supply")


@dataclass
class MatrixModel:
    """The integer program of a fleet as arrays (columns x, then b, then y).

    Attributes:
        x: One row per replica column: model_id, platform_id, region_id, quarter, plus integer
            codes m, p, r, t, cell (index into ``cells``), spr, replica_qps.
        b: Purchase columns: platform_id, region_id, quarter (order quarter), p, r, t.
        y: In-service columns: platform_id, region_id, quarter, p, r, t.
        cells: Active (model, region, quarter) cells: model_id, region_id, quarter, m, r, t.
        cost, lower, upper, integer: Per column, in the model's scaled units (kUSD).
        matrix: Constraint matrix (rows x columns), CSR.
        row_lower, row_upper: Row bounds.
        row_family: Index into :data:`FAMILIES` per row.
        row_key: Per row, the tuple of ids its name is made of.
    """

    fleet: Fleet
    candidates: pd.DataFrame
    demand: pd.DataFrame
    x: pd.DataFrame
    b: pd.DataFrame
    y: pd.DataFrame
    cells: pd.DataFrame
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    matrix: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_family: np.ndarray
    row_key: list[tuple]
    # Block structure for decomposition: cells grouped into (model, quarter) blocks.
    cell_block: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cell_need_qps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cell_min_replicas: np.ndarray = field(default_factory=lambda: np.zeros(0))
    x_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    x_count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    x_cap_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dr_need_qps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dr_block: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dr_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    dr_cells: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    build_seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def n_x(self) -> int:
        """Return the number of replica columns."""
        return len(self.x)

    @property
    def n_cols(self) -> int:
        """Return the number of columns."""
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        """Return the number of rows."""
        return len(self.row_lower)

    def column_names(self) -> list[str]:
        """Return the PuLP-style names of all columns (``x_m_p_r_t``, ``b_…``, ``y_…``)."""
        out = [f"x_{m}_{p}_{r}_{t}" for m, p, r, t in zip(
            self.x["model_id"], self.x["platform_id"], self.x["region_id"], self.x["quarter"],
            strict=True)]
        for prefix, frame in (("b", self.b), ("y", self.y)):
            out += [f"{prefix}_{p}_{r}_{t}" for p, r, t in zip(
                frame["platform_id"], frame["region_id"], frame["quarter"], strict=True)]
        return out

    def row_names(self) -> list[str]:
        """Return the names of all rows, as :meth:`planner.model.PlanningModel.add_row` makes."""
        return ["_".join([FAMILIES[f], *(str(k) for k in key)])
                for f, key in zip(self.row_family, self.row_key, strict=True)]


class _Rows:
    """Accumulates rows as COO triplets."""

    def __init__(self) -> None:
        self.i: list[np.ndarray] = []
        self.j: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.family: list[np.ndarray] = []
        self.keys: list[tuple] = []
        self.n = 0

    def add(self, family: str, keys: list[tuple], row: np.ndarray, col: np.ndarray,
            val: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Add ``len(keys)`` rows; ``row`` indexes into ``keys``."""
        if not keys:
            return
        self.i.append(np.asarray(row, dtype=np.int64) + self.n)
        self.j.append(np.asarray(col, dtype=np.int64))
        self.v.append(np.asarray(val, dtype=np.float64))
        self.lower.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), len(keys)))
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), len(keys)))
        self.family.append(np.full(len(keys), FAMILIES.index(family), dtype=np.int8))
        self.keys += keys
        self.n += len(keys)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return the concatenation of ``arange(s, s + n)`` for each start s and count n."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    offsets = np.arange(total) - np.repeat(ends - counts, counts)
    return np.repeat(starts, counts) + offsets


def _codes(values: pd.Series, ids: list) -> np.ndarray:
    return pd.Categorical(values, categories=ids).codes.astype(np.int64)


def build_matrix(fleet: Fleet) -> MatrixModel:
    """Build the integer program of ``fleet`` as arrays.

    Same columns and rows as :func:`planner.model.build_model` (without elastic slack), with
    the same scaling: costs in kUSD, demand and DR rows divided by the model's largest usable
    replica throughput.
    """
    start = time.perf_counter()
    s = fleet.settings
    horizon = s.horizon_quarters
    dr = s.disaster_recovery
    cand = candidates(fleet)
    dem = peak_demand(fleet)
    model_ids = list(fleet.models["model_id"])
    plat = fleet.platforms.set_index("platform_id")
    plat_ids = list(fleet.platforms["platform_id"])
    region_ids = list(fleet.regions["region_id"])
    n_p, n_r, n_t = len(plat_ids), len(region_ids), horizon
    models = fleet.models.set_index("model_id")

    # ---- active cells and replica columns -------------------------------------------------
    dem = dem.assign(m=_codes(dem["model_id"], model_ids), r=_codes(dem["region_id"],
                                                                    region_ids),
                     t=dem["quarter"].to_numpy(dtype=np.int64))
    local = dem[["model_id", "region_id", "quarter"]]
    if dr.enabled and not dem.empty:
        mt = dem[["model_id", "quarter"]].drop_duplicates()
        mt = mt[mt["model_id"].map(models["phase"]).isin(dr.phases)]
        local = pd.concat([local, mt.merge(fleet.regions[["region_id"]], how="cross")],
                          ignore_index=True)
    cells = local.drop_duplicates().sort_values(["model_id", "region_id", "quarter"])
    cells = cells.reset_index(drop=True)
    cells["m"] = _codes(cells["model_id"], model_ids)
    cells["r"] = _codes(cells["region_id"], region_ids)
    cells["t"] = cells["quarter"].to_numpy(dtype=np.int64)
    cells["cell"] = np.arange(len(cells))
    cand = cand.assign(p=_codes(cand["platform_id"], plat_ids))
    x = cells.merge(cand[["model_id", "platform_id", "p", "servers_per_replica",
                          "replica_qps"]], on="model_id")
    x = x.rename(columns={"servers_per_replica": "spr"})
    x["spr"] = x["spr"].astype(np.int64)
    n_x = len(x)
    if n_x and not (np.diff(x["cell"].to_numpy()) >= 0).all():
        x = x.sort_values("cell", kind="stable").reset_index(drop=True)
    x_count = np.bincount(x["cell"].to_numpy(), minlength=len(cells))
    x_start = np.concatenate([[0], np.cumsum(x_count)[:-1]]).astype(np.int64)

    # ---- purchases b[p,r,t] ---------------------------------------------------------------
    lead = plat["lead_time_quarters"].reindex(plat_ids).to_numpy(dtype=np.int64)
    life = plat["lifetime_quarters"].reindex(plat_ids).to_numpy(dtype=np.int64)
    avail_from = plat["available_from_quarter"].reindex(plat_ids).to_numpy(dtype=np.int64)
    supply = plat["supply_per_quarter"].reindex(plat_ids).to_numpy(dtype=np.float64)
    b_rows = [(p, r, t) for p in range(n_p)
              for t in range(avail_from[p], horizon) if t + lead[p] < horizon
              for r in range(n_r)]
    b = pd.DataFrame(b_rows, columns=["p", "r", "t"], dtype=np.int64)
    b["platform_id"] = np.array(plat_ids, dtype=object)[b["p"]] if len(b) else []
    b["region_id"] = np.array(region_ids, dtype=object)[b["r"]] if len(b) else []
    b["quarter"] = b["t"]
    n_b = len(b)

    # ---- in-service y[p,r,t] --------------------------------------------------------------
    inv = inventory_by_quarter(fleet)
    inv_arr = np.zeros((n_p, n_r, n_t))
    if not inv.empty:
        inv_arr[_codes(inv["platform_id"], plat_ids), _codes(inv["region_id"], region_ids),
                inv["quarter"].to_numpy(dtype=np.int64)] = inv["servers"].to_numpy()
    has_y = np.zeros((n_p, n_r, n_t), dtype=bool)
    if not inv.empty:
        has_y[_codes(inv["platform_id"], plat_ids), _codes(inv["region_id"], region_ids),
              inv["quarter"].to_numpy(dtype=np.int64)] = True
    for p, r, t0 in b_rows:
        arrive = t0 + lead[p]
        has_y[p, r, arrive:min(horizon, arrive + life[p])] = True
    yp, yr, yt = np.nonzero(has_y)
    y = pd.DataFrame({"platform_id": np.array(plat_ids, dtype=object)[yp],
                      "region_id": np.array(region_ids, dtype=object)[yr], "quarter": yt,
                      "p": yp, "r": yr, "t": yt})
    y = y.sort_values(["platform_id", "region_id", "quarter"]).reset_index(drop=True)
    n_y = len(y)
    x_off, b_off, y_off = 0, n_x, n_x + n_b
    y_index = np.full((n_p, n_r, n_t), -1, dtype=np.int64)
    y_index[y["p"], y["r"], y["t"]] = np.arange(n_y) + y_off

    dr_cells = np.zeros(0, dtype=np.int64)
    dr_ptr = np.zeros(1, dtype=np.int64)
    dr_need = np.zeros(0)
    dr_cell_of_row = np.zeros(0, dtype=np.int64)
    rows = _Rows()
    util, emerg = s.target_utilization, dr.emergency_utilization
    top_qps = cand.groupby("model_id")["replica_qps"].max()

    # ---- demand rows: sum_p u*rq x >= peak (scaled by the model's largest u*rq) -----------
    cell_index = pd.Series(cells["cell"].to_numpy(), index=pd.MultiIndex.from_frame(
        cells[["model_id", "region_id", "quarter"]]))
    dem_cell = cell_index.reindex(pd.MultiIndex.from_frame(
        dem[["model_id", "region_id", "quarter"]])).to_numpy()
    d_top = util * dem["model_id"].map(top_qps).to_numpy()
    cell_to_drow = np.full(len(cells), -1, dtype=np.int64)
    cell_to_drow[dem_cell] = np.arange(len(dem))
    xr = cell_to_drow[x["cell"].to_numpy()]
    sel = xr >= 0
    keys = list(zip(dem["model_id"], dem["region_id"], dem["quarter"].astype(int), strict=True))
    rows.add("demand", keys, xr[sel], np.flatnonzero(sel) + x_off,
             util * x["replica_qps"].to_numpy()[sel] / d_top[xr[sel]],
             dem["peak_qps"].to_numpy() / d_top, INF)

    # ---- minimum replicas: sum_p x >= min_replicas where the model has demand -------------
    mins = dem["model_id"].map(models["min_replicas"]).to_numpy(dtype=np.float64)
    need = mins > 0
    mrow = np.full(len(dem), -1, dtype=np.int64)
    mrow[need] = np.arange(int(need.sum()))
    xr_m = mrow[xr[sel]]
    ok = xr_m >= 0
    rows.add("minrep", [k for k, n in zip(keys, need, strict=True) if n], xr_m[ok],
             np.flatnonzero(sel)[ok] + x_off, np.ones(int(ok.sum())), mins[need], INF)

    # ---- disaster recovery: losing f, its backups carry f's demand and their own ----------
    if dr.enabled and not dem.empty:
        phase_ok = dem["model_id"].map(models["phase"]).isin(dr.phases).to_numpy()
        ddem = dem[phase_ok].reset_index(drop=True)
        bk = backups(fleet)
        pairs = pd.DataFrame([(f, r) for f, rs in bk.items() for r in rs],
                             columns=["region_id", "survivor"])
        peak_of = pd.Series(dem["peak_qps"].to_numpy(), index=pd.MultiIndex.from_frame(
            dem[["model_id", "region_id", "quarter"]]))
        surv = ddem[["model_id", "region_id", "quarter"]].assign(row=np.arange(len(ddem)))
        surv = surv.merge(pairs, on="region_id")
        surv_peak = peak_of.reindex(pd.MultiIndex.from_arrays(
            [surv["model_id"], surv["survivor"], surv["quarter"]])).fillna(0.0).to_numpy()
        rhs = ddem["peak_qps"].to_numpy() + np.bincount(surv["row"], weights=surv_peak,
                                                         minlength=len(ddem))
        # Survivor cells -> their replica columns.
        sc = cell_index.reindex(pd.MultiIndex.from_arrays(
            [surv["model_id"], surv["survivor"], surv["quarter"]])).to_numpy()
        found = ~np.isnan(sc)
        c = sc[found].astype(np.int64)
        rep = x_count[c]
        ri_a = np.repeat(surv["row"].to_numpy()[found], rep)
        cj_a = _ranges(x_start[c], rep)
        has_terms = np.bincount(ri_a, minlength=len(ddem)) > 0
        surv_row = surv["row"].to_numpy()[found]
        order = np.argsort(surv_row, kind="stable")
        dr_cells = c[order]
        dr_ptr = np.concatenate([[0], np.cumsum(np.bincount(surv_row, minlength=len(ddem)))])
        dr_need = rhs / emerg
        dr_cell_of_row = cell_index.reindex(pd.MultiIndex.from_frame(
            ddem[["model_id", "region_id", "quarter"]])).to_numpy().astype(np.int64)
        r_top = np.where(has_terms, emerg * ddem["model_id"].map(top_qps).to_numpy(), 1.0)
        rows.add("dr", list(zip(ddem["model_id"], ddem["region_id"],
                                ddem["quarter"].astype(int), strict=True)),
                 ri_a, cj_a + x_off,
                 emerg * x["replica_qps"].to_numpy()[cj_a] / r_top[ri_a], rhs / r_top, INF)

    # ---- capacity: sum_m spr x[m,p,r,t] - y[p,r,t] <= 0 -----------------------------------
    prt = (x["p"].to_numpy() * n_r + x["r"].to_numpy()) * n_t + x["t"].to_numpy()
    uniq, cap_row = np.unique(prt, return_inverse=True)
    up, ur, ut = uniq // (n_r * n_t), (uniq // n_t) % n_r, uniq % n_t
    ycol = y_index[up, ur, ut]
    has = ycol >= 0
    cap_keys = [(plat_ids[p], region_ids[r], int(t)) for p, r, t in zip(up, ur, ut, strict=True)]
    rows.add("capacity", cap_keys,
             np.concatenate([cap_row, np.flatnonzero(has)]),
             np.concatenate([np.arange(n_x) + x_off, ycol[has]]),
             np.concatenate([x["spr"].to_numpy(dtype=np.float64), -np.ones(int(has.sum()))]),
             -INF, 0.0)

    # ---- available: y[p,r,t] - sum of purchases in service at t <= inventory -------------
    bi, bj = [], []
    for j, (p, r, t0) in enumerate(b_rows):
        arrive = t0 + lead[p]
        for t in range(arrive, min(horizon, arrive + life[p])):
            bi.append(y_index[p, r, t] - y_off)
            bj.append(j + b_off)
    rows.add("available", list(zip(y["platform_id"], y["region_id"], y["quarter"].astype(int),
                                   strict=True)),
             np.concatenate([np.arange(n_y), np.asarray(bi, dtype=np.int64)]),
             np.concatenate([np.arange(n_y) + y_off, np.asarray(bj, dtype=np.int64)]),
             np.concatenate([np.ones(n_y), -np.ones(len(bi))]),
             -INF, inv_arr[y["p"], y["r"], y["t"]])

    # ---- power and space per region and quarter -------------------------------------------
    pue = fleet.regions.set_index("region_id")["pue"].reindex(region_ids).to_numpy()
    power_w = plat["power_w"].reindex(plat_ids).to_numpy()
    kw = power_w[:, None] / 1000.0 * pue[None, :]
    caps = power_caps(fleet)
    cap_arr = np.zeros((n_r, n_t))
    cap_arr[_codes(caps["region_id"], region_ids), caps["quarter"].to_numpy()] = caps["cap_kw"]
    rt = y["r"].to_numpy() * n_t + y["t"].to_numpy()
    ort, prow = np.unique(rt, return_inverse=True)
    rows.add("power", [(region_ids[v // n_t], int(v % n_t)) for v in ort], prow,
             np.arange(n_y) + y_off, kw[y["p"], y["r"]], -INF,
             cap_arr[ort // n_t, ort % n_t])
    limits = fleet.regions.set_index("region_id")["space_limit_ru"].reindex(region_ids)
    limit_arr = limits.to_numpy(dtype=np.float64)
    ru = plat["rack_units"].reindex(plat_ids).to_numpy()
    lim_y = ~np.isnan(limit_arr[y["r"].to_numpy()])
    if lim_y.any():
        srt, srow = np.unique(rt[lim_y], return_inverse=True)
        rows.add("space", [(region_ids[v // n_t], int(v % n_t)) for v in srt], srow,
                 np.flatnonzero(lim_y) + y_off, ru[y["p"].to_numpy()[lim_y]], -INF,
                 limit_arr[srt // n_t])

    # ---- supply: sum_r b[p,r,t] <= supply_per_quarter[p] ---------------------------------
    if n_b:
        lim_b = ~np.isnan(supply[b["p"].to_numpy()])
        if lim_b.any():
            pt = b["p"].to_numpy()[lim_b] * n_t + b["t"].to_numpy()[lim_b]
            upt, srow = np.unique(pt, return_inverse=True)
            rows.add("supply", [(plat_ids[v // n_t], int(v % n_t)) for v in upt], srow,
                     np.flatnonzero(lim_b) + b_off, np.ones(int(lim_b.sum())), -INF,
                     supply[upt // n_t])

    # ---- objective and bounds -------------------------------------------------------------
    coef = cost_coefficients(fleet)
    w_capex, w_run, w_kw = {"tco": (1.0, 1.0, 0.0), "capex": (1.0, 1e-3, 0.0),
                            "power": (1e-4, 1e-4, 1.0 / USD_SCALE)}[s.objective]
    capex = np.array([coef["capex"][p] for p in plat_ids])
    run = np.array([[coef["energy"][(p, r)] + coef["maintenance"][(p, r)] for r in region_ids]
                    for p in plat_ids])
    cost = np.concatenate([
        TIE_BREAK_USD_PER_SERVER * x["spr"].to_numpy() * USD_SCALE,
        w_capex * capex[b["p"].to_numpy()] * USD_SCALE if n_b else np.zeros(0),
        (w_run * run[y["p"], y["r"]] + w_kw * kw[y["p"], y["r"]]) * USD_SCALE,
    ])
    lower = np.zeros(n_x + n_b + n_y)
    upper = np.full(n_x + n_b + n_y, INF)
    if n_b:
        upper[b_off:y_off] = np.where(np.isnan(supply[b["p"]]), INF, supply[b["p"]])
    integer = np.zeros(n_x + n_b + n_y, dtype=bool)
    integer[b_off:y_off] = True
    if s.allocation == "dedicated":
        integer[:n_x] = True
    else:
        integer[y_off:] = True

    matrix = sp.csr_matrix((np.concatenate(rows.v), (np.concatenate(rows.i),
                                                     np.concatenate(rows.j))),
                           shape=(rows.n, n_x + n_b + n_y))
    matrix.sum_duplicates()
    out = MatrixModel(
        fleet=fleet, candidates=cand, demand=dem, x=x, b=b, y=y, cells=cells, cost=cost,
        lower=lower, upper=upper, integer=integer, matrix=matrix,
        row_lower=np.concatenate(rows.lower), row_upper=np.concatenate(rows.upper),
        row_family=np.concatenate(rows.family), row_key=rows.keys)
    # Block structure: (model, quarter) blocks; each cell's need in queries/s at target
    # utilisation and its minimum replicas; each DR row's need at emergency utilisation.
    blocks, cell_block = np.unique(cells["m"].to_numpy() * n_t + cells["t"].to_numpy(),
                                   return_inverse=True)
    out.cell_block = cell_block.astype(np.int64)
    out.info["n_blocks"] = len(blocks)
    need = np.zeros(len(cells))
    need[dem_cell] = dem["peak_qps"].to_numpy() / util
    out.cell_need_qps = need
    kmin = np.zeros(len(cells))
    kmin[dem_cell] = mins
    out.cell_min_replicas = kmin
    out.x_start, out.x_count = x_start, x_count
    out.x_cap_row = cap_row.astype(np.int64)
    out.info["cap_rows"] = np.flatnonzero(out.row_family == FAMILIES.index("capacity"))
    out.dr_need_qps = dr_need
    out.dr_block = cell_block[dr_cell_of_row].astype(np.int64) if len(dr_need) else \
        np.zeros(0, dtype=np.int64)
    out.dr_ptr = dr_ptr.astype(np.int64)
    out.dr_cells = dr_cells.astype(np.int64)
    out.build_seconds = time.perf_counter() - start
    return out


# ---------------------------------------------------------------------------------------------
# highspy hand-over
# ---------------------------------------------------------------------------------------------


def new_highs(options: dict | None = None):
    """Return a silent ``highspy.Highs`` (its banner is swallowed, SOLVER_NOTES pitfall 7)."""
    import highspy

    from planner.solve import quiet_stdout

    # HiGHS keeps one global thread scheduler; reset it so any thread count works (as solve.py).
    highspy.Highs.resetThreadScheduler(True)
    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    return h


# ---------------------------------------------------------------------------------------------
# Whole-replica patterns of (model, quarter) blocks
# ---------------------------------------------------------------------------------------------


def _first_per_segment(segment: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Return, for each distinct segment id (sorted), the index of its smallest value."""
    order = np.lexsort((value, segment))
    seg = segment[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = seg[1:] != seg[:-1]
    return order[first]


def _segment_sum(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Return sums of ``values[ptr[i]:ptr[i+1]]`` (empty segments give 0)."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    return csum[ptr[1:]] - csum[ptr[:-1]]


@dataclass
class Patterns:
    """Column entries of block patterns: pattern id, x column, replicas (COO)."""

    block: np.ndarray
    integral: np.ndarray
    entry_pattern: np.ndarray
    entry_col: np.ndarray
    entry_value: np.ndarray

    @property
    def n(self) -> int:
        """Return the number of patterns."""
        return len(self.block)


def _cell_targets(mm: MatrixModel, kappa_cell: np.ndarray, spread: bool) -> np.ndarray:
    """Return capacity targets (queries/s) per cell that meet demand and disaster recovery.

    Each cell starts at its own need; each DR row still short is topped up on its cheapest
    survivor (``kappa_cell``: cost per query/s) or, with ``spread``, evenly on all survivors.
    Rows are taken largest first within each block.
    """
    q = mm.cell_need_qps.copy()
    n_dr = len(mm.dr_need_qps)
    if n_dr == 0:
        return q
    counts = np.diff(mm.dr_ptr)
    # Rank of each DR row within its block, largest need first.
    order = np.lexsort((-mm.dr_need_qps, mm.dr_block))
    rank = np.empty(n_dr, dtype=np.int64)
    blk_sorted = mm.dr_block[order]
    starts = np.flatnonzero(np.r_[True, blk_sorted[1:] != blk_sorted[:-1]])
    pos = np.arange(n_dr) - np.repeat(starts, np.diff(np.r_[starts, n_dr]))
    rank[order] = pos
    seg = np.repeat(np.arange(n_dr), counts)
    if not spread:
        surv_kappa = kappa_cell[mm.dr_cells]
        cheapest = mm.dr_cells[_first_per_segment(seg, surv_kappa)]
        has = counts > 0
        cheap_of_row = np.full(n_dr, -1, dtype=np.int64)
        cheap_of_row[np.flatnonzero(has)] = cheapest
    for rk in range(int(rank.max()) + 1):
        cover = _segment_sum(q[mm.dr_cells], mm.dr_ptr)
        short = (rank == rk) & (counts > 0) & (cover < mm.dr_need_qps)
        if not short.any():
            continue
        deficit = (mm.dr_need_qps - cover)[short]
        if spread:
            rows = np.flatnonzero(short)
            per = np.repeat(deficit / counts[rows], counts[rows])
            cells = mm.dr_cells[_ranges(mm.dr_ptr[rows], counts[rows])]
            np.add.at(q, cells, per)
        else:
            np.add.at(q, cheap_of_row[short], deficit)
    return q


def _integerize(mm: MatrixModel, target: np.ndarray, cost: np.ndarray,
                dedicated: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return (x columns, replicas) of the cheapest whole replicas reaching ``target`` per cell.

    Per cell it compares all replicas on one platform (as many as needed, at least the
    minimum) with the cheapest-per-query platform rounded down plus one replica of any
    platform that covers the remainder. Capacity never drops below the target, so demand,
    minimum-replica and DR rows met by the targets stay met.
    """
    x_cell = mm.x["cell"].to_numpy()
    rq = mm.x["replica_qps"].to_numpy(dtype=np.float64)
    q = target[x_cell]
    k = mm.cell_min_replicas[x_cell]
    if not dedicated:
        # Continuous replicas: the cheapest platform per query, exactly the target.
        best = _first_per_segment(x_cell, cost / rq)
        cell = x_cell[best]
        n = np.maximum(target[cell] / rq[best], mm.cell_min_replicas[cell])
        keep = n > 0
        return best[keep], n[keep]
    tol = 1e-9
    n_single = np.maximum(np.ceil(q / rq - tol), k)
    n_single = np.where(q > 0, n_single, k)
    cost_single = n_single * cost
    best = _first_per_segment(x_cell, cost / rq)  # cheapest per query, per cell
    star = np.full(len(target), -1, dtype=np.int64)
    star[x_cell[best]] = best
    j_star = star[x_cell]
    rq_star = rq[j_star]
    n_star = np.ceil(q / rq_star - tol)
    base = n_star - 1
    rem = q - base * rq_star
    ok_b = (base >= 1) & (base + 1 >= k) & (rq >= rem * (1 - 1e-12))
    cost_b = np.where(ok_b, base * cost[j_star] + cost, INF)
    use_b = cost_b < cost_single
    total = np.where(use_b, cost_b, cost_single)
    pick = _first_per_segment(x_cell, total)
    cols, vals = [], []
    single = ~use_b[pick]
    p_single = pick[single]
    cols.append(p_single)
    vals.append(n_single[p_single])
    p_b = pick[~single]
    cols.append(j_star[p_b])
    vals.append(base[p_b])
    cols.append(p_b)
    vals.append(np.ones(len(p_b)))
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    keep = v > 0
    # Merge duplicates (filler equal to the cheapest platform).
    c, v = c[keep], v[keep]
    uniq, inv = np.unique(c, return_inverse=True)
    return uniq, np.bincount(inv, weights=v)


def _patterns_from(mm: MatrixModel, cols: np.ndarray, vals: np.ndarray,
                   integral: bool) -> Patterns:
    """Group per-column replicas into one pattern per block."""
    blk = mm.cell_block[mm.x["cell"].to_numpy()[cols]]
    blocks, pid = np.unique(blk, return_inverse=True)
    return Patterns(block=blocks, integral=np.full(len(blocks), integral),
                    entry_pattern=pid.astype(np.int64), entry_col=cols, entry_value=vals)


def price_blocks(mm: MatrixModel, cost: np.ndarray, spread: bool = False) -> Patterns:
    """Return one whole-replica pattern per block, cheap under per-column ``cost``.

    A fast heuristic (not exact): cell targets from demand and DR, then rounding to whole
    replicas on the cheapest platforms.
    """
    x_cell = mm.x["cell"].to_numpy()
    rq = mm.x["replica_qps"].to_numpy(dtype=np.float64)
    best = _first_per_segment(x_cell, cost / rq)
    kappa = np.full(len(mm.cells), INF)
    kappa[x_cell[best]] = (cost / rq)[best]
    target = _cell_targets(mm, kappa, spread)
    dedicated = mm.fleet.settings.allocation == "dedicated"
    cols, vals = _integerize(mm, target, cost, dedicated)
    return _patterns_from(mm, cols, vals, integral=dedicated)


# ---------------------------------------------------------------------------------------------
# Dantzig-Wolfe master over block patterns, Lagrangian bound, restricted master MIP
# ---------------------------------------------------------------------------------------------

SLACK_PENALTY_KUSD = 1e4  # phase-1 slack on power/space/supply/installed rows of the master
YB_FAMILIES = ("available", "power", "space", "supply")
X_FAMILIES = ("demand", "minrep", "dr")


def _csc_arrays(a: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = a.tocsc()
    a.sort_indices()
    return a.indptr.astype(np.int32), a.indices.astype(np.int32), a.data.astype(np.float64)


def _pass(h, cost, lower, upper, a: sp.spmatrix, row_lower, row_upper,
          integer: np.ndarray | None = None) -> None:
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    start, index, value = _csc_arrays(a)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    if integer is not None and integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    h.passModel(lp)


class _Decomposition:
    """Column generation over (model, quarter) blocks for one :class:`MatrixModel`."""

    def __init__(self, mm: MatrixModel, threads: int = 1) -> None:
        self.mm = mm
        self.threads = threads
        self.dedicated = mm.fleet.settings.allocation == "dedicated"
        fam = mm.row_family
        self.cap_rows = mm.info["cap_rows"]
        self.yb_rows = np.flatnonzero(np.isin(fam, [FAMILIES.index(f) for f in YB_FAMILIES]))
        self.x_rows = np.flatnonzero(np.isin(fam, [FAMILIES.index(f) for f in X_FAMILIES]))
        self.n_cap, self.n_yb = len(self.cap_rows), len(self.yb_rows)
        self.n_blocks = int(mm.info["n_blocks"])
        self.n_yb_cols = mm.n_cols - mm.n_x
        x_cell = mm.x["cell"].to_numpy()
        self.x_block = mm.cell_block[x_cell]
        self.spr = mm.x["spr"].to_numpy(dtype=np.float64)
        self.cost_x = mm.cost[: mm.n_x]
        # y column (within the y/b part) of each capacity row, -1 if none.
        a_cap = mm.matrix[self.cap_rows][:, mm.n_x:].tocsr()
        self.a_cap_yb = a_cap
        self.a_yb = mm.matrix[self.yb_rows][:, mm.n_x:].tocsr()
        self.yb_family = fam[self.yb_rows]
        # Purchases serving each in-service column, latest quarter first (for price lifting).
        avail_coo = self.a_yb[self.yb_family == FAMILIES.index("available")].tocoo()
        n_b = len(mm.b)
        serving: dict[int, list[int]] = {}
        for row, col in zip(avail_coo.row, avail_coo.col, strict=True):
            if col < n_b:
                serving.setdefault(int(row), []).append(int(col))
        order = sorted(serving, key=lambda i: (-int(mm.y["t"].iat[i]), i))
        self.b_serving = {i: np.array(serving[i]) for i in order}
        # Capacity rows without an in-service column: their replicas must stay 0.
        dead_rows = np.ones(self.n_cap, dtype=bool)
        dead_rows[self.a_cap_yb.tocoo().row] = False
        self.dead = dead_rows[mm.x_cap_row]
        self.patterns: list[Patterns] = []
        self.n_patterns = 0
        self.master = None
        self._block_highs = None
        self.cuts = 0
        self.best_bound = -INF

    # ---- master LP ----------------------------------------------------------------------
    def _pattern_matrix(self, pats: Patterns) -> tuple[np.ndarray, sp.csc_matrix]:
        """Return (costs, master column block) of ``pats``: capacity rows and convexity."""
        mm = self.mm
        cols, vals, pid = pats.entry_col, pats.entry_value, pats.entry_pattern
        cost = np.bincount(pid, weights=self.cost_x[cols] * vals, minlength=pats.n)
        cap_r = mm.x_cap_row[cols]
        rows = np.concatenate([cap_r, self.n_cap + self.n_yb + pats.block])
        cidx = np.concatenate([pid, np.arange(pats.n)])
        data = np.concatenate([self.spr[cols] * vals, np.ones(pats.n)])
        m = sp.csc_matrix((data, (rows, cidx)),
                          shape=(self.n_cap + self.n_yb + self.n_blocks, pats.n))
        m.sum_duplicates()
        return cost, m

    def start_master(self, pats: Patterns) -> None:
        """Create the master LP with y, b, phase-1 slacks and the first patterns."""
        mm = self.mm
        n_rows = self.n_cap + self.n_yb + self.n_blocks
        yb = sp.vstack([self.a_cap_yb, self.a_yb,
                        sp.csr_matrix((self.n_blocks, self.n_yb_cols))]).tocsc()
        slack = sp.csc_matrix((-np.ones(self.n_yb), (self.n_cap + np.arange(self.n_yb),
                                                      np.arange(self.n_yb))),
                              shape=(n_rows, self.n_yb))
        p_cost, p_mat = self._pattern_matrix(pats)
        a = sp.hstack([yb, slack, p_mat]).tocsc()
        cost = np.concatenate([mm.cost[mm.n_x:], np.full(self.n_yb, SLACK_PENALTY_KUSD), p_cost])
        lower = np.zeros(a.shape[1])
        upper = np.concatenate([mm.upper[mm.n_x:], np.full(self.n_yb, INF),
                                np.full(pats.n, INF)])
        row_lower = np.concatenate([mm.row_lower[self.cap_rows], mm.row_lower[self.yb_rows],
                                    np.ones(self.n_blocks)])
        row_upper = np.concatenate([mm.row_upper[self.cap_rows], mm.row_upper[self.yb_rows],
                                    np.ones(self.n_blocks)])
        self.master = new_highs({"threads": self.threads})
        _pass(self.master, cost, lower, upper, a, row_lower, row_upper)
        self.first_pattern_col = self.n_yb_cols + self.n_yb
        self._record(pats)

    def _record(self, pats: Patterns) -> None:
        self.patterns.append(pats)
        self.n_patterns += pats.n

    def add_patterns(self, pats: Patterns) -> None:
        """Append pattern columns to the master LP (its basis is kept)."""
        if pats.n == 0:
            return
        cost, m = self._pattern_matrix(pats)
        start, index, value = _csc_arrays(m)
        self.master.addCols(pats.n, cost, np.zeros(pats.n), np.full(pats.n, INF),
                            len(value), start[:-1], index, value)
        self._record(pats)

    def solve_master(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Solve the master LP; return its value, capacity duals u >= 0 and block duals."""
        self.master.run()
        status = self.master.getModelStatus()
        if self.master.modelStatusToString(status) != "Optimal":
            raise SolverError(f"master LP ended {self.master.modelStatusToString(status)}")
        sol = self.master.getSolution()
        dual = np.asarray(sol.row_dual)
        u = np.maximum(0.0, -dual[: self.n_cap])
        sigma = dual[self.n_cap + self.n_yb:]
        value = self.master.getInfo().objective_function_value
        rc = np.asarray(sol.col_dual)[: self.n_yb_cols]
        activity = np.asarray(sol.row_value)[self.n_cap: self.n_cap + self.n_yb]
        return value, self._lift(u, rc, activity), sigma

    def _lift(self, u: np.ndarray, rc: np.ndarray, activity: np.ndarray) -> np.ndarray:
        """Raise capacity prices to what a server costs at the master's other duals.

        A capacity row no pattern uses has dual 0, which would price its platform as free in
        the Lagrangian bound. Its price is raised by the in-service column's reduced cost
        (to running cost plus power, space and installed-server values), and, where no
        installed server sits idle, by what purchases' reduced costs leave, latest quarter
        first (only where nothing is installed). Prices stay dual feasible for y and b.
        """
        mm = self.mm
        n_b = len(mm.b)
        u = u.copy()
        ycap = self.a_cap_yb.tocoo()  # rows: capacity row, cols: y/b column (y only)
        u[ycap.row] += np.maximum(0.0, rc[ycap.col])
        if n_b == 0:
            return u
        cap_of_y = np.full(len(mm.y), -1, dtype=np.int64)
        cap_of_y[ycap.col - n_b] = ycap.row
        avail = self.yb_family == FAMILIES.index("available")
        avail_rows = np.flatnonzero(avail)  # in y order
        # Only where nothing is installed: an installed server's value is the master's dual.
        tight = (mm.row_upper[self.yb_rows][avail_rows] <= 0) & (
            activity[avail_rows] >= -1e-6)
        rc_b = np.maximum(0.0, rc[:n_b].copy())
        for y_idx, b_list in self.b_serving.items():
            if not tight[y_idx] or cap_of_y[y_idx] < 0:
                continue
            delta = rc_b[b_list].min()
            if delta > 0:
                rc_b[b_list] -= delta
                u[cap_of_y[y_idx]] += delta
        return u

    def pricing_cost(self, u: np.ndarray) -> np.ndarray:
        """Return per-column cost of replicas under capacity prices ``u`` (kUSD/server).

        Columns that cannot be used (no servers of that platform there) get a prohibitive
        cost; the block LP fixes them to zero.
        """
        cost = self.cost_x + u[self.mm.x_cap_row] * self.spr
        cost[self.dead] = 1e9
        return cost

    def reduced_costs(self, pats: Patterns, cost: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Return each pattern's reduced cost under ``cost`` and block duals ``sigma``."""
        total = np.bincount(pats.entry_pattern, weights=cost[pats.entry_col] * pats.entry_value,
                            minlength=pats.n)
        return total - sigma[pats.block]

    @staticmethod
    def subset(pats: Patterns, keep: np.ndarray) -> Patterns:
        """Return the patterns where ``keep`` is True, renumbered."""
        new_id = np.full(pats.n, -1, dtype=np.int64)
        new_id[keep] = np.arange(int(keep.sum()))
        e = keep[pats.entry_pattern]
        return Patterns(pats.block[keep], pats.integral[keep], new_id[pats.entry_pattern[e]],
                        pats.entry_col[e], pats.entry_value[e])

    # ---- Lagrangian bound -----------------------------------------------------------------
    def _yb_part(self, u: np.ndarray, time_limit: float = 10.0) -> float:
        """Return a lower bound on min over y, b of ``cost - u . y``.

        Rows: installed servers, power, space and supply; purchases whole. Exact when the
        small MIP solves within its limit, else its dual bound.
        """
        mm = self.mm
        cost = mm.cost[mm.n_x:].copy()
        ycap = self.a_cap_yb.tocoo()
        np.add.at(cost, ycap.col, u[ycap.row] * ycap.data)  # y has -1 in its capacity row
        h = new_highs({"threads": self.threads, "time_limit": time_limit,
                       "mip_rel_gap": 1e-6})
        _pass(h, cost, mm.lower[mm.n_x:], mm.upper[mm.n_x:], self.a_yb,
              mm.row_lower[self.yb_rows], mm.row_upper[self.yb_rows], mm.integer[mm.n_x:])
        h.run()
        info = h.getInfo()
        status = h.modelStatusToString(h.getModelStatus())
        if status == "Optimal":
            return float(info.mip_dual_bound if mm.integer[mm.n_x:].any()
                         else info.objective_function_value)
        bound = getattr(info, "mip_dual_bound", None)
        if bound is None or not math.isfinite(bound):
            raise SolverError(f"y/b part of the bound ended {status}")
        return float(bound)

    def block_lp(self, cost: np.ndarray, cut_rounds: int,
                 deadline: float) -> tuple[float, np.ndarray]:
        """Return min ``cost . x`` over every block's polytope, and the minimiser.

        The polytope: demand, minimum-replica and DR rows plus the MIR cuts found so far;
        violated cuts are added in up to ``cut_rounds`` rounds.
        """
        mm = self.mm
        if self._block_highs is None:
            a = mm.matrix[self.x_rows][:, : mm.n_x]
            self._block_highs = new_highs({"threads": self.threads})
            # Replicas on a platform that has no servers in that region and quarter are 0.
            upper = np.where(self.dead, 0.0, mm.upper[: mm.n_x])
            _pass(self._block_highs, cost, np.zeros(mm.n_x), upper, a,
                  mm.row_lower[self.x_rows], mm.row_upper[self.x_rows])
            self.cut_source = a.tocsr()
            self.cut_rhs = mm.row_lower[self.x_rows]
        else:
            self._block_highs.changeColsCost(mm.n_x, np.arange(mm.n_x, dtype=np.int32), cost)
        h = self._block_highs
        for rnd in range(cut_rounds + 1):
            h.run()
            if h.modelStatusToString(h.getModelStatus()) != "Optimal":
                raise SolverError("block LP of the bound did not solve")
            xv = np.asarray(h.getSolution().col_value)
            if rnd == cut_rounds or not self.dedicated or time.perf_counter() > deadline:
                break
            added = self._add_mir_cuts(xv)
            if added == 0:
                break
        return float(h.getInfo().objective_function_value), xv

    def _add_mir_cuts(self, xv: np.ndarray) -> int:
        """Add violated mixed-integer rounding cuts of demand, DR and earlier cut rows.

        Each row ``sum a_j x_j >= b`` over whole replicas is divided by a candidate divisor
        (the coefficient of each column the LP uses, and the largest coefficient) and rounded:
        ``sum g_j x_j >= ceil(b / d)`` with ``g_j = ceil(a_j / d)`` when the fraction of
        ``a_j / d`` is at least ``f = frac(b / d)``, else ``floor(a_j / d) + frac(a_j / d) / f``.
        The most violated (per unit norm) cut of each row is added.
        """
        a = self.cut_source
        n_rows = a.shape[0]
        nnz = np.diff(a.indptr)
        row_of = np.repeat(np.arange(n_rows), nnz)
        xe = xv[a.indices]
        act_row = np.bincount(row_of, weights=a.data * xe, minlength=n_rows)
        tight = act_row <= self.cut_rhs * (1 + 1e-3) + 1e-9
        # Candidate divisors: coefficients of used columns, and each row's largest one.
        used = (xe > 1e-9) & tight[row_of]
        top = _first_per_segment(row_of, -a.data)
        cand_row = np.concatenate([row_of[used], row_of[top]])
        cand_div = np.concatenate([a.data[used], a.data[top]])
        beta = self.cut_rhs[cand_row] / cand_div
        f0 = beta - np.floor(beta)
        ok = tight[cand_row] & (f0 > 1e-4) & (f0 < 1 - 1e-4) & np.isfinite(beta) & (cand_div > 0)
        cand_row, cand_div, beta, f0 = cand_row[ok], cand_div[ok], beta[ok], f0[ok]
        if len(cand_row) == 0:
            return 0
        ent = _ranges(a.indptr[cand_row], nnz[cand_row])
        cand_of = np.repeat(np.arange(len(cand_row)), nnz[cand_row])
        alpha = a.data[ent] / cand_div[cand_of]
        fa = alpha - np.floor(alpha)
        f0e = f0[cand_of]
        g = np.where(fa < 1e-9, alpha, np.where(fa >= f0e, np.ceil(alpha),
                                                np.floor(alpha) + fa / f0e))
        act = np.bincount(cand_of, weights=g * xv[a.indices[ent]], minlength=len(cand_row))
        norm = np.sqrt(np.bincount(cand_of, weights=g * g, minlength=len(cand_row)))
        rhs = np.ceil(beta) - 1e-6  # a hair below the rounded value, for floating safety
        score = (rhs - act) / np.maximum(norm, 1e-12)
        viol = act < rhs - 1e-5 * np.maximum(1.0, rhs)
        best = _first_per_segment(cand_row, -np.where(viol, score, -INF))
        best = best[viol[best]]
        if len(best) == 0:
            return 0
        chosen = np.zeros(len(cand_row), dtype=bool)
        chosen[best] = True
        sel = chosen[cand_of]
        counts = nnz[cand_row[best]]
        order = np.argsort(cand_of[sel], kind="stable")  # entries grouped by cut
        idx = a.indices[ent[sel]][order].astype(np.int32)
        val = g[sel][order]
        cand_sorted = np.sort(best)
        counts = nnz[cand_row[cand_sorted]]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        cut_rhs = rhs[cand_sorted]
        self._block_highs.addRows(len(cand_sorted), cut_rhs, np.full(len(cand_sorted), INF),
                                  len(val), starts, idx, val)
        cut = sp.csr_matrix((val, idx, np.concatenate([starts, [len(val)]])),
                            shape=(len(cand_sorted), a.shape[1]))
        self.cut_source = sp.vstack([a, cut], format="csr")
        self.cut_rhs = np.concatenate([self.cut_rhs, cut_rhs])
        self.cuts += len(cand_sorted)
        return len(cand_sorted)

    def bound(self, u: np.ndarray, cut_rounds: int, deadline: float) -> tuple[float, np.ndarray,
                                                                              np.ndarray]:
        """Return the Lagrangian bound at prices ``u``, the block LP x and its costs."""
        cost = self.pricing_cost(u)
        value, xv = self.block_lp(cost, cut_rounds, deadline)
        yb_part = self._yb_part(u)
        self.last_parts = (value, yb_part)
        total = value + yb_part
        self.best_bound = max(self.best_bound, total)
        return total, xv, cost

    def fractional_patterns(self, xv: np.ndarray) -> Patterns:
        """Return the block LP solution itself as one (fractional) pattern per block."""
        cols = np.flatnonzero(xv > 1e-9)
        return _patterns_from(self.mm, cols, xv[cols], integral=not self.dedicated)

    # ---- primal ---------------------------------------------------------------------------


def _initial_prices(d: _Decomposition) -> tuple[np.ndarray, np.ndarray]:
    """Return natural capacity prices (kUSD per server-quarter) and their power-lean twin.

    A server-quarter costs its running cost, plus, where nothing is installed, its purchase
    price spread over the quarters left in the horizon.
    """
    mm = d.mm
    n_t = mm.fleet.settings.horizon_quarters
    ycap = d.a_cap_yb.tocoo()
    y_first = mm.n_x + len(mm.b)
    price = np.full(d.n_cap, 1e6)  # rows without in-service servers: never usable
    y_cols = ycap.col - len(mm.b)  # index into mm.y
    avail = np.flatnonzero(mm.row_family == FAMILIES.index("available"))
    inv = mm.row_upper[avail]  # available rows are in y order
    capex = pd.Series(mm.cost[mm.n_x:y_first], index=mm.b["p"].to_numpy()).groupby(level=0).max() \
        if len(mm.b) else pd.Series(dtype=float)
    yp, yt = mm.y["p"].to_numpy()[y_cols], mm.y["t"].to_numpy()[y_cols]
    amort = capex.reindex(yp).fillna(0.0).to_numpy() / np.maximum(1, n_t - yt)
    run = mm.cost[y_first + y_cols]
    price[ycap.row] = run + np.where(inv[y_cols] > 0, 0.0, amort)
    kw = d.a_yb.tocsc()  # power rows hold kW per server for each y
    fam = mm.row_family[d.yb_rows]
    power_rows = fam == FAMILIES.index("power")
    kw_y = np.asarray(abs(kw[power_rows]).sum(axis=0)).ravel()[len(mm.b):]
    lean = price.copy()
    scale = np.median(run) / max(np.median(kw_y), 1e-9) if len(run) else 0.0
    lean[ycap.row] += 2.0 * scale * kw_y[y_cols]
    return price, lean


def _concat(parts: list[Patterns]) -> Patterns:
    off, out = 0, []
    for p in parts:
        out.append(Patterns(p.block, p.integral, p.entry_pattern + off, p.entry_col,
                            p.entry_value))
        off += p.n
    return Patterns(np.concatenate([p.block for p in out]),
                    np.concatenate([p.integral for p in out]),
                    np.concatenate([p.entry_pattern for p in out]),
                    np.concatenate([p.entry_col for p in out]),
                    np.concatenate([p.entry_value for p in out]))


# ---------------------------------------------------------------------------------------------
# Public entry points: direct HiGHS solve, Lagrangian bound, plan
# ---------------------------------------------------------------------------------------------


@dataclass
class MatrixSolve:
    """Outcome of :func:`solve_matrix` (objective and bound in kUSD, like the PuLP model)."""

    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    handover_seconds: float
    solver_seconds: float
    values: np.ndarray | None
    message: str = ""

    @property
    def has_solution(self) -> bool:
        """Return whether variable values are available."""
        return self.values is not None


def solve_matrix(mm: MatrixModel, time_limit_s: float, mip_gap: float, threads: int = 1,
                 mip: bool = True, options: dict | None = None,
                 warm_start: np.ndarray | None = None) -> MatrixSolve:
    """Solve ``mm`` with HiGHS in-process, handing it the arrays directly (no PuLP objects).

    ``mip=False`` solves the LP relaxation (its value is then also the bound). ``options``
    are extra HiGHS options (e.g. ``{"mip_heuristic_effort": 0.3}``). ``warm_start`` is a
    full solution vector handed to HiGHS as its first incumbent. Note that HiGHS checks its
    time limit only between phases: a root LP can overrun it.
    """
    start = time.perf_counter()
    opts = {"threads": threads, "time_limit": float(time_limit_s), "mip_rel_gap": mip_gap,
            **HIGHS_OPTIONS, **(options or {})}
    h = new_highs(opts)
    _pass(h, mm.cost, mm.lower, mm.upper, mm.matrix, mm.row_lower, mm.row_upper,
          mm.integer if mip else None)
    if warm_start is not None:
        import highspy

        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(warm_start, dtype=np.float64)
        sol.value_valid = True
        h.setSolution(sol)
    handover = time.perf_counter() - start
    h.run()
    seconds = time.perf_counter() - start
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    has = info.primal_solution_status == 2
    if status == "Infeasible":
        return MatrixSolve("infeasible", None, None, None, seconds, handover, h.getRunTime(),
                           None, status)
    if not has:
        return MatrixSolve("no_solution", None, None, None, seconds, handover,
                           h.getRunTime(), None, status)
    objective = float(info.objective_function_value)
    if mip and mm.integer.any():
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    else:
        bound = objective if status == "Optimal" else None
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9)
    proven = status == "Optimal" and (gap is None or gap <= mip_gap + 1e-9)
    return MatrixSolve("optimal" if proven else "feasible", objective, bound, gap, seconds,
                       handover, h.getRunTime(), np.asarray(h.getSolution().col_value), status)


@dataclass
class BoundResult:
    """A valid lower bound on the integer program (kUSD) and how it was obtained."""

    bound: float
    seconds: float
    rounds: int
    cg_iterations: int
    cuts: int
    master_lp: float


def lagrangian_bound(mm: MatrixModel, time_limit_s: float = 60.0, threads: int = 1,
                     target_gap: float = 0.0, log=None) -> BoundResult:
    """Return a lower bound on the integer program of ``mm`` by decomposition.

    Models couple only through each platform's servers in a region and quarter. Pricing
    those servers at ``u >= 0`` splits the program into (model, quarter) blocks plus a small
    purchases/in-service part; ``L(u)`` = block minimum + purchases minimum is a valid lower
    bound for any ``u``. The block minimum is taken over the block LP tightened with
    mixed-integer rounding cuts of the demand and DR rows (valid for whole replicas), the
    purchases part keeps whole purchases. Prices come from a Dantzig-Wolfe master over block
    patterns (whole-replica patterns from a fast heuristic, then the block LP points), raised
    where a platform is unused so that it is not priced as free.

    Stops at ``time_limit_s`` (checked between rounds) or when the bound is within
    ``target_gap`` of the master LP.
    """
    t0 = time.perf_counter()
    say = log or (lambda *a: None)
    d = _Decomposition(mm, threads)
    u0, lean = _initial_prices(d)
    first = [price_blocks(mm, d.pricing_cost(u)) for u in (u0, lean)]
    first.append(price_blocks(mm, d.pricing_cost(u0), spread=True))
    d.start_master(_concat(first))
    history: list[float] = []
    it = 0
    while True:
        it += 1
        value, u, sigma = d.solve_master()
        history.append(value)
        cost = d.pricing_cost(u)
        new = _concat([price_blocks(mm, cost), price_blocks(mm, cost, spread=True)])
        rc = d.reduced_costs(new, cost, sigma)
        good = rc < -1e-7 * np.maximum(1.0, np.abs(sigma[new.block]))
        say(f"cg {it}: master {value:,.3f}, {int(good.sum())} new patterns")
        stalled = len(history) > 2 and history[-3] - value < 1e-3 * abs(value)
        if (not good.any() or stalled or it >= 8
                or time.perf_counter() > t0 + 0.25 * time_limit_s):
            break
        d.add_patterns(d.subset(new, good))
    rounds = 0
    deadline = t0 + time_limit_s
    while True:
        rounds += 1
        _b, xv, cost = d.bound(u, cut_rounds=6, deadline=deadline)
        extra = d.fractional_patterns(xv)
        rc = d.reduced_costs(extra, cost, sigma)
        good = rc < -1e-7 * np.maximum(1.0, np.abs(sigma[extra.block]))
        if good.any():
            d.add_patterns(d.subset(extra, good))
        value, u, sigma = d.solve_master()
        say(f"bound round {rounds}: {d.best_bound:,.3f} (master LP {value:,.3f}, "
            f"{d.cuts} cuts)")
        close = (value - d.best_bound) <= target_gap * abs(value)
        if close or time.perf_counter() > deadline or rounds >= 10:
            break
    return BoundResult(d.best_bound, time.perf_counter() - t0, rounds, it, d.cuts, value)


def plan_from_values(mm: MatrixModel, values: np.ndarray) -> Plan:
    """Return the :class:`Plan` of a solution vector of ``mm`` (integers rounded).

    In-service servers are taken as the allocated servers (the least the solution needs,
    never more than it has in service), so noise in continuous columns cannot add cost.
    """
    from planner.results import plan_from_decisions

    dedicated = mm.fleet.settings.allocation == "dedicated"
    n_x, n_b = mm.n_x, len(mm.b)
    x = values[:n_x].copy()
    b = np.round(values[n_x:n_x + n_b])
    y = values[n_x + n_b:]
    x[np.abs(x) < 1e-6] = 0.0
    if dedicated:
        x = np.round(x)
    keep = x > 0
    xs = mm.x[keep]
    replicas = dict(zip(zip(xs["model_id"], xs["platform_id"], xs["region_id"],
                            xs["quarter"].astype(int), strict=True), x[keep].tolist(),
                        strict=True))
    bk = b > 0
    bs = mm.b[bk]
    purchases = dict(zip(zip(bs["platform_id"], bs["region_id"], bs["quarter"].astype(int),
                             strict=True), b[bk].tolist(), strict=True))
    alloc = np.bincount(mm.x_cap_row, weights=x * mm.x["spr"].to_numpy(),
                        minlength=int(mm.x_cap_row.max()) + 1 if n_x else 0)
    cap_keys = [mm.row_key[i] for i in mm.info["cap_rows"]]
    in_service = {k: float(v) for k, v in zip(cap_keys, alloc, strict=True) if v > 0}
    if not dedicated:
        # Pooled: whole servers in service, at least what is allocated.
        ys = mm.y.assign(v=np.round(y))
        for p, r, t, v in zip(ys["platform_id"], ys["region_id"], ys["quarter"], ys["v"],
                              strict=True):
            if v > 0:
                in_service[(p, r, int(t))] = float(v)
    return plan_from_decisions(mm.fleet, replicas, purchases, in_service, mm.demand)


def plan_at_scale(fleet: Fleet, *, time_limit_s: float | None = None,
                  mip_gap: float | None = None, threads: int | None = None,
                  bound_time_s: float = 0.0, options: dict | None = None,
                  log=None) -> Plan:
    """Plan ``fleet`` through the array path: vectorised build, HiGHS in-process, same model.

    Same variables, rows and objective as :func:`planner.model.build_model`, without PuLP's
    per-constraint objects and hand-over. With ``bound_time_s > 0`` a Lagrangian bound
    (:func:`lagrangian_bound`) is computed after the solve and reported when it is better
    than the solver's own bound.

    Returns:
        A plan whose ``summary`` holds status, objective, best bound, gap and stage timings;
        verify it with :func:`planner.verify.verify_plan` like any plan.

    Raises:
        SolverError: When HiGHS finds no plan within its limits (or proves none exists; use
            :func:`planner.pipeline.make_plan` to have infeasibility explained).
    """
    opts = fleet.settings.solver
    limit = time_limit_s if time_limit_s is not None else opts.time_limit_s
    gap = mip_gap if mip_gap is not None else opts.mip_gap
    n_threads = threads or opts.threads
    t0 = time.perf_counter()
    mm = build_matrix(fleet)
    result = solve_matrix(mm, limit, gap, n_threads, options=options)
    if not result.has_solution:
        raise SolverError(f"highs found no plan ({result.status}: {result.message}) for "
                          f"'{fleet.name}' in {result.seconds:.0f} s; raise the time limit")
    bound, bound_source = result.bound, "highs"
    lagrangian = None
    if bound_time_s > 0 and (result.gap is None or result.gap > gap):
        lagrangian = lagrangian_bound(mm, bound_time_s, n_threads, target_gap=gap / 4,
                                      log=log)
        if bound is None or lagrangian.bound > bound:
            bound, bound_source = min(lagrangian.bound, result.objective), "lagrangian"
    t = time.perf_counter()
    plan = plan_from_values(mm, result.values)
    extract_seconds = time.perf_counter() - t
    final_gap = None if bound is None else max(0.0, (result.objective - bound)
                                               / max(abs(result.objective), 1e-9))
    status = "optimal" if final_gap is not None and final_gap <= gap + 1e-9 else result.status
    plan.summary = {
        "case": fleet.name,
        "status": status,
        "solver": "highs (arrays)",
        "objective": fleet.settings.objective,
        "objective_value": result.objective,
        "best_bound": bound,
        "bound_source": bound_source,
        "gap": final_gap,
        "build_seconds": round(mm.build_seconds, 4),
        "handover_seconds": round(result.handover_seconds, 4),
        "solve_seconds": round(result.seconds - result.handover_seconds, 4),
        "bound_seconds": round(lagrangian.seconds, 4) if lagrangian else 0.0,
        "extract_seconds": round(extract_seconds, 4),
        "wall_seconds": round(time.perf_counter() - t0, 4),
        **plan_totals(plan),
        "horizon_quarters": fleet.settings.horizon_quarters,
        "variables": mm.n_cols,
        "constraints": mm.n_rows,
    }
    return plan


def load_values(model, mm: MatrixModel, values: np.ndarray) -> None:
    """Set a PuLP :class:`~planner.model.PlanningModel`'s variables to a solution of ``mm``.

    Both builders name columns alike, so a plan found on the arrays can be explained with
    the PuLP model (:func:`planner.insight.shadow_prices` reads ``varValue``).
    """
    by_name = dict(zip(mm.column_names(), values.tolist(), strict=True))
    for var in model.variables:
        var.varValue = by_name.get(var.name, 0.0)
