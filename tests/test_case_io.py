"""planner.case_io.write_case: a fleet written as a case folder, complete or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cases import tiny_fleet

import planner.case_io
from planner.case_io import CaseExistsError, write_case
from planner.fleet import load_fleet
from planner.schema import TABLES


def test_round_trip_keeps_every_table_and_the_settings(tmp_path: Path):
    fleet = tiny_fleet()
    case = write_case(fleet, tmp_path / "tiny")
    loaded = load_fleet(case)
    for name in TABLES:
        pd.testing.assert_frame_equal(loaded.table(name), fleet.table(name), check_like=True,
                                      obj=name)
    assert loaded.settings == fleet.settings
    # empty optional tables are left out, as in a hand-written case
    assert not (case / "topology.csv").exists()
    # columns in schema order, so the files read like the data reference
    header = (case / "platforms.csv").read_text().splitlines()[0].split(",")
    assert header == [c for c in TABLES["platforms"].column_names if c in header]


def test_refuses_a_non_empty_folder_and_a_file(tmp_path: Path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.csv").write_text("x\n")
    with pytest.raises(CaseExistsError, match="not empty"):
        write_case(tiny_fleet(), tmp_path / "full")
    (tmp_path / "file").write_text("x\n")
    with pytest.raises(NotADirectoryError):
        write_case(tiny_fleet(), tmp_path / "file", force=True)
    assert (tmp_path / "full" / "keep.csv").read_text() == "x\n"


def test_a_crash_mid_write_leaves_nothing_and_keeps_the_previous_case(tmp_path, monkeypatch):
    case = write_case(tiny_fleet(), tmp_path / "case")
    before = {p.name: p.read_bytes() for p in case.iterdir()}

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(planner.case_io.yaml, "safe_dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_case(tiny_fleet(target_utilization=0.5), tmp_path / "new")
    with pytest.raises(OSError, match="disk full"):
        write_case(tiny_fleet(target_utilization=0.5), case, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"]  # no temp folders, no "new"
    assert {p.name: p.read_bytes() for p in case.iterdir()} == before
