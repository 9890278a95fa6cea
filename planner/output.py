"""Writing plans to disk atomically, and the human-readable plan report."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from planner.compare import bound_usd
from planner.fleet import Fleet
from planner.results import Plan

FORMATS = ("csv", "parquet", "json")


def write_plan(
    plan: Plan,
    out_dir: str | Path,
    fleet: Fleet,
    formats: Iterable[str] = ("csv",),
    extra: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write the plan's tables, ``summary.json`` and ``report.md`` into ``out_dir``.

    Everything is written into a temporary sibling folder first and then renamed into place,
    so a killed run never leaves a half-written plan; an existing ``out_dir`` is replaced.
    """
    out = Path(out_dir)
    with staged_folder(out) as tmp:
        tables = plan.tables() | (extra or {})
        for name, frame in tables.items():
            for fmt in formats:
                _write_frame(frame, tmp / f"{name}.{fmt}", fmt)
        (tmp / "summary.json").write_text(
            json.dumps(_jsonable(plan.summary), indent=2) + "\n", encoding="utf-8"
        )
        (tmp / "report.md").write_text(plan_report(plan, fleet), encoding="utf-8")
    return out


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; on success it replaces ``out`` whole.

    A failure (or a kill) inside the block removes the temporary folder and leaves any
    previous ``out`` as it was, so no reader ever sees a half-written folder.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``; the old folder is removed only after the new one is complete."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)  # put the previous complete plan back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "json":
        frame.to_json(path, orient="records", indent=1)
    else:
        raise ValueError(f"unknown format {fmt}; use {', '.join(FORMATS)}")


def _jsonable(data: object) -> object:
    if isinstance(data, dict):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_jsonable(v) for v in data]
    if hasattr(data, "item"):
        return data.item()
    return data


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plan_report(plan: Plan, fleet: Fleet) -> str:
    """Return a Markdown report of the plan: status, cost, what to buy, fleet and power."""
    s = plan.summary
    label = fleet.settings.quarter_label
    lines = [
        f"# Capacity plan: {s.get('case')}"
        + (f" (scenario {s['scenario']})" if s.get("scenario") else ""),
        "",
        f"- Status: **{s.get('status')}** ({s.get('solver')}, gap {_pct(s.get('gap'))}); "
        f"verified: {s.get('verified')}",
        *_proof_lines(s),
        f"- Objective: {s.get('objective')}; horizon {s.get('horizon_quarters')} quarters from "
        f"{fleet.settings.first_quarter}",
        f"- Total cost of ownership: {s.get('total_cost_usd', 0):,.0f} USD (capex "
        f"{s.get('capex_usd', 0):,.0f}, energy {s.get('energy_usd', 0):,.0f}, maintenance "
        f"{s.get('maintenance_usd', 0):,.0f})",
        f"- Servers to buy: {s.get('servers_purchased', 0):,}; peak facility power "
        f"{s.get('peak_power_kw', 0):,.0f} kW",
        f"- Model built in {s.get('build_seconds', 0):.2f} s, solved in "
        f"{s.get('solve_seconds', 0):.2f} s",
        "",
    ]
    lines += _stages_table(s)
    lines += ["## Purchases", ""]
    if plan.purchases.empty:
        lines.append("No purchases: the existing fleet serves the horizon.")
    else:
        buy = plan.purchases.groupby(
            ["platform_id", "region_id", "order_quarter", "arrival_quarter"], as_index=False
        )["servers"].sum()
        lines += ["| platform | region | order | in service | servers |", "|---|---|---|---|---|"]
        lines += [
            f"| {b.platform_id} | {b.region_id} | {label(b.order_quarter)} | "
            f"{label(b.arrival_quarter)} | {int(b.servers):,} |"
            for b in buy.itertuples(index=False)
        ]
    lines += ["", "## Servers in service by platform class and quarter", ""]
    by_class = plan.fleet.pivot_table(
        index="platform_class",
        columns="quarter",
        values="in_service_servers",
        aggfunc="sum",
        fill_value=0,
    )
    lines += _markdown_table(by_class.rename(columns=label))
    lines += ["", "## Servers by bucket and quarter", ""]
    by_bucket = plan.allocation.pivot_table(
        index="bucket", columns="quarter", values="servers", aggfunc="sum", fill_value=0
    )
    lines += _markdown_table(by_bucket.rename(columns=label))
    lines += ["", "## Facility power against caps (kW)", ""]
    power = plan.power.assign(q=plan.power["quarter"].map(label))
    lines += ["| region | quarter | power | cap | headroom |", "|---|---|---|---|---|"]
    lines += [
        f"| {p.region_id} | {p.q} | {p.power_kw:,.0f} | {p.cap_kw:,.0f} | {p.headroom_kw:,.0f} |"
        for p in power.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def _pct(gap: object) -> str:
    """Return a relative gap as a percentage, or n/a when the solver gave none."""
    if gap is None or (isinstance(gap, float) and gap != gap):  # None or NaN
        return "n/a"
    return f"{100 * float(gap):.3f} %"  # type: ignore[arg-type]


def _kusd(value: object) -> str:
    """Return an objective value or bound (kUSD, the model's units) in USD, or n/a."""
    return "n/a" if value is None else f"{1e3 * float(value):,.0f} USD"  # type: ignore[arg-type]


def _proof_lines(s: dict) -> list[str]:
    """Return the report's lines on how good the plan is: bound, first plan, why it stopped.

    A reader deciding on a plan needs to know how far from the best plan it may be; USD
    only for the tco objective, whose bound is a cost (other objectives' are not).
    """
    lines = []
    if s.get("objective", "tco") == "tco":
        bound = bound_usd(s, s.get("total_cost_usd"))
        line = f"- Best bound: {'n/a' if bound is None else f'{bound:,.0f} USD'}"
        if s.get("lp_bound") is not None:
            line += f" (LP relaxation {_kusd(s['lp_bound'])})"
        lines.append(line)
    elif s.get("best_bound") is not None:
        lines.append(f"- Best bound on the {s.get('objective')} objective: {s['best_bound']:,.4g}")
    if s.get("first_plan_seconds") is not None:
        first = s.get("first_plan_objective")
        lines.append(
            f"- First plan after {s['first_plan_seconds']:.2f} s"
            + (f", {_kusd(first)}" if first is not None and s.get("objective") == "tco" else "")
            + f", gap {_pct(s.get('first_plan_gap'))} against the best bound"
        )
    if s.get("stopped"):
        why = {"gap": "the gap target was reached", "time": "the time limit ran out",
               "cancelled": "it was cancelled", "exhausted": "every stage had run"}
        lines.append(f"- Stopped because {why.get(s['stopped'], s['stopped'])}")
    return lines


def _stages_table(s: dict) -> list[str]:
    """Return the anytime path's stages as a Markdown section (empty for CBC plans)."""
    stages = s.get("stages") or []
    if not stages:
        return []
    lines = ["## Solver stages", "", "| stage | seconds | objective | bound | gap |",
             "|---|---|---|---|---|"]
    for st in stages:
        objective = "–" if st.get("objective") is None else f"{st['objective']:,.3f}"
        bound = "–" if st.get("bound") is None else f"{st['bound']:,.3f}"
        lines.append(f"| {st.get('stage')} | {st.get('seconds', 0):.3f} | {objective} | "
                     f"{bound} | {_pct(st.get('gap'))} |")
    units = "kUSD" if s.get("objective", "tco") == "tco" else "the model's scaled units"
    return [*lines, "", f"Objective and bound in {units}.", ""]


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    cols = [str(c) for c in frame.columns]
    out = ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for idx, row in frame.iterrows():
        out.append(f"| {idx} | " + " | ".join(f"{v:,.0f}" for v in row.values) + " |")
    return out
