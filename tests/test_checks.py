"""Cross-table checks of :mod:`planner.checks`, on a small case and on the default fleet."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from planner.checks import backup_graph, check_fleet, fleet_problems, memory_fit
from planner.errors import FleetDataError, Problem
from planner.fleet import load_fleet

SRC = {"source": "test", "source_kind": "estimate"}
PRODUCTS = [
    {
        "product_id": "feed",
        "daily_requests": 1e9,
        "peak_to_average": 2.0,
        "growth_per_quarter": 0.05,
        **SRC,
    },
    {
        "product_id": "camera",
        "daily_requests": 1e8,
        "peak_to_average": 1.5,
        "growth_per_quarter": 0.0,
        **SRC,
    },
]
CALLS = [
    {"caller_id": "feed", "model_id": "rank_a", "items_per_request": 50, **SRC},
    {"caller_id": "camera", "model_id": "vision_b", "items_per_request": 1, **SRC},
    {"caller_id": "rank_a", "model_id": "speech_c", "items_per_request": 0.1, **SRC},
]


def problems_of(case_dir: Path) -> tuple[list[Problem], str]:
    """Load ``case_dir`` expecting failure; return the problems and the rendered error."""
    with pytest.raises(FleetDataError) as exc:
        load_fleet(case_dir)
    return exc.value.problems, str(exc.value)


def only(problems: list[Problem], **where: object) -> Problem:
    """Return the single problem whose attributes equal ``where``."""
    found = [p for p in problems if all(getattr(p, k) == v for k, v in where.items())]
    assert len(found) == 1, f"expected one problem with {where}, got {problems}"
    return found[0]


def append_row(case_dir: Path, file: str, row: dict[str, object]) -> int:
    """Append a row to ``file``; return its 1-based data row."""
    path = case_dir / file
    frame = pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None
    new = pd.DataFrame([{k: str(v) for k, v in row.items()}])
    frame = new if frame is None else pd.concat([frame, new], ignore_index=True).fillna("")
    frame.to_csv(path, index=False)
    return len(frame)


@pytest.fixture
def product_case(case_dir: Path, write_case: Callable[..., Path]) -> Path:
    """Return the small case driven by products and calls instead of demand.csv."""
    return write_case(case_dir, products=PRODUCTS, calls=CALLS, demand=None)


def test_small_case_passes_every_check(case_dir, product_case):
    assert fleet_problems(load_fleet(case_dir, check=False)) == []
    load_fleet(product_case)


def test_check_fleet_raises_once_with_every_problem(case_dir):
    fleet = load_fleet(case_dir, check=False)
    broken = fleet.replace(
        profiles=fleet.profiles.iloc[:3],  # speech_c loses its only profile
        regions=fleet.regions.iloc[:1],  # DR with one region; demand for 'west' dangles
    )
    with pytest.raises(FleetDataError) as exc:
        check_fleet(broken)
    assert exc.value.header == "Invalid fleet data in case"
    files = [p.file for p in exc.value.problems]
    assert files.count("demand.csv") == 6 and "models.csv" in files and "regions.csv" in files
    assert str(exc.value).startswith("Invalid fleet data in case: 8 problems found")


def test_duplicate_key(case_dir):
    row = append_row(
        case_dir,
        "models.csv",
        {
            "model_id": "vision_b",
            "bucket": "cv",
            "phase": "inference",
            "latency_slo_ms": 1,
            "latency_percentile": 99,
            "memory_gb": 1,
            **SRC,
        },
    )
    problems, text = problems_of(case_dir)
    p = only(problems, file="models.csv", row=row, column="model_id")
    assert p.value == "vision_b"
    assert "first on row 2" in p.message
    assert f"delete row {row} or merge it into row 2" in p.fix
    assert "models.csv, row 4 (line 5), column 'model_id': duplicate key" in text


def test_duplicate_composite_key_names_every_repeat(case_dir):
    profile = {"model_id": "rank_a", "platform_id": "gpu_b", "qps_per_server": 1, **SRC}
    rows = [append_row(case_dir, "profiles.csv", profile) for _ in range(2)]
    problems, _ = problems_of(case_dir)
    dups = [p for p in problems if p.message.startswith("duplicate key")]
    assert [p.row for p in dups] == rows
    assert all(p.file == "profiles.csv" and p.column == "model_id, platform_id" for p in dups)
    assert all("first on row 2" in p.message for p in dups)
    assert dups[0].value == ("rank_a", "gpu_b")


def test_duplicate_key_with_blank_part(case_dir, write_case):
    inventory = [{"platform_id": "cpu_a", "region_id": "east", "servers": 10, **SRC}] * 2
    write_case(case_dir, inventory=inventory)
    problems, _ = problems_of(case_dir)
    assert only(problems, file="inventory.csv", row=2).column == (
        "platform_id, region_id, retire_quarter"
    )


@pytest.mark.parametrize(
    ("file", "row", "column", "value", "hint"),
    [
        ("profiles.csv", 2, "platform_id", "gpu_c", "did you mean 'gpu_b'?"),
        ("profiles.csv", 1, "model_id", "ranker", "from models.csv"),
        ("demand.csv", 3, "region_id", "north", "known: east, west"),
    ],
)
def test_dangling_reference(case_dir, mutate, file, row, column, value, hint):
    mutate(case_dir, file, row, column, value)
    problems, _ = problems_of(case_dir)
    p = only(problems, file=file, row=row, column=column)
    assert p.value == value
    assert p.message.startswith("refers to an unknown id")
    assert hint in p.fix


def test_dangling_caller_must_be_product_or_model(product_case, mutate):
    mutate(product_case, "calls.csv", 2, "caller_id", "camra")
    problems, _ = problems_of(product_case)
    p = only(problems, file="calls.csv", row=2, column="caller_id")
    assert "products.csv or models.csv" in p.message
    assert "did you mean 'camera'?" in p.fix


def test_model_caller_is_a_valid_reference(product_case):
    fleet = load_fleet(product_case)
    assert "rank_a" in set(fleet.calls["caller_id"])


def test_model_without_profile(case_dir, read_table, write_case):
    profiles = read_table(case_dir, "profiles.csv")
    write_case(case_dir, profiles=profiles[profiles["model_id"] != "speech_c"])
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv", row=3, column="model_id")
    assert p.value == "speech_c"
    assert "no platform can serve model 'speech_c'" in p.message
    assert p.fix.startswith("add a profiles.csv row for it")


def test_memory_too_large_for_every_platform(case_dir, mutate):
    mutate(case_dir, "models.csv", 1, "memory_gb", 10000)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv", row=1, column="memory_gb")
    assert p.value == 10000
    assert "at most 512 GB on gpu_b" in p.message
    assert p.fix.startswith("raise max_shards to at least 20")
    assert "add a platform" in p.fix


def test_profile_that_does_not_fit_is_not_an_error(case_dir):
    append_row(
        case_dir,
        "profiles.csv",
        {"model_id": "vision_b", "platform_id": "cpu_a", "qps_per_server": 5, **SRC},
    )
    fleet = load_fleet(case_dir)
    fit = memory_fit(fleet)
    assert list(fit.index) == [0, 1, 2, 3, 4]  # profiles.csv rows 1..5
    assert fit.loc[4, ["servers_per_replica", "fits"]].tolist() == [10, False]
    assert fit.loc[2, ["servers_per_replica", "fits"]].tolist() == [2, True]


def test_memory_fit_columns(case_dir):
    fit = memory_fit(load_fleet(case_dir))
    assert {
        "model_id",
        "platform_id",
        "qps_per_server",
        "memory_gb",
        "max_shards",
        "capacity_gb",
        "servers_per_replica",
        "fits",
    } <= set(fit.columns)
    assert fit["servers_per_replica"].dtype == "int64"
    assert fit["fits"].dtype == bool
    assert fit["fits"].all()
    assert fit.set_index(["model_id", "platform_id"])["capacity_gb"].to_dict() == {
        ("rank_a", "cpu_a"): 64.0,
        ("rank_a", "gpu_b"): 512.0,
        ("vision_b", "gpu_b"): 512.0,
        ("speech_c", "cpu_a"): 64.0,
    }


def test_memory_exactly_at_capacity_fits(case_dir, mutate):
    mutate(case_dir, "models.csv", 2, "memory_gb", 1024)  # 2 shards x 512 GB
    fit = memory_fit(load_fleet(case_dir))
    assert fit.loc[2, ["servers_per_replica", "fits"]].tolist() == [2, True]


def test_memory_fit_agrees_with_model_candidates(case_dir):
    from planner.parameters import candidates

    append_row(
        case_dir,
        "profiles.csv",
        {"model_id": "vision_b", "platform_id": "cpu_a", "qps_per_server": 5, **SRC},
    )
    fleet = load_fleet(case_dir)
    fit = memory_fit(fleet)
    usable = fit[fit["fits"]].set_index(["model_id", "platform_id"])["servers_per_replica"]
    built = candidates(fleet).set_index(["model_id", "platform_id"])["servers_per_replica"]
    assert usable.sort_index().to_dict() == built.sort_index().to_dict()


def test_platform_not_available_within_horizon(case_dir, mutate):
    mutate(case_dir, "platforms.csv", 2, "available_from_quarter", 5)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv", row=2, column="model_id")  # vision_b: only gpu_b
    assert p.value == "vision_b"
    assert "no platform in service within the 2-quarter horizon" in p.message
    assert "lower available_from_quarter" in p.fix
    assert not any(p.value == "rank_a" for p in problems)  # rank_a still has cpu_a


def test_late_platform_is_fine_with_inventory(case_dir, mutate, write_case):
    mutate(case_dir, "platforms.csv", 2, "available_from_quarter", 5)
    write_case(
        case_dir,
        inventory=[
            {"platform_id": "gpu_b", "region_id": "east", "servers": 4, "retire_quarter": 30, **SRC}
        ],
    )
    load_fleet(case_dir)


def test_lead_time_past_horizon_counts_as_unavailable(case_dir, mutate):
    mutate(case_dir, "platforms.csv", 2, "lead_time_quarters", 2)  # ordered q0, arrives q2
    problems, _ = problems_of(case_dir)
    assert only(problems, file="models.csv").value == "vision_b"


def test_cycle_in_calls(product_case):
    row = append_row(
        product_case,
        "calls.csv",
        {"caller_id": "speech_c", "model_id": "rank_a", "items_per_request": 1, **SRC},
    )
    problems, _ = problems_of(product_case)
    p = only(problems, file="calls.csv", column="caller_id")
    assert p.value in ("rank_a -> speech_c -> rank_a", "speech_c -> rank_a -> speech_c")
    assert f"(rows 3, {row})" in p.message
    assert p.row == 3
    assert "delete one of these calls" in p.fix


def test_self_call_is_a_cycle(product_case):
    row = append_row(
        product_case,
        "calls.csv",
        {"caller_id": "vision_b", "model_id": "vision_b", "items_per_request": 1, **SRC},
    )
    problems, _ = problems_of(product_case)
    p = only(problems, file="calls.csv", row=row)
    assert p.value == "vision_b -> vision_b"


def test_no_demand_at_all(case_dir):
    (case_dir / "demand.csv").unlink()
    problems, _ = problems_of(case_dir)
    p = only(problems, file="demand.csv")
    assert p.message.startswith("no model has any demand")
    assert p.fix == "add products.csv and calls.csv, or demand.csv"


def test_zero_demand_is_no_demand(case_dir, read_table, write_case):
    demand = read_table(case_dir, "demand.csv").assign(peak_qps="0")
    write_case(case_dir, demand=demand)
    problems, _ = problems_of(case_dir)
    assert only(problems, file="demand.csv").fix == "add products.csv and calls.csv, or demand.csv"


def test_products_without_calls(case_dir, write_case):
    write_case(case_dir, products=PRODUCTS)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="products.csv")
    assert "calls.csv is missing or empty" in p.message
    assert p.fix.startswith("add calls.csv")


def test_calls_without_products(case_dir, write_case):
    write_case(
        case_dir,
        calls=[{"caller_id": "rank_a", "model_id": "speech_c", "items_per_request": 1, **SRC}],
    )
    problems, _ = problems_of(case_dir)
    p = only(problems, file="calls.csv")
    assert "products.csv is missing or empty" in p.message
    assert p.fix.startswith("add products.csv")


def test_product_without_calls(product_case, write_case):
    write_case(product_case, calls=[c for c in CALLS if c["caller_id"] != "camera"])
    problems, _ = problems_of(product_case)
    p = only(problems, file="products.csv", row=2, column="product_id")
    assert p.value == "camera"
    assert "caller_id=camera" in p.fix


def test_demand_share_missing_for_a_region(product_case, mutate):
    mutate(product_case, "regions.csv", 2, "demand_share", "")
    problems, _ = problems_of(product_case)
    p = only(problems, file="regions.csv", row=2, column="demand_share")
    assert "region 'west' has no demand_share" in p.message
    assert "sum to 1" in p.fix


def test_demand_shares_must_sum_to_one(product_case, mutate):
    mutate(product_case, "regions.csv", 2, "demand_share", 0.5)
    problems, _ = problems_of(product_case)
    p = only(problems, file="regions.csv", column="demand_share")
    assert p.message == "demand_share sums to 1.1, not 1"
    assert p.value == pytest.approx(1.1)
    assert "divide each by 1.1" in p.fix


def test_demand_shares_within_tolerance(product_case, mutate):
    mutate(product_case, "regions.csv", 1, "demand_share", 0.6000000001)
    load_fleet(product_case)


def test_demand_shares_ignored_without_products(case_dir, mutate):
    mutate(case_dir, "regions.csv", 1, "demand_share", "")
    load_fleet(case_dir)


@pytest.mark.parametrize("file", ["demand.csv", "region_power_caps.csv"])
def test_quarter_beyond_horizon(case_dir, file):
    row = append_row(
        case_dir,
        file,
        {"model_id": "rank_a", "region_id": "east", "quarter": 2, "peak_qps": 1, **SRC}
        if file == "demand.csv"
        else {"region_id": "west", "quarter": 2, "power_cap_kw": 10, **SRC},
    )
    problems, _ = problems_of(case_dir)
    p = only(problems, file=file, row=row, column="quarter")
    assert p.value == 2
    assert "beyond the horizon" in p.message and "ignored" in p.message
    assert "raise horizon_quarters in settings.yaml to at least 3" in p.fix


def test_retirement_beyond_horizon_is_fine(case_dir, write_case):
    write_case(
        case_dir,
        inventory=[
            {
                "platform_id": "cpu_a",
                "region_id": "east",
                "servers": 10,
                "retire_quarter": 99,
                **SRC,
            }
        ],
    )
    load_fleet(case_dir)


def test_topology_self_loop(case_dir, write_case):
    write_case(
        case_dir,
        topology=[
            {"region_id": "east", "backup_region_id": "west", **SRC},
            {"region_id": "west", "backup_region_id": "east", **SRC},
            {"region_id": "west", "backup_region_id": "west", **SRC},
        ],
    )
    problems, _ = problems_of(case_dir)
    p = only(problems, file="topology.csv", row=3, column="backup_region_id")
    assert p.value == "west"
    assert "its own backup" in p.message


def test_region_without_backup(case_dir, write_case):
    write_case(case_dir, topology=[{"region_id": "east", "backup_region_id": "west", **SRC}])
    problems, _ = problems_of(case_dir)
    p = only(problems, file="topology.csv", column="region_id")
    assert p.value == "west"
    assert "regions.csv row 2" in p.message
    assert "add a topology.csv row with region_id=west" in p.fix


def test_region_without_backup_is_fine_without_dr(case_dir, write_case):
    write_case(
        case_dir,
        settings={"horizon_quarters": 2, "disaster_recovery": {"enabled": False}},
        topology=[{"region_id": "east", "backup_region_id": "west", **SRC}],
    )
    load_fleet(case_dir)


def test_backup_graph_without_topology_is_complete(case_dir):
    graph = backup_graph(load_fleet(case_dir))
    assert set(graph.nodes) == {"east", "west"}
    assert set(graph.edges) == {("east", "west"), ("west", "east")}


def test_backup_graph_follows_topology(case_dir, write_case):
    write_case(
        case_dir,
        settings={"horizon_quarters": 2, "disaster_recovery": {"enabled": False}},
        topology=[{"region_id": "east", "backup_region_id": "west", **SRC}],
    )
    graph = backup_graph(load_fleet(case_dir))
    assert set(graph.nodes) == {"east", "west"}
    assert set(graph.edges) == {("east", "west")}


def _single_region(case_dir: Path, read_table, write_case, settings: dict) -> Path:
    regions = read_table(case_dir, "regions.csv").iloc[:1].assign(demand_share="1")
    demand = read_table(case_dir, "demand.csv")
    return write_case(
        case_dir, settings=settings, regions=regions, demand=demand[demand["region_id"] == "east"]
    )


def test_dr_needs_two_regions(case_dir, read_table, write_case):
    _single_region(case_dir, read_table, write_case, {"horizon_quarters": 2})
    problems, _ = problems_of(case_dir)
    p = only(problems, file="regions.csv")
    assert "only 1 region" in p.message
    assert "disaster_recovery.enabled: false" in p.fix


def test_one_region_is_fine_without_dr(case_dir, read_table, write_case):
    settings = {"horizon_quarters": 2, "disaster_recovery": {"enabled": False}}
    _single_region(case_dir, read_table, write_case, settings)
    assert len(load_fleet(case_dir).regions) == 1


# --- The default fleet -------------------------------------------------------------------------


def test_default_fleet_loads_cleanly(default_case):
    fleet = load_fleet(default_case)
    assert fleet_problems(fleet) == []
    fit = memory_fit(fleet)
    assert set(fit.loc[fit["fits"], "model_id"]) == set(fleet.models["model_id"])


def _add_duplicate_model(case: Path) -> tuple[str, int | None, str]:
    models = pd.read_csv(case / "models.csv", dtype=str, keep_default_na=False)
    row = append_row(case, "models.csv", models.iloc[0].to_dict())
    return "models.csv", row, "model_id"


def _set(file: str, column: str, value: object, row: int = 1) -> Callable[[Path], tuple]:
    def apply(case: Path) -> tuple[str, int | None, str]:
        frame = pd.read_csv(case / file, dtype=str, keep_default_na=False)
        frame.loc[row - 1, column] = str(value)
        frame.to_csv(case / file, index=False)
        return file, row, column

    return apply


def _add_call_cycle(case: Path) -> tuple[str, int | None, str]:
    """Add a -> b -> a between two models that call nothing, so the cycle is exactly that."""
    models = pd.read_csv(case / "models.csv", dtype=str, keep_default_na=False)
    path = case / "calls.csv"
    callers = set()
    if path.exists():
        callers = set(pd.read_csv(path, dtype=str, keep_default_na=False)["caller_id"])
    first, second = [m for m in models["model_id"] if m not in callers][:2]
    rows = [
        append_row(
            case, "calls.csv", {"caller_id": a, "model_id": b, "items_per_request": 1, **SRC}
        )
        for a, b in ((first, second), (second, first))
    ]
    return "calls.csv", rows[0], "caller_id"


def _unknown_column(case: Path) -> tuple[str, int | None, str]:
    frame = pd.read_csv(case / "models.csv", dtype=str, keep_default_na=False)
    frame.assign(memory_gbb="1").to_csv(case / "models.csv", index=False)
    return "models.csv", None, "memory_gbb"


MUTATIONS: dict[str, Callable[[Path], tuple[str, int | None, str]]] = {
    "duplicate_id": _add_duplicate_model,
    "dangling_reference": _set("profiles.csv", "platform_id", "no_such_platform"),
    "zero_qps": _set("profiles.csv", "qps_per_server", 0),
    "nan": _set("platforms.csv", "power_w", "NaN", row=2),
    "blank": _set("models.csv", "memory_gb", "", row=2),
    "bad_id": _set("platforms.csv", "platform_id", "gpu-a100"),
    "call_cycle": _add_call_cycle,
    "memory_too_large": _set("models.csv", "memory_gb", 1e5),
    "unknown_column": _unknown_column,
}


@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_default_fleet_mutation_is_reported(default_case, tmp_path, kind):
    case = Path(shutil.copytree(default_case, tmp_path / "default"))
    file, row, column = MUTATIONS[kind](case)
    problems, text = problems_of(case)
    hits = [p for p in problems if p.file == file and p.column == column]
    assert hits, f"no problem in {file}, column {column}: {text}"
    if row is not None:
        assert row in [p.row for p in hits], text
        assert f"{file}, row {row} (line {row + 1}), column '{column}'" in text
    assert all(p.fix for p in hits)


def test_derived_demand_beyond_the_plausible_range(product_case, write_case):
    # Every input is within its range, their product is not: 1e13 requests/day x 2 (peak) x
    # 1e6 items per request = 2.3e14 queries/s, times the 0.6 share of east = 1.4e14.
    products = [dict(PRODUCTS[0], daily_requests=1e13), PRODUCTS[1]]
    calls = [dict(CALLS[0], items_per_request=1e6), *CALLS[1:]]
    write_case(product_case, products=products, calls=calls)
    problems, _ = problems_of(product_case)
    p = only(problems, file="products.csv", value="rank_a")
    peak = 1e13 / 86_400 * 2.0 * 1e6 * 1.05 * 0.6  # quarter 1 has grown by 5 %
    assert p.message.startswith(
        f"model 'rank_a' gets a peak demand of {peak:.3g} queries/s "
        "in region 'east', quarter 1, above the plausible"
    )
    assert "growth compounds" in p.fix


def test_derived_demand_at_the_limit_passes(product_case, write_case):
    products = [dict(PRODUCTS[0], daily_requests=1e12), PRODUCTS[1]]
    write_case(product_case, products=products)
    # 1e12 / 86,400 x 2 x 50 x 1.05 = 1.2e9 queries/s: large but plausible
    assert load_fleet(product_case).name == product_case.name


def _shape(subject: str, values: list[float]) -> list[dict[str, object]]:
    return [
        {"shape_of": subject, "hour": h, "relative_load": v, **SRC} for h, v in enumerate(values)
    ]


def test_valid_load_shapes_pass(case_dir, write_case):
    """A 24-hour, mean-1 shape of a model passes (rank_a has plain demand rows)."""
    write_case(case_dir, load_shapes=_shape("rank_a", [1.5] * 12 + [0.5] * 12))
    assert fleet_problems(load_fleet(case_dir, check=False)) == []


def test_load_shape_problems_are_collected_with_file_row_and_column(case_dir, write_case):
    """Unknown subject, missing hours, wrong mean and an all-zero day: one error, every row."""
    rows = (
        _shape("rank_aa", [1.0] * 24)  # rows 1-24: a typo of rank_a
        + _shape("vision_b", [1.0] * 23)  # rows 25-47: hour 23 missing
        + _shape("speech_c", [2.0] * 24)  # rows 48-71: mean 2
        + _shape("rank_a", [0.0] * 24)  # rows 72-95: no load at all
    )
    write_case(case_dir, load_shapes=rows)
    problems, text = problems_of(case_dir)
    unknown = only(problems, file="load_shapes.csv", column="shape_of")
    assert unknown.row == 1 and "did you mean 'rank_a'?" in unknown.fix
    missing = only(problems, file="load_shapes.csv", column="hour")
    assert missing.row == 25 and "[23]" in missing.message
    means = [p for p in problems if p.file == "load_shapes.csv" and p.column == "relative_load"]
    assert [p.row for p in means] == [48, 72]
    assert "mean relative_load 2.000" in means[0].message and "divide" in means[0].fix
    assert "some load" in means[1].fix
    assert "load_shapes.csv, row 25 (line 26), column 'hour'" in text


def test_negative_load_is_refused_by_the_column_check(case_dir, write_case):
    write_case(case_dir, load_shapes=_shape("rank_a", [-1.0] + [1.0] * 23))
    problems, _ = problems_of(case_dir)
    assert only(problems, file="load_shapes.csv", column="relative_load").row == 1
