"""Time-of-day slots on one case: model size and solve time against the peak-only model.

Usage::

    python bench/diurnal.py [--case fleet_data/default] [--slots 6,24] [--time-limit 60]

For the peak-only model and each slot count, the array model (:func:`planner.scale.build_matrix`
of the slotted fleet, the matrix :func:`planner.model.build_model` builds too) is built and
solved by plain HiGHS at the case's gap and the same time limit; the table prints columns,
rows, nonzeros, build and solve seconds, cost and gap, each with its ratio to the peak-only
model. ``kept peak`` says the peak-only plan (repeated in every slot) was cheaper than what
HiGHS found, as :func:`planner.diurnal.plan.solve_slotted` would keep it. Run it on a quiet
machine; read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import planner as pl  # noqa: E402
from planner.diurnal.plan import peak_start, with_diurnal  # noqa: E402
from planner.diurnal.slots import expand_fleet  # noqa: E402
from planner.scale import build_matrix, solve_matrix  # noqa: E402


def measure(fleet: pl.Fleet, slots: int, time_limit_s: float, peak: pl.Plan | None) -> dict:
    """Build and solve one model (slots 0: peak only); return its size, times and cost."""
    start = time.perf_counter()
    model_fleet = expand_fleet(with_diurnal(fleet, slots=slots)) if slots else fleet
    mm = build_matrix(model_fleet)
    build = time.perf_counter() - start
    result = solve_matrix(mm, time_limit_s, fleet.settings.solver.mip_gap)
    cost = result.objective
    kept = False
    if slots and peak is not None:
        warm = float(mm.cost @ peak_start(mm, peak))
        kept = cost is None or warm < cost
        cost = warm if kept else cost
    return {
        "model": f"{slots} slots" if slots else "peak only",
        "columns": mm.n_cols,
        "rows": mm.n_rows,
        "nonzeros": mm.matrix.nnz,
        "build_s": build,
        "solve_s": result.seconds,
        "cost_kusd": cost,
        "gap": result.gap,
        "kept": kept,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure the peak-only model and each slot count; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default=str(ROOT / "fleet_data" / "default"))
    parser.add_argument("--slots", default="6,24")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args(argv)
    fleet = pl.load_fleet(args.case)
    peak = pl.make_plan(fleet, time_limit_s=args.time_limit, explain=False)
    rows = [measure(fleet, 0, args.time_limit, None)]
    rows += [measure(fleet, int(n), args.time_limit, peak) for n in args.slots.split(",")]
    base = rows[0]
    print(
        f"case {Path(args.case).name}, HiGHS time limit {args.time_limit:g} s, gap "
        f"{fleet.settings.solver.mip_gap:g}; peak-only plan (anytime path) "
        f"{peak.total_cost_usd / 1e3:,.0f} kUSD"
    )
    print("| model | columns | rows | nonzeros | build s | solve s | cost kUSD | gap | kept peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = {
            k: r[k] / base[k] if base[k] else float("nan")
            for k in ("columns", "rows", "nonzeros", "build_s", "solve_s")
        }
        cost = "none" if r["cost_kusd"] is None else f"{r['cost_kusd']:,.0f}"
        gap = "n/a" if r["gap"] is None else f"{r['gap']:.1%}"
        print(
            f"| {r['model']} | {r['columns']:,} ({ratio['columns']:.1f}x) | {r['rows']:,} "
            f"({ratio['rows']:.1f}x) | {r['nonzeros']:,} ({ratio['nonzeros']:.1f}x) | "
            f"{r['build_s']:.2f} ({ratio['build_s']:.1f}x) | {r['solve_s']:.1f} "
            f"({ratio['solve_s']:.1f}x) | {cost} | {gap} | {'yes' if r['kept'] else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
