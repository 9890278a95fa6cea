"""Named what-if scenarios: validated overrides that return a new fleet.

A case's ``scenarios.yaml`` maps names to overrides from a closed vocabulary (unknown keys are
errors). :func:`apply_scenario` never mutates its input; the CLI's ``--scenario`` and the
dashboard use the same function, and :func:`scenario_to_yaml` writes a scenario back out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from planner.checks import fleet_problems
from planner.errors import FleetDataError, Problem
from planner.fleet import Fleet, not_utf8, short_value, validate_rows
from planner.schema import MODELS, PLATFORMS, PROFILES, REGION_POWER_CAPS, REGIONS, TABLES
from planner.settings import reject_bool_mixups
from planner.yaml_safe import YamlDocument, load_yaml

SCENARIOS_FILE = "scenarios.yaml"
# Plausible multipliers of a what-if: a 1e300 demand factor passed validation and then broke
# the solver. Values are range-checked again after applying (scenario_problems).
MIN_MULTIPLIER = 1e-3
MAX_MULTIPLIER = 1_000.0

Factor = Annotated[float, Field(ge=0, le=MAX_MULTIPLIER)]
Multiplier = Annotated[float, Field(ge=MIN_MULTIPLIER, le=MAX_MULTIPLIER)]
_CAP = REGIONS.column("power_cap_kw")
PowerCap = Annotated[float, Field(gt=0, ge=_CAP.minimum, le=_CAP.maximum)]
Quarter = Annotated[int, Field(ge=0, le=REGION_POWER_CAPS.column("quarter").maximum)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_mixups(cls, value: Any, info: ValidationInfo) -> Any:
        # horizon_quarters: true is not 1 quarter, disaster_recovery: 0 is not off
        return reject_bool_mixups(cls, value, info)


class DemandMultiplier(_Strict):
    """Multiply peak demand; factors of matching keys compound."""

    bucket: dict[str, Factor] = Field(default_factory=dict, description="bucket -> x")
    product: dict[str, Factor] = Field(default_factory=dict, description="product -> x")
    region: dict[str, Factor] = Field(default_factory=dict, description="region -> x")
    model: dict[str, Factor] = Field(default_factory=dict, description="model -> x")


class OnDevice(_Strict):
    """Serve a share of a bucket's or a model's inference on users' devices from a quarter on.

    The datacenter keeps ``1 - share * (1 - datacenter_share_per_request)`` of the demand:
    a moved request may still cost the datacenter part of its work (model downloads, sync).
    """

    bucket: str | None = Field(None, description="bucket whose inference models move")
    model: str | None = Field(None, description="one inference model that moves")
    share: float = Field(ge=0, le=1, description="share of the requests served on devices")
    from_quarter: int = Field(0, ge=0, le=1_000, description="first quarter (0-based)")
    datacenter_share_per_request: float = Field(
        0.0, ge=0, le=1, description="share of a moved request's work left in the datacenter"
    )

    @property
    def multiplier(self) -> float:
        """Return the factor on datacenter demand from ``from_quarter`` on."""
        return 1.0 - self.share * (1.0 - self.datacenter_share_per_request)


class PlatformChange(_Strict):
    """Change an existing platform."""

    throughput_multiplier: Multiplier = 1.0
    capex_multiplier: Multiplier = 1.0
    power_multiplier: Multiplier = 1.0
    supply_per_quarter: float | None = Field(
        None, ge=0, le=PLATFORMS.column("supply_per_quarter").maximum
    )
    available_from_quarter: int | None = Field(
        None, ge=0, le=PLATFORMS.column("available_from_quarter").maximum
    )
    available: bool = Field(True, description="False: no new purchases of this platform.")


class ProfilesFrom(_Strict):
    """Copy another platform's profiles, scaled."""

    platform_id: str
    throughput_multiplier: Multiplier = 1.0


class NewPlatform(_Strict):
    """Add a platform (a row of platforms.csv) and its profiles."""

    platform: dict[str, object]
    profiles: list[dict[str, object]] = Field(default_factory=list)
    profiles_from: ProfilesFrom | None = None


class SloChange(_Strict):
    """A new latency bound, with the throughput it allows relative to today's."""

    latency_slo_ms: float = Field(
        gt=0,
        ge=MODELS.column("latency_slo_ms").minimum,
        le=MODELS.column("latency_slo_ms").maximum,
    )
    throughput_multiplier: Multiplier = 1.0


class Scenario(_Strict):
    """A named combination of overrides."""

    name: str = "base"
    description: str = ""
    demand_multiplier: DemandMultiplier = Field(default_factory=DemandMultiplier)
    platform_changes: dict[str, PlatformChange] = Field(default_factory=dict)
    new_platforms: list[NewPlatform] = Field(default_factory=list)
    power_cap_kw: dict[str, PowerCap | dict[Quarter, PowerCap]] = Field(
        default_factory=dict,
        description="region -> kW for the whole horizon, or {quarter: kW} from each quarter on",
    )
    slo_changes: dict[str, SloChange] = Field(default_factory=dict)
    disaster_recovery: bool | None = None
    horizon_quarters: int | None = Field(None, ge=1, le=40)
    objective: str | None = Field(None, pattern="^(tco|power|capex)$")
    on_device: list[OnDevice] = Field(
        default_factory=list, description="inference served on users' devices (planner.diurnal)"
    )
    diurnal_slots: int | None = Field(
        None, ge=0, le=24, description="settings.diurnal.slots for this scenario (0: peak only)"
    )


def _problems(
    exc: ValidationError, file: str, name: str, doc: YamlDocument | None
) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        line = doc.line_of(("scenarios", name, *loc)) if doc is not None else None
        at = f" (line {line})" if line is not None else ""
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")  # pydantic's prefix to a validator's own words
        value = None if err["type"] == "extra_forbidden" else short_value(err.get("input"))
        out.append(
            Problem(
                file,
                f"scenario '{name}', key '{key}'{at}: {msg}",
                "see the scenario vocabulary in planner/scenarios.py and the README",
                value=value,
            )
        )
    return out


def parse_scenarios(
    data: object, file: str = SCENARIOS_FILE, *, lines: YamlDocument | None = None
) -> dict[str, Scenario]:
    """Validate a ``{"scenarios": {name: overrides}}`` mapping; raise one error for all problems.

    Args:
        data: The parsed mapping.
        file: File name for messages.
        lines: The parsed document, so problems can name the line of each key.

    Returns:
        The scenarios by name.

    Raises:
        FleetDataError: Listing every invalid key of every scenario.
    """
    if (
        not isinstance(data, dict)
        or set(data) != {"scenarios"}
        or not isinstance(data["scenarios"], dict)
    ):
        raise FleetDataError(
            [
                Problem(
                    file,
                    "must have one top-level key 'scenarios' mapping names to overrides",
                    "see the README",
                )
            ]
        )
    out, problems = {}, []
    for name, body in data["scenarios"].items():
        if body is not None and not isinstance(body, dict):
            line = lines.line_of(("scenarios", name)) if lines is not None else None
            at = f" (line {line})" if line is not None else ""
            problems.append(
                Problem(
                    file,
                    f"scenario '{name}'{at} must be a mapping of overrides",
                    "indent its keys (description, demand_multiplier, ...) below its name",
                )
            )
            continue
        try:
            out[str(name)] = Scenario.model_validate({**(body or {}), "name": str(name)})
        except ValidationError as exc:
            problems += _problems(exc, file, str(name), lines)
    if problems:
        raise FleetDataError(problems, header=f"Invalid scenarios in {file}")
    return out


def load_scenarios(case_dir: str | Path) -> dict[str, Scenario]:
    """Read a case's ``scenarios.yaml`` (an empty mapping when there is none)."""
    path = Path(case_dir) / SCENARIOS_FILE
    if not path.exists():
        return {}
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FleetDataError(
            [not_utf8(SCENARIOS_FILE, data, exc)], header=f"Invalid scenarios in {case_dir}"
        ) from None
    doc = load_yaml(text, SCENARIOS_FILE)
    return parse_scenarios(doc.data, lines=doc)


def scenario_from_dict(data: dict, name: str = "custom") -> Scenario:
    """Validate one scenario's overrides (as in ``scenarios.yaml``) into a :class:`Scenario`."""
    return parse_scenarios({"scenarios": {name: data}})[name]


def scenario_to_yaml(scenario: Scenario) -> str:
    """Return ``scenarios.yaml`` text holding just this scenario, which reproduces it exactly."""
    body = scenario.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
    return yaml.safe_dump({"scenarios": {scenario.name: body}}, sort_keys=False)


def _check_ids(fleet: Fleet, scenario: Scenario) -> list[Problem]:
    """Every id a scenario names must exist in the fleet (or be added by it)."""
    where = f"scenario '{scenario.name}'"
    new_ids = {str(n.platform.get("platform_id")) for n in scenario.new_platforms}
    known = {
        "bucket": set(fleet.models["bucket"]),
        "product": set(fleet.products["product_id"]),
        "region": set(fleet.regions["region_id"]),
        "model": set(fleet.models["model_id"]),
        "platform": set(fleet.platforms["platform_id"]) | new_ids,
    }
    dm = scenario.demand_multiplier
    named = [("bucket", k) for k in dm.bucket] + [("product", k) for k in dm.product]
    named += [("region", k) for k in [*dm.region, *scenario.power_cap_kw]]
    named += [("model", k) for k in [*dm.model, *scenario.slo_changes]]
    named += [("platform", k) for k in scenario.platform_changes]
    named += [
        ("platform", n.profiles_from.platform_id) for n in scenario.new_platforms if n.profiles_from
    ]
    return [
        Problem(
            SCENARIOS_FILE,
            f"{where} names unknown {kind} '{k}'",
            f"use one of {', '.join(sorted(known[kind]))}",
        )
        for kind, k in named
        if k not in known[kind]
    ]


def apply_scenario(fleet: Fleet, scenario: Scenario) -> Fleet:
    """Return a new fleet with ``scenario``'s overrides applied; ``fleet`` is left untouched.

    New platforms are added first, so the same scenario may also change them.

    Raises:
        FleetDataError: When the scenario names ids the fleet does not have, or a new
            platform or profile row is invalid.
    """
    problems = _check_ids(fleet, scenario)
    platforms, profiles, found = _add_platforms(scenario, fleet.platforms, fleet.profiles)
    problems += found
    if problems:
        raise FleetDataError(problems, header=f"Invalid scenario '{scenario.name}'")
    settings = fleet.settings
    new = fleet.replace()
    models, products, regions = new.models, new.products, new.regions

    for pid, change in scenario.platform_changes.items():
        mask = platforms["platform_id"] == pid
        platforms.loc[mask, "capex_usd"] *= change.capex_multiplier
        platforms.loc[mask, "power_w"] *= change.power_multiplier
        if change.supply_per_quarter is not None:
            platforms.loc[mask, "supply_per_quarter"] = change.supply_per_quarter
        if change.available_from_quarter is not None:
            platforms.loc[mask, "available_from_quarter"] = change.available_from_quarter
        if not change.available:
            platforms.loc[mask, "supply_per_quarter"] = 0.0
        profiles.loc[profiles["platform_id"] == pid, "qps_per_server"] *= (
            change.throughput_multiplier
        )

    for mid, slo in scenario.slo_changes.items():
        models.loc[models["model_id"] == mid, "latency_slo_ms"] = slo.latency_slo_ms
        profiles.loc[profiles["model_id"] == mid, "qps_per_server"] *= slo.throughput_multiplier

    for pid, factor in scenario.demand_multiplier.product.items():
        products.loc[products["product_id"] == pid, "daily_requests"] *= factor

    caps, demand = new.region_power_caps, new.demand
    for rid, kw in scenario.power_cap_kw.items():
        caps = caps[caps["region_id"] != rid]  # the scenario's caps replace the case's schedule
        if isinstance(kw, dict):  # a schedule, like region_power_caps.csv: from each quarter on
            rows = [
                {
                    "region_id": rid,
                    "quarter": q,
                    "power_cap_kw": v,
                    "source": f"scenario '{scenario.name}'",
                    "source_kind": "estimate",
                }
                for q, v in sorted(kw.items())
            ]
            caps = pd.concat([caps, pd.DataFrame(rows, columns=caps.columns)], ignore_index=True)
        else:  # one cap for the whole horizon
            regions.loc[regions["region_id"] == rid, "power_cap_kw"] = kw

    changes: dict = {}
    if scenario.disaster_recovery is not None:
        changes["disaster_recovery"] = settings.disaster_recovery.model_copy(
            update={"enabled": scenario.disaster_recovery}
        )
    if scenario.horizon_quarters is not None:
        changes["horizon_quarters"] = scenario.horizon_quarters
        # Rows beyond a shorter horizon no longer apply.
        caps = caps[caps["quarter"] < scenario.horizon_quarters]
        demand = demand[demand["quarter"] < scenario.horizon_quarters]
    if scenario.objective is not None:
        changes["objective"] = scenario.objective
    if scenario.diurnal_slots is not None:
        changes["diurnal"] = settings.diurnal.model_validate(
            {**settings.diurnal.model_dump(), "slots": scenario.diurnal_slots}
        )
    return new.replace(
        settings=settings.model_copy(update=changes),
        platforms=platforms,
        profiles=profiles,
        models=models,
        products=products,
        regions=regions,
        region_power_caps=caps.reset_index(drop=True),
        demand=demand.reset_index(drop=True),
        demand_adjustments=_demand_adjustments(fleet, scenario),
    )


def _add_platforms(
    scenario: Scenario, platforms: pd.DataFrame, profiles: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Return copies of platforms and profiles with the scenario's new platforms appended.

    New rows go through the same column validation as CSV files; problems name the scenario.
    """
    platforms, profiles = platforms.copy(), profiles.copy()
    if not scenario.new_platforms:
        return platforms, profiles, []
    new_platforms, new_profiles = [], []
    for item in scenario.new_platforms:
        row = {"source": f"scenario {scenario.name}", "source_kind": "estimate"}
        new_platforms.append(row | dict(item.platform))
        pid = item.platform.get("platform_id")
        base = {"source": f"scenario {scenario.name}", "source_kind": "estimate"}
        new_profiles += [base | dict(p) | {"platform_id": pid} for p in item.profiles]
        if item.profiles_from:
            src = profiles[profiles["platform_id"] == item.profiles_from.platform_id]
            factor = item.profiles_from.throughput_multiplier
            note = f"scenario {scenario.name}: {factor}x {item.profiles_from.platform_id}"
            new_profiles += [
                {
                    "model_id": p.model_id,
                    "platform_id": pid,
                    "qps_per_server": p.qps_per_server * factor,
                    "source": note,
                    "source_kind": "estimate",
                }
                for p in src.itertuples(index=False)
            ]
    problems: list[Problem] = []
    for table, rows in ((PLATFORMS, new_platforms), (PROFILES, new_profiles)):
        if not rows:
            continue
        frame, found = validate_rows(table, pd.DataFrame(rows))
        problems += [
            Problem(
                SCENARIOS_FILE, f"scenario '{scenario.name}', new {table.name} entry: {p.render()}"
            )
            for p in found
        ]
        if frame is not None and table is PLATFORMS:
            platforms = pd.concat([platforms, frame], ignore_index=True)
        elif frame is not None:
            profiles = pd.concat([profiles, frame], ignore_index=True)
    return platforms, profiles, problems


def _demand_adjustments(fleet: Fleet, scenario: Scenario) -> pd.DataFrame:
    """Turn bucket, region and model multipliers into (model_id, region_id, multiplier) rows."""
    dm = scenario.demand_multiplier
    rows = [] if fleet.demand_adjustments is None else fleet.demand_adjustments.to_dict("records")
    buckets = fleet.models.set_index("model_id")["bucket"]
    for bucket, factor in dm.bucket.items():
        rows += [
            {"model_id": m, "region_id": None, "multiplier": factor}
            for m in buckets.index[buckets == bucket]
        ]
    rows += [{"model_id": m, "region_id": None, "multiplier": f} for m, f in dm.model.items()]
    rows += [{"model_id": None, "region_id": r, "multiplier": f} for r, f in dm.region.items()]
    rows += on_device_adjustments(fleet, scenario)
    return pd.DataFrame(rows, columns=["model_id", "region_id", "multiplier", "from_quarter"])


def on_device_adjustments(fleet: Fleet, scenario: Scenario) -> list[dict]:
    """Return the demand multipliers of ``scenario.on_device``: its inference models, by quarter.

    Raises:
        FleetDataError: A control that names no inference model of the fleet.
    """
    models = fleet.models.set_index("model_id")
    inference = models.index[models["phase"] == "inference"]
    rows, problems = [], []
    for i, move in enumerate(scenario.on_device):
        chosen = [
            m
            for m in inference
            if (move.bucket is None or models.at[m, "bucket"] == move.bucket)
            and (move.model is None or m == move.model)
        ]
        if not chosen or (move.bucket is None and move.model is None):
            problems.append(
                Problem(
                    f"scenario '{scenario.name}' on_device[{i}]",
                    f"selects no inference model (bucket {move.bucket}, model {move.model})",
                    f"name a bucket ({', '.join(sorted(set(models['bucket'])))}) or an "
                    "inference model of the case",
                )
            )
        rows += [
            {"model_id": m, "region_id": None, "multiplier": move.multiplier,
             "from_quarter": move.from_quarter}
            for m in chosen
        ]
    if problems:
        raise FleetDataError(problems, header=f"Invalid scenario '{scenario.name}'")
    return rows


def _out_of_range(fleet: Fleet, name: str) -> list[Problem]:
    """Report numbers a scenario's multipliers pushed outside the schema's plausible range."""
    problems = []
    for table in TABLES.values():
        frame = fleet.table(table.name)
        for column in table.columns:
            if column.dtype == "str" or frame.empty or column.name not in frame:
                continue
            values = pd.to_numeric(frame[column.name], errors="coerce").dropna()
            bad = values[~values.astype(float).map(column.in_range)]
            for idx, value in bad.head(3).items():
                problems.append(
                    Problem(
                        SCENARIOS_FILE,
                        f"scenario '{name}' makes {table.file} row {int(idx) + 1} "
                        f"{column.name} = {value:.4g}, outside the plausible "
                        f"{column.range_text()}",
                        "use a smaller multiplier or value in the scenario",
                    )
                )
    return problems


def scenario_problems(fleet: Fleet, scenarios: dict[str, Scenario]) -> list[Problem]:
    """Return every problem of resolving each scenario against ``fleet`` (empty when all do).

    Each scenario must name only ids the fleet has, add valid platforms and profiles, keep
    every number within the schema's plausible range once applied, and leave a fleet that
    passes :func:`planner.checks.fleet_problems`.

    Args:
        fleet: The checked fleet of the case.
        scenarios: The scenarios of its ``scenarios.yaml``.

    Returns:
        The problems of all scenarios, each naming its scenario.
    """
    problems: list[Problem] = []
    for name, scenario in scenarios.items():
        try:
            applied = apply_scenario(fleet, scenario)
        except FleetDataError as exc:
            problems += exc.problems
            continue
        found = _out_of_range(applied, name)
        if not found:
            found = [
                Problem(
                    SCENARIOS_FILE,
                    f"scenario '{name}': {p.render()}",
                    "change the scenario so the case it makes is valid",
                )
                for p in fleet_problems(applied)
            ]
        problems += found
    return problems
