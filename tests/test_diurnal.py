"""Time of day (planner.diurnal): slots, training on idle inference capacity, savings.

The cases are tiny and hand-computed: capacity 1 query/s per server, utilisation 1, capex
10,000 USD per server and nothing else, so a plan's cost is 10,000 USD per server bought.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from cases import (
    SRC,
    backup,
    call,
    demand,
    make_fleet,
    model,
    platform,
    product,
    profile,
    region,
)

import planner as pl
from planner.diurnal import expand_fleet, hourly_demand, slot_demand
from planner.diurnal.harvest import day_profile
from planner.diurnal.plan import diurnal_line, plan_diurnal, with_diurnal
from planner.scale import build_matrix

CAPEX = 10_000.0
HIGH, LOW = 10 / 7, 4 / 7  # a two-level day, mean 1: peak 10, off-peak 4 of a 10-qps peak


def two_level(subject: str, first_half_high: bool = True) -> list[dict]:
    """Return a load shape: 12 hours at HIGH then 12 at LOW (or the other way round)."""
    return [
        {
            "shape_of": subject,
            "hour": h,
            "relative_load": HIGH if (h < 12) == first_half_high else LOW,
            **SRC,
        }
        for h in range(24)
    ]


@functools.cache  # fleets are immutable: build each tiny case once
def issue_case(slots: int = 2, harvest: bool = True, shaped: bool = True, **settings):
    """The issue's case: inference peak 10 / off-peak 4 servers, training 6 server-slots a day."""
    return make_fleet(
        platforms=[platform("cpu", capex_usd=CAPEX)],
        models=[model("inf"), model("trn", phase="training")],
        profiles=[profile("inf", "cpu", 1.0), profile("trn", "cpu", 1.0)],
        regions=[region("a", demand_share=1.0)],
        products=[product("app", 10.0 * 86_400)],  # 10 queries/s at the peak
        calls=[call("app", "inf", 1.0)],
        demand=[demand("trn", "a", 0, 3.0)],  # 3 samples/s on average: 6 server-slots of 2
        load_shapes=two_level("app") if shaped else [],
        settings={"diurnal": {"slots": slots, "harvest_training": harvest}, **settings},
    )


def bought(plan: pl.Plan) -> int:
    """Return the servers a plan buys."""
    return int(plan.purchases["servers"].sum())


def test_issue_case_harvests_all_training_in_the_off_peak_slot():
    """10 servers serve the peak; training runs in the off-peak slot's 6 idle servers."""
    result = plan_diurnal(issue_case(), compare=True)
    assert bought(result.plan) == 10
    assert result.plan.total_cost_usd == pytest.approx(10 * CAPEX)
    training = result.load.set_index("slot")
    assert training.loc[1, "training_servers"] == 6  # off-peak slot: 10 - 4 = 6 idle
    assert training.loc[0, "training_servers"] == 0
    row = result.harvest.iloc[0]
    assert row["harvested_share"] == pytest.approx(1.0)
    assert row["harvested_server_hours"] == pytest.approx(6 * 12)
    # planned separately, training needs 6 server-slots / 2 slots = 3 servers of its own
    assert bought(result.separate) == 10 + 3
    saved = result.savings.iloc[0]
    assert saved["servers_saved"] == 3
    assert saved["cost_saved_usd"] == pytest.approx(3 * CAPEX)
    assert saved["facility_kw_saved"] == pytest.approx(3 * 0.5)  # 500 W per server, PUE 1


def test_issue_case_without_harvesting_buys_dedicated_training_servers():
    """harvest_training off: training runs flat all day, 10 + 3 servers."""
    result = plan_diurnal(issue_case(harvest=False), peak_fallback=False)
    assert bought(result.plan) == 13
    assert result.harvest.iloc[0]["harvested_share"] == pytest.approx(0.0)


def test_no_slots_plans_exactly_as_without_shapes():
    """slots 0 with shapes: the same model and the same plan tables as a case without shapes."""
    with_shapes, without = issue_case(slots=0), issue_case(slots=0, shaped=False)
    a, b = build_matrix(with_shapes), build_matrix(without)
    assert a.row_names() == b.row_names() and a.column_names() == b.column_names()
    assert (a.matrix != b.matrix).nnz == 0 and np.array_equal(a.cost, b.cost)
    plan_a, plan_b = pl.make_plan(with_shapes), pl.make_plan(without)
    for name in pl.Plan.TABLES:
        pd.testing.assert_frame_equal(getattr(plan_a, name), getattr(plan_b, name), obj=name)
    assert bought(plan_a) == 13  # peak 10 plus flat training 3


def test_slots_keep_each_slots_peak_hour():
    """A slot's demand is the largest hour inside it, so no hour is ever under-sized."""
    fleet = issue_case()
    hourly = hourly_demand(fleet)
    inf = hourly[hourly["model_id"] == "inf"].set_index("hour")["qps"]
    assert inf[0] == pytest.approx(10.0) and inf[23] == pytest.approx(4.0)
    three = slot_demand(hourly, 3).query("model_id == 'inf'").set_index("slot")["peak_qps"]
    assert three.tolist() == pytest.approx([10.0, 10.0, 4.0])  # slot 1 (8-15 h) holds a peak
    assert slot_demand(hourly, 1).query("model_id == 'inf'")["peak_qps"].max() == pytest.approx(
        10.0
    )


def test_utc_offset_moves_the_peak():
    """A region at UTC+12 sees the local morning peak in the UTC evening."""
    fleet = issue_case()
    fleet = fleet.replace(regions=fleet.regions.assign(utc_offset_h=12.0))
    inf = hourly_demand(fleet).query("model_id == 'inf'").set_index("hour")["qps"]
    assert inf[0] == pytest.approx(4.0) and inf[12] == pytest.approx(10.0)


@functools.cache
def dr_case(**diurnal) -> pl.Fleet:
    """Two regions backing each other up, flat inference 5 each, training 3 each."""
    return make_fleet(
        platforms=[platform("cpu", capex_usd=CAPEX)],
        models=[model("inf"), model("trn", phase="training")],
        profiles=[profile("inf", "cpu", 1.0), profile("trn", "cpu", 1.0)],
        regions=[region("a", demand_share=0.5), region("b", demand_share=0.5)],
        topology=[backup("a", "b"), backup("b", "a")],
        products=[product("app", 10.0 * 86_400)],
        calls=[call("app", "inf", 1.0)],
        demand=[demand("trn", "a", 0, 3.0), demand("trn", "b", 0, 3.0)],
        settings={
            "disaster_recovery": {"enabled": True, "emergency_utilization": 1.0},
            "diurnal": {"slots": 2, **diurnal},
        },
    )


def test_dr_reserve_is_not_harvested():
    """Each region keeps 5 + 5 inference servers for the other's loss all day; that reserve
    is not idle capacity, so training buys 3 servers of its own per region."""
    result = plan_diurnal(dr_case(), peak_fallback=False)
    assert bought(result.plan) == 2 * (10 + 3)
    assert result.harvest.iloc[0]["harvested_share"] == pytest.approx(0.0)
    assert "not harvested" in result.summary["dr_note"]


def test_slotted_fleet_pins_both_builders():
    """The PuLP and array builders give the same slotted matrix (volume and per-slot rows)."""
    for fleet in (expand_fleet(issue_case(slots=2)), expand_fleet(dr_case())):
        mm, model = build_matrix(fleet), pl.build_model(fleet)
        names = mm.column_names()
        assert sorted(names) == sorted(v.name for v in model.variables)
        assert sorted(mm.row_names()) == sorted(model.rows)
        assert any(n.startswith("volume_trn") for n in model.rows)
        assert any(n.startswith("capacity_cpu_a_0_1") for n in model.rows)
        matrix = mm.matrix.tocsr()
        for i, name in enumerate(mm.row_names()):
            row = matrix.getrow(i)
            mine = {names[j]: v for j, v in zip(row.indices, row.data, strict=True)}
            theirs = {v.name: a for v, a in model.prob.constraints[name].items()}
            assert mine == pytest.approx(theirs, rel=1e-9), name


def test_day_profile_stacks_load_against_installed_servers():
    """One day, tidy: inference + harvested training per hour never exceeds in-service."""
    result = plan_diurnal(issue_case(), peak_fallback=False)
    day = day_profile(result.load, 0).pivot(index="hour", columns="series", values="servers")
    assert day.loc[0, "inference"] == 10 and day.loc[12, "inference"] == 4
    assert day.loc[12, "harvested training"] == 6 and (day["in service"] == 10).all()
    stacked = day["inference"] + day["harvested training"] + day["dedicated training"]
    assert (stacked <= day["in service"]).all()


def test_with_diurnal_validates_slots():
    """Slots must divide the day."""
    with pytest.raises(ValueError, match="divide 24"):
        with_diurnal(issue_case(), slots=5)


def test_on_device_share_removes_datacenter_demand_from_its_quarter():
    """30 % of ranking on devices from quarter 1: peak 10 -> 7 there; half a moved request's
    work staying in the datacenter leaves 10 * (1 - 0.3 * 0.5) = 8.5."""
    fleet = issue_case(slots=0, horizon_quarters=2)
    moved = pl.scenario_from_dict(
        {"on_device": [{"bucket": "ranking", "share": 0.3, "from_quarter": 1}]}, "edge"
    )
    demand = pl.peak_demand(pl.apply_scenario(fleet, moved)).query("model_id == 'inf'")
    assert demand["peak_qps"].tolist() == pytest.approx([10.0, 7.0])
    assert demand.iloc[0]["peak_qps"] == pytest.approx(10.0)
    stays = pl.scenario_from_dict(
        {"on_device": [{"model": "inf", "share": 0.3, "datacenter_share_per_request": 0.5}]}, "edge"
    )
    plan = pl.make_plan(fleet, stays)
    served = plan.allocation.query("model_id == 'inf'").groupby("quarter")["replicas"].sum()
    assert served.tolist() == [9, 9]  # ceil(8.5) whole servers of 1 query/s each
    with pytest.raises(pl.FleetDataError, match="selects no inference model"):
        pl.apply_scenario(
            fleet,
            pl.scenario_from_dict({"on_device": [{"bucket": "speech", "share": 0.3}]}, "none"),
        )


def test_make_plan_with_slots_plans_the_day():
    """A scenario that sets slots goes through the time-of-day path; the CLI files come along."""
    fleet = issue_case(slots=0)
    plan = pl.make_plan(fleet, pl.scenario_from_dict({"diurnal_slots": 2}, "day"))
    assert bought(plan) == 10
    assert plan.summary["diurnal"]["harvested_share"] == pytest.approx(1.0)
    assert plan.summary["diurnal"]["peak_only_cost_usd"] == pytest.approx(13 * CAPEX)
    assert set(plan.diurnal) >= {"slot_load", "harvest", "harvest_by_slot"}
    check = pl.verify_plan(expand_fleet(with_diurnal(fleet, slots=2)), plan)
    assert check.ok, str(check)


@functools.cache
def sun_case(latency_ms: float = 10.0, share: float = 0.3, dr: bool = False) -> pl.Fleet:
    """Two regions 12 h apart: each needs 10 servers in its local day and 4 at night.

    SLO 100 ms, so an edge may carry the model up to 50 ms (follow_sun_latency_share 0.5).
    """
    return make_fleet(
        platforms=[platform("cpu", capex_usd=CAPEX)],
        models=[model("inf", latency_slo_ms=100)],
        profiles=[profile("inf", "cpu", 1.0)],
        regions=[
            {**region("a", demand_share=0.5), "utc_offset_h": 0.0},
            {**region("b", demand_share=0.5), "utc_offset_h": 12.0},
        ],
        topology=[
            {**backup("a", "b"), "network_latency_ms": latency_ms},
            {**backup("b", "a"), "network_latency_ms": latency_ms},
        ],
        products=[product("app", 20.0 * 86_400)],  # 20 queries/s at the peak, half a region
        calls=[call("app", "inf", 1.0)],
        load_shapes=two_level("app"),
        settings={
            "diurnal": {"slots": 2, "follow_sun_share": share},
            "disaster_recovery": {"enabled": dr, "emergency_utilization": 1.0},
        },
    )


def test_follow_the_sun_serves_each_peak_partly_from_the_other_region():
    """Locally 10 + 10 servers; moving 3 of the peaking region's 10 to the other's 4 leaves
    7 + 7 = 14 servers, in both slots (3 queries/s each way, 12 h each)."""
    local = plan_diurnal(sun_case(share=0.0), peak_fallback=False)
    assert bought(local.plan) == 20 and local.moved.empty
    result = plan_diurnal(sun_case(), peak_fallback=False)
    assert bought(result.plan) == 14
    moves = result.moved.set_index(["slot", "from_region_id", "to_region_id"])["qps"]
    assert moves.to_dict() == pytest.approx({(0, "a", "b"): 3.0, (1, "b", "a"): 3.0})
    # 72 of the day's 2 x (10 x 12 + 4 x 12) = 336 query-hours served in the other region
    assert result.summary["follow_sun_moved_share"] == pytest.approx(72 / 336)
    assert pl.verify_plan(result.fleet, result.plan).ok
    plan = result.as_plan()
    assert "follow_sun" in plan.diurnal and "moved 21.4% of inference" in diurnal_line(
        plan.summary["diurnal"]
    )


def test_follow_the_sun_share_caps_the_load_moved():
    """At most 20 % of 10 moves: 8 servers stay at the peak, 4 + 2 = 6 on the other side."""
    result = plan_diurnal(sun_case(share=0.2), peak_fallback=False)
    assert bought(result.plan) == 16
    assert result.moved["qps"].max() == pytest.approx(2.0)


def test_an_edge_whose_latency_breaks_the_slo_moves_nothing():
    """80 ms of network on a 100 ms SLO (more than half): each region serves its own peak."""
    result = plan_diurnal(sun_case(latency_ms=80.0), peak_fallback=False)
    assert bought(result.plan) == 20 and result.moved.empty
    assert result.summary["follow_sun_moved_share"] == 0.0


def test_follow_the_sun_with_dr_keeps_the_backups_sized_for_the_served_load():
    """Losing a region, the other carries both regions' load (14 in every slot) whatever moved;
    the plan passes verification against the demand where it is served."""
    result = plan_diurnal(sun_case(dr=True), peak_fallback=False)
    assert bought(result.plan) == 28
    assert pl.verify_plan(result.fleet, result.plan).ok


def test_cli_writes_follow_sun_csv_and_verify_checks_the_served_load(tmp_path):
    """`plan` writes the moves; `verify` re-checks the plan where the load is served (and
    fails once the moves are dropped: the origin region is then short)."""
    from cases import write_fleet
    from typer.testing import CliRunner

    from planner.cli import app

    case = write_fleet(sun_case(), tmp_path / "sun")
    out = tmp_path / "plan"
    run = CliRunner().invoke(app, ["plan", str(case), "--out", str(out), "--time-limit", "10"])
    assert run.exit_code == 0, run.output
    moves = pd.read_csv(out / "follow_sun.csv")
    assert moves["qps"].sum() == pytest.approx(6.0)
    assert CliRunner().invoke(app, ["verify", str(case), str(out)]).exit_code == 0
    moves.iloc[0:0].to_csv(out / "follow_sun.csv", index=False)
    assert CliRunner().invoke(app, ["verify", str(case), str(out)]).exit_code == 5


def test_preempting_training_for_dr_lets_the_reserve_run_training():
    """With pre-emption each region keeps 10 servers: 5 own inference and 5 kept for the
    other's loss, on which the 3 servers' worth of training runs until a loss pre-empts it
    (2 x 10 instead of 2 x 13 servers)."""
    result = plan_diurnal(dr_case(preempt_training_for_dr=True), peak_fallback=False)
    assert bought(result.plan) == 2 * 10
    assert "pre-empts" in result.summary["dr_note"]
    rescue = result.emergency
    assert set(rescue["lost_region_id"]) == {"a", "b"}
    # losing a, b serves a's 5 on its own inference replicas plus the pre-empted training
    for lost, survivor in (("a", "b"), ("b", "a")):
        alloc = result.plan.allocation
        mine = (alloc["region_id"] == survivor) & (alloc["phase"] == "inference")
        inference = alloc.loc[mine, "capacity_qps"].sum()
        extra = rescue.loc[rescue["lost_region_id"] == lost, "replicas"].sum()
        assert inference + extra >= 10 - 1e-6 and extra > 0
    facts = result.as_plan().summary["diurnal"]
    assert "dr_preemption" in result.as_plan().diurnal
    # a region loss needs up to 5 servers of the survivor's training back in every slot
    assert 0 < facts["dr_preemptible_share"] <= 1
    assert "would be pre-empted by a region loss" in diurnal_line(facts)
    without = plan_diurnal(dr_case(), peak_fallback=False)  # off: nothing is pre-emptible
    assert without.summary.get("dr_preemptible_share") is None and without.emergency.empty


def test_check_emergency_refuses_pre_empting_more_than_the_training_servers():
    """The independent check: emergency servers beyond the training servers are refused."""
    from planner.diurnal.preempt import check_emergency

    result = plan_diurnal(dr_case(preempt_training_for_dr=True), peak_fallback=False)
    assert check_emergency(result.fleet, result.plan, result.emergency) == []
    inflated = result.emergency.assign(
        replicas=result.emergency["replicas"] + 10, servers=result.emergency["servers"] + 10
    )
    assert any("training servers to pre-empt" in p for p in check_emergency(
        result.fleet, result.plan, inflated))
    none = result.emergency.iloc[0:0]
    assert any("backups give" in p for p in check_emergency(result.fleet, result.plan, none))


def test_cli_verify_checks_the_dr_cover_from_dr_preemption_csv(tmp_path):
    """`verify` re-checks region loss with the written emergency replicas: dropping them
    leaves each survivor short of the lost region's load."""
    from cases import write_fleet
    from typer.testing import CliRunner

    from planner.cli import app

    case = write_fleet(dr_case(preempt_training_for_dr=True), tmp_path / "dr")
    out = tmp_path / "plan"
    run = CliRunner().invoke(app, ["plan", str(case), "--out", str(out), "--time-limit", "10"])
    assert run.exit_code == 0, run.output
    assert "pre-empts" in run.output
    assert CliRunner().invoke(app, ["verify", str(case), str(out)]).exit_code == 0
    rescue = pd.read_csv(out / "dr_preemption.csv")
    rescue.iloc[0:0].to_csv(out / "dr_preemption.csv", index=False)
    failed = CliRunner().invoke(app, ["verify", str(case), str(out)])
    assert failed.exit_code == 5 and "backups give" in failed.output


def test_follow_the_sun_in_a_ring_with_dr_passes_independent_verification():
    """Three regions 8 h apart back each other up in a ring (a->b->c->a) and may serve each
    other's load over the same edges: shifts cross region-loss groups (losing a, b carries
    a's load; what a sent to b or c sent to a changes it), and the plan found must still pass
    verification against the load where it is served."""
    fleet = make_fleet(
        platforms=[platform("cpu", capex_usd=CAPEX)],
        models=[model("inf", latency_slo_ms=100)],
        profiles=[profile("inf", "cpu", 1.0)],
        regions=[
            {**region(r, demand_share=1 / 3), "utc_offset_h": float(8 * i - 8)}
            for i, r in enumerate("abc")
        ],
        topology=[
            {**backup(a, b), "network_latency_ms": 10.0} for a, b in ("ab", "bc", "ca")
        ],
        products=[product("app", 30.0 * 86_400)],
        calls=[call("app", "inf", 1.0)],
        load_shapes=two_level("app"),
        settings={
            "diurnal": {"slots": 6, "follow_sun_share": 0.5},
            "disaster_recovery": {"enabled": True, "emergency_utilization": 1.0},
        },
    )
    local = plan_diurnal(with_diurnal(fleet, follow_sun_share=0.0), peak_fallback=False)
    result = plan_diurnal(fleet, peak_fallback=False)
    assert not result.moved.empty
    assert pl.verify_plan(result.fleet, result.plan).ok
    assert bought(result.plan) <= bought(local.plan)
