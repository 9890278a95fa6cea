"""Follow the sun: a region's inference served from another region in the same slot.

With ``settings.diurnal.follow_sun_share`` = s > 0, the slotted model gets one *shift*
column ``f[m, a->b, t]`` (queries/s of copy m, so of one slot) per ``topology.csv`` edge
a -> b (b may serve a's users) whose ``network_latency_ms`` is at most
``follow_sun_latency_share`` x the model's ``latency_slo_ms`` and where both regions have
demand for the copy in quarter t:

- demand rows: ``cap(m, a, t) + f >= D(m, a, t)`` and ``cap(m, b, t) - f >= D(m, b, t)``;
- share rows (family ``follow_sun``): ``sum_b f[m, a->b, t] <= s * D(m, a, t)``;
- DR rows, losing region F with backups S(F): the demand to carry is that of
  G = {F} + S(F) *after* the shifts, so ``f`` enters with +1 when a is in G and b is not,
  -1 when b is in G and a is not (a shift inside G changes nothing).

So the shifted plan is an ordinary plan of the *served* fleet, whose demand rows are moved
to where they are served (:func:`served_demand`), and :func:`planner.verify.verify_plan` on
that fleet checks it independently. A shift of a slot's peak serves every hour of the slot:
an hour of region a below the peak sends at most its own load, and b's hours are at most
its slot peak, so b's capacity for ``D_b + f`` covers them (:func:`served_hourly`).
Serving throughput per server is the profile's at the full SLO: the latency share is the
planner's allowance for the network, not a re-derivation of throughput at a tighter bound.
Only the array model (:func:`planner.scale.build_matrix`, solved by HiGHS) has shifts;
:func:`planner.model.build_model` plans slotted fleets without them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.diurnal.layout import BASE_COLUMN, EVERY_SLOT, HOURS_PER_DAY, SLOT_COLUMN
from planner.fleet import Fleet
from planner.scale import FAMILIES, MatrixModel
from planner.topology import backups

SHIFT_COLUMNS = [
    "model_id",
    BASE_COLUMN,
    SLOT_COLUMN,
    "quarter",
    "from_region_id",
    "to_region_id",
    "network_latency_ms",
]
MOVED_COLUMNS = [*SHIFT_COLUMNS, "qps", "hours"]
MOVE_COST = 1e-6  # kUSD per unit (one replica's usable qps): breaks ties towards serving locally


def shift_edges(slotted: Fleet, mm: MatrixModel) -> pd.DataFrame:
    """Return the shifts the model may make: one row per (copy, edge, quarter) that fits.

    Columns :data:`SHIFT_COLUMNS` plus ``from_row``/``to_row`` (positions in ``mm.demand``)
    and ``peak_from`` (the origin's slot demand, qps). Empty when the setting is off.
    """
    settings = slotted.settings.diurnal
    topo = slotted.topology
    empty = pd.DataFrame(columns=[*SHIFT_COLUMNS, "from_row", "to_row", "peak_from"])
    if settings.follow_sun_share <= 0 or topo.empty or "network_latency_ms" not in topo:
        return empty
    edges = topo[["region_id", "backup_region_id", "network_latency_ms"]].dropna()
    edges = edges[edges["region_id"] != edges["backup_region_id"]]
    models = slotted.models.set_index("model_id")
    dem = mm.demand[["model_id", "region_id", "quarter", "peak_qps"]].reset_index(drop=True)
    dem = dem.assign(row=np.arange(len(dem)))
    dem = dem[dem["model_id"].map(models["phase"]) == "inference"]
    pairs = dem.merge(edges, on="region_id").merge(
        dem[["model_id", "region_id", "quarter", "row"]],
        left_on=["model_id", "backup_region_id", "quarter"],
        right_on=["model_id", "region_id", "quarter"],
        suffixes=("", "_to"),
    )
    slo = pairs["model_id"].map(models["latency_slo_ms"]).astype(float)
    pairs = pairs[pairs["network_latency_ms"] <= settings.follow_sun_latency_share * slo]
    if pairs.empty:
        return empty
    out = pd.DataFrame(
        {
            "model_id": pairs["model_id"],
            BASE_COLUMN: pairs["model_id"].map(models[BASE_COLUMN]),
            SLOT_COLUMN: pairs["model_id"].map(models[SLOT_COLUMN]).astype(int),
            "quarter": pairs["quarter"].astype(int),
            "from_region_id": pairs["region_id"],
            "to_region_id": pairs["backup_region_id"],
            "network_latency_ms": pairs["network_latency_ms"].astype(float),
            "from_row": pairs["row"].astype(int),
            "to_row": pairs["row_to"].astype(int),
            "peak_from": pairs["peak_qps"].astype(float),
        }
    )
    return out.sort_values(SHIFT_COLUMNS[:6]).reset_index(drop=True)


def add_shifts(slotted: Fleet, mm: MatrixModel) -> tuple[MatrixModel, pd.DataFrame]:
    """Return ``mm`` with follow-the-sun shift columns and rows, and the shifts' table.

    The shift columns come after every column of ``mm`` (x, b, y), in the table's order;
    a column's value is queries/s divided by the model's largest usable replica throughput
    (the demand rows' scale), so :func:`moved` multiplies it back by ``scale``.
    """
    shifts = shift_edges(slotted, mm)
    if shifts.empty:
        return mm, shifts.assign(scale=pd.Series(dtype=float))
    s = slotted.settings
    top_qps = mm.candidates.groupby("model_id")["replica_qps"].max()
    d_top = s.target_utilization * shifts["model_id"].map(top_qps).to_numpy(dtype=float)
    shifts = shifts.assign(scale=d_top)
    n_rows, n_cols, k = mm.n_rows, mm.n_cols, len(shifts)
    cols = np.arange(k) + n_cols
    family = mm.row_family
    demand_rows = {
        key: i for i, key in enumerate(mm.row_key) if family[i] == FAMILIES.index("demand")
    }
    keys = list(zip(mm.demand["model_id"], mm.demand["region_id"], mm.demand["quarter"].astype(int),
                    strict=True))
    from_rows = np.array([demand_rows[keys[r]] for r in shifts["from_row"]], dtype=np.int64)
    to_rows = np.array([demand_rows[keys[r]] for r in shifts["to_row"]], dtype=np.int64)
    ri, ci, vi = [from_rows, to_rows], [cols, cols], [np.ones(k), -np.ones(k)]
    # DR rows: the demand of G = {lost} + backups after the shifts (scale: emergency qps).
    dr = s.disaster_recovery
    if dr.enabled:
        survivors = backups(slotted)
        x_nnz = np.diff(mm.matrix.tocsr()[:, : mm.n_x].indptr)
        by_model = shifts.groupby(["model_id", "quarter"]).indices
        for i in np.flatnonzero(family == FAMILIES.index("dr")):
            m, lost, t = mm.row_key[i]
            group = {lost, *survivors.get(lost, [])}
            r_top = dr.emergency_utilization * float(top_qps[m]) if x_nnz[i] else 1.0
            for j in by_model.get((m, int(t)), []):
                sign = int(shifts.at[j, "from_region_id"] in group) - int(
                    shifts.at[j, "to_region_id"] in group
                )
                if sign:
                    ri.append(np.array([i]))
                    ci.append(np.array([cols[j]]))
                    vi.append(np.array([sign * d_top[j] / r_top]))
    # share rows: sum over a region's out-edges of a copy's shift <= share x its demand
    origin = shifts.groupby(["model_id", "from_region_id", "quarter"], sort=True).ngroup()
    n_share = int(origin.max()) + 1
    ri.append(origin.to_numpy() + n_rows)
    ci.append(cols)
    vi.append(np.ones(k))
    first = shifts.groupby(origin.to_numpy()).head(1).sort_index()
    cap = (
        s.diurnal.follow_sun_share
        * first["peak_from"].to_numpy()
        / d_top[first.index.to_numpy()]
    )
    share_keys = list(
        zip(first["model_id"], first["from_region_id"], first["quarter"].astype(int), strict=True)
    )
    order = np.argsort(origin.to_numpy()[first.index.to_numpy()])
    cap, share_keys = cap[order], [share_keys[o] for o in order]
    extra = sp.coo_matrix(
        (np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))),
        shape=(n_rows + n_share, n_cols + k),
    )
    grown = sp.vstack(
        [sp.hstack([mm.matrix, sp.csr_matrix((n_rows, k))]), sp.csr_matrix((n_share, n_cols + k))]
    )
    matrix = (grown.tocsr() + extra.tocsr()).tocsr()
    out = dataclasses.replace(
        mm,
        cost=np.concatenate([mm.cost, np.full(k, MOVE_COST)]),
        lower=np.concatenate([mm.lower, np.zeros(k)]),
        upper=np.concatenate([mm.upper, np.full(k, np.inf)]),
        integer=np.concatenate([mm.integer, np.zeros(k, dtype=bool)]),
        matrix=matrix,
        row_lower=np.concatenate([mm.row_lower, np.full(n_share, -np.inf)]),
        row_upper=np.concatenate([mm.row_upper, cap]),
        row_family=np.concatenate(
            [mm.row_family, np.full(n_share, FAMILIES.index("follow_sun"), dtype=np.int8)]
        ),
        row_key=[*mm.row_key, *share_keys],
    )
    out.info = {**mm.info, "follow_sun_columns": k}
    return out, shifts


def moved(shifts: pd.DataFrame, values: np.ndarray, n_slots: int) -> pd.DataFrame:
    """Return the load each shift moves (queries/s, over ``hours`` of the day), nonzero only.

    ``values`` are the solved shift columns, in the order of ``shifts``.
    """
    if shifts.empty:
        return pd.DataFrame(columns=MOVED_COLUMNS)
    qps = np.asarray(values, dtype=float) * shifts["scale"].to_numpy()
    length = HOURS_PER_DAY // n_slots
    hours = np.where(shifts[SLOT_COLUMN].to_numpy() == EVERY_SLOT, HOURS_PER_DAY, length)
    out = shifts[SHIFT_COLUMNS].assign(qps=qps, hours=hours)
    return out[out["qps"] > 1e-6].reset_index(drop=True)


def read_moves(path) -> pd.DataFrame:
    """Read a plan's ``follow_sun.csv`` (as :func:`moved` makes it) with typed columns.

    Raises:
        FleetDataError: The file lacks a column of :data:`MOVED_COLUMNS`.
    """
    from planner.errors import FleetDataError, Problem

    frame = pd.read_csv(path, dtype={"model_id": str, BASE_COLUMN: str,
                                     "from_region_id": str, "to_region_id": str})
    missing = [c for c in MOVED_COLUMNS if c not in frame.columns]
    if missing:
        raise FleetDataError(
            [Problem(str(path), f"missing columns {missing}", "write it again with `plan`")],
            header="Cannot read the plan",
        )
    return frame.astype({SLOT_COLUMN: "int64", "quarter": "int64", "qps": "float64"})


def served_demand(demand: pd.DataFrame, moves: pd.DataFrame) -> pd.DataFrame:
    """Return demand rows moved to where they are served (origin minus, destination plus)."""
    if moves.empty:
        return demand
    key = ["model_id", "region_id", "quarter"]
    out_ = moves.groupby(["model_id", "from_region_id", "quarter"])["qps"].sum()
    in_ = moves.groupby(["model_id", "to_region_id", "quarter"])["qps"].sum()
    index = pd.MultiIndex.from_frame(demand[key].astype({"quarter": "int64"}))
    net = in_.reindex(index).fillna(0.0).to_numpy() - out_.reindex(index).fillna(0.0).to_numpy()
    served = demand["peak_qps"].to_numpy(dtype=float) + net
    return demand.assign(peak_qps=np.clip(served, 0.0, None))


def served_hourly(hourly: pd.DataFrame, moves: pd.DataFrame, n_slots: int) -> pd.DataFrame:
    """Return hourly demand where it is served: each hour of a shifted slot moves its shift.

    An origin's hour below the shift sends only its own load (clipped at 0); the destination
    gets the whole shift (it is sized for it), so the check stays on the safe side.
    """
    if moves.empty:
        return hourly
    length = HOURS_PER_DAY // n_slots
    frame = hourly.assign(slot=hourly["hour"].to_numpy() // length)
    key = ["model_id", "region_id", "quarter", "slot"]
    index = pd.MultiIndex.from_frame(frame[key].astype({"quarter": "int64", "slot": "int64"}))
    delta = np.zeros(len(frame))
    for sign, region in ((-1.0, "from_region_id"), (1.0, "to_region_id")):
        parts = [
            (m.base_model_id, getattr(m, region), int(m.quarter), s, m.qps)
            for m in moves.itertuples(index=False)
            for s in (range(n_slots) if m.slot == EVERY_SLOT else (m.slot,))
        ]
        add = pd.DataFrame(parts, columns=[*key, "qps"]).groupby(key)["qps"].sum()
        delta += sign * add.reindex(index).fillna(0.0).to_numpy()
    return hourly.assign(qps=(frame["qps"].to_numpy() + delta).clip(min=0.0))


def moved_share(moves: pd.DataFrame, hourly: pd.DataFrame) -> float:
    """Return the share of the day's inference load (queries) served in another region."""
    total = float(hourly["qps"].sum())
    if moves.empty or total <= 0:
        return 0.0
    return float((moves["qps"] * moves["hours"]).sum()) / total
