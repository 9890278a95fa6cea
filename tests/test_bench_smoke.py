"""The benchmark code path runs end to end on the smallest synthetic fleet (no timing asserts)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_on_xs_without_writing():
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--sizes", "XS", "--solvers", "highs,cbc",
         "--time-limit", "20", "--no-write"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith("| XS |")]
    assert len(rows) >= 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[12] == "optimal", row  # status column
        assert "error" not in row
