"""Latency-bounded throughput profiler: real inference graphs, MLPerf-Server-style load.

``python -m planner profile --model rmc1 --platform NAME --out FILE.csv`` builds the workload
classes of ``configs.yaml`` as ONNX graphs with random weights, measures one replica (one ONNX
Runtime CPU session, one intra-op thread; with ``backend="torch"`` the same graphs as PyTorch
modules, one GPU per replica on ``device="cuda"``, see :mod:`planner.profiler.torch_graphs`)
and, for each latency bound and percentile, finds the highest Poisson arrival rate that meets
it. Rows are written in the curve format of
:data:`PROFILE_CURVES`; :func:`read_at_slo` turns curves into ``profiles.csv`` rows.
"""

from planner.profiler.configs import ModelConfig, model_config, model_configs
from planner.profiler.curves import CURVE_KEY, PROFILE_CURVES, read_at_slo, validate_curves
from planner.profiler.run import (
    DEFAULT_BOUNDS_MS,
    DEFAULT_PERCENTILES,
    ProfileSettings,
    machine_info,
    profile_model,
    profile_models,
    write_curves,
)
from planner.profiler.workload import QuerySizes

__all__ = [
    "CURVE_KEY",
    "DEFAULT_BOUNDS_MS",
    "DEFAULT_PERCENTILES",
    "PROFILE_CURVES",
    "ModelConfig",
    "ProfileSettings",
    "QuerySizes",
    "machine_info",
    "model_config",
    "model_configs",
    "profile_model",
    "profile_models",
    "read_at_slo",
    "validate_curves",
    "write_curves",
]
