"""The batch command line: ``python -m planner COMMAND``, one command per planner task.

Commands: check, plan, compare, explain, frontier, sensitivity, synthetic and reference.

Every command that plans says how good each plan is: its solver status (``optimal`` only when
proven within the gap), gap and best bound, and where two plans are compared, whether their
difference is within their gaps (then it may be solver slack, not an effect).

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
    out.print(frame.to_string(float_format=lambda v: f"{v:,.1f}"), markup=False)


def _pct(gap: object) -> str:
    """Return a relative gap as a percentage, or n/a when unknown."""
    if gap is None or (isinstance(gap, float) and pd.isna(gap)):
        return "n/a"
    return f"{100 * float(gap):.3f} %"  # type: ignore[arg-type]


def _usd(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    return f"{float(value):,.0f} USD"  # type: ignore[arg-type]


def _plan_line(summary: dict) -> str:
    """Return one line on how good a plan is: status, gap, bound and the first plan's."""
    from planner.compare import bound_usd

    line = f"{summary.get('status')}, gap {_pct(summary.get('gap'))}"
    bound = bound_usd(summary, summary.get("total_cost_usd"))
    if bound is not None:
        line += f", best bound {_usd(bound)}"
    if summary.get("first_plan_seconds") is not None:
        line += (
            f"; first plan in {summary['first_plan_seconds']:.2f} s at gap "
            f"{_pct(summary.get('first_plan_gap'))}"
        )
    if summary.get("stopped"):
        line += f"; stopped on {summary['stopped']}"
    return line


def _print_gap_table(title: str, frame: pd.DataFrame) -> None:
    """Print a frontier or sweep with gaps as percentages (a plain float format shows 0.0)."""
    shown = frame.copy()
    if "gap" in shown:
        shown["gap"] = shown["gap"].map(_pct)
    if "within_gaps_of_previous" in shown:
        shown = shown.drop(columns=["within_gaps_of_previous"])  # the note says it in words
    _print_frame(title, shown)


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
        err.print(f"  {_plan_line(s)}", markup=False, soft_wrap=True)
        keys = ("status", "total_cost_usd", "gap", "first_plan_seconds",
                "first_plan_gap", "stopped", "servers_purchased", "peak_power_kw")
        # summary keys of the anytime path only (first plan, stopped) are left out for CBC
        line = {k: s[k] for k in keys if k in s}
        # the bound in USD like the cost (the summary keeps the solver's kUSD objective units)
        from planner.compare import bound_usd

        line["best_bound_usd"] = bound_usd(s, s.get("total_cost_usd"))
        # one line, never wrapped: scripts parse the last line of stdout as JSON
        out.print(json.dumps(line), markup=False, soft_wrap=True)

    _run(debug, action)


@app.command()
def compare(
    case: CaseArg,
    scenario: Annotated[
        list[str], typer.Option(help="Scenario names (repeat); 'base' is the case itself.")
    ],
    solver: SolverOpt = None,
    time_limit: TimeOpt = None,
    gap: GapOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Plan several scenarios and print side by side what changes.

    Each plan's status and gap are shown, and whether each difference of total cost is
    within the plans' gaps (then it may be solver slack).
    """
    from planner.compare import STATUS_TABLE, compare_plans
    from planner.pipeline import make_plan

    def action() -> None:
        fleet = _load(case)
        plans = {}
        for name in scenario:
            chosen = None if name == "base" else _scenario(case, name)
            with err.status(f"planning {name}"):
                plans[name] = make_plan(
                    fleet, chosen, solver=solver, time_limit_s=time_limit, mip_gap=gap
                )
        tables = compare_plans(plans)
        for title, frame in tables.items():
            if title == STATUS_TABLE:
                shown = frame.copy().astype(object)
                shown.loc["gap"] = [_pct(g) for g in frame.loc["gap"]]
                shown.loc["best_bound_usd"] = [_usd(b) for b in frame.loc["best_bound_usd"]]
                _print_frame(title, shown)
            else:
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
    from planner.compare import cost_gap_usd
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
        gap_usd = cost_gap_usd(result)
        binding = result.insight["binding"].head(top)
        out.print(f"Plan: {_plan_line(result.summary)}; TCO {result.total_cost_usd:,.0f} "
                  f"USD, verified {result.summary['verified']}", markup=False)
        _print_frame("Savings of the optimised plan versus baselines:", savings)
        if gap_usd:
            out.print(f"(The plan is proven within {gap_usd:,.0f} USD of the best plan there "
                      "is: savings smaller than that may be solver slack.)", markup=False)
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
    solver: SolverOpt = None,
    time_limit: TimeOpt = None,
    gap: GapOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Trace the cost–power Pareto frontier (epsilon-constraint sweep of verified plans).

    Each point has its status and gap, and a note where its step is within the gaps.
    """
    from planner.frontier import cost_power_frontier
    from planner.output import write_text_atomic
    from planner.scenarios import apply_scenario

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        planned = apply_scenario(fleet, chosen) if chosen else fleet
        with err.status("tracing the frontier"):
            table = cost_power_frontier(
                planned, points=points, solver=solver, time_limit_s=time_limit, mip_gap=gap
            )
        _print_gap_table("Cost-power frontier:", table)
        if out_file is not None:
            write_text_atomic(out_file, table.to_csv(index=False))

    _run(debug, action)


@app.command()
def sensitivity(
    case: CaseArg,
    parameter: Annotated[
        str,
        typer.Option(help="demand:<bucket>, throughput:<platform>, capex:<platform> "
                     "(multipliers) or power_cap:<region> (kW)."),
    ],
    values: Annotated[str, typer.Option(help="Comma-separated values, e.g. 1,1.2,1.5.")],
    scenario: Annotated[str | None, typer.Option(help="Scenario name from scenarios.yaml.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the sweep CSV.")] = None,
    solver: SolverOpt = None,
    time_limit: TimeOpt = None,
    gap: GapOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Re-plan while one input moves over the values, with each plan's status and gap.

    A note marks a row whose TCO differs from the previous row's by less than their gaps.
    """
    from planner.frontier import sensitivity as sweep
    from planner.output import write_text_atomic
    from planner.scenarios import apply_scenario

    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        err.print(f"error: --values must be comma-separated numbers, not '{values}'")
        raise typer.Exit(2) from None
    if not numbers:
        err.print("error: --values needs at least one number")
        raise typer.Exit(2)

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        planned = apply_scenario(fleet, chosen) if chosen else fleet
        with err.status(f"sweeping {parameter}"):
            try:
                table = sweep(planned, parameter, numbers, solver=solver,
                              time_limit_s=time_limit, mip_gap=gap)
            except ValueError as exc:
                if isinstance(exc, PlannerError):
                    raise
                err.print(f"error: {exc}", markup=False)
                raise typer.Exit(2) from None
        _print_gap_table(f"Sensitivity to {parameter}:", table)
        if out_file is not None:
            write_text_atomic(out_file, table.to_csv(index=False))

    _run(debug, action)


@app.command()
def synthetic(
    size: Annotated[str, typer.Argument(help="Size: XS, S, M, L, XL or XXL.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the new case.")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed, the same case.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty existing folder.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Write a seeded synthetic fleet as an ordinary case folder, to plan with `plan`."""
    from planner.case_io import CaseExistsError, write_case
    from planner.synthetic import SIZES, synthetic_fleet

    if size.upper() not in SIZES:
        err.print(f"error: unknown size '{size}'; choose one of {', '.join(SIZES)}")
        raise typer.Exit(2)
    if out_dir.exists() and not out_dir.is_dir():
        err.print(f"error: {out_dir} is a file, not a folder")
        raise typer.Exit(2)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        err.print(f"error: {out_dir} exists and is not empty; pick another --out or pass "
                  "--force to replace it", markup=False, soft_wrap=True)
        raise typer.Exit(2)

    def action() -> None:
        with err.status(f"generating a synthetic {size.upper()} fleet"):
            fleet = synthetic_fleet(size, seed)
        try:
            write_case(fleet, out_dir, force=force)
        except CaseExistsError as exc:  # appeared since the check above
            err.print(f"error: {exc}; pass --force to replace it")
            raise typer.Exit(2) from None
        spec = SIZES[size.upper()]
        err.print(f"synthetic {spec.name} case ({spec.models} models, {spec.platforms} "
                  f"platforms, {spec.regions} regions, {spec.quarters} quarters, seed {seed}) "
                  f"written to {out_dir}; plan it with: python -m planner plan {out_dir}",
                  markup=False, soft_wrap=True)

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
