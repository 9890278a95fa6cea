"""The benchmark code path runs end to end on the smallest synthetic fleet (no timing asserts)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_on_xs_without_writing():
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--sizes", "XS", "--repeats", "1", "--solvers",
         "highs,cbc", "--time-limit", "20", "--no-write"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("| size | path |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = {cells[1]: dict(zip(columns, cells, strict=True))
            for ln in lines if ln.startswith("| XS |")
            for cells in [[c.strip() for c in ln.strip("|").split("|")]]
            if len(cells) == len(columns)}
    assert set(rows) == {"pulp+highs", "pulp+cbc", "arrays+highs"}
    for path, row in rows.items():
        assert row["status"] == "optimal", (path, row)
        assert row["verified"] == "yes", (path, row)
    # The LP relaxation, Lagrangian bound and greedy baseline were measured too.
    start = lines.index(next(ln for ln in lines if ln.startswith("| size | columns |")))
    names = [c.strip() for c in lines[start].strip("|").split("|")]
    cells = [c.strip() for c in lines[start + 2].strip("|").split("|")]
    bounds = dict(zip(names, cells, strict=True))
    assert bounds["size"] == "XS"
    assert bounds["LP status"] == "optimal"
    for name in ("LP bound (k$)", "Lagrangian bound (k$)", "greedy cost M$"):
        assert bounds[name] != "–", bounds
