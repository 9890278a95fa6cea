"""Baseline plans (planner.baselines) against hand arithmetic and the verifier."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.baselines import (
    baseline_plans,
    best_single_platform_plan,
    bucket_breakdown,
    compare_to_baselines,
    cpu_only_plan,
    greedy_plan,
    requirements,
)
from planner.fleet import Fleet, fleet_from_frames, load_fleet
from planner.pipeline import make_plan
from planner.verify import verify_plan

SRC = {"source": "test", "source_kind": "estimate"}
NO_DR = {"enabled": False}
ONE_QUARTER = {"horizon_quarters": 1, "target_utilization": 1.0, "disaster_recovery": NO_DR}


def platform(pid: str, cls: str, capex: float, watts: float, **extra: object) -> dict:
    return {
        "platform_id": pid,
        "platform_class": cls,
        "family": "f",
        "generation": "g",
        "power_w": watts,
        "capex_usd": capex,
        "host_memory_gb": 64,
        "lead_time_quarters": 0,
        "lifetime_quarters": 16,
        "rack_units": 1,
        **SRC,
        **extra,
    }


def model_row(mid: str, bucket: str) -> dict:
    return {
        "model_id": mid,
        "bucket": bucket,
        "phase": "inference",
        "latency_slo_ms": 100,
        "latency_percentile": 99,
        "memory_gb": 10,
        **SRC,
    }


def profile(mid: str, pid: str, qps: float) -> dict:
    return {"model_id": mid, "platform_id": pid, "qps_per_server": qps, **SRC}


def region(rid: str, cap_kw: float = 100.0) -> dict:
    return {
        "region_id": rid,
        "power_cap_kw": cap_kw,
        "pue": 1.0,
        "electricity_usd_per_kwh": 0.0,
        **SRC,
    }


def demand(mid: str, rid: str, quarter: int, qps: float) -> dict:
    return {"model_id": mid, "region_id": rid, "quarter": quarter, "peak_qps": qps, **SRC}


# The /tmp/tiny platforms: asic 12,000 USD for 250 qps (48 USD/qps), cpu 10,000 for 100.
ASIC = platform("asic", "inference_asic", 12_000, 400)
CPU = platform("cpu", "cpu", 10_000, 500)


@pytest.fixture
def make_fleet(tmp_path: Path, write_case: Callable[..., Path]) -> Callable[..., Fleet]:
    """Write a case as CSV files in tmp_path and load it like the CLI does."""
    count = iter(range(100))

    def make(settings: dict, **tables: list[dict]) -> Fleet:
        return load_fleet(write_case(tmp_path / f"case{next(count)}", settings=settings, **tables))

    return make


@pytest.fixture
def rounding_case(make_fleet: Callable[..., Fleet]) -> Fleet:
    """rank: 1100 qps on asic (250) or cpu (100); vision: 300 qps on cpu only (50)."""
    return make_fleet(
        ONE_QUARTER,
        platforms=[ASIC, CPU],
        models=[model_row("rank", "ranking"), model_row("vision", "cv")],
        profiles=[
            profile("rank", "asic", 250),
            profile("rank", "cpu", 100),
            profile("vision", "cpu", 50),
        ],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1100), demand("vision", "east", 0, 300)],
    )


def bought(plan) -> dict[str, int]:
    return plan.purchases.groupby("platform_id")["servers"].sum().to_dict()


def test_greedy_cost_against_optimum_by_hand(rounding_case: Fleet) -> None:
    greedy = greedy_plan(rounding_case, "cost")
    # asic has the best qps per dollar: ceil(1100 / 250) = 5 asics; vision: 300 / 50 = 6 cpus.
    assert bought(greedy) == {"asic": 5, "cpu": 6}
    assert greedy.total_cost_usd == 5 * 12_000 + 6 * 10_000
    assert verify_plan(rounding_case, greedy).ok
    # The optimiser fills the last 100 qps with a cpu instead of a fifth asic.
    best = make_plan(rounding_case)
    assert best.total_cost_usd == 4 * 12_000 + 1 * 10_000 + 6 * 10_000

    table = compare_to_baselines(rounding_case, best, {"greedy_cost": greedy})
    by_bucket = table.set_index("bucket")
    assert list(table["bucket"]) == ["cv", "ranking", "total"]
    assert by_bucket.at["ranking", "savings_usd"] == pytest.approx(2_000)
    assert by_bucket.at["ranking", "savings_pct"] == pytest.approx(100 * 2_000 / 60_000)
    assert by_bucket.at["cv", "savings_usd"] == pytest.approx(0.0)
    assert by_bucket.at["total", "savings_pct"] == pytest.approx(100 * 2_000 / 120_000)
    # ranking: 5 asic * 0.4 kW vs 4 asic * 0.4 + the rank cpu's 0.5 kW.
    assert by_bucket.at["ranking", "power_kw_baseline"] == pytest.approx(2.0)
    assert by_bucket.at["ranking", "power_kw_optimised"] == pytest.approx(2.1)
    assert by_bucket.at["total", "servers_baseline"] == 11
    assert bool(by_bucket.at["total", "baseline_verified"])
    assert by_bucket.at["total", "baseline_violations"] == 0


def test_greedy_power_prefers_qps_per_watt(make_fleet: Callable[..., Fleet]) -> None:
    # gpu: 1000 qps for 800 W (1.25 qps/W, best) but 60,000 USD (1/60 qps/USD, worse than
    # the asic's 1/48). 1100 qps: 2 gpus by watts, 5 asics by dollars.
    fleet = make_fleet(
        ONE_QUARTER,
        platforms=[ASIC, platform("gpu", "accelerator_fabric", 60_000, 800)],
        models=[model_row("rank", "ranking")],
        profiles=[profile("rank", "asic", 250), profile("rank", "gpu", 1000)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1100)],
    )
    by_watt, by_dollar = greedy_plan(fleet, "power"), greedy_plan(fleet, "cost")
    assert bought(by_watt) == {"gpu": 2}
    assert by_watt.total_cost_usd == 120_000
    assert by_watt.summary["peak_power_kw"] == pytest.approx(1.6)
    assert bought(by_dollar) == {"asic": 5}
    assert by_dollar.summary["peak_power_kw"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="metric"):
        greedy_plan(fleet, "speed")  # type: ignore[arg-type]


def test_cpu_only(rounding_case: Fleet) -> None:
    plan = cpu_only_plan(rounding_case)
    # ceil(1100 / 100) + 300 / 50 = 11 + 6 cpus.
    assert bought(plan) == {"cpu": 17}
    assert plan.total_cost_usd == 170_000
    assert set(plan.allocation["platform_class"]) == {"cpu"}
    assert verify_plan(rounding_case, plan).ok


def test_cpu_only_leaves_accelerator_models_unserved(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(
        ONE_QUARTER,
        platforms=[ASIC, CPU],
        models=[model_row("rank", "ranking"), model_row("asr", "speech")],
        profiles=[profile("rank", "cpu", 100), profile("asr", "asic", 250)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 100), demand("asr", "east", 0, 250)],
    )
    plan = cpu_only_plan(fleet)
    assert plan.summary["unserved_models"] == ["asr"]
    check = verify_plan(fleet, plan)
    assert not check.ok and set(check.violations["check"]) == {"demand", "min_replicas"}


def test_single_platform_per_bucket(make_fleet: Callable[..., Fleet]) -> None:
    # rank2 is poor on the asic (50 qps) and fine on a cpu (100). Greedy puts it on 1 cpu;
    # one platform for all of ranking must be the asic: 5 + ceil(100 / 50) = 7 asics (84,000)
    # beat 11 + 1 = 12 cpus (120,000).
    fleet = make_fleet(
        ONE_QUARTER,
        platforms=[ASIC, CPU],
        models=[model_row("rank", "ranking"), model_row("rank2", "ranking")],
        profiles=[
            profile("rank", "asic", 250),
            profile("rank", "cpu", 100),
            profile("rank2", "asic", 50),
            profile("rank2", "cpu", 100),
        ],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1100), demand("rank2", "east", 0, 100)],
    )
    single = best_single_platform_plan(fleet)
    assert single.summary["platform_by_bucket"] == {"ranking": "asic"}
    assert bought(single) == {"asic": 7}
    assert single.total_cost_usd == 84_000
    assert greedy_plan(fleet).total_cost_usd == 5 * 12_000 + 10_000
    assert verify_plan(fleet, single).ok


@pytest.mark.parametrize(("regions", "per_region"), [(2, 8), (3, 6)])
def test_disaster_recovery_even_split(
    make_fleet: Callable[..., Fleet], regions: int, per_region: int
) -> None:
    # 1000 qps in every region; losing one, its n - 1 backups share its 1000 qps evenly, so
    # each needs 1000 + 1000 / (n - 1) qps: 2000 (8 asics) for 2 regions, 1500 (6) for 3.
    # That is also the optimum: any n - 1 regions must hold n * 1000 qps.
    names = ["east", "west", "north"][:regions]
    fleet = make_fleet(
        {
            "horizon_quarters": 1,
            "target_utilization": 1.0,
            "disaster_recovery": {"enabled": True, "emergency_utilization": 1.0},
        },
        platforms=[ASIC],
        models=[model_row("rank", "ranking")],
        profiles=[profile("rank", "asic", 250)],
        regions=[region(r) for r in names],
        demand=[demand("rank", r, 0, 1000) for r in names],
    )
    plan = greedy_plan(fleet)
    assert plan.purchases.groupby("region_id")["servers"].sum().to_dict() == dict.fromkeys(
        names, per_region
    )
    assert verify_plan(fleet, plan).ok
    assert make_plan(fleet).total_cost_usd == plan.total_cost_usd


def test_inventory_is_used_first(make_fleet: Callable[..., Fleet]) -> None:
    # 3 installed cpus give 300 qps for free; the other 800 qps take ceil(800 / 250) = 4 asics.
    fleet = make_fleet(
        ONE_QUARTER,
        platforms=[ASIC, CPU],
        models=[model_row("rank", "ranking")],
        profiles=[profile("rank", "asic", 250), profile("rank", "cpu", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1100)],
        inventory=[{"platform_id": "cpu", "region_id": "east", "servers": 3, **SRC}],
    )
    plan = greedy_plan(fleet)
    assert bought(plan) == {"asic": 4}
    assert plan.total_cost_usd == 48_000
    assert plan.fleet.set_index("platform_id").at["cpu", "in_service_servers"] == 3
    assert verify_plan(fleet, plan).ok


def test_supply_limit_falls_back_to_next_platform(make_fleet: Callable[..., Fleet]) -> None:
    # Only 3 asics per quarter (750 qps); the other 350 qps take ceil(350 / 100) = 4 cpus.
    fleet = make_fleet(
        ONE_QUARTER,
        platforms=[platform("asic", "inference_asic", 12_000, 400, supply_per_quarter=3), CPU],
        models=[model_row("rank", "ranking")],
        profiles=[profile("rank", "asic", 250), profile("rank", "cpu", 100)],
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 1100)],
    )
    plan = greedy_plan(fleet)
    assert bought(plan) == {"asic": 3, "cpu": 4}
    assert plan.total_cost_usd == 3 * 12_000 + 4 * 10_000
    assert verify_plan(fleet, plan).ok


def lead_time_fleet(make_fleet: Callable[..., Fleet], with_cpu: bool) -> Fleet:
    """asic takes one quarter to arrive; demand starts in quarter 0."""
    platforms = [platform("asic", "inference_asic", 12_000, 400, lead_time_quarters=1)]
    profiles = [profile("rank", "asic", 250)]
    if with_cpu:
        platforms.append(CPU)
        profiles.append(profile("rank", "cpu", 100))
    return make_fleet(
        {"horizon_quarters": 2, "target_utilization": 1.0, "disaster_recovery": NO_DR},
        platforms=platforms,
        models=[model_row("rank", "ranking")],
        profiles=profiles,
        regions=[region("east")],
        demand=[demand("rank", "east", 0, 500), demand("rank", "east", 1, 500)],
    )


def test_lead_time_respected_where_possible(make_fleet: Callable[..., Fleet]) -> None:
    fleet = lead_time_fleet(make_fleet, with_cpu=True)
    plan = greedy_plan(fleet)
    # Quarter 0 can only be served by 5 cpus (ordered in 0, lead time 0); quarter 1 reuses them.
    assert bought(plan) == {"cpu": 5}
    assert plan.summary["forced_purchases"] == 0
    assert verify_plan(fleet, plan).ok


def test_lead_time_violation_is_returned_and_reported(make_fleet: Callable[..., Fleet]) -> None:
    # No platform can serve quarter 0 in time: the greedy orders 2 asics in quarter 0 anyway
    # (they arrive in quarter 1) and the verifier says quarter 0 runs on servers not there.
    fleet = lead_time_fleet(make_fleet, with_cpu=False)
    plan = greedy_plan(fleet)
    assert plan.summary["forced_purchases"] == 1
    assert bought(plan) == {"asic": 2}
    check = verify_plan(fleet, plan)
    assert not check.ok
    assert "installed" in set(check.violations["check"])


def test_bucket_breakdown_adds_up(rounding_case: Fleet) -> None:
    for plan in [make_plan(rounding_case), *baseline_plans(rounding_case).values()]:
        table = bucket_breakdown(plan).set_index("bucket")
        parts = table.drop(index="total")
        for column in ("servers", "power_kw", "tco_usd"):
            assert parts[column].sum() == pytest.approx(table.at["total", column])
        assert table.at["total", "tco_usd"] == pytest.approx(plan.total_cost_usd)


def test_compare_reports_every_baseline(rounding_case: Fleet) -> None:
    table = compare_to_baselines(rounding_case, make_plan(rounding_case))
    assert set(table["baseline"]) == {"greedy_cost", "greedy_power", "cpu_only", "single_platform"}
    totals = table[table["bucket"] == "total"].set_index("baseline")
    assert totals.at["cpu_only", "tco_usd_baseline"] == 170_000
    assert (totals["savings_usd"] >= 0).all()
    assert totals["baseline_verified"].all()


def test_requirements_with_disaster_recovery(make_fleet: Callable[..., Fleet]) -> None:
    # east 1000, west 600 qps at 0.5 target and 0.8 emergency utilisation. east must hold
    # max(1000 / 0.5, (1000 + 600) / 0.8) = 2000; west max(600 / 0.5, 1600 / 0.8) = 2000.
    fleet = make_fleet(
        {
            "horizon_quarters": 1,
            "target_utilization": 0.5,
            "disaster_recovery": {"enabled": True, "emergency_utilization": 0.8},
        },
        platforms=[ASIC],
        models=[model_row("rank", "ranking")],
        profiles=[profile("rank", "asic", 250)],
        regions=[region("east"), region("west")],
        demand=[demand("rank", "east", 0, 1000), demand("rank", "west", 0, 600)],
    )
    need = requirements(fleet).set_index("region_id")["need_qps"]
    assert need["east"] == pytest.approx(2000)
    assert need["west"] == pytest.approx(2000)


@functools.cache
def three_region_fleet() -> Fleet:
    names = ["east", "west", "north"]
    return fleet_from_frames(
        "prop",
        {"horizon_quarters": 1, "disaster_recovery": {"enabled": True}},
        platforms=pd.DataFrame([ASIC, CPU]),
        models=pd.DataFrame([model_row("rank", "ranking")]),
        profiles=pd.DataFrame([profile("rank", "asic", 250), profile("rank", "cpu", 100)]),
        regions=pd.DataFrame([region(r) for r in names]),
        demand=pd.DataFrame([demand("rank", r, 0, 1000) for r in names]),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    peaks=st.lists(st.integers(0, 3000), min_size=3, max_size=3).filter(any),
    utilization=st.sampled_from([0.5, 0.7, 1.0]),
    emergency=st.sampled_from([0.8, 0.9, 1.0]),
)
def test_greedy_always_verifies_with_disaster_recovery(
    peaks: list[int], utilization: float, emergency: float
) -> None:
    # Any demand over three regions: the even DR split meets every DR row of the model (all
    # baselines share the requirements, so checking one engine run is enough).
    base = three_region_fleet()
    frame = base.demand.iloc[[0, 1, 2]].assign(peak_qps=[float(q) for q in peaks])
    settings_ = base.settings.model_copy(
        update={
            "target_utilization": utilization,
            "disaster_recovery": base.settings.disaster_recovery.model_copy(
                update={"emergency_utilization": emergency}
            ),
        }
    )
    fleet = base.replace(settings=settings_, demand=frame[frame["peak_qps"] > 0])
    check = verify_plan(fleet, greedy_plan(fleet))
    assert check.ok, str(check)
