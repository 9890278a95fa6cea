"""Small Streamlit helpers every tab of the dashboard uses: text, money, downloads, charts.

They live here, not in ``dashboard.py`` (which runs the page when imported), so that the tab
modules (``history``, ``sweeps``, ``stability``) can use them too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

_MD_SPECIALS = re.compile(r"([\\`*$\[\]<>|~#])")


def md(text: object) -> str:
    """Escape Markdown in library text (ids keep their underscores)."""
    return _MD_SPECIALS.sub(r"\\\1", str(text))


def usd(value: float) -> str:
    """Format dollars compactly, sign first (metric deltas read it): $1.23M, -$45.60k."""
    sign, value = ("-" if value < 0 else ""), abs(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{sign}${value / scale:,.2f}{unit}"
    return f"{sign}${value:,.0f}"


def show_problems(header: str, problems: list[str]) -> None:
    """Show a FleetDataError the way the CLI does: a header and one bullet per problem."""
    n = len(problems)
    st.error(
        f"**{md(header)}**: {n} problem{'s' if n != 1 else ''} found\n\n"
        + "\n".join(f"- {md(p)}" for p in problems),
        icon=":material/block:",
    )


def csv_button(label: str, frame: pd.DataFrame, file_name: str, key: str) -> None:
    """A download button for a DataFrame as CSV."""
    st.download_button(
        label,
        frame.to_csv(index=False).encode(),
        file_name=file_name,
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


@st.cache_data(show_spinner=False, max_entries=512)
def chart_spec(key: str, _build: Callable[[], Any]) -> dict[str, Any]:
    """Return the Vega-Lite spec of a chart, built and validated once per plan and chart."""
    del key
    return _build().to_dict()


def show_chart(key: str, build: Callable[[], Any], width: str = "stretch") -> None:
    """Draw an altair chart; its spec is cached under ``key`` (altair validation is slow)."""
    st.vega_lite_chart(spec=chart_spec(key, build), width=width)


def error_text(exc: BaseException) -> str:
    """One line for a planner error shown inside a tab: the message's first line."""
    text = str(exc).strip()
    return md(text.splitlines()[0] if text else type(exc).__name__)
