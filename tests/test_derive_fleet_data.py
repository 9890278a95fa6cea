"""Tests of scripts/derive_fleet_data.py on small synthetic inputs written to tmp_path."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "derive_fleet_data.py"


@pytest.fixture(scope="module")
def derive():
    spec = importlib.util.spec_from_file_location("derive_fleet_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_fleet_data"] = module
    spec.loader.exec_module(module)
    return module


def _record(
    model: str,
    result: float | None,
    *,
    org: str = "Acme",
    system: str = "box",
    acc: str = "N/A",
    n_acc: int = 0,
    host: str = "Intel(R) Xeon(R) Platinum 8480+",
    sockets: int = 2,
    version: str = "v3.0",
    power: float | None = None,
) -> dict:
    rec = {
        "Division": "closed",
        "Scenario": "Server",
        "Model": model,
        "Result": result,
        "Result_Units": "Queries/s",
        "Organization": org,
        "SystemName": system,
        "accelerator_model_name": acc,
        "accelerators_per_node": n_acc,
        "host_processor_model_name": host,
        "host_processors_per_node": sockets,
        "number_of_nodes": 1,
        "version": version,
        "Location": f"closed/{org}/results/{system}/{model}/Server",
        "has_power": power is not None,
    }
    if power is not None:
        rec["Result_Power"] = power
    return rec


SPR = {
    "resnet50": 16000.0,
    "retinanet": 200.0,
    "bert-99": 1000.0,
    "rnnt": 4000.0,
    "dlrm-99": 120000.0,
}
QAIC_PRO = "QUALCOMM Cloud AI 100 PCIe/HHHL Pro"


def _mlperf_records() -> dict[str, list[dict]]:
    cpu = [_record(m, r, system="2S-SPR") for m, r in SPR.items()]
    cpu.append(_record("dlrm-99", 118000.0, system="2S-SPR-b", org="Other"))
    cpu.append(_record("resnet50", 50000.0, system="1S-other", host="Other CPU", sockets=1))
    qaic = [
        _record(m, r, system="8x QAIC", acc=QAIC_PRO, n_acc=8, host="AMD EPYC")
        for m, r in {"resnet50": 160000.0, "retinanet": 2000.0, "bert-99": 6000.0}.items()
    ]
    t4 = [
        _record("resnet50", 4000.0, system="1x T4", acc="NVIDIA T4", n_acc=1),
        _record("dlrm-99", 24000.0, system="1x T4", acc="NVIDIA T4", n_acc=1),
        _record("rnnt", 1000.0, system="1x T4", acc="NVIDIA T4", n_acc=1),
    ]
    power = [
        _record(
            "dlrm-99",
            2_000_000.0,
            org="NVIDIA",
            acc="NVIDIA A100-SXM-80GB",
            n_acc=8,
            system="NVIDIA DGX A100 (8x A100-SXM-80GB, MaxQ, TensorRT)",
            power=3400.0,
        )
    ]
    return {
        "closed--all--server.json": cpu + qaic + t4,
        "closed-power--recommendation--server.json": power,
    }


RM1 = {
    "arch_mlp_bot": "128-64-32",
    "arch_mlp_top": "256-64-1",
    "arch_embedding_size": "-".join(["4000000"] * 8),
    "arch_sparse_feature_size": 32,
    "num_indices_per_lookup": 80,
    "arch_interaction_op": "cat",
}


def _gavel() -> dict:
    def jobs(name: str, per_batch: dict[int, float]) -> dict:
        out = {f"('{name} (batch size {b})', 1)": {"null": s} for b, s in per_batch.items()}
        out[f"('{name} (batch size 16)', 8)"] = {"null": 1000.0}  # multi-GPU: ignored
        return out

    v100 = {
        **jobs("Recommendation", {512: 20.0, 8192: 3.0}),
        **jobs("ResNet-50", {64: 4.0, 128: 2.5}),
        **jobs("Transformer", {128: 5.0}),
    }
    return {"v100": v100, "k80": {}}


@pytest.fixture
def data_dir(tmp_path: Path, derive) -> Path:
    root = tmp_path / "data"
    (root / "mlperf").mkdir(parents=True)
    for name, records in _mlperf_records().items():
        (root / "mlperf" / name).write_text(json.dumps(records), encoding="utf-8")
    (root / "deeprecsys").mkdir()
    for spec in derive.RANKING_MODELS.values():  # one DeepRecSys-like config, reused
        (root / "deeprecsys" / spec["config"]).write_text(json.dumps(RM1), encoding="utf-8")
    (root / "gavel").mkdir()
    (root / "gavel" / "simulation_throughputs.json").write_text(
        json.dumps(_gavel()), encoding="utf-8"
    )
    (root / "traces").mkdir()
    hours = list(range(24))
    shape = pd.DataFrame(
        {"hour": hours, "m_small": [2.0 if h == 20 else 1.0 for h in hours], "mm_image": [1.0] * 24}
    )
    shape.to_csv(root / "traces" / "diurnal_shapes_24h.csv", index=False)
    return root


def test_per_accelerator_divides_by_accelerator_count(derive):
    assert derive.per_accelerator(160000.0, 8) == 20000.0
    with pytest.raises(ValueError):
        derive.per_accelerator(1.0, 0)


def test_samples_to_predictions_uses_270_pairs(derive):
    assert derive.samples_to_predictions(10.0) == 2700.0
    assert derive.DLRM_UNITS["pairs_per_sample"] == 270.0


def test_rec_model_stats_counts_flops_bytes_and_memory(derive):
    cfg = {
        "arch_mlp_bot": "4-2",
        "arch_mlp_top": "3-1",
        "arch_embedding_size": "10-20",
        "arch_sparse_feature_size": 2,
        "num_indices_per_lookup": 3,
    }
    s = derive.rec_model_stats(cfg, "toy")
    # bottom 4x2 = 8 MACs; top input 2 + 2 tables x 2 = 6, then 6x3 + 3x1 = 21 MACs
    assert s.flops_per_item == 2 * (8 + 21)
    assert s.bytes_per_item == 2 * 3 * 2 * 4
    assert s.memory_gb == pytest.approx((30 * 2 + 29) * 4 / 1e9)


def test_rmc1_matches_fact_sheet(derive):
    s = derive.rec_model_stats(RM1, "rmc1")
    assert s.memory_gb == pytest.approx(4.096, abs=0.001)
    assert s.bytes_per_item == 640 * 128
    assert s.flops_per_item == pytest.approx(0.2e6, rel=0.01)


def test_roofline_scale_depends_on_the_platform_ridge(derive):
    # DLRM v1: 4.8 MFLOP and 13,312 B per pair. A bandwidth-rich roofline (1 Top/s, 10 GB/s,
    # ridge 100 op/B): DLRM v1 takes max(4.8, 1.33) = 4.8 us; a bandwidth-poor one (1 Top/s,
    # 1 GB/s, ridge 1,000): max(4.8, 13.312) = 13.312 us.
    rich = derive.Roofline("rich", 1e12, 1e10)
    poor = derive.Roofline("poor", 1e12, 1e9)
    memory = derive.RecModelStats("m", 1.0, 2.4e6, 96_000.0, tables=1, lookups_per_item=1)
    # max(2.4, 9.6) = 9.6 us on the rich one: 4.8 / 9.6 = 0.5; max(2.4, 96) = 96 us on the
    # poor one: 13.312 / 96 = 0.13867. The same memory-bound model loses more on the ASIC-like
    # roofline, so the accelerator-to-CPU ratio differs by model.
    assert derive.roofline_scale(memory, rich) == pytest.approx(0.5)
    assert derive.roofline_scale(memory, poor) == pytest.approx(13_312 / 96_000)
    compute = derive.RecModelStats("c", 1.0, 9.6e6, 13_312.0, 1, 1)
    # 9.6 us on the rich one (0.5); max(9.6, 13.312) on the poor one: as fast as DLRM v1.
    assert derive.roofline_scale(compute, rich) == pytest.approx(0.5)
    assert derive.roofline_scale(compute, poor) == pytest.approx(1.0)


def test_shipped_asic_to_cpu_ratio_differs_by_model():
    """Memory-bound RMC2 gains far less from the M.2 ASIC than compute-heavier RMC3."""
    shipped = published(
        {"profiles": pd.read_csv(SCRIPT.parents[1] / "fleet_data" / "default" / "profiles.csv")}
    )["qps_per_server"]

    def ratio(model: str) -> float:
        return shipped[(model, "yv2_glacier_point")] / shipped[(model, "cpu_skylake")]

    assert ratio("rmc3") > 3 * ratio("rmc2")
    assert ratio("wnd") > 2 * ratio("rmc3")


def test_select_reference_filters_and_takes_lower_median(tmp_path, data_dir, derive):
    mlperf = derive.read_mlperf(data_dir / "mlperf")
    cpu = derive.select_reference(mlperf, "spr_2s", "dlrm-99")
    assert cpu.value == 118000.0  # lower median of 118,000 and 120,000; 1S system excluded
    qaic = derive.select_reference(mlperf, "qaic_pro", "resnet50")
    assert qaic.value == 20000.0  # 160,000 / 8 accelerators
    dgx = derive.select_reference(mlperf, "dgx_a100_power", "dlrm-99")
    assert dgx.value == 250000.0 and dgx.power_w == 3400.0
    assert "MLPerf Inference v3.0" in cpu.cite() and "closed/Other/results" in cpu.cite()


def test_best_training_throughput_ignores_multi_gpu_entries(derive):
    samples, batch = derive.best_training_throughput(_gavel(), "v100", "Recommendation")
    assert (samples, batch) == (3.0 * 8192, 8192)


def test_peak_to_average(derive):
    shape = pd.DataFrame({"s": [1.0] * 23 + [2.0]})
    assert derive.peak_to_average(shape, "s") == round(2.0 / (25 / 24), 2)


def published(tables: dict) -> pd.DataFrame:
    """Return each curve's published point (the MLPerf bound, p99) or the single point."""
    prof = tables["profiles"]
    bound = {"resnet50": 15.0, "retinanet": 100.0, "nmt": 130.0, "rnnt": 1000.0}
    at = prof["model_id"].map(lambda m: bound.get(m, 30.0))
    keep = prof["latency_ms"].isna() | ((prof["latency_ms"] == at) & (prof["percentile"] == 99))
    return prof[keep].set_index(["model_id", "platform_id"])


def test_profiles_apply_the_conversions(data_dir, derive):
    # Every expected value is arithmetic on the synthetic records above and the constants of
    # FACTS.md (written out here, not read from the script).
    prof = published(derive.derive(data_dir))
    qps = prof["qps_per_server"]
    # rmc1 on 2S Skylake: lower median of the two SPR DLRM records (118,000 and 120,000)
    # = 118,000 samples/s; / 47 (SPR -> Skylake at the ICX-8380 anchor's efficiency of the
    # Skylake INT8 peak, issue 13); x 270 predictions per sample; x 0.72956 roofline on 2S
    # Skylake (6.8267 Top/s = 2 x 40 x 2.0 GHz x 64 x 2 / 3 INT8 ops, 85 GB/s): DLRM v1 is
    # compute-bound, 4.8 MFLOP / 6.8267 Top/s = 703.1 ns; RM1 reads 8 tables x 80 lookups x
    # 32 dims x 4 B = 81,920 B, 81,920 / 85 GB/s = 963.8 ns (its 0.2 MFLOP take 29 ns):
    # 703.1 / 963.8 = 0.72956. 118,000 / 47 x 270 x 0.72956 = 494,549.
    assert qps[("rmc1", "cpu_skylake")] == 494_500  # 4 significant digits
    # rmc1 on 2S Haswell (issue 13: its own roofs): the Skylake's 6.8267 Top/s x 0.375 (24 C
    # x 2.5 GHz x 21.3 / 40 C x 2.0 GHz x 42.7 INT8 MAC/cycle) and 85 GB/s x 0.533 (8 x
    # DDR4-2133 / 12 x DDR4-2666) = 45.305 GB/s: DLRM v1 4.8 MFLOP / 2.56 Top/s = 1,875.0
    # ns, RM1 81,920 B / 45.305 GB/s = 1,808.2 ns, memory-bound: 118,000 / 47 x 270 x 0.375
    # x 1,875.0 / 1,808.2 = 263,597.
    assert qps[("rmc1", "cpu_haswell")] == 263_600
    # rmc1 on Glacier Point: T4 roofline (ResNet-50 4,000 x 8.2 GOP = 32.8 Top/s, 320 GB/s)
    # on DLRM v1 max(146.3, 41.6) = 146.34 ns per pair; the M.2 module's (5,151.99 x 8.2 GOP,
    # 68 GB/s) on RM1 max(4.8, 1,204.7) = 1,204.7 ns; 24,000 x 270 x 146.34 / 1,204.7 x 6
    # modules = 4,722,942.
    assert qps[("rmc1", "yv2_glacier_point")] == 4_723_000
    # Glacier Point resnet50: the NNP-I M.2 module's 10,303.98 / 2 = 5,151.99 qps x 6 modules.
    assert qps[("resnet50", "yv2_glacier_point")] == 30_910  # 30,911.94
    # retinanet: Cloud AI 100 Pro 2,000 / 8 = 250 per card, x 5,151.99 / 20,000 (module over
    # card on ResNet-50: 160,000 / 8 = 20,000), x 6 modules = 386.40.
    assert qps[("retinanet", "yv2_glacier_point")] == 386.4
    # dlrm_ads on Zion: DGX-A100 2,000,000 / 8 = 250,000 per A100, x 0.5 (V100-class OAM)
    # x 8 accelerators x 270 predictions per sample = 270,000,000; power at load: the
    # measured 3,400 W plus 6 more CPU sockets x 150 W = 4,300 W.
    assert qps[("dlrm_ads", "zion")] == 270_000_000
    assert prof.at[("dlrm_ads", "zion"), "power_w_at_load"] == 4_300
    # rmc_training: Gavel V100 Recommendation, best single-GPU batch 8192 x 3.0 steps/s
    # = 24,576 samples/s, x 8 accelerators = 196,608; a 2S Skylake trains at 0.25 V100.
    assert qps[("rmc_training", "zion")] == 196_600
    assert qps[("rmc_training", "cpu_skylake")] == 6_144
    # rnnt on Glacier Point: the T4 RNN-T record 1,000 x 0.2125 (m2_speech_factor: memory
    # bandwidth 68/320 GB/s) x 6 modules = 1,275 utterances/s.
    assert qps[("rnnt", "yv2_glacier_point")] == 1_275


# A few public records, copied with their source, so that the test can work out the shipped
# default case's numbers by hand without the data folder. MLPerf Inference results
# (mlcommons, closed division, Server scenario; Result in queries/s or samples/s):
PUBLIC_MLPERF = {
    # 2-socket Xeon Platinum 8480+ (Sapphire Rapids) servers
    "spr": [
        ("resnet50", 16006.7, "Dell", "v3.1"),
        ("resnet50", 16306.8, "HPE", "v3.1"),
        ("resnet50", 16327.6, "Dell", "v3.0"),
        ("resnet50", 16505.9, "Intel", "v3.1"),
        ("resnet50", 16505.9, "Quanta_Cloud_Technology", "v3.1"),
        ("retinanet", 208.867, "Dell", "v3.0"),
        ("bert-99", 1089.77, "Intel", "v3.1"),
        ("rnnt", 4104.84, "HPE", "v3.1"),
        ("dlrm-99", 122001.0, "Dell", "v3.0"),
    ],
    # Qualcomm Cloud AI 100 PCIe/HHHL Pro systems: (benchmark, result, cards, round)
    "qaic": [
        ("resnet50", 330079.0, 18, "v2.1"),
        ("resnet50", 173044.0, 8, "v2.1"),
        ("resnet50", 173191.0, 8, "v3.0"),
        ("resnet50", 400059.0, 18, "v3.0"),
        ("resnet50", 364555.0, 16, "v3.0"),
        ("resnet50", 115019.0, 5, "v3.1"),
        ("resnet50", 370071.0, 16, "v3.1"),
        ("retinanet", 2023.72, 8, "v3.0"),
        ("retinanet", 4627.04, 18, "v3.0"),
        ("retinanet", 4121.65, 16, "v3.0"),
        ("retinanet", 1386.48, 5, "v3.1"),
        ("retinanet", 4578.88, 16, "v3.1"),
        ("bert-99", 12738.9, 18, "v2.0"),
    ],
    # Dell PowerEdge XE2420 (1x T4, TensorRT)
    "t4": [
        ("resnet50", 4652.01, "v3.0"),
        ("dlrm-99", 23988.2, "v2.0"),
        ("dlrm-99", 24005.9, "v3.0"),
        ("rnnt", 950.113, "v2.0"),
    ],
    # NVIDIA DGX A100 (8x A100-SXM-80GB, MaxQ, TensorRT), closed-power: (result, W, round)
    "dgx": [(2001990.0, 3372.277703826955, "v2.0"), (2002080.0, 3377.699833, "v2.1")],
}
# Gavel simulation_throughputs.json (stanford-futuredata/gavel), v100, isolated steps/s at
# the best single-GPU batch size of each job.
PUBLIC_GAVEL = {
    "Recommendation": (8192, 2.841510364354536),
    "ResNet-50": (128, 2.4967655780898292),
    "Transformer": (128, 5.44610521981264),
}
# DeepRecSys dlrm_rm1.json (harvard-acc/DeepRecSys, MIT).
PUBLIC_RM1 = {
    "arch_mlp_bot": "128-64-32",
    "arch_mlp_top": "256-64-1",
    "arch_embedding_size": "-".join(["4000000"] * 8),
    "arch_sparse_feature_size": 32,
    "num_indices_per_lookup_fixed": True,
    "num_indices_per_lookup": 80,
    "arch_interaction_op": "cat",
    "model_type": "dlrm",
    "model_name": "rm1",
}


@pytest.fixture
def public_dir(tmp_path: Path, data_dir: Path) -> Path:
    """The synthetic data folder with the MLPerf, Gavel and RM1 inputs replaced by the public
    records above."""
    spr = [
        _record(m, r, org=o, system=f"2S-SPR-{o}", version=v) for m, r, o, v in PUBLIC_MLPERF["spr"]
    ]
    qaic = [
        _record(
            m,
            r,
            system=f"{n}x QAIC100 Pro",
            acc=QAIC_PRO,
            n_acc=n,
            host="AMD EPYC",
            org="Qualcomm",
            version=v,
        )
        for m, r, n, v in PUBLIC_MLPERF["qaic"]
    ]
    t4 = [
        _record(
            m,
            r,
            system="Dell PowerEdge XE2420 (1x T4, TensorRT)",
            acc="NVIDIA T4",
            n_acc=1,
            org="Dell",
            version=v,
        )
        for m, r, v in PUBLIC_MLPERF["t4"]
    ]
    dgx = [
        _record(
            "dlrm-99",
            r,
            org="NVIDIA",
            acc="NVIDIA A100-SXM-80GB",
            n_acc=8,
            system="NVIDIA DGX A100 (8x A100-SXM-80GB, MaxQ, TensorRT)",
            power=w,
            version=v,
        )
        for r, w, v in PUBLIC_MLPERF["dgx"]
    ]
    mlperf = data_dir / "mlperf"
    (mlperf / "closed--all--server.json").write_text(json.dumps(spr + qaic + t4))
    (mlperf / "closed-power--recommendation--server.json").write_text(json.dumps(dgx))
    (data_dir / "deeprecsys" / "dlrm_rm1.json").write_text(json.dumps(PUBLIC_RM1))
    gavel = {
        "v100": {
            f"('{job} (batch size {b})', 1)": {"null": steps}
            for job, (b, steps) in PUBLIC_GAVEL.items()
        },
        "k80": {},
    }
    (data_dir / "gavel" / "simulation_throughputs.json").write_text(json.dumps(gavel))
    return data_dir


# Hand-worked from the public records (4 significant digits, as written to profiles.csv):
PUBLIC_PROFILES = {
    # DLRM on the SPR server: 122,001 samples/s / 47 (peak-consistent, issue 13: ICX-8380
    # 20,245.82 x 3.41/23.55 T MAC/s = 2,934 at the curve's loosest point, / 1.112 = 2,638;
    # 122,001 / 2,638 = 46.2, rounded up) x 270 = 700,856.8
    ("dlrm_ads", "cpu_skylake"): 700_900,
    # Haswell: DLRM v1 is compute-bound on both rooflines, x0.375 (the vector peak ratio
    # 1.28/3.41 T MAC/s) = 262,821.3
    ("dlrm_ads", "cpu_haswell"): 262_800,
    # RM1 at 0.72956 of DLRM v1 on the 2S Skylake roofline (703.1 ns of compute for DLRM v1
    # over 963.8 ns of memory for RM1's 81,920 B at 85 GB/s): 511,317.7; Haswell: 700,856.8
    # x 703.1 ns / 1,808.2 ns (RM1 memory-bound at 85 x 0.533 = 45.305 GB/s) = 272,532
    ("rmc1", "cpu_skylake"): 511_300,
    ("rmc1", "cpu_haswell"): 272_500,
    # RM1 on Glacier Point: T4 23,988.2 x 270 x (4.8 MFLOP / (4,652.01 x 8.2 GOP) = 125.83
    # ns) / (81,920 B / 68 GB/s = 1,204.7 ns) x 6 modules = 4,058,994
    ("rmc1", "yv2_glacier_point"): 4_059_000,
    # DGX-A100: lower median per A100 of 250,248.75 (v2.0) and 250,260 (v2.1) = 250,248.75,
    # x 0.5 x 8 OAM x 270 = 270,268,650
    ("dlrm_ads", "zion"): 270_300_000,
    # ResNet-50 SPR: lower median of the five (16,327.6) / 46 (CLX-9282 4,850.62 x 3.41/37.27
    # T MAC/s = 444 at the loosest bound, / 1.240 = 358 published; 45.6 rounded up) = 354.95;
    # Haswell x 0.375 (vector peak ratio) = 133.11
    ("resnet50", "cpu_skylake"): 354.9,
    ("resnet50", "cpu_haswell"): 133.1,
    ("resnet50", "yv2_glacier_point"): 30_910,  # 10,303.98 / 2 x 6 = 30,911.94
    # RNN-T on Glacier Point: T4 950.113 x 0.2125 (68/320 GB/s) x 6 = 1,211.39
    ("rnnt", "yv2_glacier_point"): 1_211,
    # RetinaNet on Glacier Point: Cloud AI 100 Pro lower median per card of the five,
    # 4,121.65 / 16 = 257.603, x 5,151.99 / 22,225.5 (the ResNet-50 lower median per card,
    # 400,059 / 18), x 6 = 358.28
    ("retinanet", "yv2_glacier_point"): 358.3,
    # Gavel: 2.84151 steps/s x 8192 = 23,277.65 samples/s; x 8 = 186,221; CPU x 0.25 = 5,819.4
    ("rmc_training", "zion"): 186_200,
    ("rmc_training", "cpu_skylake"): 5_819,
    # Haswell trains at the FP32 vector peak ratio 0.96/2.56 T MAC/s = 0.375: 2,182.3
    ("rmc_training", "cpu_haswell"): 2_182,
    # Twin Lakes ResNet-50: 354.95 x 0.2 (16 C x 2.0 GHz x 21.3, one FMA unit) = 70.99
    ("resnet50", "yv2_twin_lakes"): 70.99,
    ("resnet50_training", "zion"): 2_557,  # 2.49677 x 128 = 319.59, x 8 = 2,556.7
    ("transformer_training", "zion"): 5_577,  # 5.44611 x 128 = 697.10, x 8 = 5,576.8
}


def test_profiles_from_the_public_records_match_the_hand_worked_numbers(public_dir, derive):
    prof = published(derive.derive(public_dir))
    for key, expected in PUBLIC_PROFILES.items():
        assert prof.at[key, "qps_per_server"] == expected, key
    # measured DGX wall power 3,372.28 W + 6 more CPU sockets x 150 W = 4,272.28 W
    assert prof.at[("dlrm_ads", "zion"), "power_w_at_load"] == 4_272.3


def test_shipped_default_profiles_are_the_hand_worked_numbers():
    """fleet_data/default/profiles.csv holds what the public records give by hand."""
    shipped = published(
        {"profiles": pd.read_csv(SCRIPT.parents[1] / "fleet_data" / "default" / "profiles.csv")}
    )
    for key, expected in PUBLIC_PROFILES.items():
        assert shipped.at[key, "qps_per_server"] == expected, key
    assert shipped.at[("dlrm_ads", "zion"), "power_w_at_load"] == 4_272.3


def test_profiles_omit_platforms_where_memory_does_not_fit(data_dir, derive):
    prof = derive.derive(data_dir)["profiles"]
    ads = set(prof.loc[prof["model_id"] == "dlrm_ads", "platform_id"])
    assert "yv2_twin_lakes" not in ads and "yv2_glacier_point" not in ads
    assert {"cpu_skylake", "zion"} <= ads
    assert (prof["qps_per_server"] > 0).all()


def test_written_profiles_have_provenance(tmp_path, data_dir, derive):
    out = tmp_path / "case"
    derive.write_case(out, derive.derive(data_dir))
    prof = pd.read_csv(out / "profiles.csv", keep_default_na=False)
    assert set(prof.columns) >= {"source", "source_kind"}
    assert (prof["source"].str.len() > 20).all()
    assert set(prof["source_kind"]) <= {"measured", "published", "derived", "estimate"}
    mlperf_rows = prof[~prof["model_id"].str.endswith("training")]
    points = mlperf_rows["source"].str.startswith("curve point")
    assert mlperf_rows.loc[~points, "source"].str.contains("MLPerf Inference").all()
    # derived curve points name the queueing model and the published row they come from
    assert (mlperf_rows.loc[points, "source_kind"] == "derived").all()
    assert mlperf_rows.loc[points, "source"].str.contains("M/D/1 in batch cycles").all()
    assert mlperf_rows.loc[points, "source"].str.contains(r"the \d+ ms p99 row").all()
    # every factor a row names is in factors.csv, with a source and a range around its value
    factors = pd.read_csv(out / "factors.csv")
    named = {t.split("^")[0] for cell in prof["factors"] if cell for t in cell.split(";")}
    assert named and named <= set(factors["factor_id"])
    assert ((factors["low"] <= factors["value"]) & (factors["value"] <= factors["high"])).all()
    assert (factors["source"].str.len() > 20).all()
    for name in ("platforms", "models", "regions", "inventory", "products", "calls"):
        table = pd.read_csv(out / f"{name}.csv", keep_default_na=False)
        assert (table["source"] != "").all(), name
    assert (out / "settings.yaml").exists() and (out / "scenarios.yaml").exists()


def test_demand_matches_headline_figures(data_dir, derive):
    tables = derive.derive(data_dir)
    # Mean daily queries from the written tables: products' daily requests x the queries each
    # request makes of a model (ranking and translation models are called by products only).
    calls = tables["calls"].merge(tables["products"], left_on="caller_id", right_on="product_id")
    per_day = (
        (calls["daily_requests"] * calls["items_per_request"]).groupby(calls["model_id"]).sum()
    )
    ranking = tables["models"].query("bucket == 'ranking' and phase == 'inference'")["model_id"]
    # 'more than 200 trillion predictions' per day (engineering.fb.com 2019-03-14)
    assert 200e12 <= per_day[list(ranking)].sum() <= 200.5e12
    # 'over 6 billion language translations every day' (same post), one query per translation
    assert per_day["nmt"] == pytest.approx(6e9)
    assert math.isclose(tables["regions"]["demand_share"].sum(), 1.0)


def test_model_to_model_calls_flow_down_the_graph(derive):
    products = pd.DataFrame(
        {"product_id": ["p"], "daily_requests": [86_400.0], "peak_to_average": [2.0]}
    )
    calls = pd.DataFrame(
        {
            "caller_id": ["p", "p", "a"],
            "model_id": ["a", "b", "b"],
            "items_per_request": [2.0, 1.0, 3.0],
        }
    )
    assert derive.model_daily_queries(products, calls) == {"a": 2.0, "b": 7.0}
    assert derive.model_daily_queries(products, calls, peak=True)["b"] == 14.0


def test_dr_multipliers_split_a_lost_region_over_its_backups(derive):
    regions = pd.DataFrame({"region_id": ["a", "b"], "demand_share": [0.5, 0.5]})
    topology = pd.DataFrame({"region_id": ["a", "b"], "backup_region_id": ["b", "a"]})
    mult = derive.dr_multipliers(regions, topology, util=0.7, emergency=0.9)
    assert mult["a"] == pytest.approx(max(1 / 0.7, 2 / 0.9))


def test_md1_latency_in_batch_cycles_by_hand(derive):
    # p99 at utilisation 0.5: 1 + ln(0.5 / 0.01) / (2 x 0.5) = 1 + ln 50 = 4.912 cycles
    assert derive.md1_latency_cycles(0.5, 99) == pytest.approx(1 + math.log(50))
    assert derive.md1_latency_cycles(0.005, 99) == 1.0  # idle enough: no queueing at p99
    # a 30 ms bound met at utilisation 0.5 gives a cycle of 30 / 4.912 = 6.107 ms
    cycle = derive.md1_cycle_ms(30.0, 0.5, 99)
    assert cycle == pytest.approx(30 / (1 + math.log(50)))
    assert derive.md1_utilisation(30.0, cycle, 99) == pytest.approx(0.5, abs=1e-9)
    assert derive.md1_utilisation(cycle, cycle, 99) is None  # a bound of one cycle: no load


def test_curve_points_pass_through_the_published_point_and_rise_to_offline(derive):
    # DLRM published at 30 ms p99 with 1,000 qps; Offline 1.25x: utilisation 0.8 there.
    points = derive.curve_points(1000.0, 1.25, "dlrm-99", [1.0, 30.0, 100.0, 1e6], [99.0])
    qps = {b: q for b, _, q, _ in points}
    assert qps[30.0] == pytest.approx(1000.0)
    assert 1.0 not in qps  # tighter than the cycle: cannot serve
    assert qps[30.0] < qps[100.0] < qps[1e6] <= 1250.0
    assert qps[1e6] == pytest.approx(1250.0, rel=1e-3)
    # a looser percentile allows more at the same bound
    p95 = {b: q for b, _, q, _ in derive.curve_points(1000.0, 1.25, "dlrm-99", [30.0], [95.0])}
    assert p95[30.0] > 1000.0


def test_shipped_curves_are_monotone_and_cover_every_inference_slo():
    root = SCRIPT.parents[1] / "fleet_data" / "default"
    prof = pd.read_csv(root / "profiles.csv")
    models = pd.read_csv(root / "models.csv").set_index("model_id")
    curves = prof[prof["latency_ms"].notna()]
    for _, g in curves.groupby(["model_id", "platform_id", "percentile"]):
        assert (g.sort_values("latency_ms")["qps_per_server"].diff().dropna() >= 0).all()
    for m, g in curves.groupby("model_id"):
        at_slo = g[(g["latency_ms"] == models.at[m, "latency_slo_ms"])
                   & (g["percentile"] == models.at[m, "latency_percentile"])]
        assert set(at_slo["platform_id"]) == set(g["platform_id"]), m
    inference = models.index[models["phase"] == "inference"]
    assert set(curves["model_id"]) == set(inference)


def test_dien_counts_its_gru_and_augru_work(derive):
    # dim 32, 100 behaviours: GRU step 3 x (32x32 + 32x32) = 6,144 MACs, AUGRU step the same
    # plus attention 4 x 32 x 32 = 10,240; (6,144 + 10,240) x 100 = 1,638,400 MACs per item.
    assert derive.dien_recurrent_macs(32) == 1_638_400
    dien = dict(RM1, model_type="dien")
    plain = derive.rec_model_stats(RM1, "x")
    stats = derive.rec_model_stats(dien, "dien")
    assert stats.flops_per_item == plain.flops_per_item + 2 * 1_638_400
    assert stats.bytes_per_item == plain.bytes_per_item


def test_inventory_sources_say_why_each_lot_retires(data_dir, derive):
    inv = derive.derive(data_dir)["inventory"]
    haswell = inv["platform_id"] == "cpu_haswell"
    assert inv.loc[haswell, "source"].str.contains("Haswell").all()
    assert not inv.loc[~haswell, "source"].str.contains("Haswell").any()
