"""Solver plumbing: status mapping, repeated in-process HiGHS solves, hand-worked optima."""

import pytest

import planner as pl

TINY = "fleet_data/tiny"


def test_highs_solves_again_with_another_thread_count():
    # HiGHS keeps a global thread scheduler; a second solve asking for another thread count
    # used to come back "not set" (no plan) unless the scheduler is reset.
    fleet = pl.load_fleet(TINY)
    first = pl.make_plan(fleet, threads=1, insight=True)
    second = pl.make_plan(fleet, threads=2)
    third = pl.make_plan(fleet, threads=1)
    assert first.summary["status"] == second.summary["status"] == third.summary["status"]
    assert second.total_cost_usd == pytest.approx(first.total_cost_usd)
    assert third.total_cost_usd == pytest.approx(first.total_cost_usd)


def test_lp_relaxation_is_its_own_bound():
    fleet = pl.load_fleet(TINY)
    model = pl.build_model(fleet)
    for var in model.variables:
        var.cat = "Continuous"
    result = pl.solve_model(model)
    assert result.status == "optimal"
    assert result.bound == pytest.approx(result.objective)
    assert result.gap == pytest.approx(0.0)


def test_cbc_stopped_on_its_gap_reports_the_bound_not_the_incumbent(tmp_path):
    """CBC says "Optimal solution found (within gap tolerance)" when it stops on gapRel; the
    bound is then the incumbent minus the absolute gap it printed, so the gap is not 0."""
    from cases import tiny_fleet

    from planner.model import build_model
    from planner.solve import _best_bound, _relative_gap

    log = tmp_path / "cbc.log"
    log.write_text(
        "Cbc0011I Exiting as integer gap of 2.5 less than 1e-10 or 1%\n"
        "Cbc0001I Search completed - best objective 250\n"
        "Result - Optimal solution found (within gap tolerance)\n\n"
        "Objective value:                250.00000000\n",
        encoding="utf-8",
    )
    model = build_model(tiny_fleet())
    bound = _best_bound(model, "cbc", str(log), 250.0)
    assert bound == 247.5
    assert _relative_gap(250.0, bound) == 0.01
    complete = tmp_path / "done.log"
    complete.write_text(
        "Result - Optimal solution found\n\nObjective value: 250\n", encoding="utf-8"
    )
    assert _best_bound(model, "cbc", str(complete), 250.0) == 250.0


# fleet_data/tiny, worked out by hand (its README has the long form). Servers of both
# platforms cost, per in-service quarter, energy kW x PUE 1.0 x load factor 1.0 x 2,190 h x
# 0.2 USD/kWh plus 100 USD maintenance: cpu 1.0 kW -> 438 + 100 = 538 USD, asic 0.5 kW ->
# 219 + 100 = 319 USD. Purchases take one quarter to arrive, so:
#   Q0 runs on the 9 installed cpu: east rank 300/100 + vision 100/50 = 3 + 2 = 5 servers,
#      west 200/100 + 100/50 = 2 + 2 = 4 servers          -> 9 x 538               =  4,842
#   Q1 east vision 1,000 qps: 2 asic (2 x 500) beat 20 cpu; east rank 400/100 = 4 cpu;
#      west vision 500 qps: 1 asic; west rank 300/100 = 3 cpu
#      -> 3 asic bought in Q0 (3 x 8,000 = 24,000) and 7 x 538 + 3 x 319          = 28,723
# Total 4,842 + 28,723 = 33,565 USD (capex 24,000, energy 16 x 438 + 3 x 219 = 7,665,
# maintenance 19 x 100 = 1,900).
TINY_CAPEX_USD = 3 * 8_000
TINY_RUNNING_USD = 9 * 538 + 7 * 538 + 3 * 319
TINY_OPTIMUM_USD = TINY_CAPEX_USD + TINY_RUNNING_USD


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_tiny_case_reaches_its_hand_worked_optimum(solver):
    assert TINY_OPTIMUM_USD == 33_565  # the README's number, from the arithmetic above
    plan = pl.make_plan(pl.load_fleet(TINY), solver=solver, time_limit_s=120)
    assert plan.summary["status"] == "optimal"
    assert plan.summary["verified"] is True
    assert plan.summary["solver"] == solver
    assert plan.total_cost_usd == pytest.approx(TINY_OPTIMUM_USD, abs=0.01)
    bought = plan.purchases.groupby(["platform_id", "region_id", "order_quarter"])["servers"].sum()
    assert bought[bought > 0].to_dict() == {("asic", "east", 0): 2, ("asic", "west", 0): 1}


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_tiny_fleet_of_the_test_cases_reaches_its_hand_worked_optimum(solver):
    from cases import tiny_fleet

    # tests/cases.py tiny_fleet: electricity is free and nothing is installed, so cost is capex.
    # rank 1,200 qps (Q1): ceil(1200 / 250) = 5 asic x 12,000 = 60,000 beats 12 cpu x 10,000
    # and 4 asic + 2 cpu = 68,000; vision runs only on cpu: ceil(300 / 50) = 6 x 10,000.
    plan = pl.make_plan(tiny_fleet(), solver=solver, time_limit_s=120)
    assert plan.summary["status"] == "optimal"
    assert plan.summary["verified"] is True
    assert plan.total_cost_usd == pytest.approx(5 * 12_000 + 6 * 10_000, abs=0.01)
