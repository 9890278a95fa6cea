"""Experiment (measured without enough gain, kept here): polish a plan block by block.

Measured 2026-12-03 on synthetic M from the block-rounded first plan (3.51 % above the LP):
one pass 3.42 % in 7.9 s, a second 3.41 % in 5.2 s, a third nothing (machine at load 8–10).
The rest of the distance lies between blocks (which block gets the idle servers), which a
one-block neighbourhood cannot change. Run: ``python bench/block_polish.py`` (see main).

Polish a plan one (model, quarter) block at a time: a small exact MIP per block.

A block's replicas appear only in its own rows (each cell's demand and minimum replicas, the
block's disaster-recovery rows) and in shared resource rows: installed servers per platform,
region and quarter, and each region-quarter's power and space. With every other block held
as it is, the block's best whole replicas under the servers, power and space the rest of the
plan leaves free is a MIP of a few dozen columns; solving it for each block in turn (block
coordinate descent) never makes the plan worse and can move a block's DR capacity to any
survivor region and any platform with room, which the rounding's greedy cover and the ±1
boxes of the full-MIP polish cannot. Purchases stay as they are; each block MIP is bounded
by a node limit, so the result depends only on the plan and the case.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from planner.optimization.rounding import ServerCosts, _BlockRounding
from planner.scale import FAMILIES, MatrixModel, _pass, new_highs

BLOCK_MIP_NODES = 200


def _resource_coefficients(
    mm: MatrixModel, family: str, y_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return, per in-service column, its row in ``family`` (or −1) and its coefficient."""
    rows = np.flatnonzero(mm.row_family == FAMILIES.index(family))
    row_of = np.full(len(y_cols), -1, dtype=np.int64)
    coef = np.zeros(len(y_cols))
    if len(rows) == 0:
        return row_of, coef
    sub = mm.matrix[rows][:, y_cols].tocoo()
    row_of[sub.col] = rows[sub.row]
    coef[sub.col] = sub.data
    return row_of, coef


def polish_blocks(
    mm: MatrixModel, values: np.ndarray, fixed: np.ndarray, threads: int = 1
) -> np.ndarray:
    """Return ``values`` with each block's replicas re-optimised in turn (never costlier).

    ``fixed`` marks replica columns to keep (the expensive platforms' MIP decided them).
    In-service servers follow the replicas; purchases are kept.
    """
    n_x = mm.n_x
    n_b = len(mm.b)
    y_off = n_x + n_b
    v = values.copy()
    x = v[:n_x].copy()
    cap_rows = np.asarray(mm.info["cap_rows"], dtype=np.int64)
    # In-service column of each capacity row, and the servers it may have: inventory plus
    # the plan's purchases in service (from the available row's activity).
    sub = mm.matrix[cap_rows].tocoo()
    cap_y = np.full(len(cap_rows), -1, dtype=np.int64)
    on_y = sub.col >= y_off
    cap_y[sub.row[on_y]] = sub.col[on_y]
    has = cap_y >= 0
    avail_rows = np.flatnonzero(mm.row_family == FAMILIES.index("available"))
    act = mm.matrix @ v
    limit = np.zeros(len(cap_rows))  # servers available per capacity row
    y_local = cap_y[has] - y_off
    limit[has] = mm.row_upper[avail_rows][y_local] - act[avail_rows][y_local] + v[cap_y[has]]
    run = np.where(has, mm.cost[np.maximum(cap_y, 0)], 0.0)
    spr = mm.x["spr"].to_numpy(dtype=np.float64)
    row = mm.x_cap_row
    usage = np.bincount(row, weights=spr * x, minlength=len(cap_rows))
    # Power and space per capacity row (through its in-service column), and their slack.
    y_cols = np.maximum(cap_y, 0)
    slack = mm.row_upper - act
    resources = []
    for family in ("power", "space"):
        r_of, coef = _resource_coefficients(mm, family, y_cols)
        r_of = np.where(has, r_of, -1)
        resources.append((r_of, np.where(has, coef, 0.0)))
    costs = ServerCosts(
        np.maximum(limit - usage, 0.0), run, np.zeros(len(cap_rows)), np.zeros(len(cap_rows)), has
    )
    state = _BlockRounding(mm, x, fixed | ~mm.integer[:n_x], costs)
    state.out = x.copy()
    q = state.q
    col_cost = mm.cost[:n_x] + spr * run[row]
    for blk in range(state.n_blocks):
        parts = state.block(blk)
        if parts is None:
            continue
        cells, cols, col_cell, drs, inc = parts
        if not has[row[cols]].all():
            continue
        x_b = x[cols]
        k_local, k_of = np.unique(row[cols], return_inverse=True)
        n = len(cols)
        # Rows: cell demand, cell minimum replicas, DR rows, capacity rows, power, space.
        blocks_a, lo, up = [], [], []
        c_need = state.need[cells] - state.fixed_thr[cells]
        blocks_a.append(sp.csr_matrix((q[cols], (col_cell, np.arange(n))), shape=(len(cells), n)))
        lo.append(c_need)
        up.append(np.full(len(cells), np.inf))
        blocks_a.append(
            sp.csr_matrix((np.ones(n), (col_cell, np.arange(n))), shape=(len(cells), n))
        )
        lo.append(mm.cell_min_replicas[cells] - state.fixed_count[cells])
        up.append(np.full(len(cells), np.inf))
        if len(drs):
            fixed_dr = inc @ state.fixed_thr[cells]
            blocks_a.append(sp.csr_matrix(inc[:, col_cell] * q[cols][None, :]))
            lo.append(state.dr_need[drs] - fixed_dr)
            up.append(np.full(len(drs), np.inf))
        own = np.bincount(k_of, weights=spr[cols] * x_b, minlength=len(k_local))
        blocks_a.append(sp.csr_matrix((spr[cols], (k_of, np.arange(n))), shape=(len(k_local), n)))
        lo.append(np.full(len(k_local), -np.inf))
        up.append(limit[k_local] - usage[k_local] + own)
        for r_of, coef in resources:
            rr = r_of[row[cols]]
            if (rr < 0).all():
                continue
            ids, r_idx = np.unique(rr, return_inverse=True)
            w = coef[row[cols]] * spr[cols]
            a = sp.csr_matrix((w, (r_idx, np.arange(n))), shape=(len(ids), n))
            ok = ids >= 0
            own_r = a @ x_b
            blocks_a.append(a[ok])
            lo.append(np.full(int(ok.sum()), -np.inf))
            up.append(slack[ids[ok]] + own_r[ok])
        a = sp.vstack(blocks_a).tocsr()
        h = new_highs({"threads": threads, "mip_max_nodes": BLOCK_MIP_NODES, "mip_rel_gap": 1e-6})
        upper = np.maximum(x_b, np.ceil(x_b * 2 + 2))
        _pass(
            h,
            col_cost[cols],
            np.zeros(n),
            upper,
            a,
            np.concatenate(lo),
            np.concatenate(up),
            np.ones(n, dtype=bool),
        )
        import highspy

        start = highspy.HighsSolution()
        start.col_value = x_b.astype(np.float64)
        start.value_valid = True
        h.setSolution(start)
        h.run()
        if h.getInfo().primal_solution_status != 2:
            continue
        new = np.round(np.asarray(h.getSolution().col_value))
        if float(col_cost[cols] @ new) >= float(col_cost[cols] @ x_b) - 1e-9:
            continue
        act_new = a @ new
        lo_all, up_all = np.concatenate(lo), np.concatenate(up)
        tol = 1e-9 * np.maximum(1.0, np.abs(lo_all))
        if np.any(act_new < lo_all - np.where(np.isfinite(tol), tol, 0)) or np.any(
            act_new > up_all + 1e-9 * np.maximum(1.0, np.abs(up_all))
        ):
            continue
        delta = np.bincount(k_of, weights=spr[cols] * (new - x_b), minlength=len(k_local))
        usage[k_local] += delta
        d_res = np.zeros(mm.n_rows)
        for r_of, coef in resources:
            rr = r_of[k_local]
            ok = rr >= 0
            np.add.at(d_res, rr[ok], coef[k_local][ok] * delta[ok])
        slack -= d_res
        x[cols] = new
    v[:n_x] = x
    return v


def main() -> None:
    """Polish synthetic M's first plan three times and print cost and gap after each pass."""
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from planner.optimization import solve_anytime
    from planner.optimization.anytime import _normalise, _Structure
    from planner.scale import build_matrix
    from planner.synthetic import synthetic_fleet

    mm = build_matrix(synthetic_fleet("M", seed=0))
    run = solve_anytime(mm, time_limit_s=0.0, mip_gap=0.005)
    st, v = _Structure(mm), run.values
    print(f"start {mm.cost @ v:,.1f} kUSD, {(mm.cost @ v - run.lp_bound) / (mm.cost @ v):.2%}")
    for i in range(3):
        t = time.perf_counter()
        v = _normalise(mm, st, polish_blocks(mm, v, np.zeros(mm.n_x, dtype=bool)))
        gap = (mm.cost @ v - run.lp_bound) / (mm.cost @ v)
        print(f"pass {i + 1}: {mm.cost @ v:,.1f} kUSD, {gap:.2%}, {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
