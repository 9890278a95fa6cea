"""Altair charts of plan tables. Each takes a library DataFrame as it is and only reshapes it.

Sums shown in stacked bars are done by Vega-Lite's aggregate, on the plan's own rows.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import pandas as pd

Label = Callable[[int], str]
alt.data_transformers.disable_max_rows()  # plan tables of large cases exceed altair's 5,000 rows

PERIOD = alt.X("period:O", title="Quarter", sort="ascending")
HEIGHT = 260
# Axis labels of the heatmap: Streamlit's chart theme hides labels that would overlap (every
# other one, on a dense axis) and cuts them at 100 px. The heatmap draws every label in full
# instead, with rows tall enough for its font.
LABEL_FONT_PX = 11
CHAR_PX = 7.0  # a generous average width of one character at LABEL_FONT_PX
ROW_STEP_PX = 22  # ≥ 2 × LABEL_FONT_PX: neighbouring labels never touch


def _with_period(frame: pd.DataFrame, label: Label, column: str = "quarter") -> pd.DataFrame:
    """Return ``frame`` with a ``period`` column holding calendar labels of ``column``."""
    return frame.assign(period=[label(int(q)) for q in frame[column]])


def _empty(message: str) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame({"text": [message]}))
        .mark_text(size=14)
        .encode(text="text:N")
        .properties(height=60)
    )


def stacked_servers(
    frame: pd.DataFrame, label: Label, value: str, color: str, title: str
) -> alt.Chart:
    """Stacked bars of ``value`` per quarter, coloured by ``color`` (``plan.by(...)`` rows)."""
    if frame.empty:
        return _empty("no servers")
    data = _with_period(frame, label)
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=PERIOD,
            y=alt.Y(f"sum({value}):Q", title="servers"),
            color=alt.Color(f"{color}:N", title=color.replace("_", " ")),
            tooltip=[
                "period",
                color,
                alt.Tooltip(f"sum({value}):Q", title="servers", format=",.0f"),
            ],
        )
        .properties(height=HEIGHT)
    )


def purchases(frame: pd.DataFrame, label: Label) -> alt.Chart:
    """Servers bought per order quarter, stacked by platform class (``plan.purchases``)."""
    if frame.empty:
        return _empty("no purchases: the installed fleet suffices")
    data = _with_period(frame, label, "order_quarter")
    return (
        alt.Chart(data, title="Servers purchased by order quarter")
        .mark_bar()
        .encode(
            x=PERIOD,
            y=alt.Y("sum(servers):Q", title="servers ordered"),
            color=alt.Color("platform_class:N", title="platform class"),
            tooltip=[
                "period",
                "platform_id",
                "region_id",
                "servers",
                alt.Tooltip("capex_usd:Q", format="$,.0f"),
            ],
        )
        .properties(height=HEIGHT)
    )


def power_vs_cap(frame: pd.DataFrame, label: Label) -> alt.FacetChart | alt.Chart:
    """Facility power per region and quarter (bars) against the region's cap (red line)."""
    if frame.empty:
        return _empty("no power data")
    data = _with_period(frame, label)
    base = alt.Chart(data).encode(x=PERIOD)
    bars = base.mark_bar(color="#4c78a8").encode(
        y=alt.Y("power_kw:Q", title="facility power (kW)"),
        tooltip=[
            "region_id",
            "period",
            alt.Tooltip("power_kw:Q", format=",.1f"),
            alt.Tooltip("cap_kw:Q", format=",.1f"),
            alt.Tooltip("headroom_kw:Q", format=",.1f"),
        ],
    )
    cap = base.mark_line(color="#e45756", strokeDash=[6, 3], point=True).encode(
        y="cap_kw:Q", tooltip=["region_id", "period", alt.Tooltip("cap_kw:Q", format=",.1f")]
    )
    return (
        alt.layer(bars, cap)
        .properties(width=220, height=220)
        .facet(column=alt.Column("region_id:N", title="region"))
        .properties(title="Facility power by region (bars) against the cap (dashed)")
    )


def tco_breakdown(frame: pd.DataFrame, label: Label) -> alt.Chart:
    """Capex, energy and maintenance per quarter, stacked (``plan.costs``)."""
    if frame.empty:
        return _empty("no costs")
    parts = ["capex_usd", "energy_usd", "maintenance_usd"]
    data = _with_period(frame, label).melt(
        id_vars=["period", "platform_id", "region_id"],
        value_vars=parts,
        var_name="cost",
        value_name="usd",
    )
    data["cost"] = data["cost"].str.removesuffix("_usd")
    return (
        alt.Chart(data, title="Cost of ownership by quarter")
        .mark_bar()
        .encode(
            x=PERIOD,
            y=alt.Y("sum(usd):Q", title="USD", axis=alt.Axis(format="$,.2s")),
            color=alt.Color("cost:N", title="cost", sort=["capex", "energy", "maintenance"]),
            tooltip=["period", "cost", alt.Tooltip("sum(usd):Q", title="USD", format="$,.0f")],
        )
        .properties(height=HEIGHT)
    )


def label_limit_px(labels: pd.Series) -> int:
    """Return an axis label limit (px) wide enough for the longest of ``labels``."""
    longest = max((len(str(v)) for v in labels.unique()), default=0)
    return int(CHAR_PX * longest) + 8


def full_labels(labels: pd.Series, **axis: object) -> alt.Axis:
    """An axis that shows every one of ``labels`` uncut (no overlap culling, no 100 px limit)."""
    return alt.Axis(
        labelOverlap=False,
        labelLimit=label_limit_px(labels),
        labelFontSize=LABEL_FONT_PX,
        **axis,
    )


def utilisation_heatmap(frame: pd.DataFrame, rows: str = "model_id") -> alt.LayerChart | alt.Chart:
    """Utilisation over the horizon, ``rows`` (model_id or bucket) × platform.

    Utilisation is served over latency-bounded capacity, summed by Vega-Lite over the plan's
    allocation rows (regions and quarters). Every row and platform label is drawn in full.
    """
    if frame.empty:
        return _empty("nothing allocated")
    n = frame[rows].nunique()
    what = "model" if rows == "model_id" else rows
    base = (
        alt.Chart(frame, title=f"Utilisation (served / capacity), {what} × platform")
        .transform_aggregate(
            served="sum(served_qps)",
            capacity="sum(capacity_qps)",
            servers="sum(servers)",
            groupby=[rows, "platform_id"],
        )
        .transform_calculate(utilisation="datum.served / datum.capacity")
        .encode(
            x=alt.X(
                "platform_id:N",
                title="platform",
                axis=full_labels(frame["platform_id"], labelAngle=-35),
            ),
            y=alt.Y(f"{rows}:N", title=what, axis=full_labels(frame[rows])),
        )
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            "utilisation:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="utilisation"
        ),
        tooltip=[
            rows,
            "platform_id",
            alt.Tooltip("utilisation:Q", format=".0%"),
            alt.Tooltip("servers:Q", title="server-quarters", format=",.0f"),
        ],
    )
    layers = [rect]
    if n <= 40:  # labels stay legible
        layers.append(
            base.mark_text(fontSize=11).encode(
                text=alt.Text("utilisation:Q", format=".0%"),
                color=alt.condition(
                    "datum.utilisation > 0.6", alt.value("white"), alt.value("black")
                ),
            )
        )
    # A step per row: Streamlit sizes layered charts from the step, not from a fixed height.
    return alt.layer(*layers).properties(height=alt.Step(34 if n <= 12 else ROW_STEP_PX))


def compare_totals(frame: pd.DataFrame, scenarios: list[str]) -> alt.Chart:
    """Grouped bars of the cost totals of several plans (``compare_plans(...)["Totals"]``)."""
    rows = [r for r in ("total_cost_usd", "capex_usd", "energy_usd") if r in frame.index]
    data = (
        frame.loc[rows, scenarios]
        .reset_index(names="measure")
        .melt(id_vars="measure", var_name="scenario", value_name="usd")
    )
    return (
        alt.Chart(data, title="Cost by scenario")
        .mark_bar()
        .encode(
            x=alt.X("scenario:N", title=None, sort=scenarios),
            y=alt.Y("usd:Q", title="USD", axis=alt.Axis(format="$,.2s")),
            color=alt.Color("scenario:N", sort=scenarios, legend=None),
            column=alt.Column("measure:N", title=None, sort=rows),
            tooltip=["scenario", "measure", alt.Tooltip("usd:Q", format="$,.0f")],
        )
        .properties(width=160, height=220)
    )


def compare_breakdown(
    frame: pd.DataFrame, scenarios: list[str], title: str, what: str
) -> alt.Chart:
    """Stacked bars: one bar per scenario, stacked by the table's index (e.g. platform class)."""
    data = (
        frame[scenarios]
        .reset_index(names=what)
        .melt(id_vars=what, var_name="scenario", value_name="value")
    )
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(
            x=alt.X("scenario:N", title=None, sort=scenarios),
            y=alt.Y("value:Q", title=None),
            color=alt.Color(f"{what}:N"),
            tooltip=["scenario", what, alt.Tooltip("value:Q", format=",.0f")],
        )
        .properties(height=HEIGHT)
    )


def frontier(frame: pd.DataFrame) -> alt.LayerChart:
    """The cost–power frontier: TCO against peak facility power."""
    base = alt.Chart(frame, title="Cost–power frontier").encode(
        x=alt.X("power_kw:Q", title="peak facility power (kW)", scale=alt.Scale(zero=False)),
        y=alt.Y(
            "tco_usd:Q",
            title="TCO (USD)",
            scale=alt.Scale(zero=False),
            axis=alt.Axis(format="$,.3s"),
        ),
        tooltip=[
            alt.Tooltip(c, format=",.1f") if pd.api.types.is_numeric_dtype(frame[c]) else c
            for c in frame.columns
        ],
    )
    return (base.mark_line(color="#4c78a8") + base.mark_point(filled=True, size=70)).properties(
        height=HEIGHT
    )


def savings_by_bucket(frame: pd.DataFrame) -> alt.Chart:
    """Savings of the optimised plan per bucket against each baseline (grouped bars)."""
    if frame.empty:
        return _empty("no buckets")
    return (
        alt.Chart(frame, title="Savings per bucket against each baseline")
        .mark_bar()
        .encode(
            x=alt.X("bucket:N", title=None),
            xOffset="baseline:N",
            y=alt.Y("savings_usd:Q", title="savings (USD)", axis=alt.Axis(format="$,.2s")),
            color=alt.Color("baseline:N"),
            tooltip=["bucket", "baseline", alt.Tooltip("savings_usd:Q", format="$,.0f")]
            + (
                [alt.Tooltip("savings_pct:Q", format=".1f", title="savings %")]
                if "savings_pct" in frame.columns
                else []
            ),
        )
        .properties(height=HEIGHT)
    )


def shadow_prices(frame: pd.DataFrame) -> alt.Chart:
    """Shadow prices of binding rows, one bar per plain-words description, coloured by unit."""
    color = "unit:N" if "unit" in frame.columns else alt.value("#4c78a8")
    return (
        alt.Chart(frame, title="What one more unit of each binding limit is worth")
        .mark_bar()
        .encode(
            y=alt.Y("description:N", title=None, sort=None, axis=alt.Axis(labelLimit=480)),
            x=alt.X("shadow_price:Q", title="shadow price"),
            color=color,
            tooltip=["description", alt.Tooltip("shadow_price:Q", format=",.4g")]
            + (["unit"] if "unit" in frame.columns else []),
        )
        .properties(height=max(120, 24 * len(frame)))
    )


def progress_spec(frame: pd.DataFrame, unit: str = "USD") -> dict:
    """Vega-Lite spec: best plan and bound over the seconds of a solve (``progress_frame``).

    A plain dict, not altair: the live view redraws it several times a second.
    """
    rows = [
        {
            "seconds": float(r["seconds"]),
            "series": series,
            "value": float(r[column]),
            "stage": r["stage"],
        }
        for r in frame.to_dict("records")
        for series, column in (("best plan", "best plan"), ("bound", "bound"))
        if r[column] is not None and not pd.isna(r[column])
    ]
    axis = {"format": "$,.4s"} if unit == "USD" else {"format": ",.4~s"}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Best plan and bound during the solve",
        "height": 180,
        "data": {"values": rows},
        "mark": {"type": "line", "point": True, "interpolate": "step-after"},
        "encoding": {
            "x": {"field": "seconds", "type": "quantitative", "title": "seconds"},
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": unit,
                "scale": {"zero": False},
                "axis": axis,
            },
            "color": {
                "field": "series",
                "type": "nominal",
                "title": None,
                "scale": {"domain": ["best plan", "bound"], "range": ["#4c78a8", "#e45756"]},
            },
            "tooltip": [
                {"field": "stage"},
                {"field": "series"},
                {"field": "seconds", "format": ".2f"},
                {"field": "value", "format": ",.0f"},
            ],
        },
    }


def sweep_histogram(frame: pd.DataFrame, metric: str, title: str, unit: str) -> alt.Chart:
    """Histogram of one metric of a sweep's planned scenarios (one row per scenario)."""
    if frame.empty:
        return _empty("No planned scenarios")
    return (
        alt.Chart(frame[[metric]].astype(float), title=title)
        .mark_bar()
        .encode(
            alt.X(f"{metric}:Q", bin=alt.Bin(maxbins=30), title=f"{metric} ({unit})"),
            alt.Y("count():Q", title="scenarios"),
        )
        .properties(height=HEIGHT)
    )


def tornado(frame: pd.DataFrame) -> alt.LayerChart | alt.Chart:
    """Tornado chart of ``pl.sweep_report``'s sensitivity table.

    Mean TCO at each input's low and high values, the widest swing on top.
    """
    if frame.empty:
        return _empty("No input varies over the planned scenarios")
    order = list(frame["input"])
    long = frame.melt(
        id_vars=["input", "swing", "spearman_rho"],
        value_vars=["cost_low", "cost_high"],
        var_name="end",
        value_name="tco_usd",
    ).replace({"end": {"cost_low": "input low", "cost_high": "input high"}})
    y = alt.Y("input:N", sort=order, title=None, axis=full_labels(frame["input"]))
    rule = (
        alt.Chart(frame)
        .mark_rule(strokeWidth=6, opacity=0.35)
        .encode(y, alt.X("cost_low:Q", scale=alt.Scale(zero=False)), x2="cost_high:Q")
    )
    points = (
        alt.Chart(long)
        .mark_point(filled=True, size=90)
        .encode(
            y,
            alt.X("tco_usd:Q", scale=alt.Scale(zero=False), title="mean TCO (USD)"),
            alt.Color(
                "end:N",
                title=None,
                sort=["input low", "input high"],
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["input", "end", alt.Tooltip("tco_usd:Q", format=",.0f"), "spearman_rho"],
        )
    )
    return (rule + points).properties(
        title="What moves the cost (mean TCO at each input's low and high values)",
        height=max(120, ROW_STEP_PX * len(order)),
    )
