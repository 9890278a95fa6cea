"""Tail-latency check of a plan: each cell's replicas as queues, simulated with SimPy.

``python -m planner latency CASE PLAN_DIR`` maps every (model, platform, region, quarter)
inference cell of a plan at peak demand to an M/G/c queue per replica
(:mod:`planner.latency.cells` states the service model), simulates it with seeded
replications, and reports p95/p99 against the model's SLO with confidence intervals, the
cells that miss and by how much, and the utilisation that would have met the SLO. The result
goes to the plan folder as ``latency.csv`` and a ``latency`` entry in ``summary.json``;
:func:`latency_verdict` reads it back for ``verify`` and the dashboard.
"""

from planner.latency.cells import ServiceModel, cell_queues, request_items
from planner.latency.check import (
    LatencyResult,
    SimulationSettings,
    check_latency,
    read_allocation,
    write_latency,
)
from planner.latency.report import LatencyVerdict, latency_verdict, latency_verdict_of
from planner.latency.simulate import QueueStats, erlang_c, simulate_queue

__all__ = [
    "LatencyResult",
    "LatencyVerdict",
    "QueueStats",
    "ServiceModel",
    "SimulationSettings",
    "cell_queues",
    "check_latency",
    "erlang_c",
    "latency_verdict",
    "latency_verdict_of",
    "read_allocation",
    "request_items",
    "simulate_queue",
    "write_latency",
]
