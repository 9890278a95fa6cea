"""The profile-curve format: latency-bounded throughput keyed by (model, platform, bound, pct).

One row says: a server of ``platform_id`` serves ``qps_per_server`` of ``model_id`` (in the
model's unit: predictions for ranking, images for vision) with the ``percentile`` latency
within ``latency_ms``. A (model, platform) pair's rows at one percentile form a curve over the
bound, non-decreasing in it. The first eight columns are the case-format core that a case's
``profiles.csv`` can adopt (issue 13); the rest record how a measured row was obtained.

:func:`read_at_slo` reads each curve at a model's SLO the way a planner should: linearly
between measured bounds, the largest bound's value at or above it, and no row (cannot serve)
below the smallest bound.
"""

from __future__ import annotations

import pandas as pd

from planner.errors import FleetDataError, Problem
from planner.profile_curves import read_at_slo as read_curves_at_slo
from planner.schema import Column, Table, _source_columns

CURVE_KEY = ("model_id", "platform_id", "latency_ms", "percentile")

PROFILE_CURVES = Table(
    "profile_curves",
    "Latency-bounded throughput curves: the throughput one server sustains with the given "
    "percentile of query latency within the bound. Rows of one (model, platform, percentile) "
    "are non-decreasing in the bound; below the smallest bound the platform cannot serve.",
    (
        Column("model_id", "str", "Model.", is_id=True),
        Column("platform_id", "str", "Platform (server type) measured.", is_id=True),
        Column("latency_ms", "float", "Latency bound.", "ms", positive=True),
        Column(
            "percentile",
            "float",
            "Percentile of the latency bound, e.g. 99.",
            "%",
            positive=True,
            maximum=100,
        ),
        Column(
            "qps_per_server",
            "float",
            "Highest throughput of one server meeting the bound, in the model's unit.",
            "queries/s",
            positive=True,
        ),
        Column(
            "power_w_at_load",
            "float",
            "Wall power of one server at that load, where measured.",
            "W",
            required=False,
            nullable=True,
            positive=True,
        ),
        *_source_columns(),
        Column(
            "qps_per_replica",
            "float",
            "Throughput of one replica (one core) at the bound.",
            "queries/s",
            required=False,
            nullable=True,
            positive=True,
        ),
        Column(
            "replicas_per_server",
            "int",
            "Replicas (one intra-op thread each) per server.",
            "replicas",
            required=False,
            nullable=True,
            positive=True,
        ),
        Column(
            "latency_at_rate_ms",
            "float",
            "Measured percentile latency at that rate.",
            "ms",
            required=False,
            nullable=True,
            positive=True,
        ),
        Column(
            "queries_per_point",
            "int",
            "Queries per rate point of the search.",
            "queries",
            required=False,
            nullable=True,
            positive=True,
        ),
        Column(
            "search_steps",
            "int",
            "Bisection steps taken.",
            required=False,
            nullable=True,
            minimum=0,
        ),
        Column(
            "resolution",
            "float",
            "Width of the final bisection bracket over its upper end.",
            "fraction",
            required=False,
            nullable=True,
            minimum=0,
        ),
        Column(
            "embedding_scale",
            "float",
            "Factor the embedding tables' rows were divided by (1 = full size).",
            required=False,
            nullable=True,
            minimum=1,
        ),
        Column(
            "mean_query_items",
            "float",
            "Mean items (candidates or images) per query.",
            "items",
            required=False,
            nullable=True,
            positive=True,
        ),
        Column(
            "max_batch",
            "int",
            "Most queries per batch (1 = no batching).",
            "queries",
            required=False,
            nullable=True,
            positive=True,
        ),
        Column(
            "batch_timeout_ms",
            "float",
            "Batching timeout.",
            "ms",
            required=False,
            nullable=True,
            minimum=0,
        ),
    ),
    key=CURVE_KEY,
    required=False,
)


def validate_curves(frame: pd.DataFrame, file: str = "profile_curves.csv") -> pd.DataFrame:
    """Validate curve rows against :data:`PROFILE_CURVES` and their monotonicity.

    Returns:
        The typed rows.

    Raises:
        FleetDataError: Every problem found, each naming its row and column.
    """
    from planner.fleet import validate_rows

    typed, problems = validate_rows(PROFILE_CURVES, frame)
    if typed is not None:
        problems += _monotone_problems(typed, file)
        dup = typed.duplicated(list(CURVE_KEY), keep=False)
        problems += [
            Problem(
                file,
                "duplicate key " + ", ".join(map(str, typed.loc[i, list(CURVE_KEY)])),
                "keep one row per (model, platform, bound, percentile)",
                row=int(i),
            )
            for i in typed.index[dup]
        ]
    if problems:
        raise FleetDataError(problems, header=f"Invalid profile curves in {file}")
    return typed


def _monotone_problems(curves: pd.DataFrame, file: str) -> list[Problem]:
    problems = []
    for keys, group in curves.groupby(["model_id", "platform_id", "percentile"]):
        g = group.sort_values("latency_ms")
        drops = g.index[g["qps_per_server"].diff() < 0]
        for i in drops:
            problems.append(
                Problem(
                    file,
                    f"throughput falls as the bound loosens on curve {keys}",
                    "a looser bound can never allow less throughput: re-measure the curve",
                    row=int(i),
                    column="qps_per_server",
                    value=float(curves.at[i, "qps_per_server"]),
                )
            )
    return problems


def read_at_slo(curves: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Read every curve at its model's SLO: the case loader's reader, shared (issue 13).

    See :func:`planner.profile_curves.read_at_slo`: linear between bounds, the largest
    bound's throughput at or above it, no row below the smallest bound; the curve at the
    model's percentile or, conservatively, the nearest higher one. The rows are
    ``profiles.csv`` rows (``latency_ms`` and ``percentile`` are the SLO read at).
    """
    return read_curves_at_slo(curves, models)
