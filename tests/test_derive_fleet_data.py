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


def _record(model: str, result: float | None, *, org: str = "Acme", system: str = "box",
            acc: str = "N/A", n_acc: int = 0, host: str = "Intel(R) Xeon(R) Platinum 8480+",
            sockets: int = 2, version: str = "v3.0", power: float | None = None) -> dict:
    rec = {
        "Division": "closed", "Scenario": "Server", "Model": model, "Result": result,
        "Result_Units": "Queries/s", "Organization": org, "SystemName": system,
        "accelerator_model_name": acc, "accelerators_per_node": n_acc,
        "host_processor_model_name": host, "host_processors_per_node": sockets,
        "number_of_nodes": 1, "version": version,
        "Location": f"closed/{org}/results/{system}/{model}/Server", "has_power": power is not None,
    }
    if power is not None:
        rec["Result_Power"] = power
    return rec


SPR = {"resnet50": 16000.0, "retinanet": 200.0, "bert-99": 1000.0, "rnnt": 4000.0,
       "dlrm-99": 120000.0}
QAIC_PRO = "QUALCOMM Cloud AI 100 PCIe/HHHL Pro"


def _mlperf_records() -> dict[str, list[dict]]:
    cpu = [_record(m, r, system="2S-SPR") for m, r in SPR.items()]
    cpu.append(_record("dlrm-99", 118000.0, system="2S-SPR-b", org="Other"))
    cpu.append(_record("resnet50", 50000.0, system="1S-other", host="Other CPU", sockets=1))
    qaic = [_record(m, r, system="8x QAIC", acc=QAIC_PRO, n_acc=8, host="AMD EPYC")
            for m, r in {"resnet50": 160000.0, "retinanet": 2000.0, "bert-99": 6000.0}.items()]
    t4 = [_record("resnet50", 4000.0, system="1x T4", acc="NVIDIA T4", n_acc=1),
          _record("dlrm-99", 24000.0, system="1x T4", acc="NVIDIA T4", n_acc=1)]
    power = [_record("dlrm-99", 2_000_000.0, org="NVIDIA", acc="NVIDIA A100-SXM-80GB", n_acc=8,
                     system="NVIDIA DGX A100 (8x A100-SXM-80GB, MaxQ, TensorRT)", power=3400.0)]
    return {"closed--all--server.json": cpu + qaic + t4,
            "closed-power--recommendation--server.json": power}


RM1 = {
    "arch_mlp_bot": "128-64-32", "arch_mlp_top": "256-64-1",
    "arch_embedding_size": "-".join(["4000000"] * 8), "arch_sparse_feature_size": 32,
    "num_indices_per_lookup": 80, "arch_interaction_op": "cat",
}


def _gavel() -> dict:
    def jobs(name: str, per_batch: dict[int, float]) -> dict:
        out = {f"('{name} (batch size {b})', 1)": {"null": s} for b, s in per_batch.items()}
        out[f"('{name} (batch size 16)', 8)"] = {"null": 1000.0}  # multi-GPU: ignored
        return out

    v100 = {**jobs("Recommendation", {512: 20.0, 8192: 3.0}),
            **jobs("ResNet-50", {64: 4.0, 128: 2.5}), **jobs("Transformer", {128: 5.0})}
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
    (root / "gavel" / "simulation_throughputs.json").write_text(json.dumps(_gavel()),
                                                                 encoding="utf-8")
    (root / "traces").mkdir()
    hours = list(range(24))
    shape = pd.DataFrame({"hour": hours, "m_small": [2.0 if h == 20 else 1.0 for h in hours],
                          "mm_image": [1.0] * 24})
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
    cfg = {"arch_mlp_bot": "4-2", "arch_mlp_top": "3-1", "arch_embedding_size": "10-20",
           "arch_sparse_feature_size": 2, "num_indices_per_lookup": 3}
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


def test_roofline_scale_takes_max_of_flop_and_byte_ratio(derive):
    s = derive.RecModelStats("m", 1.0, flops_per_item=2.4e6, bytes_per_item=26624.0, tables=1,
                             lookups_per_item=1)
    # FLOP ratio 0.5, byte ratio 2.0 vs DLRM v1 => memory-bound, half the throughput
    assert derive.roofline_scale(s) == pytest.approx(0.5)
    compute = derive.RecModelStats("c", 1.0, 9.6e6, 13312.0, 1, 1)
    assert derive.roofline_scale(compute) == pytest.approx(0.5)


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


def test_profiles_apply_the_conversions(data_dir, derive):
    tables = derive.derive(data_dir)
    prof = tables["profiles"].set_index(["model_id", "platform_id"])["qps_per_server"]
    rmc1 = derive.roofline_scale(derive.rec_model_stats(RM1, "rmc1"))
    spr_dlrm = 118000.0  # lower median of the two SPR records
    expected = spr_dlrm / derive.CPU_SPR_TO_SKYLAKE_DIVISOR["dlrm-99"][0] * 270 * rmc1
    assert prof[("rmc1", "cpu_skylake")] == pytest.approx(expected, rel=1e-3)
    assert prof[("rmc1", "cpu_haswell")] == pytest.approx(expected / 1.6, rel=1e-3)
    nnpi = derive.NNPI_M2["resnet50_per_accelerator"]
    assert prof[("resnet50", "yv2_glacier_point")] == pytest.approx(nnpi * 6, rel=1e-3)
    assert prof[("retinanet", "yv2_glacier_point")] == pytest.approx(
        2000.0 / 8 * nnpi / 20000.0 * 6, rel=1e-3)
    assert prof[("dlrm_ads", "zion")] == pytest.approx(250000.0 * 0.5 * 8 * 270, rel=1e-3)
    assert prof[("rmc_training", "zion")] == pytest.approx(3.0 * 8192 * 8, rel=1e-3)


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
    assert mlperf_rows["source"].str.contains("MLPerf Inference").all()
    for name in ("platforms", "models", "regions", "inventory", "products", "calls"):
        table = pd.read_csv(out / f"{name}.csv", keep_default_na=False)
        assert (table["source"] != "").all(), name
    assert (out / "settings.yaml").exists() and (out / "scenarios.yaml").exists()


def test_demand_matches_headline_figures(data_dir, derive):
    tables = derive.derive(data_dir)
    mean = derive.model_daily_queries(tables["products"], tables["calls"])
    ranking = [m for m in derive.RANKING_CALL_SPLIT]
    total = sum(mean[m] for m in ranking) * 86_400
    assert 200e12 <= total <= 200.5e12
    assert mean["nmt"] * 86_400 == pytest.approx(6e9)
    assert math.isclose(tables["regions"]["demand_share"].sum(), 1.0)


def test_model_to_model_calls_flow_down_the_graph(derive):
    products = pd.DataFrame({"product_id": ["p"], "daily_requests": [86_400.0],
                             "peak_to_average": [2.0]})
    calls = pd.DataFrame({"caller_id": ["p", "p", "a"], "model_id": ["a", "b", "b"],
                          "items_per_request": [2.0, 1.0, 3.0]})
    assert derive.model_daily_queries(products, calls) == {"a": 2.0, "b": 7.0}
    assert derive.model_daily_queries(products, calls, peak=True)["b"] == 14.0


def test_dr_multipliers_split_a_lost_region_over_its_backups(derive):
    regions = pd.DataFrame({"region_id": ["a", "b"], "demand_share": [0.5, 0.5]})
    topology = pd.DataFrame({"region_id": ["a", "b"], "backup_region_id": ["b", "a"]})
    mult = derive.dr_multipliers(regions, topology, util=0.7, emergency=0.9)
    assert mult["a"] == pytest.approx(max(1 / 0.7, 2 / 0.9))
