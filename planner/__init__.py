"""fleet planner: capacity planning for heterogeneous machine-learning datacenter fleets.

The flow is load → check → scenario → build → solve → verify → report::

    from planner import load_fleet, load_scenarios, make_plan, verify_plan
    fleet = load_fleet("fleet_data/default")
    plan = make_plan(fleet, load_scenarios("fleet_data/default")["ranking_growth_15"])
    plan.allocation.head()

The app and notebooks use only the names exported here.
"""

import sys as _sys

from planner.lazy import lazy_exports as _lazy_exports

if _sys.argv[:1] == ["-m"] and "planner" in getattr(_sys, "orig_argv", []):
    # `python -m planner` is importing: Ctrl-C now ends with one line, exit 130, and no
    # traceback; planner.cli.main restores the normal KeyboardInterrupt once imports are done.
    import os as _os
    import signal as _signal

    def _interrupted_while_starting(signum: int, frame: object) -> None:
        _sys.stderr.write("interrupted; no output was written\n")
        _os._exit(130)

    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

# Every public name and the module that defines it; each loads on first use (planner.lazy).
_EXPORTS: dict[str, str] = {
    "baseline_plans": "planner.baselines",
    "best_single_platform_plan": "planner.baselines",
    "compare_to_baselines": "planner.baselines",
    "cpu_only_plan": "planner.baselines",
    "greedy_plan": "planner.baselines",
    "check_fleet": "planner.checks",
    "fleet_warnings": "planner.checks",
    "slo_coverage": "planner.checks",
    "compare_plans": "planner.compare",
    "call_graph": "planner.demand",
    "peak_demand": "planner.demand",
    "product_demand": "planner.demand",
    "coverage": "planner.describe",
    "demand_by_bucket": "planner.describe",
    "table_rows": "planner.describe",
    "day_chart": "planner.diurnal.harvest",
    "day_profile": "planner.diurnal.harvest",
    "DiurnalPlan": "planner.diurnal.plan",
    "plan_diurnal": "planner.diurnal.plan",
    "hourly_demand": "planner.diurnal.shapes",
    "expand_fleet": "planner.diurnal.slots",
    "FleetDataError": "planner.errors",
    "InfeasiblePlanError": "planner.errors",
    "PlannerError": "planner.errors",
    "Problem": "planner.errors",
    "SolverError": "planner.errors",
    "with_factor": "planner.factors",
    "Fleet": "planner.fleet",
    "fleet_from_frames": "planner.fleet",
    "load_fleet": "planner.fleet",
    "cost_power_frontier": "planner.frontier",
    "sensitivity": "planner.frontier",
    "binding_constraints": "planner.insight",
    "shadow_prices": "planner.insight",
    "LatencyResult": "planner.latency",
    "LatencyVerdict": "planner.latency",
    "ServiceModel": "planner.latency",
    "SimulationSettings": "planner.latency",
    "check_latency": "planner.latency",
    "latency_verdict": "planner.latency",
    "latency_verdict_of": "planner.latency",
    "read_allocation": "planner.latency",
    "write_latency": "planner.latency",
    "MigrationOptions": "planner.migration",
    "StablePlan": "planner.migration",
    "make_stable_plan": "planner.migration",
    "PlanningModel": "planner.model",
    "build_model": "planner.model",
    "AnytimeResult": "planner.optimization",
    "Progress": "planner.optimization",
    "solve_anytime": "planner.optimization",
    "plan_report": "planner.output",
    "write_plan": "planner.output",
    "candidates": "planner.parameters",
    "power_caps": "planner.parameters",
    "explain_infeasibility": "planner.pipeline",
    "make_plan": "planner.pipeline",
    "read_plan": "planner.plan_io",
    "PROFILE_CURVES": "planner.profiler",
    "ProfileSettings": "planner.profiler",
    "machine_info": "planner.profiler",
    "profile_models": "planner.profiler",
    "read_at_slo": "planner.profiler",
    "validate_curves": "planner.profiler",
    "write_curves": "planner.profiler",
    "Plan": "planner.results",
    "extract_plan": "planner.results",
    "Scenario": "planner.scenarios",
    "apply_scenario": "planner.scenarios",
    "load_scenarios": "planner.scenarios",
    "parse_scenarios": "planner.scenarios",
    "scenario_from_dict": "planner.scenarios",
    "scenario_to_yaml": "planner.scenarios",
    "TABLES": "planner.schema",
    "data_reference_markdown": "planner.schema",
    "Settings": "planner.settings",
    "SolveResult": "planner.solve",
    "solve_model": "planner.solve",
    "PlanStore": "planner.store",
    "StoredPlan": "planner.store",
    "case_hash": "planner.store",
    "diff_records": "planner.store",
    "open_store": "planner.store",
    "METRICS": "planner.studies",
    "asic_adoption_sweep": "planner.studies",
    "daily_queries": "planner.studies",
    "efficiency": "planner.studies",
    "factor_sensitivity": "planner.studies",
    "plan_metrics": "planner.studies",
    "power_cap_sweep": "planner.studies",
    "provenance": "planner.studies",
    "region_loss_study": "planner.studies",
    "scale_power_caps": "planner.studies",
    "without_region": "planner.studies",
    "RobustResult": "planner.sweeps",
    "SweepProgress": "planner.sweeps",
    "SweepResult": "planner.sweeps",
    "SweepSpec": "planner.sweeps",
    "load_sweep": "planner.sweeps",
    "parse_sweep": "planner.sweeps",
    "read_results": "planner.sweeps",
    "robust_plan": "planner.sweeps",
    "run_sweep": "planner.sweeps",
    "sweep_report": "planner.sweeps",
    "write_robust": "planner.sweeps",
    "write_sweep_report": "planner.sweeps",
    "SIZES": "planner.synthetic",
    "synthetic_fleet": "planner.synthetic",
    "backup_graph": "planner.topology",
    "Verification": "planner.verify",
    "verify_plan": "planner.verify",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = _lazy_exports("planner", _EXPORTS, globals())
