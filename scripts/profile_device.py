r"""Profile workloads on a machine that lacks the planner's solver packages (a GPU box, say).

``python -m planner profile`` imports the whole CLI; this driver imports only
``planner.profiler`` (numpy, pandas, pyyaml, and onnx/onnxruntime or torch), profiles each
model on its own so that one failure keeps the others' rows, and writes validated curve rows
in the same format. Per-model settings override the shared ones with ``MODEL:KEY=VALUE``
(e.g. ``--set resnet50:max_batch=16 --set resnet50:batch_timeout_ms=1``)::

    python3 scripts/profile_device.py --backend torch --device cuda --platform h200 \\
        --model rmc1 --model rmc2 --model rmc3 --model resnet50 --embedding-scale 1 \\
        --bounds 1,2,5,10,25,50,100,200 --out h200.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's planner

import pandas as pd

from planner.profiler import (
    PROFILE_CURVES,
    ProfileSettings,
    QuerySizes,
    profile_model,
    validate_curves,
)


def _write(curves: pd.DataFrame, path: str) -> None:
    """Write the rows atomically without planner.output (which imports the solver)."""
    tmp = f"{path}.tmp"
    curves[PROFILE_CURVES.column_names].to_csv(tmp, index=False)
    os.replace(tmp, path)


def _overrides(pairs: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for pair in pairs:
        target, _, value = pair.partition("=")
        model, _, key = target.partition(":")
        out.setdefault(model, {})[key] = float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    """Profile each ``--model``; write the rows that were measured; exit 1 if any failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--platform", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bounds", default="10,25,50,100,200")
    ap.add_argument("--percentiles", default="95,99")
    ap.add_argument("--embedding-scale", type=float, default=None)
    ap.add_argument("--budget-mb", type=float, default=256.0)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--sizes", default="lognormal")
    ap.add_argument("--max-batch", type=int, default=1)
    ap.add_argument("--batch-timeout-ms", type=float, default=0.0)
    ap.add_argument("--replicas-per-server", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], help="MODEL:KEY=VALUE override")
    args = ap.parse_args(argv)
    command = "python3 scripts/profile_device.py " + " ".join(argv or sys.argv[1:])
    base = ProfileSettings(
        platform_id=args.platform,
        bounds_ms=tuple(float(b) for b in args.bounds.split(",")),
        percentiles=tuple(float(p) for p in args.percentiles.split(",")),
        queries=args.queries,
        sizes=QuerySizes(args.sizes),
        max_batch=args.max_batch,
        batch_timeout_ms=args.batch_timeout_ms,
        embedding_scale=args.embedding_scale,
        budget_mb=args.budget_mb,
        replicas_per_server=args.replicas_per_server,
        command=command,
        backend=args.backend,
        device=args.device,
    )
    base.check()
    overrides = _overrides(args.set)
    frames, failed = [], 0
    for model in args.model:
        extra = overrides.get(model, {})
        settings = dataclasses.replace(
            base,
            **{k: (int(v) if k == "max_batch" else v) for k, v in extra.items()},
        )
        start = time.perf_counter()
        try:
            rows, notes = profile_model(model, settings)
        except Exception:  # keep the other models' rows; say what broke
            traceback.print_exc()
            failed += 1
            continue
        frames.append(rows)
        for line in notes:
            print(f"  {line}", flush=True)
        print(f"{model}: {len(rows)} rows in {time.perf_counter() - start:.0f} s", flush=True)
        print(rows[["latency_ms", "percentile", "qps_per_server"]].to_string(), flush=True)
        curves = validate_curves(pd.concat(frames, ignore_index=True))
        _write(curves, args.out)  # after every model: a later failure keeps these
    if not frames:
        pd.DataFrame(columns=PROFILE_CURVES.column_names).to_csv(args.out, index=False)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
