"""Write ``fleet_data/h200_companion``: the default case plus one measured H200 GPU platform.

The companion case is the default case (copied unchanged) with one platform added,
``h200_1gpu`` (one H200 SXM GPU and its share of an 8-GPU HGX host), and that platform's
profile curves as measured by ``python -m planner profile --backend torch --device cuda``
(``planner/profiler/measured/h200.csv``: RMC1, RMC2, RMC3, ResNet-50; every other model has
no row on it, so it cannot run there). Run from the repository root::

    python scripts/make_h200_companion.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "fleet_data" / "default"
OUT = ROOT / "fleet_data" / "h200_companion"
CURVES = ROOT / "planner" / "profiler" / "measured" / "h200.csv"

MLPERF = (
    "MLPerf Inference v4.1 closed-power, 'NVIDIA H200 (8x H200-SXM-141GB, MaxQ, TensorRT)', "
    "2x Xeon Platinum 8480C host [V, ../shared/data/mlperf closed-power recommendation and "
    "image-classification Server files; FACTS.md table of system power]"
)
PLATFORM = {
    "platform_id": "h200_1gpu",
    "platform_class": "accelerator_fabric",
    "family": "hgx_h200",
    "generation": "h200_sxm",
    "power_w": 760.0,
    "capex_usd": 40000.0,
    "host_memory_gb": 256.0,
    "accel_memory_gb": 141.0,
    "accelerators": 1,
    "lead_time_quarters": 2,
    "lifetime_quarters": 16,
    "rack_units": 1.0,
    "supply_per_quarter": 500.0,
    "available_from_quarter": 0,
    "maintenance_usd_per_quarter": 400.0,
    "source": (
        "one H200 SXM GPU slot of an 8-GPU HGX H200 server (the profiled unit: one replica on "
        "one GPU; NVIDIA H200 datasheet: 141 GB HBM3e, up to 700 W TGP [R]); power 760 W = 1/8 "
        f"of the 6,069 W whole-system power measured on dlrm-v2-99 Server by {MLPERF} "
        "(ResNet-50 Server: 5,014 W) [derived]; that run was power-capped (MaxQ): an uncapped "
        "system draws more [E]; capex 1/8 of ~$320k for an 8-GPU HGX H200 server [E] (no list "
        "price is public; about 1.6x a DGX A100's ~$200k launch price [V-2, FACTS.md §6]); "
        "host memory 2 TB / 8, 8 RU / 8 GPUs = 1 RU, lead time, lifetime, supply and "
        "maintenance (1 % of capex a quarter) [E]; a 2026 part in a 2020-21 horizon: a "
        "what-if, not history"
    ),
    "source_kind": "estimate",
}


SCENARIO = """\
  h200_tuned:
    description: "What-if: the H200 served by a tuned stack (TensorRT, int8/fp16, CUDA graphs)
      instead of the measured float32 eager PyTorch: 8x its measured throughput [E]. MLPerf v4.1
      closed-power 8x H200-SXM (TensorRT, MaxQ) reports 52,513 dlrm-v2 samples/s per GPU (x270
      = 14.2 M predictions/s, 8x the measured RMC1) and 60,016 ResNet-50 images/s per GPU (70x
      the measured 852) [V]"
    platform_changes:
      h200_1gpu:
        throughput_multiplier: 8.0
"""


def main() -> None:
    """Copy the default case and append the H200 platform and its measured curves."""
    # The companion's README is written by hand (its measured plans): keep it.
    readme = (OUT / "README.md").read_text() if (OUT / "README.md").exists() else None
    if OUT.exists():
        shutil.rmtree(OUT)
    shutil.copytree(DEFAULT, OUT)
    if readme is not None:
        (OUT / "README.md").write_text(readme)
    platforms = pd.read_csv(OUT / "platforms.csv")
    platforms = pd.concat([platforms, pd.DataFrame([PLATFORM])], ignore_index=True)
    platforms.to_csv(OUT / "platforms.csv", index=False)
    profiles = pd.read_csv(OUT / "profiles.csv")
    curves = pd.read_csv(CURVES)[list(profiles.columns[:8])]
    profiles = pd.concat([profiles, curves.assign(factors=pd.NA)], ignore_index=True)
    profiles.to_csv(OUT / "profiles.csv", index=False)
    with open(OUT / "scenarios.yaml", "a", encoding="utf-8") as fh:
        fh.write(SCENARIO)
    print(f"wrote {OUT}: {len(platforms)} platforms, {len(profiles)} profile rows "
          f"({len(curves)} measured on h200_1gpu)")


if __name__ == "__main__":
    main()
