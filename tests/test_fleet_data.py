"""The shipped default case's CPU profiles against their own platforms' peaks (issue 13).

The row values come from the committed tables of ``fleet_data/default``; the parts (cores,
clock, MAC/cycle, DRAM channels x MT/s) and the older-CPU anchors are the cited constants of
``scripts/derive_fleet_data.py``. The arithmetic is done here again, independently of the
script's own check and of its generation factors, so a derivation change that lets a CPU
profile of any generation, inference or training, exceed its own peak fails here even if
the script's check were broken.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "fleet_data" / "default"
SCRIPT = ROOT / "scripts" / "derive_fleet_data.py"
# "rmc1 (0.201 MFLOP, 81,920 B)" in the published row's roofline note of every ranking model.
WORK = re.compile(r"(?P<model>\w+) \((?P<mflop>[\d.]+) MFLOP, (?P<bytes>[\d,]+) B\) max")
# DLRM v1 (MLPerf), the ranking model ``dlrm_ads`` is: 4.8 MFLOP, 26 x 128 x 4 B per pair.
DLRM_V1 = (4.8e6, 26 * 128 * 4.0)
# Divisors of the data before the peak check (git history): the rows then were x new/old.
OLD_DIVISORS = {"skylake_divisor_dlrm": 28.0, "skylake_divisor_cnn": 24.0,
                "skylake_divisor_bert": 36.0, "skylake_divisor_rnnt": 68.0}
# The single generation factors before the split into compute and memory (git history):
# one factor scaled compute- and memory-bound rows alike.
OLD_GENERATION = {"cpu_haswell": ("haswell", 0.625), "cpu_broadwell": ("broadwell", 0.75),
                  "yv2_twin_lakes": ("twin_lakes", 0.3)}
# "= 23,278 samples/s (best batch)": the V100 rate in every training row's own provenance.
V100_RATE = re.compile(r"= (?P<rate>[\d,]+) samples/s \(best batch\)")


@pytest.fixture(scope="module")
def derive():
    spec = importlib.util.spec_from_file_location("derive_fleet_data_peaks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_fleet_data_peaks"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def case() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(CASE / f"{name}.csv")
            for name in ("profiles", "models", "platforms", "factors")}


def ranking_work(profiles: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Return model -> (FLOP, bytes) per item, read from the rows' own provenance."""
    work = {"dlrm_ads": DLRM_V1}
    for source in profiles["source"]:
        for m in WORK.finditer(source):
            if m["model"] != "v1":
                work[m["model"]] = (float(m["mflop"]) * 1e6, float(m["bytes"].replace(",", "")))
    return work


def own_peak(part: dict, path: str) -> float:
    """Return a part's own vector peak in MAC/s: cores x base clock x MAC/cycle."""
    return part["cores"] * part["ghz"] * 1e9 * part["macs_per_cycle"][path]


def own_memory(part: dict, sky: dict) -> float:
    """Return a part's memory roof: the Skylake's sustained B/s x channels x MT/s ratio."""
    return sky["memory_gbps"] * 1e9 * part["channels"] * part["mts"] / (sky["channels"]
                                                                        * sky["mts"])


def over_peak(profiles: pd.DataFrame, models: pd.DataFrame, platforms: pd.DataFrame,
              d) -> list[str]:
    """Return the CPU rows above efficiency x their own part's peak or its memory roof.

    Inference rows: the benchmark's older-CPU anchor efficiency; training rows: the V100's
    share of its FP32 peak on the same Gavel job (its rate read from the row's source).
    """
    plat = platforms.set_index("platform_id")
    phase = models.set_index("model_id")["phase"]
    work = ranking_work(profiles)
    sky = d.CPU_PARTS["skylake"]
    train = d.GAVEL_RECOMMENDATION_WORK
    bad = []
    for i, r in profiles.iterrows():
        if plat.at[r["platform_id"], "platform_class"] != "cpu":
            continue
        gen = plat.at[r["platform_id"], "generation"]
        part = d.CPU_PARTS[gen if gen in d.CPU_PARTS else "skylake"]
        memory = None
        if phase[r["model_id"]] == "training":
            v100 = float(V100_RATE.search(r["source"])["rate"].replace(",", ""))
            efficiency = v100 * train["macs_per_sample"] / train["v100_fp32_macs"]
            macs, path = r["qps_per_server"] * train["macs_per_sample"], "fp32"
        else:
            if r["model_id"] in d.MLPERF_MODELS:
                spec = d.MLPERF_MODELS[r["model_id"]]
                bench = spec["benchmark"]
                macs = r["qps_per_server"] / spec["factor"] * d.MACS_PER_QUERY[bench]
            else:
                bench = "dlrm-99"
                flops, nbytes = work[r["model_id"]]
                macs = r["qps_per_server"] * flops / 2
                memory = r["qps_per_server"] * nbytes
            a = d.CPU_ANCHORS[d.CPU_ANCHOR_OF[bench]]
            efficiency = a["qps"] * a["macs_per_query"] / (a["cores"] * a["ghz"] * 1e9
                                                           * a["macs_per_cycle"])
            path = a["path"]
        cap = efficiency * own_peak(part, path)
        if macs > cap * (1 + 1e-9):
            bad.append(f"line {i + 2} {r['model_id']} {r['platform_id']} compute "
                       f"{macs / cap:.2f}")
        if memory is not None and memory > own_memory(part, sky):
            bad.append(f"line {i + 2} {r['model_id']} {r['platform_id']} memory "
                       f"{memory / own_memory(part, sky):.2f}")
    return bad


def with_old_divisors(profiles: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
    """Return the rows re-scaled to the pre-check divisors (each row lists its divisor)."""
    value = factors.set_index("factor_id")["value"]
    out = profiles.copy()
    for name, old in OLD_DIVISORS.items():
        uses = out["factors"].fillna("").str.split(";").map(lambda f, n=name: f"{n}^-1" in f)
        out.loc[uses, "qps_per_server"] *= value[name] / old
    return out


def with_old_generation_factors(profiles: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
    """Return the older-CPU rows re-scaled to the single pre-split generation factor."""
    value = factors.set_index("factor_id")["value"]
    out = profiles.copy()
    for pid, (gen, old) in OLD_GENERATION.items():
        for kind in ("compute", "memory"):
            name = f"{gen}_{kind}_vs_skylake"
            uses = out["platform_id"].eq(pid) & out["factors"].fillna("").str.split(";").map(
                lambda f, n=name: n in f)
            out.loc[uses, "qps_per_server"] *= old / value[name]
    return out


def training_rates(profiles: pd.DataFrame) -> dict[str, float]:
    """Return training model -> V100 samples/s, read from the rows' own provenance."""
    return {r["model_id"]: float(m["rate"].replace(",", ""))
            for _, r in profiles.iterrows() if (m := V100_RATE.search(r["source"]))}


def test_every_cpu_row_is_within_anchor_efficiency_of_its_peak_and_its_memory_roof(case, derive):
    rows = case["profiles"]
    cpu = rows["platform_id"].map(case["platforms"].set_index("platform_id")["platform_class"])
    assert (cpu == "cpu").sum() > 200  # the check covers the CPU curves, not a handful of rows
    # every generation and the CPU training rows are covered, not only the Skylake
    assert set(rows.loc[cpu == "cpu", "platform_id"]) == set(OLD_GENERATION) | {"cpu_skylake"}
    assert (rows.loc[cpu == "cpu", "model_id"] == "rmc_training").sum() == 3
    assert set(ranking_work(rows)) >= {"rmc1", "rmc2", "rmc3", "wnd", "mtwnd", "din", "dien"}
    assert over_peak(rows, case["models"], case["platforms"], derive) == []


def test_the_old_divisors_exceed_the_peaks(case, derive):
    # At the pre-issue-13 divisors (28, 24, 36, 68) the same rows need 1.2-1.8x the anchor
    # efficiency: the check would have caught them, on every CPU platform and benchmark.
    old = with_old_divisors(case["profiles"], case["factors"])
    bad = over_peak(old, case["models"], case["platforms"], derive)
    for model in ("dlrm_ads", "rmc3", "resnet50", "retinanet", "nmt"):
        for platform in ("cpu_skylake", "cpu_haswell", "yv2_twin_lakes"):
            if model == "dlrm_ads" and platform == "yv2_twin_lakes":
                continue  # 360 GB does not fit a Twin Lakes card: no row
            assert any(f" {model} {platform} compute" in b for b in bad), (model, platform)


def test_the_script_check_names_each_offending_row(case, derive):
    old = with_old_divisors(case["profiles"], case["factors"])
    work = ranking_work(case["profiles"])
    rates = training_rates(case["profiles"])
    loads = derive.cpu_row_loads(old, case["models"], case["platforms"], work, rates)
    msgs = derive.cpu_peak_violations(loads)
    assert len(msgs) == len({b.split()[1] for b in
                             over_peak(old, case["models"], case["platforms"], derive)})
    assert any(m.startswith("profiles.csv line ") and "dlrm_ads on cpu_skylake at 30 ms p99"
               in m and "raise the Skylake divisor" in m for m in msgs)
    shipped = derive.cpu_row_loads(case["profiles"], case["models"], case["platforms"], work,
                                   rates)
    assert derive.cpu_peak_violations(shipped) == []
    assert shipped["share"].max() > 0.95  # the divisors are the smallest that pass (rounded up)


def test_shipped_divisors_are_the_factor_values_with_honest_ranges(case, derive):
    factors = case["factors"].set_index("factor_id")
    for name in OLD_DIVISORS:
        row = factors.loc[name]
        assert row["low"] < row["value"] < row["high"]
        assert float(row["value"]) == derive.factor(name)
        assert "peak-consistent" in row["source"]


def test_the_old_single_generation_factors_exceed_the_older_cpus_own_peaks(case, derive):
    # With one factor for compute- and memory-bound work (Haswell 0.625, Broadwell 0.75, Twin
    # Lakes 0.3 of the Skylake) the compute-bound rows of the older CPUs need 1.5-1.8x their
    # own part's efficiency x peak; the Skylake rows are unchanged and still pass.
    old = with_old_generation_factors(case["profiles"], case["factors"])
    bad = over_peak(old, case["models"], case["platforms"], derive)
    for platform in OLD_GENERATION:
        for model in ("resnet50", "nmt", "rnnt", "dlrm_ads", "rmc_training"):
            if model == "dlrm_ads" and platform == "yv2_twin_lakes":
                continue  # 360 GB does not fit a Twin Lakes card: no row
            if model == "rmc_training" and platform == "yv2_twin_lakes":
                continue  # CPU training runs on the 2S servers only
            assert any(f" {model} {platform} compute" in b for b in bad), (model, platform)
    assert not any(" cpu_skylake " in b for b in bad)
    loads = derive.cpu_row_loads(old, case["models"], case["platforms"],
                                 ranking_work(case["profiles"]), training_rates(case["profiles"]))
    assert set(loads.loc[loads["share"] > 1, "platform_id"]) == set(OLD_GENERATION)


def test_generation_factors_are_the_parts_peak_and_bandwidth_ratios(case, derive):
    factors = case["factors"].set_index("factor_id")
    sky = derive.CPU_PARTS["skylake"]
    for gen, _ in OLD_GENERATION.values():
        part = derive.CPU_PARTS[gen]
        for path in ("int8", "fp32"):  # one compute ratio serves both paths
            assert factors.at[f"{gen}_compute_vs_skylake", "value"] == pytest.approx(
                own_peak(part, path) / own_peak(sky, path), abs=5e-4)
        assert factors.at[f"{gen}_memory_vs_skylake", "value"] == pytest.approx(
            own_memory(part, sky) / (sky["memory_gbps"] * 1e9), abs=5e-4)
        for kind in ("compute", "memory"):
            row = factors.loc[f"{gen}_{kind}_vs_skylake"]
            assert row["low"] < row["value"] < row["high"]
    # the single factors are gone: a row can no longer scale compute and memory alike
    assert not {"haswell_vs_skylake", "broadwell_vs_skylake",
                "twin_lakes_vs_skylake"} & set(factors.index)
