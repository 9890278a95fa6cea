"""Anytime plan path against plain HiGHS, side by side, on the default case and synthetic sizes.

    python bench/anytime.py                                  # default case + every scenario
    python bench/anytime.py --cases default,M --time-limit 30 --label quiet --record
    ../shared/tools/under-load 2 -- python bench/anytime.py --label "2 busy processes" --record

Per case, in its own subprocess (clean peak memory): the array model's build time; for the
anytime path (:func:`planner.optimization.solve_anytime`) the time to the first verified plan
(after the build) and its gap, the time until the incumbent is within 1 % of the final best
bound, the final gap and status; for plain HiGHS (the same matrix, :func:`solve_matrix`, the
same time limit) its wall time, status and how far its plan lies above the anytime path's
best bound. Gaps are against the best bound either run proved. ``--record`` writes the
table into bench/README.md between ``<!-- anytime:LABEL:begin/end -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT = ROOT / "fleet_data" / "default"


def _fleet(case: str):
    import planner as pl

    if case.startswith("default"):
        fleet = pl.load_fleet(DEFAULT)
        _, _, scenario = case.partition(":")
        return pl.apply_scenario(fleet, pl.load_scenarios(DEFAULT)[scenario]) if scenario \
            else fleet
    return pl.synthetic_fleet(case, seed=0)


def measure(case: str, time_limit: float, mip_gap: float, plain: bool,
            lp_after: bool = True) -> dict:
    """Run one case in this process and return its row."""
    import planner as pl
    from planner.optimization import solve_anytime
    from planner.optimization.highs import run_highs
    from planner.optimization.strengthen import cap_covering_coefficients
    from planner.scale import build_matrix, plan_from_values, solve_matrix

    fleet = _fleet(case)
    t = time.perf_counter()
    mm = build_matrix(fleet)
    build = time.perf_counter() - t
    run = solve_anytime(mm, time_limit_s=time_limit, mip_gap=mip_gap)
    row = {"case": case, "columns": mm.n_cols, "build_s": build, "status": run.status,
           "stopped": run.stopped, "seconds": run.seconds}
    if not run.has_solution:
        return row
    verified = pl.verify_plan(fleet, plan_from_values(mm, run.values)).ok
    first_ok = pl.verify_plan(fleet, plan_from_values(mm, run.first_values)).ok
    bound = run.bound
    other = None
    if plain:
        other = solve_matrix(mm, time_limit, mip_gap)
        if other.bound is not None:
            bound = min(other.bound, run.objective) if bound is None else \
                max(bound, min(other.bound, run.objective))

    lp_bound = run.lp_bound
    if lp_bound is None and lp_after:
        # The run's time limit ended before the whole LP (the quarter-by-quarter path at
        # XL/XXL): the same capped LP, solved after the run and outside its clock.
        lp_bound = run_highs(cap_covering_coefficients(mm)).objective
        row["lp_after_run"] = True
    if bound is None:
        bound = lp_bound
    if lp_bound is None:  # --no-lp-after: against the run's own bound only
        lp_bound = bound

    def gap(objective):
        if objective is None or bound is None:
            return None
        return max(0.0, (objective - bound) / objective)

    within = next((p.seconds for p in run.history
                   if (g := gap(p.objective)) is not None and g <= 0.01), None)

    def lp_within(share):  # the synthetic targets are against the LP bound
        if lp_bound is None:
            return None
        return next((p.seconds for p in run.history if p.objective is not None
                     and p.objective <= lp_bound / (1 - share)), None)

    row.update(first_s=run.first_seconds, first_gap=gap(run.first_objective), to_1pct_s=within,
               lp2_s=lp_within(0.02), lp3_s=lp_within(0.03),
               final_gap=gap(run.objective),
               lp_gap=None if lp_bound is None else (run.objective - lp_bound) / run.objective,
               verified=verified and first_ok)
    if other is not None:
        row.update(plain_status=other.status, plain_s=other.seconds,
                   plain_gap=gap(other.objective) if other.has_solution else None)
    # The forked solver children (hard time limits, the whole LP at hyperscale) count too.
    row["peak_mb"] = max(resource.getrusage(who).ru_maxrss for who in
                         (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    return row


def _fmt(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.2f} %"
    if kind == "s":
        return f"{value:.2f}"
    if kind == "k":
        return f"{value:,.1f}"
    return str(value)


COLUMNS = [("case", "case", ""), ("columns", "columns", ""), ("build_s", "build s", "s"),
           ("first_s", "first plan s", "s"), ("first_gap", "first gap", "pct"),
           ("to_1pct_s", "to 1 % s", "s"), ("lp2_s", "to 2 % of LP s", "s"),
           ("lp3_s", "to 3 % of LP s", "s"),
           ("final_gap", "final gap", "pct"), ("lp_gap", "final vs LP", "pct"),
           ("seconds", "anytime s", "s"), ("status", "status", ""),
           ("verified", "verified", ""), ("plain_s", "plain HiGHS s", "s"),
           ("plain_gap", "plain HiGHS gap", "pct"), ("peak_mb", "peak MB", "s")]


def table(rows: list[dict], columns: list[tuple[str, str, str]] = COLUMNS) -> str:
    """Return the rows as a markdown table of these (key, heading, kind) columns."""
    head = "| " + " | ".join(c[1] for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k), kind) for k, _, kind in columns) + " |"
            for r in rows]
    return "\n".join([head, rule, *body])


def record(text: str, label: str, prefix: str = "anytime") -> None:
    """Write ``text`` into bench/README.md between this label's markers (append if new)."""
    readme = ROOT / "bench" / "README.md"
    old = readme.read_text(encoding="utf-8")
    begin, end = f"<!-- {prefix}:{label}:begin -->", f"<!-- {prefix}:{label}:end -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in old:
        new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, old,
                     flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="default*",
                        help="comma list: default, default:SCENARIO, default* (all), S, M, …")
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--mip-gap", type=float, default=0.005)
    parser.add_argument("--no-plain", action="store_true", help="skip the plain HiGHS run")
    parser.add_argument("--label", default="quiet")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--no-lp-after", action="store_true",
                        help="when the run ends before the whole LP, do not solve it after")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.time_limit, args.mip_gap, not args.no_plain,
                                 not args.no_lp_after)))
        return 0
    cases: list[str] = []
    for item in args.cases.split(","):
        if item == "default*":
            import planner as pl

            cases += ["default"] + [f"default:{n}" for n in pl.load_scenarios(DEFAULT)]
        else:
            cases.append(item)
    rows = []
    for case in cases:
        cmd = [sys.executable, __file__, "--one", case, "--time-limit", str(args.time_limit),
               "--mip-gap", str(args.mip_gap)] + (["--no-plain"] if args.no_plain else []) + \
            (["--no-lp-after"] if args.no_lp_after else [])
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  timeout=4 * args.time_limit + 600)
            row = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 \
                else {"case": case, "status": f"error: {done.stderr.strip()[-200:]}"}
        except subprocess.TimeoutExpired:
            row = {"case": case, "status": "timed out"}
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python bench/anytime.py " + " ".join(a for a in (argv or sys.argv[1:]))
    text = (f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({args.label}) with "
            f"`{command}`; time limit {args.time_limit:g} s, gap {args.mip_gap:g}; load "
            f"average at the end {load}.\n\n{table(rows)}")
    print(text)
    if args.record:
        record(text, args.label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
