"""Measured service times: one ONNX Runtime session per replica, one intra-op thread.

(``--backend torch`` times a :class:`~planner.profiler.torch_graphs.TorchGraph` instead,
through the same grid and noise model: ``measure_service_times`` takes either graph.)

A replica is one ONNX Runtime CPU session limited to **one intra-op and one inter-op
thread**, so one replica uses one core and a server runs ``replicas_per_server`` of them side
by side (the profile's ``qps_per_server`` is the replica's rate times that count, which assumes
replicas do not slow each other down: optimistic where they share memory bandwidth, as RMC2's
embedding lookups do).

Service time is measured on a geometric grid of batch sizes (items per run), several repeats
each after a warm-up run; a batch of any size then costs the median at its size,
interpolated linearly between grid points, times a noise factor resampled from the
measured repeats (each repeat over its size's median), so the timing noise of this machine
goes into the latency distribution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # ONNX Runtime loads only on the ONNX path (the torch path needs neither)
    import onnxruntime as ort

    from planner.profiler.graphs import BuiltGraph
    from planner.profiler.torch_graphs import TorchGraph

INTRA_OP_THREADS = 1


def make_session(built: BuiltGraph) -> ort.InferenceSession:
    """Return a CPU inference session of ``built`` with one intra-op and one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        built.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


@dataclass(frozen=True)
class ServiceTimes:
    """Measured service time of one replica by batch size.

    Attributes:
        sizes: Batch sizes measured (items per run), increasing.
        median_s: Median seconds per run at each size.
        noise: Every measured repeat divided by its size's median (pooled).
        repeats: Timed runs per size.
    """

    sizes: np.ndarray
    median_s: np.ndarray
    noise: np.ndarray
    repeats: int

    def base_s(self, items: np.ndarray) -> np.ndarray:
        """Return the median seconds of batches of ``items`` items (interpolated)."""
        items = np.asarray(items, dtype=float)
        base = np.interp(items, self.sizes, self.median_s)
        # beyond the largest size measured, time grows linearly with items
        return np.where(items > self.sizes[-1], self.median_s[-1] * items / self.sizes[-1], base)


def size_grid(max_items: int) -> np.ndarray:
    """Return batch sizes 1, 2, 4, ... up to and including ``max_items``."""
    sizes = [1]
    while sizes[-1] < max_items:
        sizes.append(min(sizes[-1] * 2, max_items))
    return np.asarray(sizes)


def _runner(built: BuiltGraph | TorchGraph) -> Callable[[dict], Callable[[], Any]]:
    """Return how to make a one-batch run of ``built`` from its inputs (ONNX or torch)."""
    if hasattr(built, "runner"):  # a TorchGraph copies inputs to its device itself
        return built.runner
    session = make_session(built)
    return lambda feed: (lambda: session.run(None, feed))


def measure_service_times(
    built: BuiltGraph | TorchGraph,
    max_items: int,
    repeats: int = 5,
    seed: int = 0,
    on_size: Callable[[int], None] | None = None,
) -> ServiceTimes:
    """Time ``repeats`` runs of the model at each batch size of :func:`size_grid`.

    Args:
        built: The graph to run.
        max_items: Largest batch (items) a replica may have to run.
        repeats: Timed runs per size (after one untimed warm-up run).
        seed: Seed of the random inputs.
        on_size: Called with each size once it is measured (for a progress bar).
    """
    make_run = _runner(built)
    rng = np.random.default_rng(seed)
    sizes = size_grid(max_items)
    medians, noise = [], []
    for n in sizes:
        run = make_run(built.feed(int(n), rng))
        run()  # warm-up: first-run allocations (and CUDA kernel choice) are not service time
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        med = float(np.median(times))
        medians.append(med)
        noise += [t / med for t in times]
        if on_size:
            on_size(int(n))
    return ServiceTimes(sizes, np.asarray(medians), np.asarray(noise), repeats)
