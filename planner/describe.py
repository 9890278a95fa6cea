"""Short descriptions of a fleet and a plan's comparisons, for the terminal.

Table sizes, demand by bucket, model–platform coverage, and the baseline savings table.
"""

from __future__ import annotations

import math

import pandas as pd
from rich import box
from rich.table import Table

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


def _usd(value: float) -> str:
    """Return an amount of USD short enough for an 80-column table (M above a million)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f} M"
    return f"{value:,.0f}"


def savings_table(overview: pd.DataFrame) -> Table:
    """Return the savings versus baselines as a table that fits 80 columns without wrapping.

    Args:
        overview: :func:`planner.baselines.savings_overview` (one row per baseline).

    A baseline the verifier rejects shows its status and "not comparable" instead of a saving.
    """
    # one space between columns and one saving column: 80 columns hold the longest names
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("baseline", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("TCO, USD", justify="right", no_wrap=True)
    table.add_column("saving, USD", justify="right", no_wrap=True)
    for row in overview.itertuples(index=False):
        if row.comparable:
            saving = f"{_usd(row.savings_usd)} ({row.savings_pct:.1f} %)"
        else:
            saving = "not comparable"
        table.add_row(row.baseline, row.baseline_status, _usd(row.tco_usd_baseline), saving)
    return table
