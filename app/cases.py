"""Where fleet cases come from: bundled folders under ``fleet_data/`` or an uploaded zip.

Only reading and unpacking happens here; every table is parsed and validated by
``pl.load_fleet`` (and ``pl.load_scenarios``), so an uploaded case is held to exactly the same
rules as one on disk and its problems come back as ``pl.FleetDataError`` bullets.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import planner as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
FLEET_DATA = REPO_ROOT / "fleet_data"
DEFAULT_CASE = FLEET_DATA / "default"
SETTINGS_FILE = "settings.yaml"
# Point the dashboard at another case folder (tests, demos): FLEET_PLANNER_CASE=/path/to/case.
CASE_ENV = "FLEET_PLANNER_CASE"

UPLOAD_NAME = "uploaded zip"
MAX_ZIP_BYTES = 20 * 1024 * 1024  # the upload itself
MAX_FILE_BYTES = 50 * 1024 * 1024  # one unpacked file
MAX_TOTAL_BYTES = 100 * 1024 * 1024  # everything unpacked
MAX_MEMBERS = 200
ALLOWED_SUFFIXES = (".csv", ".yaml", ".yml")
# Archivers add these; they are skipped silently.
_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db")


@dataclass(frozen=True)
class UploadedCase:
    """A fleet read from an uploaded zip, with the named scenarios it ships (if any)."""

    fleet: pl.Fleet
    scenarios: dict[str, pl.Scenario] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()


def bundled_cases() -> dict[str, Path]:
    """Return ``{label: folder}`` of the case folders the dashboard offers, default first.

    The folder named by ``$FLEET_PLANNER_CASE`` (if set) comes first, then
    ``fleet_data/default``, then every other folder under ``fleet_data/`` with a settings.yaml.
    """
    cases: dict[str, Path] = {}
    override = os.environ.get(CASE_ENV)
    if override:
        path = Path(override).expanduser().resolve()
        cases[f"{path.name} (${CASE_ENV})"] = path
    if (DEFAULT_CASE / SETTINGS_FILE).is_file():
        cases["default"] = DEFAULT_CASE
    if FLEET_DATA.is_dir():
        for folder in sorted(FLEET_DATA.iterdir()):
            if folder != DEFAULT_CASE and (folder / SETTINGS_FILE).is_file():
                cases[folder.name] = folder
    return cases


def case_stamp(folder: Path) -> str:
    """Return a cache key of a case folder that changes whenever one of its files changes."""
    if not folder.is_dir():
        return "missing"
    parts = [f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}"
             for p in sorted(folder.iterdir()) if p.is_file()]
    return "|".join(parts)


def _problem(message: str, fix: str, file: str = UPLOAD_NAME) -> pl.Problem:
    return pl.Problem(file, message, fix)


def _reject(problems: list[pl.Problem]) -> pl.FleetDataError:
    return pl.FleetDataError(problems, header="The uploaded zip cannot be used")


def _member_path(info: zipfile.ZipInfo) -> tuple[PurePosixPath | None, pl.Problem | None]:
    """Return the safe relative path of a zip member, or the problem that rules it out."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    unsafe = (name.startswith("/") or (len(name) > 1 and name[1] == ":")
              or any(part == ".." for part in path.parts))
    if unsafe:
        return None, _problem(f"member '{info.filename}' has an absolute path or '..'",
                              "zip the case folder itself, with relative paths only")
    mode = (info.external_attr >> 16) & 0o170000
    if mode == 0o120000:  # symbolic link
        return None, _problem(f"member '{info.filename}' is a symbolic link",
                              "zip the files themselves, not links to them")
    return path, None


def extract_case(data: bytes, dest: Path) -> tuple[Path, list[str]]:
    """Unpack the .csv/.yaml files of a zipped fleet case into ``dest`` safely.

    Rejects archives that are too big, hold absolute paths, ``..`` or links, or whose files
    unpack beyond the size limits. Other file types are skipped. The case may sit at the top of
    the zip or inside one folder.

    Returns:
        The folder holding settings.yaml, and the names of skipped members.

    Raises:
        FleetDataError: One bullet per problem with the archive.
    """
    if len(data) > MAX_ZIP_BYTES:
        raise _reject([_problem(f"is {len(data) / 1e6:.1f} MB, over the "
                                f"{MAX_ZIP_BYTES / 1e6:.0f} MB limit",
                                "upload only the case's CSV and YAML files")])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise _reject([_problem("is not a zip archive",
                                "zip the case folder (its CSV files and settings.yaml)")]) from None
    with archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise _reject([_problem(f"holds {len(members)} files, over the limit of "
                                    f"{MAX_MEMBERS}", "zip only one case folder")])
        problems: list[pl.Problem] = []
        wanted: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        skipped: list[str] = []
        for info in members:
            path, problem = _member_path(info)
            if problem:
                problems.append(problem)
            elif any(j in info.filename for j in _JUNK):
                continue
            elif path is not None and path.suffix.lower() in ALLOWED_SUFFIXES:
                wanted.append((info, path))
            else:
                skipped.append(info.filename)
        declared = sum(i.file_size for i, _ in wanted)
        if declared > MAX_TOTAL_BYTES or any(i.file_size > MAX_FILE_BYTES for i, _ in wanted):
            problems.append(_problem("unpacks to more than the size limits "
                                     f"({MAX_FILE_BYTES / 1e6:.0f} MB a file, "
                                     f"{MAX_TOTAL_BYTES / 1e6:.0f} MB in all)",
                                     "upload a smaller case"))
        if problems:
            raise _reject(problems)
        folders = {path.parent for _, path in wanted if path.name == SETTINGS_FILE}
        if len(folders) != 1:
            found = "no settings.yaml" if not folders else \
                f"{len(folders)} folders with a settings.yaml"
            raise _reject([_problem(f"holds {found}",
                                    "zip exactly one case folder: its CSV tables and "
                                    "settings.yaml")])
        root = folders.pop()
        total = 0
        for info, path in wanted:
            if path.parent != root:
                skipped.append(info.filename)
                continue
            target = dest / path.name
            with archive.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):  # sizes in the header may lie: count bytes
                    total += len(chunk)
                    if total > MAX_TOTAL_BYTES or out.tell() + len(chunk) > MAX_FILE_BYTES:
                        raise _reject([_problem("unpacks to more than the size limits",
                                                "upload a smaller case")])
                    out.write(chunk)
    return dest, skipped


def read_uploaded_case(data: bytes, name: str = "uploaded") -> UploadedCase:
    """Unpack a zipped case into a temporary folder and load it with ``pl.load_fleet``.

    Raises:
        FleetDataError: For an unusable archive or invalid fleet data (every problem, with
            file, row, column and fix).
    """
    with tempfile.TemporaryDirectory(prefix="fleet_upload_") as tmp:
        case = Path(tmp) / name
        case.mkdir()
        folder, skipped = extract_case(data, case)
        try:
            fleet = pl.load_fleet(folder)
            scenarios = pl.load_scenarios(folder)
        except pl.FleetDataError as exc:  # name the upload, not the temporary folder
            raise pl.FleetDataError(exc.problems, header="Invalid fleet data in the uploaded "
                                                         "zip") from None
    return UploadedCase(fleet=fleet, scenarios=scenarios, skipped=tuple(skipped))


def load_uploaded_case(data: bytes) -> pl.Fleet:
    """Return the fleet of a zipped case (see :func:`read_uploaded_case`)."""
    return read_uploaded_case(data).fleet
