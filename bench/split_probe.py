"""Experiment (lost, kept with its numbers in bench/README.md): split by models, resources by 1/K.

Splits a synthetic fleet's models round-robin into K groups and gives each group 1/K of every
shared resource (installed servers and supply as whole servers, power caps and space as
fractions), so that the union of the groups' plans would be a plan of the whole fleet. It
prints each group's LP relaxation (size, seconds, status) and the sum, beside the whole LP.

    PYTHONPATH=. python bench/split_probe.py --size XL --groups 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from planner.fleet import Fleet
from planner.optimization.highs import run_highs
from planner.scale import build_matrix
from planner.synthetic import synthetic_fleet


def _share(values: np.ndarray, k: int, g: int) -> np.ndarray:
    """Group ``g``'s whole share of ``values`` split in ``k`` (the remainder to the first)."""
    base = np.floor(values / k)
    return base + ((values - base * k) > g)


def sub_fleet(fleet: Fleet, models: list[str], k: int, g: int) -> Fleet:
    """Return the fleet of ``models`` with group ``g``'s 1/k share of every shared resource."""
    keep = set(models)
    inventory = fleet.inventory.assign(
        servers=_share(fleet.inventory["servers"].to_numpy(float), k, g))
    supply = fleet.platforms["supply_per_quarter"].to_numpy(float)
    platforms = fleet.platforms.assign(supply_per_quarter=np.where(
        np.isnan(supply), np.nan, _share(np.nan_to_num(supply), k, g)))
    regions = fleet.regions.assign(power_cap_kw=fleet.regions["power_cap_kw"] / k,
                                   space_limit_ru=fleet.regions["space_limit_ru"] / k)
    caps = fleet.region_power_caps.assign(
        power_cap_kw=fleet.region_power_caps["power_cap_kw"] / k)

    def only(frame):
        return frame[frame["model_id"].isin(keep)].reset_index(drop=True)

    return dataclasses.replace(fleet, models=only(fleet.models), profiles=only(fleet.profiles),
                               demand=only(fleet.demand), inventory=inventory,
                               platforms=platforms, regions=regions, region_power_caps=caps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="XL")
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    fleet = synthetic_fleet(args.size, seed=args.seed)
    ids = list(fleet.models["model_id"])
    k = args.groups
    total, start = 0.0, time.perf_counter()
    for g in range(k):
        mm = build_matrix(sub_fleet(fleet, ids[g::k], k, g))
        run = run_highs(mm)
        total += run.objective if run.objective is not None else float("nan")
        print(f"group {g}: {len(ids[g::k])} models, {mm.n_cols:,} columns, {mm.n_rows:,} rows, "
              f"LP {run.seconds:.1f} s, {run.status}, {run.objective}", flush=True)
    print(f"sum of group LPs {total:,.1f} kUSD in {time.perf_counter() - start:.1f} s")
    mm = build_matrix(fleet)
    run = run_highs(mm)
    print(f"whole LP {run.objective:,.1f} kUSD in {run.seconds:.1f} s "
          f"(load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
