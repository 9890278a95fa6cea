"""How far whole replicas lift the LP bound: capped LP against the block bound, side by side.

    python bench/block_bound.py --cases S,M,XL --record
    python bench/block_bound.py --cases XL --by-quarter

Per case, in its own subprocess (clean peak memory): the capped LP relaxation
(:func:`~planner.optimization.strengthen.cap_covering_coefficients`, as every anytime solve
uses) and its time; then :func:`~planner.optimization.block_bound.block_bound` at that LP's
duals, with no deadline: its bound, its time, and how many (model, quarter) blocks the LP
left fractional. The gain is a proof: no whole plan costs less than the block bound, so a
target "within p % of the LP" is out of reach wherever the gain exceeds p. ``--by-quarter``
adds the hyperscale path's bounds from one-quarter LPs
(:func:`~planner.optimization.rolling.quarter_lps`) and their whole-replica blocks.
``--record`` writes the table into bench/README.md between ``<!-- block-bound:LABEL -->``
markers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import anytime  # noqa: E402  (bench scripts share helpers)

sys.path.insert(0, str(ROOT))


def measure(case: str, by_quarter: bool) -> dict:
    """Bound one case in this process and return its row."""
    from planner.optimization.block_bound import block_bound
    from planner.optimization.highs import run_highs
    from planner.optimization.strengthen import cap_covering_coefficients
    from planner.scale import build_matrix

    mm = cap_covering_coefficients(build_matrix(anytime._fleet(case)))
    row: dict = {"case": case, "columns": mm.n_cols}
    if by_quarter:
        from planner.optimization.rolling import (
            quarter_bound_of,
            quarter_lps,
            whole_replica_quarter_bounds,
        )

        t = time.perf_counter()
        lps = quarter_lps(mm)
        row.update(quarter_lp=quarter_bound_of(lps), quarter_lp_s=time.perf_counter() - t)
        t = time.perf_counter()
        for _, bound in whole_replica_quarter_bounds(lps):
            row["quarter_blocks"] = bound
        row["quarter_blocks_s"] = time.perf_counter() - t
        del lps
    t = time.perf_counter()
    lp = run_highs(mm)
    row.update(lp=lp.objective, lp_s=time.perf_counter() - t)
    raised = block_bound(mm, lp.row_dual)
    row.update(bound=raised.bound, bound_s=raised.seconds, blocks=raised.blocks,
               fractional=raised.fractional, solved=raised.solved,
               gain=raised.bound / lp.objective - 1)
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


COLUMNS = [("case", "case", ""), ("columns", "columns", ""), ("lp", "capped LP kUSD", "k"),
           ("lp_s", "LP s", "s"), ("bound", "block bound kUSD", "k"),
           ("bound_s", "block bound s", "s"), ("gain", "bound above LP", "pct"),
           ("fractional", "fractional blocks", ""), ("blocks", "blocks", ""),
           ("quarter_lp", "by quarter: LPs kUSD", "k"), ("quarter_lp_s", "s", "s"),
           ("quarter_blocks", "by quarter: blocks kUSD", "k"),
           ("quarter_blocks_s", "s ", "s"), ("peak_mb", "peak MB", "s")]


def table(rows: list[dict]) -> str:
    """Return the rows as a markdown table."""
    return anytime.table(rows, COLUMNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="S,M", help="comma list: default, S, M, XL, …")
    parser.add_argument("--by-quarter", action="store_true")
    parser.add_argument("--label", default="quiet")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.by_quarter)))
        return 0
    rows = []
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--one", case] + \
            (["--by-quarter"] if args.by_quarter else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        row = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 \
            else {"case": case, "lp": None, "bound": None}
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python bench/block_bound.py " + " ".join(argv or sys.argv[1:])
    text = (f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({args.label}) with "
            f"`{command}`; one solver thread; load average at the end {load}.\n\n"
            f"{table(rows)}")
    print(text)
    if args.record:
        anytime.record(text, args.label, prefix="block-bound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
