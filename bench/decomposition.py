"""Experiments that lost: decomposition bounds and price-and-round over (model, quarter) blocks.

Moved out of ``planner/scale.py`` when the anytime path (``planner.optimization``) replaced
them; kept runnable because ``bench/run.py`` and ``bench/levers.py`` re-measure them, and
``bench/README.md`` ("Levers tried") has their numbers:

* :func:`lagrangian_bound`: models couple only through each platform's servers per region and
  quarter; pricing those servers splits the program into (model, quarter) blocks, tightened
  with mixed-integer rounding cuts and priced by a Dantzig-Wolfe master. Valid, but at XL it
  was no better than the LP relaxation in the time it took.
* :func:`price_blocks` and the restricted master: price-and-round plans were 5–40 % above the
  LP where the anytime path's rounding with a purchase repair is within 1–2 %.
* :func:`plan_at_scale`: plain HiGHS on the array model (no anytime stages), the "arrays+highs"
  path of ``bench/run.py``; at the default settings it stopped 0.8–63 % above the LP bound on
  a busy machine where the anytime path proves 0.5 %.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.errors import SolverError
from planner.fleet import Fleet
from planner.results import Plan, plan_totals
from planner.scale import (
    FAMILIES,
    INF,
    MatrixModel,
    _csc_arrays,
    _pass,
    _ranges,
    build_matrix,
    new_highs,
    plan_from_values,
    solve_matrix,
)

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

