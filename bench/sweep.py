"""Scenario sweep throughput on the default case: process pool against a Dask LocalCluster.

    python bench/sweep.py                          # 100 scenarios, 2 workers, three runs
    python bench/sweep.py --scenarios 1000 --runs pool:lean
    python bench/sweep.py --time-limit 30          # each scenario improved and proven too

The runs (``--runs``, default ``pool:full,pool:lean,local:lean``) are executor:mode pairs:
``pool`` (process pool) or ``local`` (Dask LocalCluster); ``lean`` plans as sweeps do
(``make_plan(..., lean=True)``: column-wise tables, no greedy comparison for a plan near its
bound), ``full`` as ``planner plan`` does. The ratios printed at the end compare lean with
full on the pool, and the LocalCluster with the pool in lean mode, from the same run.
``--interleaved N`` instead plans N scenarios in this process, each in both modes one after
the other (alternating which goes first), so that a noisy machine affects both alike, and
prints the mean seconds a scenario per mode and status, and whether the costs agree.
``--executor-overhead`` times an executor's fixed and per-task costs without planning: its
start, the workers' first task (importing the planner), then 200 no-op tasks.

Each executor plans the same sample of default-case scenarios (ranking and CV demand,
Prineville's cap, Glacier Point's price and when it can be ordered) into a fresh folder and
reports the wall time, the scenarios per minute, the extrapolated time for 1,000 scenarios,
and the executor's overhead per scenario: wall time x workers minus the seconds the workers
spent planning, divided by the scenarios (start-up, transfer, result writing). The default
``--time-limit 0`` plans each scenario's first verified plan (the anytime path without its
improvement and proof stages), the setting a large sweep should use.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT = ROOT / "fleet_data" / "default"


def sweep_spec(n: int, seed: int, time_limit_s: float | None) -> dict:
    """Return the benchmark's sweep file contents."""
    return {
        "samples": n,
        "seed": seed,
        "distributions": {
            "demand_multiplier.bucket.ranking": {"dist": "lognormal", "median": 1.1, "sigma": 0.1},
            "demand_multiplier.bucket.cv": {
                "dist": "triangular",
                "low": 0.9,
                "mode": 1.0,
                "high": 1.4,
            },
            "power_cap_kw.prn": {"dist": "uniform", "low": 2200, "high": 3200},
            "platform_changes.yv2_glacier_point.capex_multiplier": {
                "dist": "normal",
                "mean": 1.0,
                "sd": 0.1,
                "low": 0.7,
                "high": 1.3,
            },
            "platform_changes.yv2_glacier_point.available_from_quarter": {
                "dist": "choice",
                "values": [0, 2],
                "weights": [0.8, 0.2],
            },
        },
        "solver": {"time_limit_s": time_limit_s},
    }


def measure(
    executor: str, mode: str, n: int, workers: int, seed: int, time_limit_s: float | None
) -> dict:
    """Run one sweep in a fresh folder; return its timings."""
    import planner as pl

    spec = pl.parse_sweep(sweep_spec(n, seed, time_limit_s))
    out = Path(tempfile.mkdtemp(prefix=f"sweep_{executor}_"))
    try:
        start = time.perf_counter()
        result = pl.run_sweep(
            DEFAULT,
            spec,
            out,
            workers=workers,
            scheduler=None if executor == "pool" else "local",
            lean=mode == "lean",
        )
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    table = result.results
    busy = float(table["seconds"].sum())
    return {
        "executor": result.executor,
        "run": f"{executor}:{mode}",
        "mode": mode,
        "scenarios": n,
        "wall_s": wall,
        "per_minute": 60 * n / wall,
        "for_1000_s": wall / n * 1000,
        "plan_s_mean": busy / n,
        "overhead_s": (wall * workers - busy) / n,
        "failed": result.failed,
        "statuses": table["status"].value_counts().to_dict(),
    }


def interleaved(n: int, seed: int, time_limit_s: float | None) -> None:
    """Plan ``n`` scenarios lean and full alternately in one process; print the means."""
    import statistics

    import planner as pl
    from planner.sweeps import points
    from planner.sweeps.worker import case_fleet, plan_point

    spec = pl.parse_sweep(sweep_spec(n, seed, time_limit_s))
    case = str(DEFAULT)
    case_fleet(case)
    options = spec.solver.model_dump()
    rows: dict[str, list[dict]] = {"lean": [], "full": []}
    for i, inputs in enumerate(points(spec, ".")):
        for mode in ("lean", "full") if i % 2 == 0 else ("full", "lean"):
            options_i = options | {"lean": mode == "lean"}
            rows[mode].append(plan_point(case, spec.base, f"s{i}", inputs, options_i))
    for mode, found in rows.items():
        by_status: dict[str, list[float]] = {}
        for r in found:
            by_status.setdefault(r["status"], []).append(r["seconds"])
        per_status = {k: f"{len(v)} at {statistics.mean(v):.3f} s" for k, v in by_status.items()}
        print(
            f"{mode}: {statistics.mean(r['seconds'] for r in found):.3f} s a scenario; {per_status}"
        )
    same = all(
        abs((a.get("total_cost_usd") or 0.0) - (b.get("total_cost_usd") or 0.0)) < 1e-6
        for a, b in zip(rows["lean"], rows["full"], strict=True)
    )
    lean = statistics.mean(r["seconds"] for r in rows["lean"])
    full = statistics.mean(r["seconds"] for r in rows["full"])
    print(f"lean / full: {lean / full:.3f}; same costs in every scenario: {same}")


def _import_planner(i: int) -> int:
    import planner.sweeps.worker  # noqa: F401  (what a worker's first scenario imports)

    return i


def _noop(i: int) -> int:
    return i


def executor_overhead(workers: int) -> None:
    """Print each executor's start, first-task (imports) and per-task seconds."""
    from concurrent.futures import wait

    from planner.sweeps.run import open_executor

    for scheduler in (None, "local"):
        t0 = time.perf_counter()
        with open_executor(workers, scheduler) as (pool, described, n):
            t1 = time.perf_counter()
            wait([pool.submit(_import_planner, i) for i in range(n)])
            t2 = time.perf_counter()
            wait([pool.submit(_noop, i) for i in range(200)])
            t3 = time.perf_counter()
        print(
            f"{described}: start {t1 - t0:.1f} s, first tasks (imports) {t2 - t1:.1f} s, "
            f"no-op task {(t3 - t2) / 200 * 1000:.1f} ms"
        )


def main() -> None:
    """Parse arguments, run the executors one after the other, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=0.0)
    parser.add_argument(
        "--runs",
        default="pool:full,pool:lean,local:lean",
        help="executor:mode pairs, executor pool|local, mode lean|full",
    )
    parser.add_argument("--interleaved", type=int, default=0, help="see the module docstring")
    parser.add_argument("--executor-overhead", action="store_true")
    args = parser.parse_args()
    if args.executor_overhead:
        executor_overhead(args.workers)
        return
    if args.interleaved:
        interleaved(args.interleaved, args.seed, args.time_limit)
        return
    runs = [tuple(r.split(":")) for r in args.runs.split(",")]
    rows = [
        measure(e, m, args.scenarios, args.workers, args.seed, args.time_limit) for e, m in runs
    ]
    print(
        "| executor | mode | scenarios | wall s | scenarios/min | 1,000 extrapolated | plan s "
        "(mean, in worker) | overhead s/scenario | statuses |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['executor']} | {r['mode']} | {r['scenarios']} | {r['wall_s']:.1f} | "
            f"{r['per_minute']:.1f} | {r['for_1000_s'] / 60:.1f} min | {r['plan_s_mean']:.2f} "
            f"| {r['overhead_s']:.3f} | {r['statuses']} |"
        )
    by_run = {r["run"]: r for r in rows}
    print()
    for a, b, what in (
        ("pool:lean", "pool:full", "lean / full wall (process pool)"),
        ("local:lean", "pool:lean", "LocalCluster / process pool wall (lean)"),
        ("local:full", "pool:full", "LocalCluster / process pool wall (full)"),
    ):
        if a in by_run and b in by_run:
            print(f"{what}: {by_run[a]['wall_s'] / by_run[b]['wall_s']:.3f}")


if __name__ == "__main__":
    main()
