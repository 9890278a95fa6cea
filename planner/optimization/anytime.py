"""The anytime plan path: a verified first plan fast, then improvement, then proof.

Stages (each reported through ``progress`` with the plan's cost, the best proven bound and
the gap):

1. **LP relaxation**: the first bound. An infeasible LP means an infeasible case.
2. **Expensive platforms**: platforms whose capex is at least ``EXPENSIVE_CAPEX_RATIO`` × the
   median (Zion in the default fleet) carry most of the gap between LP and whole plans; a
   small MIP with only their replicas and purchases integer decides them.
3. **Rounding**: with those fixed, :func:`round_cells` rounds each (model, region, quarter)
   cell on its own, keeping at least the LP's throughput there, servers priced by the LP's
   capacity duals (``DUAL_ROUNDS``), then by using up idle servers cell by cell
   (up to ``PRICED_ROUNDS``), then by rounding every fractional replica up.
4. **Purchases**: a MIP over purchases with replicas fixed, where installed servers, power,
   space and supply may fall short at a penalty (:class:`_ElasticPurchases`). No shortfall:
   that is the first plan. Otherwise the shortfall is held back from those rows of the LP
   (more each time a row is short again; halved when the LP can no longer meet it) and
   stages 3–4 repeat. The LP is re-solved warm from its basis (:class:`LpSession`).
   **Block rounding** (:func:`round_blocks`) takes over when the first cell rounding runs
   short of installed servers only and the block rounding from the same LP is not short:
   it rounds each (model, quarter) block at once, so DR
   capacity may move to the survivor regions with idle servers, and holds back in the LP
   the servers each region-quarter overflowed (:func:`_block_plans`; synthetic M: 50 % above
   the LP with cells, 3.4–3.5 % with blocks).
5. **Polish**: where the plan is more than ``REGION_POLISH_GAP`` above the bound and the
   model has at least ``LARGE_MODEL_COLS`` columns, one MIP per region-quarter (its
   replicas within ±``REGION_POLISH_BOX``, the rest fixed); then the full MIP with replicas
   boxed within ±1 (then ±2, ±4) of the incumbent, warm-started, while it improves and time
   remains.
6. **Proof**: the full MIP warm-started from the best plan, for the remaining time.

**Hyperscale** (``BY_QUARTER_COLS`` columns or more: synthetic XL, XXL): the first plan is made
one quarter at a time (:mod:`planner.optimization.rolling`), each quarter an ordinary
one-quarter fleet planned by stages 1–4; then a bound from one-quarter LPs. When the time
left fits the whole LP (``WHOLE_PATH_FACTOR``), the whole model's stages 1–4 improve the plan
and its LP's duals bound whole replicas block by block
(:func:`~planner.optimization.block_bound.block_bound`; synthetic XL: 7.6 % above the LP,
so no plan lies within 2 % of the LP there), then stages 5–6; otherwise whole replicas
quarter by quarter raise the bound until the limit.

Stages 1–4 bound their work by node limits, not the clock, so the first plan depends only on
the case and the settings, never on how busy the machine is. The time limit bounds stages 5
and 6 only. Costs are always recomputed from the values (HiGHS' reported objective has been
seen to disagree with its own values), and the returned plan is never worse than the first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from planner.diurnal.layout import is_slotted
from planner.optimization.block_bound import block_bound
from planner.optimization.highs import HighsRun, LpSession, run_highs
from planner.optimization.isolated import StopFlag, can_fork, run_isolated
from planner.optimization.rounding import ServerCosts, round_blocks, round_cells
from planner.optimization.strengthen import cap_covering_coefficients
from planner.scale import FAMILIES, MatrixModel

EXPENSIVE_CAPEX_RATIO = 10.0  # capex ≥ this × median capex: decided by its own small MIP
EXPENSIVE_MIP_NODES = 500  # node limit of that MIP: deterministic, ~0.1–0.3 s by default
PURCHASE_MIP_NODES = 2000
DUAL_ROUNDS = 8  # rounding at dual prices + purchases (about 0.05 s a round by default)
PRICED_ROUNDS = 16  # then rounding that uses up idle servers cell by cell (synthetic M)
ROUND_UP_ROUNDS = 4  # then rounding every fractional replica up
CELL_ROUNDS_AFTER_BLOCKS = 3
BLOCK_ROUNDS = 8  # block rounding with held-back overflow (synthetic M: 5 rounds)
BLOCK_RESERVE_STEP = 5.0  # servers held back per server overflowed (M: 2.5 took 10 rounds)
POLISH_NODES = 300
REGION_POLISH_GAP = 0.02  # incumbent this far above the bound: polish by region-quarter first
REGION_POLISH_BOX = 3
# A large model (this many columns or more) is rounded and polished in pieces. Below it one
# ±1 round of the full MIP is cheaper than the region-quarter sweep: on the default case
# (2.1 k columns) the sweep took 1.5-5 s and within 1 % of the bound came at 2.4-6.7 s,
# without it at 0.5-1.9 s (new_asic, cap_prn_2200kw, no_dr, base; 2026-12-06); synthetic M
# (21.6 k) needs it: one ±1 round there took 12 s. Likewise the cell rounds after a block
# plan: 0.05 s each on the default case (asic_2x: 0.4 % cheaper), 0.4 s each at M for nothing.
LARGE_MODEL_COLS = 10_000
# From this many columns the first plan is made quarter by quarter. Synthetic XL (430 k
# columns): the whole LP alone takes 47 s on one core and its rounding gave the first plan
# at 110 s (18 % above the LP); by quarter 34 s (30 %), and the whole LP's rounding follows
# as an improvement when the limit allows. XXL (855 k): whole LP 276–405 s, no plan in
# 1,100 s; by quarter 143 s.
BY_QUARTER_COLS = 300_000
# Then the whole LP and its rounding come first when the time left is at least this many
# times what the one-quarter LPs took (XL: 6.8 s for the quarter LPs, 48 s for the whole LP
# and about 60 s for its rounding); otherwise the time goes to the quarter-by-quarter bound.
WHOLE_PATH_FACTOR = 16.0
# The root node of the full MIP (cuts), warm-started after the first polish box: its bound is
# up to 2 % above the LP where the LP is weak (roofline default data, slo_tighter: LP
# 10,352 k$, root 10,555 k$ after 1 s, 10,570 k$ after 3 s), which the proof stage would only
# find after every polish box (30 s). The root's cut loop can run 30 s from there, so the
# clock bounds it: a bound, not the plan, so the first plan stays load-independent.
ROOT_OPTIONS = {"mip_max_nodes": 1}
ROOT_TIME_S = 2.0
# The root-bound stage runs once this polish box stops improving. After ±1 (as until
# 2026-12-06) short_horizon reached 1 % of the final bound at 3.4 s (target 3 s): its ±4 box
# found the plan only after the 2.5 s root. After ±4, with capped covering coefficients: all 8
# default cases within 1 % by <= 1.16 s (short_horizon 0.74 s), proofs 1.5-8.1 s against
# 3.0-5.9 s (short_horizon 19.4 s either way), 2026-12-07, 30 s limit.
ROOT_AFTER_BOX = 4
POLISH_BOXES = (1, 2, 4)  # ±4: asic_2x stalled at 1.25 % after ±2 (proven with ±4)
FEASIBILITY_TOL = 1e-6  # relative, per row, for the incumbent check
UNUSABLE_PRICE = 1e9  # kUSD: a column that would need servers no one can buy


@dataclass(frozen=True)
class Progress:
    """One step of the anytime path (objective and bound in the model's kUSD)."""

    stage: str
    seconds: float  # since the path started
    objective: float | None  # the best plan so far
    bound: float | None  # the best proven lower bound so far
    gap: float | None  # (objective − bound) / objective
    improved: bool = False  # whether this step found a better plan


@dataclass
class AnytimeResult:
    """What :func:`solve_anytime` returns.

    ``status`` is ``optimal`` (proven within ``mip_gap``), ``feasible`` (a plan, gap above the
    target), or ``infeasible`` (the LP relaxation is infeasible: no plan exists).
    """

    status: str
    values: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    first_objective: float | None
    first_seconds: float | None
    lp_bound: float | None
    first_values: np.ndarray | None = None
    history: list[Progress] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""  # why improvement stopped: "gap", "time", "cancelled", "exhausted"

    @property
    def has_solution(self) -> bool:
        """Return whether a plan was found."""
        return self.values is not None

    @property
    def first_gap(self) -> float | None:
        """Return the first plan's gap against the final bound."""
        return _gap(self.first_objective, self.bound)


def _gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return max(0.0, (objective - bound) / max(abs(objective), 1e-9))


class _Structure:
    """Index arrays the stages share: column ranges, capacity and available rows."""

    def __init__(self, mm: MatrixModel) -> None:
        self.n_x, self.n_b = mm.n_x, len(mm.b)
        self.b_off, self.y_off = self.n_x, self.n_x + self.n_b
        self.cap_rows = np.asarray(mm.info["cap_rows"], dtype=np.int64)
        self.avail_rows = np.flatnonzero(mm.row_family == FAMILIES.index("available"))
        self.spr = mm.x["spr"].to_numpy(dtype=np.float64)
        # The in-service column of each capacity row (its −1 entry), or −1.
        sub = mm.matrix[self.cap_rows].tocoo()
        self.cap_y = np.full(len(self.cap_rows), -1, dtype=np.int64)
        on_y = sub.col >= self.y_off
        self.cap_y[sub.row[on_y]] = sub.col[on_y]
        # A slotted fleet (planner.diurnal) has one capacity row per slot: a model that runs
        # all day sits in every slot's row and one in-service column serves all of them.
        # Then usage is per row from the matrix and each row's first column is its own (not
        # every row is some column's first row); None: one row per column, as before.
        cap_x = mm.matrix[self.cap_rows][:, :self.n_x].tocsr()
        cap_x.sort_indices()
        has_y = self.cap_y >= 0
        shared_y = (np.bincount(self.cap_y[has_y]) > 1).any() if has_y.any() else False
        self.cap_x = cap_x if shared_y or (np.diff(cap_x.tocsc().indptr) > 1).any() else None
        first_x = np.unique(mm.x_cap_row, return_index=True)[1] if self.cap_x is None \
            else cap_x.indices[cap_x.indptr[:-1]]
        # Capex of one server of each capacity row's platform (kUSD, objective weights), or
        # inf where the platform cannot be bought in that region.
        cap_p = mm.x["p"].to_numpy()[first_x] if self.n_x else np.zeros(0, dtype=np.int64)
        capex_p = np.full(len(mm.fleet.platforms), math.inf)
        if self.n_b:
            bp = mm.b["p"].to_numpy()
            capex_p[bp] = mm.cost[self.b_off:self.y_off]
        self.cap_capex = capex_p[cap_p] if len(cap_p) else np.zeros(0)
        # A row can only grow by purchases arriving in service there (lead times, first
        # quarter of sale, lifetimes): its available row must have a purchase column.
        avail = mm.matrix[self.avail_rows].tocsr()
        buyable_y = np.diff(avail.indptr) > 1  # the y entry plus at least one purchase
        has_y = self.cap_y >= 0
        buyable = np.zeros(len(self.cap_rows), dtype=bool)
        buyable[has_y] = buyable_y[self.cap_y[has_y] - self.y_off]
        self.cap_capex = np.where(buyable, self.cap_capex, math.inf)
        self.cap_run = np.where(self.cap_y >= 0, mm.cost[np.maximum(self.cap_y, 0)], math.inf)
        capex = mm.fleet.platforms["capex_usd"].to_numpy(dtype=np.float64)
        median = float(np.median(capex)) if len(capex) else 0.0
        expensive_p = np.flatnonzero(capex >= EXPENSIVE_CAPEX_RATIO * max(median, 1e-9))
        self.expensive_x = np.isin(mm.x["p"].to_numpy(), expensive_p)
        self.expensive_b = np.isin(mm.b["p"].to_numpy(), expensive_p) if self.n_b else \
            np.zeros(0, dtype=bool)
        self.x_integer = mm.integer[:self.n_x].copy()
        # The region-quarter of each replica column, quarter first (the order of the polish).
        self.x_rt = (mm.x["t"].to_numpy() * max(1, len(mm.fleet.regions))
                     + mm.x["r"].to_numpy()).astype(np.int64)
        self.cap_rt = self.x_rt[first_x]

    def usage(self, mm: MatrixModel, x: np.ndarray) -> np.ndarray:
        """Return servers allocated per capacity row."""
        if self.cap_x is not None:
            return self.cap_x @ x
        return np.bincount(mm.x_cap_row, weights=self.spr * x, minlength=len(self.cap_rows))


def _fixed_bounds(mm: MatrixModel, st: _Structure, x: np.ndarray,
                  mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = mm.lower.copy(), mm.upper.copy()
    lower[:st.n_x][mask] = x[mask]
    upper[:st.n_x][mask] = x[mask]
    return lower, upper


def _server_costs(mm: MatrixModel, st: _Structure, lp: HighsRun) -> ServerCosts:
    """Return, per capacity row, the LP's spare servers and the cost of one more or fewer.

    The capacity row's dual is what the LP would pay for one more server there (running
    cost plus capex or scarcity) and is the credit for freeing one; beyond the spare servers
    an extra one costs its running cost plus capex.
    """
    activity = mm.matrix @ lp.values
    inv = mm.row_upper[st.avail_rows]
    spare = np.zeros(len(st.cap_rows))
    has = st.cap_y >= 0
    y_local = st.cap_y[has] - st.y_off
    # inventory + purchases in service − allocated = inv − (y − Σb) − (allocated − y)
    spare[has] = inv[y_local] - activity[st.avail_rows][y_local] - activity[st.cap_rows][has]
    # Running a server also uses its region's power and space: price them at their duals,
    # so idle servers in a region whose power cap binds are not taken as free.
    scarce = np.flatnonzero(np.isin(mm.row_family, [FAMILIES.index("power"),
                                                    FAMILIES.index("space")]))
    y_scarcity = mm.matrix[scarce].T @ np.maximum(-lp.row_dual[scarce], 0.0)
    run = np.where(has, st.cap_run + y_scarcity[np.maximum(st.cap_y, 0)], UNUSABLE_PRICE)
    buy = np.where(np.isfinite(st.cap_capex), st.cap_capex, UNUSABLE_PRICE)
    credit = np.maximum(-lp.row_dual[st.cap_rows], 0.0)  # ≤ rows: HiGHS duals are ≤ 0
    return ServerCosts(np.maximum(spare, 0.0), run, buy, credit, runnable=has)


def _normalise(mm: MatrixModel, st: _Structure, values: np.ndarray) -> np.ndarray:
    """Round integer columns and set in-service servers to what the plan needs."""
    v = values.copy()
    v[mm.integer] = np.round(v[mm.integer])
    v[:st.n_x][np.abs(v[:st.n_x]) < 1e-9] = 0.0
    v[v < 0] = 0.0
    need = st.usage(mm, v[:st.n_x])
    # Only the in-service columns: columns appended after them (follow-the-sun shifts,
    # emergency replicas of a slotted model) keep their values.
    y_end = st.y_off + len(mm.y)
    y = np.zeros(len(mm.y))
    has = st.cap_y >= 0
    if st.cap_x is None:
        y[st.cap_y[has] - st.y_off] = need[has]
    else:  # one in-service column, one row per slot: the busiest slot's servers
        np.maximum.at(y, st.cap_y[has] - st.y_off, need[has])
    if mm.integer[st.y_off:y_end].any():  # pooled: whole servers in service
        y = np.maximum(np.round(v[st.y_off:y_end]), np.ceil(y - 1e-9))
    v[st.y_off:y_end] = y
    return v


def _violations(mm: MatrixModel, v: np.ndarray) -> list[str]:
    """Return what ``v`` violates (row families, bounds, integrality); empty when feasible.

    Rows are checked with a relative tolerance, as the verifier does.
    """
    act = mm.matrix @ v
    tol_lo = FEASIBILITY_TOL * np.maximum(1.0, np.abs(mm.row_lower))
    tol_up = FEASIBILITY_TOL * np.maximum(1.0, np.abs(mm.row_upper))
    bad = (act < mm.row_lower - np.where(np.isfinite(tol_lo), tol_lo, 0)) | \
        (act > mm.row_upper + np.where(np.isfinite(tol_up), tol_up, 0))
    out = sorted({FAMILIES[f] for f in mm.row_family[bad]})
    if not (np.all(v >= mm.lower - 1e-9) and np.all(v <= mm.upper + 1e-9)):
        out.append("column bounds")
    if not np.all(np.abs(v[mm.integer] - np.round(v[mm.integer])) < 1e-9):
        out.append("integrality")
    return out


class _Incumbent:
    """The best plan so far, its recomputed cost, and the progress log."""

    def __init__(self, mm: MatrixModel, st: _Structure, start: float,
                 progress: Callable[[Progress], None] | None) -> None:
        self.mm, self.st, self.start = mm, st, start
        self.values: np.ndarray | None = None
        self.objective: float | None = None
        self.bound: float | None = None
        self.first_objective: float | None = None
        self.first_seconds: float | None = None
        self.first_values: np.ndarray | None = None
        self.rejected: list[str] = []  # what the last plan offered violated
        self.history: list[Progress] = []
        self.progress = progress

    def offer(self, stage: str, values: np.ndarray | None) -> bool:
        """Keep ``values`` when it is a feasible plan cheaper than the incumbent."""
        improved = False
        if values is not None:
            v = _normalise(self.mm, self.st, values)
            self.rejected = _violations(self.mm, v)
            if not self.rejected:
                cost = float(self.mm.cost @ v)
                if self.objective is None or cost < self.objective - 1e-9 * abs(cost):
                    self.values, self.objective, improved = v, cost, True
                    if self.first_objective is None:
                        self.first_objective, self.first_values = cost, v
                        self.first_seconds = time.perf_counter() - self.start
        self.report(stage, improved)
        return improved

    def mark_first(self) -> None:
        """Make the incumbent the first plan (the cheapest of several first candidates)."""
        self.first_objective, self.first_values = self.objective, self.values
        self.first_seconds = time.perf_counter() - self.start

    def raise_bound(self, bound: float | None) -> None:
        if bound is None or not math.isfinite(bound):
            return
        if self.objective is not None:
            bound = min(bound, self.objective)
        if self.bound is None or bound > self.bound:
            self.bound = bound

    @property
    def gap(self) -> float | None:
        return _gap(self.objective, self.bound)

    def proven(self, mip_gap: float) -> bool:
        """Return whether the incumbent is proven within ``mip_gap`` of the bound."""
        return self.gap is not None and self.gap <= mip_gap + 1e-9

    def report(self, stage: str, improved: bool = False) -> None:
        step = Progress(stage, time.perf_counter() - self.start, self.objective, self.bound,
                        self.gap, improved)
        self.history.append(step)
        if self.progress is not None:
            self.progress(step)


def solve_anytime(
    mm: MatrixModel,
    *,
    time_limit_s: float,
    mip_gap: float,
    threads: int = 1,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    starts: Sequence[tuple[str, np.ndarray]] = (),
    expensive_mip_nodes: int = EXPENSIVE_MIP_NODES,
    expensive_values: np.ndarray | None = None,
) -> AnytimeResult:
    """Return the best verified-feasible plan of ``mm`` found within ``time_limit_s``.

    The first plan (stages 1–4) is found whatever the time limit; the limit bounds the
    polish and proof stages. ``progress`` is called after every stage; ``should_stop`` is
    polled between stages (a dashboard's Cancel) and ends improvement early. ``starts`` are
    known plans (stage name, full solution vector; a slotted fleet's peak-only plan): each
    is offered after stage 4 and the first plan is then the cheapest of them and the
    rounding's, so it is never worse than any of them. ``expensive_mip_nodes`` is the node
    limit of stage 2 (0: no stage 2, expensive platforms are rounded like the others);
    ``expensive_values`` (a full solution vector) decides them instead of that MIP.
    """
    start = time.perf_counter()
    deadline = start + max(0.0, time_limit_s)
    mm = cap_covering_coefficients(mm)  # same whole plans, a stronger LP
    st = _Structure(mm)
    inc = _Incumbent(mm, st, start, progress)
    stop = should_stop or (lambda: False)

    def result(status: str, stopped: str) -> AnytimeResult:
        return AnytimeResult(status, inc.values, inc.objective, inc.bound, inc.gap,
                             inc.first_objective, inc.first_seconds, lp_bound,
                             inc.first_values, inc.history, time.perf_counter() - start,
                             stopped)

    if mm.n_cols >= BY_QUARTER_COLS and not starts and expensive_values is None and \
            mm.fleet.settings.horizon_quarters > 1 and not is_slotted(mm.fleet):
        by_quarter = _solve_by_quarter(mm, st, inc, mip_gap, threads, deadline, stop)
        if by_quarter is not None:
            stopped, lp_bound = by_quarter
            proven = inc.proven(mip_gap)
            return result("optimal" if proven else "feasible", stopped)
        # No plan quarter by quarter (a later quarter short of what only earlier purchases
        # could have given): the whole model, as below that size.

    # 1. LP relaxation: the first bound.
    session = LpSession(mm, threads)
    lp = session.solve()
    lp_bound = lp.objective if lp.status == "Optimal" else None
    if lp.infeasible:
        inc.report("lp: infeasible")
        return result("infeasible", "infeasible")
    if lp.values is None:
        inc.report(f"lp: {lp.status}")
        return result("no_solution", lp.status)
    inc.raise_bound(lp_bound)
    inc.report("lp relaxation")

    # 2.–4. First plan.
    _first_plan(mm, st, inc, lp, session, threads, expensive_mip_nodes, expensive_values)
    for stage, values in starts:
        inc.offer(stage, values)
        if inc.rejected:
            inc.report(f"{stage}: rejected ({', '.join(inc.rejected)})")
    if starts and inc.values is not None:
        inc.mark_first()
    if inc.values is None:
        # Rounding could not be repaired (tight supply, power or space): the full MIP from
        # here, with the time limit (a safety net that should not be needed).
        run = run_highs(mm, integer=mm.integer, time_limit_s=max(1.0, deadline -
                        time.perf_counter()), mip_gap=mip_gap, threads=threads)
        if run.infeasible:
            inc.report("full mip: infeasible")
            return result("infeasible", "infeasible")
        inc.raise_bound(run.bound)
        inc.offer("full mip (rounding failed)", run.values)
        if inc.values is None:
            return result("no_solution", run.status)

    # 5.–6. Improvement and proof, bounded by the clock.
    stopped = _improve(mm, st, inc, mip_gap, threads, deadline, stop, lp.row_dual)
    proven = inc.proven(mip_gap)
    return result("optimal" if proven else "feasible", stopped)


def _solve_by_quarter(mm: MatrixModel, st: _Structure, inc: _Incumbent, mip_gap: float,
                      threads: int, deadline: float,
                      stop: Callable[[], bool]) -> tuple[str, float | None] | None:
    """Hyperscale: the first plan one quarter at a time, then the whole LP and polish.

    The whole LP alone takes most of a minute at synthetic XL and several at XXL on one
    core; planned quarter by quarter (:mod:`planner.optimization.rolling`), each quarter's
    LP is an eighth of it. That plan does not depend on the clock; a bound from one-quarter
    LPs (:func:`~planner.optimization.rolling.quarter_bound`), the whole LP with its
    rounding (:func:`_whole_lp_plan`) and the polish come after it, within the time limit.
    Return why improvement stopped and the whole LP's bound (None when it came too late);
    None when some quarter has no plan.
    """
    from planner.optimization.rolling import (  # they call this module
        quarter_bound_of,
        quarter_lps,
        solve_rolling,
        whole_replica_quarter_bounds,
    )

    rolled = solve_rolling(
        mm, mip_gap=mip_gap, threads=threads,
        progress=lambda q: inc.report(f"quarter {q.quarter} planned ({q.status})"))
    if rolled.values is None:
        inc.report(f"quarter {rolled.failed_quarter}: no plan, the whole model instead")
        return None
    if not inc.offer("quarter by quarter", rolled.values):
        inc.report(f"quarter by quarter: rejected ({', '.join(inc.rejected)})")
        return None
    if stop():
        return "cancelled", None
    started = time.perf_counter()
    lps = quarter_lps(mm, deadline=deadline, threads=threads, should_stop=stop)
    lp_seconds = time.perf_counter() - started
    whole_fits = can_fork(threads) and \
        deadline - time.perf_counter() >= WHOLE_PATH_FACTOR * lp_seconds
    if lps is not None:
        inc.raise_bound(quarter_bound_of(lps))
        inc.report("bound by quarter")
    if lps is not None and not whole_fits:
        # No time for the whole LP: whole replicas quarter by quarter raise the bound (the
        # LP is weakest where power binds, XL). With time, the whole LP's blocks bound
        # better (XL: 259 k against 245 k kUSD) and its rounding improves the plan.
        for quarter, bound in whole_replica_quarter_bounds(lps, deadline=deadline,
                                                           should_stop=stop):
            inc.raise_bound(bound)
            inc.report(f"whole-replica bound, quarter {quarter}")
    del lps  # the quarters' models: their memory before the whole LP's (XXL)
    if inc.proven(mip_gap):
        return "gap", None
    if deadline - time.perf_counter() <= 0:
        return "time", None
    if not can_fork(threads):
        inc.report("whole lp and its rounding skipped: they need a forked child (Linux, one "
                   "solver thread)")
        return _improve(mm, st, inc, mip_gap, threads, deadline, stop), None
    whole = _whole_lp_plan(mm, st, threads, deadline, stop)
    if whole is None:
        inc.report("whole lp and its rounding: stopped at the time limit")
        return ("cancelled" if stop() else "time"), None
    lp_bound, row_dual, values = whole
    inc.raise_bound(lp_bound)
    inc.report("lp relaxation")
    inc.offer("whole-lp rounding", values)
    return _improve(mm, st, inc, mip_gap, threads, deadline, stop, row_dual), lp_bound


def _whole_lp_plan(mm: MatrixModel, st: _Structure, threads: int, deadline: float,
                   stop: Callable[[], bool],
                   ) -> tuple[float, np.ndarray | None, np.ndarray | None] | None:
    """Return (the whole LP's bound, its row duals, its rounding's plan) before ``deadline``.

    Stages 1–4 of the whole model, as an improvement of the quarter-by-quarter plan: they
    are bounded by node limits, not the clock (XL: LP 47 s, rounding about 60 s more), so
    they run in a forked child (``can_fork`` must hold) that is stopped at the deadline.
    None when stopped.
    """

    def work(flag: StopFlag) -> tuple[float, np.ndarray | None, np.ndarray | None] | None:
        session = LpSession(mm, threads)
        lp = session.solve()
        if lp.status != "Optimal" or lp.values is None or flag:
            return None
        sub = _Incumbent(mm, st, time.perf_counter(), None)
        _first_plan(mm, st, sub, lp, session, threads)
        return float(lp.objective), lp.row_dual, sub.values

    return run_isolated(work, soft_deadline=deadline, grace_s=0.0, should_stop=stop)


def _first_plan(mm: MatrixModel, st: _Structure, inc: _Incumbent, lp: HighsRun,
                session: LpSession, threads: int,
                expensive_nodes: int = EXPENSIVE_MIP_NODES,
                expensive_values: np.ndarray | None = None) -> None:
    """Stages 2–4: decide expensive platforms, round the rest, buy what the plan needs."""
    x_fixed = np.zeros(st.n_x)
    fixed = np.zeros(st.n_x, dtype=bool)
    x_int = st.x_integer
    if expensive_values is not None:
        fixed = st.expensive_x & x_int
        x_fixed = np.round(expensive_values[:st.n_x])
        inc.report("expensive platforms from the start")
    elif expensive_nodes > 0 and (st.expensive_x & x_int).any() and \
            (lp.values[:st.n_x][st.expensive_x] > 1e-7).any():
        integer = np.zeros(mm.n_cols, dtype=bool)
        integer[:st.n_x] = st.expensive_x & x_int
        integer[st.b_off:st.y_off] = st.expensive_b
        run = run_highs(mm, integer=integer, mip_gap=1e-4, threads=threads,
                        options={"mip_max_nodes": expensive_nodes})
        if run.values is not None:
            fixed = st.expensive_x & x_int
            x_fixed = np.round(run.values[:st.n_x])
        inc.report("expensive platforms decided")

    # Rounding needs a few more servers than the LP. Where installed servers, power, space
    # or supply then fall short, the purchase stage says by how much; the LP is re-solved
    # with that much held back on those rows, and rounded again.
    elastic = _ElasticPurchases(mm, st)
    reserve = np.zeros(mm.n_rows)  # held back from the LP, per row
    withheld = np.zeros(len(st.cap_rows))  # idle servers rounding must not count on
    # The capacity row of each available row (both follow the in-service columns).
    cap_of_avail = np.full(len(st.avail_rows), -1, dtype=np.int64)
    has = st.cap_y >= 0
    cap_of_avail[st.cap_y[has] - st.y_off] = np.flatnonzero(has)
    avail_pos = np.full(mm.n_rows, -1, dtype=np.int64)
    avail_pos[st.avail_rows] = np.arange(len(st.avail_rows))
    last_feasible = reserve.copy()
    times_short = np.zeros(mm.n_rows)
    round_no = 0
    round_limit = PRICED_ROUNDS + ROUND_UP_ROUNDS
    while round_no < round_limit:
        lower, upper = _fixed_bounds(mm, st, x_fixed, fixed)
        relaxed = session.solve(lower, upper, row_upper=mm.row_upper - reserve)
        if relaxed.values is None and fixed.any():  # the fixed platforms left no room
            fixed[:] = False
            relaxed = session.solve(row_upper=mm.row_upper - reserve)
        if relaxed.values is None or relaxed.row_dual is None:
            if not reserve.any() or np.abs(reserve - last_feasible).max() <= 0.5:
                inc.report("rounding: held-back capacity left no room")
                break
            # Held back more than the LP can spare: halve the step from the last reserve the
            # LP could meet (a bisection, bounded by the round budget).
            reserve = last_feasible + (reserve - last_feasible) / 2
            round_no += 1
            inc.report("rounding: held back too much, halving")
            continue
        last_feasible = reserve.copy()
        x_lp = relaxed.values[:st.n_x]
        if round_no < PRICED_ROUNDS:
            costs = _server_costs(mm, st, relaxed)
            costs.spare = np.maximum(costs.spare - withheld, 0.0)
            x_new = np.where(x_int, round_cells(mm, np.where(fixed, x_fixed, x_lp),
                                                fixed | ~x_int, costs,
                                                track_spare=round_no >= DUAL_ROUNDS), x_lp)
            stage = f"rounding {round_no + 1}"
        else:  # fallback: every fractional replica up, under the reserve found so far
            x_new = np.where(x_int & ~fixed, np.ceil(x_lp - 1e-9),
                             np.where(fixed, x_fixed, x_lp))
            stage = f"round-up {round_no - PRICED_ROUNDS + 1}"
        values, shortfall, status = elastic.solve(x_new, threads)
        round_no += 1
        if values is None:
            inc.report(f"{stage}: purchase MIP found no plan ({status})")
            continue
        if not shortfall.any():
            if inc.offer(stage, values):
                break
            inc.report(f"{stage}: plan rejected ({', '.join(inc.rejected)})")
            continue
        # Only installed servers ran out (no power, space or supply): where DR drives the LP
        # (synthetic M), the DR-aware block rounding plans without buying them. The cell
        # rounding goes on too, and the cheaper plan is kept (asic_2x: cells 0.4 % cheaper).
        if round_no == 1 and _only_installed_short(mm, shortfall) and \
                _block_plans(mm, st, inc, session, relaxed, x_fixed, fixed, elastic, threads):
            # A plan in hand: the cells get a few more rounds only (they converge in 2–3 on
            # the default cases; at M they would run all their rounds to a worse plan), and
            # none on a large model.
            more = 0 if mm.n_cols >= LARGE_MODEL_COLS else CELL_ROUNDS_AFTER_BLOCKS
            round_limit = min(round_limit, round_no + more)
        # A row short again gets more held back each time (the rounding's excess there moves
        # with the LP): the loop converges in fewer rounds.
        times_short += shortfall > 0
        short_rows = np.flatnonzero(shortfall > 0)
        short_avail = avail_pos[short_rows]
        reserve += shortfall * times_short
        on_cap = cap_of_avail[short_avail[short_avail >= 0]]
        np.add.at(withheld, on_cap[on_cap >= 0],
                  shortfall[short_rows[short_avail >= 0]][on_cap >= 0])
        families = sorted({FAMILIES[f] for f in mm.row_family[short_rows]})
        inc.report(f"{stage}: {len(short_rows)} rows short ({', '.join(families)}), held back")


def _only_installed_short(mm: MatrixModel, shortfall: np.ndarray) -> bool:
    """Return whether every short row is an installed-servers (available) row."""
    return bool(np.all(mm.row_family[shortfall > 0] == FAMILIES.index("available")))


def _block_plans(mm: MatrixModel, st: _Structure, inc: _Incumbent, session: LpSession,
                 lp: HighsRun, x_fixed: np.ndarray, fixed: np.ndarray,
                 elastic: _ElasticPurchases, threads: int) -> bool:
    """Round by blocks, holding back in the LP the servers each region-quarter overflowed.

    The block rounding needs a few more servers than the LP; where a region-quarter has no
    idle ones left, they would be bought. Holding that many servers back on the region-
    quarter's capacity rows (spread by the LP's use of each platform there) makes the LP move
    disaster-recovery capacity to regions that have idle servers, at a small cost; the blocks
    are rounded again from the new LP, up to ``BLOCK_ROUNDS`` times or until nothing
    overflows. Every plan found is offered; the cheapest is kept. Return whether one was.
    The first round rounds ``lp`` (the cell rounding's LP) without touching the session: when
    it is short too, the blocks give up and the cell rounding goes on from where it was.
    """
    x_int = st.x_integer
    lower, upper = _fixed_bounds(mm, st, x_fixed, fixed)
    reserve = np.zeros(mm.n_rows)
    found = False
    for round_no in range(BLOCK_ROUNDS):
        relaxed = lp if round_no == 0 else session.solve(lower, upper,
                                                         row_upper=mm.row_upper - reserve)
        if relaxed.values is None or relaxed.row_dual is None:
            inc.report("block rounding: held-back servers left the LP no room")
            return found
        x_lp = relaxed.values[:st.n_x]
        costs = _server_costs(mm, st, relaxed)
        x_new = np.where(x_int, round_blocks(mm, np.where(fixed, x_fixed, x_lp),
                                             fixed | ~x_int, costs), x_lp)
        values, shortfall, status = elastic.solve(x_new, threads)
        stage = f"block rounding {round_no + 1}"
        if values is not None and not shortfall.any():
            inc.offer(stage, values)
            found = found or not inc.rejected
        else:
            inc.report(f"{stage}: purchase MIP short ({status})")
            if round_no == 0:  # short where the cells were too: not this case's problem
                return found
        allocated = st.usage(mm, x_lp)
        overflow = np.maximum(st.usage(mm, x_new) - allocated - costs.spare, 0.0)
        if overflow.sum() < 0.5 and not shortfall.any():
            return found
        # Each region-quarter's overflow, spread over its capacity rows by the LP's use.
        rt_over = np.bincount(st.cap_rt, weights=overflow)[st.cap_rt]
        rt_alloc = np.bincount(st.cap_rt, weights=allocated)[st.cap_rt]
        share = np.where(rt_alloc > 0, allocated / np.maximum(rt_alloc, 1e-9), 0.0)
        reserve[st.cap_rows] += BLOCK_RESERVE_STEP * share * rt_over
        reserve += shortfall
    return found


class _ElasticPurchases:
    """The purchase MIP with replicas fixed, where every resource row may fall short.

    A shortfall costs far more than any server, so the MIP buys what it can and reports,
    per row (installed servers, power, space, supply), what the fixed replicas still lack:
    always an answer, and exactly the rows the next rounding must leave room on.
    """

    PENALTY_KUSD = 1e4  # per server, kW or rack unit short: above any server's cost

    def __init__(self, mm: MatrixModel, st: _Structure) -> None:
        import dataclasses

        import scipy.sparse as sp

        self.mm, self.st = mm, st
        self.rows = np.flatnonzero(np.isin(
            mm.row_family, [FAMILIES.index(f) for f in ("available", "power", "space",
                                                         "supply")]))
        k = len(self.rows)
        slack = sp.csr_matrix((-np.ones(k), (self.rows, np.arange(k))),
                              shape=(mm.n_rows, k))
        self.model = dataclasses.replace(
            mm, matrix=sp.hstack([mm.matrix, slack]).tocsr(),
            cost=np.r_[mm.cost, np.full(k, self.PENALTY_KUSD)],
            lower=np.r_[mm.lower, np.zeros(k)], upper=np.r_[mm.upper, np.full(k, math.inf)],
            integer=np.r_[mm.integer, np.zeros(k, dtype=bool)])

    def solve(self, x: np.ndarray,
              threads: int) -> tuple[np.ndarray | None, np.ndarray, str]:
        """Return (values of the plan, shortfall per row, HiGHS status) for replicas ``x``."""
        lower, upper = self.model.lower.copy(), self.model.upper.copy()
        lower[:self.st.n_x] = x
        upper[:self.st.n_x] = x
        run = run_highs(self.model, lower, upper, integer=self.model.integer, mip_gap=1e-4,
                        threads=threads, options={"mip_max_nodes": PURCHASE_MIP_NODES})
        shortfall = np.zeros(self.mm.n_rows)
        if run.values is None:
            return None, shortfall, run.status
        short = run.values[self.mm.n_cols:]
        shortfall[self.rows] = np.where(short > 1e-7, short, 0.0)
        return run.values[:self.mm.n_cols], shortfall, run.status


def _improve(mm: MatrixModel, st: _Structure, inc: _Incumbent, mip_gap: float, threads: int,
             deadline: float, stop: Callable[[], bool],
             row_dual: np.ndarray | None = None) -> str:
    """Stages 5–6: polish in boxes around the incumbent, then prove; return why it stopped.

    ``row_dual`` (the LP's) lets a large model's bound see whole replicas
    (:func:`~planner.optimization.block_bound.block_bound`) after the region polish.
    """

    def done() -> str:
        if inc.proven(mip_gap):
            return "gap"
        if stop():
            return "cancelled"
        if time.perf_counter() >= deadline:
            return "time"
        return ""

    def raise_by_blocks() -> None:
        if mm.n_cols >= LARGE_MODEL_COLS and row_dual is not None and not done():
            # HiGHS' own root bound does not finish in time at this size; this one is anytime.
            raised = block_bound(mm, row_dual, deadline=deadline, should_stop=stop)
            if raised is not None:
                inc.raise_bound(raised.bound)
                inc.report(f"whole-replica bound ({raised.solved} of {raised.fractional} "
                           "fractional blocks)")

    x_int = st.x_integer
    # At hyperscale one region-quarter polish pass takes minutes (XL: about 70 s per
    # quarter); the bound (XL: 140 s, 7.6 % above the LP) comes first there.
    blocks_first = mm.n_cols >= BY_QUARTER_COLS
    if blocks_first:
        raise_by_blocks()
    far = inc.gap is not None and inc.gap > REGION_POLISH_GAP
    if far and mm.n_cols >= LARGE_MODEL_COLS:
        # Far from the bound (synthetic M): one region-quarter at a time first, the rest of
        # the plan fixed. Each MIP is small, so replicas can move ±REGION_POLISH_BOX between
        # the blocks of a region-quarter in about a second (M: 3.40 % → 2.72 % above the LP
        # in 7 s, where one ±1 round of the full MIP took 12 s to reach 2.97 %).
        for group in np.unique(st.x_rt):
            if why := done():
                return why
            x = inc.values[:st.n_x]
            free = x_int & (st.x_rt == group)
            lower, upper = mm.lower.copy(), mm.upper.copy()
            lower[:st.n_x] = np.where(free, np.maximum(0.0, x - REGION_POLISH_BOX), x)
            upper[:st.n_x] = np.where(free, x + REGION_POLISH_BOX, x)
            lower[:st.n_x] = np.where(x_int, lower[:st.n_x], mm.lower[:st.n_x])
            upper[:st.n_x] = np.where(x_int, upper[:st.n_x], mm.upper[:st.n_x])
            run = run_highs(mm, lower, upper, integer=mm.integer, mip_gap=1e-3,
                            threads=threads, warm_start=inc.values,
                            time_limit_s=deadline - time.perf_counter(),
                            options={"mip_max_nodes": POLISH_NODES}, should_stop=stop)
            inc.offer("polish by region-quarter", run.values)
    if not blocks_first:
        raise_by_blocks()
    for box in POLISH_BOXES:
        while not (why := done()):
            x = inc.values[:st.n_x]
            lower, upper = mm.lower.copy(), mm.upper.copy()
            lower[:st.n_x] = np.where(x_int, np.maximum(0.0, x - box), lower[:st.n_x])
            upper[:st.n_x] = np.where(x_int, x + box, upper[:st.n_x])
            run = run_highs(mm, lower, upper, integer=mm.integer, mip_gap=mip_gap / 2,
                            threads=threads, warm_start=inc.values,
                            time_limit_s=deadline - time.perf_counter(),
                            options={"mip_max_nodes": POLISH_NODES}, should_stop=stop)
            if not inc.offer(f"polish ±{box}", run.values):
                break
        if why:
            return why
        if box == ROOT_AFTER_BOX:
            _root_bound(mm, inc, mip_gap, threads, deadline, stop)
    if why := done():
        return why
    run = run_highs(mm, integer=mm.integer, mip_gap=mip_gap, threads=threads,
                    warm_start=inc.values, time_limit_s=deadline - time.perf_counter(),
                    should_stop=stop)
    inc.raise_bound(run.bound)
    if run.status == "Optimal" and run.bound is None and run.objective is not None:
        inc.raise_bound(run.objective)
    inc.offer("proof", run.values)
    return done() or "exhausted"


def _root_bound(mm: MatrixModel, inc: _Incumbent, mip_gap: float, threads: int,
                deadline: float, stop: Callable[[], bool]) -> None:
    """Raise the bound by the full MIP's root node, warm-started from the polished plan.

    After the polish boxes the plan is close enough that HiGHS' root (cuts, reduced-cost
    fixing against the incumbent) raises the bound within ROOT_TIME_S; from the first plan
    (2.8 % further off) it ran 19.5 s on slo_tighter.
    """
    if inc.proven(mip_gap):
        return
    root = run_highs(mm, integer=mm.integer, mip_gap=mip_gap, threads=threads,
                     warm_start=inc.values,
                     time_limit_s=min(ROOT_TIME_S, deadline - time.perf_counter()),
                     options=ROOT_OPTIONS, should_stop=stop)
    inc.raise_bound(root.bound)
    inc.offer("root bound", root.values)
