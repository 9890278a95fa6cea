"""Solving the capacity-planning program: the anytime plan path and its building blocks.

* :mod:`planner.optimization.highs` runs HiGHS on the array model with any column bounds and
  integrality (LP relaxations, sub-MIPs, warm-started proofs) and returns values and duals.
* :mod:`planner.optimization.rounding` turns an LP solution into whole replicas, cell by cell.
* :mod:`planner.optimization.anytime` chains them into a verified first plan, improvement and
  proof (:func:`solve_anytime`), each step reported with cost, bound and gap.
* :mod:`planner.optimization.strengthen` caps covering coefficients: a stronger LP, the same
  whole plans.
* :mod:`planner.optimization.rolling` plans a hyperscale fleet one quarter at a time and
  bounds it by one-quarter LPs.
"""

from planner.optimization.anytime import AnytimeResult, Progress, solve_anytime

__all__ = ["AnytimeResult", "Progress", "solve_anytime"]
