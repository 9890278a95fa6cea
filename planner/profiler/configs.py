"""The workload classes the profiler can build, read from the bundled ``configs.yaml``.

The file carries the public configurations (DeepRecSys RMC1-3 and friends, ResNet-50's layer
structure) with their sources, so profiling needs no download and never reads outside the
package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import yaml

from planner.errors import FleetDataError, Problem

EMBEDDING_BYTES = 4  # float32 tables, as in DeepRecSys


@dataclass(frozen=True)
class ModelConfig:
    """One buildable workload class.

    Attributes:
        model_id: Identifier; the profile rows carry it as ``model_id``.
        kind: ``dlrm`` (embedding tables + MLPs) or ``resnet`` (bottleneck CNN).
        spec: The layer description from ``configs.yaml``.
        source: Where the configuration comes from.
    """

    model_id: str
    kind: str
    spec: dict
    source: str

    @property
    def embedding_bytes(self) -> int:
        """Return the bytes of all embedding tables at full size (0 for a CNN)."""
        if self.kind != "dlrm":
            return 0
        return sum(self.spec["tables"]) * self.spec["dim"] * EMBEDDING_BYTES

    @property
    def query_unit(self) -> str:
        """Return what one item of a query is: a ranked candidate or an image."""
        return "predictions" if self.kind == "dlrm" else "images"


@cache
def model_configs() -> dict[str, ModelConfig]:
    """Return every bundled workload configuration by model id."""
    text = resources.files("planner.profiler").joinpath("configs.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)["models"]
    return {
        name: ModelConfig(
            name,
            spec["kind"],
            {k: v for k, v in spec.items() if k not in ("kind", "source")},
            spec["source"],
        )
        for name, spec in raw.items()
    }


def model_config(model_id: str) -> ModelConfig:
    """Return the configuration of ``model_id``, or raise a message listing the known ones."""
    configs = model_configs()
    if model_id not in configs:
        raise FleetDataError(
            [
                Problem(
                    "planner/profiler/configs.yaml",
                    f"no workload '{model_id}'",
                    f"use one of {', '.join(configs)}",
                    column="--model",
                    value=model_id,
                )
            ],
            header="Unknown model to profile",
        )
    return configs[model_id]


def embedding_scale_for(config: ModelConfig, budget_bytes: float) -> int:
    """Return the smallest integer factor that brings the embedding tables within the budget."""
    if config.embedding_bytes <= budget_bytes:
        return 1
    return math.ceil(config.embedding_bytes / budget_bytes)


def random_inputs(config: ModelConfig, table_rows: tuple[int, ...], items: int,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return random host inputs for one batch of ``items`` items (candidates or images).

    One definition for both backends (ONNX Runtime and PyTorch), so they are fed alike.
    """
    spec = config.spec
    if config.kind == "resnet":
        shape = (items, 3, spec["image"], spec["image"])
        return {"image": rng.random(shape, dtype=np.float32)}
    feeds = {"dense": rng.random((items, spec["mlp_bot"][0]), dtype=np.float32)}
    for t, rows in enumerate(table_rows):
        # uniform random ids, as DeepRecSys's synthetic inputs
        feeds[f"ids_{t}"] = rng.integers(0, rows, (items, spec["lookups"]), dtype=np.int64)
    return feeds
