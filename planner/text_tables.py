"""Tables as text for the terminal: numbers rounded by what they count.

Counts and money print whole (servers, replicas, USD), gaps as percentages, other numbers
(kW, qps, ms) to 0.1, and a missing text value as blank. The CLI's commands all print
through :func:`format_frame`, so one rule holds everywhere.
"""

from __future__ import annotations

import re

import pandas as pd

WHOLE_LABELS = ("server", "replica", "usd", "cost", "tco", "capex", "opex", "moves", "rows")
PERCENT_LABELS = ("gap",)  # a relative gap; "combined_gaps_usd" is money, not a share


def _label_has(label: object, words: tuple[str, ...]) -> bool:
    text = " ".join(map(str, label)) if isinstance(label, tuple) else str(label)
    return any(word in text.lower() for word in words)


def _percent(label: object) -> bool:
    text = " ".join(map(str, label)) if isinstance(label, tuple) else str(label)
    words = set(re.split(r"[^a-z0-9]+", text.lower()))
    return bool(words & set(PERCENT_LABELS)) and not words & {"usd", "kw", "servers"}


def whole(label: object) -> bool:
    """Return whether a row, column or title label counts something printed whole."""
    return _label_has(label, WHOLE_LABELS)


def _number(value: float, whole_number: bool, percent: bool) -> str:
    if percent:
        return f"{100 * value:.2f} %"
    return f"{value:,.{0 if whole_number else 1}f}"


def format_frame(frame: pd.DataFrame, context: str = "", index: bool = True) -> str:
    """Return ``frame`` as text, numbers rounded by the labels of their row, column or context.

    A row or column labelled as a gap prints as a percentage; a missing value prints blank in
    a column of text (no scenario, no note) and as NaN in a column of numbers.
    """
    whole_table = whole(context)
    shown = frame.astype(object).copy()
    # by position: labels may repeat (e.g. several cells of one model)
    for j, col in enumerate(frame.columns):
        numeric = pd.api.types.is_numeric_dtype(frame.dtypes.iloc[j])
        for i, row in enumerate(frame.index):
            value = frame.iat[i, j]
            if isinstance(value, bool | str):
                continue
            if value is None or (not isinstance(value, pd.Timestamp) and pd.isna(value)):
                shown.iat[i, j] = "NaN" if numeric else ""
            elif isinstance(value, float):
                percent = _percent(col) or _percent(row)
                shown.iat[i, j] = _number(value, whole_table or whole(col) or whole(row), percent)
    return shown.to_string(index=index)


def readable(value: float) -> str:
    """Return a number for a summary table: whole with separators from 1,000, else 4 digits.

    ``f"{v:.4g}"`` alone prints 11,610,000 USD as ``1.161e+07``.
    """
    if pd.isna(value):
        return ""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"
