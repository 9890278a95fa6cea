"""From a plan's allocation to queues: the stated service model of one replica.

Assumptions (all stated in ``latency.csv``'s columns and the README):

- **Request.** A latency-bearing request of a ranking model carries ``request_items`` of
  its throughput unit: the mean ``items_per_request`` of its callers in ``calls.csv`` (a
  ranking request scores its hundreds of candidates together). Every other request is one
  unit (one image, one sentence, one utterance: a caller's several images are independent
  queries), as is a ranking model without callers.
- **Replica capacity.** The profile's ``qps_per_server`` (per replica: the plan's
  ``capacity_qps / replicas``) is taken as the replica's service capacity. It is the
  throughput measured *at* the SLO, so the true capacity is at least that: utilisation is
  overstated a little and the check errs on the safe side.
- **Workers and service time.** A replica serves requests on ``c`` parallel workers, each
  request taking ``service_fraction x SLO`` on average (default a quarter of the latency
  budget for compute, the rest left to queueing) [estimate]; ``c = ceil(capacity x service
  time)`` in requests, and the service time is then set to ``c / capacity`` so the capacity
  is exact. Rounding c up lengthens service at equal capacity, which can only raise latency.
- **Variability.** Service times are gamma with coefficient of variation ``service_cv``
  (default 0.5 [estimate]; 1 is exponential, 0 deterministic).
- **Arrivals.** Poisson at the cell's peak ``served_qps`` (in requests: divided by
  ``request_items``), spread evenly over its replicas (the plan splits a cell's demand in
  proportion to capacity, and all replicas of a cell are alike), so one replica at
  ``rho = utilization`` represents the whole cell.

Cells are grouped for simulation: the queue in units of its service time depends only on
(c, rho), so c is rounded up to a geometric grid and capped at :data:`MAX_WORKERS` (more
workers at equal utilisation only wait less, so the cap errs on the safe side) and rho is
rounded up to :data:`RHO_GRID`; every group is simulated once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WORKER_GRID = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128)
MAX_WORKERS = WORKER_GRID[-1]
RHO_MAX = 0.995  # a simulated queue must be stable; at or above this a cell is saturated
RHO_GRID = (
    *(round(0.05 * k, 2) for k in range(1, 18)),
    *(round(0.01 * k, 2) for k in range(90, 100)),
    RHO_MAX,
)
"""Utilisations simulated: steps of 0.05 to 0.85, of 0.01 from 0.90 (where latency turns
steep), then :data:`RHO_MAX`; a cell is simulated at the next grid value at or above its own."""


@dataclass(frozen=True)
class ServiceModel:
    """The service-model knobs of the check.

    Attributes:
        service_fraction: Mean service time of a request as a fraction of the model's SLO.
        service_cv: Coefficient of variation of service times.
    """

    service_fraction: float = 0.25
    service_cv: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.service_fraction <= 1:
            raise ValueError("service_fraction must be in (0, 1]")
        if self.service_cv < 0:
            raise ValueError("service_cv must be >= 0")


def request_items(fleet) -> pd.Series:
    """Return each model's items per request: callers' mean for ranking models, else 1."""
    items = pd.Series(1.0, index=fleet.models["model_id"], name="request_items")
    calls = fleet.table("calls")
    ranking = set(fleet.models.loc[fleet.models["bucket"] == "ranking", "model_id"])
    if not calls.empty:
        means = calls[calls["model_id"].isin(ranking)].groupby("model_id")["items_per_request"]
        items.update(means.mean())
    return items


def grid_workers(raw: np.ndarray) -> np.ndarray:
    """Round worker counts up to :data:`WORKER_GRID`, capped at :data:`MAX_WORKERS`."""
    grid = np.asarray(WORKER_GRID)
    idx = np.searchsorted(grid, np.maximum(raw, 1), side="left")
    return grid[np.minimum(idx, len(grid) - 1)]


def grid_rho(rho: np.ndarray) -> np.ndarray:
    """Round utilisations up to :data:`RHO_GRID` (:data:`RHO_MAX` at or above it)."""
    grid = np.asarray(RHO_GRID)
    idx = np.searchsorted(grid, np.asarray(rho) - 1e-9, side="left")
    return grid[np.minimum(idx, len(grid) - 1)]


def cell_queues(fleet, allocation: pd.DataFrame, service: ServiceModel) -> pd.DataFrame:
    """Return one row per inference cell with its queue: workers, service time, utilisation.

    Args:
        fleet: The fleet (scenario applied) the plan was made for.
        allocation: The plan's ``allocation`` table.
        service: The service-model knobs.

    Returns:
        The allocation's inference rows with ``slo_ms``, ``slo_percentile``,
        ``request_items``, ``workers``, ``service_ms``, ``rho`` and ``sim_workers``,
        ``sim_rho`` (the simulated group).
    """
    models = fleet.models.set_index("model_id")
    cells = allocation[allocation["phase"] == "inference"].copy()
    cells = cells[cells["replicas"] > 0]
    cells["slo_ms"] = cells["model_id"].map(models["latency_slo_ms"])
    cells["slo_percentile"] = cells["model_id"].map(models["latency_percentile"])
    cells["request_items"] = cells["model_id"].map(request_items(fleet))
    per_replica = cells["capacity_qps"] / cells["replicas"] / cells["request_items"]
    target_s = service.service_fraction * cells["slo_ms"] / 1e3
    raw = np.ceil(per_replica * target_s).to_numpy()
    cells["workers"] = np.maximum(raw, 1).astype(int)
    cells["service_ms"] = cells["workers"] / per_replica * 1e3
    cells["rho"] = cells["served_qps"] / cells["capacity_qps"]
    cells["sim_workers"] = grid_workers(cells["workers"].to_numpy())
    # service time at the grid's c (longer service at equal capacity: conservative)
    cells["sim_service_ms"] = np.where(
        cells["workers"] > MAX_WORKERS,
        cells["service_ms"],
        cells["sim_workers"] / per_replica * 1e3,
    )
    cells["sim_rho"] = grid_rho(cells["rho"].to_numpy())
    return cells.reset_index(drop=True)
