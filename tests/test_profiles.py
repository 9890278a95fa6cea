"""Profiles as latency curves: reading at the SLO, checks, SLO scenarios (hand-computed)."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.checks import slo_coverage_notes
from planner.errors import FleetDataError
from planner.fleet import load_fleet
from planner.profile_curves import read_at_slo
from planner.scenarios import Scenario, SloChange, apply_scenario
from tests.cases import SRC, make_fleet, model, plan_verified, platform, profile, region

# CPU: 100 qps within 5 ms, 125 qps within 55 ms (and beyond). ASIC: nothing within 20 ms,
# 200 qps within 20 ms, 400 within 100 ms. CPU 10,000 USD, ASIC 12,000 USD; 1,000 qps.
CPU_CURVE = ((5.0, 100.0), (55.0, 125.0))
ASIC_CURVE = ((20.0, 200.0), (100.0, 400.0))
DEMAND = 1_000.0


def curve_rows(model_id: str, platform_id: str, points, percentile: float = 99.0) -> list[dict]:
    return [
        {
            "model_id": model_id,
            "platform_id": platform_id,
            "latency_ms": b,
            "percentile": percentile,
            "qps_per_server": q,
            **SRC,
        }
        for b, q in points
    ]


def slo_fleet(slo_ms: float, *, asic_curve=ASIC_CURVE, check: bool = True):
    return make_fleet(
        platforms=[
            platform("cpu", capex_usd=10_000),
            platform("asic", platform_class="inference_asic", capex_usd=12_000),
        ],
        models=[model("rank", latency_slo_ms=slo_ms)],
        profiles=curve_rows("rank", "cpu", CPU_CURVE) + curve_rows("rank", "asic", asic_curve),
        regions=[region("east")],
        demand=[{"model_id": "rank", "region_id": "east", "quarter": 0, "peak_qps": DEMAND, **SRC}],
        check=check,
    )


def bought(plan) -> dict[str, int]:
    return plan.purchases.groupby("platform_id")["servers"].sum().astype(int).to_dict()


def test_tight_slo_forces_the_cpu():
    # 5 ms is below the ASIC curve's first bound (20 ms): only the CPU, at 100 qps, serves.
    fleet = slo_fleet(5.0)
    assert set(fleet.profiles["platform_id"]) == {"cpu"}
    plan = plan_verified(fleet)
    assert bought(plan) == {"cpu": 10}
    assert plan.total_cost_usd == pytest.approx(10 * 10_000)


def test_loose_slo_picks_the_asic():
    # 100 ms: CPU 125 qps (held above its last bound) -> 8 x 10,000; ASIC 400 -> 3 x 12,000.
    plan = plan_verified(slo_fleet(100.0))
    assert bought(plan) == {"asic": 3}
    assert plan.total_cost_usd == pytest.approx(3 * 12_000)


def test_curve_is_read_linearly_between_bounds():
    # 60 ms: ASIC 200 + (60 - 20) / (100 - 20) x 200 = 300 qps. 4 ASIC cost 48,000; 3 ASIC
    # (900) + 1 CPU (125) cover 1,000 qps for 46,000; 2 ASIC + 4 CPU cost 64,000.
    fleet = slo_fleet(60.0)
    got = fleet.profiles.set_index("platform_id")
    assert got.at["asic", "qps_per_server"] == pytest.approx(300.0)
    assert got.at["asic", "source_kind"] == "derived"  # interpolated
    assert got.at["cpu", "qps_per_server"] == pytest.approx(125.0)
    plan = plan_verified(fleet)
    assert bought(plan) == {"asic": 3, "cpu": 1}
    assert plan.total_cost_usd == pytest.approx(3 * 12_000 + 10_000)


def test_changing_only_the_slo_changes_the_plan():
    fleet = slo_fleet(100.0)
    tight = Scenario(name="tight", slo_changes={"rank": SloChange(latency_slo_ms=5.0)})
    assert bought(plan_verified(fleet, tight)) == {"cpu": 10}
    assert bought(plan_verified(fleet)) == {"asic": 3}  # the input is untouched


def test_slo_change_keeps_a_platform_throughput_multiplier():
    # ASIC x2 at 100 ms is 800; moving the SLO to 60 ms re-reads 300 x 2 = 600 qps.
    scenario = Scenario.model_validate(
        {
            "name": "both",
            "platform_changes": {"asic": {"throughput_multiplier": 2.0}},
            "slo_changes": {"rank": {"latency_slo_ms": 60.0}},
        }
    )
    new = apply_scenario(slo_fleet(100.0), scenario)
    got = new.profiles.set_index("platform_id")["qps_per_server"]
    assert got["asic"] == pytest.approx(600.0)
    assert got["cpu"] == pytest.approx(125.0)


def test_looser_slo_scenario_adds_a_platform_that_could_not_serve():
    new = apply_scenario(
        slo_fleet(5.0), Scenario(slo_changes={"rank": SloChange(latency_slo_ms=20.0)})
    )
    got = new.profiles.set_index("platform_id")["qps_per_server"]
    assert got["asic"] == pytest.approx(200.0)
    assert got["cpu"] == pytest.approx(100 + 15 / 50 * 25)


def test_check_says_which_platform_cannot_serve_the_slo():
    notes = slo_coverage_notes(slo_fleet(5.0))
    assert notes == [
        "asic cannot serve rank: SLO 5 ms p99 is below the curve's smallest bound 20 ms "
        "(profiles.csv row 3)"
    ]


def test_no_platform_within_the_slo_is_an_error_naming_the_bounds():
    with pytest.raises(FleetDataError) as info:
        slo_fleet(1.0)
    text = str(info.value)
    assert "within its SLO 1 ms p99" in text and "cpu 5 ms" in text and "asic 20 ms" in text
    assert "latency_slo_ms" in text


def test_a_falling_curve_is_an_error_naming_row_and_column():
    with pytest.raises(FleetDataError) as info:
        slo_fleet(100.0, asic_curve=((20.0, 200.0), (100.0, 150.0)))
    text = str(info.value)
    assert "profiles.csv, row 4" in text and "qps_per_server" in text
    assert "throughput falls as the bound loosens" in text


def test_a_higher_percentile_curve_serves_a_lower_percentile_slo_conservatively():
    curves = pd.DataFrame(
        curve_rows("m", "p", ((10.0, 50.0),), percentile=99.0)
        + curve_rows("m", "p", ((10.0, 80.0),), percentile=95.0)
        + curve_rows("n", "p", ((10.0, 50.0),), percentile=99.0)
        + curve_rows("k", "p", ((10.0, 50.0),), percentile=90.0)
    )
    models = pd.DataFrame(
        {
            "model_id": ["m", "n", "k"],
            "latency_slo_ms": [10.0] * 3,
            "latency_percentile": [95.0, 95.0, 95.0],
        }
    )
    got = read_at_slo(curves, models).set_index("model_id")["qps_per_server"]
    assert got["m"] == 80.0  # its own percentile
    assert got["n"] == 50.0  # p99 within 10 ms implies p95 within 10 ms
    assert "k" not in got.index  # p90 says nothing about p95


def test_single_point_profiles_still_load_and_ignore_the_slo(tmp_path):
    fleet = load_fleet("fleet_data/tiny")
    assert fleet.profile_curves.empty
    looser = apply_scenario(fleet, Scenario(slo_changes={"rank": SloChange(latency_slo_ms=500)}))
    pd.testing.assert_series_equal(
        looser.profiles["qps_per_server"], fleet.profiles["qps_per_server"]
    )


def test_write_case_round_trips_curves(tmp_path):
    from planner.case_io import write_case

    fleet = slo_fleet(60.0)
    again = load_fleet(write_case(fleet, tmp_path / "case"))
    assert len(again.profile_curves) == 4
    pd.testing.assert_series_equal(
        again.profiles["qps_per_server"], fleet.profiles["qps_per_server"]
    )


# ------------------------------------------------------------------------------------------
# Named estimated factors


def factor_fleet(low: float = 0.4, value: float = 1.0, high: float = 2.0, asic_factors="asic_x"):
    # ASIC 250 qps at the factor's value 1 (it scales linearly), CPU 100 qps; 1,000 qps.
    return make_fleet(
        platforms=[
            platform("cpu", capex_usd=10_000),
            platform("asic", platform_class="inference_asic", capex_usd=12_000),
        ],
        models=[model("rank")],
        profiles=[
            {**profile("rank", "cpu", 100.0)},
            {**profile("rank", "asic", 250.0), "factors": asic_factors},
        ],
        regions=[region("east")],
        demand=[{"model_id": "rank", "region_id": "east", "quarter": 0, "peak_qps": DEMAND, **SRC}],
        factors=[{"factor_id": "asic_x", "value": value, "low": low, "high": high, **SRC}],
    )


def test_factor_sensitivity_re_derives_the_case_at_both_ends():
    from planner.studies import factor_sensitivity

    table = factor_sensitivity(factor_fleet()).set_index("end")
    # base: 4 ASIC x 12,000 = 48,000. low 0.4: ASIC 100 qps, 10 CPU x 10,000 = 100,000 beat
    # 10 ASIC. high 2: ASIC 500 qps, 2 x 12,000 = 24,000.
    assert table.at["low", "total_cost_usd"] == pytest.approx(100_000)
    assert table.at["low", "purchases"] == "cpu 10"
    assert table.at["high", "total_cost_usd"] == pytest.approx(24_000)
    assert table.at["high", "purchases"] == "asic 2"
    assert table.at["high", "tco_change_pct"] == pytest.approx((24_000 / 48_000 - 1) * 100)
    assert (table["rows_scaled"] == 1).all()
    assert table.at["low", "served_share_cpu"] == pytest.approx(1.0)


def test_with_factor_scales_only_rows_that_used_it_by_their_exponent():
    from planner.factors import with_factor

    fleet = factor_fleet(asic_factors="asic_x^-1")
    got = with_factor(fleet, "asic_x", 2.0).profiles.set_index("platform_id")["qps_per_server"]
    assert got["asic"] == pytest.approx(125.0)  # a divisor doubled halves the throughput
    assert got["cpu"] == pytest.approx(100.0)
    assert fleet.profiles.set_index("platform_id").at["asic", "qps_per_server"] == 250.0


def test_factor_problems_name_file_row_and_column():
    with pytest.raises(FleetDataError) as info:
        factor_fleet(low=1.5)
    assert "factors.csv, row 1" in str(info.value) and "outside its range" in str(info.value)
    with pytest.raises(FleetDataError) as info:
        factor_fleet(asic_factors="asic_y")
    text = str(info.value)
    assert "profiles.csv, row 2" in text and "'factors'" in text and "asic_y" in text


def test_sensitivity_command_with_a_factor(tmp_path):
    from typer.testing import CliRunner

    from planner.case_io import write_case
    from planner.cli import app

    case = write_case(factor_fleet(), tmp_path / "case")
    result = CliRunner().invoke(app, ["sensitivity", str(case), "--factor", "asic_x"])
    assert result.exit_code == 0, result.output
    assert "Sensitivity to named factors" in result.stdout and "cpu 10" in result.stdout
    bad = CliRunner().invoke(app, ["sensitivity", str(case), "--factor", "nope"])
    assert bad.exit_code == 2 and "unknown factor nope" in bad.stderr
