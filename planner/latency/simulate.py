"""A replica as an M/G/c queue, simulated with SimPy; percentiles with confidence intervals.

Time is in units of the mean service time (the caller scales to ms), so one simulation serves
every cell with the same worker count and utilisation. Arrivals are Poisson at rate
``rho * c``; service times are gamma-distributed with mean 1 and coefficient of variation
``cv`` (``cv = 1``: exponential, M/M/c; ``cv = 0``: deterministic, M/D/c). Workers take queries
first come, first served (a ``simpy.Resource`` of capacity ``c``).

Each simulation runs ``reps`` independent replications (seeds spawned from one
``numpy.random.SeedSequence``); each starts with a queue drawn from the M/M/c stationary
distribution (exact for exponential service, a close start otherwise), drops its first
queries as warm-up, and estimates the percentile on the rest. The estimate is the mean over
replications, its confidence interval the Student-t interval of that mean (replications are
independent, unlike the queries within one). Near saturation the interval is wide: a queue at
99 % utilisation relaxes over far more queries than a run has, and the interval says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy
from scipy import stats


@dataclass(frozen=True)
class QueueStats:
    """Latency statistics of one simulated queue, in units of the mean service time.

    Attributes:
        workers: Servers in the queue (c).
        rho: Utilisation, arrival rate over c times the service rate.
        cv: Coefficient of variation of service times.
        percentiles: The percentiles estimated.
        sojourn: Estimated sojourn-time (wait + service) percentile, per percentile.
        sojourn_ci: (low, high) of each, at ``confidence``.
        wait: Estimated waiting-time percentile, per percentile.
        wait_ci: (low, high) of each.
        mean_wait: Mean waiting time and its (low, high).
        queries: Queries measured (after warm-up, over all replications).
        confidence: Confidence level of the intervals.
    """

    workers: int
    rho: float
    cv: float
    percentiles: tuple[float, ...]
    sojourn: tuple[float, ...]
    sojourn_ci: tuple[tuple[float, float], ...]
    wait: tuple[float, ...]
    wait_ci: tuple[tuple[float, float], ...]
    mean_wait: tuple[float, float, float]
    queries: int
    confidence: float

    def at(self, percentile: float) -> tuple[float, float, float]:
        """Return (estimate, low, high) of the sojourn-time ``percentile``."""
        i = self.percentiles.index(percentile)
        return self.sojourn[i], *self.sojourn_ci[i]


def initial_queue(workers: int, rho: float, rng: np.random.Generator) -> int:
    """Draw the number of queries present at time 0 from the M/M/c stationary distribution.

    Starting each replication in (approximately, for non-exponential service) steady state
    matters near saturation, where an empty start would take far longer than the run to
    fill the queue and the tail would be underestimated.
    """
    offered = workers * rho
    if rng.random() < erlang_c(workers, rho):
        return workers + int(rng.geometric(1.0 - rho)) - 1  # all busy, a geometric queue
    # not all busy: P(n) ~ a^n / n! for n < c
    weights = np.array(
        [
            math.exp(k * math.log(offered) - math.lgamma(k + 1)) if offered > 0 else float(k == 0)
            for k in range(workers)
        ]
    )
    return int(rng.choice(workers, p=weights / weights.sum()))


def _one_run(
    workers: int, rho: float, cv: float, queries: int, warmup: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return (sojourn, wait) of the measured queries of one replication."""
    present = initial_queue(workers, rho, rng)
    total = queries + warmup
    gaps = rng.exponential(1.0 / (rho * workers), total)
    if cv > 0:
        shape = 1.0 / cv**2
        service = rng.gamma(shape, 1.0 / shape, total + present)
    else:
        service = np.ones(total + present)
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=workers)
    sojourn = np.empty(total)
    wait = np.empty(total)

    def query(i: int):
        arrived = env.now
        with pool.request() as turn:
            yield turn
            if i >= 0:
                wait[i] = env.now - arrived
            yield env.timeout(service[i + present])
        if i >= 0:
            sojourn[i] = env.now - arrived

    def arrivals():
        for i in range(total):
            yield env.timeout(gaps[i])
            env.process(query(i))

    for k in range(present):  # the queries already there at time 0 (not measured)
        env.process(query(k - present))
    env.process(arrivals())
    env.run()
    return sojourn[warmup:], wait[warmup:]


def simulate_queue(
    workers: int,
    rho: float,
    cv: float = 1.0,
    percentiles: tuple[float, ...] = (95.0, 99.0),
    queries: int = 3000,
    reps: int = 5,
    seed: int = 0,
    confidence: float = 0.95,
) -> QueueStats:
    """Simulate an M/G/c queue and estimate sojourn and wait percentiles.

    Args:
        workers: Servers c (>= 1).
        rho: Utilisation in (0, 1).
        cv: Coefficient of variation of service times (0 = deterministic, 1 = exponential).
        percentiles: Percentiles to estimate.
        queries: Measured queries per replication (warm-up comes on top).
        reps: Independent replications (>= 2 for an interval).
        seed: Seed; the same seed, the same result.
        confidence: Confidence level of the intervals.
    """
    if not 0 < rho < 1:
        raise ValueError(f"utilisation {rho} must be in (0, 1) for a stable queue")
    if workers < 1 or reps < 2:
        raise ValueError("need workers >= 1 and reps >= 2")
    # warm-up long enough for the queue to fill: a tenth of the run, and a few per worker
    warmup = max(queries // 10, 4 * workers)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(reps)]
    runs = [_one_run(workers, rho, cv, queries, warmup, rng) for rng in rngs]
    t = stats.t.ppf(0.5 + confidence / 2, reps - 1)

    def summarise(samples: list[np.ndarray], q: float) -> tuple[float, float, float]:
        est = np.array([np.percentile(s, q) for s in samples])
        half = t * est.std(ddof=1) / np.sqrt(reps)
        return float(est.mean()), float(est.mean() - half), float(est.mean() + half)

    soj = [summarise([r[0] for r in runs], q) for q in percentiles]
    wt = [summarise([r[1] for r in runs], q) for q in percentiles]
    means = np.array([r[1].mean() for r in runs])
    half = t * means.std(ddof=1) / np.sqrt(reps)
    return QueueStats(
        workers,
        rho,
        cv,
        tuple(percentiles),
        tuple(s[0] for s in soj),
        tuple((s[1], s[2]) for s in soj),
        tuple(w[0] for w in wt),
        tuple((w[1], w[2]) for w in wt),
        (float(means.mean()), float(means.mean() - half), float(means.mean() + half)),
        queries * reps,
        confidence,
    )


def erlang_c(workers: int, rho: float) -> float:
    """Return the M/M/c probability that a query waits (Erlang C), stable for large c."""
    offered = workers * rho
    blocked = 1.0  # Erlang B by its recursion B(k) = a B(k-1) / (k + a B(k-1))
    for k in range(1, workers + 1):
        blocked = offered * blocked / (k + offered * blocked)
    return blocked / (1.0 - rho * (1.0 - blocked))


def no_wait_stats(
    workers: int, rho: float, cv: float, percentiles: tuple[float, ...], confidence: float = 0.95
) -> QueueStats:
    """Return the statistics of a queue where waiting is negligible: service alone.

    Used where Erlang C says fewer than :data:`NO_WAIT_SHARE` of the tail's queries wait, so
    the percentile is the service-time distribution's (gamma, mean 1), exactly.
    """
    if cv > 0:
        shape = 1.0 / cv**2
        soj = tuple(float(stats.gamma.ppf(q / 100, shape, scale=1.0 / shape)) for q in percentiles)
    else:
        soj = tuple(1.0 for _ in percentiles)
    zero = tuple((0.0, 0.0) for _ in percentiles)
    return QueueStats(
        workers,
        rho,
        cv,
        tuple(percentiles),
        soj,
        tuple((s, s) for s in soj),
        tuple(0.0 for _ in percentiles),
        zero,
        (0.0, 0.0, 0.0),
        0,
        confidence,
    )


NO_WAIT_SHARE = 0.01
"""Waiting is negligible when P(wait) < this share of the tail beyond the lowest percentile."""
