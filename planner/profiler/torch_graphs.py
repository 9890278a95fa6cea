"""The profiler's graphs as PyTorch modules (the ``--backend torch`` path, CPU or CUDA).

The same workload classes as :mod:`planner.profiler.graphs`, built from the same
``configs.yaml`` entries with the same layer structure: a DLRM-style model (a sum-pooled
``embedding_bag`` per table, bottom MLP, "cat" interaction, top MLP ending in a sigmoid) and
a ResNet-style CNN (7x7 stem, max pool, bottleneck blocks with the stride on the 3x3, global
average pooling, classifier; no batch normalisation, folded at inference). Weights are
random, drawn on the device itself (a 4 GB table is not copied from the host), float32 with
TF32 off, so a GPU row times the same arithmetic as a CPU row.

A replica is one device (one GPU, or one CPU thread) running one batch at a time; a batch's
service time includes copying its inputs to the device and its scores back, as a server
must. torch is imported only here, so the ONNX path never needs it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.profiler.configs import EMBEDDING_BYTES, ModelConfig, random_inputs

INSTALL_HINT = (
    "PyTorch is not installed: `pip install torch` (an optional extra; the CUDA build is about "
    "4.4 GB installed: torch 1.1 GB, NVIDIA libraries 2.7 GB, Triton 0.6 GB; a CPU-only wheel "
    "is smaller), or use the default --backend onnx"
)


def import_torch() -> Any:
    """Return the ``torch`` module, or raise ``ValueError`` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return torch


def check_device(device: str) -> None:
    """Raise ``ValueError`` unless torch is installed and ``device`` (cpu or cuda) is usable."""
    torch = import_torch()
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: use cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device cuda: torch {torch.__version__} sees no CUDA GPU (is this a CPU-only "
            "build, or no driver?); use --device cpu"
        )


def device_info(device: str) -> str:
    """Return the runtime, and for CUDA the GPU, driver, CUDA and cuDNN versions, in words."""
    torch = import_torch()
    text = f"PyTorch {torch.__version__} on {device}"
    if device != "cuda":
        return f"{text}, {torch.get_num_threads()} intra-op thread per replica"
    props = torch.cuda.get_device_properties(0)
    driver = _driver_version()
    return (
        f"{text}: {torch.cuda.device_count()} x {props.name} "
        f"({props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, "
        f"compute capability {props.major}.{props.minor}), NVIDIA driver {driver}, "
        f"CUDA runtime {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; "
        "float32, TF32 off, eager mode, one replica per GPU, inputs copied host-to-device "
        "and scores back in every service time"
    )


def _driver_version() -> str:
    """Return the NVIDIA driver version from NVML or nvidia-smi, or 'unknown'."""
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # NVML is optional (nvidia-ml-py); fall back to the command
        pass
    import subprocess

    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        )
        return done.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


@dataclass
class TorchGraph:
    """A workload class as a torch module on a device, and how to feed and run it.

    Attributes:
        module: The ``torch.nn.Module`` (eval mode, weights on ``device``).
        config: The workload class it was built from.
        device: ``cpu`` or ``cuda``.
        embedding_scale: Factor the embedding tables' row counts were divided by (1 = full).
        table_rows: Row count of each embedding table as built.
        weight_bytes: Bytes of all weights as built.
    """

    module: Any
    config: ModelConfig
    device: str
    embedding_scale: int
    table_rows: tuple[int, ...]
    weight_bytes: int

    def feed(self, items: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Return random host inputs for one batch of ``items`` items (as the ONNX graphs')."""
        return random_inputs(self.config, self.table_rows, items, rng)

    def runner(self, feed: dict[str, np.ndarray]) -> Any:
        """Return a function that serves ``feed`` once: copy in, run, copy the scores back.

        The host tensors are made (pinned on CUDA) before timing starts, as a server's
        request buffers are; the copy, the forward pass and the copy back are timed.
        """
        torch = import_torch()
        cuda = self.device == "cuda"
        host = {k: torch.from_numpy(v) for k, v in feed.items()}
        if cuda:
            host = {k: v.pin_memory() for k, v in host.items()}
        names = ["image"] if self.config.kind == "resnet" else [
            "dense", *(f"ids_{t}" for t in range(len(self.table_rows)))
        ]

        def run() -> Any:
            with torch.inference_mode():
                args = [host[n].to(self.device, non_blocking=True) for n in names]
                scores = self.module(*args).to("cpu")
            if cuda:
                torch.cuda.synchronize()
            return scores

        return run


def build_torch_graph(
    config: ModelConfig, embedding_scale: int = 1, seed: int = 0, device: str = "cpu"
) -> TorchGraph:
    """Build ``config`` as a torch module with random weights on ``device``.

    Args:
        config: Workload class from ``configs.yaml``.
        embedding_scale: Divide every embedding table's rows by this factor (>= 1).
        seed: Seed of the random weights.
        device: ``cpu`` or ``cuda``.
    """
    if embedding_scale < 1:
        raise ValueError("embedding_scale must be >= 1")
    torch = import_torch()
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 arithmetic, as the ONNX graphs
    torch.backends.cudnn.allow_tf32 = False
    gen = torch.Generator(device=device).manual_seed(seed)
    if config.kind == "dlrm":
        rows = tuple(max(1, r // embedding_scale) for r in config.spec["tables"])
        module = _dlrm_module(torch, config.spec, rows, gen, device)
    elif config.kind == "resnet":
        rows = ()
        module = _resnet_module(torch, config.spec, gen, device)
    else:
        raise ValueError(f"unknown model kind {config.kind!r}")
    module.eval()
    nbytes = sum(p.numel() * p.element_size() for p in module.parameters())
    return TorchGraph(module, config, device, embedding_scale, rows, nbytes)


def _he(torch: Any, shape: tuple[int, ...], fan_in: int, gen: Any, device: str) -> Any:
    # He initialisation, as graphs._Builder.weight: finite activations through ReLU stacks
    scale = math.sqrt(2.0 / max(1, fan_in))
    data = torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * scale
    return torch.nn.Parameter(data, requires_grad=False)


def _mlp(torch: Any, sizes: list[int], gen: Any, device: str) -> Any:
    """Weights and biases of dense layers ``sizes[0] -> sizes[1] -> ...``."""
    weights = torch.nn.ParameterList()
    for n_in, n_out in itertools.pairwise(sizes):
        weights.append(_he(torch, (n_in, n_out), n_in, gen, device))
        weights.append(_he(torch, (n_out,), n_in, gen, device))
    return weights


def _run_mlp(torch: Any, x: Any, weights: Any, last: str) -> Any:
    layers = len(weights) // 2
    for i in range(layers):
        x = torch.addmm(weights[2 * i + 1], x, weights[2 * i])
        if i < layers - 1:
            x = torch.relu(x)
        elif last == "sigmoid":
            x = torch.sigmoid(x)
        else:
            x = torch.relu(x)
    return x


def _dlrm_module(torch: Any, spec: dict, rows: tuple[int, ...], gen: Any, device: str) -> Any:
    bot, dim = list(spec["mlp_bot"]), int(spec["dim"])
    top = [bot[-1] + len(rows) * dim, *spec["mlp_top"]]
    nn = torch.nn

    class DLRM(nn.Module):
        """Bottom MLP, one sum-pooled embedding bag per table, cat, top MLP, sigmoid."""

        def __init__(self) -> None:
            super().__init__()
            self.bottom = _mlp(torch, bot, gen, device)
            self.tables = nn.ParameterList(
                nn.Parameter(
                    torch.rand((n, dim), generator=gen, device=device) * 0.01,
                    requires_grad=False,
                )
                for n in rows
            )
            self.top = _mlp(torch, top, gen, device)

        def forward(self, dense: Any, *ids: Any) -> Any:
            x = _run_mlp(torch, dense, self.bottom, "relu") if len(bot) > 1 else dense
            pooled = [
                nn.functional.embedding_bag(i, table, mode="sum")
                for i, table in zip(ids, self.tables, strict=True)
            ]
            return _run_mlp(torch, torch.cat([x, *pooled], dim=1), self.top, "sigmoid")

    return DLRM()


def _resnet_module(torch: Any, spec: dict, gen: Any, device: str) -> Any:
    width, classes = int(spec["width"]), int(spec["classes"])
    nn = torch.nn
    F = nn.functional  # noqa: N806 - the usual torch alias

    class Conv(nn.Module):
        def __init__(self, c_in: int, c_out: int, k: int, stride: int, relu: bool) -> None:
            super().__init__()
            fan_in = c_in * k * k
            self.w = _he(torch, (c_out, c_in, k, k), fan_in, gen, device)
            self.b = _he(torch, (c_out,), fan_in, gen, device)
            self.stride, self.pad, self.relu = stride, k // 2, relu

        def forward(self, x: Any) -> Any:
            y = F.conv2d(x, self.w, self.b, stride=self.stride, padding=self.pad)
            return torch.relu(y) if self.relu else y

    class Bottleneck(nn.Module):
        def __init__(self, c_in: int, planes: int, stride: int, project: bool) -> None:
            super().__init__()
            self.body = nn.Sequential(
                Conv(c_in, planes, 1, 1, True),
                Conv(planes, planes, 3, stride, True),  # v1.5: stride on the 3x3
                Conv(planes, planes * 4, 1, 1, False),
            )
            self.short = Conv(c_in, planes * 4, 1, stride, False) if project else None

        def forward(self, x: Any) -> Any:
            short = x if self.short is None else self.short(x)
            return torch.relu(self.body(x) + short)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = Conv(3, width, 7, 2, True)
            blocks, c_in = [], width
            for stage, count in enumerate(spec["blocks"]):
                planes = width * 2**stage
                for block in range(count):
                    stride = 2 if (stage > 0 and block == 0) else 1
                    blocks.append(Bottleneck(c_in, planes, stride, project=block == 0))
                    c_in = planes * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc_w = _he(torch, (c_in, classes), c_in, gen, device)
            self.fc_b = _he(torch, (classes,), c_in, gen, device)

        def forward(self, image: Any) -> Any:
            x = F.max_pool2d(self.stem(image), 3, stride=2, padding=1)
            x = torch.flatten(F.adaptive_avg_pool2d(self.blocks(x), 1), 1)
            return torch.addmm(self.fc_b, x, self.fc_w)

    return ResNet()


def table_bytes(built: TorchGraph) -> int:
    """Return the bytes of the embedding tables as built."""
    return sum(built.table_rows) * built.config.spec.get("dim", 0) * EMBEDDING_BYTES
