"""Capped covering coefficients: the same whole plans, a stronger LP relaxation."""

from __future__ import annotations

import numpy as np
import pytest
from cases import demand, make_fleet, model, platform, profile, region
from hypothesis import given
from test_properties import PROPERTY, fleet_rows, typed_fleet

from planner.optimization import solve_anytime
from planner.optimization.highs import run_highs
from planner.optimization.strengthen import cap_covering_coefficients
from planner.scale import build_matrix


def _small_model_case():
    """One model needing 30 qps; a big server does 1,000 qps for 10,000 USD, a small one 20
    qps for 1,000 USD; at least one replica.

    Whole plans: two small servers, 2,000 USD. The LP mixes a sliver of a big server into
    the one replica (x_big + x_small = 1, 1,000 x_big + 20 x_small = 30): x_big = 1/98,
    1,091.8 USD. With the big server's coefficient capped at the demand (one replica covers
    it), a sliver of it covers only a sliver of 30 qps: 1.5 small servers, 1,500 USD.
    """
    return make_fleet(
        platforms=[platform("big", capex_usd=10_000), platform("small", capex_usd=1_000)],
        models=[model("m", min_replicas=1)],
        profiles=[profile("m", "big", 1_000), profile("m", "small", 20)],
        regions=[region("east")],
        demand=[demand("m", "east", 0, 30)],
    )


def test_hand_case_lp_bounds_before_and_after_capping():
    mm = build_matrix(_small_model_case())
    capped = cap_covering_coefficients(mm)
    assert run_highs(mm).objective == pytest.approx(10 / 98 + 97 / 98, rel=1e-3)  # kUSD
    assert run_highs(capped).objective == pytest.approx(1.5, rel=1e-3)
    assert capped.info["capped_coefficients"] == 1
    # The builders' matrix is untouched: capping returns a new model.
    assert mm.matrix.nnz == capped.matrix.nnz
    assert not np.allclose(mm.matrix.toarray(), capped.matrix.toarray())


def test_anytime_reports_the_capped_lp_and_the_hand_optimum():
    result = solve_anytime(build_matrix(_small_model_case()), time_limit_s=5, mip_gap=0.0)
    assert result.lp_bound == pytest.approx(1.5, rel=1e-3)
    assert result.objective == pytest.approx(2.0, rel=1e-3)


def test_nothing_to_cap_returns_the_same_model():
    fleet = make_fleet(
        platforms=[platform("cpu")], models=[model("m")], profiles=[profile("m", "cpu", 10)],
        regions=[region("east")], demand=[demand("m", "east", 0, 100)])
    mm = build_matrix(fleet)
    assert cap_covering_coefficients(mm) is mm


@PROPERTY
@given(fleet_rows(objective=None))
def test_capped_lp_is_no_weaker_and_keeps_every_whole_plan(drawn):
    rows, settings_over = drawn
    mm = build_matrix(typed_fleet(rows, settings_over))
    capped = cap_covering_coefficients(mm)
    lp, lp_capped = run_highs(mm), run_highs(capped)
    assert lp_capped.objective >= lp.objective - 1e-6 * max(1.0, abs(lp.objective))
    # A whole plan of the capped model is a plan of the original and back.
    run = run_highs(capped, integer=capped.integer, mip_gap=1e-4, time_limit_s=20)
    if run.values is None:
        return
    v = np.where(mm.integer, np.round(run.values), run.values)
    for model_ in (mm, capped):
        act = model_.matrix @ v
        tol = 1e-6 * np.maximum(1.0, np.abs(act))
        assert np.all(act >= model_.row_lower - tol)
        assert np.all(act <= model_.row_upper + tol)
