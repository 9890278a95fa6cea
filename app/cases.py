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
import zlib
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
# Caps on an upload, checked while unpacking (before any table is parsed). They leave room for
# the synthetic XL case (1,000 models: 40,000 demand rows, about 3 MB) and refuse anything the
# dashboard could not plan interactively anyway; larger cases belong to the CLI.
MAX_ZIP_BYTES = 20 * 1024 * 1024  # the upload itself (also .streamlit/config.toml maxUploadSize)
MAX_FILE_BYTES = 10 * 1024 * 1024  # one unpacked file
MAX_TOTAL_BYTES = 25 * 1024 * 1024  # everything unpacked
MAX_ROWS = 50_000  # data rows (lines after the header) of one CSV
MAX_MEMBERS = 200
# What a damaged archive raises while it is read: bad CRC, a header that lies about sizes or
# offsets, truncated or garbled deflate data, an unsupported method, encryption.
_CORRUPT = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)
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
    parts = [
        f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}"
        for p in sorted(folder.iterdir())
        if p.is_file()
    ]
    return "|".join(parts)


def _problem(message: str, fix: str, file: str = UPLOAD_NAME) -> pl.Problem:
    return pl.Problem(file, message, fix)


def _reject(problems: list[pl.Problem]) -> pl.FleetDataError:
    return pl.FleetDataError(problems, header="The uploaded zip cannot be used")


def _mb(n: int) -> str:
    """A cap in words: whole MB, or bytes below one MB."""
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n:,} bytes"


def _size(n: int) -> str:
    """A measured size in words: MB to one decimal, or bytes below 0.1 MB."""
    return f"{n / 2**20:.1f} MB" if n >= 2**20 / 10 else f"{n:,} bytes"


def caps_text() -> str:
    """Say the upload caps in words (the uploader's help and the README say the same)."""
    return (
        f"at most {_mb(MAX_ZIP_BYTES)} zipped, {MAX_MEMBERS} files, {_mb(MAX_FILE_BYTES)} "
        f"a file and {_mb(MAX_TOTAL_BYTES)} in all unpacked, {MAX_ROWS:,} rows a CSV"
    )


def _too_big(what: str) -> pl.FleetDataError:
    return _reject(
        [
            _problem(
                f"{what}, over the dashboard's cap ({caps_text()})",
                "upload a smaller case, or plan it with the CLI: python -m planner plan CASE_DIR",
            )
        ]
    )


def _member_path(info: zipfile.ZipInfo) -> tuple[PurePosixPath | None, pl.Problem | None]:
    """Return the safe relative path of a zip member, or the problem that rules it out."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    unsafe = (
        name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in path.parts)
    )
    if unsafe:
        return None, _problem(
            f"member '{info.filename}' has an absolute path or '..'",
            "zip the case folder itself, with relative paths only",
        )
    mode = (info.external_attr >> 16) & 0o170000
    if mode == 0o120000:  # symbolic link
        return None, _problem(
            f"member '{info.filename}' is a symbolic link",
            "zip the files themselves, not links to them",
        )
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
        raise _too_big(f"is {_size(len(data))} zipped")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _CORRUPT:
        raise _reject(
            [
                _problem(
                    "is not a zip archive", "zip the case folder (its CSV files and settings.yaml)"
                )
            ]
        ) from None
    try:
        with archive:
            return _extract(archive, dest)
    except pl.FleetDataError:  # a ValueError too, but ours: it already says what is wrong
        raise
    except _CORRUPT as exc:  # found while reading members: say so, never a traceback
        raise _reject(
            [
                _problem(
                    f"is damaged and cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
                    "zip the case folder again and upload the new zip",
                )
            ]
        ) from None


def _extract(archive: zipfile.ZipFile, dest: Path) -> tuple[Path, list[str]]:
    """Unpack ``archive`` into ``dest`` (see :func:`extract_case`); may raise ``_CORRUPT``."""
    members = [i for i in archive.infolist() if not i.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise _reject(
            [
                _problem(
                    f"holds {len(members)} files, over the limit of {MAX_MEMBERS}",
                    "zip only one case folder",
                )
            ]
        )
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
    if problems:
        raise _reject(problems)
    # Sizes from the zip's directory first (refused before unpacking a byte); they may
    # lie, so the bytes are counted again while unpacking.
    for info, _ in wanted:
        if info.file_size > MAX_FILE_BYTES:
            raise _too_big(f"member '{info.filename}' unpacks to {_size(info.file_size)}")
    declared = sum(i.file_size for i, _ in wanted)
    if declared > MAX_TOTAL_BYTES:
        raise _too_big(f"unpacks to {_size(declared)}")
    folders = {path.parent for _, path in wanted if path.name == SETTINGS_FILE}
    if len(folders) != 1:
        found = (
            "no settings.yaml" if not folders else f"{len(folders)} folders with a settings.yaml"
        )
        raise _reject(
            [
                _problem(
                    f"holds {found}",
                    "zip exactly one case folder: its CSV tables and settings.yaml",
                )
            ]
        )
    root = folders.pop()
    total = 0
    for info, path in wanted:
        if path.parent != root:
            skipped.append(info.filename)
            continue
        target = dest / path.name
        lines, last = 0, b"\n"  # newlines seen, and the last byte (a final line may lack one)
        csv = path.suffix.lower() == ".csv"
        with archive.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):  # sizes in the header may lie: count bytes
                total += len(chunk)
                if out.tell() + len(chunk) > MAX_FILE_BYTES:
                    raise _too_big(
                        f"member '{info.filename}' unpacks to more than {_mb(MAX_FILE_BYTES)}"
                    )
                if total > MAX_TOTAL_BYTES:
                    raise _too_big(f"unpacks to more than {_mb(MAX_TOTAL_BYTES)}")
                lines, last = lines + chunk.count(b"\n"), chunk[-1:]
                if csv and lines + (last != b"\n") > MAX_ROWS + 1:  # the header and the rows
                    raise _too_big(f"'{info.filename}' has more than {MAX_ROWS:,} rows")
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
            raise pl.FleetDataError(
                exc.problems, header="Invalid fleet data in the uploaded zip"
            ) from None
    return UploadedCase(fleet=fleet, scenarios=scenarios, skipped=tuple(skipped))


def load_uploaded_case(data: bytes) -> pl.Fleet:
    """Return the fleet of a zipped case (see :func:`read_uploaded_case`)."""
    return read_uploaded_case(data).fleet
