"""``fleet_data/h200_companion`` is still what ``scripts/make_h200_companion.py`` makes of
the current ``fleet_data/default``.

The script copies the default case unchanged and then adds one platform row (``PLATFORM``),
that platform's measured profile rows (``CURVES``) and one scenario (``SCENARIO``). The
companion once kept old factor names after the default data changed: its own tables were
consistent with each other, so ``check_fleet`` passed, and nothing noticed. These tests compare
it with the default case row by row, so regenerating the default data without regenerating the
companion fails here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from planner import check_fleet, load_fleet, load_scenarios
from planner.factors import parse_factor_list

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_h200_companion.py"
# The tables the script rewrites after copying; every other default file is copied as is.
EXTENDED = {"platforms.csv", "profiles.csv", "scenarios.yaml"}
# Hand-written, in the companion only (the default case has no README).
COMPANION_ONLY = {"README.md"}


@pytest.fixture(scope="module")
def make() -> ModuleType:
    """The generating script as a module, for its paths and the rows it adds (not run)."""
    spec = importlib.util.spec_from_file_location("make_h200_companion", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_h200_companion"] = module
    spec.loader.exec_module(module)
    return module


def split_added(frame: pd.DataFrame, platform_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (rows of other platforms, rows of ``platform_id``), each re-indexed from 0."""
    added = frame["platform_id"] == platform_id
    return frame[~added].reset_index(drop=True), frame[added].reset_index(drop=True)


def test_copied_files_are_byte_identical(make):
    default = {p.name for p in make.DEFAULT.iterdir() if p.is_file()}
    companion = {p.name for p in make.OUT.iterdir() if p.is_file()}
    assert default >= EXTENDED
    # No default table missing from the companion and none the default has dropped.
    assert companion - COMPANION_ONLY == default
    stale = [name for name in sorted(default - EXTENDED)
             if (make.OUT / name).read_bytes() != (make.DEFAULT / name).read_bytes()]
    assert stale == [], f"regenerate with python {SCRIPT.relative_to(ROOT)}: {stale} differ"


def test_platforms_are_the_default_ones_plus_the_h200(make):
    default = pd.read_csv(make.DEFAULT / "platforms.csv")
    companion = pd.read_csv(make.OUT / "platforms.csv")
    pid = make.PLATFORM["platform_id"]
    assert pid not in set(default["platform_id"])
    kept, added = split_added(companion, pid)
    pd.testing.assert_frame_equal(kept, default)
    expected = pd.DataFrame([make.PLATFORM])[list(companion.columns)]
    pd.testing.assert_frame_equal(added, expected, check_dtype=False)


def test_profiles_are_the_default_ones_plus_the_measured_curves(make):
    default = pd.read_csv(make.DEFAULT / "profiles.csv")
    companion = pd.read_csv(make.OUT / "profiles.csv")
    pid = make.PLATFORM["platform_id"]
    assert pid not in set(default["platform_id"])
    kept, added = split_added(companion, pid)
    pd.testing.assert_frame_equal(kept, default)
    # The script takes the curves' first eight columns (all but ``factors``): measured rows
    # are scaled by no factor.
    measured = pd.read_csv(make.CURVES)[list(default.columns[:8])]
    assert set(measured["platform_id"]) == {pid} and len(measured) > 0
    pd.testing.assert_frame_equal(added[measured.columns], measured, check_dtype=False)
    assert added["factors"].isna().all()


def test_profile_factors_exist_in_the_companion_factors(make):
    known = set(pd.read_csv(make.OUT / "factors.csv")["factor_id"])
    cells = pd.read_csv(make.OUT / "profiles.csv")["factors"]
    named = {name for cell in cells for name, _ in parse_factor_list(cell)}
    assert named, "the default-derived profile rows name factors"
    assert named - known == set()


def test_scenarios_are_the_default_ones_plus_h200_tuned(make):
    default = (make.DEFAULT / "scenarios.yaml").read_text(encoding="utf-8")
    companion = (make.OUT / "scenarios.yaml").read_text(encoding="utf-8")
    assert companion == default + make.SCENARIO
    scenarios = load_scenarios(make.OUT)
    assert set(scenarios) == set(load_scenarios(make.DEFAULT)) | {"h200_tuned"}


def test_companion_loads_and_passes_check(make):
    fleet = load_fleet(make.OUT)  # runs check_fleet; raises FleetDataError on any error
    assert check_fleet(fleet) == []
    assert make.PLATFORM["platform_id"] in set(fleet.platforms["platform_id"])
