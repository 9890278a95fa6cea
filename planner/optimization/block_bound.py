"""A lower bound that sees whole replicas: the LP's prices on shared rows, each block whole.

The LP relaxation is weak where whole replicas are lumpy: a model that needs 2.3 replicas
in a region pays for 2.3 in the LP and for 3 in any plan. On synthetic XL, where power caps
bind, this is most of the distance between the plans and the LP.

Replica columns couple with the rest of the program only through the rows that also hold
in-service or purchase columns (installed servers per platform, region and quarter). Priced
at any multipliers ``pi`` (here the LP's own row duals), those rows leave a Lagrangian
relaxation that splits into independent blocks: one per model and quarter (its cells'
demand and minimum-replica rows and its disaster-recovery rows, which join its regions)
plus one program of the servers and purchases alone::

    L(pi) = sum over blocks of  min (c - A'pi) x  over the block's whole replicas
            + min (c - A'pi) over servers and purchases  + sum_i min(pi_i l_i, pi_i u_i)

``L(pi)`` is a valid lower bound for any ``pi`` of the right signs, and at the LP's duals it
is at least the LP bound, because each block's whole minimum is at least its LP minimum.
The blocks are a few dozen columns each; each is solved by HiGHS with a node limit and its
proven bound is taken (never below the block's LP value), so the bound is valid when a
block stops early. Blocks run in order of how fractional the LP left them, so a deadline
keeps the largest gains; a block not reached keeps its LP value and the bound stays valid.

Measured (bench/README "A bound that sees whole replicas", ``bench/block_bound.py``), one
core: synthetic M +1.6 % over the capped LP in 6 s; XL +7.6 % (259,117 kUSD) in 139 s, XXL
+18.8 % in 468 s, where power caps bind; one XL quarter alone +10.0 % in 18 s. The blocks'
own whole solutions overflow the priced rows (as the LP's prices are ties for many of them)
and were no start for plans.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from planner.scale import MatrixModel, _pass, new_highs

# Per block: a node limit keeps each solve to milliseconds and the result independent of
# the clock; the bound HiGHS proves by then is what counts, so a looser gap costs little.
BLOCK_NODES = 200
BLOCK_GAP = 1e-4
# HiGHS' heuristics look for plans; only the bound is wanted here (halves the time).
BLOCK_OPTIONS = {"mip_detect_symmetry": False, "mip_heuristic_effort": 0.0}
FRACTIONAL_TOL = 1e-6
# Relative to the sizes of the terms that are added: the priced parts are large and of
# opposite signs (XL quarter: blocks 1.38 M, servers -1.18 M for a bound of 0.195 M), so
# HiGHS' tolerances are charged on each term, not on the difference.
BOUND_MARGIN = 1e-6


@dataclass
class BlockBound:
    """A lower bound on every whole plan (kUSD) and how it was found."""

    bound: float
    blocks: int  # blocks of replica columns
    fractional: int  # blocks whose LP values were not whole
    solved: int  # of those, blocks solved whole before the deadline
    seconds: float
    # Taken off the sum for the solvers' tolerances (BOUND_MARGIN): where no block gains,
    # the bound lies this much below the LP's value.
    margin: float = 0.0


@dataclass
class _Split:
    """Which rows are priced, which belong to a block, which to the servers' program."""

    priced: np.ndarray  # rows with replica columns of more than one block or other columns
    block_rows: np.ndarray  # rows with replica columns of one block only
    other_rows: np.ndarray  # rows with other columns only
    col_block: np.ndarray  # block of each replica column
    row_block: np.ndarray  # block of each of block_rows
    n_blocks: int


def _split(mm: MatrixModel) -> _Split:
    a = mm.matrix.tocoo()
    replica = np.zeros(mm.n_cols, dtype=bool)
    replica[:mm.n_x] = True
    # A row belongs to a block when all its columns are replicas of one (model, quarter);
    # any other row with a replica column is priced (installed servers; a platform's
    # servers where none can be in service, which would join all of a quarter's models).
    col_group = np.full(mm.n_cols, -1, dtype=np.int64)
    col_group[:mm.n_x] = mm.cell_block[mm.x["cell"].to_numpy()]
    group = col_group[a.col]
    big = np.iinfo(np.int64).max
    low = np.full(mm.n_rows, big)
    high = np.full(mm.n_rows, -1)
    np.minimum.at(low, a.row, np.where(replica[a.col], group, big))
    np.maximum.at(high, a.row, np.where(replica[a.col], group, -1))
    has_x = high >= 0
    has_other = np.zeros(mm.n_rows, dtype=bool)
    has_other[a.row[~replica[a.col]]] = True
    own = has_x & ~has_other & (low == high)
    block_rows = np.flatnonzero(own)
    x_part = mm.matrix[block_rows][:, :mm.n_x]
    graph = sp.bmat([[None, x_part], [x_part.T, None]]).tocsr()
    _, label = connected_components(graph, directed=False)
    # Renumber so that blocks are 0..k-1 over replica columns (a row always has a column).
    col_label = label[len(block_rows):]
    uniq, col_block = np.unique(col_label, return_inverse=True)
    row_block = np.searchsorted(uniq, label[:len(block_rows)])
    return _Split(np.flatnonzero(has_x & ~own), block_rows,
                  np.flatnonzero(has_other & ~has_x), col_block, row_block, len(uniq))


def block_bound(
    mm: MatrixModel,
    row_dual: np.ndarray,
    *,
    deadline: float = math.inf,
    should_stop: Callable[[], bool] | None = None,
) -> BlockBound | None:
    """Return the bound ``L(row_dual)`` described above, or None if a part has no LP optimum.

    ``row_dual`` is one multiplier per row (HiGHS' sign convention: positive on an active
    lower side); only the priced rows' entries are used, clipped to the signs their finite
    sides allow. ``deadline`` (``time.perf_counter()``) and ``should_stop`` end the block
    solves early; the bound returned is valid either way.
    """
    start = time.perf_counter()
    stop = should_stop or (lambda: False)
    s = _split(mm)
    pi = np.zeros(mm.n_rows)
    pi[s.priced] = row_dual[s.priced]
    lo, up = mm.row_lower, mm.row_upper
    pi[(pi > 0) & ~np.isfinite(lo)] = 0.0
    pi[(pi < 0) & ~np.isfinite(up)] = 0.0
    side = np.where(pi > 0, np.where(np.isfinite(lo), lo, 0.0),
                    np.where(np.isfinite(up), up, 0.0))
    constant = float(pi @ side)
    reduced = mm.cost - mm.matrix.T @ pi

    xs = np.arange(mm.n_x)
    others = np.arange(mm.n_x, mm.n_cols)
    x_lp = _lp(mm, reduced, xs, s.block_rows)
    other_lp = _lp(mm, reduced, others, s.other_rows)
    if x_lp is None or other_lp is None:
        return None
    x_values, _ = x_lp
    _, other_value = other_lp
    block_value = np.bincount(s.col_block, reduced[:mm.n_x] * x_values, minlength=s.n_blocks)
    frac = np.abs(x_values - np.round(x_values))
    frac = np.where(mm.integer[:mm.n_x] & (frac > FRACTIONAL_TOL), frac, 0.0)
    weight = np.bincount(s.col_block, frac * np.abs(mm.cost[:mm.n_x]), minlength=s.n_blocks)
    fractional = np.flatnonzero(weight > 0)
    order = fractional[np.argsort(-weight[fractional], kind="stable")]

    col_order = np.argsort(s.col_block, kind="stable")
    col_start = np.searchsorted(s.col_block[col_order], np.arange(s.n_blocks + 1))
    row_order = np.argsort(s.row_block, kind="stable")
    row_start = np.searchsorted(s.row_block[row_order], np.arange(s.n_blocks + 1))
    block_matrix = mm.matrix[s.block_rows][:, :mm.n_x].tocsc()
    h = new_highs({"threads": 1, "random_seed": 0, "mip_max_nodes": BLOCK_NODES,
                   "mip_rel_gap": BLOCK_GAP, **BLOCK_OPTIONS})
    solved = 0
    for k in order:
        if time.perf_counter() >= deadline or stop():
            break
        cols = col_order[col_start[k]:col_start[k + 1]]
        rows = row_order[row_start[k]:row_start[k + 1]]
        h.clearModel()
        _pass(h, reduced[cols], mm.lower[cols], mm.upper[cols],
              block_matrix[:, cols][rows].tocsr(), lo[s.block_rows[rows]],
              up[s.block_rows[rows]], mm.integer[cols])
        h.run()
        proven = h.getInfo().mip_dual_bound
        if h.modelStatusToString(h.getModelStatus()) == "Infeasible":
            continue  # cannot happen for a feasible program; keep the LP value
        if math.isfinite(proven):
            block_value[k] = max(block_value[k], proven)
        solved += 1
    total = float(block_value.sum()) + other_value + constant
    scale = float(np.abs(block_value).sum()) + abs(other_value) + abs(constant)
    margin = BOUND_MARGIN * scale
    return BlockBound(total - margin, s.n_blocks, len(fractional), solved,
                      time.perf_counter() - start, margin)


def _lp(mm: MatrixModel, cost: np.ndarray, cols: np.ndarray,
        rows: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Return the values and objective of the LP of these columns and rows, None if not optimal."""
    if len(cols) == 0:
        return np.zeros(0), 0.0
    h = new_highs({"threads": 1, "random_seed": 0})
    _pass(h, cost[cols], mm.lower[cols], mm.upper[cols], mm.matrix[rows][:, cols],
          mm.row_lower[rows], mm.row_upper[rows])
    h.run()
    if h.modelStatusToString(h.getModelStatus()) != "Optimal":
        return None
    return np.asarray(h.getSolution().col_value), float(h.getInfo().objective_function_value)
