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

from dataclasses import dataclass

import numpy as np

from planner.scale import MatrixModel

MAX_ROUNDED_COLUMNS = 4  # columns enumerated per cell; more LP columns are rounded up
THROUGHPUT_TOL = 1e-9  # relative: the LP's own throughput carries solver noise


def cell_throughput(mm: MatrixModel, x: np.ndarray) -> np.ndarray:
    """Return each cell's capacity in queries/s (replica qps × replicas, summed)."""
    q = mm.x["replica_qps"].to_numpy(dtype=np.float64)
    return np.bincount(mm.x["cell"].to_numpy(), weights=q * x, minlength=len(mm.cells))


@dataclass
class ServerCosts:
    """What one more (or one fewer) server costs on each capacity row, given the LP.

    Attributes:
        spare: Servers installed there that the LP leaves idle (inventory and purchases in
            service, minus what it allocates): the first extra servers cost only ``run``.
        run: Running cost of one server over the horizon, in the objective's units.
        buy: Capex of one more server beyond the spare ones (``inf`` where none can be bought).
        credit: What freeing one server is worth: the capacity row's dual.
        runnable: Whether servers can be in service there at all (a platform not yet sold,
            or retired, has no in-service column): rounding never adds replicas elsewhere.
    """

    spare: np.ndarray
    run: np.ndarray
    buy: np.ndarray
    credit: np.ndarray
    runnable: np.ndarray


def round_cells(
    mm: MatrixModel,
    x_lp: np.ndarray,
    fixed: np.ndarray,
    costs: ServerCosts,
    track_spare: bool = True,
) -> np.ndarray:
    """Return whole replicas per x column, cell by cell, at least as strong as ``x_lp``.

    Cells are rounded in a fixed order and each one's extra servers use up the spare servers
    of their capacity rows, so many cells rounding up onto one idle platform see it fill up
    and start paying capex, as the purchase stage will.

    Args:
        mm: The array model.
        x_lp: LP replicas per x column (length ``mm.n_x``).
        fixed: Columns already whole (kept at ``round(x_lp)``).
        costs: Per capacity row, the cost of servers added or removed against the LP.
        track_spare: Use up idle servers cell by cell (above). Without it every server is
            priced at its capacity row's dual, and a column the LP leaves at zero at least at
            its running cost plus capex when no idle server is left there: linear prices,
            the better choice when the LP's duals are informative (the default fleet).
    """
    q = mm.x["replica_qps"].to_numpy(dtype=np.float64)
    spr = mm.x["spr"].to_numpy(dtype=np.float64)
    x_cost = mm.cost[:mm.n_x]
    row = mm.x_cap_row
    spare = costs.spare.copy()
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
            spare[row[rest]] -= spr[rest] * (out[rest] - x_lp[rest])
            qps -= float(q[rest] @ out[rest])
            count -= float(out[rest].sum())
            used = used[order[:MAX_ROUNDED_COLUMNS]]
        unused = np.setdiff1d(free, used, assume_unique=True)
        unused = unused[costs.runnable[row[unused]]]
        ranges = [np.arange(max(0.0, np.floor(x_lp[j] + 1e-9) - 1), np.ceil(x_lp[j] - 1e-9) + 2)
                  for j in used]
        choose = list(used)
        if len(unused):
            # The unused column whose next replica is cheapest per query/s.
            k = row[unused]
            idle = spare[k] if track_spare else costs.spare[k]
            first = np.where(idle >= spr[unused], costs.run[k], costs.run[k] + costs.buy[k])
            if not track_spare:
                first = np.maximum(first, costs.credit[k])
            per_qps = (x_cost[unused] + spr[unused] * first) / np.maximum(q[unused], 1e-12)
            choose.append(unused[int(np.argmin(per_qps))])
            ranges.append(np.arange(0.0, 3.0))
        if not choose:
            continue
        ch = np.asarray(choose)
        grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(ch))
        ok = (grid @ q[ch] >= qps) & (grid.sum(axis=1) >= count - 1e-9)
        if not ok.any():  # cannot happen when x_lp satisfies the cell; round up as a guard
            pick = np.ceil(x_lp[ch] - 1e-9) + (0 if len(used) else 1)
        else:
            k = row[ch]
            extra = spr[ch] * (grid - x_lp[ch])  # servers added (+) or freed (−) per column
            if track_spare:
                within = np.minimum(np.maximum(extra, 0.0), np.maximum(spare[k], 0.0))
                server_cost = np.where(
                    extra <= 0, extra * costs.credit[k],
                    within * costs.run[k] + (extra - within) * (costs.run[k] + costs.buy[k]))
            else:
                direct = costs.run[k] + np.where(costs.spare[k] < spr[ch], costs.buy[k], 0.0)
                per_server = np.where(x_lp[ch] > 1e-7, costs.credit[k],
                                      np.maximum(costs.credit[k], direct))
                server_cost = extra * per_server
            total = grid @ x_cost[ch] + server_cost.sum(axis=1)
            pick = grid[int(np.argmin(np.where(ok, total, np.inf)))]
        out[ch] = pick
        if track_spare:
            spare[row[ch]] -= spr[ch] * (pick - x_lp[ch])
    return out
