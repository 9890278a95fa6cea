"""Inference graphs with random weights, authored with ``onnx.helper``.

A DLRM-style recommendation model (DeepRecSys's layout): per table a ``Gather`` of the
item's indices and a ``ReduceSum`` over them (a sum-pooled embedding bag), a bottom MLP on the
dense features, the "cat" interaction, and a top MLP ending in a sigmoid. A ResNet-style CNN:
a 7x7 stem, bottleneck blocks, global average pooling and a classifier; batch normalisation is
left out because inference folds it into the convolutions.

Weights are random (timing does not depend on their values); embedding tables are scaled down
by an integer factor (rows divided by it) when the full tables do not fit the memory budget,
and the factor is returned so that every profile row records it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from planner.profiler.configs import (  # noqa: F401 - embedding_scale_for: re-exported
    EMBEDDING_BYTES,
    ModelConfig,
    embedding_scale_for,
    random_inputs,
)

OPSET = 17


@dataclass(frozen=True)
class BuiltGraph:
    """An ONNX model and how to feed it.

    Attributes:
        model: The ONNX ``ModelProto`` (weights inside).
        config: The workload class it was built from.
        embedding_scale: Factor the embedding tables' row counts were divided by (1 = full).
        table_rows: Row count of each embedding table as built.
        weight_bytes: Bytes of all weights as built.
    """

    model: onnx.ModelProto
    config: ModelConfig
    embedding_scale: int
    table_rows: tuple[int, ...]
    weight_bytes: int

    def feed(self, items: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Return random inputs for one batch of ``items`` items (candidates or images)."""
        return random_inputs(self.config, self.table_rows, items, rng)


def build_graph(config: ModelConfig, embedding_scale: int = 1, seed: int = 0) -> BuiltGraph:
    """Build ``config`` as an ONNX model with random weights.

    Args:
        config: Workload class from ``configs.yaml``.
        embedding_scale: Divide every embedding table's rows by this factor (>= 1).
        seed: Seed of the random weights.

    Returns:
        The graph, checked by ``onnx.checker``.
    """
    if embedding_scale < 1:
        raise ValueError("embedding_scale must be >= 1")
    builder = _Builder(np.random.default_rng(seed))
    if config.kind == "dlrm":
        rows = tuple(max(1, r // embedding_scale) for r in config.spec["tables"])
        inputs, output = _dlrm(builder, config.spec, rows)
    elif config.kind == "resnet":
        rows = ()
        inputs, output = _resnet(builder, config.spec)
    else:
        raise ValueError(f"unknown model kind {config.kind!r}")
    graph = helper.make_graph(
        builder.nodes, config.model_id, inputs, [output], initializer=builder.weights
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="planner.profiler"
    )
    model.ir_version = 8  # readable by every ONNX Runtime of the last years
    onnx.checker.check_model(model)
    nbytes = sum(int(np.prod(w.dims)) * 4 for w in builder.weights)
    return BuiltGraph(model, config, embedding_scale, rows, nbytes)


class _Builder:
    """Collects nodes and random initialisers with unique names."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def weight(self, shape: tuple[int, ...], fan_in: int, prefix: str = "w") -> str:
        # He initialisation keeps activations finite through deep ReLU stacks
        scale = math.sqrt(2.0 / max(1, fan_in))
        data = (self.rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)
        return self._add(data, prefix)

    def table(self, rows: int, dim: int) -> str:
        data = self.rng.random((rows, dim), dtype=np.float32) * 0.01
        return self._add(data, "emb")

    def const(self, values: list[int]) -> str:
        name = self.name("const")
        self.weights.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def _add(self, data: np.ndarray, prefix: str) -> str:
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(data, name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _mlp(b: _Builder, x: str, sizes: list[int], last: str = "Relu") -> str:
    """Dense layers ``sizes[0] -> sizes[1] -> ...``; ReLU between, ``last`` after the last."""
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        x = b.node("MatMul", [x, b.weight((n_in, n_out), n_in)])
        x = b.node("Add", [x, b.weight((n_out,), n_in, "b")])
        act = last if i == len(sizes) - 2 else "Relu"
        if act:
            x = b.node(act, [x])
    return x


def _dlrm(b: _Builder, spec: dict, rows: tuple[int, ...]):
    bot, dim, lookups = list(spec["mlp_bot"]), int(spec["dim"]), int(spec["lookups"])
    inputs = [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["n", bot[0]])]
    x = _mlp(b, "dense", bot) if len(bot) > 1 else "dense"
    pooled = [x]
    axes = b.const([1])
    for t, n_rows in enumerate(rows):
        ids = f"ids_{t}"
        inputs.append(helper.make_tensor_value_info(ids, TensorProto.INT64, ["n", lookups]))
        gathered = b.node("Gather", [b.table(n_rows, dim), ids], axis=0)
        pooled.append(b.node("ReduceSum", [gathered, axes], keepdims=0))
    z = b.node("Concat", pooled, axis=1)
    top = [bot[-1] + len(rows) * dim, *spec["mlp_top"]]
    out = _mlp(b, z, top, last="Sigmoid")
    output = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", top[-1]])
    return inputs, output


def _conv(b: _Builder, x: str, c_in: int, c_out: int, k: int, stride: int, relu: bool) -> str:
    w = b.weight((c_out, c_in, k, k), c_in * k * k)
    pad = k // 2
    y = b.node(
        "Conv",
        [x, w, b.weight((c_out,), c_in * k * k, "b")],
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
    )
    return b.node("Relu", [y]) if relu else y


def _resnet(b: _Builder, spec: dict):
    width, image = int(spec["width"]), int(spec["image"])
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, image, image])]
    x = _conv(b, "image", 3, width, 7, 2, relu=True)
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = width
    for stage, blocks in enumerate(spec["blocks"]):
        planes = width * 2**stage
        for block in range(blocks):
            stride = 2 if (stage > 0 and block == 0) else 1
            y = _conv(b, x, c_in, planes, 1, 1, relu=True)
            y = _conv(b, y, planes, planes, 3, stride, relu=True)  # v1.5: stride on the 3x3
            y = _conv(b, y, planes, planes * 4, 1, 1, relu=False)
            short = x if (block > 0) else _conv(b, x, c_in, planes * 4, 1, stride, relu=False)
            x = b.node("Relu", [b.node("Add", [y, short])])
            c_in = planes * 4
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x])], axis=1)
    x = b.node(
        "Gemm",
        [x, b.weight((c_in, spec["classes"]), c_in), b.weight((spec["classes"],), c_in, "b")],
    )
    output = helper.make_tensor_value_info(x, TensorProto.FLOAT, ["n", spec["classes"]])
    return inputs, output


def table_bytes(built: BuiltGraph) -> int:
    """Return the bytes of the embedding tables as built."""
    return sum(built.table_rows) * built.config.spec.get("dim", 0) * EMBEDDING_BYTES
