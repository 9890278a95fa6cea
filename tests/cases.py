"""Builders for tiny in-memory fleets with hand-computable optima (shared by the model tests).

Every builder returns a plain row dict with sensible defaults; :func:`make_fleet` turns rows
into a checked :class:`~planner.fleet.Fleet` through :func:`planner.fleet.fleet_from_frames`,
so the rows go through the same validation as CSV files.

Defaults are chosen so that arithmetic stays simple: target utilisation 1.0, energy load factor
1.0, electricity price 0 (cost = capex unless a test sets a price), PUE 1.0, lead time 0,
lifetime 16 quarters, generous power caps, disaster recovery off.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from planner.fleet import Fleet, fleet_from_frames
from planner.pipeline import make_plan
from planner.results import Plan
from planner.schema import TABLES
from planner.verify import verify_plan

SRC = {"source": "test", "source_kind": "estimate"}

BASE_SETTINGS: dict[str, object] = {
    "horizon_quarters": 1,
    "target_utilization": 1.0,
    "energy_load_factor": 1.0,
    "disaster_recovery": {"enabled": False},
    "solver": {"mip_gap": 0.0},
}


def platform(platform_id: str, *, platform_class: str = "cpu", power_w: float = 500,
             capex_usd: float = 10_000, host_memory_gb: float = 256, accel_memory_gb: float = 0,
             accelerators: int = 0, lead_time_quarters: int = 0, lifetime_quarters: int = 16,
             rack_units: float = 1, supply_per_quarter: float | None = None,
             available_from_quarter: int = 0, maintenance_usd_per_quarter: float = 0.0,
             ) -> dict[str, object]:
    """Return a platforms.csv row."""
    return {"platform_id": platform_id, "platform_class": platform_class, "family": "fam",
            "generation": "gen", "power_w": power_w, "capex_usd": capex_usd,
            "host_memory_gb": host_memory_gb, "accel_memory_gb": accel_memory_gb,
            "accelerators": accelerators, "lead_time_quarters": lead_time_quarters,
            "lifetime_quarters": lifetime_quarters, "rack_units": rack_units,
            "supply_per_quarter": supply_per_quarter,
            "available_from_quarter": available_from_quarter,
            "maintenance_usd_per_quarter": maintenance_usd_per_quarter, **SRC}


def model(model_id: str, *, bucket: str = "ranking", phase: str = "inference",
          latency_slo_ms: float = 100, memory_gb: float = 1, min_replicas: int = 1,
          max_shards: int = 1) -> dict[str, object]:
    """Return a models.csv row."""
    return {"model_id": model_id, "bucket": bucket, "phase": phase,
            "latency_slo_ms": latency_slo_ms, "latency_percentile": 99, "memory_gb": memory_gb,
            "min_replicas": min_replicas, "max_shards": max_shards, "unit": "queries", **SRC}


def profile(model_id: str, platform_id: str, qps_per_server: float) -> dict[str, object]:
    """Return a profiles.csv row."""
    return {"model_id": model_id, "platform_id": platform_id, "qps_per_server": qps_per_server,
            **SRC}


def region(region_id: str, *, power_cap_kw: float = 10_000, pue: float = 1.0,
           electricity_usd_per_kwh: float = 0.0, space_limit_ru: float | None = None,
           demand_share: float | None = None) -> dict[str, object]:
    """Return a regions.csv row."""
    return {"region_id": region_id, "power_cap_kw": power_cap_kw, "pue": pue,
            "electricity_usd_per_kwh": electricity_usd_per_kwh, "space_limit_ru": space_limit_ru,
            "demand_share": demand_share, **SRC}


def demand(model_id: str, region_id: str, quarter: int, peak_qps: float) -> dict[str, object]:
    """Return a demand.csv row."""
    return {"model_id": model_id, "region_id": region_id, "quarter": quarter,
            "peak_qps": peak_qps, **SRC}


def inventory(platform_id: str, region_id: str, servers: int,
              retire_quarter: int | None = None) -> dict[str, object]:
    """Return an inventory.csv row."""
    return {"platform_id": platform_id, "region_id": region_id, "servers": servers,
            "retire_quarter": retire_quarter, **SRC}


def power_cap(region_id: str, quarter: int, power_cap_kw: float) -> dict[str, object]:
    """Return a region_power_caps.csv row."""
    return {"region_id": region_id, "quarter": quarter, "power_cap_kw": power_cap_kw, **SRC}


def backup(region_id: str, backup_region_id: str) -> dict[str, object]:
    """Return a topology.csv row."""
    return {"region_id": region_id, "backup_region_id": backup_region_id, **SRC}


def product(product_id: str, daily_requests: float, peak_to_average: float = 1.0,
            growth_per_quarter: float = 0.0) -> dict[str, object]:
    """Return a products.csv row."""
    return {"product_id": product_id, "daily_requests": daily_requests,
            "peak_to_average": peak_to_average, "growth_per_quarter": growth_per_quarter, **SRC}


def call(caller_id: str, model_id: str, items_per_request: float) -> dict[str, object]:
    """Return a calls.csv row."""
    return {"caller_id": caller_id, "model_id": model_id,
            "items_per_request": items_per_request, **SRC}


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def settings_dict(**overrides: object) -> dict[str, object]:
    """Return :data:`BASE_SETTINGS` with ``overrides`` merged in (nested dicts merge)."""
    return _deep_merge(BASE_SETTINGS, overrides)


def _frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    # Optional columns left blank in every row are dropped, so the declared default applies.
    return frame.dropna(axis=1, how="all")


def make_fleet(*, platforms: list[dict], models: list[dict], profiles: list[dict],
               regions: list[dict], name: str = "tiny", check: bool = True,
               settings: dict | None = None, **tables: list[dict]) -> Fleet:
    """Build a checked fleet from row dicts; ``settings`` is merged into :data:`BASE_SETTINGS`.

    Other tables (``demand``, ``inventory``, ``region_power_caps``, ``topology``,
    ``products``, ``calls``) are passed as lists of rows; empty lists are left out.
    """
    frames = {"platforms": _frame(platforms), "models": _frame(models),
              "profiles": _frame(profiles), "regions": _frame(regions)}
    frames |= {k: _frame(v) for k, v in tables.items() if v}
    return fleet_from_frames(name, settings_dict(**(settings or {})), check=check, **frames)


def plan_verified(fleet: Fleet, scenario=None, **options: object) -> Plan:
    """Return ``make_plan(fleet, ...)`` after asserting that :func:`verify_plan` accepts it."""
    plan = make_plan(fleet, scenario, **options)
    check = verify_plan(fleet if scenario is None else _applied(fleet, scenario), plan)
    assert check.ok, str(check)
    assert check.recomputed_cost_usd == _approx(plan.total_cost_usd)
    return plan


def _applied(fleet: Fleet, scenario) -> Fleet:
    from planner.scenarios import apply_scenario

    return apply_scenario(fleet, scenario)


def _approx(value: float):
    import pytest

    return pytest.approx(value, rel=1e-9, abs=1e-6)


def fleet_tables(fleet: Fleet) -> dict[str, pd.DataFrame]:
    """Return deep copies of every input table of ``fleet`` (to compare before/after)."""
    out = {name: fleet.table(name).copy(deep=True) for name in TABLES}
    if fleet.demand_adjustments is not None:
        out["demand_adjustments"] = fleet.demand_adjustments.copy(deep=True)
    return out


def assert_same_tables(before: dict[str, pd.DataFrame], fleet: Fleet) -> None:
    """Assert that ``fleet``'s tables equal the snapshot ``before`` (values, dtypes, index)."""
    after = fleet_tables(fleet)
    assert set(before) == set(after)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)


def write_fleet(fleet: Fleet, folder: Path, scenarios: dict | None = None) -> Path:
    """Write ``fleet`` as a case folder (non-empty CSV tables plus settings.yaml)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in TABLES.items():
        frame = fleet.table(name)
        if frame.empty:
            continue
        frame.to_csv(folder / table.file, index=False)
    data = fleet.settings.model_dump(mode="json")
    (folder / "settings.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    if scenarios is not None:
        (folder / "scenarios.yaml").write_text(yaml.safe_dump({"scenarios": scenarios}),
                                               encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------------------------
# Ready-made fleets


def tiny_fleet(**settings: object) -> Fleet:
    """The /tmp/tiny example rebuilt in memory: optimum 5 ASIC (ranking) + 6 CPU (vision).

    rank: 1,000 qps in Q0 and 1,200 in Q1 in east; ASIC 250 qps for 12,000 USD beats CPU
    100 qps for 10,000 USD. vision (only on CPU, 50 qps): 300 qps in west.
    """
    return make_fleet(
        platforms=[platform("cpu", power_w=500, capex_usd=10_000, host_memory_gb=256),
                   platform("asic", platform_class="inference_asic", power_w=400,
                            capex_usd=12_000, host_memory_gb=64, accel_memory_gb=32,
                            accelerators=4)],
        models=[model("rank", memory_gb=10), model("vision", bucket="cv", memory_gb=1)],
        profiles=[profile("rank", "cpu", 100), profile("rank", "asic", 250),
                  profile("vision", "cpu", 50)],
        regions=[region("east", power_cap_kw=100), region("west", power_cap_kw=100)],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "east", 1, 1200),
                demand("vision", "west", 0, 300), demand("vision", "west", 1, 300)],
        settings={"horizon_quarters": 2, **settings},
    )
