"""The dashboard's tail-latency section (app/tail_latency.py), driven headless by AppTest.

Opening a plan checks nothing; the button runs the same check as `python -m planner latency`
on the plan in view; the verdict, the cells that miss and the summary.json download follow it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_app import current, started, write_tiny_case

import planner as pl
from app import cases, tail_latency


@pytest.fixture
def solved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(cases.CASE_ENV, str(write_tiny_case(tmp_path / "tiny")))
    return started()


def _check_button(at):
    return next(b for b in at.button if b.key and b.key.startswith("latency_check|"))


def test_a_plan_is_not_checked_until_asked(solved):
    assert _check_button(solved).label == "Check tail latency"
    assert tail_latency.RESULTS not in solved.session_state or not solved.session_state[
        tail_latency.RESULTS
    ]
    assert any("Not checked yet" in c.value for c in solved.caption)


def test_checking_shows_the_verdict_of_the_cli_check(solved):
    at = _check_button(solved).click().run()
    assert not at.exception, at.exception
    outcome = current(at)
    fleet = pl.apply_scenario(outcome["fleet"], outcome["scenario"])
    expected = pl.check_latency(fleet, outcome["plan"].allocation, pl.SimulationSettings())
    line = pl.latency_verdict_of(expected.summary, expected.cells).line()
    shown = [e.value for e in (at.success if expected.summary["all_cells_meet_slo"]
                               else at.warning)]
    assert any(line.removeprefix("tail latency: ") in s for s in shown), shown
    # the summary.json download now carries the verdict, as the CLI writes it
    results = at.session_state[tail_latency.RESULTS]
    (key,) = results.keys()
    summary = tail_latency.summary_with_latency(outcome["plan"].summary, key, results)
    assert summary["latency"]["all_cells_meet_slo"] == expected.summary["all_cells_meet_slo"]
    assert json.dumps(summary, default=str)
    assert "dl_latency|" + key in {b.key for b in at.download_button}
