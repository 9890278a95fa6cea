"""Summaries of a sweep's results table: distributions, what moves the cost, common purchases.

:func:`sweep_report` returns tidy DataFrames; :func:`write_sweep_report` writes them with
Altair histograms (HTML) and a Markdown report into the sweep folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from planner.output import write_text_atomic
from planner.sweeps.store import read_results

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
SUMMARISED = {
    "total_cost_usd": "USD",
    "capex_usd": "USD",
    "peak_power_kw": "kW",
    "servers_purchased": "servers",
}
PLANNED = ("optimal", "feasible")
EXTREMES = 0.2  # tornado: mean cost of the lowest and highest fifth of an input's values


def planned_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Return the rows with a verified plan."""
    if results.empty or "status" not in results:
        return results
    return results[results["status"].isin(PLANNED)]


def input_columns(results: pd.DataFrame) -> list[str]:
    """Return the swept inputs' columns (``in.<path>``)."""
    return [c for c in results.columns if c.startswith("in.")]


def quantile_table(results: pd.DataFrame) -> pd.DataFrame:
    """Return quantiles and the mean of cost, capex, peak power and purchases (planned rows)."""
    ok = planned_rows(results)
    rows = []
    for col, unit in SUMMARISED.items():
        if col not in ok or ok.empty:
            continue
        values = ok[col].astype(float)
        row = {"metric": col, "unit": unit, "scenarios": len(values), "mean": values.mean()}
        row |= {f"q{round(q * 100):02d}": values.quantile(q) for q in QUANTILES}
        rows.append(row)
    return pd.DataFrame(rows)


def _numeric(series: pd.Series) -> pd.Series:
    """Return an input column as numbers (true/false as 1/0)."""
    if series.dtype == bool or set(series.dropna().unique()) <= {True, False}:
        return series.astype(float)
    return pd.to_numeric(series, errors="coerce")


def sensitivity_table(results: pd.DataFrame, metric: str = "total_cost_usd") -> pd.DataFrame:
    """Return, per input, its Spearman rank correlation with ``metric`` and a tornado swing.

    ``cost_low`` / ``cost_high`` are the mean metric over the scenarios with the input's
    lowest / highest values (its minimum and maximum on a grid of few values, else the lowest
    and highest fifth); ``swing`` is their difference. Sorted by the absolute swing.
    """
    ok = planned_rows(results)
    rows = []
    for col in input_columns(ok):
        x = _numeric(ok[col])
        y = ok[metric].astype(float)
        keep = x.notna() & y.notna()
        x, y = x[keep], y[keep]
        if x.nunique() < 2:
            continue
        rho, p_value = spearmanr(x, y)
        if x.nunique() <= 5:
            low, high = x == x.min(), x == x.max()
        else:
            low, high = x <= x.quantile(EXTREMES), x >= x.quantile(1 - EXTREMES)
        rows.append(
            {
                "input": col.removeprefix("in."),
                "spearman_rho": float(rho),
                "p_value": float(p_value),
                "input_low": float(x[low].mean()),
                "input_high": float(x[high].mean()),
                "cost_low": float(y[low].mean()),
                "cost_high": float(y[high].mean()),
                "swing": float(y[high].mean() - y[low].mean()),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "input",
            "spearman_rho",
            "p_value",
            "input_low",
            "input_high",
            "cost_low",
            "cost_high",
            "swing",
        ],
    )
    order = frame["swing"].abs().sort_values(ascending=False).index
    return frame.loc[order].reset_index(drop=True)


def purchase_frequency(results: pd.DataFrame) -> pd.DataFrame:
    """Return how often each purchase (platform, region, order quarter) appears, and how big.

    Columns: platform_id, region_id, order_quarter, share (of planned scenarios),
    scenarios, servers_mean (when bought), servers_min, servers_max.
    """
    ok = planned_rows(results)
    cols = [
        "platform_id",
        "region_id",
        "order_quarter",
        "share",
        "scenarios",
        "servers_mean",
        "servers_min",
        "servers_max",
    ]
    if ok.empty or "purchases" not in ok:
        return pd.DataFrame(columns=cols)
    orders = [(key, n) for text in ok["purchases"].dropna() for key, n in json.loads(text).items()]
    if not orders:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(orders, columns=["key", "servers"])
    parts = frame["key"].str.split("/", expand=True)
    frame["platform_id"], frame["region_id"] = parts[0], parts[1]
    frame["order_quarter"] = parts[2].str.removeprefix("q").astype(int)
    out = frame.groupby(["platform_id", "region_id", "order_quarter"])["servers"].agg(
        scenarios="count", servers_mean="mean", servers_min="min", servers_max="max"
    )
    out = out.reset_index()
    out["share"] = out["scenarios"] / len(ok)
    return out[cols].sort_values(["share", "servers_mean"], ascending=False, ignore_index=True)


def status_table(results: pd.DataFrame) -> pd.DataFrame:
    """Return scenarios per status."""
    if results.empty:
        return pd.DataFrame(columns=["status", "scenarios"])
    counts = results["status"].value_counts().rename_axis("status").reset_index(name="scenarios")
    return counts


def sweep_report(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Return the sweep's summaries: status, quantiles, sensitivity, purchase frequency."""
    return {
        "status": status_table(results),
        "quantiles": quantile_table(results),
        "sensitivity": sensitivity_table(results),
        "purchases": purchase_frequency(results),
    }


def histogram(results: pd.DataFrame, metric: str, title: str):
    """Return an Altair histogram of ``metric`` over the planned scenarios."""
    import altair as alt  # charts only: keeps ``import planner`` light

    ok = planned_rows(results)[[metric]].astype(float)
    return (
        alt.Chart(ok, title=title)
        .mark_bar()
        .encode(
            alt.X(f"{metric}:Q", bin=alt.Bin(maxbins=30), title=metric),
            alt.Y("count():Q", title="scenarios"),
        )
    )


def tornado_chart(sensitivity: pd.DataFrame):
    """Return a tornado chart: each input's mean cost at its low and high values."""
    import altair as alt

    long = sensitivity.melt(
        id_vars=["input", "swing"],
        value_vars=["cost_low", "cost_high"],
        var_name="end",
        value_name="cost_usd",
    )
    return (
        alt.Chart(long, title="What moves the cost (mean TCO at each input's extremes)")
        .mark_line(point=True)
        .encode(
            alt.X("cost_usd:Q", scale=alt.Scale(zero=False), title="TCO (USD)"),
            alt.Y("input:N", sort=list(sensitivity["input"]), title=None),
            detail="input:N",
            color="end:N",
        )
    )


def _markdown(frame: pd.DataFrame) -> str:
    from planner.text_tables import readable

    if frame.empty:
        return "(none)\n"
    shown = frame.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].map(readable)
    head = "| " + " | ".join(map(str, shown.columns)) + " |"
    sep = "|" + "---|" * len(shown.columns)
    body = ["| " + " | ".join(map(str, r)) + " |" for r in shown.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def write_sweep_report(out_dir: str | Path) -> dict[str, Path]:
    """Write the report of the sweep in ``out_dir``; return the files written by name.

    Files: ``report.md``, ``quantiles.csv``, ``sensitivity.csv``, ``purchase_frequency.csv``,
    ``cost_histogram.html``, ``power_histogram.html`` and ``tornado.html``.
    """
    out_dir = Path(out_dir)
    results = read_results(out_dir)
    tables = sweep_report(results)
    files = {
        "quantiles": out_dir / "quantiles.csv",
        "sensitivity": out_dir / "sensitivity.csv",
        "purchases": out_dir / "purchase_frequency.csv",
    }
    for name, path in files.items():
        write_text_atomic(path, tables[name].to_csv(index=False))
    if not planned_rows(results).empty:
        charts = {
            "cost_histogram": histogram(results, "total_cost_usd", "TCO over the scenarios"),
            "power_histogram": histogram(
                results, "peak_power_kw", "Peak facility power over the scenarios"
            ),
        }
        if not tables["sensitivity"].empty:
            charts["tornado"] = tornado_chart(tables["sensitivity"])
        for name, chart in charts.items():
            files[name] = out_dir / f"{name}.html"
            write_text_atomic(files[name], chart.to_html())
    failed = results[~results["status"].isin(PLANNED)] if not results.empty else results
    lines = [
        f"# Sweep report: {len(results)} scenarios\n",
        "## Status\n",
        _markdown(tables["status"]),
        "## Distribution (planned scenarios)\n",
        _markdown(tables["quantiles"]),
        "## What moves the cost\n",
        "Spearman rank correlation of each input with TCO, and the mean TCO at the "
        "input's low and high values (tornado).\n",
        _markdown(tables["sensitivity"]),
        "## How often each purchase appears\n",
        _markdown(tables["purchases"].head(30)),
    ]
    if not failed.empty:
        shown = failed[["scenario_id", "status", "message"]].copy()
        shown["message"] = shown["message"].astype(str).str.split("\n").str[0].str[:120]
        lines += ["## Failed scenarios\n", _markdown(shown)]
    files["report"] = out_dir / "report.md"
    write_text_atomic(files["report"], "\n".join(lines))
    return files
