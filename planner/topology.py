"""Regions as failure domains: which regions can absorb a lost region's traffic."""

from __future__ import annotations

import itertools

import networkx as nx

from planner.fleet import Fleet


def backup_graph(fleet: Fleet) -> nx.DiGraph:
    """Return the directed graph lost region -> region that can take over its traffic.

    Without topology rows every region backs up every other (a complete digraph). Self-loops
    and edges to unknown regions are left out (:func:`check_topology` reports them).

    Args:
        fleet: The fleet.

    Returns:
        A DiGraph with one node per region.
    """
    regions = list(dict.fromkeys(fleet.regions["region_id"]))
    graph = nx.DiGraph()
    graph.add_nodes_from(regions)
    if fleet.topology.empty:
        graph.add_edges_from(itertools.permutations(regions, 2))
        return graph
    known = set(regions)
    for lost, backup in zip(fleet.topology["region_id"], fleet.topology["backup_region_id"],
                            strict=True):
        if lost != backup and lost in known and backup in known:
            graph.add_edge(lost, backup)
    return graph


def backups(fleet: Fleet) -> dict[str, list[str]]:
    """Return, for each region, the sorted regions that take over its traffic if it is lost."""
    graph = backup_graph(fleet)
    return {r: sorted(graph.successors(r)) for r in sorted(graph.nodes)}
