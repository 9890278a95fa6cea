"""Scenario overrides: each one changes what it should, is validated, and never mutates input."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from cases import (
    assert_same_tables,
    call,
    demand,
    fleet_tables,
    make_fleet,
    model,
    plan_verified,
    platform,
    power_cap,
    product,
    profile,
    region,
)

from planner.demand import peak_demand
from planner.errors import FleetDataError
from planner.parameters import power_caps
from planner.pipeline import make_plan
from planner.scenarios import (
    MAX_MULTIPLIER,
    Scenario,
    apply_scenario,
    load_scenarios,
    parse_scenarios,
    scenario_from_dict,
    scenario_problems,
    scenario_to_yaml,
)

KEY = ["model_id", "region_id", "quarter"]

TPU = {
    "platform_id": "tpu",
    "platform_class": "inference_asic",
    "family": "tpu_fam",
    "generation": "v1",
    "power_w": 300,
    "capex_usd": 8_000,
    "host_memory_gb": 64,
    "accel_memory_gb": 32,
    "lead_time_quarters": 0,
    "lifetime_quarters": 16,
    "rack_units": 1,
}

EVERYTHING = {
    "description": "every override at once",
    "demand_multiplier": {
        "bucket": {"ranking": 1.5},
        "product": {"feed": 1.2},
        "region": {"east": 2.0},
        "model": {"vision": 0.5},
    },
    "platform_changes": {
        "cpu": {
            "throughput_multiplier": 1.1,
            "capex_multiplier": 0.9,
            "power_multiplier": 1.2,
            "supply_per_quarter": 50,
            "available_from_quarter": 1,
        },
        "asic": {"available": False},
    },
    "new_platforms": [
        {"platform": TPU, "profiles_from": {"platform_id": "asic", "throughput_multiplier": 2.0}}
    ],
    "power_cap_kw": {"east": 42.0},
    "slo_changes": {"rank": {"latency_slo_ms": 50, "throughput_multiplier": 0.8}},
    "disaster_recovery": False,
    "horizon_quarters": 3,
    "objective": "capex",
}


@pytest.fixture(scope="module")
def fleet():
    """rank (ranking) is driven by the feed product: 1,000 qps split 50/50 over east and
    west; vision (cv) has plain demand of 300 qps in east. DR is on; east's cap drops to
    80 kW from Q1."""
    return make_fleet(
        platforms=[
            platform("cpu", capex_usd=10_000, power_w=500),
            platform(
                "asic",
                platform_class="inference_asic",
                capex_usd=12_000,
                power_w=400,
                host_memory_gb=64,
                accel_memory_gb=32,
            ),
        ],
        models=[model("rank", memory_gb=10), model("vision", bucket="cv")],
        profiles=[
            profile("rank", "cpu", 100),
            profile("rank", "asic", 250),
            profile("vision", "cpu", 50),
        ],
        regions=[
            region("east", power_cap_kw=100, demand_share=0.5),
            region("west", power_cap_kw=100, demand_share=0.5),
        ],
        region_power_caps=[power_cap("east", 1, 80)],
        products=[product("feed", 8_640_000)],
        calls=[call("feed", "rank", 10)],
        demand=[demand("vision", "east", 0, 300), demand("vision", "east", 1, 300)],
        settings={
            "horizon_quarters": 2,
            "disaster_recovery": {"enabled": True, "emergency_utilization": 0.8},
        },
    )


def apply(fleet, overrides: dict, name: str = "s"):
    return apply_scenario(fleet, scenario_from_dict(overrides, name=name))


def demand_ratio(fleet, changed) -> pd.Series:
    """Return changed / base peak demand per (model, region, quarter)."""
    base = peak_demand(fleet).set_index(KEY)["peak_qps"]
    new = peak_demand(changed).set_index(KEY)["peak_qps"]
    return (new / base).round(12)


def col(frame: pd.DataFrame, key: str, value: str, column: str) -> list:
    return frame.loc[frame[key] == value, column].tolist()


def test_base_demand(fleet):
    got = peak_demand(fleet).set_index(KEY)["peak_qps"].to_dict()
    # 8,640,000 requests/day = 100 requests/s, 10 rank queries each, half per region.
    assert got == pytest.approx(
        {
            ("rank", "east", 0): 500,
            ("rank", "east", 1): 500,
            ("rank", "west", 0): 500,
            ("rank", "west", 1): 500,
            ("vision", "east", 0): 300,
            ("vision", "east", 1): 300,
        }
    )


# ------------------------------------------------------------------------------------------
# Demand multipliers


def test_bucket_multiplier(fleet):
    ratio = demand_ratio(fleet, apply(fleet, {"demand_multiplier": {"bucket": {"ranking": 2}}}))
    assert (ratio.xs("rank") == 2).all()
    assert (ratio.xs("vision") == 1).all()


def test_product_multiplier(fleet):
    changed = apply(fleet, {"demand_multiplier": {"product": {"feed": 1.5}}})
    assert changed.products["daily_requests"].tolist() == [8_640_000 * 1.5]
    ratio = demand_ratio(fleet, changed)
    assert (ratio.xs("rank") == 1.5).all()
    assert (ratio.xs("vision") == 1).all()


def test_region_multiplier(fleet):
    ratio = demand_ratio(fleet, apply(fleet, {"demand_multiplier": {"region": {"east": 3}}}))
    assert (ratio.xs("east", level="region_id") == 3).all()
    assert (ratio.xs("west", level="region_id") == 1).all()


def test_model_multiplier(fleet):
    ratio = demand_ratio(fleet, apply(fleet, {"demand_multiplier": {"model": {"vision": 0.5}}}))
    assert (ratio.xs("vision") == 0.5).all()
    assert (ratio.xs("rank") == 1).all()


def test_multipliers_compound(fleet):
    changed = apply(
        fleet,
        {
            "demand_multiplier": {
                "bucket": {"ranking": 2},
                "model": {"rank": 3},
                "region": {"east": 0.5},
            }
        },
    )
    ratio = demand_ratio(fleet, changed)
    assert (ratio.xs(("rank", "east"), level=["model_id", "region_id"]) == 2 * 3 * 0.5).all()
    assert (ratio.xs(("rank", "west"), level=["model_id", "region_id"]) == 2 * 3).all()
    assert (ratio.xs("vision") == 0.5).all()


def test_scenarios_stack(fleet):
    once = apply(fleet, {"demand_multiplier": {"model": {"rank": 2}}})
    twice = apply(once, {"demand_multiplier": {"model": {"rank": 2}}})
    assert (demand_ratio(fleet, twice).xs("rank") == 4).all()


def test_more_demand_costs_more(fleet):
    base = plan_verified(fleet)
    grown = scenario_from_dict({"demand_multiplier": {"bucket": {"ranking": 2}}}, name="growth")
    plan = plan_verified(fleet, grown)
    assert plan.summary["scenario"] == "growth"
    assert base.summary["scenario"] is None
    assert plan.total_cost_usd > base.total_cost_usd


# ------------------------------------------------------------------------------------------
# Platform changes


def test_platform_throughput(fleet):
    changed = apply(fleet, {"platform_changes": {"cpu": {"throughput_multiplier": 2}}})
    before = fleet.profiles.set_index(["model_id", "platform_id"])["qps_per_server"]
    after = changed.profiles.set_index(["model_id", "platform_id"])["qps_per_server"]
    assert (after / before).to_dict() == {
        ("rank", "cpu"): 2,
        ("rank", "asic"): 1,
        ("vision", "cpu"): 2,
    }


def test_platform_capex_and_power(fleet):
    changed = apply(
        fleet, {"platform_changes": {"asic": {"capex_multiplier": 0.5, "power_multiplier": 1.5}}}
    )
    assert col(changed.platforms, "platform_id", "asic", "capex_usd") == [12_000 * 0.5]
    assert col(changed.platforms, "platform_id", "asic", "power_w") == [400 * 1.5]
    assert col(changed.platforms, "platform_id", "cpu", "capex_usd") == [10_000]
    assert col(changed.platforms, "platform_id", "cpu", "power_w") == [500]


def test_platform_supply_and_availability(fleet):
    changed = apply(
        fleet,
        {"platform_changes": {"asic": {"supply_per_quarter": 3, "available_from_quarter": 1}}},
    )
    assert col(changed.platforms, "platform_id", "asic", "supply_per_quarter") == [3]
    assert col(changed.platforms, "platform_id", "asic", "available_from_quarter") == [1]
    assert pd.isna(col(changed.platforms, "platform_id", "cpu", "supply_per_quarter")[0])
    plan = plan_verified(
        fleet,
        scenario_from_dict(
            {"platform_changes": {"asic": {"supply_per_quarter": 3, "available_from_quarter": 1}}}
        ),
    )
    asic = plan.purchases[plan.purchases["platform_id"] == "asic"]
    assert (asic["order_quarter"] >= 1).all()
    assert (asic.groupby("order_quarter")["servers"].sum() <= 3).all()


def test_platform_unavailable_is_never_bought(fleet):
    changed = apply(fleet, {"platform_changes": {"asic": {"available": False}}})
    assert col(changed.platforms, "platform_id", "asic", "supply_per_quarter") == [0]
    plan = plan_verified(
        fleet, scenario_from_dict({"platform_changes": {"asic": {"available": False}}})
    )
    assert set(plan.purchases["platform_id"]) == {"cpu"}


def test_new_platform_with_profiles_from(fleet):
    scenario = scenario_from_dict(
        {
            "new_platforms": [
                {
                    "platform": TPU,
                    "profiles_from": {"platform_id": "asic", "throughput_multiplier": 2},
                }
            ]
        },
        name="tpu",
    )
    changed = apply_scenario(fleet, scenario)
    assert changed.platforms["platform_id"].tolist() == ["cpu", "asic", "tpu"]
    new = changed.platforms.iloc[-1]
    assert (new["capex_usd"], new["power_w"], new["supply_per_quarter"]) == (
        8_000,
        300,
        pytest.approx(float("nan"), nan_ok=True),
    )
    assert changed.platforms.dtypes.to_dict() == fleet.platforms.dtypes.to_dict()
    tpu = changed.profiles[changed.profiles["platform_id"] == "tpu"]
    assert tpu[["model_id", "qps_per_server"]].values.tolist() == [["rank", 250 * 2]]
    assert tpu["source_kind"].tolist() == ["estimate"]
    # 500 qps at 500 per server for 8,000 USD beats everything else: rank moves to tpu.
    plan = plan_verified(fleet, scenario)
    assert set(plan.allocation.loc[plan.allocation["model_id"] == "rank", "platform_id"]) == {"tpu"}


def test_new_platform_with_explicit_profiles(fleet):
    changed = apply(
        fleet,
        {
            "new_platforms": [
                {"platform": TPU, "profiles": [{"model_id": "rank", "qps_per_server": 400}]}
            ]
        },
    )
    tpu = changed.profiles[changed.profiles["platform_id"] == "tpu"]
    assert tpu[["model_id", "qps_per_server"]].values.tolist() == [["rank", 400]]


def test_platform_change_applies_to_a_new_platform(fleet):
    changed = apply(
        fleet,
        {
            "new_platforms": [{"platform": TPU, "profiles_from": {"platform_id": "asic"}}],
            "platform_changes": {"tpu": {"capex_multiplier": 2}},
        },
    )
    assert col(changed.platforms, "platform_id", "tpu", "capex_usd") == [8_000 * 2]


@pytest.mark.parametrize(
    "platform_row",
    [
        {k if k != "capex_usd" else "capex": v for k, v in TPU.items()},  # misspelt key
        {k: v for k, v in TPU.items() if k != "lead_time_quarters"},  # required key missing
        TPU | {"power_w": -300},  # invalid value
    ],
    ids=["unknown_key", "missing_key", "negative_power"],
)
def test_new_platform_rows_are_validated(fleet, platform_row):
    scenario = scenario_from_dict(
        {"new_platforms": [{"platform": platform_row, "profiles_from": {"platform_id": "asic"}}]},
        name="bad_tpu",
    )
    with pytest.raises(FleetDataError, match="bad_tpu"):
        make_plan(fleet, scenario)


# ------------------------------------------------------------------------------------------
# Power caps, SLOs, settings


def test_power_cap_override_holds_for_the_whole_horizon(fleet):
    assert power_caps(fleet).set_index(["region_id", "quarter"])["cap_kw"].to_dict() == {
        ("east", 0): 100,
        ("east", 1): 80,
        ("west", 0): 100,
        ("west", 1): 100,
    }
    changed = apply(fleet, {"power_cap_kw": {"east": 42}})
    assert col(changed.regions, "region_id", "east", "power_cap_kw") == [42]
    assert changed.region_power_caps.empty  # east's later cap no longer applies
    assert power_caps(changed).set_index(["region_id", "quarter"])["cap_kw"].to_dict() == {
        ("east", 0): 42,
        ("east", 1): 42,
        ("west", 0): 100,
        ("west", 1): 100,
    }


def test_slo_change(fleet):
    changed = apply(
        fleet, {"slo_changes": {"rank": {"latency_slo_ms": 50, "throughput_multiplier": 0.8}}}
    )
    assert col(changed.models, "model_id", "rank", "latency_slo_ms") == [50]
    assert col(changed.models, "model_id", "vision", "latency_slo_ms") == [100]
    after = changed.profiles.set_index(["model_id", "platform_id"])["qps_per_server"].to_dict()
    assert after == pytest.approx(
        {("rank", "cpu"): 80, ("rank", "asic"): 200, ("vision", "cpu"): 50}
    )


def test_disaster_recovery_off(fleet):
    changed = apply(fleet, {"disaster_recovery": False})
    assert changed.settings.disaster_recovery.enabled is False
    assert changed.settings.disaster_recovery.emergency_utilization == 0.8  # kept
    base = plan_verified(fleet)
    no_dr = plan_verified(fleet, scenario_from_dict({"disaster_recovery": False}))
    assert no_dr.total_cost_usd < base.total_cost_usd
    assert "west" not in set(
        no_dr.allocation.loc[no_dr.allocation["model_id"] == "vision", "region_id"]
    )


def test_horizon_longer(fleet):
    changed = apply(fleet, {"horizon_quarters": 3})
    assert changed.settings.horizon_quarters == 3
    assert changed.quarters == [0, 1, 2]
    assert sorted(peak_demand(changed)["quarter"].unique()) == [0, 1, 2]
    plan = plan_verified(fleet, scenario_from_dict({"horizon_quarters": 3}))
    assert plan.summary["horizon_quarters"] == 3


def test_horizon_shorter_plans_fewer_quarters(fleet):
    plan = plan_verified(fleet, scenario_from_dict({"horizon_quarters": 1}))
    assert plan.summary["horizon_quarters"] == 1
    assert set(plan.allocation["quarter"]) == {0}


def test_objective(fleet):
    changed = apply(fleet, {"objective": "power"})
    assert changed.settings.objective == "power"
    assert fleet.settings.objective == "tco"
    plan = plan_verified(fleet, scenario_from_dict({"objective": "power"}))
    assert plan.summary["objective"] == "power"


def test_other_settings_untouched(fleet):
    changed = apply(fleet, {"objective": "capex"})
    assert changed.settings.model_dump(exclude={"objective"}) == fleet.settings.model_dump(
        exclude={"objective"}
    )


# ------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"demand_multipler": {"model": {"rank": 2}}}, ["demand_multipler", "unknown key"]),
        ({"demand_multiplier": {"buckets": {"ranking": 2}}}, ["demand_multiplier.buckets"]),
        ({"platform_changes": {"cpu": {"capex": 2}}}, ["platform_changes.cpu.capex"]),
        ({"slo_changes": {"rank": {"latency_slo": 5}}}, ["slo_changes.rank"]),
        (
            {"new_platforms": [{"platform": TPU, "profile_from": {"platform_id": "asic"}}]},
            ["new_platforms.0.profile_from"],
        ),
        ({"platform_changes": {"cpu": {"capex_multiplier": 0}}}, ["capex_multiplier"]),
        ({"horizon_quarters": 0}, ["horizon_quarters"]),
        ({"objective": "cost"}, ["objective"]),
    ],
)
def test_unknown_or_invalid_keys_are_data_errors(overrides, words):
    with pytest.raises(FleetDataError) as exc:
        parse_scenarios({"scenarios": {"what_if": overrides}})
    text = str(exc.value)
    assert "what_if" in text
    for word in words:
        assert word in text


@pytest.mark.parametrize(
    "overrides",
    [
        {"demand_multiplier": {"model": {"rank": -1}}},
        {"demand_multiplier": {"region": {"east": -0.5}}},
        {"power_cap_kw": {"east": -5}},
        {"power_cap_kw": {"east": 0}},
    ],
    ids=["negative_model_multiplier", "negative_region_multiplier", "negative_cap", "zero_cap"],
)
def test_out_of_range_values_are_data_errors(overrides):
    with pytest.raises(FleetDataError, match="what_if"):
        parse_scenarios({"scenarios": {"what_if": overrides}})


def test_all_problems_are_reported_at_once():
    with pytest.raises(FleetDataError) as exc:
        parse_scenarios({"scenarios": {"a": {"bogus": 1}, "b": {"objective": "x"}, "c": {}}})
    assert len(exc.value.problems) == 2
    assert "scenario 'a'" in str(exc.value) and "scenario 'b'" in str(exc.value)


@pytest.mark.parametrize(
    "data", [None, [], {"scenario": {}}, {"scenarios": [1]}, {"scenarios": {}, "extra": 1}]
)
def test_malformed_scenario_files(data):
    with pytest.raises(FleetDataError, match="scenarios"):
        parse_scenarios(data)


@pytest.mark.parametrize(
    "overrides, kind, bad",
    [
        ({"demand_multiplier": {"bucket": {"speech": 2}}}, "bucket", "speech"),
        ({"demand_multiplier": {"product": {"camera": 2}}}, "product", "camera"),
        ({"demand_multiplier": {"region": {"north": 2}}}, "region", "north"),
        ({"demand_multiplier": {"model": {"nosuch": 2}}}, "model", "nosuch"),
        ({"platform_changes": {"gpu": {"capex_multiplier": 2}}}, "platform", "gpu"),
        (
            {"new_platforms": [{"platform": TPU, "profiles_from": {"platform_id": "gpu"}}]},
            "platform",
            "gpu",
        ),
        ({"power_cap_kw": {"north": 10}}, "region", "north"),
        ({"slo_changes": {"nosuch": {"latency_slo_ms": 5}}}, "model", "nosuch"),
    ],
)
def test_unknown_ids_are_data_errors(fleet, overrides, kind, bad):
    before = fleet_tables(fleet)
    with pytest.raises(FleetDataError) as exc:
        apply(fleet, overrides, name="what_if")
    text = str(exc.value)
    assert "scenario 'what_if'" in text
    assert f"unknown {kind} '{bad}'" in text
    assert_same_tables(before, fleet)


def test_unknown_scenario_ids_all_reported(fleet):
    with pytest.raises(FleetDataError) as exc:
        apply(fleet, {"power_cap_kw": {"north": 1, "south": 2}}, name="x")
    assert len(exc.value.problems) == 2


# ------------------------------------------------------------------------------------------
# Purity and round trips


def test_input_fleet_is_never_mutated(fleet):
    before = fleet_tables(fleet)
    settings = fleet.settings.model_copy(deep=True)
    changed = apply(fleet, EVERYTHING, name="everything")
    assert_same_tables(before, fleet)
    assert fleet.settings == settings
    assert fleet.demand_adjustments is None
    # ... while the copy did change
    assert changed.settings.horizon_quarters == 3
    assert len(changed.platforms) == 3
    for name in ("platforms", "profiles", "models", "regions", "products"):
        assert changed.table(name) is not fleet.table(name)


FEASIBLE = {
    "demand_multiplier": {
        "bucket": {"ranking": 1.5},
        "product": {"feed": 1.2},
        "region": {"east": 2.0},
        "model": {"vision": 0.5},
    },
    "platform_changes": {
        "cpu": {
            "throughput_multiplier": 1.1,
            "capex_multiplier": 0.9,
            "power_multiplier": 1.2,
            "supply_per_quarter": 50,
        },
        "asic": {"available": False},
    },
    "new_platforms": [
        {"platform": TPU, "profiles_from": {"platform_id": "asic", "throughput_multiplier": 2.0}}
    ],
    "power_cap_kw": {"east": 42.0},
    "slo_changes": {"rank": {"latency_slo_ms": 50, "throughput_multiplier": 0.8}},
    "disaster_recovery": False,
    "horizon_quarters": 3,
    "objective": "capex",
}


def test_make_plan_does_not_mutate_its_input(fleet):
    before = fleet_tables(fleet)
    settings = fleet.settings.model_copy(deep=True)
    plan = plan_verified(fleet, scenario_from_dict(FEASIBLE, name="feasible"))
    assert plan.summary["scenario"] == "feasible"
    assert_same_tables(before, fleet)
    assert fleet.settings == settings


def test_applying_twice_gives_equal_fleets(fleet):
    scenario = scenario_from_dict(EVERYTHING)
    one, two = apply_scenario(fleet, scenario), apply_scenario(fleet, scenario)
    for name, table in fleet_tables(one).items():
        pd.testing.assert_frame_equal(fleet_tables(two)[name], table, obj=name)
    assert one.settings == two.settings


ROUND_TRIP = {
    "base": {},
    "everything": EVERYTHING,
    "explicit_profiles": {
        "new_platforms": [
            {
                "platform": TPU | {"supply_per_quarter": None},
                "profiles": [{"model_id": "rank", "qps_per_server": 70.5}],
            }
        ]
    },
    "defaults_spelt_out": {
        "platform_changes": {"cpu": {"capex_multiplier": 1.0}},
        "disaster_recovery": True,
    },
    "numbers_as_names": {"power_cap_kw": {"east": 10}},
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_scenario_to_yaml_round_trips(name):
    scenario = scenario_from_dict(ROUND_TRIP[name], name=name)
    text = scenario_to_yaml(scenario)
    again = parse_scenarios(yaml.safe_load(text))
    assert list(again) == [name]
    assert again[name] == scenario
    assert scenario_to_yaml(again[name]) == text


def test_scenario_named_like_a_number_round_trips():
    scenario = Scenario(name="2025", objective="power")
    assert parse_scenarios(yaml.safe_load(scenario_to_yaml(scenario)))["2025"] == scenario


def test_load_scenarios_from_a_case_folder(tmp_path):
    assert load_scenarios(tmp_path) == {}
    scenario = scenario_from_dict(EVERYTHING, name="everything")
    (tmp_path / "scenarios.yaml").write_text(scenario_to_yaml(scenario), encoding="utf-8")
    assert load_scenarios(tmp_path) == {"everything": scenario}
    (tmp_path / "scenarios.yaml").write_text("scenarios: [unclosed", encoding="utf-8")
    with pytest.raises(FleetDataError, match=r"scenarios\.yaml"):
        load_scenarios(tmp_path)


# ------------------------------------------------------------------------------------------
# Validation of scenarios.yaml against the case (issue 12): bounds, strict YAML, all at once


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"demand_multiplier": {"bucket": {"ranking": 1e300}}}, "demand_multiplier.bucket.ranking"),
        (
            {"demand_multiplier": {"region": {"east": float("inf")}}},
            "demand_multiplier.region.east",
        ),
        (
            {"platform_changes": {"cpu": {"capex_multiplier": 1e-300}}},
            "platform_changes.cpu.capex_multiplier",
        ),
        (
            {"platform_changes": {"cpu": {"supply_per_quarter": 1e12}}},
            "platform_changes.cpu.supply_per_quarter",
        ),
        ({"power_cap_kw": {"east": 1e300}}, "power_cap_kw.east"),
        ({"slo_changes": {"rank": {"latency_slo_ms": 1e-300}}}, "slo_changes.rank.latency_slo_ms"),
    ],
)
def test_implausible_overrides_are_refused(overrides, key):
    with pytest.raises(FleetDataError) as exc:
        scenario_from_dict(overrides, name="wild")
    assert any(f"scenario 'wild', key '{key}" in p.message for p in exc.value.problems), (
        exc.value.render()
    )


def test_largest_plausible_multiplier_is_accepted():
    scenario = scenario_from_dict({"demand_multiplier": {"bucket": {"ranking": MAX_MULTIPLIER}}})
    assert scenario.demand_multiplier.bucket["ranking"] == MAX_MULTIPLIER


def test_scenario_problems_collects_every_scenario(fleet):
    scenarios = parse_scenarios(
        {
            "scenarios": {
                "ok": {"demand_multiplier": {"bucket": {"ranking": 2}}},
                "bad_region": {"power_cap_kw": {"north": 10}},
                "bad_platform": {"platform_changes": {"gpu": {"capex_multiplier": 2}}},
            }
        }
    )
    problems = scenario_problems(fleet, scenarios)
    text = "\n".join(p.render() for p in problems)
    assert "scenario 'bad_region' names unknown region 'north'" in text
    assert "scenario 'bad_platform' names unknown platform 'gpu'" in text
    assert "'ok'" not in text
    assert len(problems) == 2


def test_scenario_that_pushes_a_value_out_of_range(fleet):
    # 500 W x 1000 = 500 kW per server, above the schema's 100 kW
    scenarios = parse_scenarios(
        {"scenarios": {"hot": {"platform_changes": {"cpu": {"power_multiplier": 1000}}}}}
    )
    (p,) = scenario_problems(fleet, scenarios)
    assert p.message.startswith("scenario 'hot' makes platforms.csv row 1 power_w = 5e+05")
    assert "from 1 to 100,000 W" in p.message


def test_scenario_whose_compound_demand_is_implausible(fleet):
    # rank in east: 500 qps x 1000 (bucket) x 1000 (model) x 1000 (region) x 1000 (product)
    scenarios = parse_scenarios(
        {
            "scenarios": {
                "boom": {
                    "demand_multiplier": {
                        "bucket": {"ranking": 1000},
                        "model": {"rank": 1000},
                        "region": {"east": 1000},
                        "product": {"feed": 1000},
                    }
                }
            }
        }
    )
    (p,) = scenario_problems(fleet, scenarios)
    assert p.message.startswith("scenario 'boom': products.csv")
    assert "model 'rank' gets a peak demand of 5e+14 queries/s in region 'east'" in p.message


def test_scenarios_yaml_duplicate_name_is_refused(tmp_path):
    (tmp_path / "scenarios.yaml").write_text(
        "scenarios:\n  a:\n    description: one\n  a:\n    description: two\n"
    )
    with pytest.raises(FleetDataError) as exc:
        load_scenarios(tmp_path)
    assert exc.value.problems[0].message == (
        "line 4: duplicate key 'scenarios.a' (first on line 2)"
    )


def test_scenarios_yaml_alias_is_refused(tmp_path):
    (tmp_path / "scenarios.yaml").write_text(
        "scenarios:\n  a: &base {description: one}\n  b: *base\n"
    )
    with pytest.raises(FleetDataError) as exc:
        load_scenarios(tmp_path)
    assert exc.value.problems[0].message == "line 2: defines an anchor (&base)"


def test_scenario_problems_name_the_line(tmp_path):
    (tmp_path / "scenarios.yaml").write_text(
        "scenarios:\n  a:\n    description: one\n    demand_multiplier:\n"
        "      bucket:\n        ranking: -2\n"
    )
    with pytest.raises(FleetDataError) as exc:
        load_scenarios(tmp_path)
    (p,) = exc.value.problems
    assert p.message.startswith("scenario 'a', key 'demand_multiplier.bucket.ranking' (line 6)")
    assert p.value == -2
