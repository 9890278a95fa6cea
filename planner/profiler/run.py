"""Profile workload classes on this machine: build, measure, search, and write curve rows.

For each model: build its graph with random weights (embedding tables scaled to the memory
budget), measure one replica's service times (:mod:`planner.profiler.measure`), then for each
percentile and latency bound find the highest Poisson rate whose percentile latency meets the
bound (:mod:`planner.profiler.loadgen`). Bounds are searched from tight to loose, each search
starting from the rate the tighter bound reached (a rate that meets a tighter bound meets a
looser one), so the curve is non-decreasing by construction of the bracket, not by clipping.
"""

from __future__ import annotations

import datetime as dt
import os
import platform as pyplatform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.profiler.configs import ModelConfig, embedding_scale_for, model_config
from planner.profiler.curves import PROFILE_CURVES, validate_curves
from planner.profiler.loadgen import make_load, max_rate
from planner.profiler.workload import QuerySizes

DEFAULT_BOUNDS_MS = (10.0, 25.0, 50.0, 100.0, 200.0)
DEFAULT_PERCENTILES = (95.0, 99.0)


@dataclass(frozen=True)
class ProfileSettings:
    """How to profile.

    Attributes:
        platform_id: Platform the rows belong to (the machine as a server type).
        bounds_ms: Latency bounds to search.
        percentiles: Percentiles of the bounds.
        queries: Queries per rate point (at least 100 beyond the highest percentile).
        sizes: Query-size distribution.
        max_batch: Most queries per batch (1 = no batching).
        batch_timeout_ms: Batching timeout.
        embedding_scale: Divide embedding rows by this; ``None`` = fit ``budget_mb``.
        budget_mb: Memory budget of one model's embedding tables.
        replicas_per_server: Replicas (cores) per server; ``None`` = this machine's cores.
        repeats: Timed runs per batch size.
        seed: Seed of weights, inputs, sizes and arrivals.
        command: The command line, for the ``source``.
        backend: ``onnx`` (ONNX Runtime, CPU) or ``torch`` (PyTorch, when installed).
        device: ``cpu``, or ``cuda`` with the torch backend (one replica per GPU).
    """

    platform_id: str = "this_machine"
    bounds_ms: Sequence[float] = DEFAULT_BOUNDS_MS
    percentiles: Sequence[float] = DEFAULT_PERCENTILES
    queries: int = 20_000
    sizes: QuerySizes = field(default_factory=QuerySizes)
    max_batch: int = 1
    batch_timeout_ms: float = 0.0
    embedding_scale: float | None = None
    budget_mb: float = 256.0
    replicas_per_server: int | None = None
    repeats: int = 5
    seed: int = 0
    command: str = ""
    backend: str = "onnx"
    device: str = "cpu"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot work."""
        top = max(self.percentiles)
        need = int(np.ceil(100 / (1 - top / 100))) if top < 100 else None
        if need is None or self.queries < need:
            raise ValueError(
                f"--queries {self.queries} is too few for p{top:g}: use at least "
                f"{need or 'a percentile below 100'} (100 queries beyond it)"
            )
        if not self.bounds_ms or min(self.bounds_ms) <= 0:
            raise ValueError("--bounds must be positive milliseconds, e.g. 10,25,50,100,200")
        if self.embedding_scale is not None and self.embedding_scale < 1:
            raise ValueError("--embedding-scale must be >= 1 (1 = full-size tables)")
        if self.backend not in ("onnx", "torch"):
            raise ValueError(f"--backend {self.backend!r}: use onnx or torch")
        if self.backend == "onnx" and self.device != "cpu":
            raise ValueError(
                f"--device {self.device}: the onnx backend runs on cpu only; use "
                "--backend torch for a GPU"
            )
        if self.backend == "torch":
            from planner.profiler.torch_graphs import check_device

            check_device(self.device)


def machine_info() -> dict[str, object]:
    """Return this machine's CPU model, cores, memory (GB) and 1-minute load average."""
    cpu = pyplatform.processor() or pyplatform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        memory = float("nan")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "memory_gb": round(memory, 1),
        "load_avg_1m": round(load, 2),
    }


def _runtime(settings: ProfileSettings) -> str:
    """Return the inference runtime and its versions, in words, for the ``source``."""
    if settings.backend == "torch":
        from planner.profiler.torch_graphs import device_info

        return device_info(settings.device)
    import onnx
    import onnxruntime as ort

    from planner.profiler.measure import INTRA_OP_THREADS

    return (
        f"ONNX Runtime {ort.__version__} CPU, {INTRA_OP_THREADS} intra-op thread per "
        f"replica, onnx {onnx.__version__}"
    )


def _source(
    info: dict, settings: ProfileSettings, scale: float, load_after: float, kind: str
) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    sizes = settings.sizes.describe() if kind == "dlrm" else "one image per query"
    # more runnable work than half the cores: other work competes, so timings are noisy
    busy = max(float(info["load_avg_1m"]), load_after) > 0.5 * float(info["cores"])
    noisy = " (a loaded, shared machine: timings are noisy)" if busy else ""
    return (
        f"measured on {info['cpu']}, {info['cores']} cores, {info['memory_gb']:g} GB; "
        f"load average {info['load_avg_1m']:g} before, {load_after:g} after{noisy}; "
        f"{_runtime(settings)}, Python {pyplatform.python_version()}; {date}; Poisson arrivals, "
        f"{sizes}, max batch {settings.max_batch}, timeout "
        f"{settings.batch_timeout_ms:g} ms, measured service times replayed; embedding "
        f"tables 1/{scale:g}; command: {settings.command or ' '.join(sys.argv)}"
    )


Progress = Callable[[str, float], None]


def _build(config: ModelConfig, scale: int, settings: ProfileSettings) -> object:
    """Build ``config`` for the chosen backend (ONNX graph, or torch module on the device)."""
    if settings.backend == "torch":
        from planner.profiler.torch_graphs import build_torch_graph

        return build_torch_graph(config, scale, seed=settings.seed, device=settings.device)
    from planner.profiler.graphs import build_graph

    return build_graph(config, scale, seed=settings.seed)


def _default_replicas(settings: ProfileSettings, info: dict) -> int:
    """Return replicas per server by default: one per GPU on CUDA, else one per core."""
    if settings.backend == "torch" and settings.device == "cuda":
        from planner.profiler.torch_graphs import import_torch

        return int(import_torch().cuda.device_count())
    return int(info["cores"])


def profile_model(
    model_id: str, settings: ProfileSettings, progress: Progress | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Profile one model; return its curve rows and notes on bounds it cannot meet.

    Args:
        model_id: A workload of ``configs.yaml``.
        settings: How to profile.
        progress: Called with (what is happening, fraction of this model done).
    """
    # onnx, ONNX Runtime and torch load only when profiling, so `import planner` stays light
    from planner.profiler.measure import measure_service_times

    settings.check()
    note = progress or (lambda _what, _done: None)
    info = machine_info()
    config = model_config(model_id)
    scale = settings.embedding_scale or embedding_scale_for(config, settings.budget_mb * 1e6)
    note(f"{model_id}: building (tables 1/{scale:g})", 0.0)
    built = _build(config, int(np.ceil(scale)), settings)
    rng = np.random.default_rng(settings.seed)
    if config.kind == "dlrm":
        sizes = settings.sizes.sample(settings.queries, rng)
        largest = settings.sizes.max_items()
    else:
        sizes = np.ones(settings.queries, dtype=np.int64)  # one image per query
        largest = 1
    grid_top = largest * settings.max_batch
    note(f"{model_id}: measuring service times up to {grid_top} items", 0.05)
    service = measure_service_times(
        built,
        grid_top,
        settings.repeats,
        settings.seed,
        on_size=lambda n: note(f"{model_id}: measured batch of {n}", 0.05 + 0.45 * n / grid_top),
    )
    load = make_load(
        sizes,
        service.base_s,
        service.noise,
        rng,
        settings.max_batch,
        settings.batch_timeout_ms / 1e3,
    )
    replicas = settings.replicas_per_server or _default_replicas(settings, info)
    mean_items = float(np.mean(sizes))
    source = _source(info, settings, scale, machine_info()["load_avg_1m"], config.kind)
    rows, notes = [], []
    searches = [(p, b) for p in settings.percentiles for b in sorted(settings.bounds_ms)]
    for pct in settings.percentiles:
        lo = 0.0
        for bound in sorted(settings.bounds_ms):
            done = 0.5 + 0.5 * searches.index((pct, bound)) / len(searches)
            note(f"{model_id}: p{pct:g} <= {bound:g} ms", done)
            found = max_rate(load, bound, pct, lo=lo)
            if not found.feasible:
                notes.append(
                    f"{model_id} p{pct:g} <= {bound:g} ms: not met even at a trickle "
                    f"(p{pct:g} {found.latency_ms:.1f} ms with an idle replica)"
                )
                continue
            lo = found.rate
            qps_replica = found.rate * mean_items
            rows.append(
                {
                    "model_id": model_id,
                    "platform_id": settings.platform_id,
                    "latency_ms": float(bound),
                    "percentile": float(pct),
                    "qps_per_server": qps_replica * replicas,
                    "power_w_at_load": None,
                    "source": source,
                    "source_kind": "measured",
                    "qps_per_replica": qps_replica,
                    "replicas_per_server": replicas,
                    "latency_at_rate_ms": found.latency_ms,
                    "queries_per_point": load.queries,
                    "search_steps": found.iterations,
                    "resolution": (found.bracket[1] - found.bracket[0]) / found.bracket[1],
                    "embedding_scale": float(scale),
                    "mean_query_items": mean_items,
                    "max_batch": settings.max_batch,
                    "batch_timeout_ms": settings.batch_timeout_ms,
                }
            )
    note(f"{model_id}: done", 1.0)
    return pd.DataFrame(rows, columns=PROFILE_CURVES.column_names), notes


def profile_models(
    model_ids: Sequence[str], settings: ProfileSettings, progress: Progress | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Profile several models; return validated curve rows and notes on unmet bounds."""
    frames, notes = [], []
    for m in model_ids:
        rows, found = profile_model(m, settings, progress)
        frames.append(rows)
        notes += found
    curves = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=PROFILE_CURVES.column_names)
    )
    return validate_curves(curves), notes


def write_curves(curves: pd.DataFrame, path: str | Path) -> Path:
    """Write curve rows to ``path`` atomically, in the declared column order."""
    from planner.output import write_text_atomic

    path = Path(path)
    write_text_atomic(path, curves[PROFILE_CURVES.column_names].to_csv(index=False))
    return path
