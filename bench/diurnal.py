"""Time-of-day slots on one case: the old path (plain HiGHS) against the anytime path.

Usage::

    python bench/diurnal.py [--case fleet_data/default] [--slots 6,24] [--time-limit 30]

For the peak-only model and each slot count, both paths plan the case with the same time
limit and gap, in one run:

* **old**: plain HiGHS on the array model (:func:`planner.scale.solve_matrix` for the
  peak-only model; ``plan_diurnal(..., path="highs")`` for slots, which keeps the peak-only
  plan repeated in every slot where HiGHS found nothing cheaper);
* **new**: the anytime path (:func:`planner.make_plan` for the peak-only model;
  ``plan_diurnal(...)`` for slots: LP bound, rounding and purchase MIP by node limits, the
  peak-only plan and, above 6 slots, the 6-slot first plan as starts, then polish and proof).

Both slotted paths get the same peak-only plan (the new path's, made once). The table prints
columns, rows, the first plan's seconds and gap (new path; against its final bound), the
final cost (the plan's objective in kUSD, recomputed from its values), its gap against its own
bound and against the best bound either path proved, the solve seconds and whether the
peak-only plan was kept. The load average and the commit are printed with it: seconds depend
on the machine, the first plans of the new path do not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import planner as pl  # noqa: E402
from planner.diurnal.plan import plan_diurnal, with_diurnal  # noqa: E402
from planner.scale import build_matrix, solve_matrix  # noqa: E402


def peak_rows(fleet: pl.Fleet, time_limit_s: float) -> tuple[list[dict], pl.Plan]:
    """Plan the peak-only model both ways; return the two rows and the anytime plan."""
    gap = fleet.settings.solver.mip_gap
    mm = build_matrix(fleet)
    old = solve_matrix(mm, time_limit_s, gap)
    start = time.perf_counter()
    plan = pl.make_plan(fleet, time_limit_s=time_limit_s, explain=False)
    wall = time.perf_counter() - start
    s = plan.summary
    cost = None if old.values is None else float(mm.cost @ old.values)
    rows = [
        {"model": "peak only", "path": "old", "columns": mm.n_cols, "rows": mm.n_rows,
         "first_s": None, "first_gap": None, "cost": cost, "bound": old.bound,
         "solve_s": old.seconds, "kept": False, "status": old.status},
        {"model": "peak only", "path": "new", "columns": mm.n_cols, "rows": mm.n_rows,
         "first_s": s["first_plan_seconds"], "first_gap": s["first_plan_gap"],
         "first_cost": s["first_plan_objective"], "cost": s["objective_value"],
         "bound": s["best_bound"], "solve_s": wall, "kept": False, "status": s["status"]},
    ]
    return rows, plan


def slot_row(fleet: pl.Fleet, slots: int, time_limit_s: float, peak: pl.Plan,
             path: str) -> dict:
    """Plan ``slots`` slots on one path; return its row."""
    start = time.perf_counter()
    result = plan_diurnal(fleet, slots=slots, time_limit_s=time_limit_s, peak=peak, path=path)
    wall = time.perf_counter() - start
    s = result.plan.summary
    return {"model": f"{slots} slots", "path": "old" if path == "highs" else "new",
            "columns": s["columns"], "rows": s["rows"], "first_s": s["first_plan_seconds"],
            "first_gap": s["first_plan_gap"], "first_cost": s["first_plan_objective"],
            "cost": s["objective_value"], "bound": s["best_bound"], "solve_s": wall,
            "kept": s["kept_peak_plan"], "status": s["status"]}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _gap(cost: float | None, bound: float | None) -> float | None:
    if cost is None or bound is None:
        return None
    return max(0.0, (cost - bound) / cost)


def commit() -> str:
    """Return the checkout's commit and whether fleet_data has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = " (fleet_data/ has uncommitted changes)" if git("status", "--short",
                                                             "fleet_data").strip() else ""
    return git("rev-parse", "--short", "HEAD").strip() + dirty


def main(argv: list[str] | None = None) -> int:
    """Measure both paths on the peak-only model and each slot count; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default=str(ROOT / "fleet_data" / "default"))
    parser.add_argument("--slots", default="6,24")
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    fleet = with_diurnal(pl.load_fleet(args.case), slots=0)
    rows, peak = peak_rows(fleet, args.time_limit)
    for n in (int(v) for v in args.slots.split(",")):
        rows += [slot_row(fleet, n, args.time_limit, peak, path) for path in ("highs", "anytime")]
    best: dict[str, float] = {}
    for r in rows:
        if r["bound"] is not None:
            best[r["model"]] = max(best.get(r["model"], r["bound"]), r["bound"])
    print(f"case {args.case}, commit {commit()}, time limit {args.time_limit:g} s, gap "
          f"{fleet.settings.solver.mip_gap:g}, load average before "
          f"{', '.join(f'{v:.2f}' for v in load_before)}, after "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| model | path | columns | rows | first plan s | first plan kUSD | first gap | "
          "final kUSD | gap | vs best bound | solve s | status | kept peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cost = "none" if r["cost"] is None else f"{r['cost']:,.0f}"
        first = "–" if r.get("first_cost") is None else f"{r['first_cost']:,.0f}"
        first_s = "–" if r["first_s"] is None else f"{r['first_s']:.2f}"
        print(f"| {r['model']} | {r['path']} | {r['columns']:,} | {r['rows']:,} | {first_s} | "
              f"{first} | {_pct(r['first_gap'])} | {cost} | {_pct(_gap(r['cost'], r['bound']))} "
              f"| {_pct(_gap(r['cost'], best.get(r['model'])))} | {r['solve_s']:.1f} | "
              f"{r['status']} | {'yes' if r['kept'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
