"""Regions as failure domains: which regions can absorb a lost region's traffic."""

from __future__ import annotations

import itertools

import networkx as nx

from planner.fleet import Fleet


def backup_graph(fleet: Fleet) -> nx.DiGraph:
    """Return the directed graph lost region -> backup region.

    Without a ``topology.csv`` every region backs up every other (a complete digraph).
    """
    graph = nx.DiGraph()
    regions = list(fleet.regions["region_id"])
    graph.add_nodes_from(regions)
    if fleet.topology.empty:
        graph.add_edges_from(itertools.permutations(regions, 2))
    else:
        graph.add_edges_from(
            zip(fleet.topology["region_id"], fleet.topology["backup_region_id"], strict=True)
        )
    return graph


def backups(fleet: Fleet) -> dict[str, list[str]]:
    """Return, for each region, the sorted regions that take over its traffic if it is lost."""
    graph = backup_graph(fleet)
    return {r: sorted(graph.successors(r)) for r in sorted(graph.nodes)}
