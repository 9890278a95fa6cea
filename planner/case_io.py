"""Writing a :class:`~planner.fleet.Fleet` back to disk as an ordinary case folder.

The folder holds one CSV per non-empty input table plus ``settings.yaml``, exactly what
:func:`planner.fleet.load_fleet` reads, so a generated case (``python -m planner synthetic``)
is planned like any hand-written one. The folder appears complete or not at all: everything
is written into a temporary sibling first and renamed into place.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from planner.fleet import SETTINGS_FILE, Fleet
from planner.output import staged_folder
from planner.profile_curves import curve_rows_for_file
from planner.schema import TABLES


class CaseExistsError(FileExistsError):
    """The target folder exists and is not empty; writing would mix or destroy a case."""


def write_case(fleet: Fleet, folder: str | Path, *, force: bool = False) -> Path:
    """Write ``fleet`` as a case folder (non-empty tables as CSV, plus ``settings.yaml``).

    Args:
        fleet: The fleet to write.
        folder: Target folder; created with its parents.
        force: Replace a non-empty existing folder. Without it such a folder is refused, so
            a typo in ``--out`` cannot wipe a real case.

    Returns:
        The folder.

    Raises:
        CaseExistsError: When ``folder`` exists, is not empty and ``force`` is False.
        NotADirectoryError: When ``folder`` exists and is a file.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CaseExistsError(f"{out} exists and is not empty")
    with staged_folder(out) as tmp:
        for name, table in TABLES.items():
            frame = fleet.table(name)
            if name == "profiles":
                # The curve rows the profiles were read from, so the SLO still moves them.
                frame = curve_rows_for_file(frame, fleet.profile_curves)
            # An absent optional file means an empty table to load_fleet, and a header-only
            # CSV would be an extra file for the user to wonder about.
            if not frame.empty:
                # Schema order, the order load_fleet gives back and a reader expects.
                ordered = [c for c in table.column_names if c in frame.columns]
                frame[ordered].to_csv(tmp / table.file, index=False)
        settings = fleet.settings.model_dump(mode="json")
        (tmp / SETTINGS_FILE).write_text(
            yaml.safe_dump(settings, sort_keys=False), encoding="utf-8"
        )
    return out
