"""Disaster recovery by pre-empting training: a region loss stops training on the survivors.

With ``settings.diurnal.preempt_training_for_dr`` (slots and disaster recovery on), the
slotted array model gets *emergency replica* columns ``z[m, p, r, t, F]``: replicas of
inference copy m that survivor r would run on platform p in quarter t if region F were lost,
on servers that training occupies in the copy's slot(s):

- DR rows (m, F, t): the survivors' inference replicas **plus** their emergency replicas
  carry the load of F and of the survivors (``emergency_utilization``);
- pre-emption rows (family ``preempt``) per (p, r, t, slot, F):
  ``sum_m spr z[m, p, r, t, F] <= sum_training spr x[c, p, r, t]`` over the models in that
  slot (a model that runs all day counts in every slot).

So capacity kept for region loss may run training, and the plan's emergency replicas say
what would be pre-empted. :func:`check_emergency` re-checks both rules from the plan's tables
(``verify_plan`` checks the rest with disaster recovery off). Only the array model HiGHS
solves has these columns.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.diurnal.layout import model_slots, slot_count, slots_of
from planner.fleet import Fleet
from planner.scale import FAMILIES, MatrixModel
from planner.topology import backups

EMERGENCY_COLUMNS = [
    "lost_region_id",
    "model_id",
    "platform_id",
    "region_id",
    "quarter",
    "replicas",
    "servers",
]
REL_TOL = 1e-6


def enabled(slotted: Fleet) -> bool:
    """Return whether training may be pre-empted for disaster recovery in ``slotted``."""
    s = slotted.settings
    return bool(s.diurnal.preempt_training_for_dr and s.disaster_recovery.enabled)


def add_emergency(slotted: Fleet, mm: MatrixModel) -> tuple[MatrixModel, pd.DataFrame]:
    """Return ``mm`` with emergency-replica columns and pre-emption rows, and their table.

    The new columns come after every column of ``mm``, in the table's order (columns
    lost_region_id, model_id, platform_id, region_id, quarter, slot, spr, replica_qps).
    """
    cols = ["lost_region_id", "model_id", "platform_id", "region_id", "quarter", "slot", "spr",
            "replica_qps"]
    if not enabled(slotted):
        return mm, pd.DataFrame(columns=cols)
    n = slot_count(slotted)
    slot = model_slots(slotted)
    phase = slotted.models.set_index("model_id")["phase"]
    survivors = backups(slotted)
    cand = mm.candidates[["model_id", "platform_id", "servers_per_replica", "replica_qps"]]
    top_qps = cand.groupby("model_id")["replica_qps"].max()
    emerg = slotted.settings.disaster_recovery.emergency_utilization
    x_nnz = np.diff(mm.matrix.tocsr()[:, : mm.n_x].indptr)
    dr_rows = np.flatnonzero(mm.row_family == FAMILIES.index("dr"))
    parts = []
    for i in dr_rows:
        m, lost, t = mm.row_key[i]
        if not x_nnz[i]:
            continue
        for r in survivors.get(lost, []):
            c = cand[cand["model_id"] == m]
            parts.append(c.assign(lost_region_id=lost, region_id=r, quarter=int(t), dr_row=i))
    if not parts:
        return mm, pd.DataFrame(columns=cols)
    z = pd.concat(parts, ignore_index=True).rename(columns={"servers_per_replica": "spr"})
    z["slot"] = z["model_id"].map(slot).astype(int)
    k, n_rows, n_cols = len(z), mm.n_rows, mm.n_cols
    zcol = np.arange(k) + n_cols
    ri = [z["dr_row"].to_numpy()]
    ci = [zcol]
    vi = [emerg * z["replica_qps"].to_numpy() / (emerg * z["model_id"].map(top_qps).to_numpy())]
    # pre-emption rows (p, r, t, slot, lost): emergency servers <= training servers there
    row_of: dict[tuple, int] = {}
    rr, rc, rv = [], [], []
    for j, e in enumerate(z.itertuples(index=False)):
        for s in slots_of(e.slot, n):
            key = (e.platform_id, e.region_id, e.quarter, s, e.lost_region_id)
            rr.append(row_of.setdefault(key, len(row_of)))
            rc.append(zcol[j])
            rv.append(float(e.spr))
    lost_of = {r: [f for f, rs in survivors.items() if r in rs] for r in survivors}
    x = mm.x
    for j in np.flatnonzero(x["model_id"].map(phase).to_numpy() == "training"):
        m, p, r, t, spr = (x.at[j, "model_id"], x.at[j, "platform_id"], x.at[j, "region_id"],
                           int(x.at[j, "quarter"]), float(x.at[j, "spr"]))
        for s in slots_of(slot[m], n):
            for lost in lost_of.get(r, []):
                row = row_of.get((p, r, t, s, lost))
                if row is not None:
                    rr.append(row)
                    rc.append(j)
                    rv.append(-spr)
    n_pre = len(row_of)
    ri.append(np.asarray(rr, dtype=np.int64) + n_rows)
    ci.append(np.asarray(rc, dtype=np.int64))
    vi.append(np.asarray(rv, dtype=float))
    extra = sp.coo_matrix(
        (np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))),
        shape=(n_rows + n_pre, n_cols + k),
    )
    grown = sp.vstack(
        [sp.hstack([mm.matrix, sp.csr_matrix((n_rows, k))]), sp.csr_matrix((n_pre, n_cols + k))]
    )
    dedicated = slotted.settings.allocation == "dedicated"
    out = dataclasses.replace(
        mm,
        cost=np.concatenate([mm.cost, np.zeros(k)]),
        lower=np.concatenate([mm.lower, np.zeros(k)]),
        upper=np.concatenate([mm.upper, np.full(k, np.inf)]),
        integer=np.concatenate([mm.integer, np.full(k, dedicated)]),
        matrix=(grown.tocsr() + extra.tocsr()).tocsr(),
        row_lower=np.concatenate([mm.row_lower, np.full(n_pre, -np.inf)]),
        row_upper=np.concatenate([mm.row_upper, np.zeros(n_pre)]),
        row_family=np.concatenate(
            [mm.row_family, np.full(n_pre, FAMILIES.index("preempt"), dtype=np.int8)]
        ),
        row_key=[*mm.row_key, *row_of],
    )
    out.info = {**mm.info, "emergency_columns": k}
    return out, z[cols]


def emergency(z: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """Return the plan's emergency replicas (nonzero only): what a region loss pre-empts."""
    if z.empty:
        return emergency_frame()
    replicas = np.asarray(values, dtype=float)
    replicas[np.abs(replicas) < 1e-6] = 0.0
    out = z.assign(replicas=replicas, servers=replicas * z["spr"].to_numpy())
    return out[out["replicas"] > 0][EMERGENCY_COLUMNS].reset_index(drop=True)


def preemptible_share(slotted: Fleet, load: pd.DataFrame, rescue: pd.DataFrame) -> float:
    """Return the share of training server-hours on servers a region loss would pre-empt.

    Per (platform, region, quarter, slot): the training servers, up to the most emergency
    servers any one lost region would start there (``load`` is
    :func:`planner.diurnal.slot_load`, ``rescue`` the plan's emergency replicas).
    """
    trained = float((load["training_servers"] * load["hours"]).sum()) if len(load) else 0.0
    if rescue.empty or trained <= 0:
        return 0.0
    n = slot_count(slotted)
    slot = model_slots(slotted)
    taken: dict[tuple, float] = {}
    for e in rescue.itertuples(index=False):
        for sl in slots_of(slot[e.model_id], n):
            key = (e.platform_id, e.region_id, int(e.quarter), sl, e.lost_region_id)
            taken[key] = taken.get(key, 0.0) + float(e.servers)
    worst: dict[tuple, float] = {}
    for (p, r, t, sl, _), servers in taken.items():
        worst[(p, r, t, sl)] = max(worst.get((p, r, t, sl), 0.0), servers)
    hours = 0.0
    for row in load.itertuples(index=False):
        key = (row.platform_id, row.region_id, int(row.quarter), int(row.slot))
        hours += min(float(row.training_servers), worst.get(key, 0.0)) * float(row.hours)
    return hours / trained


def emergency_frame() -> pd.DataFrame:
    """Return an empty emergency-replica table."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in EMERGENCY_COLUMNS})


def read_emergency(path) -> pd.DataFrame:
    """Read a plan's ``dr_preemption.csv`` (as :func:`emergency` makes it), typed.

    Raises:
        FleetDataError: The file lacks a column of :data:`EMERGENCY_COLUMNS`.
    """
    from planner.errors import FleetDataError, Problem

    ids = ["lost_region_id", "model_id", "platform_id", "region_id"]
    frame = pd.read_csv(path, dtype=dict.fromkeys(ids, str))
    missing = [c for c in EMERGENCY_COLUMNS if c not in frame.columns]
    if missing:
        raise FleetDataError(
            [Problem(str(path), f"missing columns {missing}", "write it again with `plan`")],
            header="Cannot read the plan",
        )
    return frame.astype({"quarter": "int64", "replicas": "float64", "servers": "float64"})


def check_emergency(served: Fleet, plan, moves: pd.DataFrame) -> list[str]:
    """Return one line per broken DR or pre-emption rule of a plan with emergency replicas.

    ``served`` is the slotted fleet with its demand where it is served; ``moves`` the plan's
    ``emergency`` table. Recomputed from the plan's allocation, not from the model.
    """
    from planner.demand import peak_demand
    from planner.parameters import candidates

    s = served.settings
    dr = s.disaster_recovery
    n = slot_count(served)
    slot = model_slots(served)
    phase = served.models.set_index("model_id")["phase"]
    rq = candidates(served).set_index(["model_id", "platform_id"])["replica_qps"]
    alloc = plan.allocation
    qps = alloc.groupby(["model_id", "region_id", "quarter"])["capacity_qps"].sum()
    extra = (
        moves.assign(qps=moves["replicas"] * [rq[(m, p)] for m, p in zip(
            moves["model_id"], moves["platform_id"], strict=True)])
        .groupby(["lost_region_id", "model_id", "region_id", "quarter"])["qps"].sum()
        if len(moves) else pd.Series(dtype=float)
    )
    need = peak_demand(served).set_index(["model_id", "region_id", "quarter"])["peak_qps"]
    survivors = backups(served)
    problems = []
    for (m, lost, t), peak in need.items():
        if phase[m] not in dr.phases:
            continue
        group = survivors.get(lost, [])
        have = sum(float(qps.get((m, r, t), 0.0)) + float(extra.get((lost, m, r, t), 0.0))
                   for r in group) * dr.emergency_utilization
        want = float(peak) + sum(float(need.get((m, r, t), 0.0)) for r in group)
        if have < want * (1 - REL_TOL) - 1e-9:
            problems.append(f"{m} losing {lost} Q{t}: backups give {have:,.1f} < {want:,.1f} qps")
    train = alloc[alloc["model_id"].map(phase) == "training"]
    used: dict[tuple, float] = {}
    for a in train.itertuples(index=False):
        for sl in slots_of(slot[a.model_id], n):
            key = (a.platform_id, a.region_id, int(a.quarter), sl)
            used[key] = used.get(key, 0.0) + float(a.servers)
    taken: dict[tuple, float] = {}
    for e in moves.itertuples(index=False):
        for sl in slots_of(slot[e.model_id], n):
            key = (e.platform_id, e.region_id, int(e.quarter), sl, e.lost_region_id)
            taken[key] = taken.get(key, 0.0) + float(e.servers)
    for (p, r, t, sl, lost), servers in sorted(taken.items()):
        have = used.get((p, r, t, sl), 0.0)
        if servers > have * (1 + REL_TOL) + 1e-9:
            problems.append(
                f"losing {lost}: {servers:,.1f} emergency servers on {p} in {r} Q{t} slot {sl} "
                f"> {have:,.1f} training servers to pre-empt"
            )
    return problems
