"""A plan's tables from a solution vector of the array model, built column-wise.

:func:`planner.scale.plan_from_values` goes through
:func:`planner.results.plan_from_decisions`, which looks up every replica row's model and
candidate one by one (``DataFrame.at``): about half of a plan's table build, and a large
share of a sweep scenario once the solve takes well under a second. :func:`plan_tables`
builds the same tables from the array model's own columns (``mm.x`` already carries each
column's servers per replica and replica throughput) and shares the rest of the build with
``plan_from_decisions`` (served split, fleet, power and cost tables), so both give the same
plan; ``tests/test_sweeps.py`` pins them to each other. The plan is verified like any other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model import cost_coefficients
from planner.results import (
    ALLOCATION_COLUMNS,
    PURCHASE_COLUMNS,
    UNITS,
    Plan,
    _fleet_table,
    cost_table,
    power_table,
    served_split,
)
from planner.scale import MatrixModel

NOISE = 1e-6  # solver noise below this is zero (as in plan_from_values)


def plan_tables(mm: MatrixModel, values: np.ndarray) -> Plan:
    """Return the :class:`Plan` of a solution vector of ``mm`` (integers rounded).

    The same plan as :func:`planner.scale.plan_from_values` (same rounding, same in-service
    rule, same tables and units); ``summary`` is left empty.
    """
    fleet = mm.fleet
    dedicated = fleet.settings.allocation == "dedicated"
    n_x, n_b = mm.n_x, len(mm.b)
    x = values[:n_x].copy()
    b = np.round(values[n_x : n_x + n_b])
    y = values[n_x + n_b :]
    x[np.abs(x) < NOISE] = 0.0
    if dedicated:
        x = np.round(x)

    platforms = fleet.platforms.set_index("platform_id")
    classes = platforms["platform_class"]
    models = fleet.models.set_index("model_id")
    keep = x > 0
    xs = mm.x[keep]
    n = x[keep]
    # Python lists, as plan_from_decisions builds its rows: the same column dtypes result
    alloc = pd.DataFrame(
        {
            "model_id": xs["model_id"].tolist(),
            "bucket": xs["model_id"].map(models["bucket"]).tolist(),
            "phase": xs["model_id"].map(models["phase"]).tolist(),
            "platform_id": xs["platform_id"].tolist(),
            "platform_class": xs["platform_id"].map(classes).tolist(),
            "region_id": xs["region_id"].tolist(),
            "quarter": xs["quarter"].astype(int).tolist(),
            "replicas": n.tolist(),
            "servers": (n * xs["spr"].to_numpy()).tolist(),
            "capacity_qps": (n * xs["replica_qps"].to_numpy()).tolist(),
        },
        columns=ALLOCATION_COLUMNS,
    )
    # rows in plan_from_decisions' order, so the served split sums in the same order
    alloc = alloc.sort_values(
        ["model_id", "platform_id", "region_id", "quarter"], ignore_index=True
    )
    alloc = served_split(alloc, mm.demand, fleet.settings.target_utilization)

    coef = cost_coefficients(fleet)
    picked = np.flatnonzero(b > 0)
    bs = mm.b.iloc[picked].assign(servers=b[picked])
    bs = bs.sort_values(["platform_id", "region_id", "quarter"])
    servers = bs["servers"].to_numpy(dtype=float)
    order_q = bs["quarter"].astype(int).to_numpy()
    lead = bs["platform_id"].map(platforms["lead_time_quarters"]).astype(int).to_numpy()
    capex = bs["platform_id"].map(coef["capex"]).to_numpy(dtype=float)
    bought = pd.DataFrame(
        {
            "platform_id": bs["platform_id"].tolist(),
            "platform_class": bs["platform_id"].map(classes).tolist(),
            "region_id": bs["region_id"].tolist(),
            "order_quarter": order_q.tolist(),
            "arrival_quarter": (order_q + lead).tolist(),
            "servers": servers.tolist(),
            "capex_usd": (servers * capex).tolist(),
        },
        columns=PURCHASE_COLUMNS,
    )

    used = np.bincount(
        mm.x_cap_row,
        weights=x * mm.x["spr"].to_numpy(),
        minlength=int(mm.x_cap_row.max()) + 1 if n_x else 0,
    )
    cap_keys = [mm.row_key[i] for i in mm.info["cap_rows"]]
    in_service = {k: float(v) for k, v in zip(cap_keys, used, strict=True) if v > 0}
    if not dedicated:  # pooled: whole servers in service, at least what is allocated
        whole = np.round(y)
        ys = mm.y[whole > 0]
        for p, r, t, v in zip(
            ys["platform_id"], ys["region_id"], ys["quarter"], whole[whole > 0], strict=True
        ):
            in_service[(p, r, int(t))] = float(v)
    fleet_table = _fleet_table(fleet, alloc, bought, in_service, classes, coef)
    plan = Plan(
        allocation=alloc,
        purchases=bought,
        fleet=fleet_table,
        power=power_table(fleet, fleet_table),
        costs=cost_table(fleet, fleet_table, bought),
    )
    for name, units in UNITS.items():
        getattr(plan, name).attrs["unit"] = units
    return plan
