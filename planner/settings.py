"""Settings of a fleet case (``settings.yaml``), validated by pydantic; unknown keys are errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DisasterRecovery(_Strict):
    """Survive the loss of any one region."""

    enabled: bool = Field(True, description="Plan so that any single region can be lost.")
    emergency_utilization: float = Field(
        0.9,
        gt=0,
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
    time_limit_s: float = Field(120.0, gt=0, description="Wall-clock limit of one solve.")
    mip_gap: float = Field(0.001, ge=0, lt=1, description="Relative optimality gap to stop at.")
    threads: int = Field(1, ge=1, description="Solver threads.")


class Settings(_Strict):
    """Planning settings of one fleet case."""

    horizon_quarters: int = Field(8, ge=1, le=40, description="Quarters planned.")
    first_quarter: str = Field(
        "2020Q1", pattern=r"^\d{4}Q[1-4]$", description="Calendar label of quarter 0."
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
        0.7, gt=0, le=1, description="Fraction of latency-bounded throughput used at peak."
    )
    energy_load_factor: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Average power draw over the quarter as a fraction of provisioned power.",
    )
    disaster_recovery: DisasterRecovery = Field(default_factory=DisasterRecovery)
    solver: SolverOptions = Field(default_factory=SolverOptions)

    def quarter_label(self, quarter: int) -> str:
        """Return the calendar label of a 0-based quarter index, e.g. ``2020Q3``."""
        year, q = int(self.first_quarter[:4]), int(self.first_quarter[-1]) - 1
        year += (q + quarter) // 4
        return f"{year}Q{(q + quarter) % 4 + 1}"


def settings_reference_markdown() -> list[str]:
    """Return Markdown lines documenting every settings key, from the pydantic models."""
    out = ["### `settings.yaml` (required)", "", "Unknown keys are errors.", ""]
    out += ["| key | default | description |", "|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
                continue
            out.append(f"| `{prefix}{name}` | {info.default!r} | {info.description or ''} |")

    walk(Settings, "")
    out.append("")
    return out
