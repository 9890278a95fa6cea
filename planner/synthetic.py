"""Seeded generator of valid synthetic fleets at named sizes, for benchmarks and tests.

:func:`synthetic_fleet` builds every table of a fleet case from a seed with a realistic
shape: a mix of platform classes and generations (old CPUs and first accelerators installed,
newer ones orderable later), all four service buckets, per-model demand with a heavy tail and
quarterly growth, accelerators several times faster than CPUs for some buckets, profiles left
out where a model's memory does not fit, disaster recovery on, power caps that bind in later
quarters and supply limits on accelerators.

Feasibility is by construction: the generator lays out a *reference plan* (each model on its
most power-efficient reachable platform, whole replicas sized so that any single region can be
lost, servers bought as needed) and sets inventory, power caps, rack space and supply limits
with headroom over that plan. Power caps are 20 % above that lean plan from quarter 1
on, so a plan that keeps the free but power-hungry legacy servers runs into them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.fleet import Fleet, fleet_from_frames
from planner.schema import BUCKETS

_SRC = "synthetic generator (planner/synthetic.py)"


@dataclass(frozen=True)
class SizeSpec:
    """Dimensions of a synthetic fleet."""

    name: str
    models: int
    platforms: int
    regions: int
    quarters: int

    @property
    def label(self) -> str:
        """Return ``models x platforms x regions x quarters``."""
        return f"{self.models}x{self.platforms}x{self.regions}x{self.quarters}"


SIZES: dict[str, SizeSpec] = {
    s.name: s
    for s in (
        SizeSpec("XS", 10, 4, 2, 2),
        SizeSpec("S", 100, 8, 2, 2),
        SizeSpec("M", 200, 10, 3, 4),
        SizeSpec("L", 500, 12, 5, 4),
        SizeSpec("XL", 1000, 12, 5, 8),
        SizeSpec("XXL", 1000, 12, 10, 8),
    )
}

_REGION_NAMES = ("prn", "ftw", "lla", "odn", "cln", "alt", "nao", "frc", "ash", "vll",
                 "eag", "rva", "hil", "nha", "clo", "snc")
_CPU_GENS = ("broadwell", "skylake", "cascadelake", "icelake", "sapphire", "genoa", "turin")
_ASIC_GENS = ("gp1", "gp2", "gp3", "gp4", "gp5")
_ACC_GENS = ("p100", "v100", "a100", "h100", "b100", "r100")

# Bucket shares of models; base throughput of one legacy CPU server (queries/s, lognormal
# median); accelerator speed-up over a CPU of the same generation, (low, high) by class.
_BUCKET_SHARE = {"ranking": 0.45, "cv": 0.2, "translation": 0.15, "speech": 0.2}
_BASE_QPS = {"ranking": 600.0, "cv": 60.0, "translation": 30.0, "speech": 50.0}
_SPEEDUP = {
    "ranking": {"inference_asic": (1.5, 3.0), "accelerator_fabric": (2.0, 6.0)},
    "cv": {"inference_asic": (5.0, 10.0), "accelerator_fabric": (8.0, 20.0)},
    "translation": {"inference_asic": (3.0, 6.0), "accelerator_fabric": (6.0, 15.0)},
    "speech": {"inference_asic": (4.0, 8.0), "accelerator_fabric": (5.0, 15.0)},
}
# Median memory per replica (GB) and lognormal sigma, by bucket.
_MEMORY = {"ranking": (80.0, 1.2), "cv": (1.0, 1.0), "translation": (6.0, 0.8),
           "speech": (3.0, 0.8)}
_UNITS = {"ranking": "predictions", "cv": "images", "translation": "sentences",
          "speech": "utterances"}
_NOT_SUPPORTED = {"inference_asic": 0.25, "accelerator_fabric": 0.1}  # share of profiles absent


def _resolve(size: str | SizeSpec) -> SizeSpec:
    if isinstance(size, SizeSpec):
        return size
    try:
        return SIZES[size.upper()]
    except KeyError:
        raise ValueError(f"unknown size '{size}'; choose one of {', '.join(SIZES)}") from None


def synthetic_fleet(size: str | SizeSpec, seed: int = 0, *, check: bool = True,
                    settings: dict | None = None) -> Fleet:
    """Return a valid synthetic fleet of ``size`` (a name in :data:`SIZES` or a spec).

    Args:
        size: ``XS``, ``S``, ``M``, ``L``, ``XL``, ``XXL`` or a :class:`SizeSpec`.
        seed: Random seed; the same seed gives the same fleet.
        check: Run the cross-table checks (:func:`planner.checks.check_fleet`).
        settings: Overrides of the generated settings (e.g. ``{"allocation": "pooled"}``).

    Returns:
        The fleet, named ``synthetic_<size>_s<seed>``.
    """
    frames, base_settings = synthetic_tables(size, seed)
    merged = _merge(base_settings, settings or {})
    spec = _resolve(size)
    return fleet_from_frames(f"synthetic_{spec.name.lower()}_s{seed}", merged, check=check,
                             **frames)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def synthetic_tables(size: str | SizeSpec, seed: int = 0) -> tuple[dict[str, pd.DataFrame], dict]:
    """Return the input tables (by table name) and settings of a synthetic fleet."""
    spec = _resolve(size)
    rng = np.random.default_rng([seed, spec.models, spec.platforms, spec.regions, spec.quarters])
    horizon = spec.quarters
    platforms = _platforms(spec, rng)
    models = _models(spec, rng, platforms)
    profiles = _profiles(rng, models, platforms)
    regions = _region_ids(spec)
    topology = _topology(regions)
    backups = _backups(regions, topology)
    demand = _demand(spec, rng, models, regions)
    settings = {
        "horizon_quarters": horizon,
        "first_quarter": "2020Q1",
        "objective": "tco",
        "allocation": "dedicated",
        "target_utilization": 0.7,
        "energy_load_factor": 0.6,
        "disaster_recovery": {"enabled": True, "emergency_utilization": 0.9,
                              "phases": ["inference"]},
        "solver": {"name": "highs", "time_limit_s": 60.0 if spec.models <= 200 else 300.0,
                   "mip_gap": 0.01, "threads": 1},
    }
    ref = _reference_plan(platforms, models, profiles, demand, regions, backups, horizon,
                          settings)
    pue = pd.Series(rng.uniform(1.08, 1.2, len(regions)).round(3), index=regions)
    inventory = _inventory(rng, ref, platforms, horizon)
    purchases = _purchases(ref, platforms, inventory, horizon)
    platforms = _supply(platforms, purchases)
    region_table, caps = _power_and_space(rng, ref, platforms, regions, pue, horizon)
    src = {"source": _SRC, "source_kind": "estimate"}
    frames = {
        "platforms": platforms.drop(columns=["legacy", "gen"]).assign(**src),
        "models": models.drop(columns=["base_qps", "growth"]).assign(**src),
        "profiles": profiles.assign(**src),
        "regions": region_table.assign(**src),
        "inventory": inventory.assign(**src),
        "demand": demand.assign(**src),
    }
    if not caps.empty:
        frames["region_power_caps"] = caps.assign(**src)
    if not topology.empty:
        frames["topology"] = topology.assign(**src)
    return frames, settings


def _class_counts(n: int) -> dict[str, int]:
    """Split ``n`` platforms into classes: ~40 % CPU, ~25 % inference ASIC, rest fabric."""
    cpu = max(1, round(0.4 * n))
    asic = max(1, int(0.25 * n)) if n >= 3 else 0
    acc = max(0, n - cpu - asic)
    return {"cpu": cpu, "inference_asic": asic, "accelerator_fabric": acc}


def _platforms(spec: SizeSpec, rng: np.random.Generator) -> pd.DataFrame:
    horizon = spec.quarters
    rows = []
    for cls, count in _class_counts(spec.platforms).items():
        for g in range(count):
            newest = count - 1 - g  # 0 for the newest generation
            if cls == "cpu":
                gen = _CPU_GENS[g % len(_CPU_GENS)]
                pid, family = f"cpu_{gen}", "tioga_pass" if g < 2 else "twin_lakes"
                power = 320 + 40 * g + rng.uniform(-20, 20)
                capex = 8_000 + 2_000 * g + rng.uniform(-500, 500)
                host, accel, n_acc, ru, lead = [128, 256, 384, 512][min(g, 3)], 0.0, 0, 1.0, 1
                maint = 60.0
            elif cls == "inference_asic":
                gen = _ASIC_GENS[g % len(_ASIC_GENS)]
                pid, family = f"asic_{gen}", "yosemite_v2" if g < 2 else "yosemite_v3"
                power = 650 + 80 * g + rng.uniform(-30, 30)
                capex = 22_000 + 5_000 * g + rng.uniform(-1_000, 1_000)
                host, accel, n_acc, ru, lead = 64.0, 16.0 * 6 * (1 + g), 6, 2.0, 1
                maint = 150.0
            else:
                gen = _ACC_GENS[g % len(_ACC_GENS)]
                pid, family = f"fabric_{gen}", "big_basin" if g == 0 else "zion"
                power = 3_200 + 900 * g + rng.uniform(-100, 100)
                capex = 120_000 + 45_000 * g + rng.uniform(-5_000, 5_000)
                host, n_acc, ru = 512.0 + 256 * g, 8, 4.0
                accel = 8 * [16, 32, 80, 141, 192, 288][g % 6]
                lead = 2 if horizon > 3 else 1
                maint = 900.0
            # Newer generations are orderable later, but still arrive within the horizon.
            start = 0
            if newest == 0 and count >= 2:
                start = min(3, horizon - 1 - lead)
            elif newest == 1 and count >= 3:
                start = min(1, horizon - 1 - lead)
            rows.append({
                "platform_id": pid, "platform_class": cls, "family": family, "generation": gen,
                "power_w": round(power, 1), "capex_usd": round(capex, 0),
                "host_memory_gb": float(host), "accel_memory_gb": float(accel),
                "accelerators": n_acc, "lead_time_quarters": lead,
                "lifetime_quarters": 16 if cls != "cpu" else 20, "rack_units": ru,
                "supply_per_quarter": np.nan, "available_from_quarter": max(0, start),
                "maintenance_usd_per_quarter": maint,
                # Legacy: installed today (the oldest generation of each class, two CPU ones).
                "legacy": g == 0 or (cls == "cpu" and g == 1 and count >= 3),
                "gen": g,
            })
    return pd.DataFrame(rows)


def _models(spec: SizeSpec, rng: np.random.Generator, platforms: pd.DataFrame) -> pd.DataFrame:
    n = spec.models
    buckets = np.array(BUCKETS)
    share = np.array([_BUCKET_SHARE[b] for b in BUCKETS])
    bucket = buckets[rng.choice(len(BUCKETS), size=n, p=share / share.sum())]
    bucket[: min(n, len(BUCKETS))] = buckets[: min(n, len(BUCKETS))]  # every bucket present
    phase = np.where(rng.random(n) < 0.1, "training", "inference")
    mem_med = np.array([_MEMORY[b][0] for b in bucket])
    mem_sig = np.array([_MEMORY[b][1] for b in bucket])
    memory = np.clip(mem_med * np.exp(rng.normal(0, 1, n) * mem_sig), 0.05, 2_000).round(2)
    memory = np.where(phase == "training", np.minimum(memory * 3, 2_000), memory)
    # Every model must fit on a legacy CPU within max_shards (the feasibility anchor).
    legacy_cpu = platforms[(platforms["platform_class"] == "cpu") & platforms["legacy"]]
    cpu_mem = float(legacy_cpu["host_memory_gb"].max())
    shards = np.where(bucket == "ranking", 4, np.where(rng.random(n) < 0.3, 2, 1))
    shards = np.maximum(shards, np.ceil(memory / cpu_mem - 1e-9)).astype(int)
    base = np.array([_BASE_QPS[b] for b in bucket]) * np.exp(rng.normal(0, 0.6, n))
    growth = np.where(bucket == "ranking", rng.uniform(0.04, 0.12, n), rng.uniform(0.0, 0.08, n))
    return pd.DataFrame({
        "model_id": [f"{b[:4]}_{i:04d}" for i, b in enumerate(bucket)],
        "bucket": bucket,
        "phase": phase,
        "latency_slo_ms": np.where(bucket == "ranking", 100.0, np.where(bucket == "cv", 200.0,
                                                                        300.0)),
        "latency_percentile": 99.0,
        "memory_gb": memory,
        "min_replicas": np.where(rng.random(n) < 0.2, 2, 1),
        "max_shards": shards,
        "unit": [_UNITS[b] for b in bucket],
        "base_qps": base,
        "growth": growth,
    })


def _profiles(rng: np.random.Generator, models: pd.DataFrame,
              platforms: pd.DataFrame) -> pd.DataFrame:
    pairs = models[["model_id", "bucket", "phase", "memory_gb", "max_shards", "base_qps"]].merge(
        platforms[["platform_id", "platform_class", "host_memory_gb", "accel_memory_gb", "gen",
                   "legacy"]], how="cross")
    n = len(pairs)
    capacity = pairs["host_memory_gb"] + pairs["accel_memory_gb"]
    spr = np.maximum(1, np.ceil(pairs["memory_gb"] / capacity - 1e-9))
    fits = spr <= pairs["max_shards"]
    cls = pairs["platform_class"].to_numpy()
    lo = np.ones(n)
    hi = np.ones(n)
    for bucket, by_class in _SPEEDUP.items():
        for c, (a, b) in by_class.items():
            mask = (pairs["bucket"].to_numpy() == bucket) & (cls == c)
            lo[mask], hi[mask] = a, b
    speedup = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    gen_factor = np.where(cls == "cpu", 1.25, 1.4) ** pairs["gen"].to_numpy()
    training = pairs["phase"].to_numpy() == "training"
    speedup = np.where(training & (cls == "cpu"), 0.3, speedup)
    qps = pairs["base_qps"].to_numpy() * speedup * gen_factor * np.exp(rng.normal(0, 0.15, n))
    supported = rng.random(n) >= np.array([_NOT_SUPPORTED.get(c, 0.0) for c in cls])
    supported |= cls == "cpu"
    keep = fits.to_numpy() & supported
    out = pd.DataFrame({"model_id": pairs["model_id"], "platform_id": pairs["platform_id"],
                        "qps_per_server": np.round(qps, 3)})[keep]
    return out.reset_index(drop=True)


def _region_ids(spec: SizeSpec) -> list[str]:
    return [(_REGION_NAMES[i] if i < len(_REGION_NAMES) else f"region_{i:02d}")
            for i in range(spec.regions)]


def _topology(regions: list[str]) -> pd.DataFrame:
    """Complete backup graph up to five regions; beyond, each region backs up to the next 3."""
    if len(regions) <= 5:
        return pd.DataFrame(columns=["region_id", "backup_region_id"])
    k = 3
    rows = [(regions[i], regions[(i + j) % len(regions)]) for i in range(len(regions))
            for j in range(1, k + 1)]
    return pd.DataFrame(rows, columns=["region_id", "backup_region_id"])


def _backups(regions: list[str], topology: pd.DataFrame) -> dict[str, list[str]]:
    if topology.empty:
        return {r: [f for f in regions if f != r] for r in regions}
    out: dict[str, list[str]] = {r: [] for r in regions}
    for r, b in zip(topology["region_id"], topology["backup_region_id"], strict=True):
        out[r].append(b)
    return out


def _demand(spec: SizeSpec, rng: np.random.Generator, models: pd.DataFrame,
            regions: list[str]) -> pd.DataFrame:
    """Per-model peak demand: heavy-tailed size, regional split, compound growth, noise."""
    n, nr, nq = len(models), len(regions), spec.quarters
    # Size of each model in legacy-CPU-server equivalents over all regions (heavy tail).
    servers = np.clip(np.exp(rng.normal(np.log(30.0), 1.5, n)), 0.3, 20_000)
    total = servers * models["base_qps"].to_numpy() * 0.7
    shares = rng.dirichlet(np.full(nr, 2.0), size=n)
    absent = rng.random((n, nr)) < 0.15
    absent[np.arange(n), shares.argmax(axis=1)] = False  # every model has a home region
    shares = np.where(absent, 0.0, shares)
    shares /= shares.sum(axis=1, keepdims=True)
    growth = models["growth"].to_numpy()
    t = np.arange(nq)
    peak = (total[:, None, None] * shares[:, :, None] * (1 + growth)[:, None, None] ** t
            * np.exp(rng.normal(0, 0.03, (n, nr, nq))))
    m_idx, r_idx, q_idx = np.nonzero(peak > 0)
    return pd.DataFrame({
        "model_id": models["model_id"].to_numpy()[m_idx],
        "region_id": np.array(regions)[r_idx],
        "quarter": q_idx.astype(int),
        "peak_qps": np.round(peak[m_idx, r_idx, q_idx], 3),
    })


def _reference_plan(platforms: pd.DataFrame, models: pd.DataFrame, profiles: pd.DataFrame,
                    demand: pd.DataFrame, regions: list[str], backups: dict[str, list[str]],
                    horizon: int, settings: dict) -> pd.DataFrame:
    """Return a feasible layout: servers needed per platform, region and quarter.

    In each quarter every model runs on the platform that needs the least power for its whole
    replicas among those that can be in service then (legacy platforms only in quarter 0),
    with replicas in every region sized so that demand, minimum replicas and the loss of any
    one region (its demand spread over its backups) are covered.
    """
    util = settings["target_utilization"]
    emerg = settings["disaster_recovery"]["emergency_utilization"]
    cand = profiles.merge(models[["model_id", "memory_gb", "max_shards", "phase",
                                  "min_replicas"]], on="model_id")
    cand = cand.merge(platforms[["platform_id", "host_memory_gb", "accel_memory_gb", "power_w",
                                 "legacy", "lead_time_quarters", "available_from_quarter"]],
                      on="platform_id")
    cand["spr"] = np.maximum(1, np.ceil(cand["memory_gb"] / (cand["host_memory_gb"]
                                                             + cand["accel_memory_gb"]) - 1e-9))
    cand["replica_qps"] = cand["spr"] * cand["qps_per_server"]
    dem = demand.pivot_table(index=["model_id", "quarter"], columns="region_id",
                             values="peak_qps", aggfunc="sum", fill_value=0.0)
    dem = dem.reindex(columns=regions, fill_value=0.0)
    model_ids = list(dem.index.get_level_values("model_id").unique())
    pos = {m: i for i, m in enumerate(model_ids)}
    # Losing region f moves d_f / |B(f)| onto each of its backups.
    spread = np.zeros((len(regions), len(regions)))
    for j, f in enumerate(regions):
        for b in backups[f]:
            spread[j, regions.index(b)] = 1.0 / len(backups[f])
    rows = []
    for t in range(horizon):
        if t == 0:
            ok = cand["legacy"]
        else:
            ok = cand["available_from_quarter"] + cand["lead_time_quarters"] <= t
        c = cand[ok & cand["model_id"].isin(model_ids)]
        d_all = dem.xs(t, level="quarter").reindex(model_ids, fill_value=0.0).to_numpy()
        d = d_all[c["model_id"].map(pos).to_numpy()]  # one row per candidate
        cap = c["replica_qps"].to_numpy()[:, None]
        mins = c["min_replicas"].to_numpy()[:, None]
        reps = np.where(d > 0, np.maximum(np.ceil(d / (util * cap) - 1e-9), mins), 0)
        extra = np.max(d[:, :, None] * spread[None, :, :], axis=1)
        dr_reps = np.ceil((d + extra) / (emerg * cap) - 1e-9)
        reps = np.where((c["phase"].to_numpy() == "inference")[:, None],
                        np.maximum(reps, dr_reps), reps)
        servers = reps * c["spr"].to_numpy()[:, None]
        watts = servers.sum(axis=1) * c["power_w"].to_numpy()
        # The leanest candidate of each model: least power for whole replicas everywhere.
        order = np.lexsort((c["platform_id"].to_numpy(), watts, c["model_id"].to_numpy()))
        first = ~pd.Series(c["model_id"].to_numpy()[order]).duplicated().to_numpy()
        pick = order[first]
        i, j = np.nonzero(reps[pick] > 0)
        rows.append(pd.DataFrame({
            "model_id": c["model_id"].to_numpy()[pick][i],
            "platform_id": c["platform_id"].to_numpy()[pick][i],
            "region_id": np.array(regions)[j], "quarter": t,
            "replicas": reps[pick][i, j].astype(int),
            "servers": servers[pick][i, j].astype(int)}))
    return pd.concat(rows, ignore_index=True)


def _inventory(rng: np.random.Generator, ref: pd.DataFrame, platforms: pd.DataFrame,
               horizon: int) -> pd.DataFrame:
    """Installed legacy servers: 20-40 % over the quarter-0 reference need; some retire."""
    q0 = ref[ref["quarter"] == 0].groupby(["platform_id", "region_id"], as_index=False)[
        "servers"].sum()
    q0["servers"] = np.ceil(q0["servers"] * rng.uniform(1.2, 1.4, len(q0))).astype(int) + 2
    retire_at = max(1, horizon // 2)
    rows = []
    oldest_cpu = platforms[(platforms["platform_class"] == "cpu") & (platforms["gen"] == 0)]
    oldest = set(oldest_cpu["platform_id"])
    for row in q0.itertuples(index=False):
        if row.platform_id in oldest and horizon >= 4:
            leaving = int(row.servers * 0.3)
            rows.append((row.platform_id, row.region_id, leaving, retire_at))
            rows.append((row.platform_id, row.region_id, row.servers - leaving, None))
        else:
            rows.append((row.platform_id, row.region_id, int(row.servers), None))
    out = pd.DataFrame(rows, columns=["platform_id", "region_id", "servers", "retire_quarter"])
    out["retire_quarter"] = out["retire_quarter"].astype("Int64")
    return out


def _purchases(ref: pd.DataFrame, platforms: pd.DataFrame, inventory: pd.DataFrame,
               horizon: int) -> pd.DataFrame:
    """Purchases (platform, region, order quarter, servers) the reference layout needs."""
    need = ref.groupby(["platform_id", "region_id", "quarter"])["servers"].sum().to_dict()
    plat = platforms.set_index("platform_id")
    inv: dict[tuple, int] = {}
    for row in inventory.itertuples(index=False):
        for t in range(horizon):
            if pd.isna(row.retire_quarter) or t < int(row.retire_quarter):
                k = (row.platform_id, row.region_id, t)
                inv[k] = inv.get(k, 0) + int(row.servers)
    rows = []
    for p, r in sorted({(p, r) for p, r, _ in need}):
        lead, life = int(plat.at[p, "lead_time_quarters"]), int(plat.at[p, "lifetime_quarters"])
        bought: list[tuple[int, int]] = []
        for t in range(horizon):
            have = inv.get((p, r, t), 0) + sum(n for t0, n in bought
                                                if t0 + lead <= t < t0 + lead + life)
            deficit = need.get((p, r, t), 0) - have
            if deficit > 0:
                t0 = t - lead
                assert t0 >= int(plat.at[p, "available_from_quarter"]), (p, r, t)
                bought.append((t0, deficit))
                rows.append((p, r, t0, deficit))
    return pd.DataFrame(rows, columns=["platform_id", "region_id", "order_quarter", "servers"])


def _supply(platforms: pd.DataFrame, purchases: pd.DataFrame) -> pd.DataFrame:
    """Supply limits on accelerators and ASICs: 50 % over the reference's busiest quarter."""
    per_q = purchases.groupby(["platform_id", "order_quarter"])["servers"].sum()
    peak = per_q.groupby(level="platform_id").max()
    out = platforms.copy()
    limited = out["platform_class"] != "cpu"
    most = out["platform_id"].map(peak).fillna(0.0)
    out.loc[limited, "supply_per_quarter"] = np.ceil(most[limited] * 1.5 + 20)
    return out


def _power_and_space(rng: np.random.Generator, ref: pd.DataFrame, platforms: pd.DataFrame,
                     regions: list[str], pue: pd.Series,
                     horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regions (cap of quarter 0, PUE, price, space) and the caps of later quarters.

    Every cap is 20 % over the reference layout's power (legacy servers only in quarter 0); a
    later cap stays flat until the lean reference layout needs more. Demand grows while the
    cap stays flat, so a plan that keeps power-hungry legacy servers hits the cap.
    """
    plat = platforms.set_index("platform_id")
    lay = ref.groupby(["platform_id", "region_id", "quarter"], as_index=False)["servers"].sum()
    lay["kw"] = (lay["servers"] * lay["platform_id"].map(plat["power_w"]) / 1000
                 * lay["region_id"].map(pue))
    lay["ru"] = lay["servers"] * lay["platform_id"].map(plat["rack_units"])
    kw = lay.groupby(["region_id", "quarter"])["kw"].sum()
    caps = []
    q0 = {}
    for r in regions:
        cap = math.ceil(float(kw.get((r, 0), 0.0)) * 1.2 + 5)
        q0[r] = cap
        for t in range(1, horizon):
            new = math.ceil(float(kw.get((r, t), 0.0)) * 1.2 + 5)
            if new > cap:
                cap = new
                caps.append((r, t, float(cap)))
    total_ru = lay.groupby(["region_id", "quarter"])["ru"].sum().groupby(level=0).max()
    table = pd.DataFrame({
        "region_id": regions,
        "power_cap_kw": [float(q0[r]) for r in regions],
        "pue": pue.to_numpy(),
        "electricity_usd_per_kwh": rng.uniform(0.04, 0.12, len(regions)).round(4),
        "space_limit_ru": [float(math.ceil(total_ru.get(r, 0.0) * 3 + 100)) for r in regions],
    })
    return table, pd.DataFrame(caps, columns=["region_id", "quarter", "power_cap_kw"])
