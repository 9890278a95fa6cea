"""The sweep file: a base scenario plus a grid or a sample of scenario values, validated.

A sweep file (YAML) names a base scenario of the case and either a ``grid`` (lists of values
whose Cartesian product are the scenarios) or ``samples`` drawn with ``seed`` from
``distributions``. Every key of ``grid`` or ``distributions`` is a dotted path into the
scenario vocabulary of ``scenarios.yaml`` (:class:`planner.scenarios.Scenario`), for example
``demand_multiplier.bucket.ranking``, ``power_cap_kw.prn``,
``platform_changes.zion.available`` or ``platform_changes.yv2_glacier_point.capex_multiplier``;
each scenario is the base scenario with those values set, validated like ``scenarios.yaml``.

Example::

    base: base                      # or a scenario name of the case's scenarios.yaml
    samples: 200
    seed: 7
    distributions:
      demand_multiplier.bucket.ranking: {dist: lognormal, median: 1.1, sigma: 0.08}
      power_cap_kw.prn: {dist: uniform, low: 2000, high: 2600}
      platform_changes.yv2_glacier_point.available_from_quarter:
        {dist: choice, values: [0, 2], weights: [0.7, 0.3]}
    solver: {time_limit_s: 0}       # 0: each scenario's first plan (fastest); default: settings
    robust: {decide_before_quarter: 2, max_futures: 8}
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from planner.errors import FleetDataError, Problem
from planner.scenarios import Scenario, scenario_from_dict
from planner.settings import reject_bool_mixups
from planner.yaml_safe import load_yaml

Value = float | int | bool | str


# The most scenarios one sweep file may ask for, by samples or by the grid's product (a grid
# of 7 keys x 10 values, 10 million scenarios, hung the sweep while it listed them).
MAX_SCENARIOS = 1_000_000


class _Strict(BaseModel):
    # allow_inf_nan=False: a .inf time limit means "no limit" to the solver, a hang
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Options(_Strict):
    """A block of plain options (no discriminated union: pydantic forbids the validator there)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_mixups(cls, value: Any, info: ValidationInfo) -> Any:
        # samples: true is not 1 sample, time_limit_s: true not 1 s
        return reject_bool_mixups(cls, value, info)


class _Dist(_Strict):
    integer: bool = Field(False, description="Round each draw to a whole number (quarters).")


class Normal(_Dist):
    """Normal(mean, sd), clipped to [low, high] where given."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(ge=0)
    low: float | None = None
    high: float | None = None

    def draw(self, rng: np.random.Generator, n: int, folder: Path) -> np.ndarray:
        """Return ``n`` draws."""
        return np.clip(rng.normal(self.mean, self.sd, n), self.low, self.high)


class LogNormal(_Dist):
    """median * exp(sigma * Z): a positive factor, ``sigma`` the spread of its logarithm."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)

    def draw(self, rng: np.random.Generator, n: int, folder: Path) -> np.ndarray:
        """Return ``n`` draws."""
        return self.median * np.exp(self.sigma * rng.standard_normal(n))


class Uniform(_Dist):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self

    def draw(self, rng: np.random.Generator, n: int, folder: Path) -> np.ndarray:
        """Return ``n`` draws."""
        return rng.uniform(self.low, self.high, n)


class Triangular(_Dist):
    """Triangular on [low, high] with its peak at ``mode``."""

    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError("needs low <= mode <= high and low < high")
        return self

    def draw(self, rng: np.random.Generator, n: int, folder: Path) -> np.ndarray:
        """Return ``n`` draws."""
        return rng.triangular(self.low, self.mode, self.high, n)


class Empirical(_Dist):
    """Draws with replacement from one column of a CSV file (path relative to the sweep file)."""

    dist: Literal["empirical"]
    file: str
    column: str

    def draw(self, rng: np.random.Generator, n: int, folder: Path) -> np.ndarray:
        """Return ``n`` draws."""
        values = empirical_values(folder / self.file, self.column)
        return rng.choice(values, n, replace=True)


class Choice(_Dist):
    """One of ``values`` (numbers or true/false), with optional ``weights``."""

    dist: Literal["choice"]
    values: list[Value] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.weights is not None and (
            len(self.weights) != len(self.values) or min(self.weights) < 0 or sum(self.weights) <= 0
        ):
            raise ValueError("weights must be non-negative, one per value, not all zero")
        return self

    def draw(self, rng: np.random.Generator, n: int, folder: Path) -> np.ndarray:
        """Return ``n`` draws."""
        w = None if self.weights is None else np.asarray(self.weights) / sum(self.weights)
        idx = rng.choice(len(self.values), n, p=w)
        return np.array(self.values, dtype=object)[idx]


Distribution = Annotated[
    Normal | LogNormal | Uniform | Triangular | Empirical | Choice, Field(discriminator="dist")
]


class SolverOptions(_Options):
    """Solver options of every scenario (default: the case's settings)."""

    time_limit_s: float | None = Field(None, ge=0)
    mip_gap: float | None = Field(None, ge=0, lt=1)


class RobustOptions(_Options):
    """Options of the robust (two-stage) plan made from the sweep's scenarios."""

    decide_before_quarter: int = Field(1, ge=1, description="Orders before it are first stage.")
    max_futures: int = Field(8, ge=1, le=200, description="Sample-average approximation size.")
    time_limit_s: float = Field(60.0, gt=0)
    mip_gap: float = Field(0.01, ge=0, lt=1)
    objective: Literal["expected", "cvar"] = Field(
        "expected",
        description="expected: the futures' mean cost; cvar: the mean of the worst "
        "(1 - alpha) share of futures (CVaR, Rockafellar-Uryasev).",
    )
    alpha: float = Field(0.9, ge=0, lt=1, description="CVaR level (objective: cvar).")


class SweepSpec(_Options):
    """A validated sweep file."""

    base: str = "base"
    description: str = ""
    grid: dict[str, list[Value]] | None = None
    samples: int | None = Field(None, ge=1, le=MAX_SCENARIOS)
    seed: int = Field(0, ge=0, description="Seed of the draws (numpy takes 0 or more).")
    distributions: dict[str, Distribution] | None = None
    solver: SolverOptions = Field(default_factory=SolverOptions)
    robust: RobustOptions = Field(default_factory=RobustOptions)

    @model_validator(mode="after")
    def _one_kind(self) -> SweepSpec:
        if self.grid is not None and (self.samples is not None or self.distributions):
            raise ValueError("give either 'grid' or 'samples' with 'distributions', not both")
        if self.grid is None and (self.samples is None or not self.distributions):
            raise ValueError("needs 'grid' (lists of values) or 'samples' with 'distributions'")
        if self.grid is not None and (not self.grid or any(not v for v in self.grid.values())):
            raise ValueError("'grid' needs at least one key, each with a non-empty list")
        if self.grid is not None:
            count = 1
            for values in self.grid.values():
                count *= len(values)
            if count > MAX_SCENARIOS:
                raise ValueError(
                    f"'grid' makes {count:,} scenarios (the product of its lists' lengths), "
                    f"over the {MAX_SCENARIOS:,} limit; use fewer values or 'samples'"
                )
        return self

    @property
    def parameters(self) -> list[str]:
        """Return the dotted scenario paths the sweep varies, in file order."""
        return list(self.grid or self.distributions or {})


def _problems(exc: ValidationError, file: str) -> list[Problem]:
    out = []
    for e in exc.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(
            Problem(
                file,
                f"key '{key}': {msg}",
                "see 'Scenario sweeps' in the README and planner/sweeps/spec.py",
            )
        )
    return out


def parse_sweep(data: object, file: str = "sweep.yaml") -> SweepSpec:
    """Validate a sweep mapping; raise one :class:`FleetDataError` listing every problem."""
    if not isinstance(data, dict):
        raise FleetDataError(
            [
                Problem(
                    file,
                    "must be a mapping (base, grid or samples, ...)",
                    "see 'Scenario sweeps' in the README",
                )
            ],
            header=f"Invalid sweep file {file}",
        )
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise FleetDataError(_problems(exc, file), header=f"Invalid sweep file {file}") from None
    return spec


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (YAML)."""
    path = Path(path)
    try:
        # The case files' strict loader: no aliases (an alias bomb), no repeated keys (last
        # silently won), bounded size and nesting.
        data = load_yaml(path.read_text(encoding="utf-8"), str(path)).data
    except FileNotFoundError:
        raise FleetDataError(
            [Problem(str(path), "does not exist", "give a sweep YAML file")],
            header="Missing sweep file",
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FleetDataError(
            [
                Problem(
                    str(path),
                    f"cannot be read: {exc}".splitlines()[0],
                    "fix the YAML syntax (UTF-8)",
                )
            ],
            header="Invalid sweep file",
        ) from None
    return parse_sweep(data, str(path))


def empirical_values(path: Path, column: str) -> np.ndarray:
    """Return the non-empty numbers of ``column`` in the CSV ``path`` (errors name both)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FleetDataError(
            [
                Problem(
                    str(path),
                    f"cannot be read: {exc}".splitlines()[0],
                    "give a CSV file next to the sweep file",
                )
            ],
            header="Invalid empirical distribution",
        ) from None
    if column not in frame:
        raise FleetDataError(
            [
                Problem(
                    str(path),
                    f"has no column '{column}'",
                    f"use one of {', '.join(map(str, frame.columns))}",
                )
            ],
            header="Invalid empirical distribution",
        )
    values = pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy()
    if values.size == 0:
        raise FleetDataError(
            [
                Problem(
                    str(path),
                    f"column '{column}' has no numbers",
                    "fill it with the observed values",
                )
            ],
            header="Invalid empirical distribution",
        )
    return values


def _plain(value: object) -> Value:
    """Return a JSON- and YAML-friendly Python scalar."""
    return value.item() if isinstance(value, np.generic) else value  # type: ignore[return-value]


def points(spec: SweepSpec, folder: str | Path = ".") -> list[dict[str, Value]]:
    """Return every scenario's inputs (path -> value), in a fixed order.

    A grid gives its Cartesian product (the last key varies fastest); a sample draws each
    parameter's ``samples`` values from one generator seeded with ``seed``, parameters in file
    order, so the same file gives the same scenarios.
    """
    if spec.grid is not None:
        keys = list(spec.grid)
        return [
            dict(zip(keys, map(_plain, combo), strict=True))
            for combo in itertools.product(*spec.grid.values())
        ]
    rng = np.random.default_rng(spec.seed)
    n = int(spec.samples or 0)
    columns = {}
    for key, dist in (spec.distributions or {}).items():
        draws = dist.draw(rng, n, Path(folder))
        if dist.integer:
            draws = np.rint(draws.astype(float)).astype(int)
        columns[key] = [_plain(v) for v in draws]
    return [{k: columns[k][i] for k in columns} for i in range(n)]


def set_path(data: dict, path: str, value: object) -> dict:
    """Return a deep copy of ``data`` with the dotted ``path`` set to ``value``."""
    out = copy.deepcopy(data)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value
    return out


def scenario_for(base: Scenario, inputs: dict[str, Value], name: str) -> Scenario:
    """Return ``base`` with the dotted-path ``inputs`` set, validated like ``scenarios.yaml``."""
    body = base.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
    for path, value in inputs.items():
        body = set_path(body, path, value)
    body["description"] = ", ".join(f"{k}={v}" for k, v in inputs.items())
    return scenario_from_dict(body, name)


def input_key(inputs: dict[str, Value], base: str, options: dict) -> str:
    """Return a short hash of what determines a scenario's result (for resuming)."""
    text = json.dumps({"inputs": inputs, "base": base, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
