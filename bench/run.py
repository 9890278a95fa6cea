"""Benchmarks of the planner on synthetic fleets and the default fleet.

Usage::

    python bench/run.py [--sizes default,S,M,L,XL,XXL] [--repeats 3] [--solvers highs,cbc]
                        [--time-limit 300] [--paths pulp,arrays] [--no-write]

Every measured run happens in a fresh subprocess (``--worker``) with a hard timeout, so peak
memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that process, in MB) is clean and the
script always finishes. Per size it measures, separately: generation (or loading), validation
(``check_fleet``), model build, hand-over to the solver, solve, extraction, verification; the
plan's cost, best bound and gap; the LP relaxation; the greedy baseline
(:func:`planner.baselines.greedy_plan`) and the planner's saving against it; CBC against HiGHS
on the same instances; and the array path (:func:`planner.scale.plan_at_scale`). Medians over
repeats. Results are printed and written to ``bench/README.md`` (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CASE = ROOT / "fleet_data" / "default"
README = ROOT / "bench" / "README.md"
TABLE_FIELDS = [
    ("gen_s", "gen s"), ("check_s", "check s"), ("build_s", "build s"),
    ("handover_s", "hand-over s"), ("solve_s", "solve s"), ("extract_s", "extract s"),
    ("verify_s", "verify s"), ("wall_s", "wall s"), ("status", "status"),
    ("cost_musd", "cost M$"), ("gap_pct", "gap %"), ("lp_gap_pct", "vs LP %"),
    ("saving_pct", "saving vs greedy %"), ("verified", "verified"), ("rss_mb", "peak MB"),
]


# ---------------------------------------------------------------------------------------------
# Worker: one measured run in its own process
# ---------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _prepare(spec: dict) -> tuple[object, dict, object]:
    """Return (fleet, timings, scenario) for a spec: generated or loaded, then checked."""
    from planner.checks import check_fleet

    timings: dict[str, float] = {}
    scenario = None
    t = time.perf_counter()
    if spec["size"] == "default":
        from planner.fleet import load_fleet
        from planner.scenarios import apply_scenario, load_scenarios

        fleet = load_fleet(DEFAULT_CASE, check=False)
        timings["gen_s"] = time.perf_counter() - t
        t = time.perf_counter()
        check_fleet(fleet)
        scenarios = load_scenarios(DEFAULT_CASE)
        name = spec.get("scenario") or next(iter(scenarios), None)
        if name:
            scenario = scenarios[name]
            fleet = apply_scenario(fleet, scenario)
            check_fleet(fleet)
        timings["check_s"] = time.perf_counter() - t
    else:
        from planner.synthetic import synthetic_fleet

        fleet = synthetic_fleet(spec["size"], seed=spec.get("seed", 0), check=False)
        timings["gen_s"] = time.perf_counter() - t
        t = time.perf_counter()
        check_fleet(fleet)
        timings["check_s"] = time.perf_counter() - t
    return fleet, timings, scenario


def _partial(out: dict) -> None:
    """Print what is measured so far; the driver keeps it if the worker is killed."""
    print("PARTIAL " + json.dumps({**out, "rss_mb": _peak_rss_mb()}, default=str), flush=True)


def _cbc_wallclock(log_path: str) -> float | None:
    with contextlib.suppress(OSError):
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
        found = re.findall(r"Wallclock seconds\)?:\s*([\d.]+)", text)
        if found:
            return float(found[-1])
    return None


def _task_pulp(spec: dict, fleet, out: dict) -> None:
    """PuLP path: build_model, hand-over, solve, extract, verify (planner.pipeline's stages)."""
    import pulp

    from planner import solve as solve_mod
    from planner.model import build_model
    from planner.results import extract_plan
    from planner.verify import verify_plan

    solver = spec["solver"]
    t = time.perf_counter()
    model = build_model(fleet)
    out["build_s"] = time.perf_counter() - t
    _partial(out)
    gap_target = spec["mip_gap"]
    log_path = None
    if solver == "cbc":
        fd, log_path = tempfile.mkstemp(prefix="bench_cbc_", suffix=".log")
        os.close(fd)
    backend = solve_mod.make_solver(solver, spec["time_limit"], gap_target, 1,
                                    log_path=log_path)
    t = time.perf_counter()
    with solve_mod.quiet_stdout():
        model.prob.solve(backend)
    wall = time.perf_counter() - t
    if solver == "highs":
        run = model.prob.solverModel.getRunTime()
        out["handover_note"] = "solve wall minus highspy getRunTime()"
    else:
        run = _cbc_wallclock(log_path) if log_path else None
        out["handover_note"] = "solve wall minus CBC's own wallclock (MPS write, process, read)"
    run = wall if run is None else min(run, wall)
    out["handover_s"] = wall - run
    out["solve_s"] = run
    result = solve_mod._interpret(model, solver, wall, gap_target, log_path)
    if log_path:
        with contextlib.suppress(OSError):
            os.remove(log_path)
    out["status"] = result.status
    out["objective"] = result.objective
    out["bound"] = result.bound
    out["gap"] = result.gap
    out["variables"] = len(model.x) + len(model.b) + len(model.y)
    out["constraints"] = len(model.rows)
    if not result.has_solution:
        return
    t = time.perf_counter()
    plan = extract_plan(model, result)
    out["extract_s"] = time.perf_counter() - t
    t = time.perf_counter()
    verification = verify_plan(fleet, plan)
    out["verify_s"] = time.perf_counter() - t
    out["verified"] = verification.ok
    out["cost_usd"] = plan.total_cost_usd
    out["binding_power_rows"] = int((plan.power["headroom_kw"] <= 0.01 * plan.power["cap_kw"])
                                    .sum())
    del pulp


def _task_arrays(spec: dict, fleet, out: dict) -> None:
    """Array path: decomposition.plan_at_scale (vectorised build, highspy, Lagrangian bound)."""
    from decomposition import plan_at_scale

    from planner.errors import SolverError
    from planner.verify import verify_plan

    try:
        plan = plan_at_scale(fleet, time_limit_s=spec["time_limit"], mip_gap=spec["mip_gap"],
                             threads=1, bound_time_s=spec.get("bound_time", 0.0))
    except SolverError as exc:
        out["status"] = "no_solution"
        out["message"] = str(exc)[:200]
        return
    s = plan.summary
    out.update(build_s=s["build_seconds"], handover_s=s["handover_seconds"],
               solve_s=s["solve_seconds"], bound_s=s["bound_seconds"],
               extract_s=s["extract_seconds"], status=s["status"],
               objective=s["objective_value"], bound=s["best_bound"], gap=s["gap"],
               bound_source=s["bound_source"], variables=s["variables"],
               constraints=s["constraints"])
    t = time.perf_counter()
    verification = verify_plan(fleet, plan)
    out["verify_s"] = time.perf_counter() - t
    out["verified"] = verification.ok
    out["cost_usd"] = plan.total_cost_usd


def _task_lp(spec: dict, fleet, out: dict) -> None:
    """LP relaxation (the bound of the integer program), solved by HiGHS from the arrays."""
    from planner.scale import build_matrix, solve_matrix

    t = time.perf_counter()
    mm = build_matrix(fleet)
    out["build_s"] = time.perf_counter() - t
    result = solve_matrix(mm, spec["time_limit"], 0.0, mip=False)
    out["handover_s"] = result.handover_seconds
    out["solve_s"] = result.seconds - result.handover_seconds
    out["status"] = result.status
    out["lp_bound"] = result.objective if result.status == "optimal" else None
    out["variables"] = mm.n_cols
    out["constraints"] = mm.n_rows


def _task_lagrangian(spec: dict, fleet, out: dict) -> None:
    """Lagrangian bound with MIR cuts (bench/decomposition.py)."""
    from decomposition import lagrangian_bound

    from planner.scale import build_matrix

    t = time.perf_counter()
    mm = build_matrix(fleet)
    out["build_s"] = time.perf_counter() - t
    result = lagrangian_bound(mm, spec["time_limit"])
    out["solve_s"] = result.seconds
    out["status"] = "bound"
    out["lagrangian_bound"] = result.bound
    out["rounds"] = result.rounds


def _task_greedy(spec: dict, fleet, out: dict) -> None:
    """Greedy baseline: planner.baselines.greedy_plan, costed and verified like any plan."""
    from planner.baselines import greedy_plan
    from planner.verify import verify_plan

    t = time.perf_counter()
    plan = greedy_plan(fleet)
    out["solve_s"] = time.perf_counter() - t
    out["cost_usd"] = plan.total_cost_usd
    verification = verify_plan(fleet, plan)
    out["verified"] = verification.ok
    out["violations"] = sorted(set(verification.violations["check"])) if not verification.ok \
        else []
    out["status"] = "greedy"


TASKS = {"pulp": _task_pulp, "arrays": _task_arrays, "lp": _task_lp,
         "lagrangian": _task_lagrangian, "greedy": _task_greedy}


def worker(spec: dict) -> dict:
    """Run one spec in this process and return its measurements."""
    import warnings

    warnings.simplefilter("ignore")
    with contextlib.suppress(Exception):
        import pulp

        pulp.set_v4_migration_warnings(False)
    start = time.perf_counter()
    fleet, timings, _scenario = _prepare(spec)
    out: dict = dict(timings)
    _partial(out)
    TASKS[spec["task"]](spec, fleet, out)
    out["wall_s"] = time.perf_counter() - start
    out["rss_mb"] = _peak_rss_mb()
    out["rss_note"] = "ru_maxrss of the worker process"
    return out


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def run_spec(spec: dict, timeout: float) -> dict:
    """Run ``spec`` in a subprocess with a hard timeout; return its measurements."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=str(ROOT))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        partial = {}
        for line in (stdout or "").splitlines():
            if line.startswith("PARTIAL "):
                partial = json.loads(line[len("PARTIAL "):])
        return {**partial, "status": "timeout", "wall_s": time.perf_counter() - start,
                "message": f"killed after {timeout:.0f} s"}
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"status": "error", "wall_s": time.perf_counter() - start,
            "message": (stderr.strip().splitlines() or ["no output"])[-1][:300]}


def _median(values: list) -> object:
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if nums:
        return statistics.median(nums)
    return values[0] if values else None


def _combine(runs: list[dict]) -> dict:
    keys = {k for r in runs for k in r}
    out = {k: _median([r[k] for r in runs if r.get(k) is not None]) for k in keys}
    statuses = [r.get("status") for r in runs]
    out["status"] = max(set(statuses), key=statuses.count) if statuses else None
    out["runs"] = len(runs)
    if any("verified" in r for r in runs):
        out["verified"] = all(r.get("verified", False) for r in runs)
    return out


def measure(sizes: list[str], solvers: list[str], paths: list[str], repeats: int,
            time_limit: float, seed: int, log=print) -> dict:
    """Run every measurement; return results keyed by size, then by row label."""
    results: dict[str, dict] = {}
    for size in sizes:
        if size == "default" and not (DEFAULT_CASE / "platforms.csv").exists():
            log(f"[{size}] skipped: {DEFAULT_CASE} is absent")
            continue
        limit = min(time_limit, 30.0) if size in ("default", "XS") else time_limit
        gap = 0.005 if size == "default" else 0.01
        base = {"size": size, "seed": seed, "time_limit": limit, "mip_gap": gap}
        hard = 2.0 * limit + 240.0  # generation, build, root LP overrun, extraction
        rows: dict[str, dict] = {}
        plan_specs = [(f"pulp+{s}", {**base, "task": "pulp", "solver": s})
                      for s in solvers if "pulp" in paths]
        if "arrays" in paths:
            plan_specs.append(("arrays+highs", {**base, "task": "arrays",
                                                "bound_time": min(60.0, limit / 5)}))
        for label, spec in plan_specs:
            runs = []
            for rep in range(repeats):
                log(f"[{size}] {label} run {rep + 1}/{repeats} (limit {limit:.0f} s)")
                res = run_spec(spec, hard)
                runs.append(res)
                log(f"    -> {res.get('status')} wall {res.get('wall_s', 0):.1f} s "
                    f"cost {res.get('cost_usd')} gap {res.get('gap')}")
                if res.get("status") in ("timeout", "error", "no_solution"):
                    break  # a repeat would cost the same and tell nothing new
            rows[label] = _combine(runs)
        extra = [("lp", "lp", limit), ("greedy", "greedy", limit)]
        if "arrays" in paths:
            extra.append(("lagrangian", "lagrangian", min(limit, 120.0)))
        for label, task, task_limit in extra:
            log(f"[{size}] {label}")
            res = run_spec({**base, "task": task, "time_limit": task_limit},
                           2.0 * task_limit + 240.0)
            log(f"    -> {res.get('status')} wall {res.get('wall_s', 0):.1f} s")
            rows[label] = res
        _derive(rows)
        results[size] = rows
    return results


def _derive(rows: dict[str, dict]) -> None:
    lp = rows.get("lp", {}).get("lp_bound")
    greedy = rows.get("greedy", {}).get("cost_usd")
    for label, r in rows.items():
        if label in ("lp", "greedy", "lagrangian"):
            continue
        if r.get("cost_usd") is not None:
            r["cost_musd"] = r["cost_usd"] / 1e6
            if greedy:
                r["saving_pct"] = 100.0 * (greedy - r["cost_usd"]) / greedy
        if r.get("gap") is not None:
            r["gap_pct"] = 100.0 * r["gap"]
        if lp and r.get("objective"):
            r["lp_gap_pct"] = 100.0 * (r["objective"] - lp) / r["objective"]


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def results_table(results: dict) -> str:
    """Return the main results as a Markdown table."""
    head = "| size | path | " + " | ".join(t for _, t in TABLE_FIELDS) + " |"
    lines = [head, "|" + "---|" * (len(TABLE_FIELDS) + 2)]
    for size, rows in results.items():
        for label, r in rows.items():
            if label in ("lp", "greedy", "lagrangian"):
                continue
            lines.append(f"| {size} | {label} | "
                         + " | ".join(_fmt(r.get(k)) for k, _ in TABLE_FIELDS) + " |")
    return "\n".join(lines)


def bounds_table(results: dict) -> str:
    """Return LP relaxation and greedy baseline per size."""
    lines = ["| size | columns | rows | LP bound (k$) | LP solve s | LP status "
             "| Lagrangian bound (k$) | Lagrangian s | greedy cost M$ "
             "| greedy verified | greedy violations |", "|" + "---|" * 11]
    for size, rows in results.items():
        lp, g, lg = rows.get("lp", {}), rows.get("greedy", {}), rows.get("lagrangian", {})
        lagrangian = _fmt(lg.get("lagrangian_bound"))
        if lg.get("lagrangian_bound") is not None and lp.get("lp_bound") is not None \
                and lg["lagrangian_bound"] < lp["lp_bound"]:
            lagrangian += " (below the LP: no use)"  # valid, but weaker than the LP bound
        lines.append(f"| {size} | {_fmt(lp.get('variables'))} | {_fmt(lp.get('constraints'))} | "
                     f"{_fmt(lp.get('lp_bound'))} | {_fmt(lp.get('solve_s'))} | "
                     f"{_fmt(lp.get('status'))} | {lagrangian} | "
                     f"{_fmt(lg.get('solve_s'))} | "
                     f"{_fmt(g['cost_usd'] / 1e6) if g.get('cost_usd') else '–'} | "
                     f"{_fmt(g.get('verified'))} | {', '.join(g.get('violations', [])) or '–'} |")
    return "\n".join(lines)


def machine() -> dict:
    """Return the machine and package versions."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    versions = {}
    for mod in ("pulp", "highspy", "pandas", "numpy", "scipy", "pandera", "pydantic"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[mod] = version("PuLP" if mod == "pulp" else mod)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"nproc": os.cpu_count(), "memory": mem, "cpu": cpu,
            "python": platform.python_version(), "versions": versions,
            "loadavg": [round(x, 2) for x in load] if load else None}


def write_readme(results: dict, command: str, info: dict, started: str) -> None:
    """Rewrite bench/README.md with the measured results (the prose sections are kept)."""
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    block = "\n".join([
        begin,
        f"Measured {started} with `{command}`.",
        "",
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} memory, Python "
        f"{info['python']}; load average at the end {info['loadavg']} (other jobs shared the "
        "machine). Packages: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + ".",
        "",
        results_table(results),
        "",
        bounds_table(results),
        "",
        end,
    ])
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + block + "\n"
    README.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (or one worker)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="default,S,M,L,XL,XXL")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solvers", default="highs,cbc")
    parser.add_argument("--paths", default="pulp,arrays",
                        help="pulp (planner.pipeline's stages) and/or arrays (planner.scale)")
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/README.md")
    parser.add_argument("--json", help="also write raw results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker)), default=str), flush=True)
        return 0
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    results = measure(sizes, solvers, paths, args.repeats, args.time_limit, args.seed)
    info = machine()
    print()
    print(results_table(results))
    print()
    print(bounds_table(results))
    command = "python bench/run.py " + " ".join(a for a in (argv or sys.argv[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "machine": info},
                                              indent=1, default=str), encoding="utf-8")
    if not args.no_write:
        write_readme(results, command.strip(), info, started)
        print(f"\nwrote {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
