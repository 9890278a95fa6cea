"""Short descriptions of a fleet: table sizes, demand by bucket, model–platform coverage."""

from __future__ import annotations

import pandas as pd

from planner.demand import peak_demand
from planner.fleet import Fleet
from planner.parameters import candidates
from planner.schema import TABLES


def table_rows(fleet: Fleet) -> pd.DataFrame:
    """Return the number of rows of every input table."""
    return pd.DataFrame(
        [(t.file, len(fleet.table(name))) for name, t in TABLES.items()], columns=["file", "rows"]
    )


def demand_by_bucket(fleet: Fleet) -> pd.DataFrame:
    """Return peak demand (queries/s) summed per bucket (rows) and quarter label (columns)."""
    demand = peak_demand(fleet).merge(fleet.models[["model_id", "bucket"]], on="model_id")
    table = demand.pivot_table(
        index="bucket", columns="quarter", values="peak_qps", aggfunc="sum", fill_value=0.0
    )
    return table.rename(columns=fleet.settings.quarter_label)


def coverage(fleet: Fleet) -> pd.DataFrame:
    """Return model × platform latency-bounded qps per server where the model can run (else NaN)."""
    usable = candidates(fleet)
    table = usable.pivot_table(index="model_id", columns="platform_id", values="qps_per_server")
    return table.reindex(index=fleet.models["model_id"], columns=fleet.platforms["platform_id"])
