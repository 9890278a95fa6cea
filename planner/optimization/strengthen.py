"""A stronger LP relaxation of the same integer program: covering coefficients capped.

A demand or disaster-recovery row is a covering row, ``sum_p a_p x_p >= d`` with whole
replicas ``x_p >= 0``. A column whose one replica already covers the row (``a_p >= d``) can
have its coefficient lowered to ``d`` without changing which whole plans are feasible: one
replica of it meets the row either way, none contributes nothing either way. The LP
relaxation, though, can no longer serve a small model with a fraction of a big replica.

This matters at hyperscale: of the 1,000 synthetic XL models many need less than one
replica in a region, and one quarter's LP bound rises 8.0 % (37,485 → 40,495 kUSD; HiGHS'
own presolved root LP reaches 40,837), 0.3 % at synthetic M, 0.2 % at S. A stronger LP is a
better guide for the rounding and a bound the plans can be measured against.

The capped matrix is used for solving only; :func:`planner.scale.build_matrix` keeps the
formulation of :mod:`planner.model` (the two builders stay pinned to one matrix), and every
whole plan is feasible for one exactly when it is for the other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from planner.scale import FAMILIES, MatrixModel

COVERING_FAMILIES = ("demand", "dr")


def cap_covering_coefficients(mm: MatrixModel) -> MatrixModel:
    """Return ``mm`` with every covering row's integer coefficients capped at its rhs.

    Only rows of :data:`COVERING_FAMILIES` with a finite positive lower side and no upper
    side, and only on integer columns whose lower bound is 0 (dedicated allocation); the
    columns, bounds and other rows are unchanged. Returns ``mm`` itself when nothing changes.
    """
    covering = np.isin(mm.row_family, [FAMILIES.index(f) for f in COVERING_FAMILIES])
    covering &= np.isfinite(mm.row_lower) & (mm.row_lower > 0) & ~np.isfinite(mm.row_upper)
    a = mm.matrix.tocoo()
    rhs = mm.row_lower[a.row]
    col_ok = mm.integer & (mm.lower == 0)
    capped = covering[a.row] & col_ok[a.col] & (a.data > rhs)
    if not capped.any():
        return mm
    data = a.data.copy()
    data[capped] = rhs[capped]
    matrix = sp.csr_matrix((data, (a.row, a.col)), shape=a.shape)
    out = dataclasses.replace(mm, matrix=matrix)
    out.info = {**mm.info, "capped_coefficients": int(capped.sum())}
    return out
