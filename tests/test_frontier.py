"""Cost-power frontier and sensitivity sweeps (planner.frontier) on a tiny fleet by hand.

One region, one quarter, 1000 qps of a model on 250-qps servers: 4 servers. A cpu costs
10,000 USD and draws 1 kW; an asic costs 20,000 USD and draws 0.25 kW. With c cpus and 4 - c
asics the plan costs 80,000 - 10,000 c and draws 1 + 0.75 c kW, so the cheapest plan is 4 cpus
(40,000 USD, 4 kW) and the lowest-power one 4 asics (80,000 USD, 1 kW). Under a power budget B
the best plan has c = floor((B - 1) / 0.75) cpus.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from planner.errors import FleetDataError, InfeasiblePlanError, SolverError
from planner.fleet import Fleet, load_fleet
from planner.frontier import cost_power_frontier, sensitivity
from planner.schema import HOURS_PER_QUARTER
from planner.solve import SolveResult

SRC = {"source": "test", "source_kind": "estimate"}


def platform(pid: str, cls: str, capex: float, watts: float) -> dict:
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
    }


def case_tables(quarters: int = 1, price: float = 0.0) -> dict:
    return {
        "platforms": [
            platform("cpu", "cpu", 10_000, 1000),
            platform("asic", "inference_asic", 20_000, 250),
        ],
        "models": [
            {
                "model_id": "rank",
                "bucket": "ranking",
                "phase": "inference",
                "latency_slo_ms": 100,
                "latency_percentile": 99,
                "memory_gb": 10,
                **SRC,
            }
        ],
        "profiles": [
            {"model_id": "rank", "platform_id": p, "qps_per_server": 250, **SRC}
            for p in ("cpu", "asic")
        ],
        "regions": [
            {
                "region_id": "east",
                "power_cap_kw": 100.0,
                "pue": 1.0,
                "electricity_usd_per_kwh": price,
                **SRC,
            }
        ],
        "demand": [
            {
                "model_id": "rank",
                "region_id": "east",
                "quarter": t,
                "peak_qps": 1000 + 250 * t,
                **SRC,
            }
            for t in range(quarters)
        ],
    }


@pytest.fixture
def make_fleet(tmp_path: Path, write_case: Callable[..., Path]) -> Callable[..., Fleet]:
    """Write the case as CSV files in tmp_path and load it like the CLI does."""
    count = iter(range(100))

    def make(quarters: int = 1, price: float = 0.0, **settings: object) -> Fleet:
        merged = {
            "horizon_quarters": quarters,
            "target_utilization": 1.0,
            "disaster_recovery": {"enabled": False},
            **settings,
        }
        return load_fleet(
            write_case(
                tmp_path / f"case{next(count)}", settings=merged, **case_tables(quarters, price)
            )
        )

    return make


def test_frontier_by_hand(make_fleet: Callable[..., Fleet]) -> None:
    frontier = cost_power_frontier(make_fleet(), points=4)
    # Budgets 1, 2, 3, 4 kW allow 0, 1, 2, 4 cpus.
    assert frontier["power_budget_kw"].tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert frontier["tco_usd"].tolist() == [80_000, 70_000, 60_000, 40_000]
    assert frontier["power_kw"].tolist() == pytest.approx([1.0, 1.75, 2.5, 4.0])
    assert frontier["capex_usd"].tolist() == frontier["tco_usd"].tolist()
    assert (frontier["opex_usd"] == 0).all()
    assert frontier["verified"].all()
    assert (frontier["status"] == "optimal").all()


@pytest.mark.parametrize(
    ("measure", "p_lo", "p_hi"),
    [("peak", 1.25, 5.0), ("average", (1.0 + 1.25) / 2, (4.0 + 5.0) / 2)],
)
def test_frontier_is_monotone_and_within_budget(
    make_fleet: Callable[..., Fleet], measure: str, p_lo: float, p_hi: float
) -> None:
    # Two quarters (1000 then 1250 qps: 4 then 5 servers) and the case's objective set to
    # capex: the frontier minimises TCO whatever the case says. A small energy price pins the
    # in-service servers to the allocated ones (idle servers would cost energy).
    fleet = make_fleet(quarters=2, objective="capex", price=0.01)
    frontier = cost_power_frontier(fleet, measure=measure)  # type: ignore[arg-type]
    assert frontier.attrs["measure"] == measure
    assert len(frontier) == 6
    assert frontier["verified"].all()
    assert frontier["tco_usd"].is_monotonic_decreasing
    assert (frontier["power_kw"] <= frontier["power_budget_kw"] * (1 + 1e-6)).all()
    # Ends by hand: 4 then 5 asics at the low end, 4 then 5 cpus at the high end.
    assert frontier["power_budget_kw"].iloc[0] == pytest.approx(p_lo)
    assert frontier["power_budget_kw"].iloc[-1] == pytest.approx(p_hi)
    cpu_energy = 1.0 * 0.6 * HOURS_PER_QUARTER * 0.01  # kW * load factor * hours * USD/kWh
    assert frontier["tco_usd"].iloc[-1] == pytest.approx(50_000 + (4 + 5) * cpu_energy)
    assert frontier["peak_power_kw"].iloc[-1] == pytest.approx(5.0)
    assert frontier["average_power_kw"].iloc[-1] == pytest.approx(4.5)


def test_frontier_arguments_are_checked(make_fleet: Callable[..., Fleet]) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        cost_power_frontier(make_fleet(), points=1)
    with pytest.raises(ValueError, match="measure"):
        cost_power_frontier(make_fleet(), measure="median")  # type: ignore[arg-type]


def test_frontier_of_an_infeasible_case_says_no_plan_exists(
    make_fleet: Callable[..., Fleet],
) -> None:
    # 0.5 kW is less than the 1 kW of the 4 asics that 1000 qps need: proven infeasible.
    fleet = make_fleet()
    fleet = fleet.replace(regions=fleet.regions.assign(power_cap_kw=0.5))
    with pytest.raises(InfeasiblePlanError, match=r"meets every constraint.*planner plan"):
        cost_power_frontier(fleet, points=2)


def test_frontier_stopped_by_the_time_limit_is_no_verdict_on_the_case(
    make_fleet: Callable[..., Fleet], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A solver stopped before its first plan (as a 0.05 s limit on the default case did)
    # used to be reported as "No plan meets every constraint".
    import planner.frontier as frontier_module

    def stopped(model, **opts):
        return SolveResult("no_solution", "highs", None, None, None, 0.05,
                           message="solver status Not Solved")

    monkeypatch.setattr(frontier_module, "solve_model", stopped)
    with pytest.raises(SolverError) as caught:
        cost_power_frontier(make_fleet(), points=2, time_limit_s=0.05)
    text = str(caught.value)
    assert "within the time limit of 0.05 s (no_solution: solver status Not Solved)" in text
    assert "does not mean none exists: raise --time-limit" in text
    assert "meets every constraint" not in text
    assert caught.value.exit_code == 4


def test_sensitivity_power_cap_with_an_infeasible_point(make_fleet: Callable[..., Fleet]) -> None:
    table = sensitivity(make_fleet(), "power_cap:east", [4.0, 2.5, 0.5])
    assert table["status"].tolist() == ["optimal", "optimal", "infeasible"]
    # 4 kW: 4 cpus; 2.5 kW: c <= (2.5 - 1) / 0.75 = 2 cpus and 2 asics; 0.5 kW < 4 asics' 1 kW.
    assert table["tco_usd"].iloc[:2].tolist() == [40_000, 60_000]
    assert table["power_kw"].iloc[:2].tolist() == pytest.approx([4.0, 2.5])
    assert table["tco_usd"].isna().iloc[2]
    assert "No plan" in table["message"].iloc[2]


def test_sensitivity_other_parameters(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    demand = sensitivity(fleet, "demand:ranking", [1.0, 1.25])
    assert demand["tco_usd"].tolist() == [40_000, 50_000]  # 1250 qps: 5 cpus
    assert demand["servers"].tolist() == [4, 5]
    capex = sensitivity(fleet, "capex:cpu", [2.5])
    assert capex["tco_usd"].tolist() == [80_000]  # a 25,000 USD cpu loses to the asic
    throughput = sensitivity(fleet, "throughput:asic", [2.0])
    # 500-qps asics: 2 of them tie 4 cpus at 40,000 USD; fewer servers break the tie.
    assert throughput["tco_usd"].tolist() == [40_000]
    assert throughput["purchases"].tolist() == [2]
    assert set(demand.columns) >= {
        "parameter",
        "value",
        "status",
        "tco_usd",
        "power_kw",
        "servers",
        "purchases",
    }


def test_sensitivity_rejects_unknown_parameters(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    with pytest.raises(ValueError, match="kind one of"):
        sensitivity(fleet, "latency:rank", [1.0])
    with pytest.raises(ValueError, match="kind one of"):
        sensitivity(fleet, "capex", [1.0])
    with pytest.raises(FleetDataError, match="unknown platform 'tpu'"):
        sensitivity(fleet, "capex:tpu", [1.0])


# ------------------------------------------------------------------------------------------
# status and gap: a point is optimal only when proven for its own budget


def test_frontier_points_carry_status_gap_and_bound(make_fleet: Callable[..., Fleet]) -> None:
    frontier = cost_power_frontier(make_fleet(), points=4)
    assert (frontier["gap"] <= 1e-6).all()  # proven: at most a tie-break apart
    # each bound is the TCO itself (proven), never above it
    assert frontier["best_bound_usd"].tolist() == pytest.approx(frontier["tco_usd"].tolist())
    assert (frontier["best_bound_usd"] <= frontier["tco_usd"]).all()
    # 10,000 USD steps between proven plans are real: no point is flagged
    assert frontier["within_gaps_of_previous"].tolist() == [None, False, False, False]
    assert (frontier["note"] == "").all()


def weak_bounds(monkeypatch: pytest.MonkeyPatch, *, cheapest_bound: bool = True) -> None:
    """Make every solve of the frontier report a bound 10 % under its objective.

    The solver still calls such a result "optimal" here (as a misreported status would);
    the frontier must judge by the bound. With ``cheapest_bound`` False the unconstrained
    cheapest solve reports no bound at all.
    """
    import planner.frontier as frontier_module

    real = frontier_module.solve_model

    def solve(model, **opts):
        result = real(model, **opts)
        names = list(model.prob.constraints)
        unconstrained = not any(n.startswith(("frontier_power_budget", "frontier_peak"))
                                for n in names)
        bound = None if unconstrained and not cheapest_bound else 0.9 * result.objective
        return dataclasses.replace(result, status="optimal", bound=bound, gap=0.1)

    monkeypatch.setattr(frontier_module, "solve_model", solve)
    real_tco = frontier_module._solve_tco

    def solve_tco(fleet, opts, measure="peak", budget_kw=math.inf):
        # TCO points go through the anytime path, not solve_model: weaken their bounds too
        point = real_tco(fleet, opts, measure, budget_kw)
        unconstrained = not math.isfinite(budget_kw)
        bound = None if unconstrained and not cheapest_bound else 0.9 * point.result.objective
        result = dataclasses.replace(point.result, status="optimal", bound=bound, gap=0.1)
        return dataclasses.replace(point, result=result)

    monkeypatch.setattr(frontier_module, "_solve_tco", solve_tco)


def test_unproven_points_are_feasible_and_close_steps_flagged(
    make_fleet: Callable[..., Fleet], monkeypatch: pytest.MonkeyPatch
) -> None:
    weak_bounds(monkeypatch)
    frontier = cost_power_frontier(make_fleet(), points=4)
    assert frontier["tco_usd"].tolist() == [80_000, 70_000, 60_000, 40_000]
    assert (frontier["status"] == "feasible").all()
    assert frontier["gap"].tolist() == pytest.approx([0.1] * 4, rel=1e-4)  # tie-break
    # 10,000 <= 8,000 + 7,000 and 10,000 <= 7,000 + 6,000: within; 20,000 > 6,000 + 4,000
    assert frontier["within_gaps_of_previous"].tolist() == [None, True, True, False]
    assert frontier["note"].tolist() == [
        "",
        "not significant: within the solver gaps of point 0",
        "not significant: within the solver gaps of point 1",
        "",
    ]


def test_top_point_without_a_tco_bound_is_not_called_optimal(
    make_fleet: Callable[..., Fleet], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The top budget has no solve of its own: only the unconstrained solve bounds its TCO.
    weak_bounds(monkeypatch, cheapest_bound=False)
    frontier = cost_power_frontier(make_fleet(), points=4)
    top = frontier.iloc[-1]
    assert top["status"] == "feasible"
    assert top["gap"] is None or pd.isna(top["gap"])
    assert pd.isna(top["best_bound_usd"])
    assert top["within_gaps_of_previous"] is None  # unknown gap: cannot be judged


def test_sensitivity_rows_carry_status_and_gap(make_fleet: Callable[..., Fleet]) -> None:
    # 1.0 twice: the same proven plan, no difference; 1.25: 4 cpus at 12,500 USD = 50,000.
    table = sensitivity(make_fleet(), "capex:cpu", [1.0, 1.0, 1.25])
    assert table["status"].tolist() == ["optimal"] * 3
    assert (table["gap"] <= 1e-9).all()
    assert table["best_bound_usd"].tolist() == pytest.approx(table["tco_usd"].tolist())
    assert table["within_gaps_of_previous"].tolist() == [None, True, False]
    assert table["note"].tolist() == ["", "not significant: within the solver gaps of value 1.0",
                                      ""]


def test_sensitivity_flags_steps_within_hand_set_gaps(
    make_fleet: Callable[..., Fleet], monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.frontier as frontier_module

    real = frontier_module.make_plan
    gaps = iter([0.25, 0.01, 0.01])

    def planned(*args, **kwargs):
        plan = real(*args, **kwargs)
        plan.summary = {**plan.summary, "gap": next(gaps), "status": "feasible"}
        return plan

    monkeypatch.setattr(frontier_module, "make_plan", planned)
    # 40,000 then 50,000 (cpu x1.25) then 80,000 (cpu x2.5 loses to the asic)
    table = sensitivity(make_fleet(), "capex:cpu", [1.0, 1.25, 2.5])
    assert table["tco_usd"].tolist() == [40_000, 50_000, 80_000]
    assert table["status"].tolist() == ["feasible"] * 3
    assert table["gap"].tolist() == pytest.approx([0.25, 0.01, 0.01])
    # 10,000 <= 10,000 + 500; 30,000 > 500 + 800
    assert table["within_gaps_of_previous"].tolist() == [None, True, False]


def test_sensitivity_skips_infeasible_rows_when_comparing(
    make_fleet: Callable[..., Fleet],
) -> None:
    table = sensitivity(make_fleet(), "power_cap:east", [4.0, 0.5, 4.0])
    assert table["status"].tolist() == ["optimal", "infeasible", "optimal"]
    assert table["within_gaps_of_previous"].tolist() == [None, None, True]
    assert table["note"].iloc[2].endswith("of value 4.0")


def test_default_frontier_points_are_good_plans_at_a_short_limit() -> None:
    """TCO points go through the anytime path: a verified plan near its bound at every
    budget even with 2 s per solve (plain HiGHS found no plan or stopped far off at such
    limits on the default case)."""
    import planner as pl

    fleet = pl.load_fleet(Path(__file__).resolve().parents[1] / "fleet_data" / "default")
    frontier = cost_power_frontier(fleet, points=3, time_limit_s=2.0)
    assert frontier["verified"].all()
    assert (frontier["gap"] <= 0.05).all()  # the first plans' ceiling (tests/test_anytime.py)
    assert frontier["tco_usd"].is_monotonic_decreasing
    assert (frontier["power_kw"] <= frontier["power_budget_kw"] * (1 + 1e-6)).all()
