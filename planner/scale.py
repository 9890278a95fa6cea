"""The capacity-planning program as arrays: built once, handed to HiGHS in one call.

* :func:`build_matrix` builds exactly the columns, rows, coefficients, bounds and objective
  of :func:`planner.model.build_model` (same names, same scaling) with numpy/scipy, in a
  fraction of the time and memory, and without PuLP objects (``tests/test_synthetic.py``
  pins the two builders to the same matrix).
* :func:`solve_matrix` hands those arrays to HiGHS in-process (``passModel``) and solves the
  MIP or its LP relaxation: plain HiGHS, the yardstick the anytime path is measured against.
* :func:`plan_from_values` turns a solution vector into a :class:`~planner.results.Plan`
  (verified like any plan); :func:`load_values` puts it on a PuLP model for shadow prices.

The anytime path that plans from these arrays lives in :mod:`planner.optimization`.
Decomposition experiments that were measured without gain (Lagrangian bound, price-and-round
over blocks, plain HiGHS as the planner) are in ``bench/decomposition.py``, with their
numbers in ``bench/README.md``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.demand import peak_demand
from planner.diurnal import layout as diurnal
from planner.fleet import Fleet
from planner.model import objective_weights
from planner.parameters import candidates, inventory_by_quarter, power_caps
from planner.results import Plan
from planner.solve import HIGHS_OPTIONS
from planner.topology import backups

INF = math.inf
FAMILIES = ("demand", "minrep", "dr", "capacity", "available", "power", "space", "supply",
            "volume", "follow_sun", "preempt")


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
    if diurnal.is_slotted(fleet):
        local = pd.concat([local, diurnal.volume_cells(fleet)], ignore_index=True)
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

    # ---- daily volume of movable training (slotted fleets; planner.model) -----------------
    _add_volume_rows(fleet, x, rows, util, x_off)

    # ---- capacity: sum_m spr x[m,p,r,t] - y[p,r,t] <= 0 (slotted: one row per slot) -------
    x_idx, x_slot, n_s = _capacity_members(fleet, x)
    prt = ((x["p"].to_numpy()[x_idx] * n_r + x["r"].to_numpy()[x_idx]) * n_t
           + x["t"].to_numpy()[x_idx]) * n_s + x_slot
    uniq, member_row = np.unique(prt, return_inverse=True)
    us, uniq = uniq % n_s, uniq // n_s
    up, ur, ut = uniq // (n_r * n_t), (uniq // n_t) % n_r, uniq % n_t
    ycol = y_index[up, ur, ut]
    has = ycol >= 0
    cap_keys = [(plat_ids[p], region_ids[r], int(t)) for p, r, t in zip(up, ur, ut, strict=True)]
    if diurnal.is_slotted(fleet):
        cap_keys = [(*k, int(s)) for k, s in zip(cap_keys, us, strict=True)]
    rows.add("capacity", cap_keys,
             np.concatenate([member_row, np.flatnonzero(has)]),
             np.concatenate([x_idx + x_off, ycol[has]]),
             np.concatenate([x["spr"].to_numpy(dtype=np.float64)[x_idx],
                             -np.ones(int(has.sum()))]),
             -INF, 0.0)
    cap_row = np.zeros(n_x, dtype=np.int64)  # each column's first capacity row
    cap_row[x_idx[::-1]] = member_row[::-1]

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
    weights = objective_weights(fleet)  # the PuLP model's coefficients, one definition
    buy = np.array([weights.purchase[p] for p in plat_ids])
    serve = np.array([[weights.in_service[(p, r)] for r in region_ids] for p in plat_ids])
    occupy = np.array([[weights.allocated[(p, r)] for r in region_ids] for p in plat_ids])
    cost = np.concatenate([
        occupy[x["p"].to_numpy(), x["r"].to_numpy()] * x["spr"].to_numpy() if n_x
        else np.zeros(0),
        buy[b["p"].to_numpy()] if n_b else np.zeros(0),
        serve[y["p"], y["r"]],
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


def _capacity_members(fleet: Fleet, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (column, slot) pairs of the capacity rows and the slots per day (1: no slots).

    In a slotted fleet a model that runs all day sits in the capacity row of every slot.
    """
    x_idx = np.arange(len(x), dtype=np.int64)
    if not diurnal.is_slotted(fleet):
        return x_idx, np.zeros(len(x), dtype=np.int64), 1
    n_s = diurnal.slot_count(fleet)
    raw = x["model_id"].map(diurnal.model_slots(fleet)).to_numpy(dtype=np.int64)
    every = raw == diurnal.EVERY_SLOT
    cols = np.concatenate([x_idx[~every], np.repeat(x_idx[every], n_s)])
    slots = np.concatenate([raw[~every], np.tile(np.arange(n_s, dtype=np.int64),
                                                 int(every.sum()))])
    return cols, slots, n_s


def _add_volume_rows(fleet: Fleet, x: pd.DataFrame, rows: _Rows, util: float,
                     x_off: int) -> None:
    """Daily volume: sum_s sum_p (1/n) u rq x[c_s,p,r,t] >= mean_qps (scaled by the largest)."""
    vol = diurnal.volumes(fleet)
    if vol.empty or x.empty:
        return
    n_s = diurnal.slot_count(fleet)
    base_of = {c: b for b, cs in diurnal.volume_copies(fleet).items() for c in cs}
    keys = list(zip(vol["base_model_id"], vol["region_id"], vol["quarter"].astype(int),
                    strict=True))
    index = {k: i for i, k in enumerate(keys)}
    xr = np.array([index.get((base_of.get(m), r, int(t)), -1) for m, r, t in
                   zip(x["model_id"], x["region_id"], x["quarter"], strict=True)],
                  dtype=np.int64)
    sel = xr >= 0
    coef = util / n_s * x["replica_qps"].to_numpy(dtype=np.float64)
    top = np.zeros(len(keys))
    np.maximum.at(top, xr[sel], coef[sel])
    top[top <= 0] = 1.0
    rows.add("volume", keys, xr[sel], np.flatnonzero(sel) + x_off, coef[sel] / top[xr[sel]],
             vol["mean_qps"].to_numpy(dtype=np.float64) / top, INF)


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


def prepare_run(h, warm_start: np.ndarray | None = None,
                should_stop: Callable[[], bool] | None = None) -> None:
    """Hand ``h`` a start (a full solution vector) and an interrupt polled by its callbacks.

    ``should_stop`` is read by HiGHS' simplex and branch-and-bound interrupt callbacks, so a
    Cancel (or the hard-limit flag of :mod:`planner.optimization.isolated`) ends the run with
    its incumbent.
    """
    if warm_start is not None:
        import highspy

        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(warm_start, dtype=np.float64)
        sol.value_valid = True
        h.setSolution(sol)
    if should_stop is not None:
        def interrupt(event) -> None:
            if should_stop():
                event.interrupt()

        h.cbMipInterrupt += interrupt
        h.cbSimplexInterrupt += interrupt


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
    time limit only between phases (a root LP can overrun it), so with one thread the solve
    runs in a forked child that is killed ``grace_seconds`` after the limit
    (:mod:`planner.optimization.isolated`); a killed solve returns ``no_solution``.
    """
    from planner.optimization.isolated import can_fork, run_isolated

    if not (math.isfinite(time_limit_s) and can_fork(threads)):
        return _solve_matrix_here(mm, time_limit_s, mip_gap, threads, mip, options, warm_start)
    from planner.optimization.highs import FLAG_DELAY_S, grace_seconds

    start = time.perf_counter()
    limit = max(0.01, float(time_limit_s))
    out = run_isolated(
        lambda flag: _solve_matrix_here(mm, limit, mip_gap, threads, mip, options, warm_start,
                                        should_stop=flag.__bool__),
        soft_deadline=start + limit + FLAG_DELAY_S, grace_s=grace_seconds(limit))
    seconds = time.perf_counter() - start
    if out is None:
        return MatrixSolve("no_solution", None, None, None, seconds, 0.0, seconds, None,
                           f"killed {seconds - limit:.1f} s after the {limit:g} s time limit")
    out.seconds = seconds
    return out


def _solve_matrix_here(mm: MatrixModel, time_limit_s: float, mip_gap: float, threads: int,
                       mip: bool, options: dict | None, warm_start: np.ndarray | None,
                       should_stop: Callable[[], bool] | None = None) -> MatrixSolve:
    """Make the solve of :func:`solve_matrix` in this process."""
    start = time.perf_counter()
    opts = {"threads": threads, "time_limit": float(time_limit_s), "mip_rel_gap": mip_gap,
            **HIGHS_OPTIONS, **(options or {})}
    h = new_highs(opts)
    _pass(h, mm.cost, mm.lower, mm.upper, mm.matrix, mm.row_lower, mm.row_upper,
          mm.integer if mip else None)
    prepare_run(h, warm_start, should_stop)
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


def load_values(model, mm: MatrixModel, values: np.ndarray) -> None:
    """Set a PuLP :class:`~planner.model.PlanningModel`'s variables to a solution of ``mm``.

    Both builders name columns alike, so a plan found on the arrays can be explained with
    the PuLP model (:func:`planner.insight.shadow_prices` reads ``varValue``).
    """
    by_name = dict(zip(mm.column_names(), values.tolist(), strict=True))
    for var in model.variables:
        var.varValue = by_name.get(var.name, 0.0)
