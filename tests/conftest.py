"""Shared fixtures: a small valid fleet case written from Python dicts, and helpers to break it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

_SRC = {"source": "test fixture", "source_kind": "estimate"}

VALID_TABLES: dict[str, list[dict[str, object]]] = {
    "platforms": [
        {"platform_id": "cpu_a", "platform_class": "cpu", "family": "tioga_pass",
         "generation": "skylake", "power_w": 400, "capex_usd": 8000, "host_memory_gb": 64,
         "accel_memory_gb": 0, "accelerators": 0, "lead_time_quarters": 1,
         "lifetime_quarters": 12, "rack_units": 1, **_SRC},
        {"platform_id": "gpu_b", "platform_class": "accelerator_fabric", "family": "zion",
         "generation": "v100", "power_w": 3000, "capex_usd": 120000, "host_memory_gb": 256,
         "accel_memory_gb": 256, "accelerators": 8, "lead_time_quarters": 1,
         "lifetime_quarters": 16, "rack_units": 4, **_SRC},
    ],
    "models": [
        {"model_id": "rank_a", "bucket": "ranking", "phase": "inference", "latency_slo_ms": 100,
         "latency_percentile": 99, "memory_gb": 40, "unit": "predictions", **_SRC},
        {"model_id": "vision_b", "bucket": "cv", "phase": "inference", "latency_slo_ms": 200,
         "latency_percentile": 99, "memory_gb": 600, "max_shards": 2, "unit": "images", **_SRC},
        {"model_id": "speech_c", "bucket": "speech", "phase": "inference", "latency_slo_ms": 300,
         "latency_percentile": 95, "memory_gb": 8, "unit": "queries", **_SRC},
    ],
    "profiles": [
        {"model_id": "rank_a", "platform_id": "cpu_a", "qps_per_server": 500, **_SRC},
        {"model_id": "rank_a", "platform_id": "gpu_b", "qps_per_server": 8000, **_SRC},
        {"model_id": "vision_b", "platform_id": "gpu_b", "qps_per_server": 2000, **_SRC},
        {"model_id": "speech_c", "platform_id": "cpu_a", "qps_per_server": 50, **_SRC},
    ],
    "regions": [
        {"region_id": "east", "power_cap_kw": 5000, "pue": 1.1,
         "electricity_usd_per_kwh": 0.06, "demand_share": 0.6, **_SRC},
        {"region_id": "west", "power_cap_kw": 4000, "pue": 1.2,
         "electricity_usd_per_kwh": 0.08, "demand_share": 0.4, **_SRC},
    ],
    "demand": [
        {"model_id": m, "region_id": r, "quarter": q, "peak_qps": qps * (1 + q), **_SRC}
        for m, qps in (("rank_a", 10000), ("vision_b", 3000), ("speech_c", 200))
        for r in ("east", "west")
        for q in (0, 1)
    ],
}
VALID_SETTINGS: dict[str, object] = {"horizon_quarters": 2, "first_quarter": "2020Q1"}

TableData = list[dict[str, object]] | pd.DataFrame | str | bytes | None


def write_case(folder: Path, settings: dict | str | None = None, **tables: TableData) -> Path:
    """Write tables (``name=rows``) and optionally settings.yaml into ``folder``.

    A table given as ``None`` deletes its file; ``str``/``bytes`` are written verbatim.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tables.items():
        path = folder / f"{name}.csv"
        if data is None:
            path.unlink(missing_ok=True)
        elif isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            pd.DataFrame(data).to_csv(path, index=False)
    if settings is not None:
        text = settings if isinstance(settings, str) else yaml.safe_dump(settings)
        (folder / "settings.yaml").write_text(text, encoding="utf-8")
    return folder


def read_table(case_dir: Path, file: str) -> pd.DataFrame:
    """Read one CSV of a case as text cells, exactly as written."""
    return pd.read_csv(case_dir / file, dtype=str, keep_default_na=False)


def mutate(case_dir: Path, file: str, row: int, column: str, value: object) -> None:
    """Set the cell at 1-based data ``row`` and ``column`` of ``file`` (adds the column if new)."""
    frame = read_table(case_dir, file)
    if column not in frame.columns:
        frame[column] = ""
    frame[column] = frame[column].astype(object)
    frame.loc[row - 1, column] = "" if value is None else str(value)
    frame.to_csv(case_dir / file, index=False)


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    """Return a folder holding a small valid case (3 models, 2 platforms, 2 regions, 2 quarters)."""
    return write_case(tmp_path / "case", settings=VALID_SETTINGS, **VALID_TABLES)


@pytest.fixture
def default_case() -> Path:
    """Return the repository's default fleet case folder."""
    return REPO_ROOT / "fleet_data" / "default"


@pytest.fixture(name="write_case")
def write_case_fixture() -> Callable[..., Path]:
    """Give tests the :func:`write_case` helper."""
    return write_case


@pytest.fixture(name="mutate")
def mutate_fixture() -> Callable[[Path, str, int, str, object], None]:
    """Give tests the :func:`mutate` helper."""
    return mutate


@pytest.fixture(name="read_table")
def read_table_fixture() -> Callable[[Path, str], pd.DataFrame]:
    """Give tests the :func:`read_table` helper."""
    return read_table
