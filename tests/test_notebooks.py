"""The analysis notebooks: committed clean, public API only, and every one runs end to end.

Each notebook in ``notebooks/`` is executed with nbclient from the repository root, in a
kernel that runs this very interpreter (a private kernelspec written for the test session),
so no ``python -m ipykernel install`` step is needed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"01_fleet.ipynb", "02_plan.ipynb", "03_what_if.ipynb"}
KERNEL_NAME = "fleet-planner-test-python"
CELL_TIMEOUT_S = 1800
# Each notebook asserts its key conclusions in its conclusions cell (a changed story fails).
MIN_ASSERTS = {"01_fleet.ipynb": 4, "02_plan.ipynb": 5, "03_what_if.ipynb": 5}
MIN_NOTEBOOK_ASSERTS = 3  # in any code cell, for every notebook
SUBMODULES = sorted(p.stem for p in (REPO_ROOT / "planner").glob("*.py") if p.stem != "__init__")
FORBIDDEN = [
    (re.compile(r"^\s*(import|from)\s+pulp\b", re.M), "imports pulp"),
    (re.compile(r"^\s*from\s+planner\.", re.M), "imports from a planner submodule"),
    (re.compile(r"^\s*import\s+planner\.", re.M), "imports a planner submodule"),
    (
        re.compile(r"\b(planner|pl)\.(" + "|".join(SUBMODULES) + r")\."),
        "uses a planner submodule instead of the public API",
    ),
]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Register a kernelspec that runs this interpreter; return its name.

    A missing ipykernel fails the notebook tests instead of skipping them: a skip would let a
    broken install pass CI with the notebooks never run.
    """
    try:
        import ipykernel  # noqa: F401
    except ImportError as exc:
        pytest.fail(
            f"ipykernel is not importable ({exc}); run scripts/install_test_deps.sh", pytrace=False
        )
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fleet planner tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's path-migration warning
        yield KERNEL_NAME


def test_the_analysis_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_notebook_is_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {i} has an execution count"
    assert nb.cells[0].cell_type == "markdown", "a notebook opens with its question"
    assert "question" in nb.cells[0].source.lower()
    assert nb.cells[-1].cell_type == "markdown", "a notebook ends with an interpretation"
    assert nb.cells[-2].cell_type == "code" and "print(" in nb.cells[-2].source, (
        "the conclusions are printed from computed values by the last code cell"
    )


@pytest.mark.parametrize("name", sorted(MIN_ASSERTS))
def test_notebook_asserts_its_conclusions(name: str):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    conclusions = nb.cells[-2].source
    asserts = re.findall(r"^\s*assert\b", conclusions, re.M)
    assert len(asserts) >= MIN_ASSERTS[name], (
        f"{name}: the conclusions cell should assert the notebook's key conclusions"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_notebook_asserts_what_it_shows(path: Path):
    # The later notebooks (sweeps, history, profiles, diurnal) assert their findings next to
    # the cells that show them; at least three such asserts keep a changed story failing.
    asserts = [a for source in _code(nbformat.read(path, as_version=4))
               for a in re.findall(r"^\s*assert\b", source, re.M)]
    assert len(asserts) >= MIN_NOTEBOOK_ASSERTS, (
        f"{path.name}: {len(asserts)} asserts; assert the notebook's findings where it shows them"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_uses_only_the_public_api(path: Path):
    nb = nbformat.read(path, as_version=4)
    for source in _code(nb):
        for pattern, what in FORBIDDEN:
            match = pattern.search(source)
            assert match is None, f"{path.name} {what}: {match.group(0).strip()!r}"
    assert any(re.search(r"^import planner as pl$", s, re.M) for s in _code(nb))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path, kernel_name: str):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    # The per-cell timeout only guards against a hung kernel: the longest cell (a sweep of
    # plans in 03) takes ~2 min on a quiet machine, so 30 min leaves room for any busy one.
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(REPO_ROOT)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    conclusions = "".join(
        o.get("text", "") for o in nb.cells[-2].outputs if o.output_type == "stream"
    )
    assert conclusions.strip(), "the conclusions cell printed nothing"
