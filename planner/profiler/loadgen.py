"""MLPerf-Server-style load on one replica, and the latency-bounded throughput search.

Queries arrive as a Poisson process at rate ``rate`` (queries/s) with sizes from a
:class:`~planner.profiler.workload.QuerySizes`; the replica serves them first come, first
served, in batches: when it is free it waits for the oldest waiting query's batching
timeout or until ``max_batch`` queries wait, whichever comes first, then runs them as one
batch (``max_batch = 1``: no batching). A query's latency is its completion time minus its
arrival time.

The replica's service times are measured (:mod:`planner.profiler.measure`); the arrival
schedule is replayed against them in simulated time (trace-driven), so one measurement serves
every rate the search tries, the result does not depend on how long the machine is busy with
other work while the search runs, and the same random numbers are used at every rate (common
random numbers): arrival gaps are one fixed set of unit exponentials divided by the rate, so
the latency percentile rises monotonically with the rate without batching.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WARMUP_FRACTION = 0.05  # the first queries see an empty replica: not steady state
MAX_BUSY = 0.98
"""A rate at which the replica is busy for more than this share of the run is unstable:
its latency only grows with the run's length, so no finite run measures it (infeasible)."""


@dataclass(frozen=True)
class Load:
    """A fixed random load pattern, scaled to any rate.

    Attributes:
        gaps: Unit-rate exponential inter-arrival gaps (divide by the rate for seconds).
        sizes: Items of each query.
        base_s: Median seconds to serve a batch, as a function of its items (vectorised).
        noise: Per-query service-time noise factor; a batch takes its first query's.
        max_batch: Most queries per batch (1 = no batching).
        timeout_s: Longest the oldest query waits for a batch to fill.
    """

    gaps: np.ndarray
    sizes: np.ndarray
    base_s: Callable[[np.ndarray], np.ndarray]
    noise: np.ndarray
    max_batch: int = 1
    timeout_s: float = 0.0

    @property
    def queries(self) -> int:
        """Return the number of queries per rate point."""
        return len(self.gaps)

    def single_service_s(self) -> np.ndarray:
        """Return each query's service time when served alone."""
        return self.base_s(self.sizes.astype(float)) * self.noise


def make_load(
    sizes: np.ndarray,
    base_s: Callable[[np.ndarray], np.ndarray],
    noise: np.ndarray,
    rng: np.random.Generator,
    max_batch: int = 1,
    timeout_s: float = 0.0,
) -> Load:
    """Return a Poisson load over the given query sizes, with one noise draw per query.

    Args:
        sizes: Items of each query; their count is the number of queries per rate point.
        base_s: Median service seconds of a batch by its items.
        noise: Measured noise factors to resample from (repeat over median).
        rng: Random generator for arrival gaps and noise draws.
        max_batch: Most queries per batch (1 = no batching).
        timeout_s: Batching timeout.
    """
    if max_batch < 1:
        raise ValueError("max_batch must be >= 1")
    n = len(sizes)
    return Load(
        rng.exponential(1.0, n),
        np.asarray(sizes),
        base_s,
        rng.choice(np.asarray(noise), size=n),
        max_batch,
        timeout_s,
    )


def latencies(load: Load, rate: float) -> tuple[np.ndarray, float]:
    """Return every query's latency (s) at ``rate`` queries/s, warm-up queries dropped.

    Returns:
        The latencies and the share of the run the replica was busy.
    """
    arrive = np.cumsum(load.gaps) / rate
    n = len(arrive)
    if load.max_batch == 1:
        # FCFS single server: done_i = max(done_{i-1}, arrive_i) + s_i, in closed form
        # done = S_i + max_{k<=i}(arrive_k - S_{k-1}) with S the cumulative service time
        service = load.single_service_s()
        total = np.cumsum(service)
        done = total + np.maximum.accumulate(arrive - (total - service))
        busy = float(total[-1])
    else:
        done = np.empty(n)
        free = 0.0
        busy = 0.0
        i = 0
        while i < n:
            deadline = max(free, arrive[i] + load.timeout_s)
            arrived = int(np.searchsorted(arrive, deadline, side="right"))
            j = min(arrived, i + load.max_batch, n)
            full = j - i == load.max_batch
            start = max(free, arrive[j - 1]) if full else deadline
            items = float(load.sizes[i:j].sum())
            took = float(load.base_s(np.asarray([items]))[0]) * load.noise[i]
            free, busy = start + took, busy + took
            done[i:j] = free
            i = j
    lat = done - arrive
    return lat[int(WARMUP_FRACTION * n) :], busy / float(done[-1])


def percentile_ms(load: Load, rate: float, percentile: float) -> float:
    """Return the ``percentile`` latency in ms at ``rate`` queries/s (inf when unstable)."""
    lat, busy = latencies(load, rate)
    if busy > MAX_BUSY:
        return float("inf")
    return float(np.percentile(lat, percentile)) * 1e3


@dataclass(frozen=True)
class SearchResult:
    """The highest rate meeting one latency bound.

    Attributes:
        bound_ms: Latency bound.
        percentile: Percentile of the bound.
        rate: Highest rate found meeting it (queries/s); 0 when even a trickle misses it.
        latency_ms: The percentile latency at ``rate``.
        iterations: Bisection steps taken.
        bracket: (feasible, infeasible) rates at the end; their gap is the resolution.
    """

    bound_ms: float
    percentile: float
    rate: float
    latency_ms: float
    iterations: int
    bracket: tuple[float, float]

    @property
    def feasible(self) -> bool:
        """Return whether any rate meets the bound."""
        return self.rate > 0


def max_rate(
    load: Load,
    bound_ms: float,
    percentile: float,
    lo: float = 0.0,
    rtol: float = 0.01,
    max_iter: int = 60,
    on_step: Callable[[float, float], None] | None = None,
) -> SearchResult:
    """Find the highest rate whose ``percentile`` latency is within ``bound_ms``, by bisection.

    Args:
        load: The load pattern (scaled to each trial rate).
        bound_ms: Latency bound.
        percentile: Percentile of the bound, e.g. 99.
        lo: A rate known to meet the bound (0 when none is known).
        rtol: Stop when the bracket is narrower than this fraction of its upper end.
        max_iter: Most bisection steps.
        on_step: Called with (rate tried, latency ms) at each step.
    """
    # queries so far apart that each finds the replica idle (not so far that float
    # arrival times lose the service time's precision)
    trickle = 1e-4 / max(float(np.mean(load.single_service_s())), 1e-12)
    lat_lo = percentile_ms(load, max(lo, trickle), percentile)
    if lat_lo > bound_ms:
        return SearchResult(bound_ms, percentile, 0.0, lat_lo, 0, (0.0, trickle))
    # twice the back-to-back rate of single queries times the batch: doubled until it misses
    hi = 2.0 * load.max_batch / max(float(np.mean(load.single_service_s())), 1e-12)
    steps = 0
    while percentile_ms(load, hi, percentile) <= bound_ms and steps < 20:
        lo, hi, steps = hi, hi * 2, steps + 1
    lo = max(lo, trickle)
    while steps < max_iter and hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lat = percentile_ms(load, mid, percentile)
        if on_step:
            on_step(mid, lat)
        if lat <= bound_ms:
            lo, lat_lo = mid, lat
        else:
            hi = mid
        steps += 1
    return SearchResult(
        bound_ms, percentile, lo, percentile_ms(load, lo, percentile), steps, (lo, hi)
    )
