"""Whole replicas from an LP solution, one (model, region, quarter) cell at a time.

A cell's replicas appear in its demand row, its minimum-replica row and in the
disaster-recovery rows of the regions it backs up, always through the cell's throughput
(sum of replica qps × replicas) or its replica count. Keeping, in every cell, at least the
LP's throughput and the minimum replica count therefore keeps all three families satisfied,
whatever the other cells do: each cell can be rounded on its own. Among the whole-replica
choices near the LP (⌊x⌋−1 … ⌈x⌉+1 on the columns the LP uses, 0 … 2 on the cheapest unused
column) the cheapest at the given column prices wins; ties go to the first in a fixed order,
so the result depends only on the inputs.
"""

from __future__ import annotations

import numpy as np

from planner.scale import MatrixModel

MAX_ROUNDED_COLUMNS = 4  # columns enumerated per cell; more LP columns are rounded up
THROUGHPUT_TOL = 1e-9  # relative: the LP's own throughput carries solver noise


def cell_throughput(mm: MatrixModel, x: np.ndarray) -> np.ndarray:
    """Return each cell's capacity in queries/s (replica qps × replicas, summed)."""
    q = mm.x["replica_qps"].to_numpy(dtype=np.float64)
    return np.bincount(mm.x["cell"].to_numpy(), weights=q * x, minlength=len(mm.cells))


def round_cells(
    mm: MatrixModel,
    x_lp: np.ndarray,
    price: np.ndarray,
    fixed: np.ndarray,
) -> np.ndarray:
    """Return whole replicas per x column, cell by cell, at least as strong as ``x_lp``.

    Args:
        mm: The array model.
        x_lp: LP replicas per x column (length ``mm.n_x``).
        price: Cost of one more replica per x column (kUSD), the rounding's objective.
        fixed: Columns already whole (kept at ``round(x_lp)``).
    """
    q = mm.x["replica_qps"].to_numpy(dtype=np.float64)
    out = np.where(fixed, np.round(x_lp), 0.0)
    need_qps = np.maximum(cell_throughput(mm, x_lp), mm.cell_need_qps)
    for c in range(len(mm.cells)):
        s, n = int(mm.x_start[c]), int(mm.x_count[c])
        if n == 0:
            continue
        cols = np.arange(s, s + n)
        free = cols[~fixed[cols]]
        fix = cols[fixed[cols]]
        qps = need_qps[c] * (1 - THROUGHPUT_TOL) - float(q[fix] @ out[fix])
        count = mm.cell_min_replicas[c] - float(out[fix].sum())
        if (qps <= 0 and count <= 0) or len(free) == 0:
            continue
        used = free[x_lp[free] > 1e-7]
        if len(used) > MAX_ROUNDED_COLUMNS:
            # Keep the columns carrying most throughput; round the rest up and fix them.
            order = np.argsort(-(q[used] * x_lp[used]), kind="stable")
            rest = used[order[MAX_ROUNDED_COLUMNS:]]
            out[rest] = np.ceil(x_lp[rest] - 1e-9)
            qps -= float(q[rest] @ out[rest])
            count -= float(out[rest].sum())
            used = used[order[:MAX_ROUNDED_COLUMNS]]
        unused = np.setdiff1d(free, used, assume_unique=True)
        ranges = [np.arange(max(0.0, np.floor(x_lp[j] + 1e-9) - 1), np.ceil(x_lp[j] - 1e-9) + 2)
                  for j in used]
        choose = list(used)
        if len(unused):
            cheapest = unused[np.argmin(price[unused] / np.maximum(q[unused], 1e-12))]
            choose.append(cheapest)
            ranges.append(np.arange(0.0, 3.0))
        if not choose:
            continue
        grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(choose))
        ok = (grid @ q[choose] >= qps) & (grid.sum(axis=1) >= count - 1e-9)
        if not ok.any():  # cannot happen when x_lp satisfies the cell; round up as a guard
            out[choose] = np.ceil(x_lp[choose] - 1e-9) + (0 if len(used) else 1)
            continue
        cost = np.where(ok, grid @ price[choose], np.inf)
        out[choose] = grid[int(np.argmin(cost))]
    return out
