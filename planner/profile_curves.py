"""Latency-bounded throughput curves: reading each curve at its model's SLO.

A ``profiles.csv`` row with a ``latency_ms`` is one point of a curve: a server of
``platform_id`` sustains ``qps_per_server`` of ``model_id`` with the ``percentile`` latency
within ``latency_ms``. A row with a blank ``latency_ms`` is a single point, the throughput at
the model's SLO (the format before curves; it never moves with the SLO). The profiler
(:mod:`planner.profiler`) writes the same rows, so this module is the one reader for both.

Reading a curve at an SLO of ``b`` ms at percentile ``q`` (:func:`read_at_slo`):

- the curve used is the one at percentile ``q``, else at the smallest percentile above ``q``
  (a bound met at p99 is also met at p95: a conservative reading); a curve only at lower
  percentiles cannot serve the model;
- linear between the two bounds around ``b``; at or above the largest bound, the largest
  bound's value; below the smallest bound there is no row: the platform cannot serve the model
  within its SLO.

The read rows keep the SLO they were read at in ``latency_ms`` and ``percentile``, so
:func:`follow_slos` can re-read them when a scenario changes an SLO, scaling any multiplier
applied since (a platform's throughput change) along.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CURVE_KEY = ("model_id", "platform_id", "latency_ms", "percentile")
PAIR = ["model_id", "platform_id"]
READ_COLUMNS = [
    "model_id",
    "platform_id",
    "latency_ms",
    "percentile",
    "qps_per_server",
    "power_w_at_load",
    "source",
    "source_kind",
    "factors",
]

# Statuses of :func:`slo_coverage`.
SERVES = "serves"
BELOW_CURVE = "below smallest bound"
NO_PERCENTILE = "no curve at or above the percentile"


def is_curve_row(rows: pd.DataFrame) -> pd.Series:
    """Return a mask of the rows that are curve points (a ``latency_ms`` is given)."""
    if "latency_ms" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["latency_ms"].notna()


def curve_percentile(percentiles: pd.Series, wanted: float) -> float | None:
    """Return the percentile of the curve that serves an SLO at ``wanted``, or None.

    The curve at ``wanted`` itself, else the smallest percentile above it (conservative).
    """
    usable = sorted(float(p) for p in percentiles.dropna().unique() if p >= wanted - 1e-9)
    return usable[0] if usable else None


def _read_one(group: pd.DataFrame, bound: float, pct: float) -> dict | None:
    """Read one (model, platform) curve at ``bound`` ms / ``pct``; None when it cannot serve."""
    used = curve_percentile(group["percentile"], pct)
    if used is None:
        return None
    g = group[np.isclose(group["percentile"], used)].sort_values("latency_ms")
    bounds = g["latency_ms"].to_numpy(dtype=float)
    if bound < bounds[0] - 1e-9:
        return None
    qps = float(np.interp(bound, bounds, g["qps_per_server"].to_numpy(dtype=float)))
    exact = bool(np.isclose(bounds, bound).any()) or bound >= bounds[-1]
    # The point at or just above the SLO gives the source, power and factors: the SLO is met
    # at that bound's throughput or more, and its derivation is the one the value rests on.
    at = g.iloc[min(int(np.searchsorted(bounds, bound - 1e-9)), len(g) - 1)]
    how = "at" if exact else "interpolated linearly at"
    pct_note = "" if np.isclose(used, pct) else f" (conservatively from the p{used:g} curve)"
    power = at.get("power_w_at_load")
    return {
        "model_id": at["model_id"],
        "platform_id": at["platform_id"],
        "latency_ms": float(bound),
        "percentile": float(pct),
        "qps_per_server": qps,
        "power_w_at_load": None if power is None or pd.isna(power) else float(power),
        "source": f"curve {bounds[0]:g}-{bounds[-1]:g} ms p{used:g} read {how} the SLO "
        f"{bound:g} ms p{pct:g}{pct_note}; {at['source']}",
        "source_kind": at["source_kind"] if exact else "derived",
        "factors": at.get("factors") if "factors" in g.columns else None,
    }


def read_at_slo(curves: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Read every curve at its model's SLO, giving one single-point row per pair that serves.

    Args:
        curves: Curve rows (``model_id``, ``platform_id``, ``latency_ms``, ``percentile``,
            ``qps_per_server``, ``source``, ``source_kind``; ``power_w_at_load`` and
            ``factors`` optional), e.g. profiler output or the curve rows of ``profiles.csv``.
        models: A ``models.csv`` table (``model_id``, ``latency_slo_ms``,
            ``latency_percentile``).

    Returns:
        Rows with :data:`READ_COLUMNS`; ``latency_ms`` and ``percentile`` are the SLO each
        row was read at. Interpolated values are ``derived``. Pairs that cannot serve their
        model's SLO (see the module docstring) and curves of unknown models have no row.
    """
    slo = models.drop_duplicates("model_id").set_index("model_id")
    rows = []
    if not curves.empty:
        for (m, _), group in curves.groupby(PAIR, sort=False):
            if m not in slo.index:
                continue
            row = _read_one(
                group, float(slo.at[m, "latency_slo_ms"]), float(slo.at[m, "latency_percentile"])
            )
            if row is not None:
                rows.append(row)
    return pd.DataFrame(rows, columns=READ_COLUMNS)


def slo_coverage(curves: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Return, for every curve, whether it serves its model's SLO and why not.

    Returns:
        One row per (model, platform) curve of a known model: ``model_id``, ``platform_id``,
        ``slo_ms``, ``slo_percentile``, ``smallest_bound_ms`` (at the percentile used, NaN
        when none serves), ``curve_percentiles`` (text) and ``status`` (:data:`SERVES`,
        :data:`BELOW_CURVE` or :data:`NO_PERCENTILE`); ``row`` is the first curve row's
        index.
    """
    slo = models.drop_duplicates("model_id").set_index("model_id")
    out = []
    if not curves.empty:
        for (m, p), group in curves.groupby(PAIR, sort=False):
            if m not in slo.index:
                continue
            bound = float(slo.at[m, "latency_slo_ms"])
            pct = float(slo.at[m, "latency_percentile"])
            used = curve_percentile(group["percentile"], pct)
            smallest = (
                float(group.loc[np.isclose(group["percentile"], used), "latency_ms"].min())
                if used is not None
                else float("nan")
            )
            if used is None:
                status = NO_PERCENTILE
            elif bound < smallest - 1e-9:
                status = BELOW_CURVE
            else:
                status = SERVES
            out.append(
                {
                    "model_id": m,
                    "platform_id": p,
                    "slo_ms": bound,
                    "slo_percentile": pct,
                    "smallest_bound_ms": smallest,
                    "curve_percentiles": ", ".join(
                        f"p{v:g}" for v in sorted(group["percentile"].unique())
                    ),
                    "status": status,
                    "row": group.index[0],
                }
            )
    columns = [
        "model_id",
        "platform_id",
        "slo_ms",
        "slo_percentile",
        "smallest_bound_ms",
        "curve_percentiles",
        "status",
        "row",
    ]
    return pd.DataFrame(out, columns=columns)


def resolve_profiles(rows: pd.DataFrame, models: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``profiles.csv`` rows into (profiles read at the SLOs, curve rows).

    Single-point rows pass through unchanged, in file order; then one row per curve that
    serves its model's SLO, in the order the curves first appear.

    Returns:
        (profiles with one row per pair, the curve rows with their file index).
    """
    curve = is_curve_row(rows)
    curves = rows[curve]
    single = rows[~curve]
    read = read_at_slo(curves, models)
    if read.empty:
        return single.reset_index(drop=True), curves
    read = read.reindex(columns=rows.columns)
    profiles = pd.concat([single, read.astype(single.dtypes.to_dict())], ignore_index=True)
    return profiles, curves


def _slo_of(profiles: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    slo = models.drop_duplicates("model_id").set_index("model_id")
    return pd.DataFrame(
        {
            "bound": profiles["model_id"].map(slo["latency_slo_ms"]),
            "pct": profiles["model_id"].map(slo["latency_percentile"]),
        },
        index=profiles.index,
    )


def follow_slos(profiles: pd.DataFrame, curves: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Re-read the curve rows of models whose SLO differs from the one they were read at.

    A re-read row keeps any multiplier applied since it was read: its throughput is scaled
    by curve(new SLO) / curve(old SLO). Pairs that no longer serve are dropped; curve pairs
    that start to serve (a looser SLO) are added. Single-point rows never move.

    Returns:
        ``profiles`` itself when nothing changed, else a new table.
    """
    if curves is None or curves.empty or "latency_ms" not in profiles.columns:
        return profiles
    read = profiles["latency_ms"].notna()
    slo = _slo_of(profiles, models)
    moved = read & ~(
        np.isclose(profiles["latency_ms"], slo["bound"])
        & np.isclose(profiles["percentile"], slo["pct"])
    )
    if not moved.any():
        return profiles
    changed = set(profiles.loc[moved, "model_id"])
    kept = profiles[~(read & profiles["model_id"].isin(changed))]
    old = profiles[read & profiles["model_id"].isin(changed)].set_index(PAIR)
    fresh = read_at_slo(curves[curves["model_id"].isin(changed)], models)
    rows = []
    for r in fresh.to_dict("records"):
        key = (r["model_id"], r["platform_id"])
        if key in old.index:
            before = old.loc[key]
            at_old = _read_one(
                curves[(curves["model_id"] == key[0]) & (curves["platform_id"] == key[1])],
                float(before["latency_ms"]),
                float(before["percentile"]),
            )
            if at_old is not None and at_old["qps_per_server"] > 0:
                r["qps_per_server"] *= float(before["qps_per_server"]) / at_old["qps_per_server"]
        rows.append(r)
    if not rows:
        return kept.reset_index(drop=True)
    added = pd.DataFrame(rows).reindex(columns=profiles.columns)
    return pd.concat([kept, added.astype(profiles.dtypes.to_dict())], ignore_index=True)


def curve_rows_for_file(profiles: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Return the ``profiles.csv`` rows that load back to ``profiles``.

    Single-point rows as they are; for each pair read from a curve, its curve rows scaled by
    the factor applied since reading (1 when none); curves that serve no SLO unchanged.
    """
    if curves is None or curves.empty:
        return profiles
    read = profiles["latency_ms"].notna()
    out = [profiles[~read]]
    by_pair = {k: g for k, g in curves.groupby(PAIR, sort=False)}
    present = set()
    for r in profiles[read].itertuples(index=False):
        key = (r.model_id, r.platform_id)
        group = by_pair.get(key)
        if group is None:
            continue
        present.add(key)
        at = _read_one(group, float(r.latency_ms), float(r.percentile))
        scale = 1.0 if at is None else float(r.qps_per_server) / at["qps_per_server"]
        group = group.copy()
        if not np.isclose(scale, 1.0, rtol=1e-12, atol=0):
            group["qps_per_server"] = group["qps_per_server"] * scale
        out.append(group)
    out += [g for k, g in by_pair.items() if k not in present]
    return pd.concat(out, ignore_index=True)
