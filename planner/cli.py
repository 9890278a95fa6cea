"""The batch command line: ``python -m planner check|plan|compare|explain|frontier|reference``.

Exit codes: 0 success, 2 usage error, 3 invalid input data, 4 infeasible or no plan within
limits. Data goes to stdout or files; progress and messages go to stderr. ``--debug`` shows
tracebacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from planner.errors import FleetDataError, InfeasiblePlanError, PlannerError
from planner.fleet import Fleet, load_fleet
from planner.scenarios import Scenario, load_scenarios

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Capacity planner for heterogeneous ML datacenter fleets.",
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False, width=200)

CaseArg = Annotated[Path, typer.Argument(help="Folder of a fleet case, e.g. fleet_data/default.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
SolverOpt = Annotated[
    str | None, typer.Option(help="MIP solver: highs or cbc (default: settings).")
]
TimeOpt = Annotated[float | None, typer.Option("--time-limit", help="Solver time limit in s.")]
GapOpt = Annotated[float | None, typer.Option("--gap", help="Relative MIP gap, e.g. 0.001.")]
ThreadsOpt = Annotated[int | None, typer.Option(help="Solver threads.")]


def _run(debug: bool, action: Callable[[], None]) -> None:
    """Run ``action``, turning planner errors into messages and exit codes."""
    try:
        action()
    except PlannerError as exc:
        if debug:
            raise
        err.print("error:", style="bold red", end=" ")
        err.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted; no output was written")
        raise typer.Exit(130) from None


def _load(case: Path) -> Fleet:
    with err.status(f"loading {case}"):
        return load_fleet(case)


def _scenario(case: Path, name: str | None) -> Scenario | None:
    if name is None:
        return None
    scenarios = load_scenarios(case)
    if name not in scenarios:
        raise FleetDataError(
            [
                f"scenarios.yaml: no scenario '{name}'. Fix: use one of "
                f"{', '.join(scenarios) or '(none defined)'}"
            ],
            header=f"Unknown scenario in {case}",
        )
    return scenarios[name]


def _print_frame(title: str, frame: pd.DataFrame) -> None:
    out.print(f"\n{title}")
    out.print(frame.to_string(float_format=lambda v: f"{v:,.1f}"))


@app.command()
def check(case: CaseArg, debug: DebugOpt = False) -> None:
    """Validate a fleet case and print a short summary (exit 3 on invalid data)."""
    from planner.describe import coverage, demand_by_bucket, table_rows

    def action() -> None:
        fleet = _load(case)
        out.print(f"{case}: valid fleet case '{fleet.name}'")
        _print_frame("Rows per table:", table_rows(fleet).set_index("file"))
        _print_frame("Peak demand (queries/s) by bucket and quarter:", demand_by_bucket(fleet))
        cov = coverage(fleet)
        _print_frame(
            "Model-platform coverage (latency-bounded qps per server; blank = cannot run):",
            cov.map(lambda v: "" if pd.isna(v) else f"{v:,.0f}"),
        )

    _run(debug, action)


@app.command()
def plan(
    case: CaseArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the plan tables.")] = Path(
        "plans/default"
    ),
    scenario: Annotated[str | None, typer.Option(help="Scenario name from scenarios.yaml.")] = None,
    fmt: Annotated[
        list[str] | None, typer.Option("--format", help="csv (default), parquet, json; repeat.")
    ] = None,
    solver: SolverOpt = None,
    time_limit: TimeOpt = None,
    gap: GapOpt = None,
    threads: ThreadsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Plan a fleet case, verify the plan and write its tables, summary.json and report.md."""
    from planner.output import FORMATS, write_plan
    from planner.pipeline import make_plan

    fmt = fmt or ["csv"]
    bad = [f for f in fmt if f not in FORMATS]
    if bad:
        err.print(f"error: unknown --format {', '.join(bad)}; use {', '.join(FORMATS)}")
        raise typer.Exit(2)

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        opts = {"solver": solver, "time_limit_s": time_limit, "mip_gap": gap, "threads": threads}
        try:
            with err.status("planning"):
                result = make_plan(fleet, chosen, **opts)
        except InfeasiblePlanError as exc:
            if isinstance(exc.explanation, pd.DataFrame) and not exc.explanation.empty:
                from planner.output import write_text_atomic

                path = out_dir.with_name(out_dir.name + "_infeasible.csv")
                write_text_atomic(path, exc.explanation.to_csv(index=False))
                err.print(f"shortfalls written to {path}")
            raise
        write_plan(result, out_dir, fleet, formats=fmt)
        s = result.summary
        err.print(f"[green]{s['status']}[/] plan, verified, written to {out_dir}", markup=True)
        out.print(
            json.dumps(
                {
                    k: s[k]
                    for k in (
                        "status",
                        "total_cost_usd",
                        "gap",
                        "servers_purchased",
                        "peak_power_kw",
                    )
                }
            )
        )

    _run(debug, action)


@app.command()
def compare(
    case: CaseArg,
    scenario: Annotated[
        list[str], typer.Option(help="Scenario names (repeat); 'base' is the case itself.")
    ],
    solver: SolverOpt = None,
    time_limit: TimeOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Plan several scenarios and print side by side what changes."""
    from planner.compare import compare_plans
    from planner.pipeline import make_plan

    def action() -> None:
        fleet = _load(case)
        plans = {}
        for name in scenario:
            chosen = None if name == "base" else _scenario(case, name)
            with err.status(f"planning {name}"):
                plans[name] = make_plan(fleet, chosen, solver=solver, time_limit_s=time_limit)
        for title, frame in compare_plans(plans).items():
            _print_frame(title, frame)

    _run(debug, action)


@app.command()
def explain(
    case: CaseArg,
    scenario: Annotated[str | None, typer.Option(help="Scenario name from scenarios.yaml.")] = None,
    top: Annotated[int, typer.Option(help="How many binding constraints to list.")] = 15,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Also write savings/shadow prices/binding CSVs.")
    ] = None,
    solver: SolverOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Explain a plan: savings versus baselines, binding constraints and their shadow prices."""
    from planner.baselines import compare_to_baselines
    from planner.output import write_plan
    from planner.pipeline import make_plan
    from planner.scenarios import apply_scenario

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        with err.status("planning"):
            result = make_plan(fleet, chosen, solver=solver, insight=True)
        planned = apply_scenario(fleet, chosen) if chosen else fleet
        with err.status("planning baselines"):
            savings = compare_to_baselines(planned, result)
        binding = result.insight["binding"].head(top)
        out.print(f"Plan: {result.summary['status']}, TCO {result.total_cost_usd:,.0f} USD, "
                  f"verified {result.summary['verified']}")
        _print_frame("Savings of the optimised plan versus baselines:", savings)
        out.print(f"\nTop {len(binding)} binding constraints (marginal values around the fixed "
                  "integer plan):")
        for line in binding["description"]:
            out.print(f"  - {line}", markup=False)
        if out_dir is not None:
            extra = {"savings": savings, "shadow_prices": result.insight["shadow_prices"],
                     "binding": result.insight["binding"]}
            write_plan(result, out_dir, planned, extra=extra)
            err.print(f"written to {out_dir}")

    _run(debug, action)


@app.command()
def frontier(
    case: CaseArg,
    scenario: Annotated[str | None, typer.Option(help="Scenario name from scenarios.yaml.")] = None,
    points: Annotated[int, typer.Option(help="Points on the frontier.")] = 6,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the frontier CSV.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Trace the cost–power Pareto frontier (epsilon-constraint sweep of verified plans)."""
    from planner.frontier import cost_power_frontier
    from planner.output import write_text_atomic
    from planner.scenarios import apply_scenario

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        planned = apply_scenario(fleet, chosen) if chosen else fleet
        with err.status("tracing the frontier"):
            table = cost_power_frontier(planned, points=points)
        _print_frame("Cost-power frontier:", table)
        if out_file is not None:
            write_text_atomic(out_file, table.to_csv(index=False))

    _run(debug, action)


@app.command()
def reference(
    write: Annotated[
        Path | None,
        typer.Option(help="Rewrite the data reference at the end of this Markdown file."),
    ] = None,
) -> None:
    """Print (or write) the data reference generated from the schema."""
    from planner.output import write_text_atomic
    from planner.schema import data_reference_markdown

    text = data_reference_markdown()
    if write is None:
        out.print(text, markup=False)
        return
    marker = "<!-- DATA REFERENCE -->"
    current = write.read_text(encoding="utf-8") if write.exists() else ""
    head = current.split(marker)[0].rstrip() + "\n\n" if current else ""
    write_text_atomic(write, f"{head}{marker}\n\n{text}")
    err.print(f"data reference written to {write}")


def main() -> None:
    """Entry point of ``python -m planner``."""
    try:
        app()
    except SystemExit as exc:
        # click's usage errors already exit 2; keep any other code as is
        sys.exit(exc.code)
