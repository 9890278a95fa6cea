"""Derive the default fleet case (``fleet_data/default``) from public reference data.

Usage::

    python scripts/derive_fleet_data.py /path/to/shared/data --out fleet_data/default

Reads the MLPerf Inference Server results (``mlperf/*.json``), the DeepRecSys model configs
(``deeprecsys/*.json``), the Gavel training throughputs (``gavel/simulation_throughputs.json``)
and the diurnal load shapes (``traces/diurnal_shapes_24h.csv``), and writes every CSV table of
the default case plus ``settings.yaml`` and ``scenarios.yaml``.

Numbers that come from the fact sheet (``FACTS.md``) rather than from the data files are kept
in the upper-case dictionaries below (``DLRM_UNITS``, ``CPU_SPR_TO_SKYLAKE_DIVISOR``,
``NNPI_M2``, ``PLATFORM_SPECS``, ``REGION_SPECS``, ...), each with its citation string.
Confidence tags follow the fact sheet: [V] verified, [V-2] secondary source, [R] recalled,
[E] estimate. ``fleet_data/README.md`` lists the sources and the conversions.

The planner never imports this script and tests never read the shared data: the committed
CSVs are the product. Before writing, the script checks that no CPU profile needs more than
its benchmark's older-CPU anchor efficiency of its platform's peak or more than its memory
roof (``cpu_peak_violations``), and that quarter 0 can be served by the existing inventory
alone (purchases need at least one quarter to arrive), and prints the arithmetic.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

# ---------------------------------------------------------------------------------------------
# Constants from FACTS.md (each with its citation)
# ---------------------------------------------------------------------------------------------

FACTS_MD = "FACTS.md (fleet-planner fact sheet)"

# Vector peaks and memory of the CPU parts: the 2S Skylake-SP reference part, the older CPU
# generations of the fleet (issue 13: each is checked against its own peak) and, below, the
# older MLPerf CPU records. Every clock is the part's nominal base clock [R] (the one clock the
# fact sheet gives for every part), so a ratio of two peaks compares like with like;
# MAC/cycle per core: AVX-512 VNNI 2 ports x 64 = 128 INT8, AVX-512 without VNNI 2 x 64 / 3
# instructions (vpmaddubsw, vpmaddwd, vpaddd) = 42.7 INT8, AVX-512 FP32 2 x 16 = 32,
# AVX512_BF16 2 x 32 = 64; AVX2 (256-bit) 2 x 32 / 3 = 21.3 INT8, 2 x 8 = 16 FP32; a Skylake-D
# core has one 512-bit FMA unit: 64 / 3 = 21.3 INT8, 16 FP32. Memory: channels x DDR4 MT/s.
CPU_PARTS: dict[str, dict[str, Any]] = {
    "skylake": {
        "name": "2S Xeon Gold 6138", "cores": 40, "ghz": 2.0,
        "macs_per_cycle": {"int8": 64 * 2 / 3, "fp32": 32.0}, "memory_gbps": 85.0,
        "channels": 12, "mts": 2666,
        "source": "2S Gold 6138: 2 x 20 C, 2.0 GHz base [R], AVX-512 without VNNI (INT8 2 x 64 / "
        "3 = 42.7 MAC/cycle, FP32 32) => INT8 3.41 T MAC/s, FP32 2.56 T MAC/s; memory ~85 GB/s "
        "sustained (Gupta HPCA'20 Table II, DDR4-2666 [R]) (FACTS §2b)",
    },
    "haswell": {
        "name": "2S Xeon E5-2680 v3", "cores": 24, "ghz": 2.5,
        "macs_per_cycle": {"int8": 32 * 2 / 3, "fp32": 16.0}, "channels": 8, "mts": 2133,
        "source": "2S E5-2680 v3 (the Gupta HPCA'20 Haswell server, FACTS §2b): 2 x 12 C, "
        "2.5 GHz base, AVX2 (INT8 2 x 32 / 3 = 21.3 MAC/cycle, FP32 16) => INT8 1.28 T MAC/s, "
        "FP32 0.96 T MAC/s; 2 x 4 channels DDR4-2133 [R, Intel ARK; Haswell-EP takes DDR4 "
        "only, FACTS' 'DDR3-1600?' is queried there]",
    },
    "broadwell": {
        "name": "2S Xeon E5-2680 v4", "cores": 28, "ghz": 2.4,
        "macs_per_cycle": {"int8": 32 * 2 / 3, "fp32": 16.0}, "channels": 8, "mts": 2400,
        "source": "2S E5-2680 v4 (the Gupta HPCA'20 Broadwell server, FACTS §2b): 2 x 14 C, "
        "2.4 GHz base, AVX2 (INT8 21.3 MAC/cycle, FP32 16) => INT8 1.43 T MAC/s, FP32 1.08 T "
        "MAC/s; 2 x 4 channels DDR4-2400 [R, Intel ARK]",
    },
    "twin_lakes": {
        "name": "1S Xeon D-2100 (Twin Lakes)", "cores": 16, "ghz": 2.0,
        "macs_per_cycle": {"int8": 64 / 3, "fp32": 16.0}, "channels": 4, "mts": 2400,
        "source": "Twin Lakes 1S Skylake-D (Xeon D-2100 class, FACTS §2a: 'Skylake Xeon D 16 "
        "cores per CPU, four-channel RAM' [V-2, low confidence]): 16 C, 2.0 GHz base [R], "
        "AVX-512 with one FMA unit per core [R] (INT8 64 / 3 = 21.3 MAC/cycle, FP32 16) => INT8 "
        "0.68 T MAC/s, FP32 0.51 T MAC/s; 4 channels DDR4-2400 [R]",
    },
}


def part_peak_macs(part: dict[str, Any], path: str | None = None) -> float:
    """Return a part's vector peak in MAC/s: cores x clock x MAC/cycle (of ``path``)."""
    per_cycle = part["macs_per_cycle"]
    rate = per_cycle[path] if isinstance(per_cycle, dict) else per_cycle
    return part["cores"] * part["ghz"] * 1e9 * rate


def compute_vs_skylake(generation: str) -> float:
    """Return a CPU generation's INT8 vector peak over the 2S Skylake's (FP32 gives the same)."""
    return part_peak_macs(CPU_PARTS[generation], "int8") / part_peak_macs(CPU_PARTS["skylake"],
                                                                         "int8")


def memory_vs_skylake(generation: str) -> float:
    """Return a CPU generation's DRAM bandwidth over the 2S Skylake's: channels x MT/s."""
    part, sky = CPU_PARTS[generation], CPU_PARTS["skylake"]
    return part["channels"] * part["mts"] / (sky["channels"] * sky["mts"])


# Named estimated factors (written to factors.csv; profile rows list the ones they used).
# factor_id -> value, plausible low and high, and why. Each is an estimate [E] that a profile's
# throughput is proportional to (or inversely proportional to: "name^-1" in profiles.factors),
# so the planner can re-scale the rows that used it (python -m planner sensitivity --factor).
FACTORS: dict[str, dict[str, Any]] = {
    "dlrm_pairs_per_sample": {
        "value": 270.0, "low": 200.0, "high": 350.0,
        "source": "mean user-item pairs per MLPerf DLRM sample (dist_quantile.txt quantiles "
        "100-700, mean ~270 [E], FACTS §3b); range: the quantiles' mean shifted by about one "
        "quantile step either way",
    },
    # The four Skylake divisors are peak-consistent (issue 13): see CPU_ANCHORS and
    # cpu_peak_lines(); "value" is the divisor that keeps every point of the 2S Skylake
    # curve at or below the benchmark's older-CPU anchor efficiency on the Skylake peak.
    "skylake_divisor_dlrm": {
        "value": 47.0, "low": 42.0, "high": 67.0,
        "source": "2S Sapphire Rapids DLRM-99 Server over a 2S Skylake-SP Gold 6138 [E], "
        "peak-consistent: anchor 2S ICX-8380 DLRM-99 20,245.82 samples/s (MLPerf v1.1 [V]) at "
        "55.7 % of its INT8 peak (80 C x 2.3 GHz x 128 VNNI MAC/cycle = 23.55 T MAC/s; 270 "
        "pairs x 2.4 MMAC per sample); the Skylake peak 40 C x 2.0 GHz x 42.7 MAC/cycle (no VNNI: "
        "64 lanes x 2 FMA ports / 3 instructions) = 3.41 T MAC/s gives 20,245.82 x 3.41/23.55 = "
        "2,934 samples/s at the same efficiency, the curve's loosest point; its published point "
        "is 1/1.112 of that (the SPR curve's Offline margin) = 2,638 => 122,001/2,638 = 46.2, "
        "rounded up to 47 (FACTS §2b, §4a; clocks and core counts [R]); range: low 42 = the "
        "published point alone at the anchor efficiency (looser bounds above it), high 67 = "
        "the Skylake at its ~1.4 GHz AVX-512 clock [R] instead of its 2.0 GHz base (x1/0.7); "
        "the old 28 implied 83 % of the base-clock peak (118 % at 1.4 GHz), above any CPU record",
    },
    "skylake_divisor_cnn": {
        "value": 46.0, "low": 37.0, "high": 66.0,
        "source": "2S Sapphire Rapids ResNet-50/RetinaNet Server over 2S Skylake-SP [E], "
        "peak-consistent: anchor 2S CLX-9282 ResNet-50 Server 4,850.62 (MLPerf v0.5 [V]) at "
        "53.4 % of its INT8 peak (112 C x 2.6 GHz x 128 VNNI MAC/cycle = 37.27 T MAC/s; 4.1 "
        "GMAC per image); on the Skylake peak 3.41 T MAC/s that is 4,850.62 x 3.41/37.27 = 444 "
        "images/s at the curve's loosest point, 444/1.240 = 358 at the published point => "
        "16,327.6/358 = 45.6, rounded up to 46 (FACTS §2b, §4b); range: low 37 = the published "
        "point alone at the anchor efficiency, high 66 = the 1.4 GHz AVX-512 clock [R] (x1/0.7); "
        "the old 24 put the published point at 82 % of the base-clock peak, 1.53x the anchor's "
        "efficiency",
    },
    "skylake_divisor_bert": {
        "value": 66.0, "low": 54.0, "high": 94.0,
        "source": "2S Sapphire Rapids BERT-99 Server over 2S Skylake-SP [E], peak-consistent: "
        "anchor 2S ICX-8380 BERT-99 Server 139.97 (MLPerf v1.1 [V], INT8, 23.55 T MAC/s peak); "
        "on the Skylake INT8 peak 3.41 T MAC/s that is 139.97 x 3.41/23.55 = 20.3 queries/s at "
        "the anchor's efficiency (work per query cancels), 20.3/1.222 = 16.6 at the published "
        "point (nmt's curve margin) => 1,089.77/16.6 = 65.7, rounded up to 66 (FACTS §2b, §4c); "
        "range: low 54 = the published point alone, high 94 = the 1.4 GHz AVX-512 clock [R]; the "
        "old 36 took no VNNI as x0.5 of the MAC rate instead of x1/3",
    },
    "skylake_divisor_rnnt": {
        "value": 83.0, "low": 67.0, "high": 118.0,
        "source": "2S Sapphire Rapids RNN-T Server over 2S Skylake-SP [E], peak-consistent on the "
        "FP32 path (Skylake has no BF16): anchor 8S CPX-8380H RNN-T Server 999.47 (MLPerf v1.1 "
        "[V], BF16: 224 C x 2.9 GHz x 64 MAC/cycle = 41.57 T MAC/s); the Skylake FP32 peak 40 C "
        "x 2.0 GHz x 32 MAC/cycle = 2.56 T MAC/s gives 999.47 x 2.56/41.57 = 61.6 queries/s at "
        "the anchor's efficiency, 61.6/1.232 = 50.0 at the published point => 4,104.84/50.0 = "
        "82.2, rounded up to 83 (FACTS §2b, §4d); range: low 67 = the published point alone (the "
        "old 68 is just above it), high 118 = the 1.4 GHz AVX-512 clock [R]",
    },
    # Older CPU generations (issue 13): one factor for compute-bound work (the vector peak
    # ratio) and one for memory-bound work (the DRAM bandwidth ratio), both from CPU_PARTS;
    # the estimate [E] is that each part reaches the Skylake's share of its own roof.
    "haswell_compute_vs_skylake": {
        "value": round(compute_vs_skylake("haswell"), 3), "low": 0.3, "high": 0.455,
        "source": "2S Haswell E5-2680 v3 over 2S Skylake Gold 6138 on compute-bound work: vector "
        "peak ratio 24 C x 2.5 GHz x 21.3 INT8 MAC/cycle (AVX2) / 40 C x 2.0 GHz x 42.7 (AVX-512, "
        "no VNNI) = 1.28/3.41 T MAC/s = 0.375 (FP32 0.96/2.56 the same) (CPU_PARTS, specs [R], "
        "FACTS §2b); the estimate [E] is equal efficiency of peak; low 0.3 = the Haswell at 80 % "
        "of the Skylake's efficiency, high 0.455 = the Skylake at its ~0.7 x base AVX-512 clock "
        "[R] against ~0.85 x base for AVX2 [R] (x0.85/0.7); the old single factor 0.625 (FACTS "
        "§7.2 ~1.0:1.6) put Haswell rows at 1.67x the Skylake's efficiency of peak",
    },
    "haswell_memory_vs_skylake": {
        "value": round(memory_vs_skylake("haswell"), 3), "low": 0.427, "high": 0.6,
        "source": "2S Haswell over 2S Skylake on memory-bound work (embedding lookups): DRAM "
        "bandwidth ratio 8 channels x DDR4-2133 / 12 x DDR4-2666 = 0.533 (CPU_PARTS, specs [R], "
        "FACTS §2b), applied to the Skylake's ~85 GB/s sustained [E]; low 0.427 = 80 % of that, "
        "high 0.6 = Gupta HPCA'20's recalled sustained ~51/85 GB/s [R]",
    },
    "broadwell_compute_vs_skylake": {
        "value": round(compute_vs_skylake("broadwell"), 3), "low": 0.336, "high": 0.51,
        "source": "2S Broadwell E5-2680 v4 over 2S Skylake on compute-bound work: vector peak "
        "ratio 28 C x 2.4 GHz x 21.3 INT8 MAC/cycle (AVX2) / 40 C x 2.0 GHz x 42.7 = 1.43/3.41 "
        "T MAC/s = 0.42 (FP32 1.08/2.56 the same) (CPU_PARTS, specs [R], FACTS §2b); equal "
        "efficiency of peak [E]; low 0.336 = 80 % of the Skylake's efficiency, high 0.51 = the "
        "AVX clocks (x0.85/0.7 [R]); the old 0.75 (FACTS §7.2 ~1.2:1.6) was 1.79x the peak ratio",
    },
    "broadwell_memory_vs_skylake": {
        "value": round(memory_vs_skylake("broadwell"), 3), "low": 0.48, "high": 0.906,
        "source": "2S Broadwell over 2S Skylake on memory-bound work: DRAM bandwidth ratio 8 "
        "channels x DDR4-2400 / 12 x DDR4-2666 = 0.600 (CPU_PARTS, specs [R], FACTS §2b) of the "
        "Skylake's ~85 GB/s [E]; low 0.48 = 80 % of that, high 0.906 = Gupta HPCA'20's recalled "
        "sustained ~77/85 GB/s [R]",
    },
    "twin_lakes_compute_vs_skylake": {
        "value": round(compute_vs_skylake("twin_lakes"), 3), "low": 0.16, "high": 0.333,
        "source": "Yosemite Twin Lakes 1S Xeon D-2100 node over a 2S Skylake on compute-bound "
        "work: vector peak ratio 16 C x 2.0 GHz x 21.3 INT8 MAC/cycle (one 512-bit FMA unit) / "
        "40 C x 2.0 GHz x 42.7 = 0.68/3.41 T MAC/s = 0.2 (FP32 0.51/2.56 the same) (CPU_PARTS, "
        "specs [R], FACTS §2a); equal efficiency of peak [E]; low 0.16 = 80 % of the Skylake's "
        "efficiency, high 1/3 = FACTS §7.2's core-count estimate (1/4-1/3 [E]), which ignores "
        "the single FMA unit; the old 0.3 was 1.5x the peak ratio",
    },
    "twin_lakes_memory_vs_skylake": {
        "value": round(memory_vs_skylake("twin_lakes"), 3), "low": 0.24, "high": 0.333,
        "source": "Yosemite Twin Lakes 1S node over a 2S Skylake on memory-bound work: DRAM "
        "bandwidth ratio 4 channels x DDR4-2400 / 12 x DDR4-2666 = 0.300 (CPU_PARTS, specs [R], "
        "FACTS §2a) of the Skylake's ~85 GB/s [E]; low 0.24 = 80 % of that, high 1/3 = DDR4-2666",
    },
    "m2_ranking_efficiency": {
        "value": 1.0, "low": 0.33, "high": 1.23,
        "source": "NNP-I M.2 module's fraction of its own roofline on ranking models over the "
        "T4's [E]: the T4 DLRM-99 Server record (23,988.2 samples/s x 270 pairs) runs at 81.5 % "
        "of its roofline (compute-bound: ResNet-50-sustained 4,652 x 8.2 GOP = 38.1 Top/s "
        "against 320 GB/s; it moved only ~86 GB/s), and the module (5,152 x 8.2 GOP = 42.2 "
        "Top/s sustained, 68 GB/s) is assumed to reach the same fraction; high 1/0.815 = 1.23 "
        "(the module at its full roofline), low 0.33 = the previous rule (T4 throughput x the "
        "bandwidth ratio 68/320 = 0.2125 on DLRM v1, against the roofline's 0.643)",
    },
    "m2_speech_factor": {
        "value": 0.2125, "low": 0.1, "high": 1.1,
        "source": "NNP-I M.2 module over a T4 on RNN-T [E]: the ranking rule (memory bandwidth "
        "68/320 GB/s, the smaller of the two ratios) for a recurrent model whose weights stream "
        "from DRAM every step; high: the ResNet-50 compute ratio 5,152/4,652 = 1.1 (weights "
        "held on chip), low: half the stated value",
    },
    "dm2_offline_over_server": {
        "value": 1.08, "low": 1.02, "high": 1.3,
        "source": "Offline/Server ratio used to turn the Cloud AI 100 DM.2 ResNet-50 Offline "
        "result into Server throughput [E] (v0.5 T4 CNN logs ~1.08, FACTS §7.4; Server/Offline "
        "of the Cloud AI 100 Pro systems in the data 1.02-1.08, of T4 1.32)",
    },
    "gnmt_sentences_per_bert_query": {
        "value": 4.0, "low": 2.0, "high": 8.0,
        "source": "GNMT-class sentences per BERT-99 query [E]: FLOP ratio ~8 halved for "
        "sequential decoding (FACTS §3b, §4c, §8); range: no halving (8) to a further halving",
    },
    "zion_oam_vs_a100": {
        "value": 0.5, "low": 0.35, "high": 0.7,
        "source": "Zion OAM accelerator (V100-class, 2019-2020) over an A100-SXM in MLPerf "
        "inference [E] (FACTS §2a)",
    },
    "zion_training_scaling": {
        "value": 1.0, "low": 0.7, "high": 1.0,
        "source": "efficiency of 8 accelerators per Zion against 8 isolated V100s (Gavel "
        "measures one GPU) [E]: linear scaling assumed; low: 70 % scaling efficiency",
    },
    "cpu_training_vs_v100": {
        "value": 0.25, "low": 0.15, "high": 0.4,
        "source": "2S Skylake server training ranking models over one V100 [E] (5.1 vs 15.7 "
        "FP32 TFLOPS peak, ~0.33; sparse updates favour CPUs less) (Hazelwood HPCA'18 [V-2])",
    },
}


def factor(name: str) -> float:
    """Return the value of the named estimated factor (see :data:`FACTORS`)."""
    return float(FACTORS[name]["value"])


def factor_list(*names: str) -> str:
    """Return the ``profiles.factors`` cell: names joined by ';' (``name^-1``: a divisor)."""
    return ";".join(names)


DLRM_UNITS: dict[str, Any] = {
    "pairs_per_sample": factor("dlrm_pairs_per_sample"),
    "source": "MLPerf DLRM sample = 100-700 user-item pairs drawn from tools/dist_quantile.txt "
    "(quantiles 100,100,200x12,300,300,400,500,600,700), mean 270 pairs/sample [E] "
    "(mlcommons/inference dlrm README [V]; FACTS §3b)",
}

DLRM_V1_WORK: dict[str, Any] = {
    "flops_per_pair": 4.8e6,
    "bytes_per_pair": 26 * 128 * 4.0,
    "memory_gb": 90.0,
    "source": "MLPerf DLRM v1 (Criteo 1TB): bottom MLP 13-512-256-128, 26 one-hot tables of "
    "dim 128, top MLP 1024-1024-512-256-1 => ~2.4 M MAC = 4.8 MFLOP per pair [E]; embedding "
    "bytes 26 lookups x 128 x 4 B = 13,312 B per pair [E]; FP32 weights tb00_40M.pt = 90 GB "
    "[V] (facebookresearch/dlrm run_and_time.sh; FACTS §3b)",
}

# benchmark -> the older (pre-AMX) MLPerf CPU record of the same benchmark, its part's peak
# on the path it ran, and the Skylake path. Its efficiency (throughput x work / peak) is the
# most a 2S Skylake profile of that benchmark may reach; the work per query cancels in the
# divisor (anchor qps x Skylake peak / anchor peak) and only states the efficiency [E].
CPU_ANCHORS: dict[str, dict[str, Any]] = {
    "resnet50": {"record": "2S CLX-9282 ResNet-50 Server (MLPerf v0.5 [V])", "qps": 4850.62,
                 "cores": 112, "ghz": 2.6, "macs_per_cycle": 128.0, "path": "int8",
                 "macs_per_query": 4.1e9},
    "dlrm-99": {"record": "2S ICX-8380 DLRM-99 Server (MLPerf v1.1 [V])", "qps": 20245.82,
                "cores": 80, "ghz": 2.3, "macs_per_cycle": 128.0, "path": "int8",
                "macs_per_query": 2.4e6 * DLRM_UNITS["pairs_per_sample"]},
    "bert-99": {"record": "2S ICX-8380 BERT-99 Server (MLPerf v1.1 [V])", "qps": 139.97,
                "cores": 80, "ghz": 2.3, "macs_per_cycle": 128.0, "path": "int8",
                "macs_per_query": 384 * 24 * (12 * 1024**2 + 2 * 384 * 1024)},
    "rnnt": {"record": "8S CPX-8380H RNN-T Server (MLPerf v1.1 [V], BF16)", "qps": 999.47,
             "cores": 224, "ghz": 2.9, "macs_per_cycle": 64.0, "path": "fp32",
             "macs_per_query": 7.0e9},
}
# RetinaNet has no pre-AMX CPU record: it takes ResNet-50's anchor efficiency with its own work.
CPU_ANCHOR_OF = {"resnet50": "resnet50", "retinanet": "resnet50", "bert-99": "bert-99",
                 "rnnt": "rnnt", "dlrm-99": "dlrm-99"}
MACS_PER_QUERY_SOURCE = (
    "work per query [E]: ResNet-50 4.1 GMAC [R]; RetinaNet 800x800 ResNeXt-50 FPN ~200 GMAC "
    "(backbone ~54, heads ~136, FPN ~10); DLRM v1 270 pairs x 2.4 MMAC; BERT-Large 384 tokens "
    "x 24 layers x (12 x 1024^2 + 2 x 384 x 1024) = 123 GMAC; RNN-T ~7 GMAC per LibriSpeech "
    "utterance (5 LSTM layers of 1024 over ~250/125 frames); only RetinaNet's enters a verdict")
MACS_PER_QUERY: dict[str, float] = {
    "resnet50": 4.1e9, "retinanet": 200e9, "bert-99": CPU_ANCHORS["bert-99"]["macs_per_query"],
    "rnnt": 7.0e9, "dlrm-99": CPU_ANCHORS["dlrm-99"]["macs_per_query"]}

# Divisor from the 2-socket Sapphire Rapids (Xeon 8480+, AMX) MLPerf result in the data files
# to a 2-socket Skylake-SP (Gold 6138, 20 C, 2.0 GHz, AVX-512 without VNNI) server: the
# peak-consistent divisors of FACTORS (arithmetic in each factor's source, checked by
# cpu_peak_violations before anything is written).
CPU_SPR_TO_SKYLAKE_DIVISOR: dict[str, tuple[float, str]] = {
    "resnet50": (factor("skylake_divisor_cnn"), FACTORS["skylake_divisor_cnn"]["source"]),
    "retinanet": (
        factor("skylake_divisor_cnn"),
        "same CNN divisor as ResNet-50 [E] (no pre-AMX RetinaNet CPU result; FACTS §4b)",
    ),
    "bert-99": (factor("skylake_divisor_bert"), FACTORS["skylake_divisor_bert"]["source"]),
    "rnnt": (factor("skylake_divisor_rnnt"), FACTORS["skylake_divisor_rnnt"]["source"]),
    "dlrm-99": (factor("skylake_divisor_dlrm"), FACTORS["skylake_divisor_dlrm"]["source"]),
}

# CPU generation -> its (compute, memory) factor of FACTORS; the 2S Skylake is the reference.
# Compute-bound rows scale by the compute factor, memory-bound work by the memory factor, and
# ranking rows by the roofline with both roofs scaled (cpu_roofline), so every older CPU row
# keeps the Skylake row's share of the platform's own peak (issue 13).
CPU_GENERATIONS: dict[str, tuple[str, str] | None] = {
    "skylake": None,
    "haswell": ("haswell_compute_vs_skylake", "haswell_memory_vs_skylake"),
    "broadwell": ("broadwell_compute_vs_skylake", "broadwell_memory_vs_skylake"),
    "twin_lakes": ("twin_lakes_compute_vs_skylake", "twin_lakes_memory_vs_skylake"),
}


def cpu_generation(generation: str) -> str:
    """Return the CPU_GENERATIONS key of a CPU platform's generation (Skylake by default)."""
    return generation if generation in CPU_GENERATIONS else "skylake"


def generation_factor(generation: str, kind: str) -> tuple[float, tuple[str, ...]]:
    """Return a generation's ``compute`` or ``memory`` factor and the factor names it used."""
    names = CPU_GENERATIONS[cpu_generation(generation)]
    if names is None:
        return 1.0, ()
    name = names[0] if kind == "compute" else names[1]
    return factor(name), (name,)


NNPI_M2: dict[str, Any] = {
    "resnet50_per_accelerator": 10303.98 / 2,
    "memory_bandwidth_gbps": 68.0,
    "memory_gb": 16.0,
    "power_w": 12.0,
    "source": "Intel NNP-I 1000 (Spring Hill, M.2 10-12 W, 48 TOPS INT8, 16 GB DRAM, 68 GB/s "
    "[V-2 Linley 2019-09-03, AnandTech HC31]); MLPerf v0.5 closed/Intel nnpi-1000-2x_onnx "
    "ResNet-50 Server 10,303.98 qps on 2 accelerators = 5,152 per accelerator [V] (FACTS §2c, "
    "§4b). It is the Glacier Point M.2 module proxy ('Several of these 10W modules plug into "
    "Glacier Point' [V-2])",
}

T4_SPEC: dict[str, Any] = {
    "memory_bandwidth_gbps": 320.0,
    "source": "NVIDIA T4: 70 W, 16 GB GDDR6 [V-2], 320 GB/s [R, NVIDIA datasheet] (FACTS §2c)",
}

# Rooflines of the ranking models (issue 13): time per item = max(FLOP / compute roof,
# embedding bytes / memory roof). A compute roof is the rate sustained on ResNet-50 (a
# compute-bound benchmark) where a measured record exists, else the peak; a memory roof is the
# part's DRAM bandwidth. Only the ridge point (compute / bandwidth) shapes a model's scale
# against DLRM v1 on a platform; the DLRM v1 record sets the level.
RESNET50_OPS_PER_IMAGE = 2 * 4.1e9

ROOFLINE_SPECS: dict[str, dict[str, Any]] = {
    "cpu": {
        "name": "2S Skylake-SP",
        "ops_per_s": 2 * CPU_PARTS["skylake"]["cores"] * CPU_PARTS["skylake"]["ghz"] * 1e9
        * CPU_PARTS["skylake"]["macs_per_cycle"]["int8"],
        "bytes_per_s": CPU_PARTS["skylake"]["memory_gbps"] * 1e9,
        "source": "2S Gold 6138 INT8 peak 3.41 T MAC/s (CPU_PARTS: 40 cores x 2.0 GHz base x 2 "
        "FMA ports x 64 lanes / 3 without VNNI [E]) = 6.83 Top/s; memory ~85 GB/s (Gupta "
        "HPCA'20 Table II, DDR4-2666 [R]; FACTS §2); an older CPU generation scales the compute "
        "roof by its compute factor and the memory roof by its memory factor (cpu_roofline) [E]",
    },
    "m2": {
        "name": "NNP-I M.2 module",
        "ops_per_s": NNPI_M2["resnet50_per_accelerator"] * RESNET50_OPS_PER_IMAGE,
        "bytes_per_s": NNPI_M2["memory_bandwidth_gbps"] * 1e9,
        "source": "NNP-I M.2 module: ResNet-50 5,152 per module x 8.2 GOP = 42.2 Top/s sustained "
        "(of 48 peak) [V]; 68 GB/s DRAM [V-2] (FACTS §2c); the dual-M.2 generation scales both "
        "roofs by its CNN ratio (no DM.2 bandwidth is public) [E]",
    },
}


@dataclass(frozen=True)
class Roofline:
    """Compute (op/s) and memory (B/s) roofs of one processor, for the ranking models."""

    name: str
    ops_per_s: float
    bytes_per_s: float

    def seconds(self, flops: float, nbytes: float) -> float:
        """Return the roofline time of one item: the larger of compute and memory time."""
        return max(flops / self.ops_per_s, nbytes / self.bytes_per_s)

    def describe(self, flops: float, nbytes: float) -> str:
        """Return the arithmetic of :meth:`seconds` in ns, e.g. ``max(100.5, 41.6) = 100.5``."""
        c, m = flops / self.ops_per_s * 1e9, nbytes / self.bytes_per_s * 1e9
        return f"max({_ns(c)}, {_ns(m)}) = {_ns(max(c, m))} ns"

    def roofs(self) -> str:
        """Return the roofs and ridge point as text."""
        return (f"{self.ops_per_s / 1e12:.3g} Top/s, {self.bytes_per_s / 1e9:g} GB/s, ridge "
                f"{self.ops_per_s / self.bytes_per_s:.0f} op/B")


def _ns(value: float) -> str:
    """Return nanoseconds without an exponent: one decimal from 100 ns (1,004.5), else 3 digits."""
    return f"{value:,.1f}" if value >= 100 else f"{value:.3g}"


def roofline(key: str) -> Roofline:
    """Return the roofline of ``cpu`` or ``m2`` from :data:`ROOFLINE_SPECS`."""
    spec = ROOFLINE_SPECS[key]
    return Roofline(spec["name"], float(spec["ops_per_s"]), float(spec["bytes_per_s"]))


def cpu_roofline(generation: str) -> Roofline:
    """Return a CPU generation's ranking roofline: the 2S Skylake's with scaled roofs.

    The compute roof is scaled by the generation's compute factor (vector peak ratio), the
    memory roof by its memory factor (DRAM bandwidth ratio), so the ridge moves with the part.
    """
    sky = roofline("cpu")
    gen = cpu_generation(generation)
    if gen == "skylake":
        return sky
    compute, _ = generation_factor(gen, "compute")
    memory, _ = generation_factor(gen, "memory")
    return Roofline(CPU_PARTS[gen]["name"], sky.ops_per_s * compute, sky.bytes_per_s * memory)


def roofline_factor(roof: Roofline, generation: str, flops: float, nbytes: float) -> tuple[
        str, ...]:
    """Return the generation factor of the roof that binds an item on a CPU roofline."""
    kind = "compute" if flops / roof.ops_per_s >= nbytes / roof.bytes_per_s else "memory"
    return generation_factor(generation, kind)[1]


def t4_roofline(t4_resnet_per_accelerator: float) -> Roofline:
    """Return the T4's roofline: its MLPerf ResNet-50 rate x 8.2 GOP, and 320 GB/s."""
    return Roofline("T4", t4_resnet_per_accelerator * RESNET50_OPS_PER_IMAGE,
                    T4_SPEC["memory_bandwidth_gbps"] * 1e9)


QAIC_DM2: dict[str, Any] = {
    "resnet50_offline": 8910.85,
    "offline_over_server_cnn": factor("dm2_offline_over_server"),
    "tdp_w": 20.0,
    "source": "Qualcomm Cloud AI 100 DM.2 (20 W) AEDK ResNet-50 Offline 8,910.85 (MLPerf v1.1 "
    "[V-calc]); Offline/Server ~1.08 for CNNs (v0.5 T4 logs [E]) (FACTS §4b, §7.4)",
}

GNMT_PER_BERT: dict[str, Any] = {
    "factor": factor("gnmt_sentences_per_bert_query"),
    "source": "translation model (GNMT-class seq2seq, ~210 M params [R]) sentences/s from "
    "BERT-99 queries/s: per-query FLOP ratio BERT-Large 384 tokens (~257 GFLOP) / GNMT ~30+30 "
    "tokens with beam 4 (~32 GFLOP) ~= 8 [E], halved for sequential decoding (T4 measured "
    "GNMT/BERT 198/337 = 0.59 [V, MLPerf v0.5/v0.7]) => x4 [E]; MLPerf has translation only in "
    "v0.5, BERT is the NLP proxy from v0.7 on [E] (FACTS §3b, §4c, §8)",
}

ZION_ACCELERATOR: dict[str, Any] = {
    "vs_a100": factor("zion_oam_vs_a100"),
    "source": "Zion OAM accelerators of 2019-2020 taken as V100-class, ~0.5x an A100-SXM in "
    "MLPerf inference [E]; 8 OAM + 8 CPU sockets per Zion [R, FB blog 2019-03-14 / HC31] "
    "(FACTS §2a)",
}

GAVEL_TRAINING: dict[str, Any] = {
    "gpus_per_server": 8,
    "cpu_fraction_of_v100": factor("cpu_training_vs_v100"),
    "source": "Gavel simulation_throughputs.json (stanford-futuredata/gavel, MIT): isolated V100 "
    "steps/s x batch size = samples/s, best batch size; x8 accelerators per Zion assuming linear "
    "scaling [E]; a 2S Skylake server trains ranking models at ~0.25 of one V100 (5.1 vs 15.7 "
    "FP32 TFLOPS peak [E]); Hazelwood HPCA'18 lists News Feed training on 2S CPUs [V-2]",
}

# Work per sample of the Gavel 'Recommendation' job, for the peak check of the CPU training
# rows (issue 13): a CPU row may not reach a larger share of its FP32 peak than the V100 does
# on the same job (the work per sample cancels in the cap; it only states the shares) [E].
GAVEL_RECOMMENDATION_WORK: dict[str, Any] = {
    "macs_per_sample": 3 * 2 * 116_677 * 200,
    "v100_fp32_macs": 15.7e12 / 2,
    "source": "Gavel 'Recommendation' = recoder DynamicAutoencoder(hidden_layers=[200]), item-"
    "based on ML-20M (stanford-futuredata/gavel workloads/pytorch/recommendation/train.py [V]; "
    "vae_cf preprocessing: 136,677 users - 2 x 10,000 held out = 116,677 input dims [R]): at "
    "most 2 x 116,677 x 200 = 46.7 M MAC forward (dense, every user of the batch), x3 with the "
    "backward pass = 140 M MAC per sample [E]; V100 FP32 peak 15.7 TFLOPS = 7.85 T FMA/s [R]",
}

RANKING_DEMAND: dict[str, Any] = {
    "predictions_per_day": 200e12,
    "rmc_cycle_share": 0.65,
    "other_rec_cycle_share": 0.14,
    "source": "'more than 200 trillion predictions' per day (engineering.fb.com 2019-03-14 [V]; "
    "AccML 2020 talk); DNN recommendation up to 79% of AI inference cycles, RMC1+RMC2+RMC3 up to "
    "65% (Gupta HPCA'20 §I [V-2]); split evenly within RMC1-3 and within other rec [E] "
    "(FACTS §5); cycles measured on the 2S Skylake profile",
}

TRANSLATION_DEMAND: dict[str, Any] = {
    "translations_per_day": 6.0e9,
    "source": "'over 6 billion language translations every day' (engineering.fb.com "
    "2019-03-14 [V]; AccML 2020 talk) (FACTS §5)",
}

DIURNAL: dict[str, Any] = {
    "consumer_series": "m_small",
    "media_series": "mm_image",
    "source": "peak/mean of the 24-hour mean-1.0 shape in traces/diurnal_shapes_24h.csv "
    "(alibaba/ServeGen, Apache-2.0; a substitute: no Facebook curve is public)",
}

# ---------------------------------------------------------------------------------------------
# Platforms (FACTS §2, §6, §7.1; mostly estimates, derivation written in the source)
# ---------------------------------------------------------------------------------------------

PLATFORM_SPECS: dict[str, dict[str, Any]] = {
    "cpu_haswell": {
        "platform_class": "cpu", "family": "leopard", "generation": "haswell",
        "power_w": 350.0, "capex_usd": 5500.0, "host_memory_gb": 256.0, "accel_memory_gb": 0.0,
        "accelerators": 0, "lead_time_quarters": 1, "lifetime_quarters": 20, "rack_units": 0.67,
        "supply_per_quarter": 0.0, "available_from_quarter": 0,
        "maintenance_usd_per_quarter": 80.0, "source_kind": "estimate",
        "source": "2S Haswell (E5-2680 v3 class, 12 C, 2.5 GHz, 256 GB [R, Gupta HPCA'20 Table "
        "II]); power 2x120 W TDP [R] + 110 W board/DRAM/NIC/fans = 350 W [E]; capex [E]; 3 "
        "sleds per 2U chassis (Hazelwood HPCA'18 [V-2]) => 0.67 RU; end of sale: supply 0 [E]; "
        "maintenance (out-of-warranty parts and labour, rising with age) [E]",
    },
    "cpu_broadwell": {
        "platform_class": "cpu", "family": "leopard", "generation": "broadwell",
        "power_w": 350.0, "capex_usd": 6000.0, "host_memory_gb": 256.0, "accel_memory_gb": 0.0,
        "accelerators": 0, "lead_time_quarters": 1, "lifetime_quarters": 20, "rack_units": 0.67,
        "supply_per_quarter": 0.0, "available_from_quarter": 0,
        "maintenance_usd_per_quarter": 70.0, "source_kind": "estimate",
        "source": "2S Broadwell (E5-2680 v4 class, 14 C, 2.4 GHz, 256 GB [R, Gupta HPCA'20]); "
        "power 2x120 W [R] + 110 W = 350 W [E]; capex [E]; 0.67 RU [V-2 Hazelwood]; end of sale "
        "[E]; maintenance rising with age [E]",
    },
    "cpu_skylake": {
        "platform_class": "cpu", "family": "tioga_pass", "generation": "skylake",
        "power_w": 360.0, "capex_usd": 9000.0, "host_memory_gb": 256.0, "accel_memory_gb": 0.0,
        "accelerators": 0, "lead_time_quarters": 1, "lifetime_quarters": 20, "rack_units": 0.67,
        "supply_per_quarter": 6000.0, "available_from_quarter": 0,
        "maintenance_usd_per_quarter": 60.0, "source_kind": "estimate",
        "source": "Tioga Pass 2S Skylake-SP (Gold 6138 class, 20 C, 2.0 GHz, 256 GB [R, Gupta "
        "HPCA'20]); power 2x125 W TDP [R] + 110 W = 360 W [E]; capex 2x~$2.6k CPU + 256 GB "
        "DRAM ~$2.5k + board/NIC/SSD ~$1.5k ~= $9k [E] (OCP prices not public, FACTS §6); "
        "0.67 RU [V-2]; supply [E]",
    },
    "yv2_twin_lakes": {
        "platform_class": "cpu", "family": "yosemite_v2", "generation": "twin_lakes",
        "power_w": 125.0, "capex_usd": 2800.0, "host_memory_gb": 32.0, "accel_memory_gb": 0.0,
        "accelerators": 0, "lead_time_quarters": 1, "lifetime_quarters": 16, "rack_units": 0.25,
        "supply_per_quarter": 4000.0, "available_from_quarter": 0,
        "maintenance_usd_per_quarter": 25.0, "source_kind": "estimate",
        "source": "Yosemite V2 Twin Lakes 1S Xeon-D card (spec v0.4 [V title]); 95 W CPU "
        "(YV2-class node limit, North Dome [V-2]) + 30 W DIMMs/SSD/NIC share = 125 W [E] (YV1: "
        "<=90 W per card [V-2]); 32 GB DRAM (1S web server, Hazelwood HPCA'18 [V-2]); 4 sleds "
        "x 4 cards per 4OU => 0.25 RU [V-2 heise, low confidence]; capex [E]",
    },
    "yv2_glacier_point": {
        "platform_class": "inference_asic", "family": "yosemite_v2", "generation": "glacier_point",
        "power_w": 250.0, "capex_usd": 7500.0, "host_memory_gb": 32.0, "accel_memory_gb": 96.0,
        "accelerators": 6, "lead_time_quarters": 1, "lifetime_quarters": 12, "rack_units": 0.5,
        "supply_per_quarter": 150.0, "available_from_quarter": 0,
        "maintenance_usd_per_quarter": 75.0, "source_kind": "estimate",
        "source": "Yosemite V2.50 Twin Lakes host + Glacier Point V2 carrier with six M.2 "
        "inference ASICs ('six low-power accelerator cards alongside a single-socket host CPU', "
        "Anandaraj et al. arXiv 2107.04140 abstract [V-2]; GPv2 'up to 12 M.2 modules' [V, OCP "
        "2020]); power host 125 W + carrier <=120 W (GPv2 card limit [V-2]) + 5 W = 250 W [E]; "
        "16 GB per module (NNP-I [V-2]) => 96 GB; host 32 GB [V-2]; host + carrier = 2 YV2 "
        "slots => 0.5 RU [E]; capex host $2.8k + 6x$600 module + $1.1k carrier [E]",
    },
    "yv2_glacier_point_dm2": {
        "platform_class": "inference_asic", "family": "yosemite_v2",
        "generation": "glacier_point_dual_m2",
        "power_w": 260.0, "capex_usd": 9500.0, "host_memory_gb": 32.0, "accel_memory_gb": 96.0,
        "accelerators": 6, "lead_time_quarters": 1, "lifetime_quarters": 12, "rack_units": 0.5,
        "supply_per_quarter": 200.0, "available_from_quarter": 2,
        "maintenance_usd_per_quarter": 95.0, "source_kind": "estimate",
        "source": "second-generation Glacier Point V2 with six dual-M.2 modules (GPv2 'up to 6 "
        "dual M.2 accelerator modules' [V, OCP 2020]; Dual M.2 spec v1.0 2020-08-18 [V title]) "
        "of Cloud AI 100 DM.2 class (20 W TDP [V]); power 125 W host + 6x20 W + 15 W switch = "
        "260 W [E]; 16 GB per module [E]; orderable from 2020Q3 with limited supply [E]",
    },
    "zion": {
        "platform_class": "accelerator_fabric", "family": "zion", "generation": "zion_oam",
        "power_w": 4600.0, "capex_usd": 200000.0, "host_memory_gb": 1536.0,
        "accel_memory_gb": 256.0, "accelerators": 8, "lead_time_quarters": 2,
        "lifetime_quarters": 12, "rack_units": 10.0, "supply_per_quarter": 120.0,
        "available_from_quarter": 0, "maintenance_usd_per_quarter": 2000.0,
        "source_kind": "estimate",
        "source": "Zion large-memory training platform: CPU head node + switch sync system + "
        "accelerator system ([V-2] The Register 2022, Naumov arXiv 2003.09518 [V]); 8 CPU "
        "sockets + 8 OAM accelerators [R]; power 8x350 W (OAM 12 V limit [R]) + 8x150 W CPU + "
        "600 W DRAM/NIC/fans = 4.6 kW [E] (DGX-A100 8 GPUs measured 3.38 kW on DLRM [V]); "
        "8 sockets x 6 ch x 32 GB = 1,536 GB host [E], 8x32 GB accelerator memory [E]; capex "
        "~ DGX-A100 list ~$200k [V-2] [E]; 3 boxes ~10 RU [E]",
    },
}

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

# model_id -> DeepRecSys config file, latency SLO (ms), percentile, source of the SLO.
RANKING_MODELS: dict[str, dict[str, Any]] = {
    "rmc1": {"config": "dlrm_rm1.json", "slo_ms": 100.0, "pct": 95.0},
    "rmc2": {"config": "dlrm_rm2.json", "slo_ms": 400.0, "pct": 95.0},
    "rmc3": {"config": "dlrm_rm3.json", "slo_ms": 100.0, "pct": 95.0},
    "wnd": {"config": "wide_and_deep.json", "slo_ms": 25.0, "pct": 95.0},
    "mtwnd": {"config": "mtwnd.json", "slo_ms": 25.0, "pct": 95.0},
    "din": {"config": "din.json", "slo_ms": 100.0, "pct": 95.0},
    "dien": {"config": "dien.json", "slo_ms": 35.0, "pct": 95.0},
}

DEEPRECSYS_SLO_SOURCE = (
    "DeepRecSys ISCA'20 per-model p95 tail-latency targets (NCF 5, WnD 25, MT-WnD 25, RMC1 100, "
    "RMC2 400, RMC3 100, DIN 100, DIEN 35 ms) [R, Table I unverified]; WnD 25 ms in "
    "run_DeepRecSys.sh [V] (FACTS §3a)"
)

DLRM_ADS: dict[str, Any] = {
    "memory_gb": 360.0,
    "max_shards": 2,
    "slo_ms": 30.0,
    "pct": 99.0,
    "source": "ads ranking model proxied by MLPerf DLRM v1 (same work per pair, scale 1.0); "
    "memory 4 x 90 GB FP32 weights [V] = 360 GB: the reference's 40M-row table cap lifted to "
    "160M rows for a production ads model [E], so it needs Zion's large memory (1,536 + 256 "
    "GB) or a replica sharded over 2 two-socket servers (2 x 256 GB; max_shards 2: embedding "
    "tables split by table, each server computing its share of the items [E]); latency 30 ms "
    "p99 (MLPerf v0.7/v1.1 DLRM bound [V]) (FACTS §3b, §1)",
}

MLPERF_MODELS: dict[str, dict[str, Any]] = {
    "resnet50": {
        "bucket": "cv", "benchmark": "resnet50", "slo_ms": 15.0, "pct": 99.0, "memory_gb": 0.2,
        "unit": "images", "factor": 1.0,
        "source": "image classification, MLPerf ResNet-50 v1.5 (25.6 M params [R] => ~0.1 GB "
        "FP32, 0.2 GB with buffers [E]); Server bound 15 ms p99 [V] (FACTS §1, §3b)",
    },
    "retinanet": {
        "bucket": "cv", "benchmark": "retinanet", "slo_ms": 100.0, "pct": 99.0,
        "memory_gb": 0.5, "unit": "images", "factor": 1.0,
        "source": "object detection, MLPerf RetinaNet 800x800 (~37 M params => 0.15 GB, 0.5 GB "
        "with buffers [E]); Server bound 100 ms p99 [V] (FACTS §1)",
    },
    "nmt": {
        "bucket": "translation", "benchmark": "bert-99", "slo_ms": 250.0, "pct": 97.0,
        "memory_gb": 1.0, "unit": "sentences", "factor": GNMT_PER_BERT["factor"],
        "source": "machine translation, GNMT-class seq2seq (~210 M params => 0.84 GB FP32 [R], "
        "1 GB [E]); MLPerf v0.5 GNMT bound 250 ms p97 [V]; throughput from BERT-99 (130 ms "
        "p99, conservative) x4 [E] (FACTS §1, §3b)",
    },
    "rnnt": {
        "bucket": "speech", "benchmark": "rnnt", "slo_ms": 1000.0, "pct": 99.0,
        "memory_gb": 0.5, "unit": "utterances", "factor": 1.0,
        "source": "speech recognition, MLPerf RNN-T (LibriSpeech; ~0.5 GB with buffers [E]); "
        "Server bound 1000 ms p99 [V] (FACTS §1, §3b)",
    },
}

# model_id -> Gavel job name, bucket, memory, the 2S CPU platforms it may train on.
TRAINING_MODELS: dict[str, dict[str, Any]] = {
    "rmc_training": {
        "job": "Recommendation", "bucket": "ranking", "memory_gb": 10.0, "cpu": True,
        "source": "ranking-model training (DLRM class; Gavel 'Recommendation' job as throughput "
        "proxy [E]); also trains on idle 2S CPU servers [E]; memory: RMC2's FP32 weights "
        "4.1 GB (models.csv) x2 with the Adagrad state = 8.2 GB, plus ~1.8 GB for one batch's "
        "MLP activations, dense gradients and input buffers [E] => 10 GB [E]; DLRMs are >50% "
        "of training demand (Naumov arXiv 2003.09518 [V])",
    },
    "resnet50_training": {
        "job": "ResNet-50", "bucket": "cv", "memory_gb": 8.0, "cpu": False,
        "source": "image-model training (ResNet-50, Gavel job); 3.5 billion public images used "
        "for training (engineering.fb.com 2019 [V]); memory [E]",
    },
    "transformer_training": {
        "job": "Transformer", "bucket": "translation", "memory_gb": 8.0, "cpu": False,
        "source": "translation-model training (Transformer, Gavel job); Language Translation "
        "trained weekly on GPUs (Hazelwood HPCA'18 [V-2]); memory [E]",
    },
}

TRAINING_SLO: dict[str, Any] = {
    "slo_ms": 86_400_000.0,
    "pct": 50.0,
    "source": "training is throughput-bound, not latency-bound: nominal bound = one day (daily "
    "retraining cadence of News Feed, Hazelwood HPCA'18 [V-2]) [E]",
}

# ---------------------------------------------------------------------------------------------
# Regions, topology, inventory (estimates; FACTS §6 for PUE and prices)
# ---------------------------------------------------------------------------------------------

REGION_SPECS: dict[str, dict[str, Any]] = {
    "prn": {
        "power_cap_kw": 3400.0, "pue": 1.09, "electricity_usd_per_kwh": 0.0663,
        "space_limit_ru": 7000.0, "demand_share": 0.40, "source_kind": "estimate",
        "source": "Prineville-like (Oregon): PUE 1.09 annualised Q4 2013 (opencompute.org "
        "energy-efficiency [V-2]); US industrial electricity 6.63 c/kWh, the mean of the May, "
        "Sep and Dec 2020 national averages 6.48, 7.01, 6.40 (EIA [V]; no state price in "
        "FACTS, so both US regions pay it); ML power cap, space and 40% traffic share [E]",
    },
    "frc": {
        "power_cap_kw": 3350.0, "pue": 1.09, "electricity_usd_per_kwh": 0.0663,
        "space_limit_ru": 7000.0, "demand_share": 0.35, "source_kind": "estimate",
        "source": "Forest City-like (North Carolina): PUE 1.09 (opencompute.org [V-2]); US "
        "industrial electricity 6.63 c/kWh, the 2020 national mean as for prn (EIA [V]); cap, "
        "space, 35% share [E]",
    },
    "lla": {
        "power_cap_kw": 2850.0, "pue": 1.07, "electricity_usd_per_kwh": 0.045,
        "space_limit_ru": 5500.0, "demand_share": 0.25, "source_kind": "estimate",
        "source": "Lulea-like (Sweden): free cooling, PUE 1.07 (Prineville 2011 reported value "
        "as a cold-climate proxy [V-2]); electricity 4.5 c/kWh: an assumption with no source "
        "(FACTS has no Nordic price), ~2/3 of the US mean for hydro-rich Sweden [E]; cap, "
        "space, 25% share [E]",
    },
}

# Time of day (planner.diurnal): standard-time UTC offsets of the sites the regions stand for,
# and the added network latency when one region serves another's users (follow the sun).
REGION_UTC_OFFSETS: dict[str, tuple[float, str]] = {
    "prn": (-8.0, "UTC offset -8 h: Pacific standard time, Oregon [V]"),
    "frc": (-5.0, "UTC offset -5 h: Eastern standard time, North Carolina [V]"),
    "lla": (1.0, "UTC offset +1 h: Central European time, Sweden [V]"),
}
NETWORK_LATENCY_MS: dict[tuple[str, str], tuple[float, str]] = {
    ("prn", "frc"): (70.0, "US west-east round trip ~70 ms [E]"),
    ("frc", "prn"): (70.0, "US east-west round trip ~70 ms [E]"),
    ("prn", "lla"): (160.0, "Oregon-Sweden round trip ~160 ms [E]"),
    ("frc", "lla"): (100.0, "transatlantic round trip ~100 ms [E]"),
    ("lla", "frc"): (100.0, "transatlantic round trip ~100 ms [E]"),
}
LOAD_SHAPE_SOURCE = (
    "hourly mean-1.0 shape '{series}' of traces/diurnal_shapes_24h.csv (alibaba/ServeGen "
    "f891d11, Apache-2.0; LLM-serving request rates summed over clients, local clock); a "
    "substitute: no Facebook curve is public [derived]"
)

POWER_CAP_CHANGES: list[dict[str, Any]] = [
    {"region_id": "frc", "quarter": 3, "power_cap_kw": 3800.0, "source_kind": "estimate",
     "source": "new data hall energised in 2020Q4 [E]"},
    {"region_id": "lla", "quarter": 2, "power_cap_kw": 2350.0, "source_kind": "estimate",
     "source": "part of the ML power budget moved to storage in 2020Q3 [E]"},
    {"region_id": "prn", "quarter": 3, "power_cap_kw": 2300.0, "source_kind": "estimate",
     "source": "a new storage build-out takes part of the ML power budget from 2020Q4 [E]"},
]

TOPOLOGY_EDGES: list[tuple[str, str, str]] = [
    ("prn", "frc", "US regions back each other up [E]"),
    ("prn", "lla", "spare capacity across the Atlantic [E]"),
    ("frc", "prn", "US regions back each other up [E]"),
    ("frc", "lla", "east-coast traffic can fail over to Europe [E]"),
    ("lla", "frc", "European traffic fails over to the nearest (east-coast) region only [E]"),
]

# (platform_id, region_id) -> list of (servers, retire_quarter or None).
INVENTORY_SPECS: dict[tuple[str, str], list[tuple[int, int | None]]] = {
    ("cpu_haswell", "prn"): [(2400, 4)],
    ("cpu_haswell", "frc"): [(2200, 4)],
    ("cpu_haswell", "lla"): [(1600, 6)],
    ("cpu_broadwell", "prn"): [(2300, None)],
    ("cpu_broadwell", "frc"): [(2300, None)],
    ("cpu_broadwell", "lla"): [(1800, None)],
    ("cpu_skylake", "prn"): [(2000, None)],
    ("cpu_skylake", "frc"): [(2200, None)],
    ("cpu_skylake", "lla"): [(2600, None)],
    ("yv2_twin_lakes", "prn"): [(2200, None)],
    ("yv2_twin_lakes", "frc"): [(2200, None)],
    ("yv2_twin_lakes", "lla"): [(1700, None)],
    ("yv2_glacier_point", "prn"): [(150, None)],
    ("yv2_glacier_point", "frc"): [(100, None)],
    ("zion", "prn"): [(75, None)],
    ("zion", "frc"): [(68, None)],
    ("zion", "lla"): [(50, None)],
}

INVENTORY_SOURCE = (
    "installed base at 2020Q1 [E]: no public Facebook server counts; sized so that quarter 0 "
    "is served with disaster recovery on (with the older CPUs at their own peaks, issue 13: "
    "2S Skylake lots of 2,000/2,200/2,600 in prn/frc/lla)"
)
# Platform -> why its lots retire when they do (added to INVENTORY_SOURCE row by row).
INVENTORY_RETIREMENT: dict[str, str] = {
    "cpu_haswell": "Haswell (bought 2015-2016) retires within the horizon: 4-5 year life [E]",
}

# ---------------------------------------------------------------------------------------------
# Products and calls
# ---------------------------------------------------------------------------------------------

PRODUCT_SPECS: dict[str, dict[str, Any]] = {
    "news_feed": {
        "daily_requests": 20e9, "shape": "consumer", "growth": 0.04,
        "source": "Facebook News Feed loads: 2.7 B monthly people (engineering.fb.com 2019 [V]), "
        "of whom ~2/3 (1.8 B) on a given day [E] x ~11 feed requests/day [E] ~= 20 B; growth "
        "4%/quarter [E]",
    },
    "instagram_feed": {
        "daily_requests": 10e9, "shape": "consumer", "growth": 0.08,
        "source": "Instagram feed and stories loads per day [E]; growth 8%/quarter [E]",
    },
    "ads": {
        "daily_requests": 30e9, "shape": "consumer", "growth": 0.06,
        "source": "ad requests alongside feed, stories and video [E]; growth 6%/quarter [E]",
    },
    "watch": {
        "daily_requests": 3e9, "shape": "consumer", "growth": 0.08,
        "source": "video recommendation requests; 100 M hours of video watched per day (FB OCP "
        "2017 [V]) [E]; growth 8%/quarter [E]",
    },
    "translation_service": {
        "daily_requests": TRANSLATION_DEMAND["translations_per_day"], "shape": "consumer",
        "growth": 0.05,
        "source": TRANSLATION_DEMAND["source"] + "; one model query per translation; growth "
        "5%/quarter [E]",
    },
    "photo_uploads": {
        "daily_requests": 350e6, "shape": "media", "growth": 0.03,
        "source": "photos uploaded per day: 95 M+ Instagram photos/videos per day (FB OCP 2017 "
        "[V]) + ~250 M Facebook photos [E]; growth 3%/quarter [E]",
    },
    "video_uploads": {
        "daily_requests": 20e6, "shape": "media", "growth": 0.10,
        "source": "videos uploaded per day [E]; growth 10%/quarter [E]",
    },
    "voice_messages": {
        "daily_requests": 100e6, "shape": "consumer", "growth": 0.06,
        "source": "voice clips transcribed per day; 400 M monthly Messenger voice/video users "
        "(FB OCP 2017 [V]) [E]; growth 6%/quarter [E]",
    },
    "ranking_training_pipeline": {
        "daily_requests": 1.1e12, "shape": "flat", "growth": 0.15,
        "source": "ranking training samples per day [E]; training compute grew 3x in 12 months "
        "(HC31 Zion talk [V-2]), assumed to slow to ~1.75x/year = 15%/quarter [E]; training "
        "runs around the clock (peak/mean 1.0) [E]",
    },
    "cv_training_pipeline": {
        "daily_requests": 4.5e9, "shape": "flat", "growth": 0.15,
        "source": "image-model training samples per day [E] (3.5 B public images used for "
        "training, engineering.fb.com 2019 [V]); growth 15%/quarter [E]",
    },
    "translation_training_pipeline": {
        "daily_requests": 6.0e9, "shape": "flat", "growth": 0.15,
        "source": "translation-model training sentences per day [E]; growth 15%/quarter [E]",
    },
}

# Ranking model -> products that call it and the share of its predictions each accounts for.
RANKING_CALL_SPLIT: dict[str, list[tuple[str, float]]] = {
    "rmc1": [("news_feed", 0.6), ("instagram_feed", 0.4)],
    "rmc2": [("news_feed", 0.6), ("instagram_feed", 0.4)],
    "rmc3": [("news_feed", 0.6), ("instagram_feed", 0.4)],
    "wnd": [("watch", 0.6), ("ads", 0.4)],
    "mtwnd": [("ads", 1.0)],
    "din": [("instagram_feed", 0.5), ("watch", 0.5)],
    "dien": [("ads", 1.0)],
    "dlrm_ads": [("ads", 1.0)],
}

OTHER_CALLS: list[tuple[str, str, float, str]] = [
    ("translation_service", "nmt", 1.0, "one translation model query per translation [E]"),
    ("photo_uploads", "resnet50", 4.0,
     "four classifiers per photo (content understanding, integrity, alt text, search) [E]"),
    ("photo_uploads", "retinanet", 1.0, "one object-detection pass per photo [E]"),
    ("retinanet", "resnet50", 3.0,
     "each detection pass sends ~3 object crops to the classifier (model-to-model call) [E]"),
    ("video_uploads", "resnet50", 60.0, "60 sampled frames classified per video [E]"),
    ("video_uploads", "rnnt", 20.0, "20 speech segments per video for captions [E]"),
    ("voice_messages", "rnnt", 1.0, "one utterance per voice clip [E]"),
    ("ranking_training_pipeline", "rmc_training", 1.0, "one training sample per sample [E]"),
    ("cv_training_pipeline", "resnet50_training", 1.0, "one image per sample [E]"),
    ("translation_training_pipeline", "transformer_training", 1.0,
     "one sentence per sample [E]"),
]

# ---------------------------------------------------------------------------------------------
# Settings and scenarios (written verbatim)
# ---------------------------------------------------------------------------------------------

SETTINGS: dict[str, Any] = {
    "horizon_quarters": 8,
    "first_quarter": "2020Q1",
    "objective": "tco",
    "allocation": "dedicated",
    "target_utilization": 0.7,
    "energy_load_factor": 0.6,
    "disaster_recovery": {"enabled": True, "emergency_utilization": 0.9,
                          "phases": ["inference"]},
    # 0.5 %: one Zion server is ~2 % of the default TCO (~10 M USD), and HiGHS proves 0.5 %
    # in 3-30 s on one thread (the base case and every scenario; slo_tighter ~29 s, so 60 s
    # leaves room on a loaded machine) while 0.1 % takes minutes; input uncertainty is far
    # larger (see README, "Solving").
    "solver": {"name": "highs", "time_limit_s": 60, "mip_gap": 0.005, "threads": 1},
}

SCENARIOS: dict[str, Any] = {
    "scenarios": {
        "ranking_growth_15": {
            "description": "Ranking demand +15 % (inference and training) in every quarter, "
            "quarter 0 included",
            "demand_multiplier": {"bucket": {"ranking": 1.15}},
        },
        "asic_2x": {
            "description": "Glow compiler and firmware double Glacier Point throughput; a "
            "second supplier adds volume",
            "platform_changes": {
                "yv2_glacier_point": {
                    "throughput_multiplier": 2.0, "capex_multiplier": 1.1,
                    "power_multiplier": 1.0, "supply_per_quarter": 5000,
                    "available_from_quarter": 0, "available": True,
                },
            },
        },
        "cap_prn_2200kw": {
            "description": "Prineville's ML power is held at 2.2 MW for the whole horizon",
            "power_cap_kw": {"prn": 2200},
        },
        "new_asic": {
            "description": "A next-generation inference ASIC sled (3x Glacier Point throughput) "
            "becomes orderable in 2021Q1",
            "new_platforms": [
                {
                    "platform": {
                        "platform_id": "next_asic", "platform_class": "inference_asic",
                        "family": "yosemite_v3", "generation": "next_asic",
                        "power_w": 400.0, "capex_usd": 14000.0, "host_memory_gb": 64.0,
                        "accel_memory_gb": 192.0, "accelerators": 6,
                        "lead_time_quarters": 1, "lifetime_quarters": 16, "rack_units": 0.33,
                        "supply_per_quarter": 2000, "available_from_quarter": 4,
                        "maintenance_usd_per_quarter": 140.0,
                        "source": "hypothetical next-generation sled (Yosemite V3-class, "
                        "3 kW per 4OU sled [V], 12 1OU blades => 0.33 RU) [E]",
                        "source_kind": "estimate",
                    },
                    "profiles_from": {"platform_id": "yv2_glacier_point",
                                      "throughput_multiplier": 3.0},
                },
            ],
        },
        "slo_tighter": {
            "description": "RMC1-3 p95 latency bounds tightened to 20 ms (from 100, 400 and "
            "100 ms); only the SLOs change, each platform's throughput follows its curve",
            "slo_changes": {m: {"latency_slo_ms": 20} for m in ("rmc1", "rmc2", "rmc3")},
        },
        "no_dr": {
            "description": "Plan without disaster-recovery headroom",
            "disaster_recovery": False,
        },
        "short_horizon": {
            # A power plan replaces old servers at any price (cost is a tie-break): say so,
            # or compare reads its TCO as a loss against base.
            # No plan numbers here: they move whenever the profiles do.
            "description": "One-year plan (4 quarters) that minimises facility power, with "
            "cost only a tie-break: it retires older, less efficient servers and buys "
            "efficient new ones whatever they cost, so its TCO is several times a one-year "
            "tco plan's. Its TCO is not comparable with base's (other objective, half the "
            "horizon); a one-year tco plan costs less than base",
            "horizon_quarters": 4,
            "objective": "power",
        },
    }
}

COLUMN_ORDER: dict[str, list[str]] = {
    "platforms": ["platform_id", "platform_class", "family", "generation", "power_w", "capex_usd",
                  "host_memory_gb", "accel_memory_gb", "accelerators", "lead_time_quarters",
                  "lifetime_quarters", "rack_units", "supply_per_quarter",
                  "available_from_quarter", "maintenance_usd_per_quarter", "source",
                  "source_kind"],
    "models": ["model_id", "bucket", "phase", "latency_slo_ms", "latency_percentile",
               "memory_gb", "min_replicas", "max_shards", "unit", "source", "source_kind"],
    "profiles": ["model_id", "platform_id", "latency_ms", "percentile", "qps_per_server",
                 "power_w_at_load", "source", "source_kind", "factors"],
    "factors": ["factor_id", "value", "low", "high", "source", "source_kind"],
    "regions": ["region_id", "power_cap_kw", "pue", "electricity_usd_per_kwh", "space_limit_ru",
                "demand_share", "utc_offset_h", "source", "source_kind"],
    "region_power_caps": ["region_id", "quarter", "power_cap_kw", "source", "source_kind"],
    "topology": ["region_id", "backup_region_id", "network_latency_ms", "source", "source_kind"],
    "load_shapes": ["shape_of", "hour", "relative_load", "source", "source_kind"],
    "inventory": ["platform_id", "region_id", "servers", "retire_quarter", "source",
                  "source_kind"],
    "products": ["product_id", "daily_requests", "peak_to_average", "growth_per_quarter",
                 "source", "source_kind"],
    "calls": ["caller_id", "model_id", "items_per_request", "source", "source_kind"],
}

SECONDS_PER_DAY = 86_400

# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------


def read_mlperf(mlperf_dir: Path) -> pd.DataFrame:
    """Read every MLPerf result file into one table.

    Args:
        mlperf_dir: Folder holding ``closed--*.json`` and ``closed-power--*.json`` arrays.

    Returns:
        One row per record, with the added columns ``file`` and ``power_file`` (bool) and a
        float ``Result_Power`` (NaN where absent).
    """
    frames = []
    for path in sorted(mlperf_dir.glob("*.json")):
        records = json.loads(path.read_text(encoding="utf-8"))
        frame = pd.DataFrame.from_records(records)
        frame["file"] = path.name
        frame["power_file"] = path.name.startswith("closed-power")
        frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no MLPerf JSON files in {mlperf_dir}")
    table = pd.concat(frames, ignore_index=True)
    if "Result_Power" not in table.columns:
        table["Result_Power"] = float("nan")
    table["Result_Power"] = pd.to_numeric(table["Result_Power"], errors="coerce")
    table["Result"] = pd.to_numeric(table["Result"], errors="coerce")
    table["accelerators_per_node"] = pd.to_numeric(
        table["accelerators_per_node"], errors="coerce").fillna(0).astype(int)
    table["number_of_nodes"] = pd.to_numeric(
        table["number_of_nodes"], errors="coerce").fillna(1).astype(int)
    for col in ("accelerator_model_name", "host_processor_model_name", "SystemName"):
        table[col] = table[col].fillna("").astype(str)
    return table


def read_deeprecsys(config_dir: Path) -> dict[str, dict[str, Any]]:
    """Read the DeepRecSys model configs.

    Args:
        config_dir: Folder of ``*.json`` DLRM-style configs.

    Returns:
        File name -> parsed config.
    """
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(config_dir.glob("*.json"))}


GAVEL_KEY = re.compile(r"^\('(?P<job>.+?)(?: \(batch size (?P<batch>\d+)\))?', (?P<scale>\d+)\)$")


def best_training_throughput(gavel: dict[str, Any], gpu: str, job: str) -> tuple[float, int]:
    """Return the best isolated single-GPU samples/s of a Gavel job over its batch sizes.

    Gavel stores steps per second; samples/s = steps/s x batch size.

    Args:
        gavel: Parsed ``simulation_throughputs.json``.
        gpu: Worker type, e.g. ``v100``.
        job: Job name without the batch size, e.g. ``ResNet-50``.

    Returns:
        (samples per second, batch size) of the best configuration.

    Raises:
        KeyError: When the job has no single-GPU entry.
    """
    best: tuple[float, int] | None = None
    for key, entry in gavel[gpu].items():
        match = GAVEL_KEY.match(key)
        if not match or match["job"] != job or int(match["scale"]) != 1 or not match["batch"]:
            continue
        batch = int(match["batch"])
        samples = float(entry["null"]) * batch
        if best is None or samples > best[0]:
            best = (samples, batch)
    if best is None:
        raise KeyError(f"no single-{gpu} Gavel entry for job {job!r}")
    return best


def peak_to_average(shapes: pd.DataFrame, series: str) -> float:
    """Return the peak-to-mean ratio of one 24-hour shape column, rounded to 2 decimals."""
    column = shapes[series].astype(float)
    return round(float(column.max() / column.mean()), 2)


# ---------------------------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------------------------


def per_accelerator(result: float, accelerators: int) -> float:
    """Return a system's throughput per accelerator (linear scaling assumed).

    Args:
        result: System throughput.
        accelerators: Accelerators in the system; must be at least 1.
    """
    if accelerators < 1:
        raise ValueError("a per-accelerator value needs at least one accelerator")
    return result / accelerators


def samples_to_predictions(samples_per_s: float,
                           pairs_per_sample: float = DLRM_UNITS["pairs_per_sample"]) -> float:
    """Convert MLPerf DLRM samples/s to predictions (user-item pairs) per second."""
    return samples_per_s * pairs_per_sample


@dataclass(frozen=True)
class RecModelStats:
    """Work and memory of one recommendation model, from its DLRM-style config."""

    name: str
    memory_gb: float
    flops_per_item: float
    bytes_per_item: float
    tables: int
    lookups_per_item: int


def _layers(spec: str) -> list[int]:
    return [int(x) for x in str(spec).split("-") if x]


def _mlp_macs(widths: list[int]) -> int:
    return sum(a * b for a, b in itertools.pairwise(widths))


# DIEN's interest extractor (GRU) and interest evolution (AUGRU) layers, which the DeepRecSys
# config does not describe: sequence length and hidden size are estimates.
DIEN_RECURRENT: dict[str, Any] = {
    "sequence_length": 100,
    "source": "DIEN (Zhou et al. AAAI'19) GRU interest extractor + AUGRU interest evolution over "
    "the user's behaviour sequence, hidden size = embedding dim; 100 behaviours [E]; each GRU "
    "step 3 gates x (D x H + H x H) MACs, the AUGRU step the same plus an attention score of "
    "4 x D x D MACs (as DIN); both counted per ranked item (the AUGRU depends on the item, the "
    "GRU would be shared by a request's items: conservative) [E]",
}


def dien_recurrent_macs(dim: int, length: int = DIEN_RECURRENT["sequence_length"]) -> int:
    """Return DIEN's GRU + AUGRU MACs per ranked item (hidden size = embedding dim)."""
    gru_step = 3 * (dim * dim + dim * dim)
    augru_step = gru_step + 4 * dim * dim
    return length * (gru_step + augru_step)


def rec_model_stats(config: dict[str, Any], name: str) -> RecModelStats:
    """Compute FLOPs, embedding bytes per item and memory of a DLRM-style config.

    Embeddings are FP32 (rows x dim x 4 B). The top MLP's input is the bottom MLP output
    concatenated with every table's embedding (the ``cat`` interaction). DIN's user-behaviour
    sequence adds ``user_behavior_tables`` lookups of one embedding each and an attention cost
    of 4 x dim x dim MACs per behaviour [E].

    Args:
        config: Parsed DeepRecSys JSON.
        name: Model id to record.
    """
    dim = int(config["arch_sparse_feature_size"])
    rows = _layers(config["arch_embedding_size"])
    lookups = int(config.get("num_indices_per_lookup", 1))
    bottom = _layers(config["arch_mlp_bot"])
    top = [bottom[-1] + len(rows) * dim, *_layers(config["arch_mlp_top"])]
    macs = _mlp_macs(bottom) + _mlp_macs(top)
    if "arch_mlp_tasks" in config:
        macs += _mlp_macs(_layers(config["arch_mlp_tasks"]))
    behaviours = int(config.get("user_behavior_tables", 0))
    macs += behaviours * 4 * dim * dim
    weights = sum(rows) * dim + macs
    if config.get("model_type") == "dien":
        macs += dien_recurrent_macs(dim)
        weights += dien_recurrent_macs(dim, length=1)  # one step's weights, shared by all
    item_lookups = len(rows) * lookups + behaviours
    return RecModelStats(
        name=name,
        memory_gb=weights * 4 / 1e9,
        flops_per_item=2.0 * macs,
        bytes_per_item=item_lookups * dim * 4.0,
        tables=len(rows),
        lookups_per_item=item_lookups,
    )


def roofline_scale(stats: RecModelStats, roof: Roofline,
                   ref_flops: float = DLRM_V1_WORK["flops_per_pair"],
                   ref_bytes: float = DLRM_V1_WORK["bytes_per_pair"]) -> float:
    """Return a model's throughput relative to MLPerf DLRM v1 on one roofline [E].

    Time per item is max(FLOP / compute roof, bytes / memory roof); the scale is DLRM v1's
    time over the model's, so it depends on the platform's ridge point: a memory-bound model
    (RMC2) loses less on a platform with much bandwidth per op (a CPU) than on an ASIC.
    """
    return roof.seconds(ref_flops, ref_bytes) / roof.seconds(stats.flops_per_item,
                                                               stats.bytes_per_item)


# ---------------------------------------------------------------------------------------------
# Reference MLPerf systems
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One MLPerf record chosen as a reference, with its per-accelerator throughput."""

    benchmark: str
    value: float
    power_w: float | None
    record: dict[str, Any]

    def cite(self) -> str:
        """Return the provenance string of the record."""
        r = self.record
        acc = (f"{r['accelerators_per_node']}x {r['accelerator_model_name']}"
               if r["accelerators_per_node"]
               else f"{r['host_processors_per_node']}x {r['host_processor_model_name']}")
        power = f" at {self.power_w:,.0f} W" if self.power_w else ""
        return (f"MLPerf Inference {r['version']} closed Server {r['Model']}: "
                f"{r['Organization']} '{r['SystemName']}' ({acc}), {_num(r['Result'])} "
                f"{r['Result_Units']}{power} [{r['Location']}]")

    def short(self) -> str:
        """Return a short id of the record: round, submitter and system."""
        r = self.record
        return f"MLPerf {r['version']} {r['Organization']} '{r['SystemName']}'"


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.6g}"


# name -> (record filter description, predicate on a record, per-accelerator?, power file?)
REFERENCE_FILTERS: dict[str, dict[str, Any]] = {
    "spr_2s": {
        "accelerated": False, "power": False,
        "match": lambda r: (r["accelerators_per_node"] == 0 and "8480+" in
                            r["host_processor_model_name"] and r["number_of_nodes"] == 1
                            and r["host_processors_per_node"] == 2),
    },
    "qaic_pro": {
        "accelerated": True, "power": False,
        "match": lambda r: "Cloud AI 100 PCIe/HHHL Pro" in r["accelerator_model_name"],
    },
    "t4": {
        "accelerated": True, "power": False,
        "match": lambda r: (r["accelerator_model_name"] == "NVIDIA T4"
                            and r["accelerators_per_node"] == 1),
    },
    "dgx_a100_power": {
        "accelerated": True, "power": True,
        "match": lambda r: ("DGX A100 (8x A100-SXM-80GB, MaxQ" in r["SystemName"]),
    },
}


def select_reference(mlperf: pd.DataFrame, name: str, benchmark: str) -> Reference:
    """Pick the lower-median record of a reference system for one benchmark.

    Args:
        mlperf: Table from :func:`read_mlperf`.
        name: Key of :data:`REFERENCE_FILTERS`.
        benchmark: MLPerf ``Model`` value, e.g. ``resnet50`` or ``dlrm-99``.

    Returns:
        The record whose per-accelerator (or per-server) result is the lower median of all
        matching records; deterministic, and robust to outliers.

    Raises:
        LookupError: When no record matches.
    """
    spec = REFERENCE_FILTERS[name]
    rows = mlperf[(mlperf["Model"] == benchmark) & (mlperf["power_file"] == spec["power"])
                  & (mlperf["Division"] == "closed") & (mlperf["Scenario"] == "Server")
                  & mlperf["Result"].notna()]
    if spec["power"]:
        rows = rows[rows["Result_Power"].notna()]
    rows = rows[rows.apply(spec["match"], axis=1)]
    if rows.empty:
        raise LookupError(f"no MLPerf record for reference {name!r}, benchmark {benchmark!r}")
    divisor = rows["accelerators_per_node"].clip(lower=1) if spec["accelerated"] else 1
    values = (rows["Result"] / divisor).sort_values(kind="mergesort")
    index = values.index[(len(values) - 1) // 2]
    record = rows.loc[index].to_dict()
    power = float(record["Result_Power"]) if spec["power"] else None
    return Reference(benchmark, float(values.loc[index]), power, record)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def build_platforms() -> pd.DataFrame:
    """Return platforms.csv from :data:`PLATFORM_SPECS`."""
    rows = [{"platform_id": pid, **spec} for pid, spec in PLATFORM_SPECS.items()]
    return pd.DataFrame(rows)[COLUMN_ORDER["platforms"]]


def build_rec_stats(configs: dict[str, dict[str, Any]]) -> dict[str, RecModelStats]:
    """Return work and memory of every ranking model built from a DeepRecSys config."""
    return {mid: rec_model_stats(configs[spec["config"]], mid)
            for mid, spec in RANKING_MODELS.items()}


def build_models(rec_stats: dict[str, RecModelStats]) -> pd.DataFrame:
    """Return models.csv: ranking (DeepRecSys + DLRM ads), MLPerf-proxy and training models."""
    rows = []
    for mid, spec in RANKING_MODELS.items():
        s = rec_stats[mid]
        rows.append({
            "model_id": mid, "bucket": "ranking", "phase": "inference",
            "latency_slo_ms": spec["slo_ms"], "latency_percentile": spec["pct"],
            "memory_gb": round(s.memory_gb, 3), "min_replicas": 1, "max_shards": 1,
            "unit": "predictions", "source_kind": "derived",
            "source": f"DeepRecSys {spec['config']} (harvard-acc/DeepRecSys, MIT): {s.tables} "
            f"tables, {s.lookups_per_item} lookups/item; memory = rows x dim x 4 B + MLP "
            f"weights = {s.memory_gb:.3f} GB [E]; SLO: {DEEPRECSYS_SLO_SOURCE}"
            + (f"; recurrent work: {DIEN_RECURRENT['source']}" if mid == "dien" else ""),
        })
    rows.append({
        "model_id": "dlrm_ads", "bucket": "ranking", "phase": "inference",
        "latency_slo_ms": DLRM_ADS["slo_ms"], "latency_percentile": DLRM_ADS["pct"],
        "memory_gb": DLRM_ADS["memory_gb"], "min_replicas": 1,
        "max_shards": DLRM_ADS["max_shards"],
        "unit": "predictions", "source": DLRM_ADS["source"], "source_kind": "estimate",
    })
    for mid, spec in MLPERF_MODELS.items():
        rows.append({
            "model_id": mid, "bucket": spec["bucket"], "phase": "inference",
            "latency_slo_ms": spec["slo_ms"], "latency_percentile": spec["pct"],
            "memory_gb": spec["memory_gb"], "min_replicas": 1, "max_shards": 1,
            "unit": spec["unit"], "source": spec["source"], "source_kind": "published",
        })
    for mid, spec in TRAINING_MODELS.items():
        rows.append({
            "model_id": mid, "bucket": spec["bucket"], "phase": "training",
            "latency_slo_ms": TRAINING_SLO["slo_ms"], "latency_percentile": TRAINING_SLO["pct"],
            "memory_gb": spec["memory_gb"], "min_replicas": 1, "max_shards": 1,
            "unit": "samples", "source": f"{spec['source']}; {TRAINING_SLO['source']}",
            "source_kind": "estimate",
        })
    return pd.DataFrame(rows)[COLUMN_ORDER["models"]]


def fits(model_memory_gb: float, max_shards: int, platform: pd.Series) -> bool:
    """Return the schema's memory-fit rule: memory <= max_shards x (host + accel memory)."""
    return model_memory_gb <= max_shards * (platform["host_memory_gb"]
                                            + platform["accel_memory_gb"])


@dataclass(frozen=True)
class BaseThroughput:
    """Per-server throughput of one MLPerf benchmark on one platform, with its provenance.

    ``factors`` are the named estimated factors used (``name^-1`` for a divisor);
    ``offline_ratio`` is the reference system's Offline over Server throughput, which shapes
    the latency curve (:func:`curve_points`).
    """

    qps: float
    power_w_at_load: float | None
    source: str
    factors: tuple[str, ...] = ()
    offline_ratio: float = 0.0
    offline_note: str = ""


# Benchmark -> named factor of its Sapphire Rapids to Skylake divisor (generations:
# CPU_GENERATIONS).
DIVISOR_FACTOR = {"resnet50": "skylake_divisor_cnn", "retinanet": "skylake_divisor_cnn",
                  "bert-99": "skylake_divisor_bert", "rnnt": "skylake_divisor_rnnt",
                  "dlrm-99": "skylake_divisor_dlrm"}

# MLPerf Server latency bounds, all p99 [V] (FACTS §1): the bound of every published point.
MLPERF_SERVER_BOUND_MS = {"resnet50": 15.0, "retinanet": 100.0, "bert-99": 130.0,
                          "rnnt": 1000.0, "dlrm-99": 30.0}
MLPERF_PERCENTILE = 99.0

# Bounds at which each bucket's curves are derived (plus each model's SLO and the published
# bound), and the Offline/Server ratio used where the reference system has no Offline record.
CURVE_BOUNDS_MS: dict[str, tuple[float, ...]] = {
    "ranking": (2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 400.0),
    "cv": (5.0, 10.0, 30.0, 200.0),
    "translation": (50.0, 500.0, 1000.0),
    "speech": (250.0, 500.0, 2000.0),
}
OFFLINE_OVER_SERVER_FALLBACK: tuple[float, str] = (
    1.25, "no Offline record of this system: Offline/Server 1.25 assumed [E] (between ~1.08 for "
    "CNNs and ~1.8 for GNMT on T4, FACTS §7.4; 1.02-1.45 for the reference systems here)")

CURVE_MODEL = (
    "M/D/1 queue in batch cycles (Kingman exponential waiting-time tail: P(W > t) = rho "
    "exp(-2 (1 - rho) t / (rho s))): the p-th percentile latency at utilisation rho = "
    "load / Offline throughput is s (1 + ln(rho / (1 - p)) / (2 (1 - rho))); the cycle s is "
    "calibrated on the MLPerf Server point (bound and load) and the Offline throughput of the "
    "same system; a derived platform keeps its reference's latency-utilisation curve [derived]"
)


def md1_latency_cycles(rho: float, percentile: float) -> float:
    """Return the percentile latency of the batch-cycle M/D/1 model, in cycles (>= 1)."""
    tail = 1.0 - percentile / 100.0
    if rho <= tail:
        return 1.0
    return 1.0 + math.log(rho / tail) / (2.0 * (1.0 - rho))


def md1_cycle_ms(bound_ms: float, rho: float, percentile: float) -> float:
    """Return the batch cycle s that puts the percentile latency at ``bound_ms`` at ``rho``."""
    return bound_ms / md1_latency_cycles(rho, percentile)


def md1_utilisation(bound_ms: float, cycle_ms: float, percentile: float) -> float | None:
    """Return the highest utilisation meeting ``bound_ms``, or None when the bound is too tight.

    The latency grows monotonically with rho above 1 - p, so bisection finds it; a bound that
    only rho <= 1 - p (a nearly idle server) meets gives None: no useful throughput.
    """
    tail = 1.0 - percentile / 100.0
    if bound_ms <= cycle_ms * md1_latency_cycles(2 * tail, percentile):
        return None
    low, high = tail, 1.0 - 1e-12
    for _ in range(200):
        mid = (low + high) / 2
        if cycle_ms * md1_latency_cycles(mid, percentile) <= bound_ms:
            low = mid
        else:
            high = mid
    return low


def offline_ratio(mlperf: pd.DataFrame, ref: Reference) -> tuple[float, str]:
    """Return the reference system's Offline over Server throughput and where it comes from."""
    r = ref.record
    rows = mlperf[(mlperf["Scenario"] == "Offline") & (mlperf["Model"] == r["Model"])
                  & (mlperf["SystemName"] == r["SystemName"])
                  & (mlperf["Organization"] == r["Organization"])
                  & (mlperf["version"] == r["version"]) & mlperf["Result"].notna()]
    if rows.empty or not r["Result"]:
        return OFFLINE_OVER_SERVER_FALLBACK
    offline = float(rows["Result"].sort_values(kind="mergesort").iloc[0])
    ratio = offline / float(r["Result"])
    return ratio, (f"Offline {_num(offline)} / Server {_num(r['Result'])} = {ratio:.3f} of "
                   f"{ref.short()} [V]")


def curve_points(anchor_qps: float, ratio: float, bench: str, bounds: list[float],
                 percentiles: list[float]) -> list[tuple[float, float, float, float]]:
    """Return (bound_ms, percentile, qps, rho) points of a curve through the published point.

    The published point is (MLPerf bound, p99, ``anchor_qps``) at rho = 1 / ``ratio``; the
    Offline throughput is ``anchor_qps x ratio``. Bounds too tight for the cycle get no point.
    """
    bound = MLPERF_SERVER_BOUND_MS[bench]
    rho0 = min(1.0 / ratio, 1.0 - 1e-9)
    cycle = md1_cycle_ms(bound, rho0, MLPERF_PERCENTILE)
    offline = anchor_qps / rho0
    points = []
    for pct in percentiles:
        for b in bounds:
            rho = md1_utilisation(b, cycle, pct)
            if rho is not None:
                points.append((b, pct, offline * rho, rho))
    return points


def cpu_benchmark_throughput(ref: Reference, generation: str) -> BaseThroughput:
    """Return a CPU platform's throughput for a benchmark: SPR result / divisor x generation.

    The generation scale is the compute factor (vector peak ratio) for the compute-bound
    benchmarks; DLRM v1 takes its roofline time on the 2S Skylake over that on the
    generation's roofline (:func:`cpu_roofline`), which lists the factor of the binding roof.
    """
    divisor, _ = CPU_SPR_TO_SKYLAKE_DIVISOR[ref.benchmark]
    scale, how, gen_used = generation_scale(ref.benchmark, generation)
    used = (f"{DIVISOR_FACTOR[ref.benchmark]}^-1", *gen_used)
    return BaseThroughput(ref.value / divisor * scale, None,
                          f"{ref.cite()}; /{divisor:g} Sapphire Rapids to 2S Skylake-SP [E]"
                          f"{how} (FACTS §2b, §4)", used)


def generation_scale(bench: str, generation: str) -> tuple[float, str, tuple[str, ...]]:
    """Return an older CPU generation's throughput over the Skylake's on a benchmark.

    Returns the scale, its arithmetic (empty on the Skylake) and the factor names it used.
    """
    gen = cpu_generation(generation)
    if gen == "skylake":
        return 1.0, "", ()
    part = CPU_PARTS[gen]
    if bench == "dlrm-99":
        sky, own = roofline("cpu"), cpu_roofline(gen)
        work = (DLRM_V1_WORK["flops_per_pair"], DLRM_V1_WORK["bytes_per_pair"])
        scale = sky.seconds(*work) / own.seconds(*work)
        return scale, (f"; x{scale:.4f} {part['name']} vs 2S Skylake = roofline time per pair "
                       f"of DLRM v1 (4.8 MFLOP, 13,312 B) on the 2S Skylake-SP "
                       f"({sky.roofs()}) {sky.describe(*work)} / on the {own.name} "
                       f"({own.roofs()}) {own.describe(*work)} [E]"), roofline_factor(
                           own, gen, *work)
    scale, used = generation_factor(gen, "compute")
    peak = part_peak_macs(part, "int8") / 1e12
    return scale, (f"; x{scale:g} {part['name']} vs 2S Skylake on compute-bound work = vector "
                   f"peak ratio {part['cores']} C x {part['ghz']:g} GHz x "
                   f"{part['macs_per_cycle']['int8']:.1f} INT8 MAC/cycle = {peak:.2f} T MAC/s "
                   f"over 3.41 (FP32 the same ratio) at equal efficiency [E]"), used


def m2_module_factor(qaic_resnet: Reference, t4_resnet: Reference, benchmark: str) -> tuple[
        float, str]:
    """Return the M.2 module throughput relative to the reference accelerator of a benchmark.

    CNN and NLP benchmarks reference the Cloud AI 100 Pro card; the factor is NNP-I M.2
    ResNet-50 per accelerator over Cloud AI 100 Pro ResNet-50 per accelerator. DLRM references
    the T4; the factor is the smaller of the ResNet-50 compute ratio and the memory-bandwidth
    ratio (68 vs 320 GB/s), a roofline-style bound [E].
    """
    nnpi = NNPI_M2["resnet50_per_accelerator"]
    if benchmark == "rnnt":
        named = float(FACTORS["m2_speech_factor"]["value"])
        return named, (f"x{named:.4f} NNP-I M.2 module vs T4 on RNN-T (m2_speech_factor [E]: "
                       f"bandwidth 68/320 GB/s; ResNet-50 compute ratio {nnpi:,.0f} / "
                       f"{t4_resnet.value:,.0f} = {nnpi / t4_resnet.value:.3f})")
    if benchmark == "dlrm-99":
        t4 = t4_roofline(t4_resnet.value)
        m2 = roofline("m2")
        work = (DLRM_V1_WORK["flops_per_pair"], DLRM_V1_WORK["bytes_per_pair"])
        eff = float(FACTORS["m2_ranking_efficiency"]["value"])
        ratio = t4.seconds(*work) / m2.seconds(*work)
        return eff * ratio, (
            f"x{eff * ratio:.4f} NNP-I M.2 module vs T4 on DLRM v1 = m2_ranking_efficiency "
            f"{eff:g} [E] x roofline time per pair of the T4 / of the module: T4 (ResNet-50 "
            f"{t4_resnet.value:,.0f} x 8.2 GOP; {t4.roofs()}) {t4.describe(*work)}, module "
            f"({nnpi:,.0f} x 8.2 GOP; {m2.roofs()}) {m2.describe(*work)} (4.8 MFLOP, 13,312 B "
            f"per pair): the T4 record is compute-bound, the module memory-bound")
    factor = nnpi / qaic_resnet.value
    return factor, (f"x{factor:.3f} NNP-I M.2 module vs Cloud AI 100 Pro = ResNet-50 per "
                    f"accelerator {nnpi:,.0f} (MLPerf v0.5 Intel nnpi-1000-2x) / "
                    f"{qaic_resnet.value:,.0f} ({qaic_resnet.short()}) [E]")


def dm2_over_nnpi() -> float:
    """Return Cloud AI 100 DM.2 module throughput over the NNP-I M.2 module (Server, CNN)."""
    return QAIC_DM2["resnet50_offline"] / QAIC_DM2["offline_over_server_cnn"] / NNPI_M2[
        "resnet50_per_accelerator"]


def asic_benchmark_throughput(ref: Reference, factor: float, why: str, platform: pd.Series,
                              generation_factor: float, why_gen: str,
                              used: tuple[str, ...] = ()) -> BaseThroughput:
    """Return a Glacier Point platform's throughput: per-accelerator x module factor x count."""
    n = int(platform["accelerators"])
    qps = ref.value * factor * generation_factor * n
    gen = f"; x{generation_factor:.2f} {why_gen}" if generation_factor != 1.0 else ""
    return BaseThroughput(qps, None, f"{ref.cite()}; {ref.value:,.1f} per accelerator; {why}"
                                     f"{gen}; x{n} modules (FACTS §2, §4)", used)


def zion_dlrm_throughput(ref: Reference, platform: pd.Series) -> BaseThroughput:
    """Return Zion's DLRM samples/s: DGX-A100 per accelerator x V100-class factor x 8."""
    n = int(platform["accelerators"])
    qps = ref.value * ZION_ACCELERATOR["vs_a100"] * n
    extra_sockets = 6 * 150.0
    power = (ref.power_w or 0.0) + extra_sockets
    return BaseThroughput(
        qps, round(power, 1),
        f"{ref.cite()}; {ref.value:,.0f} per accelerator; x{ZION_ACCELERATOR['vs_a100']} "
        f"V100-class OAM [E]; x{n} accelerators; power at load = measured DGX-A100 wall power "
        "+ 6 more CPU sockets x 150 W [E] (FACTS §2a, §4a)", ("zion_oam_vs_a100",))


def benchmark_table(mlperf: pd.DataFrame, platforms: pd.DataFrame) -> dict[
        tuple[str, str], BaseThroughput]:
    """Return per-server throughput of each MLPerf benchmark on each platform that runs it."""
    benches = ["resnet50", "retinanet", "bert-99", "rnnt", "dlrm-99"]
    qaic_resnet = select_reference(mlperf, "qaic_pro", "resnet50")
    t4_resnet = select_reference(mlperf, "t4", "resnet50")
    dm2 = dm2_over_nnpi()
    out: dict[tuple[str, str], BaseThroughput] = {}
    for p in platforms.itertuples(index=False):
        series = platforms.set_index("platform_id").loc[p.platform_id]
        for bench in benches:
            if p.platform_class == "cpu":
                ref = select_reference(mlperf, "spr_2s", bench)
                base = cpu_benchmark_throughput(ref, cpu_generation(p.generation))
            elif p.platform_class == "inference_asic":
                ref_name = "t4" if bench in ("dlrm-99", "rnnt") else "qaic_pro"
                factor, why = m2_module_factor(qaic_resnet, t4_resnet, bench)
                dual = p.generation == "glacier_point_dual_m2"
                gen_factor, why_gen = ((dm2, "Cloud AI 100 DM.2 vs NNP-I module [E]")
                                       if dual else (1.0, ""))
                used = ({"dlrm-99": ("m2_ranking_efficiency",), "rnnt": ("m2_speech_factor",)}
                        .get(bench, ())) + (
                    ("dm2_offline_over_server^-1",) if dual else ())
                ref = select_reference(mlperf, ref_name, bench)
                base = asic_benchmark_throughput(ref, factor, why, series, gen_factor, why_gen,
                                                 used)
            elif p.platform_class == "accelerator_fabric" and bench == "dlrm-99":
                ref = select_reference(mlperf, "dgx_a100_power", bench)
                base = zion_dlrm_throughput(ref, series)
            else:
                continue
            ratio, note = offline_ratio(mlperf, ref)
            out[(p.platform_id, bench)] = dataclasses.replace(base, offline_ratio=ratio,
                                                              offline_note=note)
    return out


# Platform class -> roofline key of the ranking models (Zion serves only DLRM v1 itself).
RANKING_ROOFLINE = {"cpu": "cpu", "inference_asic": "m2"}


def ranking_profiles(bench: dict[tuple[str, str], BaseThroughput], models: pd.DataFrame,
                     platforms: pd.DataFrame, rec_stats: dict[str, RecModelStats]) -> list[dict]:
    """Return profile rows of the ranking models, scaled from DLRM v1 predictions.

    The scale is per model and platform: DLRM v1's roofline time over the model's on the
    platform's roofline (:func:`roofline_scale`), so the ASIC-to-CPU ratio differs by model.
    """
    rows = []
    plat = platforms.set_index("platform_id")
    for m in models[(models["bucket"] == "ranking") & (models["phase"] == "inference")
                    ].itertuples(index=False):
        for pid in plat.index:
            base = bench.get((pid, "dlrm-99"))
            if base is None or not fits(m.memory_gb, m.max_shards, plat.loc[pid]):
                continue
            cls = plat.loc[pid, "platform_class"]
            if cls == "accelerator_fabric" and m.model_id != "dlrm_ads":
                continue
            used = base.factors
            if m.model_id == "dlrm_ads":
                scale, how = 1.0, "same model as MLPerf DLRM v1"
            else:
                stats = rec_stats[m.model_id]
                roof = (cpu_roofline(plat.loc[pid, "generation"]) if cls == "cpu"
                        else roofline(RANKING_ROOFLINE[cls]))
                scale = roofline_scale(stats, roof)
                how = _scale_note(stats, scale, roof)
                if cls == "cpu":
                    used = _binding_factors(base.factors, roof, plat.loc[pid, "generation"],
                                            stats)
            qps = samples_to_predictions(base.qps) * scale
            rows += curve_profiles(m, pid, qps, base, "dlrm-99",
                                   f"{base.source}; x{DLRM_UNITS['pairs_per_sample']:g} "
                                   f"predictions/sample [E]; {how}",
                                   (*used, "dlrm_pairs_per_sample"))
    return rows


def _binding_factors(base: tuple[str, ...], roof: Roofline, generation: str,
                     stats: RecModelStats) -> tuple[str, ...]:
    """Return a CPU ranking row's factors: DLRM v1's generation factor swapped for the model's.

    The row is the Skylake DLRM v1 rate x DLRM v1's Skylake roofline time / the model's time
    on the generation's roofline, so only the roof that binds the model scales it.
    """
    gen_names = set(CPU_GENERATIONS[cpu_generation(generation)] or ())
    return (*(f for f in base if f not in gen_names),
            *roofline_factor(roof, generation, stats.flops_per_item, stats.bytes_per_item))


def _scale_note(stats: RecModelStats, scale: float, roof: Roofline) -> str:
    v1 = roof.describe(DLRM_V1_WORK["flops_per_pair"], DLRM_V1_WORK["bytes_per_pair"])
    own = roof.describe(stats.flops_per_item, stats.bytes_per_item)
    return (f"x{scale:.4f} = roofline time per item of DLRM v1 / of {stats.name} on the "
            f"{roof.name} roofline ({roof.roofs()}): DLRM v1 (4.8 MFLOP, 13,312 B) {v1}; "
            f"{stats.name} ({stats.flops_per_item / 1e6:.3f} MFLOP, "
            f"{stats.bytes_per_item:,.0f} B) {own} [E] (FACTS §2, §3, §7.3)")


def mlperf_model_profiles(bench: dict[tuple[str, str], BaseThroughput],
                          models: pd.DataFrame, platforms: pd.DataFrame) -> list[dict]:
    """Return profile rows of the CV, translation and speech models (zion excluded)."""
    rows = []
    plat = platforms.set_index("platform_id")
    info = models.set_index("model_id")
    for mid, spec in MLPERF_MODELS.items():
        memory = float(info.loc[mid, "memory_gb"])
        for pid in plat.index:
            base = bench.get((pid, spec["benchmark"]))
            if base is None or plat.loc[pid, "platform_class"] == "accelerator_fabric":
                continue
            if not fits(memory, 1, plat.loc[pid]):
                continue
            note = ("" if spec["factor"] == 1.0
                    else f"; x{spec['factor']:g} GNMT-class sentences per BERT query [E]")
            used = base.factors + (("gnmt_sentences_per_bert_query",)
                                   if spec["factor"] != 1.0 else ())
            model = next(info.loc[[mid]].reset_index().itertuples(index=False))
            rows += curve_profiles(model, pid, base.qps * spec["factor"], base,
                                   spec["benchmark"], base.source + note, used)
    return rows


def curve_profiles(model: Any, platform_id: str, qps: float, base: BaseThroughput, bench: str,
                   source: str, used: tuple[str, ...]) -> list[dict[str, Any]]:
    """Return a latency curve's rows: the published point, then points derived from it.

    The published point keeps its MLPerf bound (p99). Derived points, at the model's
    percentile, lie at the bucket's :data:`CURVE_BOUNDS_MS`, the model's SLO and the published
    bound, by the queueing model :data:`CURVE_MODEL` calibrated on the reference system's
    Offline/Server ratio.
    """
    bound = MLPERF_SERVER_BOUND_MS[bench]
    anchor = {**_profile(model.model_id, platform_id, qps, base.power_w_at_load, source, used),
              "latency_ms": bound, "percentile": MLPERF_PERCENTILE}
    bounds = sorted({*CURVE_BOUNDS_MS[model.bucket], float(model.latency_slo_ms), bound})
    pct = float(model.latency_percentile)
    rows = [anchor]
    for b, p, value, rho in curve_points(qps, base.offline_ratio, bench, bounds, [pct]):
        if p == MLPERF_PERCENTILE and b == bound:
            continue  # the published point itself
        cycle = md1_cycle_ms(bound, min(1.0 / base.offline_ratio, 1.0 - 1e-9),
                             MLPERF_PERCENTILE)
        rows.append({**anchor, "latency_ms": b, "percentile": p,
                     "qps_per_server": float(f"{value:.4g}"),
                     "source": f"curve point {b:g} ms p{p:g}: utilisation {rho:.4f} of the "
                     f"Offline throughput (published point {bound:g} ms p99 at "
                     f"{1 / base.offline_ratio:.4f}; {base.offline_note}; cycle s = "
                     f"{cycle:.3f} ms) by the queueing model of scripts/derive_fleet_data.py "
                     f"(CURVE_MODEL: M/D/1 in batch cycles, Kingman tail, calibrated on the "
                     f"Server point and the Offline throughput) [derived]; published point: "
                     f"the {bound:g} ms p99 row of this model and platform",
                     "source_kind": "derived"})
    return rows


def training_profiles(gavel: dict[str, Any], models: pd.DataFrame,
                      platforms: pd.DataFrame) -> list[dict]:
    """Return profile rows of the training models: Zion from Gavel V100 x 8, CPUs for ranking."""
    rows = []
    plat = platforms.set_index("platform_id")
    for mid, spec in TRAINING_MODELS.items():
        v100, batch = best_training_throughput(gavel, "v100", spec["job"])
        memory = float(models.set_index("model_id").loc[mid, "memory_gb"])
        for pid in plat.index:
            p = plat.loc[pid]
            if not fits(memory, 1, p):
                continue
            if p["platform_class"] == "accelerator_fabric":
                n = int(p["accelerators"])
                scaling = factor("zion_training_scaling")
                rows.append({**_profile(mid, pid, v100 * n * scaling, None,
                                        f"{_gavel_cite(spec['job'], batch, v100)}; x{n} "
                                        f"accelerators, x{scaling:g} scaling [E]",
                                        ("zion_training_scaling",)),
                             "source_kind": "derived"})
            elif (p["platform_class"] == "cpu" and spec["cpu"]
                  and p["family"] in ("leopard", "tioga_pass")):
                rows.append({**cpu_training_profile(mid, pid, p["generation"], v100, batch,
                                                    spec["job"]),
                             "source_kind": "estimate"})
    return rows


def cpu_training_profile(mid: str, pid: str, generation: str, v100: float, batch: int,
                         job: str) -> dict[str, Any]:
    """Return a CPU training row: V100 x cpu_training_vs_v100 x the generation's compute factor.

    Dense training is compute-bound, so an older generation scales by its vector peak ratio;
    the source states the row's share of its own FP32 peak against the V100's on the job.
    """
    gen = cpu_generation(generation)
    fraction = GAVEL_TRAINING["cpu_fraction_of_v100"]
    scale, used = generation_factor(gen, "compute")
    qps = v100 * fraction * scale
    work = GAVEL_RECOMMENDATION_WORK
    peak = part_peak_macs(CPU_PARTS[gen], "fp32")
    gen_note = (f"; x{scale:g} {CPU_PARTS[gen]['name']} vs 2S Skylake (FP32 vector peak ratio "
                f"{peak / 1e12:.2f}/2.56 T MAC/s [E])" if used else "")
    check = (f"; peak check: {float(f'{qps:.4g}'):,.0f} x {work['macs_per_sample'] / 1e6:.0f} "
             f"M MAC per sample [E] = {float(f'{qps:.4g}') * work['macs_per_sample'] / peak:.1%} "
             f"of the {CPU_PARTS[gen]['name']} FP32 peak {peak / 1e12:.2f} T MAC/s, within the "
             f"V100's {v100 * work['macs_per_sample'] / work['v100_fp32_macs']:.1%} of 7.85 T "
             f"FMA/s on the same job ({work['source']})" if job == "Recommendation" else "")
    return _profile(mid, pid, qps, None,
                    f"{_gavel_cite(job, batch, v100)}; x{fraction} per 2S Skylake [E]{gen_note}"
                    f"; News Feed trains on 2S CPUs (Hazelwood HPCA'18 [V-2]){check}",
                    ("cpu_training_vs_v100", *used))


def _gavel_cite(job: str, batch: int, samples: float) -> str:
    return (f"Gavel simulation_throughputs.json v100 '{job} (batch size {batch})' isolated "
            f"{samples / batch:.3f} steps/s x {batch} = {samples:,.0f} samples/s (best batch)")


def _profile(model_id: str, platform_id: str, qps: float, power: float | None,
             source: str, used: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"model_id": model_id, "platform_id": platform_id, "latency_ms": None,
            "percentile": None, "qps_per_server": float(f"{qps:.4g}"),
            "power_w_at_load": power, "source": source, "source_kind": "derived",
            "factors": factor_list(*used) or None}


def build_profiles(mlperf: pd.DataFrame, gavel: dict[str, Any], models: pd.DataFrame,
                   platforms: pd.DataFrame, rec_stats: dict[str, RecModelStats]) -> pd.DataFrame:
    """Return profiles.csv: curves of the inference models, single points for training.

    Every (model, platform) that can run and fits in memory gets rows; see
    :func:`curve_profiles` for the curves.
    """
    bench = benchmark_table(mlperf, platforms)
    rows = (ranking_profiles(bench, models, platforms, rec_stats)
            + mlperf_model_profiles(bench, models, platforms)
            + training_profiles(gavel, models, platforms))
    table = pd.DataFrame(rows)[COLUMN_ORDER["profiles"]]
    if (table["qps_per_server"] <= 0).any():
        raise ValueError("every profile must have qps_per_server > 0")
    return table


def build_factors() -> pd.DataFrame:
    """Return factors.csv from :data:`FACTORS` (each value within its range)."""
    rows = [{"factor_id": name, **spec, "source_kind": "estimate"}
            for name, spec in FACTORS.items()]
    table = pd.DataFrame(rows)[COLUMN_ORDER["factors"]]
    if not ((table["low"] <= table["value"]) & (table["value"] <= table["high"])).all():
        raise ValueError("every factor must lie within its low-high range")
    return table


def model_benchmark(model_id: str, bucket: str) -> str | None:
    """Return the MLPerf benchmark a model's profiles are derived from (None for training)."""
    if model_id in MLPERF_MODELS:
        return MLPERF_MODELS[model_id]["benchmark"]
    return "dlrm-99" if bucket == "ranking" and model_id in RANKING_CALL_SPLIT else None


def published_points(profiles: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Return one row per pair: the published point of each curve, or the single point."""
    info = models.set_index("model_id")
    bound = profiles["model_id"].map(
        lambda m: MLPERF_SERVER_BOUND_MS.get(model_benchmark(m, info.at[m, "bucket"]) or ""))
    keep = profiles["latency_ms"].isna() | (
        (profiles["latency_ms"] == bound) & (profiles["percentile"] == MLPERF_PERCENTILE))
    return profiles[keep].reset_index(drop=True)


def rows_at_slo(profiles: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Return one row per pair that serves: each curve's point at its model's SLO.

    Every curve has a point at its model's SLO and percentile (see :func:`curve_profiles`),
    so this is the planner's reading of the curves (planner.profile_curves.read_at_slo).
    """
    info = models.set_index("model_id")
    slo = profiles["model_id"].map(info["latency_slo_ms"])
    pct = profiles["model_id"].map(info["latency_percentile"])
    keep = profiles["latency_ms"].isna() | (
        (profiles["latency_ms"] == slo) & (profiles["percentile"] == pct))
    return profiles[keep].reset_index(drop=True)


def build_regions() -> pd.DataFrame:
    """Return regions.csv from :data:`REGION_SPECS` (demand shares must sum to exactly 1)."""
    rows = [{"region_id": rid, **spec, "utc_offset_h": REGION_UTC_OFFSETS[rid][0],
             "source": f"{spec['source']}; {REGION_UTC_OFFSETS[rid][1]}"}
            for rid, spec in REGION_SPECS.items()]
    table = pd.DataFrame(rows)[COLUMN_ORDER["regions"]]
    if not math.isclose(table["demand_share"].sum(), 1.0, abs_tol=1e-12):
        raise ValueError("demand_share must sum to 1")
    return table


def build_region_power_caps() -> pd.DataFrame:
    """Return region_power_caps.csv from :data:`POWER_CAP_CHANGES`."""
    return pd.DataFrame(POWER_CAP_CHANGES)[COLUMN_ORDER["region_power_caps"]]


def build_topology() -> pd.DataFrame:
    """Return topology.csv from :data:`TOPOLOGY_EDGES`."""
    rows = [{"region_id": a, "backup_region_id": b, "network_latency_ms":
             NETWORK_LATENCY_MS[(a, b)][0], "source": f"{why}; {NETWORK_LATENCY_MS[(a, b)][1]}",
             "source_kind": "estimate"} for a, b, why in TOPOLOGY_EDGES]
    return pd.DataFrame(rows)[COLUMN_ORDER["topology"]]


def build_load_shapes(shapes: pd.DataFrame) -> pd.DataFrame:
    """Return load_shapes.csv: each diurnal product's 24-hour shape (training stays flat)."""
    rows = []
    for pid, spec in PRODUCT_SPECS.items():
        if spec["shape"] == "flat":
            continue
        series = DIURNAL[f"{spec['shape']}_series"]
        values = shapes.set_index("hour")[series].sort_index()
        for hour, value in values.items():
            rows.append({"shape_of": pid, "hour": int(hour), "relative_load": round(value, 6),
                         "source": LOAD_SHAPE_SOURCE.format(series=series),
                         "source_kind": "derived"})
    return pd.DataFrame(rows)[COLUMN_ORDER["load_shapes"]]


def build_inventory() -> pd.DataFrame:
    """Return inventory.csv from :data:`INVENTORY_SPECS`."""
    rows = []
    for (pid, rid), lots in INVENTORY_SPECS.items():
        for servers, retire in lots:
            why = INVENTORY_RETIREMENT.get(pid, "no retirement within the horizon [E]")
            rows.append({"platform_id": pid, "region_id": rid, "servers": servers,
                         "retire_quarter": retire, "source": f"{INVENTORY_SOURCE}; {why}",
                         "source_kind": "estimate"})
    table = pd.DataFrame(rows)[COLUMN_ORDER["inventory"]]
    table["retire_quarter"] = table["retire_quarter"].astype("Int64")
    return table


def build_products(shapes: pd.DataFrame) -> pd.DataFrame:
    """Return products.csv with peak-to-average factors from the diurnal shapes."""
    peaks = {"consumer": peak_to_average(shapes, DIURNAL["consumer_series"]),
             "media": peak_to_average(shapes, DIURNAL["media_series"]), "flat": 1.0}
    rows = []
    for pid, spec in PRODUCT_SPECS.items():
        shape = spec["shape"]
        peak_src = ("training runs around the clock: 1.0 [E]" if shape == "flat" else
                    f"peak/mean {peaks[shape]:.2f} of the '{DIURNAL[f'{shape}_series']}' shape "
                    f"({DIURNAL['source']}) [derived]")
        rows.append({"product_id": pid, "daily_requests": spec["daily_requests"],
                     "peak_to_average": peaks[shape], "growth_per_quarter": spec["growth"],
                     "source": f"{spec['source']}; {peak_src}",
                     "source_kind": "derived" if shape != "flat" else "estimate"})
    return pd.DataFrame(rows)[COLUMN_ORDER["products"]]


def ranking_prediction_targets(profiles: pd.DataFrame, reference_platform: str = "cpu_skylake"
                               ) -> dict[str, float]:
    """Return predictions per day of each ranking model so that cycle shares match FACTS §5.

    Cycles of a model are its predictions divided by its throughput on the reference platform.
    RMC1-3 jointly get 65/79 of ranking cycles and the other ranking models 14/79, split
    evenly within each group [E]; the total is 200 trillion predictions per day.
    """
    qps = profiles[profiles["platform_id"] == reference_platform].set_index("model_id")[
        "qps_per_server"]
    rmc = [m for m in RANKING_CALL_SPLIT if m.startswith("rmc")]
    other = [m for m in RANKING_CALL_SPLIT if m not in rmc]
    share = {m: RANKING_DEMAND["rmc_cycle_share"] / len(rmc) for m in rmc}
    share |= {m: RANKING_DEMAND["other_rec_cycle_share"] / len(other) for m in other}
    weight = {m: share[m] * float(qps[m]) for m in share}
    total = sum(weight.values())
    return {m: RANKING_DEMAND["predictions_per_day"] * w / total for m, w in weight.items()}


def build_calls(products: pd.DataFrame, targets: dict[str, float]) -> pd.DataFrame:
    """Return calls.csv: ranking calls sized to the prediction targets, then the fixed calls.

    items_per_request is rounded up to 2 decimals, so the daily total stays at or above the
    headline figure.
    """
    daily = products.set_index("product_id")["daily_requests"]
    rows = []
    for mid, split in RANKING_CALL_SPLIT.items():
        for pid, frac in split:
            items = math.ceil(frac * targets[mid] / float(daily[pid]) * 100) / 100
            rows.append({"caller_id": pid, "model_id": mid, "items_per_request": items,
                         "source": f"{frac:.0%} of {mid}'s {targets[mid] / 1e12:.2f} T "
                         f"predictions/day over {float(daily[pid]) / 1e9:g} B {pid} requests; "
                         f"{RANKING_DEMAND['source']}", "source_kind": "derived"})
    for caller, mid, items, why in OTHER_CALLS:
        rows.append({"caller_id": caller, "model_id": mid, "items_per_request": items,
                     "source": why, "source_kind": "estimate"})
    return pd.DataFrame(rows)[COLUMN_ORDER["calls"]]


# ---------------------------------------------------------------------------------------------
# Quarter-0 feasibility check
# ---------------------------------------------------------------------------------------------


def model_daily_queries(products: pd.DataFrame, calls: pd.DataFrame,
                        peak: bool = False) -> dict[str, float]:
    """Return queries per second (mean, or peak if ``peak``) of every model at quarter 0.

    Flows each product's rate down the call graph in topological order (model-to-model calls
    included).
    """
    edges: dict[str, list[tuple[str, float]]] = {}
    for c in calls.itertuples(index=False):
        edges.setdefault(c.caller_id, []).append((c.model_id, float(c.items_per_request)))
    flow: dict[str, float] = {}
    for p in products.itertuples(index=False):
        rate = p.daily_requests / SECONDS_PER_DAY * (p.peak_to_average if peak else 1.0)
        for node, q in _descend(edges, p.product_id, rate).items():
            flow[node] = flow.get(node, 0.0) + q
    return flow


def _descend(edges: dict[str, list[tuple[str, float]]], root: str,
             rate: float) -> dict[str, float]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> None:
        if node in seen:
            return
        seen.add(node)
        for child, _ in edges.get(node, []):
            visit(child)
        order.append(node)

    visit(root)
    flow = {n: 0.0 for n in order}
    flow[root] = rate
    for node in reversed(order):
        for child, items in edges.get(node, []):
            flow[child] += flow[node] * items
    flow.pop(root)
    return flow


def dr_multipliers(regions: pd.DataFrame, topology: pd.DataFrame, util: float,
                   emergency: float) -> dict[str, float]:
    """Return, per region, required capacity / local peak with disaster recovery.

    A lost region f's peak is split over its backups in proportion to their own shares (a
    sufficient split for the planner's pooled DR rows): region r needs
    max(share_r / u, max over f backed by r of (share_r + share_f x share_r / sum of f's
    backups' shares) / u_e) / share_r.
    """
    share = regions.set_index("region_id")["demand_share"].to_dict()
    backups: dict[str, list[str]] = {}
    for t in topology.itertuples(index=False):
        backups.setdefault(t.region_id, []).append(t.backup_region_id)
    out = {}
    for r, s in share.items():
        need = s / util
        for f, survivors in backups.items():
            if r in survivors:
                pool = sum(share[x] for x in survivors)
                need = max(need, (s + share[f] * s / pool) / emergency)
        out[r] = need / s
    return out


def quarter0_check(platforms: pd.DataFrame, models: pd.DataFrame, profiles: pd.DataFrame,
                   regions: pd.DataFrame, topology: pd.DataFrame, inventory: pd.DataFrame,
                   products: pd.DataFrame, calls: pd.DataFrame,
                   settings: dict[str, Any]) -> tuple[bool, list[str]]:
    """Check that quarter 0 is servable by the inventory alone, with DR, and report why.

    Greedy integer packing per region: models with the fewest platforms go first, each onto
    its most power-efficient platforms (queries/s per W). A successful packing proves the
    quarter is feasible; the report lists needs, servers used and facility power vs the cap.

    Returns:
        (feasible, report lines).
    """
    util = settings["target_utilization"]
    dr = settings["disaster_recovery"]
    mult = (dr_multipliers(regions, topology, util, dr["emergency_utilization"])
            if dr["enabled"] else {r: 1 / util for r in regions["region_id"]})
    peak = model_daily_queries(products, calls, peak=True)
    phase = models.set_index("model_id")["phase"].to_dict()
    bucket = models.set_index("model_id")["bucket"].to_dict()
    plat = platforms.set_index("platform_id")
    inv = inventory[inventory["retire_quarter"].isna() | (inventory["retire_quarter"] > 0)]
    lines = [f"Quarter-0 check: target_utilization {util}, DR {dr['enabled']} "
             f"(emergency {dr['emergency_utilization']}); capacity/peak multipliers: "
             + ", ".join(f"{r} {m:.3f}" for r, m in mult.items())]
    ok = True
    for reg in regions.itertuples(index=False):
        free = inv[inv["region_id"] == reg.region_id].groupby("platform_id")["servers"].sum()
        free = free.astype(float).to_dict()
        have = dict(free)
        need_by_bucket: dict[str, float] = {}
        order = sorted(peak, key=lambda m: (profiles["model_id"].eq(m).sum(), -peak[m]))
        for m in order:
            factor = mult[reg.region_id] if phase[m] in dr["phases"] and dr["enabled"] else (
                1 / util)
            need = peak[m] * reg.demand_share * factor
            key = bucket[m] if phase[m] == "inference" else "training"
            need_by_bucket[key] = need_by_bucket.get(key, 0.0)
            opts = profiles[profiles["model_id"] == m].copy()
            opts["eff"] = opts["qps_per_server"] / opts["platform_id"].map(plat["power_w"])
            for o in opts.sort_values("eff", ascending=False).itertuples(index=False):
                if need <= 0:
                    break
                take = min(free.get(o.platform_id, 0.0), math.ceil(need / o.qps_per_server))
                free[o.platform_id] = free.get(o.platform_id, 0.0) - take
                need -= take * o.qps_per_server
                need_by_bucket[key] += take * plat.loc[o.platform_id, "power_w"] / 1000
            if need > 0:
                ok = False
                lines.append(f"  {reg.region_id}: {m} short by {need:,.0f} queries/s")
        used = {p: have[p] - free.get(p, 0.0) for p in have}
        kw_all = sum(n * plat.loc[p, "power_w"] for p, n in have.items()) / 1000 * reg.pue
        kw_used = sum(n * plat.loc[p, "power_w"] for p, n in used.items()) / 1000 * reg.pue
        ok &= kw_all <= reg.power_cap_kw
        lines.append(f"  {reg.region_id}: servers used/installed "
                     + ", ".join(f"{p} {used[p]:,.0f}/{have[p]:,.0f}" for p in have))
        lines.append(f"  {reg.region_id}: IT kW by bucket (packed) "
                     + ", ".join(f"{b} {kw:,.0f}" for b, kw in need_by_bucket.items()))
        lines.append(f"  {reg.region_id}: facility power of all installed servers "
                     f"{kw_all:,.0f} kW, of servers used {kw_used:,.0f} kW, cap "
                     f"{reg.power_cap_kw:,.0f} kW ({kw_all / reg.power_cap_kw:.0%} of cap)")
    lines.append("Quarter-0 check: " + ("FEASIBLE" if ok else "NOT FEASIBLE"))
    return ok, lines


def cycle_shares(models: pd.DataFrame, profiles: pd.DataFrame, products: pd.DataFrame,
                 calls: pd.DataFrame, reference_platform: str = "cpu_skylake") -> dict[str, float]:
    """Return each inference bucket's share of inference cycles on the reference platform."""
    mean = model_daily_queries(products, calls)
    qps = profiles[profiles["platform_id"] == reference_platform].set_index("model_id")[
        "qps_per_server"]
    info = models.set_index("model_id")
    cycles: dict[str, float] = {}
    for m, q in mean.items():
        if info.loc[m, "phase"] != "inference":
            continue
        cycles[info.loc[m, "bucket"]] = cycles.get(info.loc[m, "bucket"], 0.0) + q / qps[m]
    total = sum(cycles.values())
    return {b: c / total for b, c in cycles.items()}


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_case(out_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write the CSV tables, settings.yaml and scenarios.yaml of the case."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False, lineterminator="\n")
    (out_dir / "settings.yaml").write_text(yaml.safe_dump(SETTINGS, sort_keys=False),
                                           encoding="utf-8")
    (out_dir / "scenarios.yaml").write_text(yaml.safe_dump(SCENARIOS, sort_keys=False,
                                                           width=100), encoding="utf-8")


def derive(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Derive every table of the default case from the shared data folder."""
    mlperf = read_mlperf(data_dir / "mlperf")
    configs = read_deeprecsys(data_dir / "deeprecsys")
    gavel = json.loads((data_dir / "gavel" / "simulation_throughputs.json").read_text(
        encoding="utf-8"))
    shapes = pd.read_csv(data_dir / "traces" / "diurnal_shapes_24h.csv")
    platforms = build_platforms()
    rec_stats = build_rec_stats(configs)
    models = build_models(rec_stats)
    profiles = build_profiles(mlperf, gavel, models, platforms, rec_stats)
    products = build_products(shapes)
    # Cycle shares are taken at the published points, so demand does not move with the SLOs.
    calls = build_calls(products, ranking_prediction_targets(published_points(profiles,
                                                                              models)))
    return {
        "platforms": platforms, "models": models, "profiles": profiles,
        "factors": build_factors(),
        "regions": build_regions(), "region_power_caps": build_region_power_caps(),
        "topology": build_topology(), "inventory": build_inventory(),
        "products": products, "calls": calls, "load_shapes": build_load_shapes(shapes),
    }


# ---------------------------------------------------------------------------------------------
# CPU peak check (issue 13): no CPU profile may need more than its benchmark's older-CPU anchor
# efficiency of its platform's vector peak, nor more than its platform's memory roof
# ---------------------------------------------------------------------------------------------


def cpu_peak_macs(generation: str, path: str) -> float:
    """Return a CPU platform's own peak MAC/s on ``path`` (``int8`` or ``fp32``): its part's."""
    return part_peak_macs(CPU_PARTS[cpu_generation(generation)], path)


def cpu_memory_roof(generation: str) -> float:
    """Return a CPU platform's memory roof in B/s.

    The Skylake's ~85 GB/s sustained x the platform's own DRAM bandwidth ratio (channels x
    MT/s, from CPU_PARTS, not from the factor values).
    """
    return CPU_PARTS["skylake"]["memory_gbps"] * 1e9 * memory_vs_skylake(
        cpu_generation(generation))


def anchor_efficiency(bench: str) -> float:
    """Return the share of its own peak the benchmark's older MLPerf CPU anchor reached."""
    anchor = CPU_ANCHORS[CPU_ANCHOR_OF[bench]]
    return anchor["qps"] * anchor["macs_per_query"] / part_peak_macs(anchor)


def cpu_path(bench: str) -> str:
    """Return the Skylake's vector path of a benchmark: its anchor's (INT8, or FP32 for BF16)."""
    return "fp32" if bench == "training" else CPU_ANCHORS[CPU_ANCHOR_OF[bench]]["path"]


def training_efficiency(v100_samples_per_s: float) -> float:
    """Return the V100's share of its FP32 peak on the Gavel 'Recommendation' job [E]."""
    work = GAVEL_RECOMMENDATION_WORK
    return v100_samples_per_s * work["macs_per_sample"] / work["v100_fp32_macs"]


def cpu_row_loads(profiles: pd.DataFrame, models: pd.DataFrame, platforms: pd.DataFrame,
                  ranking_work: dict[str, tuple[float, float]],
                  training_v100: dict[str, float]) -> pd.DataFrame:
    """Return every CPU row with the MAC/s and bytes/s it needs and its own platform's caps.

    Every CPU row of every generation is checked against its own part's peak (CPU_PARTS):
    inference rows against the benchmark's older-CPU anchor efficiency x the INT8 (FP32 for
    RNN-T) peak, training rows against the V100's efficiency on the same Gavel job x the FP32
    peak. Columns added: ``bench`` (``training`` for training rows), ``efficiency``,
    ``macs_per_s``, ``mac_cap`` (efficiency x peak), ``bytes_per_s`` and ``byte_cap``
    (ranking rows only: embedding bytes x items/s against the memory roof), ``share`` (the
    larger of the two load/cap ratios; above 1 = violation).

    Args:
        profiles: profiles.csv of the case.
        models: models.csv (phase of each model).
        platforms: platforms.csv (class and generation of each platform).
        ranking_work: model_id -> (FLOP per item, embedding bytes per item) of ranking models.
        training_v100: training model_id -> the V100's samples/s on its Gavel job.
    """
    plat = platforms.set_index("platform_id")
    rows = profiles[profiles["platform_id"].map(plat["platform_class"]).eq("cpu")].copy()
    phase = rows["model_id"].map(models.set_index("model_id")["phase"])
    out = []
    for i, r in rows.iterrows():
        gen = cpu_generation(plat.at[r["platform_id"], "generation"])
        nbytes, byte_cap = float("nan"), float("nan")
        if phase[i] == "training":
            bench, efficiency = "training", training_efficiency(training_v100[r["model_id"]])
            macs = r["qps_per_server"] * GAVEL_RECOMMENDATION_WORK["macs_per_sample"]
        elif r["model_id"] in MLPERF_MODELS:
            spec = MLPERF_MODELS[r["model_id"]]
            bench = spec["benchmark"]
            efficiency = anchor_efficiency(bench)
            macs = r["qps_per_server"] / spec["factor"] * MACS_PER_QUERY[bench]
        else:
            bench, efficiency = "dlrm-99", anchor_efficiency("dlrm-99")
            flops, item_bytes = ranking_work[r["model_id"]]
            macs = r["qps_per_server"] * flops / 2
            nbytes, byte_cap = r["qps_per_server"] * item_bytes, cpu_memory_roof(gen)
        cap = efficiency * cpu_peak_macs(gen, cpu_path(bench))
        share = max(macs / cap, nbytes / byte_cap if byte_cap == byte_cap else 0.0)
        out.append({"line": i + 2, "generation": gen, "bench": bench, "efficiency": efficiency,
                    "macs_per_s": macs, "mac_cap": cap, "bytes_per_s": nbytes,
                    "byte_cap": byte_cap, "share": share})
    return rows.assign(**pd.DataFrame(out, index=rows.index))


def cpu_peak_violations(loads: pd.DataFrame) -> list[str]:
    """Return one message per CPU row of :func:`cpu_row_loads` above its compute or memory cap."""
    msgs = []
    for r in loads[loads["share"] > 1.0].itertuples(index=False):
        at = ("single point" if pd.isna(r.latency_ms)
              else f"{r.latency_ms:g} ms p{r.percentile:g}")
        memory = ("" if pd.isna(r.bytes_per_s) else
                  f", {r.bytes_per_s / 1e9:.1f} GB/s of its {r.byte_cap / 1e9:.1f} GB/s memory "
                  "roof")
        whose = "the V100's" if r.bench == "training" else "anchor"
        fix = ("lower cpu_training_vs_v100 or the generation's compute factor"
               if r.bench == "training" else
               "raise the Skylake divisor it uses or lower its generation factor")
        msgs.append(f"profiles.csv line {r.line}: {r.model_id} on {r.platform_id} at {at}: "
                    f"{r.qps_per_server:g}/s needs {r.macs_per_s / 1e12:.3f} T MAC/s of the "
                    f"{r.mac_cap / 1e12:.3f} T MAC/s allowed ({r.efficiency:.1%} {whose} "
                    f"efficiency x its own {cpu_path(r.bench).upper()} peak){memory}; {fix} "
                    "(factors.csv) to the value the check prints")
    return msgs


def cpu_peak_lines(loads: pd.DataFrame) -> list[str]:
    """Return the check's report: anchors, per factor the worst row and the fix, per platform.

    A row's load is proportional to 1/divisor, so the smallest divisor that passes is the
    factor's value x the largest share among the rows that use it.
    """
    sky = CPU_PARTS["skylake"]
    lines = [f"CPU peak check ({sky['source']}; {MACS_PER_QUERY_SOURCE}):"]
    for bench, anchor in CPU_ANCHORS.items():
        lines.append(f"  anchor {bench}: {anchor['record']} {anchor['qps']:,.2f}/s = "
                     f"{anchor_efficiency(bench):.1%} of {part_peak_macs(anchor) / 1e12:.2f} "
                     f"T MAC/s -> 2S Skylake {cpu_path(bench).upper()} "
                     f"{cpu_peak_macs('skylake', cpu_path(bench)) / 1e12:.2f} T MAC/s")
    for name in ("skylake_divisor_dlrm", "skylake_divisor_cnn", "skylake_divisor_bert",
                 "skylake_divisor_rnnt"):
        used = loads[loads["factors"].fillna("").str.split(";").map(
            lambda f, n=name: f"{n}^-1" in f)]
        if used.empty:
            continue
        worst = used.loc[used["share"].idxmax()]
        value = factor(name)
        lines.append(f"  {name} {value:g}: worst row {worst['model_id']} on "
                     f"{worst['platform_id']} at {worst['share']:.1%} of its cap; passes from "
                     f"{value * worst['share']:.1f}")
    for pid, group in loads.groupby("platform_id", sort=False):
        worst = group.loc[group["share"].idxmax()]
        lines.append(f"  {pid}: {len(group)} rows against its own peak "
                     f"({CPU_PARTS[cpu_generation(worst['generation'])]['name']}); worst "
                     f"{worst['model_id']} at {worst['share']:.1%} of its cap")
    memory = loads[loads["bytes_per_s"].notna()]
    if not memory.empty:
        top = memory.loc[(memory["bytes_per_s"] / memory["byte_cap"]).idxmax()]
        lines.append(f"  memory roof: worst ranking row {top['model_id']} on "
                     f"{top['platform_id']} {top['bytes_per_s'] / 1e9:.1f} of "
                     f"{top['byte_cap'] / 1e9:.1f} GB/s")
    return lines


def training_v100_rates(gavel: dict[str, Any]) -> dict[str, float]:
    """Return training model_id -> V100 samples/s for the models that train on CPUs."""
    return {mid: best_training_throughput(gavel, "v100", spec["job"])[0]
            for mid, spec in TRAINING_MODELS.items() if spec["cpu"]}


def ranking_work(rec_stats: dict[str, RecModelStats]) -> dict[str, tuple[float, float]]:
    """Return model_id -> (FLOP, embedding bytes) per item; ``dlrm_ads`` is DLRM v1 itself."""
    work = {m: (s.flops_per_item, s.bytes_per_item) for m, s in rec_stats.items()}
    work["dlrm_ads"] = (DLRM_V1_WORK["flops_per_pair"], DLRM_V1_WORK["bytes_per_pair"])
    return work


def summary_lines(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Return headline figures: table sizes, daily totals and inference cycle shares."""
    lines = ["Rows: " + ", ".join(f"{n} {len(t)}" for n, t in tables.items())]
    mean = model_daily_queries(tables["products"], tables["calls"])
    buckets = tables["models"].set_index("model_id")["bucket"]
    phases = tables["models"].set_index("model_id")["phase"]
    ranking = sum(q for m, q in mean.items()
                  if buckets[m] == "ranking" and phases[m] == "inference")
    lines.append(f"Ranking predictions/day: {ranking * SECONDS_PER_DAY:.4g}")
    lines.append(f"Translations/day: {mean['nmt'] * SECONDS_PER_DAY:.4g}")
    shares = cycle_shares(tables["models"], rows_at_slo(tables["profiles"], tables["models"]),
                          tables["products"], tables["calls"])
    lines.append("Inference cycle shares on cpu_skylake: "
                 + ", ".join(f"{b} {s:.1%}" for b, s in shares.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: derive, check quarter 0, write; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder (mlperf/, ...)")
    parser.add_argument("--out", type=Path, default=Path("fleet_data/default"),
                        help="output folder of the case")
    args = parser.parse_args(argv)
    tables = derive(args.data_dir)
    for line in summary_lines(tables):
        print(line)
    work = ranking_work(build_rec_stats(read_deeprecsys(args.data_dir / "deeprecsys")))
    gavel = json.loads((args.data_dir / "gavel" / "simulation_throughputs.json").read_text(
        encoding="utf-8"))
    loads = cpu_row_loads(tables["profiles"], tables["models"], tables["platforms"], work,
                          training_v100_rates(gavel))
    for line in cpu_peak_lines(loads):
        print(line)
    violations = cpu_peak_violations(loads)
    if violations:
        for msg in violations:
            print(msg, file=sys.stderr)
        print(f"Not written: {len(violations)} CPU profile rows exceed their own platform's "
              "efficiency x peak or memory roof.", file=sys.stderr)
        return 1
    at_slo = rows_at_slo(tables["profiles"], tables["models"])
    ok, lines = quarter0_check(tables["platforms"], tables["models"], at_slo,
                               tables["regions"], tables["topology"], tables["inventory"],
                               tables["products"], tables["calls"], SETTINGS)
    for line in lines:
        print(line)
    if not ok:
        print("Not written: quarter 0 is not servable by the inventory.", file=sys.stderr)
        return 1
    write_case(args.out, tables)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
