"""The tail-latency check of a plan: every inference cell's p95/p99 against its model's SLO.

:func:`check_latency` maps the plan's cells to queues (:mod:`planner.latency.cells`),
simulates each distinct queue once (:mod:`planner.latency.simulate`), scales the results to
each cell's service time, and, for cells that miss, finds the highest utilisation at which
the same replica would have met the SLO (bisection on the simulated percentile).
:func:`write_latency` writes ``latency.csv`` into the plan folder and records the verdict in
its ``summary.json`` (the one place the check touches a plan's files).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import FleetDataError, Problem
from planner.latency.cells import RHO_MAX, ServiceModel, cell_queues
from planner.latency.simulate import (
    NO_WAIT_SHARE,
    QueueStats,
    erlang_c,
    no_wait_stats,
    simulate_queue,
)

REPORT_PERCENTILES = (95.0, 99.0)
RESULT_COLUMNS = [
    "model_id",
    "platform_id",
    "region_id",
    "quarter",
    "replicas",
    "utilization",
    "slo_ms",
    "slo_percentile",
    "request_items",
    "workers",
    "service_ms",
    "p95_ms",
    "p99_ms",
    "latency_ms",
    "ci_low_ms",
    "ci_high_ms",
    "meets_slo",
    "miss_ms",
    "miss_pct",
    "max_utilization",
    "method",
]


# A replication needs enough queries past its warm-up to estimate a p99; 1e6 queries x 1000
# replications is already hours of simulation per queue.
MIN_QUERIES = 100
MAX_QUERIES = 1_000_000
MAX_REPS = 1_000


@dataclass(frozen=True)
class SimulationSettings:
    """How hard to simulate.

    Attributes:
        queries: Measured queries per replication.
        reps: Independent replications per queue (for the confidence interval).
        seed: Seed of every simulation.
        confidence: Confidence level of the intervals.
        service: The service model.
    """

    queries: int = 2000
    reps: int = 5
    seed: int = 0
    confidence: float = 0.95
    service: ServiceModel = field(default_factory=ServiceModel)

    def __post_init__(self) -> None:
        # Checked here, where the CLI turns ValueError into exit 2: queries -5 crashed with an
        # IndexError, 1e12 queries asked for 8 TiB, reps 0 and seed -1 failed deep in numpy.
        if not MIN_QUERIES <= self.queries <= MAX_QUERIES:
            raise ValueError(
                f"queries must be from {MIN_QUERIES:,} to {MAX_QUERIES:,}, not {self.queries}"
            )
        if not 2 <= self.reps <= MAX_REPS:
            raise ValueError(f"reps must be from 2 to {MAX_REPS}, not {self.reps}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be from 0 to {2**32 - 1}, not {self.seed}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, not {self.confidence}")


@dataclass
class LatencyResult:
    """The check's per-cell table and its verdict."""

    cells: pd.DataFrame
    summary: dict


@functools.lru_cache(maxsize=4096)
def _queue(
    workers: int, rho: float, pcts: tuple[float, ...], sim: SimulationSettings
) -> tuple[QueueStats, str]:
    """Return the queue's statistics and how they were obtained (cached: seeded, so pure)."""
    cv = sim.service.service_cv
    if rho >= RHO_MAX:
        inf = tuple(math.inf for _ in pcts)
        return QueueStats(
            workers,
            rho,
            cv,
            pcts,
            inf,
            tuple((math.inf, math.inf) for _ in pcts),
            inf,
            tuple((math.inf, math.inf) for _ in pcts),
            (math.inf, math.inf, math.inf),
            0,
            sim.confidence,
        ), "saturated"
    tail = 1 - min(pcts) / 100
    # M/M/c's wait probability, scaled by (1 + cv^2) / 2 for the service variability
    if erlang_c(workers, rho) * max(1.0, (1 + cv**2) / 2) < NO_WAIT_SHARE * tail:
        return no_wait_stats(workers, rho, cv, pcts, sim.confidence), "no wait (Erlang C)"
    seed = sim.seed + 7919 * workers + round(rho * 1e4)
    stats = simulate_queue(workers, rho, cv, pcts, sim.queries, sim.reps, seed, sim.confidence)
    return stats, "simulated"


def max_utilization(
    workers: int,
    bound: float,
    percentile: float,
    pcts: tuple[float, ...],
    sim: SimulationSettings,
    hi: float,
    step: float = 0.01,
) -> float:
    """Return the highest utilisation (to ``step``) whose percentile sojourn is within ``bound``.

    ``bound`` is in units of the mean service time; 0 when even a nearly idle replica misses
    it. ``pcts`` are the percentiles every simulation estimates (so results are shared).
    """
    if _queue(workers, step, pcts, sim)[0].at(percentile)[0] > bound:
        return 0.0
    lo, hi = step, min(hi, RHO_MAX)
    while hi - lo > step:
        mid = round(0.5 * (lo + hi) / step) * step
        if mid <= lo or mid >= hi:
            break
        mid = round(mid, 6)
        meets = _queue(workers, mid, pcts, sim)[0].at(percentile)[0] <= bound
        lo, hi = (mid, hi) if meets else (lo, mid)
    return round(lo, 6)


def check_latency(
    fleet,
    allocation: pd.DataFrame,
    sim: SimulationSettings | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> LatencyResult:
    """Check every inference cell of a plan against its model's tail-latency SLO.

    Args:
        fleet: The fleet (scenario applied) the plan was made for.
        allocation: The plan's ``allocation`` table (``allocation.csv``).
        sim: Simulation settings and service model.
        progress: Called with (what, fraction done).

    Returns:
        Per-cell latencies (ms) with confidence intervals, misses and the utilisation that
        would have met the SLO, and a summary.
    """
    sim = sim or SimulationSettings()
    note = progress or (lambda _w, _f: None)
    start = time.perf_counter()
    cells = cell_queues(fleet, allocation, sim.service)
    pcts = tuple(sorted({*REPORT_PERCENTILES, *cells["slo_percentile"].astype(float)}))
    groups = cells[["sim_workers", "sim_rho"]].drop_duplicates().itertuples(index=False)
    groups = list(groups)
    results: dict[tuple[int, float], tuple[QueueStats, str]] = {}
    for k, (c, rho) in enumerate(groups):
        note(f"queue c={c}, utilisation {rho:.2f}", k / max(1, len(groups)))
        results[(int(c), float(rho))] = _queue(int(c), float(rho), pcts, sim)
    rows = []
    for cell in cells.itertuples(index=False):
        stats, method = results[(int(cell.sim_workers), float(cell.sim_rho))]
        scale = cell.sim_service_ms
        est, low, high = stats.at(float(cell.slo_percentile))
        rows.append(
            (
                est * scale,
                low * scale,
                high * scale,
                stats.at(95.0)[0] * scale,
                stats.at(99.0)[0] * scale,
                method,
            )
        )
    out = cells.assign(
        **{
            name: [r[i] for r in rows]
            for i, name in enumerate(
                ("latency_ms", "ci_low_ms", "ci_high_ms", "p95_ms", "p99_ms", "method")
            )
        }
    )
    out["meets_slo"] = out["latency_ms"] <= out["slo_ms"]
    out["miss_ms"] = np.where(out["meets_slo"], 0.0, out["latency_ms"] - out["slo_ms"])
    out["miss_pct"] = 100 * out["miss_ms"] / out["slo_ms"]
    out["max_utilization"] = np.nan
    misses = out.index[~out["meets_slo"]]
    seconds_cells = time.perf_counter() - start
    cache: dict[tuple, float] = {}
    for k, i in enumerate(misses):
        row = out.loc[i]
        bound = float(row["slo_ms"] / row["sim_service_ms"])
        key = (int(row["sim_workers"]), round(bound, 3), float(row["slo_percentile"]))
        if key not in cache:
            note(
                f"utilisation that meets {row['model_id']} on {row['platform_id']}",
                k / max(1, len(misses)),
            )
            cache[key] = max_utilization(key[0], bound, key[2], pcts, sim, float(row["sim_rho"]))
        out.at[i, "max_utilization"] = cache[key]
    out["utilization"] = out["rho"].round(6)
    out["service_ms"] = out["sim_service_ms"]
    out = out[RESULT_COLUMNS].sort_values(
        ["meets_slo", "miss_pct", "model_id", "platform_id", "region_id", "quarter"],
        ascending=[True, False, True, True, True, True],
        ignore_index=True,
    )
    summary = _summary(out, sim, time.perf_counter() - start, len(groups))
    summary["seconds_cells"] = round(seconds_cells, 2)
    return LatencyResult(out, summary)


def _summary(out: pd.DataFrame, sim: SimulationSettings, seconds: float, queues: int) -> dict:
    miss = out[~out["meets_slo"]]
    worst = None
    if not miss.empty:
        w = miss.iloc[0]
        worst = {
            k: (w[k].item() if hasattr(w[k], "item") else w[k])
            for k in (
                "model_id",
                "platform_id",
                "region_id",
                "quarter",
                "latency_ms",
                "slo_ms",
                "utilization",
                "max_utilization",
            )
        }
        worst["latency_ms"] = None if math.isinf(worst["latency_ms"]) else worst["latency_ms"]
    return {
        "all_cells_meet_slo": bool(miss.empty),
        "cells": len(out),
        "cells_missing_slo": len(miss),
        "models_missing_slo": sorted(miss["model_id"].unique().tolist()),
        "worst_miss": worst,
        "queues_simulated": queues,
        "service_model": (
            f"M/G/c per replica; mean service {sim.service.service_fraction:g} x "
            f"SLO; gamma service, cv {sim.service.service_cv:g}; capacity = "
            "profile qps_per_server; Poisson arrivals at peak served qps"
        ),
        "simulation": (
            f"SimPy, {sim.reps} replications x {sim.queries} queries, seed "
            f"{sim.seed}, {sim.confidence:.0%} t-intervals"
        ),
        "seconds": round(seconds, 2),
    }


def read_allocation(plan_dir: str | Path) -> pd.DataFrame:
    """Return ``allocation.csv`` of a plan folder, or raise a message naming what is missing."""
    path = Path(plan_dir) / "allocation.csv"
    if not path.is_file():
        raise FleetDataError(
            [
                Problem(
                    str(path),
                    "no allocation.csv in the plan folder",
                    "pass a folder written by `python -m planner plan CASE --out DIR`",
                )
            ],
            header="Not a plan folder",
        )
    frame = pd.read_csv(path)
    need = {
        "model_id",
        "platform_id",
        "region_id",
        "quarter",
        "phase",
        "replicas",
        "capacity_qps",
        "served_qps",
    }
    lacking = sorted(need - set(frame.columns))
    if lacking:
        raise FleetDataError(
            [
                Problem(
                    str(path),
                    f"missing columns {', '.join(lacking)}",
                    "re-write the plan with this version of the planner",
                )
            ],
            header="Not a plan folder",
        )
    return frame


def allocation_digest(plan_dir: str | Path) -> str | None:
    """Return the SHA-256 of the plan folder's ``allocation.csv`` (``None`` when absent)."""
    import hashlib

    path = Path(plan_dir) / "allocation.csv"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def write_latency(result: LatencyResult, plan_dir: str | Path) -> Path:
    """Write ``latency.csv`` into the plan folder and the verdict into its ``summary.json``.

    Both writes are atomic (temporary file and rename); ``summary.json`` gains one key,
    ``latency``, and is otherwise left as it was.
    """
    from planner.output import write_text_atomic

    plan_dir = Path(plan_dir)
    path = plan_dir / "latency.csv"
    write_text_atomic(path, result.cells.to_csv(index=False))
    summary_path = plan_dir / "summary.json"
    summary = json.loads(summary_path.read_text("utf-8")) if summary_path.is_file() else {}
    summary["latency"] = result.summary | {
        "file": "latency.csv",
        # the allocation checked: verify and the dashboard call a later edit's result stale
        "allocation_sha256": allocation_digest(plan_dir),
    }
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    return path
