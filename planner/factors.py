"""Named estimated factors: which profile rows use them, and the case re-derived at a new value.

A case's ``factors.csv`` names every estimated factor of its derivation with a plausible
range. A profile row's ``factors`` cell lists the factors its throughput was derived with,
``name`` for proportional and ``name^-1`` for inversely proportional (a divisor), separated
by ``;``. Because the derivation is a product of such factors, changing one factor from
``value`` to ``new`` re-derives a row exactly: its throughput is multiplied by
``(new / value) ** exponent``. No derivation inputs outside the case are needed.
"""

from __future__ import annotations

import re

import pandas as pd

from planner.fleet import Fleet

_TERM = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?:\^(?P<exp>[+-]?\d+(?:\.\d+)?))?$")


def parse_factor_list(cell: object) -> list[tuple[str, float]]:
    """Return the (factor_id, exponent) pairs of a ``profiles.factors`` cell.

    Raises:
        ValueError: When a term is not ``name`` or ``name^exponent``.
    """
    if cell is None or (isinstance(cell, float) and pd.isna(cell)) or not str(cell).strip():
        return []
    out = []
    for term in str(cell).split(";"):
        match = _TERM.match(term.strip())
        if match is None:
            raise ValueError(
                f"'{term.strip()}' is not a factor term: write name or name^-1, separated by ';'"
            )
        out.append((match["name"], float(match["exp"] or 1.0)))
    return out


def _scale(rows: pd.DataFrame, factor_id: str, ratio: float) -> pd.DataFrame:
    if rows.empty or "factors" not in rows.columns:
        return rows
    multipliers = [
        ratio ** sum(e for n, e in parse_factor_list(cell) if n == factor_id)
        for cell in rows["factors"]
    ]
    out = rows.copy()
    out["qps_per_server"] = out["qps_per_server"] * pd.Series(multipliers, index=rows.index)
    return out


def rows_using(fleet: Fleet, factor_id: str) -> pd.DataFrame:
    """Return the profile rows (read at the SLOs) whose derivation used ``factor_id``."""
    if "factors" not in fleet.profiles.columns:
        return fleet.profiles.iloc[0:0]
    used = [
        any(n == factor_id for n, _ in parse_factor_list(cell))
        for cell in fleet.profiles["factors"]
    ]
    return fleet.profiles[pd.Series(used, index=fleet.profiles.index, dtype=bool)]


def with_factor(fleet: Fleet, factor_id: str, value: float) -> Fleet:
    """Return the fleet re-derived with ``factor_id`` at ``value`` (profiles and curves).

    Raises:
        KeyError: When the case's factors table has no such factor.
    """
    table = fleet.factors
    match = table["factor_id"] == factor_id
    if not match.any():
        known = ", ".join(table["factor_id"]) or "none (the case has no factors.csv)"
        raise KeyError(f"unknown factor '{factor_id}'; known: {known}")
    ratio = float(value) / float(table.loc[match, "value"].iloc[0])
    factors = table.copy()
    factors.loc[match, "value"] = float(value)
    return fleet.replace(
        profiles=_scale(fleet.profiles, factor_id, ratio),
        profile_curves=_scale(fleet.profile_curves, factor_id, ratio),
        factors=factors,
    )
