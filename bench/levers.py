"""Solver levers on one fleet, measured side by side: what each one gains against plain HiGHS.

Usage::

    python bench/levers.py [--case fleet_data/default] [--seeds 0,1,2] [--time-limit 60]
                           [--no-write]

Every lever solves the same array model (:func:`planner.scale.build_matrix`, the program
:func:`planner.model.build_model` builds) with HiGHS at the case's configured gap, once per
random seed; the table shows medians. Levers:

* ``lp``: the LP relaxation (the bound every plan is compared with);
* ``highs defaults``: HiGHS with its own default options (the reference for the time ratio);
* ``highs + shifting (planner)``: the planner's solve as configured
  (:data:`planner.solve.HIGHS_OPTIONS`);
* ``highs + small cut pool``, ``highs, 2 threads``: other HiGHS options;
* ``whole replicas only`` / ``whole purchases only``: one family of integers relaxed, to
  show which integrality the gap between the LP and the plans comes from (not plans);
* ``relax-and-fix``: a primal heuristic, quarter by quarter (integers of quarter t whole,
  earlier quarters fixed, later ones relaxed), and ``relax-and-fix → highs``: its plan handed
  to HiGHS as a warm start;
* ``scip`` and ``cp-sat``: other solvers on the same model (MPS), when ``pyscipopt`` or
  ``ortools`` happen to be installed (they are not requirements).

Results are printed and written to ``bench/README.md`` between the ``levers`` markers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.errors import FleetDataError  # noqa: E402
from planner.fleet import load_fleet  # noqa: E402
from planner.scale import MatrixModel, MatrixSolve, build_matrix, solve_matrix  # noqa: E402

README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- levers:begin -->", "<!-- levers:end -->"


def relax_and_fix(mm: MatrixModel, time_limit_s: float, gap: float, seed: int) -> MatrixSolve:
    """Return a whole-number plan built quarter by quarter (bound: the LP relaxation)."""
    t0 = time.perf_counter()
    opts = {"random_seed": seed}
    lp = solve_matrix(mm, time_limit_s, gap, mip=False, options=opts)
    lead = mm.fleet.platforms.set_index("platform_id")["lead_time_quarters"]
    stage = np.concatenate([mm.x["t"].to_numpy(),
                            (mm.b["t"] + mm.b["platform_id"].map(lead)).to_numpy(),
                            np.full(len(mm.y), -1)])
    lower, upper = mm.lower.copy(), mm.upper.copy()
    result = lp
    for t in range(mm.fleet.settings.horizon_quarters):
        whole = mm.integer & (stage == t)
        if not whole.any():
            continue
        left = max(1.0, time_limit_s - (time.perf_counter() - t0))
        result = solve_matrix(replace(mm, lower=lower, upper=upper, integer=whole), left, gap,
                              options=opts)
        if not result.has_solution:
            return replace(result, seconds=time.perf_counter() - t0)
        lower[whole] = upper[whole] = np.round(result.values[whole])
    values = result.values.copy()
    values[mm.integer] = np.round(values[mm.integer])
    objective = float(mm.cost @ values)
    return MatrixSolve("feasible", objective, lp.objective,
                       (objective - lp.objective) / objective, time.perf_counter() - t0, 0.0,
                       0.0, values)


def _other_solver(name: str, mm: MatrixModel, limit: float, gap: float) -> dict | None:
    """Solve the model's MPS with SCIP or CP-SAT when installed; None when not."""
    from planner.scale import _pass, new_highs

    try:
        if name == "scip":
            import pyscipopt
        else:
            from ortools.linear_solver.python import model_builder as mb
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.mps")
        h = new_highs()
        _pass(h, mm.cost, mm.lower, mm.upper, mm.matrix, mm.row_lower, mm.row_upper,
              mm.integer)
        h.writeModel(path)
        t = time.perf_counter()
        if name == "scip":
            m = pyscipopt.Model()
            m.hideOutput()
            m.readProblem(path)
            m.setParam("limits/gap", gap)
            m.setParam("limits/time", limit)
            m.optimize()
            objective = m.getObjVal() if m.getNSols() else None
            bound, version = m.getDualbound(), f"SCIP {pyscipopt.__version__}"
        else:
            import ortools

            model = mb.Model()
            model.import_from_mps_file(path)
            solver = mb.Solver("CP_SAT")
            solver.set_time_limit_in_seconds(limit)
            solver.set_solver_specific_parameters(f"num_workers:2,relative_gap_limit:{gap}")
            status = solver.solve(model)
            found = status in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE)
            objective = solver.objective_value if found else None
            bound, version = solver.best_objective_bound, f"CP-SAT {ortools.__version__}"
        return {"objective": objective, "bound": bound, "seconds": time.perf_counter() - t,
                "note": version}


def measure(case: Path, seeds: list[int], limit: float) -> tuple[list[dict], dict]:
    """Return one row per lever (medians over seeds) and facts about the model."""
    fleet = load_fleet(case)
    mm = build_matrix(fleet)
    gap = fleet.settings.solver.mip_gap
    n_x = mm.n_x
    is_x = np.arange(mm.n_cols) < n_x
    plain = {"mip_heuristic_run_shifting": False}  # HiGHS' own defaults
    levers = {
        "lp": lambda s: solve_matrix(mm, limit, gap, mip=False, options={"random_seed": s}),
        "highs defaults": lambda s: solve_matrix(mm, limit, gap,
                                                 options={"random_seed": s, **plain}),
        "highs + shifting (planner)": lambda s: solve_matrix(mm, limit, gap,
                                                             options={"random_seed": s}),
        "highs + small cut pool": lambda s: solve_matrix(
            mm, limit, gap, options={"random_seed": s, "mip_lp_age_limit": 3,
                                     "mip_pool_soft_limit": 500, **plain}),
        "highs, 2 threads": lambda s: solve_matrix(mm, limit, gap, threads=2,
                                                   options={"random_seed": s, **plain}),
        "whole replicas only": lambda s: solve_matrix(
            replace(mm, integer=mm.integer & is_x), limit, gap, options={"random_seed": s}),
        "whole purchases only": lambda s: solve_matrix(
            replace(mm, integer=mm.integer & ~is_x), limit, gap, options={"random_seed": s}),
        "relax-and-fix": lambda s: relax_and_fix(mm, limit, gap / 2.5, s),
    }
    rows = []
    for name, run in levers.items():
        runs = []
        for seed in seeds:
            print(f"{name} (seed {seed}) ...", flush=True)
            r = run(seed)
            runs.append({"objective": r.objective, "bound": r.bound, "seconds": r.seconds,
                         "status": r.status, "values": r.values})
        rows.append(_median_row(name, runs))
        if name == "relax-and-fix":
            warm = []
            for seed, first in zip(seeds, runs, strict=True):
                print(f"relax-and-fix -> highs (seed {seed}) ...", flush=True)
                if first["values"] is None:
                    continue
                r = solve_matrix(mm, limit, gap, options={"random_seed": seed},
                                 warm_start=first["values"])
                warm.append({"objective": r.objective, "bound": r.bound,
                             "seconds": first["seconds"] + r.seconds, "status": r.status})
            rows.append(_median_row("relax-and-fix → highs", warm))
    for name in ("scip", "cp-sat"):
        print(f"{name} ...", flush=True)
        out = _other_solver(name, mm, limit, gap)
        if out is not None:
            rows.append({"lever": name, "status": "", **out})
    reference = next(r for r in rows if r["lever"] == "highs defaults")["seconds"]
    for r in rows:
        r["ratio"] = r["seconds"] / reference if r.get("seconds") else None
    facts = {"case": fleet.name, "columns": mm.n_cols, "rows": mm.n_rows,
             "integers": int(mm.integer.sum()), "gap": gap, "limit": limit, "seeds": seeds}
    return rows, facts


def _median_row(name: str, runs: list[dict]) -> dict:
    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    statuses = sorted({r["status"] for r in runs})
    return {"lever": name, "objective": med("objective"), "bound": med("bound"),
            "seconds": med("seconds"), "status": "/".join(statuses), "note": ""}


def table(rows: list[dict]) -> str:
    """Return the results as a markdown table."""
    lines = ["| lever | status | plan kUSD | bound kUSD | gap % | seconds | time vs defaults |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        obj, bound = r.get("objective"), r.get("bound")
        gap = (obj - bound) / obj * 100 if obj is not None and bound is not None else None
        cells = [
            r["lever"] + (f" ({r['note']})" if r.get("note") else ""),
            r.get("status") or "",
            f"{obj:,.1f}" if obj is not None else "no plan",
            f"{bound:,.1f}" if bound is not None else "",
            f"{gap:.2f}" if gap is not None else "",
            f"{r['seconds']:.2f}" if r.get("seconds") is not None else "",
            f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    """Replace the levers section of bench/README.md (atomically)."""
    readme = README.read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        readme = readme.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")
    tmp.replace(README)


def main(argv: list[str] | None = None) -> int:
    """Measure the levers, print the table and record it in bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=ROOT / "fleet_data" / "default")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    try:
        rows, facts = measure(args.case, seeds, args.time_limit)
    except FleetDataError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    command = "python bench/levers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"Command: `{command.strip()}`. Case `{facts['case']}`: {facts['columns']:,} "
            f"columns, {facts['rows']:,} rows, {facts['integers']:,} integers; gap "
            f"{facts['gap']:.2%}, limit {facts['limit']:.0f} s, 1 thread unless stated, "
            f"medians over seeds {facts['seeds']}.\n\n{table(rows)}")
    print(text)
    if not args.no_write:
        write_readme(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
