"""Every command in README.md runs as written.

The README's ``bash`` code blocks are parsed; every ``python -m planner ...`` command in them
is run in-process on :data:`planner.cli.app`, from a scratch folder that links the
repository's ``fleet_data`` and ``app`` (so relative paths and ``--out`` folders work exactly
as written, without writing into the checkout), and must exit 0. The ``python`` block (the
library example) is executed the same way.

Left out, on purpose, and checked to be the only lines left out (a command added to the README
without a reason here fails the listing test):

* ``pip install ...`` and ``bash scripts/install_test_deps.sh``: they install packages from the
  network (minutes, and the test environment is already installed);
* ``python -m pytest ...``: the whole test suite, which is what is running this test;
* ``streamlit run app/dashboard.py``: a server that runs until stopped; the dashboard's own
  tests (tests/test_app.py, tests/test_app_browser.py) start it;
* the sweep section (``sweep``, ``sweep-report``, ``plan --robust``): ``sweep.yaml`` is an
  illustrative 500-sample file that reads a ``frc_caps.csv`` the README does not give, and
  ``--scheduler tcp://...`` needs a running Dask cluster; tests/test_sweeps.py runs them;
* the migration example (``plan ... --current``): a plain HiGHS solve to its time limit plus
  the unconstrained plan (about a minute); tests/test_migration.py runs it;
* the GPU profile (``profile --backend torch --device cuda``): PyTorch is an optional extra
  and the command needs a GPU; tests/test_profiler_torch.py runs the torch path where torch
  is installed.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
PLANNER = ("python", "-m", "planner")
# Commands that are not run, each with why (see the module docstring).
NOT_RUN = {
    "pip install": "installs packages from the network",
    "bash scripts/install_test_deps.sh": "installs packages from the network",
    "python -m pytest": "the test suite itself",
    "streamlit run": "a server that runs until stopped; tested by test_app*.py",
    "python -m planner sweep": "illustrative 500-sample sweep file; tested by test_sweeps.py",
    "python -m planner sweep-report": "reads the sweep above; tested by test_sweeps.py",
    "python -m planner plan fleet_data/default --robust": "the sweep file above; test_sweeps.py",
}
# Commands left out by an option they use (see the module docstring).
NOT_RUN_OPTIONS = {
    "--current": "migration: a minute of plain HiGHS; tested by test_migration.py",
    "--backend": "PyTorch (optional) and a GPU; tested by test_profiler_torch.py where present",
}


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [body for lang, body in BLOCK.findall(text) if lang == language]


def _commands() -> list[str]:
    """Return every shell command of the README's bash blocks (``&&`` chains split)."""
    commands = []
    for body in _blocks("bash"):
        body = body.replace("\\\n", " ")  # a line continued with a backslash is one command
        for line in body.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands += [" ".join(part.split()) for part in line.split("&&")]
    return commands


def _skipped(command: str) -> str | None:
    words = shlex.split(command)
    return next(
        (why for prefix, why in NOT_RUN.items() if command.startswith(prefix)),
        next((why for opt, why in NOT_RUN_OPTIONS.items() if opt in words), None),
    )


COMMANDS = _commands()
PLANNER_COMMANDS = [
    c for c in COMMANDS if tuple(shlex.split(c)[:3]) == PLANNER and _skipped(c) is None
]


def _scratch(folder: Path) -> Path:
    """Link the repository's data and app into ``folder`` so relative README paths resolve."""
    for name in ("fleet_data", "app"):
        (folder / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    return folder


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run every README planner command once, in README order (a later command may read what
    an earlier one wrote, e.g. the synthetic case), from one scratch folder."""
    folder = _scratch(tmp_path_factory.mktemp("readme"))
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        for command in PLANNER_COMMANDS:
            out[command] = (CliRunner().invoke(app, shlex.split(command)[3:]), folder)
    return out


def test_readme_commands_are_found_and_only_the_listed_ones_are_left_out():
    assert len(PLANNER_COMMANDS) >= 15, COMMANDS
    for command in COMMANDS:
        if command not in PLANNER_COMMANDS:
            assert _skipped(command), f"README command neither run nor explained: {command}"
    assert any("--scenario ranking_growth_15" in c for c in PLANNER_COMMANDS)


@pytest.mark.parametrize("command", PLANNER_COMMANDS, ids=lambda c: "_".join(c.split()[3:5]))
def test_readme_planner_command_runs_as_written(command: str, results):
    result, folder = results[command]
    assert result.exit_code == 0, f"{command}\n{result.output}\n{result.exception!r}"
    args = shlex.split(command)[3:]
    if args[0] == "plan":  # the plan folder is where the README says, with its summary
        summary = folder / args[args.index("--out") + 1] / "summary.json"
        assert json.loads(summary.read_text(encoding="utf-8"))["verified"] is True
    if args[0] == "frontier":  # the example shows a real trade-off: TCO falls as power rises
        lines = result.stdout.splitlines()
        header = next(ln.split() for ln in lines if ln.split()[:1] == ["point"])
        rows = [ln.split() for ln in lines if re.match(r"^\s*\d+\s+\d", ln)]
        assert len(rows) == int(args[args.index("--points") + 1])
        column = header.index("tco_usd") + 1  # each printed row starts with its index
        tco = [float(r[column].replace(",", "")) for r in rows]
        assert tco[0] > tco[-1], result.stdout


def test_readme_library_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(_scratch(tmp_path))
    (code,) = [b for b in _blocks("python") if "import planner as pl" in b]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md (python block)", "exec"), namespace)
    plan = namespace["plan"]
    assert plan.summary["verified"] is True
    assert plan.summary["scenario"] == "ranking_growth_15"
    assert not plan.insight["binding"].empty
