"""Scenario sweeps and robust purchases: many futures of one case at once.

- :func:`run_sweep` plans every scenario of a sweep file (a grid or a sample of scenario
  values) on a local process pool or a Dask cluster, resumably, into one tidy table.
- :func:`sweep_report` summarises a sweep: cost and power quantiles, which inputs move the
  cost (Spearman rank correlation, tornado), how often each purchase appears.
- :func:`robust_plan` chooses one set of first-stage purchases for all sampled futures (a
  two-stage program built from :func:`planner.model.build_model` per future).
"""

from planner.sweeps.report import sweep_report, write_sweep_report
from planner.sweeps.robust import RobustResult, robust_plan, write_robust
from planner.sweeps.run import SweepProgress, SweepResult, run_sweep
from planner.sweeps.spec import SweepSpec, load_sweep, parse_sweep, points, scenario_for
from planner.sweeps.store import read_results

__all__ = [
    "RobustResult",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "load_sweep",
    "parse_sweep",
    "points",
    "read_results",
    "robust_plan",
    "run_sweep",
    "scenario_for",
    "sweep_report",
    "write_robust",
    "write_sweep_report",
]
