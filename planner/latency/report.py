"""The tail-latency verdict of a plan folder, as ``verify`` and the dashboard show it.

``python -m planner latency`` writes ``latency.csv`` and a ``latency`` entry in
``summary.json`` (with the SHA-256 of the ``allocation.csv`` it checked). This module reads
them back and says, in one line, whether every cell meets its SLO, which miss, or that the
check was never run or is stale (the allocation changed since), with the command to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planner.latency.check import allocation_digest

MISS_COLUMNS = [
    "model_id", "platform_id", "region_id", "quarter", "utilization", "slo_ms", "latency_ms",
    "ci_low_ms", "ci_high_ms", "miss_pct", "max_utilization",
]


@dataclass(frozen=True)
class LatencyVerdict:
    """What a plan folder says about its tail latency.

    Attributes:
        status: ``meets`` (every cell meets its SLO), ``misses``, ``not_checked`` or
            ``stale`` (checked, but ``allocation.csv`` changed since).
        summary: The ``latency`` entry of ``summary.json`` (``None`` when not checked).
        misses: The cells that miss (``latency.csv`` rows, worst first; empty otherwise).
    """

    status: str
    summary: dict | None
    misses: pd.DataFrame

    @property
    def ok(self) -> bool:
        """Return whether the plan was checked, is current, and every cell meets its SLO."""
        return self.status == "meets"

    def line(self, case: str = "CASE", plan_dir: str = "PLAN_DIR") -> str:
        """Return the verdict in one line, with the command to run where it is not current."""
        run = f"python -m planner latency {case} {plan_dir}"
        s = self.summary or {}
        if self.status == "not_checked":
            return f"tail latency: not checked (run `{run}`)"
        if self.status == "stale":
            return (f"tail latency: stale, allocation.csv changed since it was checked "
                    f"(re-run `{run}`)")
        if self.status == "meets":
            return f"tail latency: all {s.get('cells', '?')} cells meet their SLO"
        worst = s.get("worst_miss") or {}
        text = (f"tail latency: {s.get('cells_missing_slo', len(self.misses))} of "
                f"{s.get('cells', '?')} cells miss their SLO "
                f"({', '.join(s.get('models_missing_slo', []))})")
        if worst:
            lat = worst.get("latency_ms")
            shown = "unbounded" if lat is None else f"{lat:,.1f} ms"
            target = worst.get("max_utilization") or 0.0
            meets = f"meets at {target:.2f}" if target > 0 else "no utilisation meets it"
            text += (f"; worst {worst.get('model_id')} on {worst.get('platform_id')} "
                     f"{worst.get('region_id')} q{worst.get('quarter')}: {shown} against "
                     f"{worst.get('slo_ms'):g} ms at utilisation "
                     f"{worst.get('utilization'):.2f} ({meets})")
        return text + "; cells in latency.csv"


def latency_verdict_of(summary: dict, cells: pd.DataFrame) -> LatencyVerdict:
    """Return the verdict of a check's summary and cells (a ``LatencyResult``'s, say)."""
    misses = cells[~cells["meets_slo"].astype(bool)] if "meets_slo" in cells else cells.iloc[:0]
    if "miss_pct" in misses:
        misses = misses.sort_values("miss_pct", ascending=False)
    cols = [c for c in MISS_COLUMNS if c in misses.columns]
    status = "meets" if summary.get("all_cells_meet_slo") and misses.empty else "misses"
    return LatencyVerdict(status, summary, misses[cols].reset_index(drop=True))


def latency_verdict(plan_dir: str | Path) -> LatencyVerdict:
    """Read the tail-latency result of a plan folder (see :class:`LatencyVerdict`)."""
    plan_dir = Path(plan_dir)
    empty = pd.DataFrame(columns=MISS_COLUMNS)
    summary_path = plan_dir / "summary.json"
    try:
        summary = json.loads(summary_path.read_text("utf-8")).get("latency")
    except (OSError, ValueError, AttributeError):
        summary = None
    cells_path = plan_dir / str((summary or {}).get("file", "latency.csv"))
    if not isinstance(summary, dict) or not cells_path.is_file():
        return LatencyVerdict("not_checked", None, empty)
    digest = summary.get("allocation_sha256")
    if digest is not None and digest != allocation_digest(plan_dir):
        return LatencyVerdict("stale", summary, empty)
    return latency_verdict_of(summary, pd.read_csv(cells_path))
