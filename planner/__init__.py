"""fleet planner: capacity planning for heterogeneous machine-learning datacenter fleets.

The flow is load → check → scenario → build → solve → verify → report::

    from planner import load_fleet, load_scenarios, make_plan, verify_plan
    fleet = load_fleet("fleet_data/default")
    plan = make_plan(fleet, load_scenarios("fleet_data/default")["ranking_growth_15"])
    plan.allocation.head()

The app and notebooks use only the names exported here.
"""

import sys as _sys

if _sys.argv[:1] == ["-m"] and "planner" in getattr(_sys, "orig_argv", []):
    # `python -m planner` is importing: Ctrl-C now ends with one line, exit 130, and no
    # traceback; planner.cli.main restores the normal KeyboardInterrupt once imports are done.
    import os as _os
    import signal as _signal

    def _interrupted_while_starting(signum: int, frame: object) -> None:
        _sys.stderr.write("interrupted; no output was written\n")
        _os._exit(130)

    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

from planner.baselines import (
    baseline_plans,
    best_single_platform_plan,
    compare_to_baselines,
    cpu_only_plan,
    greedy_plan,
)
from planner.checks import check_fleet, slo_coverage
from planner.compare import compare_plans
from planner.demand import call_graph, peak_demand, product_demand
from planner.describe import coverage, demand_by_bucket, table_rows
from planner.diurnal.harvest import day_chart, day_profile
from planner.diurnal.plan import DiurnalPlan, plan_diurnal
from planner.diurnal.shapes import hourly_demand
from planner.diurnal.slots import expand_fleet
from planner.errors import (
    FleetDataError,
    InfeasiblePlanError,
    PlannerError,
    Problem,
    SolverError,
)
from planner.factors import with_factor
from planner.fleet import Fleet, fleet_from_frames, load_fleet
from planner.frontier import cost_power_frontier, sensitivity
from planner.insight import binding_constraints, shadow_prices
from planner.latency import (
    LatencyResult,
    ServiceModel,
    SimulationSettings,
    check_latency,
    read_allocation,
    write_latency,
)
from planner.migration import MigrationOptions, StablePlan, make_stable_plan
from planner.model import PlanningModel, build_model
from planner.optimization import AnytimeResult, Progress, solve_anytime
from planner.output import plan_report, write_plan
from planner.parameters import candidates, power_caps
from planner.pipeline import explain_infeasibility, make_plan
from planner.plan_io import read_plan
from planner.profiler import (
    PROFILE_CURVES,
    ProfileSettings,
    machine_info,
    profile_models,
    read_at_slo,
    validate_curves,
    write_curves,
)
from planner.results import Plan, extract_plan
from planner.scenarios import (
    Scenario,
    apply_scenario,
    load_scenarios,
    parse_scenarios,
    scenario_from_dict,
    scenario_to_yaml,
)
from planner.schema import TABLES, data_reference_markdown
from planner.settings import Settings
from planner.solve import SolveResult, solve_model
from planner.store import PlanStore, StoredPlan, case_hash, diff_records, open_store
from planner.studies import (
    METRICS,
    asic_adoption_sweep,
    daily_queries,
    efficiency,
    factor_sensitivity,
    plan_metrics,
    power_cap_sweep,
    provenance,
    region_loss_study,
    scale_power_caps,
    without_region,
)
from planner.sweeps import (
    RobustResult,
    SweepProgress,
    SweepResult,
    SweepSpec,
    load_sweep,
    parse_sweep,
    read_results,
    robust_plan,
    run_sweep,
    sweep_report,
    write_robust,
    write_sweep_report,
)
from planner.synthetic import SIZES, synthetic_fleet
from planner.topology import backup_graph
from planner.verify import Verification, verify_plan

__all__ = [
    "METRICS",
    "PROFILE_CURVES",
    "SIZES",
    "TABLES",
    "AnytimeResult",
    "DiurnalPlan",
    "day_chart",
    "day_profile",
    "expand_fleet",
    "hourly_demand",
    "plan_diurnal",
    "Fleet",
    "FleetDataError",
    "InfeasiblePlanError",
    "LatencyResult",
    "MigrationOptions",
    "Plan",
    "PlanStore",
    "PlannerError",
    "PlanningModel",
    "Problem",
    "ProfileSettings",
    "Progress",
    "RobustResult",
    "Scenario",
    "ServiceModel",
    "Settings",
    "SimulationSettings",
    "SolveResult",
    "SolverError",
    "StablePlan",
    "StoredPlan",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "Verification",
    "apply_scenario",
    "asic_adoption_sweep",
    "backup_graph",
    "baseline_plans",
    "best_single_platform_plan",
    "binding_constraints",
    "build_model",
    "call_graph",
    "candidates",
    "case_hash",
    "check_fleet",
    "check_latency",
    "compare_plans",
    "compare_to_baselines",
    "cost_power_frontier",
    "coverage",
    "cpu_only_plan",
    "daily_queries",
    "data_reference_markdown",
    "demand_by_bucket",
    "diff_records",
    "efficiency",
    "factor_sensitivity",
    "explain_infeasibility",
    "extract_plan",
    "fleet_from_frames",
    "greedy_plan",
    "load_fleet",
    "load_scenarios",
    "load_sweep",
    "machine_info",
    "make_plan",
    "make_stable_plan",
    "open_store",
    "parse_scenarios",
    "parse_sweep",
    "peak_demand",
    "plan_metrics",
    "plan_report",
    "power_cap_sweep",
    "power_caps",
    "product_demand",
    "profile_models",
    "provenance",
    "read_allocation",
    "read_at_slo",
    "read_plan",
    "read_results",
    "region_loss_study",
    "robust_plan",
    "run_sweep",
    "scale_power_caps",
    "scenario_from_dict",
    "scenario_to_yaml",
    "sensitivity",
    "shadow_prices",
    "slo_coverage",
    "solve_anytime",
    "solve_model",
    "sweep_report",
    "synthetic_fleet",
    "table_rows",
    "validate_curves",
    "verify_plan",
    "with_factor",
    "without_region",
    "write_curves",
    "write_latency",
    "write_plan",
    "write_robust",
    "write_sweep_report",
]
