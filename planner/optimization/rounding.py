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

import math
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
            # Those are decided: not candidates for the cheapest unused column below (which
            # would overwrite them with 0–2 replicas and lose their throughput).
            free = np.setdiff1d(free, rest, assume_unique=True)
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



class _BlockRounding:
    """State of :func:`round_blocks`: replicas, idle servers per row, cell throughputs."""

    def __init__(self, mm: MatrixModel, x_lp: np.ndarray, fixed: np.ndarray,
                 costs: ServerCosts) -> None:
        self.mm, self.x_lp, self.fixed, self.costs = mm, x_lp, fixed, costs
        self.q = mm.x["replica_qps"].to_numpy(dtype=np.float64)
        self.spr = mm.x["spr"].to_numpy(dtype=np.float64)
        self.x_cost = mm.cost[:mm.n_x]
        self.row = mm.x_cap_row
        self.x_cell = mm.x["cell"].to_numpy()
        self.out = np.maximum(np.where(fixed, np.round(x_lp), np.floor(x_lp + 1e-9)), 0.0)
        # Idle servers per capacity row once every replica is rounded down.
        self.spare = costs.spare + np.bincount(self.row, weights=self.spr * (x_lp - self.out),
                                               minlength=len(costs.spare))
        n_cells = len(mm.cells)
        self.thr = np.bincount(self.x_cell, weights=self.q * self.out, minlength=n_cells)
        self.count = np.bincount(self.x_cell, weights=self.out, minlength=n_cells)
        self.need = mm.cell_need_qps * (1 - THROUGHPUT_TOL)
        self.dr_need = mm.dr_need_qps * (1 - THROUGHPUT_TOL)
        self.cell_order = np.argsort(mm.cell_block, kind="stable")
        n_blocks = int(mm.cell_block.max()) + 1 if n_cells else 0
        self.cell_ptr = np.searchsorted(mm.cell_block[self.cell_order], np.arange(n_blocks + 1))
        self.dr_order = np.argsort(mm.dr_block, kind="stable")
        self.dr_ptr = np.searchsorted(mm.dr_block[self.dr_order], np.arange(n_blocks + 1))
        self.n_blocks = n_blocks
        self.runnable = costs.runnable[self.row]
        self.fixed_thr = np.bincount(self.x_cell, weights=self.q * self.out * fixed,
                                     minlength=n_cells)
        self.fixed_count = np.bincount(self.x_cell, weights=self.out * fixed, minlength=n_cells)

    def block(self, blk: int) -> tuple | None:
        """Return the block's free columns, their local cells and its DR incidence."""
        mm = self.mm
        cells = self.cell_order[self.cell_ptr[blk]:self.cell_ptr[blk + 1]]
        if len(cells) == 0:
            return None
        cols = np.concatenate([np.arange(mm.x_start[c], mm.x_start[c] + mm.x_count[c])
                               for c in cells])
        cols = cols[~self.fixed[cols]]
        if len(cols) == 0:
            return None
        drs = self.dr_order[self.dr_ptr[blk]:self.dr_ptr[blk + 1]]
        local = np.full(len(mm.cells), -1, dtype=np.int64)
        local[cells] = np.arange(len(cells))
        col_cell = local[self.x_cell[cols]]
        inc = np.zeros((len(drs), len(cells)))
        for a, i in enumerate(drs):
            members = local[mm.dr_cells[mm.dr_ptr[i]:mm.dr_ptr[i + 1]]]
            inc[a, members[members >= 0]] = 1.0
        return cells, cols, col_cell, drs, inc

    def price(self, cols: np.ndarray) -> np.ndarray:
        """Return the direct cost of one more replica on each column, given idle servers."""
        k = self.row[cols]
        idle = self.spare[k] >= self.spr[cols] - 1e-9
        server = np.where(idle, self.costs.run[k], self.costs.run[k] + self.costs.buy[k])
        return self.x_cost[cols] + self.spr[cols] * server

    def cover(self, parts: tuple, x_b: np.ndarray) -> np.ndarray:
        """Add replicas to ``x_b`` until the block's rows hold, then drop unneeded ones.

        Updates ``spare`` for every replica added or removed; returns the new replicas.
        """
        cells, cols, col_cell, drs, inc = parts
        q, spr, k = self.q[cols], self.spr[cols], self.row[cols]
        col_inc = inc[:, col_cell]
        c_thr = np.bincount(col_cell, weights=q * x_b, minlength=len(cells)) + \
            self.fixed_thr[cells]
        c_cnt = np.bincount(col_cell, weights=x_b, minlength=len(cells)) + \
            self.fixed_count[cells]
        c_need, c_kmin, d_need = self.need[cells], self.mm.cell_min_replicas[cells], \
            self.dr_need[drs]
        ok_col = self.runnable[cols]
        while True:
            d_def = np.maximum(d_need - inc @ c_thr, 0.0)
            c_def = np.maximum(c_need - c_thr, 0.0)
            m_def = c_kmin - c_cnt > 1e-9
            if not (d_def.any() or c_def.any() or m_def.any()):
                break
            benefit = np.minimum(q, c_def[col_cell]) + \
                (np.minimum(q[None, :], d_def[:, None]) * col_inc).sum(axis=0)
            # A missing minimum replica counts as a full replica's throughput of need.
            benefit = benefit + np.where(m_def[col_cell], q, 0.0)
            score = np.where(ok_col & (benefit > 0),
                             self.price(cols) / np.maximum(benefit, 1e-12), np.inf)
            j = int(np.argmin(score))
            if not np.isfinite(score[j]):  # nothing can cover the rest: the LP, rounded up
                up = np.maximum(x_b, np.ceil(self.x_lp[cols] - 1e-9))
                self.spare -= np.bincount(k, weights=spr * (up - x_b), minlength=len(self.spare))
                return up
            # Several replicas at once while each still meets need in full (wide domains:
            # hundreds of replicas per column), within the idle servers when there are some.
            largest = max(c_def[col_cell[j]], float((d_def * col_inc[:, j]).max(initial=0.0)))
            n = max(1.0, math.floor(largest / q[j]))
            if self.spare[k[j]] >= spr[j] - 1e-9:
                n = min(n, max(1.0, np.floor(self.spare[k[j]] / spr[j] + 1e-9)))
            x_b[j] += n
            self.spare[k[j]] -= spr[j] * n
            c_thr[col_cell[j]] += q[j] * n
            c_cnt[col_cell[j]] += n
        # Remove replicas the rows no longer need, the most expensive per replica first
        # (plain floats: this loop runs once per column).
        saving = self.x_cost[cols] + spr * (self.costs.run[k] + np.where(
            self.spare[k] < 0, self.costs.buy[k], 0.0))
        dr_slack = (inc @ c_thr - d_need).tolist()
        rows_of_cell = [np.flatnonzero(inc[:, c]).tolist() for c in range(len(cells))]
        thr_slack = (c_thr - c_need).tolist()
        cnt_slack = (c_cnt - c_kmin).tolist()
        x_list, q_list, cell_list = x_b.tolist(), q.tolist(), col_cell.tolist()
        for j in np.argsort(-saving, kind="stable").tolist():
            if x_list[j] < 1:
                continue
            cc, qj = cell_list[j], q_list[j]
            slack = min([thr_slack[cc], *(dr_slack[i] for i in rows_of_cell[cc])])
            n = min(x_list[j], math.floor(slack / qj + 1e-9), math.floor(cnt_slack[cc] + 1e-9))
            if n < 1:
                continue
            x_list[j] -= n
            self.spare[k[j]] += spr[j] * n
            thr_slack[cc] -= qj * n
            cnt_slack[cc] -= n
            for i in rows_of_cell[cc]:
                dr_slack[i] -= qj * n
        return np.asarray(x_list, dtype=np.float64)


def round_blocks(
    mm: MatrixModel,
    x_lp: np.ndarray,
    fixed: np.ndarray,
    costs: ServerCosts,
) -> np.ndarray:
    """Return whole replicas per x column, one (model, quarter) block at a time, DR-aware.

    :func:`round_cells` keeps every cell's LP throughput, which is more than the rows ask
    where disaster recovery drives the LP: a region that backs up the others carries 50 %
    more than its own demand, uses every installed server, and its rounding excess has to be
    bought. Here each block starts from the LP's replicas rounded down and covers what its
    rows still lack (each cell's own demand and minimum replicas, and the block's DR rows,
    which any survivor region may serve) greedily, cheapest replica per query/s of unmet need
    first, at the servers' direct cost: running cost while idle servers remain on the
    capacity row (tracked over all blocks), running cost plus capex beyond. Replicas the
    rows no longer need are then removed, most expensive first. Blocks go in a fixed order,
    so the result depends only on the inputs.
    """
    state = _BlockRounding(mm, x_lp, fixed, costs)
    for blk in range(state.n_blocks):
        parts = state.block(blk)
        if parts is not None:
            state.out[parts[1]] = state.cover(parts, state.out[parts[1]].copy())
    return state.out
