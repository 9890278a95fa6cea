"""Peak demand per model, region and quarter, from products and their call graph.

Each product's mean request rate (daily requests / 86,400 s) times its peak-to-average factor,
grown by its quarterly growth, flows down the call graph (a networkx DAG whose edges carry
``items_per_request``) to the models it reaches. Product peaks are added as if they coincide,
which is the conservative choice when no joint load curve is known. Regions receive
``demand_share`` of every product; rows of the plain ``demand`` table are added on top.
"""

from __future__ import annotations

import networkx as nx
import pandas as pd

from planner.fleet import Fleet
from planner.schema import SECONDS_PER_DAY

DEMAND_COLUMNS = ["model_id", "region_id", "quarter", "peak_qps"]


def call_graph(fleet: Fleet) -> nx.DiGraph:
    """Return the product/model call graph; edge attribute ``items`` is queries per request."""
    graph = nx.DiGraph()
    graph.add_nodes_from(fleet.products["product_id"], kind="product")
    graph.add_nodes_from(fleet.models["model_id"], kind="model")
    for row in fleet.calls.itertuples(index=False):
        graph.add_edge(row.caller_id, row.model_id, items=float(row.items_per_request))
    return graph


def queries_per_request(graph: nx.DiGraph, product_id: str) -> dict[str, float]:
    """Return model queries issued per request of ``product_id``, summed over all call paths."""
    reach = nx.descendants(graph, product_id) | {product_id}
    flow = {node: 0.0 for node in reach}
    flow[product_id] = 1.0
    for node in nx.topological_sort(graph.subgraph(reach)):
        for _, child, items in graph.out_edges(node, data="items"):
            flow[child] += flow[node] * items
    return {n: q for n, q in flow.items() if n != product_id and q > 0}


def product_demand(fleet: Fleet) -> pd.DataFrame:
    """Return peak demand per (product, model, quarter) before the regional split."""
    if fleet.products.empty or fleet.calls.empty:
        return pd.DataFrame(columns=["product_id", "model_id", "quarter", "peak_qps"])
    graph = call_graph(fleet)
    rows = []
    for p in fleet.products.itertuples(index=False):
        base = p.daily_requests / SECONDS_PER_DAY * p.peak_to_average
        for model_id, items in queries_per_request(graph, p.product_id).items():
            for t in fleet.quarters:
                rate = base * (1.0 + p.growth_per_quarter) ** t * items
                rows.append((p.product_id, model_id, t, rate))
    return pd.DataFrame(rows, columns=["product_id", "model_id", "quarter", "peak_qps"])


def peak_demand(fleet: Fleet) -> pd.DataFrame:
    """Return peak demand in queries/s per model, region and quarter (zero rows dropped).

    Columns: ``model_id``, ``region_id``, ``quarter``, ``peak_qps``. Sorted by the key.
    """
    parts = []
    by_product = product_demand(fleet)
    if not by_product.empty:
        per_model = by_product.groupby(["model_id", "quarter"], as_index=False)["peak_qps"].sum()
        shares = fleet.regions[["region_id", "demand_share"]].fillna(0.0)
        split = per_model.merge(shares, how="cross")
        split["peak_qps"] = split["peak_qps"] * split["demand_share"]
        parts.append(split[DEMAND_COLUMNS])
    if not fleet.demand.empty:
        plain = fleet.demand[fleet.demand["quarter"] < fleet.settings.horizon_quarters]
        parts.append(plain[DEMAND_COLUMNS].astype({"quarter": "int64"}))
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64" if c == "peak_qps" else "object") for c in DEMAND_COLUMNS}
        )
    demand = pd.concat(parts, ignore_index=True)
    demand["quarter"] = demand["quarter"].astype("int64")
    demand = demand.groupby(["model_id", "region_id", "quarter"], as_index=False)["peak_qps"].sum()
    demand = _apply_adjustments(fleet, demand)
    demand = demand[demand["peak_qps"] > 0]
    return demand.sort_values(["model_id", "region_id", "quarter"]).reset_index(drop=True)


def _apply_adjustments(
    fleet: Fleet, demand: pd.DataFrame, column: str = "peak_qps"
) -> pd.DataFrame:
    """Multiply ``column`` by scenario multipliers (``fleet.demand_adjustments``), if any."""
    adj = fleet.demand_adjustments
    if adj is None or adj.empty:
        return demand
    out = demand.copy()
    for row in adj.itertuples(index=False):
        mask = pd.Series(True, index=out.index)
        if isinstance(row.model_id, str):
            mask &= out["model_id"] == row.model_id
        if isinstance(row.region_id, str):
            mask &= out["region_id"] == row.region_id
        if not pd.isna(getattr(row, "from_quarter", None)):  # on-device share from a quarter
            mask &= out["quarter"] >= int(row.from_quarter)
        out.loc[mask, column] *= float(row.multiplier)
    return out
