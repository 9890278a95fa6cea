"""What a sweep worker does with one scenario: plan it, verify it, and return one table row.

Workers (local processes or Dask workers) load the case once and reuse it
(:func:`case_fleet` is cached per process). :func:`plan_point` never raises for a scenario
that cannot be planned: infeasible, invalid and time-limited scenarios come back as rows with
their ``status`` and ``message``.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
from pathlib import Path

import pandas as pd

from planner.checks import check_fleet
from planner.errors import FleetDataError, InfeasiblePlanError, PlannerError, SolverError
from planner.fleet import Fleet, load_fleet
from planner.pipeline import make_plan
from planner.results import Plan
from planner.scenarios import Scenario, apply_scenario, load_scenarios
from planner.schema import PLATFORM_CLASSES
from planner.sweeps.record import SweepRecording, record_scenario
from planner.sweeps.spec import Value, scenario_for

TIGHT = 1e-3  # a row counts as binding when its slack is below 0.1 % of its limit
TOP_BINDING = 5

STATUSES = ("optimal", "feasible", "infeasible", "invalid", "no_plan", "error")
"""Row statuses: a plan (``optimal`` = proven within the gap, ``feasible``), or why not:
``infeasible`` (no plan meets every constraint), ``invalid`` (the scenario's inputs are not
valid for the case), ``no_plan`` (none within the solver's limits), ``error`` (anything else,
e.g. a worker that died)."""


@functools.cache
def case_fleet(case_dir: str) -> Fleet:
    """Return the case's fleet, loaded once per process."""
    return load_fleet(case_dir)


@functools.cache
def base_scenario(case_dir: str, name: str) -> Scenario:
    """Return the named base scenario of the case (``base``: no overrides)."""
    if name == "base":
        return Scenario(name="base")
    found = load_scenarios(case_dir)
    if name not in found:
        raise FleetDataError(
            [
                f"scenarios.yaml: no scenario '{name}'. Fix: use one of "
                f"{', '.join(found) or '(none defined)'} or 'base'"
            ],
            header="Unknown base scenario of the sweep",
        )
    return found[name]


def scenario_fleet(case_dir: str, base: str, inputs: dict[str, Value], name: str) -> Fleet:
    """Return the checked fleet of one scenario (raises :class:`FleetDataError` if invalid)."""
    scenario = scenario_for(base_scenario(case_dir, base), inputs, name)
    fleet = apply_scenario(case_fleet(case_dir), scenario)
    check_fleet(fleet)
    return fleet


def plan_point(
    case_dir: str,
    base: str,
    scenario_id: str,
    inputs: dict[str, Value],
    options: dict,
    recording: SweepRecording | None = None,
) -> dict:
    """Plan one scenario and return its row (never raises for a scenario's own failure).

    Args:
        case_dir: The case folder (loaded once per worker process).
        base: The base scenario's name.
        scenario_id: The row's id.
        inputs: Dotted scenario path -> value.
        options: ``time_limit_s`` and ``mip_gap`` for :func:`planner.pipeline.make_plan`;
            ``lean`` (default True) plans in its lean mode: the row needs neither the
            greedy comparison of a plan already near its bound nor row-by-row tables.
        recording: Record the verified plan in this store (``store_id`` in the row); a
            plan that could not be recorded says so in ``message`` and is re-planned and
            recorded on resume (``retry``).
    """
    start = time.perf_counter()
    row: dict = {
        "scenario_id": scenario_id,
        **{f"in.{k}": v for k, v in inputs.items()},
        "verified": False,
    }
    try:
        fleet = scenario_fleet(case_dir, base, inputs, scenario_id)
        plan = make_plan(
            fleet,
            time_limit_s=options.get("time_limit_s"),
            mip_gap=options.get("mip_gap"),
            explain=False,
            lean=options.get("lean", True),
        )
        row |= {"status": plan.summary["status"], "message": ""} | plan_row(fleet, plan)
        if recording is not None:
            row |= _record(recording, case_dir, base, scenario_id, inputs, plan, options)
    except InfeasiblePlanError as exc:
        row |= {"status": "infeasible", "message": str(exc)}
    except FleetDataError as exc:
        row |= {"status": "invalid", "message": str(exc)}
    except SolverError as exc:
        row |= {"status": "no_plan", "message": str(exc)}
    except PlannerError as exc:
        row |= {"status": "error", "message": str(exc)}
    except Exception as exc:  # a bug or a library failure must not end the sweep
        row |= {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    row["seconds"] = round(time.perf_counter() - start, 4)
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _record(
    recording: SweepRecording,
    case_dir: str,
    base: str,
    scenario_id: str,
    inputs: dict[str, Value],
    plan: Plan,
    options: dict,
) -> dict:
    """Record one plan; return the row's ``store_id`` (or why not, and ``retry``)."""
    scenario = scenario_for(base_scenario(case_dir, base), inputs, scenario_id)
    solver = {k: v for k, v in options.items() if k in ("time_limit_s", "mip_gap")}
    try:
        plan_id = record_scenario(recording, case_fleet(case_dir), plan, scenario, solver)
    except Exception as exc:  # the plan stands; the row says it is not in the store
        return {
            "store_id": None,
            "message": f"not recorded in the store: {type(exc).__name__}: {exc}",
            "retry": True,
        }
    return {"store_id": plan_id}


def plan_row(fleet: Fleet, plan: Plan) -> dict:
    """Return a plan's outcome columns: cost, gap, servers and power by class and bucket, etc.

    ``servers.<class>`` and ``servers.<bucket>`` count servers in service (by platform class)
    and allocated (by bucket) in the last quarter; ``power_kw.*`` the facility kW they draw
    then; ``bought.q<t>`` the servers ordered in quarter t; ``purchases`` every order as JSON
    (``platform/region/q<t>`` -> servers); ``binding`` the rows with no slack (power caps,
    space, supply) found from the plan's tables.
    """
    s = plan.summary
    out: dict = {
        key: s.get(key)
        for key in (
            "gap",
            "best_bound",
            "total_cost_usd",
            "capex_usd",
            "energy_usd",
            "maintenance_usd",
            "servers_purchased",
            "peak_power_kw",
            "verified",
        )
    }
    last = fleet.settings.horizon_quarters - 1
    fl = plan.fleet[plan.fleet["quarter"] == last]
    for c in PLATFORM_CLASSES:
        sel = fl[fl["platform_class"] == c]
        out[f"servers.{c}"] = float(sel["in_service_servers"].sum())
        out[f"power_kw.{c}"] = float(sel["facility_kw"].sum())
    out |= _by_bucket(fleet, plan, last)
    bought = plan.purchases.groupby("order_quarter")["servers"].sum()
    for t in range(fleet.settings.horizon_quarters):
        out[f"bought.q{t}"] = float(bought.get(t, 0.0))
    out["purchases"] = json.dumps(
        {
            f"{p.platform_id}/{p.region_id}/q{p.order_quarter}": int(p.servers)
            for p in plan.purchases.itertuples(index=False)
        },
        sort_keys=True,
    )
    out["binding"] = "; ".join(binding_rows(fleet, plan)[:TOP_BINDING])
    return out


def _by_bucket(fleet: Fleet, plan: Plan, quarter: int) -> dict[str, float]:
    """Return allocated servers and their facility kW by bucket in ``quarter``."""
    alloc = plan.allocation[plan.allocation["quarter"] == quarter]
    fl = plan.fleet[(plan.fleet["quarter"] == quarter) & (plan.fleet["in_service_servers"] > 0)]
    per_server = (
        (fl["facility_kw"] / fl["in_service_servers"])
        .groupby([fl["platform_id"], fl["region_id"]])
        .first()
    )
    kw = alloc.join(per_server.rename("kw"), on=["platform_id", "region_id"])
    kw = kw["servers"] * kw["kw"].fillna(0.0)
    out = {}
    for bucket in sorted(fleet.models["bucket"].unique()):
        mask = alloc["bucket"] == bucket
        out[f"servers.{bucket}"] = float(alloc.loc[mask, "servers"].sum())
        out[f"power_kw.{bucket}"] = float(kw[mask].sum())
    return out


def binding_rows(fleet: Fleet, plan: Plan) -> list[str]:
    """Return the power, space and supply rows the plan uses fully, tightest first.

    Found from the plan's tables alone (slack below 0.1 % of the limit), which costs nothing;
    their shadow prices would need an LP re-solve per scenario (``planner explain``), which
    costs about as much as the plan itself, so sweeps leave them out.
    """
    found: list[tuple[float, str]] = []
    pw = plan.power
    for r in pw.itertuples(index=False):
        if r.cap_kw > 0 and r.headroom_kw <= TIGHT * r.cap_kw:
            found.append((r.headroom_kw / r.cap_kw, f"power {r.region_id} q{r.quarter}"))
    supply = fleet.platforms.set_index("platform_id")["supply_per_quarter"].dropna()
    bought = plan.purchases.groupby(["platform_id", "order_quarter"])["servers"].sum()
    for (p, t), n in bought.items():
        if p in supply.index and supply[p] > 0 and supply[p] - n <= TIGHT * supply[p]:
            found.append(((supply[p] - n) / supply[p], f"supply {p} q{t}"))
    limits = fleet.regions.set_index("region_id")["space_limit_ru"].dropna()
    if not limits.empty:
        ru = plan.fleet.merge(fleet.platforms[["platform_id", "rack_units"]], on="platform_id")
        used = (
            (ru["in_service_servers"] * ru["rack_units"])
            .groupby([ru["region_id"], ru["quarter"]])
            .sum()
        )
        for (r, t), u in used.items():
            if r in limits.index and limits[r] - u <= TIGHT * limits[r]:
                found.append(((limits[r] - u) / limits[r], f"space {r} q{t}"))
    return [name for _, name in sorted(found)]


def failed_row(scenario_id: str, inputs: dict[str, Value], message: str) -> dict:
    """Return the row of a scenario whose worker failed outside :func:`plan_point`."""
    return {
        "scenario_id": scenario_id,
        **{f"in.{k}": v for k, v in inputs.items()},
        "status": "error",
        "message": message,
        "verified": False,
        "retry": True,
    }


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """Return rows as the tidy results table (id first, inputs, status, then outcomes)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = ["scenario_id", *[c for c in frame.columns if c.startswith("in.")], "status", "message"]
    rest = [c for c in frame.columns if c not in first]
    return frame[[c for c in first if c in frame.columns] + rest]


def load_case_path(case_dir: str | Path) -> str:
    """Return the absolute case path workers load (the same on every local worker)."""
    return str(Path(case_dir).resolve())
