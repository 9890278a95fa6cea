"""The profiler's PyTorch backend (``--backend torch``): graphs, service times, curve rows.

torch is an optional extra (not in requirements.txt): without it every test here but the
first skips with the reason, and the first checks that the CLI says how to install it.
CUDA tests also need a GPU. Timings are never asserted; only structure.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest

from planner.profiler import ProfileSettings, model_config, profile_models, validate_curves
from planner.profiler.graphs import build_graph

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(
    not HAS_TORCH, reason="PyTorch is not installed (optional: pip install torch)"
)
QUICK = {"queries": 2000, "repeats": 2, "percentiles": (95.0,), "bounds_ms": (5.0, 20.0, 80.0)}


def _devices() -> list[str]:
    if not HAS_TORCH:
        return ["cpu"]
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.mark.skipif(HAS_TORCH, reason="checks the message shown when torch is missing")
def test_torch_backend_without_torch_says_how_to_install_it(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    args = ["profile", "--model", "rmc_tiny", "--platform", "x", "--out", str(tmp_path / "c.csv"),
            "--backend", "torch", "--device", "cuda"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "PyTorch is not installed" in result.output and "pip install torch" in result.output
    assert not (tmp_path / "c.csv").exists()


def test_onnx_backend_refuses_a_gpu_device():
    with pytest.raises(ValueError, match="--backend torch"):
        ProfileSettings(device="cuda", **QUICK).check()


@needs_torch
@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("model_id, out_width", [("rmc_tiny", 1), ("cnn_tiny", 10)])
def test_torch_graphs_match_the_onnx_graphs_layout_and_run(model_id, out_width, device):
    from planner.profiler.torch_graphs import build_torch_graph

    config = model_config(model_id)
    built = build_torch_graph(config, embedding_scale=10 if model_id == "rmc_tiny" else 1,
                              device=device)
    onnx_built = build_graph(config, embedding_scale=built.embedding_scale)
    # the same layers and tables: every float weight of the ONNX graph has its torch
    # counterpart (the ONNX graph's one int64 constant, ReduceSum's axes, has none)
    floats = sum(int(np.prod(w.dims)) * 4 for w in onnx_built.model.graph.initializer
                 if w.data_type == onnx.TensorProto.FLOAT)
    assert built.weight_bytes == floats > 0
    assert built.table_rows == onnx_built.table_rows
    scores = built.runner(built.feed(3, np.random.default_rng(0)))()
    assert tuple(scores.shape) == (3, out_width)
    assert str(scores.device) == "cpu"  # copied back, as a server returns its scores
    assert np.isfinite(scores.numpy()).all()


@needs_torch
@pytest.mark.parametrize("device", _devices())
def test_torch_profile_rows_validate_are_monotone_and_name_the_runtime(device):
    settings = ProfileSettings(platform_id="torch_box", backend="torch", device=device,
                               replicas_per_server=2, **QUICK)
    curves, _ = profile_models(["rmc_tiny", "cnn_tiny"], settings)
    validate_curves(curves)
    assert set(curves["model_id"]) == {"rmc_tiny", "cnn_tiny"}
    assert (curves["source_kind"] == "measured").all()
    assert "PyTorch" in curves["source"].iloc[0] and f"on {device}" in curves["source"].iloc[0]
    for _, curve in curves.groupby("model_id"):
        assert curve.sort_values("latency_ms")["qps_per_server"].is_monotonic_increasing
    np.testing.assert_allclose(curves["qps_per_server"], 2 * curves["qps_per_replica"])
