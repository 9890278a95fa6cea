"""Benchmark the planner from the default fleet to hyperscale, speed and quality side by side.

Usage (from the repository root)::

    python bench/run.py --sizes default,S,M,L --solvers highs,cbc --repeats 1 --time-limit 120

Every measurement runs in its own subprocess (clean peak memory, hard timeout), and prints,
per size and solver: generation/loading, validation, model build, hand-over to the solver,
solve, extraction and verification seconds; the plan's cost, best bound and gap; the LP
relaxation bound; the greedy baseline's cost and the planner's saving against it; peak RSS.
Results are medians over ``--repeats`` and are written to ``bench/README.md`` (unless
``--no-write``) with the machine, the package versions and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = [
    ("size", "size"), ("solver", "solver"), ("cols", "columns"), ("rows", "rows"),
    ("gen_s", "generate/load s"), ("check_s", "validate s"), ("build_s", "build s"),
    ("handover_s", "hand-over s"), ("solve_s", "solve s"), ("extract_s", "extract s"),
    ("verify_s", "verify s"), ("wall_s", "wall s"), ("status", "status"),
    ("cost_musd", "plan cost M$"), ("gap_pct", "gap %"), ("lp_gap_pct", "cost vs LP bound %"),
    ("greedy_musd", "greedy M$"), ("saving_pct", "saving vs greedy %"),
    ("greedy_ok", "greedy verified"), ("build_share_pct", "build+hand-over % of wall"),
    ("rss_mb", "peak RSS MB"),
]


def _fleet(size: str, seed: int):
    import planner as pl
    from planner.synthetic import synthetic_fleet

    if size == "default":
        return pl.load_fleet(ROOT / "fleet_data" / "default", check=False)
    return synthetic_fleet(size, seed=seed)


def measure(size: str, solver: str, time_limit: float, seed: int = 0) -> dict:
    """Run one full planning pass and return its timings and quality numbers."""
    import pulp

    import planner as pl
    from planner.solve import _interpret, make_solver, quiet_stdout

    out: dict = {"size": size, "solver": solver}
    wall = time.perf_counter()
    t = time.perf_counter()
    fleet = _fleet(size, seed)
    out["gen_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pl.check_fleet(fleet)
    out["check_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = pl.build_model(fleet)
    out["build_s"] = time.perf_counter() - t
    out["cols"], out["rows"] = len(model.variables), len(model.rows)
    gap = fleet.settings.solver.mip_gap
    log_path = str(Path(tempfile.mkdtemp()) / "cbc.log") if solver == "cbc" else None
    backend = make_solver(solver, time_limit, gap, 1, log_path=log_path)
    with quiet_stdout():
        if solver == "highs":
            # Split PuLP's solve into hand-over (building HiGHS' model) and the solve itself.
            t = time.perf_counter()
            backend.createAndConfigureSolver(model.prob)
            backend.buildSolverModel(model.prob)
            out["handover_s"] = time.perf_counter() - t
            t = time.perf_counter()
            backend.callSolver(model.prob)
            status, sol = backend.findSolutionValues(model.prob)
            model.prob.assignStatus(status, sol)
            out["solve_s"] = time.perf_counter() - t
        else:
            t = time.perf_counter()
            model.prob.solve(backend)  # CBC: writing the MPS file is part of this
            out["handover_s"] = float("nan")
            out["solve_s"] = time.perf_counter() - t
    result = _interpret(model, solver, out["solve_s"], gap, log_path)
    out["status"] = result.status
    if result.has_solution:
        t = time.perf_counter()
        plan = pl.extract_plan(model, result)
        out["extract_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ok = pl.verify_plan(fleet, plan).ok
        out["verify_s"] = time.perf_counter() - t
        out["verified"] = ok
        out["cost_musd"] = plan.total_cost_usd / 1e6
        out["gap_pct"] = 100 * result.gap if result.gap is not None else float("nan")
    out["wall_s"] = time.perf_counter() - wall
    handover = out["handover_s"] if out["handover_s"] == out["handover_s"] else 0.0  # NaN: CBC
    out["build_share_pct"] = 100 * (out["build_s"] + handover) / out["wall_s"]
    # Quality yardsticks, outside the timed wall: the LP bound and the greedy baseline.
    for var in model.variables:
        var.cat = pulp.LpContinuous
    lp = pl.solve_model(model, solver="highs", time_limit_s=time_limit)
    if lp.objective is not None and result.objective is not None:
        out["lp_gap_pct"] = 100 * (result.objective - lp.objective) / result.objective
    greedy = pl.greedy_plan(fleet)
    out["greedy_musd"] = greedy.total_cost_usd / 1e6
    out["greedy_ok"] = pl.verify_plan(fleet, greedy).ok
    if "cost_musd" in out:
        out["saving_pct"] = 100 * (1 - out["cost_musd"] / out["greedy_musd"])
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_one(size: str, solver: str, time_limit: float, seed: int) -> dict:
    """Run :func:`measure` in a subprocess with a hard timeout."""
    cmd = [sys.executable, __file__, "--one", size, solver, str(time_limit), str(seed)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=4 * time_limit + 600,
                              cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"size": size, "solver": solver, "status": "timeout"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"size": size, "solver": solver, "status": f"error: {tail[:60]}"}
    return json.loads(lines[-1])


def median_row(runs: list[dict]) -> dict:
    """Return the per-field median of numeric fields (other fields from the first run)."""
    row = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            values = [r[key] for r in runs if isinstance(r.get(key), float)]
            row[key] = statistics.median(values) if values else value
    return row


def fmt(value: object) -> str:
    """Format one table cell."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return "" if value is None else str(value)


def table(rows: list[dict]) -> str:
    """Return the results as a Markdown table."""
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(fmt(r.get(key)) for key, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def machine() -> str:
    """Describe the machine and the package versions."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pkgs = ", ".join(f"{p} {version(p)}" for p in ("pulp", "highspy", "pandas", "numpy"))
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python "
            f"{platform.python_version()}; {pkgs}")


def main() -> None:
    """Parse arguments, run the benchmarks, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="default,S,M")
    parser.add_argument("--solvers", default="highs,cbc")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="Do not rewrite the README.")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, solver, limit, seed = args.one
        print(json.dumps(measure(size, solver, float(limit), int(seed)), default=str))
        return
    rows = []
    for size in args.sizes.split(","):
        for solver in args.solvers.split(","):
            runs = [run_one(size, solver, args.time_limit, args.seed + i)
                    for i in range(args.repeats)]
            row = median_row(runs)
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        write_readme(text, args)


def write_readme(results: str, args: argparse.Namespace) -> None:
    """Rewrite the results section of ``bench/README.md``, keeping the notes after it."""
    path = ROOT / "bench" / "README.md"
    marker = "<!-- NOTES -->"
    notes = path.read_text(encoding="utf-8").split(marker, 1)[1] if path.exists() and marker in \
        path.read_text(encoding="utf-8") else "\n"
    command = (f"python bench/run.py --sizes {args.sizes} --solvers {args.solvers} "
               f"--repeats {args.repeats} --time-limit {args.time_limit:g}")
    text = (
        "# Benchmarks\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}.\n\n"
        f"Command: `{command}` (rewrites this section; medians of {args.repeats} run(s); "
        "each run in its own subprocess).\n\n"
        "Sizes: `default` is `fleet_data/default`; the others come from "
        "`planner.synthetic.synthetic_fleet` (S = 100 models × 8 platforms × 2 regions × 2 "
        "quarters, M = 200 × 10 × 3 × 4, L = 500 × 12 × 5 × 4, XL = 1000 × 12 × 5 × 8, "
        "XXL = 1000 × 12 × 10 × 8). Hand-over is PuLP building HiGHS' model (for CBC it is "
        "inside the solve: PuLP writes an MPS file). 'cost vs LP bound' compares the plan's "
        "objective with the LP relaxation; the greedy baseline ignores power caps and supply, "
        "so 'greedy verified' says whether it is even feasible.\n\n"
        f"{results}\n\n{marker}{notes}"
    )
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
