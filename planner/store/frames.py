"""Tables in and out of the store: Parquet bytes, and a content hash of a fleet case.

Parquet keeps dtypes (integers stay integers, blanks stay missing) so a case read back from the
store validates exactly like the folder it came from. The hash is taken over canonical CSV
text and sorted-key JSON instead of the Parquet bytes, whose metadata (library versions)
changes between installs while the content does not.
"""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd

from planner.fleet import Fleet
from planner.schema import TABLES


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Return ``frame`` as Parquet bytes (index dropped)."""
    buffer = io.BytesIO()
    # attrs (units) are plain metadata that pyarrow would serialise as JSON; keep the bytes lean
    plain = frame.copy()
    plain.attrs = {}
    plain.to_parquet(buffer, index=False)
    return buffer.getvalue()


def from_parquet_bytes(data: bytes) -> pd.DataFrame:
    """Return the DataFrame stored by :func:`to_parquet_bytes`."""
    return pd.read_parquet(io.BytesIO(data))


def case_tables(fleet: Fleet) -> dict[str, pd.DataFrame]:
    """Return the fleet's non-empty input tables, columns in schema order."""
    out = {}
    for name, table in TABLES.items():
        frame = fleet.table(name)
        if frame.empty:
            continue
        ordered = [c for c in table.column_names if c in frame.columns]
        out[name] = frame[ordered].reset_index(drop=True)
    return out


def case_settings(fleet: Fleet) -> dict:
    """Return the fleet's settings as plain JSON data (what ``settings.yaml`` would hold)."""
    return fleet.settings.model_dump(mode="json")


def case_hash(fleet: Fleet) -> str:
    """Return the SHA-256 content hash of a case: its input tables and its settings.

    Two folders with the same tables (same rows in the same order) and the same settings have
    the same hash, whatever their folder name; any changed cell or setting changes it.
    """
    digest = hashlib.sha256()
    for name, frame in case_tables(fleet).items():
        digest.update(f"table {name}\n".encode())
        digest.update(frame.to_csv(index=False, lineterminator="\n").encode())
    digest.update(b"settings\n")
    digest.update(json.dumps(case_settings(fleet), sort_keys=True).encode())
    return digest.hexdigest()
