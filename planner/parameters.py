"""Per-quarter parameters derived from a fleet's tables.

The model builder, the verifier and the baselines all read these functions, so the meaning
of an input (when inventory retires, which cap applies in a quarter, when an order arrives,
what a server costs to run) is written once.
"""

from __future__ import annotations

import math

import pandas as pd

from planner.fleet import Fleet
from planner.schema import HOURS_PER_QUARTER


def inventory_by_quarter(fleet: Fleet) -> pd.DataFrame:
    """Return existing servers still in service: platform_id, region_id, quarter, servers."""
    rows = []
    for inv in fleet.inventory.itertuples(index=False):
        retire = inv.retire_quarter
        for t in fleet.quarters:
            if pd.isna(retire) or t < int(retire):
                rows.append((inv.platform_id, inv.region_id, t, int(inv.servers)))
    frame = pd.DataFrame(rows, columns=["platform_id", "region_id", "quarter", "servers"])
    return frame.groupby(["platform_id", "region_id", "quarter"], as_index=False)["servers"].sum()


def power_caps(fleet: Fleet) -> pd.DataFrame:
    """Return the facility power cap per region and quarter: region_id, quarter, cap_kw."""
    changes = fleet.region_power_caps.sort_values("quarter")
    rows = []
    for reg in fleet.regions.itertuples(index=False):
        own = changes[changes["region_id"] == reg.region_id]
        for t in fleet.quarters:
            later = own[own["quarter"] <= t]
            cap = float(later["power_cap_kw"].iloc[-1]) if len(later) else float(reg.power_cap_kw)
            rows.append((reg.region_id, t, cap))
    return pd.DataFrame(rows, columns=["region_id", "quarter", "cap_kw"])


def order_quarters(platform: pd.Series | object, horizon: int) -> list[int]:
    """Return the quarters in which ``platform`` can be ordered so that it arrives in time."""
    start = int(platform.available_from_quarter)
    lead = int(platform.lead_time_quarters)
    return [t for t in range(start, horizon) if t + lead < horizon]


def serves_in(platform: pd.Series | object, order_quarter: int, quarter: int) -> bool:
    """Return whether a server ordered in ``order_quarter`` is in service in ``quarter``."""
    arrival = order_quarter + int(platform.lead_time_quarters)
    return arrival <= quarter < arrival + int(platform.lifetime_quarters)


def running_cost_per_quarter(fleet: Fleet) -> pd.DataFrame:
    """Return energy and maintenance cost of one in-service server per quarter.

    Columns: platform_id, region_id, facility_kw, energy_usd, maintenance_usd. Energy is the
    provisioned power times the settings' load factor, PUE, hours in a quarter and the price.
    """
    load = fleet.settings.energy_load_factor
    rows = []
    for p in fleet.platforms.itertuples(index=False):
        for r in fleet.regions.itertuples(index=False):
            facility_kw = p.power_w / 1000.0 * r.pue
            energy = facility_kw * load * HOURS_PER_QUARTER * r.electricity_usd_per_kwh
            rows.append(
                (
                    p.platform_id,
                    r.region_id,
                    facility_kw,
                    energy,
                    float(p.maintenance_usd_per_quarter),
                )
            )
    return pd.DataFrame(
        rows, columns=["platform_id", "region_id", "facility_kw", "energy_usd", "maintenance_usd"]
    )


def servers_per_replica(memory_gb: float, host_gb: float, accel_gb: float) -> int:
    """Return the servers one replica spans so that its memory fits (at least one)."""
    return max(1, math.ceil(memory_gb / (host_gb + accel_gb) - 1e-9))


CANDIDATE_COLUMNS = ["model_id", "platform_id", "bucket", "phase", "platform_class",
                     "qps_per_server", "servers_per_replica", "replica_qps", "power_w"]


def candidates(fleet: Fleet) -> pd.DataFrame:
    """Return every (model, platform) pair a model can run on, with what a replica needs.

    A profile row whose memory does not fit within the model's ``max_shards`` servers is left
    out. Columns: model_id, platform_id, bucket, phase, platform_class, qps_per_server,
    servers_per_replica, replica_qps (servers_per_replica * qps_per_server), power_w.
    """
    pairs = fleet.profiles.merge(fleet.models, on="model_id", suffixes=("", "_model")).merge(
        fleet.platforms, on="platform_id", suffixes=("", "_platform")
    )
    if pairs.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    pairs["servers_per_replica"] = [
        servers_per_replica(m, h, a)
        for m, h, a in zip(
            pairs["memory_gb"], pairs["host_memory_gb"], pairs["accel_memory_gb"], strict=True
        )
    ]
    pairs = pairs[pairs["servers_per_replica"] <= pairs["max_shards"]].copy()
    pairs["replica_qps"] = pairs["servers_per_replica"] * pairs["qps_per_server"]
    return pairs[CANDIDATE_COLUMNS].sort_values(["model_id", "platform_id"]).reset_index(drop=True)
