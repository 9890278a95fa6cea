"""Settings of a fleet case (``settings.yaml``), validated by pydantic; unknown keys are errors."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

# A settings.yaml must say what it plans; every other key has a documented default. (An empty
# file used to mean "all defaults" silently, an 8-quarter plan nobody asked for.)
REQUIRED_KEYS: tuple[str, ...] = ("horizon_quarters",)
MAX_TIME_LIMIT_S = 7 * 24 * 3600.0  # a week: beyond that a limit is a typo, not a plan
# Fractions of throughput or power below 1 % plan absurd fleets (1e-300 once passed "> 0").
MIN_UTILIZATION = 0.01


def machine_cores() -> int:
    """Return the cores of this machine (``os.cpu_count()``), the most solver threads allowed."""
    return os.cpu_count() or 1


def reject_bool_mixups(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """Refuse true/false for a number and anything but true/false for a switch.

    Pydantic's lax mode reads ``time_limit_s: true`` as 1 s and ``threads: yes`` as 1 thread,
    and ``enabled: 0`` or ``enabled: "no"`` as a switch, all silently. Use as a ``mode="before"``
    validator on every field (``@field_validator("*", mode="before")``).
    """
    if info.field_name is None:
        return value
    annotation = model.model_fields[info.field_name].annotation
    # X | None and Annotated[float, Field(...)] | None count as X and float
    kinds = {get_args(a)[0] if get_origin(a) is Annotated else a
             for a in (get_args(annotation) if get_origin(annotation) is not Annotated else ())
             } or {annotation}
    kinds.discard(type(None))
    if kinds == {bool} and value is not None and not isinstance(value, bool):
        raise PydanticCustomError("bool_expected", "must be true or false")
    if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
        raise PydanticCustomError("number_expected", "must be a number, not true/false")
    return value


class _Strict(BaseModel):
    # allow_inf_nan=False: .inf and .nan are never meaningful settings (a .inf time limit
    # meant "no limit" and hid a hang)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_mixups(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_mixups(cls, value, info)


class DisasterRecovery(_Strict):
    """Survive the loss of any one region."""

    enabled: bool = Field(True, description="Plan so that any single region can be lost.")
    emergency_utilization: float = Field(
        0.9,
        ge=MIN_UTILIZATION,
        le=1,
        description="Utilisation the surviving servers may run at while a region is down.",
    )
    phases: tuple[Literal["inference", "training"], ...] = Field(
        ("inference",),
        description="Model phases that must survive a region loss (training can pause).",
    )


class SolverOptions(_Strict):
    """How the integer program is solved."""

    name: Literal["highs", "cbc"] = Field("highs", description="MIP solver.")
    time_limit_s: float = Field(
        120.0, gt=0, le=MAX_TIME_LIMIT_S, description="Wall-clock limit of one solve (finite)."
    )
    mip_gap: float = Field(0.001, ge=0, lt=1, description="Relative optimality gap to stop at.")
    threads: int = Field(
        1, ge=1, description="Solver threads, from 1 to the machine's cores (os.cpu_count())."
    )

    @field_validator("threads")
    @classmethod
    def _at_most_cores(cls, value: int) -> int:
        """Refuse more threads than cores (a million threads once took 4.7 GB)."""
        cores = machine_cores()
        if value > cores:
            raise ValueError(f"must be at most {cores}, the cores of this machine")
        return value


class Diurnal(_Strict):
    """Time of day: plan per slot of the day from load shapes (planner.diurnal)."""

    slots: int = Field(
        0,
        ge=0,
        le=24,
        description="Slots per UTC day (a divisor of 24), each sized for the peak hour inside "
        "it; 0 plans the daily peak only, exactly as without load shapes.",
    )
    harvest_training: bool = Field(
        True,
        description="With slots: training may run in any slot, on inference servers idle in "
        "that slot; off: training runs flat all day on servers of its own.",
    )
    preempt_training_for_dr: bool = Field(
        False,
        description="With slots and disaster recovery: losing a region, training on the "
        "surviving regions' servers is pre-empted and those servers serve the lost load, so "
        "capacity kept for region loss may run training; off: that reserve is inference "
        "replicas and never runs training.",
    )
    follow_sun_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="With slots: the largest share of a region's inference load in a slot "
        "that other regions may serve over a topology.csv edge (follow the sun); 0 serves "
        "every region's users locally.",
    )
    follow_sun_latency_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Follow the sun uses an edge for a model only when the edge's "
        "network_latency_ms is at most this share of the model's latency_slo_ms (the rest "
        "is left for serving); edges with a blank latency are not used.",
    )

    @field_validator("slots")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        """Slots are equal runs of whole hours, so their number divides 24."""
        if value and 24 % value:
            raise ValueError("must be 0 or divide 24 (1, 2, 3, 4, 6, 8, 12, 24)")
        return value


class Migration(_Strict):
    """What moving a replica off its current platform or region costs (``plan --current``)."""

    move_cost_usd: float = Field(
        0.0,
        ge=0,
        le=1e9,
        description="USD per replica moved off its current platform or region; the "
        "--move-cost option overrides it.",
    )
    bucket_move_cost_usd: dict[str, Annotated[float, Field(ge=0, le=1e9)]] = Field(
        default_factory=dict,
        description="Per-bucket override of move_cost_usd, e.g. {ranking: 50}; "
        "--bucket-move-cost overrides it.",
    )
    max_moves_per_quarter: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description="Hard cap on replicas moved per quarter (none: no cap); --max-moves "
        "overrides it.",
    )


class Settings(_Strict):
    """Planning settings of one fleet case."""

    horizon_quarters: int = Field(8, ge=1, le=40, description="Quarters planned.")
    first_quarter: str = Field(
        "2020Q1", description="Calendar label of quarter 0, YYYYQn (1950Q1-2999Q4)."
    )
    objective: Literal["tco", "power", "capex"] = Field(
        "tco",
        description="tco: capex + energy + maintenance; power: provisioned facility power; "
        "capex: purchases only.",
    )
    allocation: Literal["dedicated", "pooled"] = Field(
        "dedicated",
        description="dedicated: whole replicas per model; pooled: models share a platform's "
        "whole servers in a region (fractional replicas).",
    )
    target_utilization: float = Field(
        0.7,
        ge=MIN_UTILIZATION,
        le=1,
        description="Fraction of latency-bounded throughput used at peak.",
    )
    energy_load_factor: float = Field(
        0.6,
        ge=MIN_UTILIZATION,
        le=1,
        description="Average power draw over the quarter as a fraction of provisioned power.",
    )
    disaster_recovery: DisasterRecovery = Field(default_factory=DisasterRecovery)
    solver: SolverOptions = Field(default_factory=SolverOptions)
    diurnal: Diurnal = Field(default_factory=Diurnal)
    migration: Migration = Field(default_factory=Migration)

    @field_validator("first_quarter")
    @classmethod
    def _quarter_label(cls, value: str) -> str:
        """A year and a quarter; 0001Q1 is a typo, not a plan from year 1."""
        if not re.fullmatch(r"(19[5-9]\d|2\d{3})Q[1-4]", value):
            raise ValueError("must be a year from 1950 to 2999, 'Q' and the quarter 1-4, "
                             "e.g. 2020Q1")
        return value

    def quarter_label(self, quarter: int) -> str:
        """Return the calendar label of a 0-based quarter index, e.g. ``2020Q3``."""
        year, q = int(self.first_quarter[:4]), int(self.first_quarter[-1]) - 1
        year += (q + quarter) // 4
        return f"{year}Q{(q + quarter) % 4 + 1}"


def settings_reference_markdown() -> list[str]:
    """Return Markdown lines documenting every settings key, from the pydantic models."""
    out = ["### `settings.yaml` (required)", ""]
    out += [
        f"Required keys: {', '.join(REQUIRED_KEYS)}. Unknown keys, repeated keys, YAML "
        "aliases and anchors, and .inf/.nan values are errors.",
        "",
    ]
    out += ["| key | default | range | description |", "|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
                continue
            key = f"{prefix}{name}"
            rule = _range_of(info.metadata)
            if key == "solver.threads":
                rule += ", <= the machine's cores"
            out.append(f"| `{key}` | {info.default!r} | {rule} | {info.description or ''} |")

    walk(Settings, "")
    out.append("")
    return out


def _range_of(metadata: list[object]) -> str:
    """Return a field's numeric bounds in words, e.g. ``> 0, <= 604800``."""
    signs = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    parts = [
        f"{sign} {getattr(m, attr):g}"
        for m in metadata
        for attr, sign in signs.items()
        if getattr(m, attr, None) is not None
    ]
    return ", ".join(parts)
