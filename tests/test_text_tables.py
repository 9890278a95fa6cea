"""The terminal table formatter: numbers rounded by what their labels say they count."""

from __future__ import annotations

import math

import pandas as pd

from planner.text_tables import format_frame, readable


def test_money_and_counts_whole_gaps_as_percent_other_numbers_to_a_tenth():
    frame = pd.DataFrame(
        {
            "difference_usd": [-4_197_297.4],
            "combined_gaps_usd": [159_370.6],  # money, although the label says gaps
            "gap": [0.0049],
            "first_plan_gap": [0.02],
            "peak_power_kw": [6_322.44],
            "note": [None],  # text column: blank, not NaN
            "verified": [True],
        },
        index=["asic_2x - base"],
    )
    cells = format_frame(frame).splitlines()[1].split()
    assert cells[-8:] == ["-4,197,297", "159,371", "0.49", "%", "2.00", "%", "6,322.4", "True"]


def test_row_labels_and_the_title_decide_too():
    totals = pd.DataFrame({"a": [9_628_924.6, 0.0037, 6_322.39]},
                          index=["total_cost_usd", "gap", "peak_power_kw"])
    text = format_frame(totals)
    assert "9,628,925" in text and "0.37 %" in text and "6,322.4" in text
    assert "6,322" in format_frame(pd.DataFrame({"x": [6_322.39]}), context="Servers by region")
    assert "6,322.4" not in format_frame(pd.DataFrame({"x": [6_322.39]}), context="Servers")


def test_readable_never_prints_scientific_notation_for_large_numbers():
    assert readable(11_609_127.3) == "11,609,127"
    assert readable(249.87) == "249.9" and readable(0.2143) == "0.2143"
    assert readable(math.nan) == ""
