"""Loader rules of :func:`planner.fleet.load_fleet`: every per-file and per-cell problem."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from planner.errors import FleetDataError, Problem
from planner.fleet import Fleet, fleet_from_frames, load_fleet, validate_rows
from planner.scenarios import load_scenarios, scenario_problems
from planner.schema import ID_RULE, TABLES
from planner.synthetic import SIZES, synthetic_fleet

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def test_valid_case_loads(case_dir):
    fleet = load_fleet(case_dir)
    assert isinstance(fleet, Fleet)
    assert fleet.name == "case"
    assert list(fleet.models["model_id"]) == ["rank_a", "vision_b", "speech_c"]
    assert fleet.platforms["power_w"].dtype == "float64"
    assert fleet.platforms["lead_time_quarters"].dtype == "int64"
    assert fleet.inventory.empty and fleet.products.empty
    assert fleet.settings.horizon_quarters == 2


def test_optional_columns_take_defaults(case_dir):
    fleet = load_fleet(case_dir)
    # min_replicas is absent from models.csv; max_shards is present but blank for rank_a.
    assert list(fleet.models["min_replicas"]) == [1, 1, 1]
    assert list(fleet.models["max_shards"]) == [1, 2, 1]
    assert list(fleet.platforms["available_from_quarter"]) == [0, 0]
    assert fleet.platforms["supply_per_quarter"].isna().all()


def test_missing_file_lists_files_present(case_dir):
    (case_dir / "models.csv").unlink()
    problems, text = problems_of(case_dir)
    p = only(problems, file="models.csv")
    assert p.message == "missing file"
    assert "platforms.csv" in p.fix and "settings.yaml" in p.fix
    assert "models.csv: missing file" in text


def test_missing_settings_file(case_dir):
    (case_dir / "settings.yaml").unlink()
    problems, _ = problems_of(case_dir)
    assert only(problems, file="settings.yaml").message == "missing file"


def test_not_a_folder(tmp_path):
    problems, _ = problems_of(tmp_path / "nowhere")
    assert problems[0].message == "is not a folder"


def test_unknown_column_suggests_the_closest_name(case_dir, mutate):
    mutate(case_dir, "platforms.csv", 1, "capex_usdd", "1")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="platforms.csv", column="capex_usdd")
    assert p.message == "unknown column"
    assert "did you mean 'capex_usd'?" in p.fix


def test_missing_required_column(case_dir, read_table, write_case):
    regions = read_table(case_dir, "regions.csv").drop(columns=["pue"])
    write_case(case_dir, regions=regions)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="regions.csv", column="pue")
    assert p.message == "missing required column"
    assert "add a column 'pue'" in p.fix


@pytest.mark.parametrize(
    ("file", "column", "value", "message", "fix"),
    [
        ("platforms.csv", "power_w", "lots", "is not a number", "write a number in W"),
        (
            "platforms.csv",
            "lead_time_quarters",
            "1.5",
            "is not a whole number",
            "write a whole number in quarters",
        ),
        ("demand.csv", "quarter", "Q1", "is not a whole number", "write a whole number"),
    ],
)
def test_wrong_type(case_dir, mutate, file, column, value, message, fix):
    mutate(case_dir, file, 2, column, value)
    problems, _ = problems_of(case_dir)
    p = only(problems, file=file, row=2, column=column)
    assert p.message == message
    assert p.value == value
    assert fix in p.fix


@pytest.mark.parametrize(
    ("file", "column", "value", "message"),
    [
        ("models.csv", "bucket", "", "is blank or NaN"),
        ("models.csv", "memory_gb", "", "is blank or NaN"),
        ("models.csv", "memory_gb", "NaN", "is not a number"),
        ("regions.csv", "pue", " ", "is blank or NaN"),
    ],
)
def test_blank_or_nan_in_required_column(case_dir, mutate, file, column, value, message):
    mutate(case_dir, file, 1, column, value)
    problems, _ = problems_of(case_dir)
    p = only(problems, file=file, row=1, column=column)
    assert p.message == message
    assert p.fix


def test_zero_qps_says_never_write_zero(case_dir, mutate):
    mutate(case_dir, "profiles.csv", 3, "qps_per_server", 0)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="profiles.csv", row=3, column="qps_per_server")
    assert p.message == "must be greater than 0"
    assert "never write 0" in p.fix
    assert "missing profile row means 'cannot run'" in p.fix


def test_negative_value_where_positive_required(case_dir, mutate):
    mutate(case_dir, "platforms.csv", 1, "power_w", -5)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="platforms.csv", row=1, column="power_w")
    assert p.message == "must be greater than 0"
    assert p.fix == "give a value greater than 0"


def test_value_out_of_range(case_dir, mutate):
    mutate(case_dir, "regions.csv", 2, "pue", 0.9)
    mutate(case_dir, "models.csv", 1, "latency_percentile", 101)
    problems, _ = problems_of(case_dir)
    assert only(problems, file="regions.csv", row=2, column="pue").fix == "give a value >= 1"
    p = only(problems, file="models.csv", row=1, column="latency_percentile")
    assert p.message == "is above the plausible range (from 1 to 100 %)"
    assert p.fix.startswith("give a value from 1 to 100 %")


def test_label_not_allowed(case_dir, mutate):
    mutate(case_dir, "models.csv", 2, "bucket", "rankng")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv", row=2, column="bucket")
    assert p.message == "is not an allowed value"
    assert p.value == "rankng"
    assert p.fix == "use one of ranking, cv, translation, speech"


@pytest.mark.parametrize("bad_id", ["gpu-a100", "GPU_A", "1gpu", "gpu a"])
def test_bad_id(case_dir, mutate, bad_id):
    mutate(case_dir, "platforms.csv", 2, "platform_id", bad_id)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="platforms.csv", row=2, column="platform_id")
    assert p.message == "is not a valid id"
    assert p.value == bad_id
    assert ID_RULE in p.fix


def test_empty_required_table(case_dir, write_case):
    write_case(
        case_dir,
        models="model_id,bucket,phase,latency_slo_ms,latency_percentile,"
        "memory_gb,source,source_kind\n",
    )
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv")
    assert p.message == "table is empty"
    assert p.fix == "add at least one data row"


def test_empty_optional_table(case_dir, write_case):
    write_case(case_dir, topology="region_id,backup_region_id,source,source_kind\n")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="topology.csv")
    assert p.message == "table is empty"
    assert "or delete the file" in p.fix


def test_blank_file_cannot_be_read(case_dir, write_case):
    write_case(case_dir, profiles="")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="profiles.csv")
    assert p.message.startswith("cannot be read as CSV")
    assert "UTF-8" in p.fix


def test_non_utf8_file(case_dir, read_table, write_case):
    models = read_table(case_dir, "models.csv")
    models.loc[0, "source"] = "café benchmark"
    write_case(case_dir, models=models.to_csv(index=False).encode("latin-1"))
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv")
    assert p.message.startswith("is not UTF-8 text")
    assert p.fix.startswith("re-save the file with UTF-8 encoding")


def test_utf8_with_bom_is_fine(case_dir, read_table, write_case):
    text = read_table(case_dir, "regions.csv").to_csv(index=False)
    write_case(case_dir, regions=text.encode("utf-8-sig"))
    assert list(load_fleet(case_dir).regions["region_id"]) == ["east", "west"]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"horizon_quarters": 2, "horizon_quartrs": 4}, "horizon_quartrs"),
        (
            {"horizon_quarters": 2, "disaster_recovery": {"enable": False}},
            "disaster_recovery.enable",
        ),
    ],
)
def test_unknown_settings_key(case_dir, write_case, settings, key):
    write_case(case_dir, settings=settings)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="settings.yaml")
    assert p.message.startswith(f"unknown key '{key}' (line ")
    assert "spelling" in p.fix


def test_bad_settings_value(case_dir, write_case):
    write_case(case_dir, settings={"horizon_quarters": 0})
    problems, _ = problems_of(case_dir)
    p = only(problems, file="settings.yaml")
    assert p.message.startswith("key 'horizon_quarters'")
    assert p.value == 0


def test_invalid_yaml(case_dir, write_case):
    write_case(case_dir, settings="horizon_quarters: [2,\nobjective: tco\n")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="settings.yaml")
    assert p.message.startswith("is not valid YAML")
    assert p.fix == "fix the YAML syntax"


def test_settings_not_a_mapping(case_dir, write_case):
    write_case(case_dir, settings="- 1\n- 2\n")
    problems, _ = problems_of(case_dir)
    assert only(problems, file="settings.yaml").message == "must be a mapping of keys to values"


@pytest.mark.parametrize("text", ["", "# nothing set\n", "{}\n"])
def test_empty_settings_name_the_required_keys(case_dir, write_case, text):
    write_case(case_dir, settings=text)
    problems, _ = problems_of(case_dir)
    p = only(problems, file="settings.yaml")
    assert p.message == "is empty, but a case needs at least horizon_quarters"
    assert "horizon_quarters: ..." in p.fix


def test_settings_without_horizon_is_an_error(case_dir, write_case):
    write_case(case_dir, settings={"objective": "tco"})
    problems, _ = problems_of(case_dir)
    assert only(problems, file="settings.yaml").message == (
        "missing required key 'horizon_quarters'"
    )


def test_all_problems_are_collected(case_dir, mutate, write_case):
    mutate(case_dir, "profiles.csv", 1, "qps_per_server", 0)
    mutate(case_dir, "models.csv", 3, "bucket", "audio")
    mutate(case_dir, "platforms.csv", 2, "power_w", "n/a")
    (case_dir / "regions.csv").unlink()
    write_case(case_dir, settings={"horizon": 3, "horizon_quarters": 2})
    problems, text = problems_of(case_dir)
    assert {p.file for p in problems} == {
        "profiles.csv",
        "models.csv",
        "platforms.csv",
        "regions.csv",
        "settings.yaml",
    }
    assert text.splitlines()[0] == f"Invalid fleet data in {case_dir}: 5 problems found"
    assert sum(line.startswith("  - ") for line in text.splitlines()) == 5


def test_many_bad_rows_are_summarised(case_dir, read_table, write_case):
    demand = read_table(case_dir, "demand.csv")
    demand["peak_qps"] = "-1"
    write_case(case_dir, demand=demand)
    problems, _ = problems_of(case_dir)
    assert len(demand) == 12
    assert len([p for p in problems if p.row is not None]) == 10
    assert only(problems, row=None).message == "2 more rows have the same kind of problem"


def test_rendered_error_names_file_row_line_and_column(case_dir, mutate):
    mutate(case_dir, "profiles.csv", 2, "qps_per_server", "fast")
    _, text = problems_of(case_dir)
    assert (
        "profiles.csv, row 2 (line 3), column 'qps_per_server': is not a number "
        "(value: 'fast'). Fix: write a number in queries/s"
    ) in text


def test_fleet_from_frames_validates_like_files(case_dir, read_table):
    frames = {
        n: read_table(case_dir, f"{n}.csv")
        for n in ("platforms", "models", "profiles", "regions", "demand")
    }
    fleet = fleet_from_frames("frames", {"horizon_quarters": 2}, **frames)
    assert len(fleet.profiles) == 4
    frames["profiles"] = frames["profiles"].assign(qps_per_server="0")
    with pytest.raises(FleetDataError) as exc:
        fleet_from_frames("frames", {"horizon_quarters": 2}, **frames)
    assert exc.value.header == "Invalid fleet data in frames"
    assert {p.row for p in exc.value.problems} == {1, 2, 3, 4}


def test_fleet_from_frames_reports_missing_and_unknown_tables(case_dir, read_table):
    frames = {"platforms": read_table(case_dir, "platforms.csv"), "machines": pd.DataFrame()}
    with pytest.raises(FleetDataError) as exc:
        fleet_from_frames("frames", {}, **frames)
    files = {p.file for p in exc.value.problems}
    assert {"models.csv", "profiles.csv", "regions.csv", "machines"} <= files


# ----------------------------------------------------------------------------------------------
# Plausible ranges (issue 12): declared once in the schema, wide enough for every real case

NUMERIC = [(t, c) for t in TABLES.values() for c in t.columns if c.dtype != "str"]


def test_every_numeric_column_declares_a_plausible_range():
    for table, column in NUMERIC:
        assert column.maximum is not None, f"{table.name}.{column.name} has no maximum"
        assert column.minimum is not None or column.positive, f"{table.name}.{column.name}"
        if column.positive and column.dtype == "float":
            # "> 0" alone lets 1e-300 through (qps_per_server = 1e-300 ended in exit 4)
            assert column.minimum, f"{table.name}.{column.name} needs a smallest value"


@pytest.mark.parametrize(
    ("table", "column"), NUMERIC, ids=[f"{t.name}.{c.name}" for t, c in NUMERIC]
)
def test_value_above_the_range_is_rejected_with_the_range(case_dir, read_table, table, column):
    """Every numeric column refuses ten times its maximum, naming row, column and range."""
    source = case_dir if (case_dir / table.file).exists() else REPO_ROOT / "fleet_data" / "default"
    frame = read_table(source, table.file).astype(object)
    if column.name not in frame:
        frame[column.name] = ""
    frame.loc[0, column.name] = repr(float(column.maximum) * 10)
    typed, found = validate_rows(table, frame)
    assert typed is None
    p = only(found, row=1, column=column.name)
    assert p.message == f"is above the plausible range ({column.range_text()})"
    assert column.range_text() in p.fix


def test_int_column_of_1e300_is_a_problem_not_a_crash(case_dir, mutate):
    # int64 cannot hold 1e300: the cast used to raise a traceback
    mutate(case_dir, "platforms.csv", 1, "lead_time_quarters", "1e300")
    problems, text = problems_of(case_dir)
    p = only(problems, file="platforms.csv", row=1, column="lead_time_quarters")
    assert p.message == "is above the plausible range (from 0 to 40 quarters)"
    assert "platforms.csv, row 1 (line 2), column 'lead_time_quarters'" in text


def test_tiny_positive_value_is_below_the_range(case_dir, mutate):
    mutate(case_dir, "profiles.csv", 2, "qps_per_server", "1e-300")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="profiles.csv", row=2, column="qps_per_server")
    assert p.message == "is below the plausible range (from 0.001 to 1e+10 queries/s)"


def test_zero_in_a_positive_column_keeps_its_own_fix(case_dir, mutate):
    mutate(case_dir, "profiles.csv", 1, "qps_per_server", "0")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="profiles.csv", row=1, column="qps_per_server")
    assert p.message == "must be greater than 0" and "never write 0" in p.fix


@pytest.mark.parametrize("case", ["default", "tiny"])
def test_bundled_cases_are_within_the_ranges(case):
    folder = REPO_ROOT / "fleet_data" / case
    fleet = load_fleet(folder)
    assert scenario_problems(fleet, load_scenarios(folder)) == []


@pytest.mark.parametrize("size", list(SIZES))
def test_synthetic_cases_are_within_the_ranges(size):
    # synthetic_fleet validates through fleet_from_frames, so an out-of-range value raises
    fleet = synthetic_fleet(size, 0)
    for table, column in NUMERIC:
        values = pd.to_numeric(fleet.table(table.name)[column.name], errors="coerce").dropna()
        assert values.map(column.in_range).all(), f"{size}: {table.name}.{column.name}"


# ----------------------------------------------------------------------------------------------
# CSV shape


def test_extra_field_in_the_first_row_is_a_problem_not_a_crash(case_dir):
    path = case_dir / "models.csv"
    lines = path.read_text().splitlines()
    lines[1] += ",surplus"
    path.write_text("\n".join(lines) + "\n")
    problems, _ = problems_of(case_dir)
    p = only(problems, file="models.csv", row=1)
    n = len(lines[0].split(","))
    assert p.message == f"has {n + 1} fields but the header has {n}"
    assert "quote" in p.fix


def test_extra_field_in_a_later_row(case_dir):
    path = case_dir / "regions.csv"
    path.write_text(path.read_text().rstrip("\n") + ",x\n")
    problems, _ = problems_of(case_dir)
    assert only(problems, file="regions.csv", row=2).message.startswith("has ")


def test_repeated_header_is_named(case_dir):
    path = case_dir / "regions.csv"
    text = path.read_text()
    path.write_text(text.replace("\n", ",pue\n", 1))
    problems, _ = problems_of(case_dir)
    p = only(problems, file="regions.csv", column="pue")
    assert p.message == "the header names column 'pue' 2 times"


def test_non_utf8_names_the_line(case_dir):
    path = case_dir / "demand.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("test", "t\xe9st")
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    problems, _ = problems_of(case_dir)
    assert only(problems, file="demand.csv").message.startswith(
        "is not UTF-8 text: line 4 has byte 0xe9"
    )


# ----------------------------------------------------------------------------------------------
# settings.yaml through the strict YAML loader


def test_settings_alias_bomb_is_refused_before_expansion(case_dir, write_case):
    bomb = "horizon_quarters: 2\nfirst_quarter: &a [x, x]\nobjective: [*a, *a]\n"
    write_case(case_dir, settings=bomb)
    problems, text = problems_of(case_dir)
    assert only(problems, file="settings.yaml").message == "line 2: defines an anchor (&a)"
    assert "[x, x]" not in text


def test_settings_duplicate_key_names_both_lines(case_dir, write_case):
    write_case(case_dir, settings="horizon_quarters: 2\nobjective: tco\nobjective: power\n")
    problems, _ = problems_of(case_dir)
    assert only(problems, file="settings.yaml").message == (
        "line 3: duplicate key 'objective' (first on line 2)"
    )


@pytest.mark.parametrize("value", [".inf", ".nan", "-1", "0"])
def test_time_limit_must_be_finite_and_positive(case_dir, write_case, value):
    write_case(case_dir, settings=f"horizon_quarters: 2\nsolver:\n  time_limit_s: {value}\n")
    problems, _ = problems_of(case_dir)
    assert only(problems, file="settings.yaml").message.startswith(
        "key 'solver.time_limit_s' (line 3)"
    )


def test_threads_are_bounded_by_the_cores(case_dir, write_case):
    cores = os.cpu_count() or 1
    write_case(case_dir, settings={"horizon_quarters": 2, "solver": {"threads": cores + 1}})
    problems, _ = problems_of(case_dir)
    p = only(problems, file="settings.yaml")
    assert p.message.startswith("key 'solver.threads'")
    assert f"at most {cores}, the cores of this machine" in p.message
    write_case(case_dir, settings={"horizon_quarters": 2, "solver": {"threads": cores}})
    assert load_fleet(case_dir).settings.solver.threads == cores


def test_a_huge_value_is_not_echoed_in_full(case_dir, write_case):
    write_case(case_dir, settings="horizon_quarters: 2\nfirst_quarter: " + "Q" * 5000 + "\n")
    _, text = problems_of(case_dir)
    assert "Q" * 100 not in text and len(text) < 1000


@pytest.mark.parametrize("label", ["0001Q1", "2020Q5", "20Q1", "1949Q4", "2020q1"])
def test_first_quarter_must_be_a_plausible_calendar_quarter(case_dir, write_case, label):
    write_case(case_dir, settings={"horizon_quarters": 2, "first_quarter": label})
    problems, _ = problems_of(case_dir)
    p = only(problems, file="settings.yaml")
    assert p.message.startswith("key 'first_quarter' (line ") and p.message.endswith(
        "): must be a year from 1950 to 2999, 'Q' and the quarter 1-4, e.g. 2020Q1"
    ), p.message


def test_cli_plan_refuses_a_negative_wait(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    result = CliRunner().invoke(app, ["plan", str(tmp_path), "--out", str(tmp_path / "p"),
                                      "--wait", "-1"])
    assert result.exit_code == 2 and "--wait" in result.output
