"""The batch command line: ``python -m planner COMMAND``, one command per planner task.

Commands: check, plan, verify, compare, explain, frontier, sensitivity, synthetic, sweep,
sweep-report, profile, latency and reference.

Every command that plans says how good each plan is: its solver status (``optimal`` only when
proven within the gap), gap and best bound, and where two plans are compared, whether their
difference is within their gaps (then it may be solver slack, not an effect).

Exit codes: 0 success, 2 usage error (or another run holds the output folder), 3 invalid
input data, 4 infeasible or no plan within limits, 5 a plan folder violates its case
(``verify``). Data goes to stdout or files; progress and messages go to stderr. ``--debug``
shows tracebacks.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console

from planner.errors import FleetDataError, InfeasiblePlanError, PlannerError
from planner.store.commands import StoreOpt, add_store_commands

if TYPE_CHECKING:  # annotations only: each command imports what it runs, so --help is fast
    import pandas as pd

    from planner.fleet import Fleet
    from planner.results import Plan
    from planner.scenarios import Scenario

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
SOLVERS = ("highs", "cbc")
# Each frontier point is a full solve (the default case takes seconds to minutes a point).
MAX_FRONTIER_POINTS = 50
INTERRUPTED = "interrupted; no output was written"


def _check_solver(value: str | None) -> str | None:
    """Refuse a solver the planner cannot run (usage error, exit 2), listing the choices."""
    if value is not None and value not in SOLVERS:
        raise typer.BadParameter(f"'{value}' is not available; choose one of {', '.join(SOLVERS)}")
    return value


def _check_time_limit(value: float | None) -> float | None:
    """Refuse a time limit that is not a finite number of seconds above 0 (-1 meant no limit)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value:g} is not a time limit; give seconds > 0, e.g. 60")
    return value


def _check_gap(value: float | None) -> float | None:
    """Refuse a relative gap outside [0, 1)."""
    if value is not None and not (math.isfinite(value) and 0 <= value < 1):
        raise typer.BadParameter(f"{value:g} is not a relative gap; give 0 <= gap < 1, e.g. 0.001")
    return value


def _check_threads(value: int | None) -> int | None:
    """Refuse fewer than 1 or more threads than the machine has cores."""
    from planner.settings import machine_cores

    cores = machine_cores()
    if value is not None and not 1 <= value <= cores:
        raise typer.BadParameter(f"{value} threads; give 1 to {cores} (the cores of this machine)")
    return value


SolverOpt = Annotated[
    str | None,
    typer.Option(help="MIP solver: highs or cbc (default: settings).", callback=_check_solver),
]
TimeOpt = Annotated[
    float | None,
    typer.Option("--time-limit", help="Solver time limit in s (> 0).", callback=_check_time_limit),
]
GapOpt = Annotated[
    float | None,
    typer.Option("--gap", help="Relative MIP gap, e.g. 0.001.", callback=_check_gap),
]
ThreadsOpt = Annotated[
    int | None, typer.Option(help="Solver threads (1 to the cores).", callback=_check_threads)
]


class _UsageError(PlannerError):
    """A command-line value that names nothing in the case (exit 2, like click's)."""

    exit_code = 2


_interrupt_reported = False


def _run(debug: bool, action: Callable[[], None]) -> None:
    """Run ``action``, turning every error into one message and an exit code.

    Planner errors keep their code (2 usage, 3 data, 4 no plan); Ctrl-C exits 130; anything
    unexpected becomes one line naming the exception and ``--debug`` (exit 1). With
    ``--debug`` the traceback is shown instead.
    """
    global _interrupt_reported
    try:
        action()
    except PlannerError as exc:
        if debug:
            raise
        err.print("error:", style="bold red", end=" ")
        err.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        if debug:
            raise
        _interrupt_reported = True
        err.print(INTERRUPTED)
        raise typer.Exit(130) from None
    except (typer.Exit, click.exceptions.ClickException, click.exceptions.Abort):
        raise
    except Exception as exc:
        if debug:
            raise
        err.print(_unexpected(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _unexpected(exc: BaseException) -> str:
    """Return the one line shown for an exception the planner did not expect."""
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    return (
        f"error: unexpected {type(exc).__name__}{': ' + text if text else ''}. This is a bug in "
        "the planner, not in your data; run the command again with --debug to see the traceback"
    )


def _load(case: Path) -> Fleet:
    """Load and check a case (``FleetDataError``, exit 3, on any problem); print its warnings.

    Every command that plans a case loads it here, so each shows the case's warnings on
    stderr before planning (they never change the exit code).
    """
    from planner.checks import check_fleet
    from planner.fleet import load_fleet

    with err.status(f"loading {case}"):
        fleet = load_fleet(case, check=False)
        warnings = check_fleet(fleet)  # the same checks load_fleet runs; raises on errors
    _print_warnings([w.render() for w in warnings])
    return fleet


def _print_warnings(lines: list[str], context: str = "") -> None:
    """Print one ``warning: ...`` line per warning to stderr."""
    for line in lines:
        err.print("warning:", style="bold yellow", end=" ")
        err.print(f"{context}{line}", markup=False, soft_wrap=True)


def _scenario_warnings(fleet: Fleet, plan: Plan, scenario: Scenario | None) -> None:
    """Print the warnings a scenario adds to the case's (it may change the horizon)."""
    if scenario is None:
        return
    from planner.checks import fleet_warnings

    shown = {w.render() for w in fleet_warnings(fleet)}
    extra = [w for w in plan.summary.get("warnings", []) if w not in shown]
    _print_warnings(extra, context=f"scenario '{scenario.name}': ")


def _check_scenarios(case: Path, fleet: Fleet) -> int:
    """Validate ``scenarios.yaml`` against the case: every scenario must resolve.

    Returns:
        The number of scenarios.

    Raises:
        FleetDataError: Listing every problem of every scenario at once.
    """
    from planner.scenarios import load_scenarios, scenario_problems

    scenarios = load_scenarios(case)
    problems = scenario_problems(fleet, scenarios)
    if problems:
        raise FleetDataError(problems, header=f"Invalid scenarios in {case / 'scenarios.yaml'}")
    return len(scenarios)


def _scenario(case: Path, name: str | None) -> Scenario | None:
    """Return the scenario called ``name``; an unknown name is a usage error listing the names."""
    if name is None:
        return None
    from planner.scenarios import load_scenarios

    scenarios = load_scenarios(case)
    if name not in scenarios:
        raise _UsageError(
            f"unknown --scenario '{name}'; {case} has "
            + (f"these scenarios: {', '.join(scenarios)}" if scenarios else "no scenarios.yaml")
            + (" (or 'base' for the case itself, in compare)" if scenarios else "")
        )
    return scenarios[name]


def _print_frame(title: str, frame: pd.DataFrame, context: str = "") -> None:
    """Print ``frame`` with numbers rounded by what they count (by row, column or title)."""
    from planner.text_tables import format_frame

    out.print(f"\n{title}")
    out.print(format_frame(frame, context=f"{title} {context}"), markup=False)


def _pct(gap: object) -> str:
    """Return a relative gap as a percentage, or n/a when unknown."""
    if gap is None or (isinstance(gap, float) and math.isnan(gap)):
        return "n/a"
    return f"{100 * float(gap):.3f} %"  # type: ignore[arg-type]


def _usd(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
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
    from planner.checks import slo_coverage_notes
    from planner.describe import coverage, demand_by_bucket, table_rows

    def action() -> None:
        fleet = _load(case)
        n_scenarios = _check_scenarios(case, fleet)
        out.print(f"{case}: valid fleet case '{fleet.name}'")
        if n_scenarios:
            out.print(f"{n_scenarios} scenarios in scenarios.yaml, all valid for this case")
        _print_frame("Rows per table:", table_rows(fleet).set_index("file"))
        _print_frame("Peak demand (queries/s) by bucket and quarter:", demand_by_bucket(fleet))
        cov = coverage(fleet)
        _print_frame(
            "Model-platform coverage (latency-bounded qps per server; blank = cannot run):",
            cov.map(lambda v: "" if math.isnan(v) else f"{v:,.0f}"),
        )
        notes = slo_coverage_notes(fleet)
        if notes:
            out.print("Profile curves that cannot serve their model's SLO (no row used):")
            for line in notes:
                out.print(f"  {line}", markup=False)

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
    store: StoreOpt = None,
    name: Annotated[str | None, typer.Option(help="Record under this name (in --store).")] = None,
    note: Annotated[str | None, typer.Option(help="Record with this note (in --store).")] = None,
    current: Annotated[
        str | None,
        typer.Option(help="Keep close to this allocation: a plan folder or a store id."),
    ] = None,
    move_cost: Annotated[
        float | None,
        typer.Option(
            "--move-cost",
            help="With --current: USD per replica moved (default: migration.move_cost_usd "
            "in settings.yaml, else 0).",
        ),
    ] = None,
    bucket_move_cost: Annotated[
        list[str] | None,
        typer.Option("--bucket-move-cost", help="BUCKET=USD override of --move-cost; repeat."),
    ] = None,
    max_moves: Annotated[
        float | None,
        typer.Option(
            "--max-moves",
            help="With --current: at most this many moves per quarter (default: "
            "migration.max_moves_per_quarter in settings.yaml, else no cap).",
        ),
    ] = None,
    robust: Annotated[
        Path | None,
        typer.Option("--robust", help="Sweep file: choose first-stage purchases that hold in "
                     "all its futures (two-stage) and compare them with the mean forecast's."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option("--wait", min=0, help="Seconds to wait while another run writes the same "
                     "--out (then exit 2)."),
    ] = 10.0,
    slots: Annotated[
        int | None,
        typer.Option("--slots", help="Time-of-day slots per day (a divisor of 24; 0: peak "
                     "only); overrides settings.diurnal.slots."),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Plan a fleet case, verify the plan and write its tables, summary.json and report.md.

    With --store (or --name/--note) the plan is also recorded in the plan store. With
    --current the plan is kept close to an existing allocation (see README, "Migration").
    """
    from planner.output import FORMATS, write_plan
    from planner.pipeline import make_plan

    if robust is not None:
        _plan_robust(case, robust, out_dir, scenario, debug, store=store, name=name, note=note)
        return
    fmt = fmt or ["csv"]
    bad = [f for f in fmt if f not in FORMATS]
    if bad:
        err.print(f"error: unknown --format {', '.join(bad)}; use {', '.join(FORMATS)}")
        raise typer.Exit(2)

    from planner.store.commands import parse_bucket_costs, record_plan, stable_plan

    bucket_costs = parse_bucket_costs(bucket_move_cost)
    # A negative cost was an "unexpected ValidationError" (exit 1) and an infinite one was
    # planned (an objective of inf, "feasible, gap n/a"): both are usage errors.
    migration_values = [("--move-cost", move_cost), ("--max-moves", max_moves)] + [
        (f"--bucket-move-cost {bucket}", usd) for bucket, usd in bucket_costs.items()
    ]
    for flag, value in migration_values:
        if value is not None and not (math.isfinite(value) and value >= 0):
            err.print(f"error: {flag}={value:g}: give a finite number, 0 or more",
                      markup=False, soft_wrap=True)
            raise typer.Exit(2)

    if slots is not None and (slots < 0 or (slots and 24 % slots)):
        err.print(f"error: --slots {slots}: use 0 or a divisor of 24 (1, 2, 3, 4, 6, 8, 12, 24)")
        raise typer.Exit(2)

    def action() -> None:
        fleet = _load(case)
        if slots is not None:  # time of day (planner.diurnal)
            from planner.diurnal.plan import with_diurnal

            fleet = with_diurnal(fleet, slots=slots)
        chosen = _scenario(case, scenario)
        opts = {"solver": solver, "time_limit_s": time_limit, "mip_gap": gap, "threads": threads}
        stable, extra = None, None
        try:
            with err.status("planning"):
                if current is None:
                    result = make_plan(fleet, chosen, **opts)
                else:
                    stable = stable_plan(fleet, chosen, current, store, move_cost,
                                         bucket_costs, max_moves, opts)
                    result, extra = stable.plan, {"moves": stable.moves}
        except InfeasiblePlanError as exc:
            explanation = exc.explanation
            if explanation is not None and not getattr(explanation, "empty", True):
                from planner.output import write_text_atomic

                path = out_dir.with_name(out_dir.name + "_infeasible.csv")
                write_text_atomic(path, exc.explanation.to_csv(index=False))
                err.print(f"shortfalls written to {path}", markup=False, soft_wrap=True)
            raise
        if result.diurnal:  # time of day: slot_load.csv, harvest.csv, harvest_by_slot.csv
            extra = {**(extra or {}), **result.diurnal}
        _scenario_warnings(fleet, result, chosen)
        write_plan(result, out_dir, fleet, formats=fmt, extra=extra)
        s = result.summary
        err.print(f"[green]{s['status']}[/] plan, verified, written to {out_dir}", markup=True)
        err.print(f"  {_plan_line(s)}", markup=False, soft_wrap=True)
        if s.get("diurnal"):
            from planner.diurnal.plan import diurnal_line

            err.print(f"  {diurnal_line(s['diurnal'])}", markup=False, soft_wrap=True)
        if stable is not None:
            from planner.migration import moves_report

            for text in moves_report(stable):
                err.print(text, markup=False, soft_wrap=True)
        if store is not None or name is not None or note is not None:
            record_plan(err, store, fleet, result, scenario=chosen, name=name, note=note,
                        command="plan", solver=opts, extra=extra,
                        current_plan=s.get("migration", {}).get("current"))
        keys = ("status", "total_cost_usd", "gap", "first_plan_seconds",
                "first_plan_gap", "stopped", "servers_purchased", "peak_power_kw")
        # summary keys of the anytime path only (first plan, stopped) are left out for CBC
        line = {k: s[k] for k in keys if k in s}
        # the bound in USD like the cost (the summary keeps the solver's kUSD objective units)
        from planner.compare import bound_usd

        line["best_bound_usd"] = bound_usd(s, s.get("total_cost_usd"))
        # one line, never wrapped: scripts parse the last line of stdout as JSON
        out.print(json.dumps(line), markup=False, soft_wrap=True)

    def locked() -> None:
        from planner.output import output_lock

        # Held from loading to writing, so a second run to the same --out waits (at most
        # --wait seconds, then exit 2) instead of solving in parallel and overwriting.
        with output_lock(out_dir, wait):
            action()

    _run(debug, locked)


@app.command()
def verify(
    case: CaseArg,
    plan_dir: Annotated[
        Path, typer.Argument(help="Plan folder written by `plan --out`, possibly edited.")
    ],
    scenario: Annotated[
        str | None,
        typer.Option(help="Scenario the plan is for ('base': none); default: the one in "
                     "its summary.json."),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Re-check a plan folder against its case and print every violation with its table row.

    Exit codes: 0 the plan is valid, 3 invalid data (case or plan folder unreadable), 5 the
    plan violates the case (each violation is printed on stdout).
    """
    from planner.latency.report import latency_verdict
    from planner.plan_io import plan_files, read_plan
    from planner.scenarios import apply_scenario
    from planner.verify import verify_plan

    def action() -> None:
        fleet = _load(case)
        plan = read_plan(plan_dir)
        name = scenario if scenario is not None else plan.summary.get("scenario")
        if scenario is None and name:
            err.print(f"checking against scenario '{name}' (from {plan_dir}/summary.json)",
                      markup=False, soft_wrap=True)
        chosen = None if name in (None, "base") else _scenario(case, name)
        planned = apply_scenario(fleet, chosen) if chosen is not None else fleet
        slotted = (plan.summary.get("diurnal") or {}).get("slots")
        if slotted:  # time of day: a plan of the slotted fleet (plan --slots or settings)
            from planner.diurnal import expand_fleet
            from planner.diurnal.plan import fleet_to_verify, with_diurnal

            # follow the sun and DR pre-emption: checked where the plan serves the load
            planned, emergency = fleet_to_verify(
                expand_fleet(with_diurnal(planned, slots=slotted)), plan, Path(plan_dir)
            )
        else:
            emergency = []
        result = verify_plan(planned, plan)
        # the tail-latency check is advice, not a case violation: shown, exit code unchanged
        verdict = latency_verdict(plan_dir).line(str(case), str(plan_dir))
        if result.ok and not emergency:
            err.print(f"{plan_dir}: {result}", markup=False, soft_wrap=True)
            err.print(f"{plan_dir}: {verdict}", markup=False, soft_wrap=True)
            return
        err.print(f"{plan_dir}: {verdict}", markup=False, soft_wrap=True)
        for line in result.lines(plan_files(plan)):
            out.print(f"{plan_dir}/{line}", markup=False, soft_wrap=True)
        for line in emergency:
            out.print(f"{plan_dir}/dr_preemption.csv: {line}", markup=False, soft_wrap=True)
        n = len(result.violations) + len(emergency)
        err.print(f"{plan_dir}: the plan violates {case}: {n} violation{'s' if n != 1 else ''}",
                  markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_PLAN_INVALID)

    _run(debug, action)


EXIT_PLAN_INVALID = 5  # verify: the plan violates its case


def _plan_robust(case: Path, sweep_file: Path, out_dir: Path, scenario: str | None,
                 debug: bool, store: str | None = None, name: str | None = None,
                 note: str | None = None) -> None:
    """``plan --robust``: the two-stage plan over a sweep's futures (planner.sweeps.robust)."""
    from planner.sweeps.robust import robust_plan, robust_report, write_robust
    from planner.sweeps.spec import load_sweep
    from planner.sweeps.worker import base_scenario

    def action() -> None:
        fleet = _load(case)
        spec = load_sweep(sweep_file)
        base = base_scenario(str(case), scenario or spec.base)
        with err.status(f"planning robust purchases over the futures of {sweep_file}"):
            result = robust_plan(fleet, spec, base, folder=sweep_file.parent)
        write_robust(result, out_dir)
        err.print(f"robust plan ({result.summary['status']}), every future verified, written "
                  f"to {out_dir}", markup=False, soft_wrap=True)
        out.print(robust_report(result), markup=False, soft_wrap=True)
        if store is not None or name is not None or note is not None:
            from planner.sweeps.robust import record_robust

            ids = record_robust(result, fleet, store, name=name, note=note)
            err.print(f"recorded the robust plans of {len(ids)} futures as plans "
                      f"{', '.join(map(str, ids))}", markup=False, soft_wrap=True)

    _run(debug, action)


@app.command()
def sweep(
    case: CaseArg,
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (YAML): base, grid or samples.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder (resumable).")],
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: the machine's cores).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask: a scheduler address (tcp://host:8786) or 'local' for a "
                     "LocalCluster; default: a local process pool."),
    ] = None,
    store: StoreOpt = None,
    name: Annotated[str | None, typer.Option(help="Record under this name (in --store).")] = None,
    note: Annotated[str | None, typer.Option(help="Record with this note (in --store).")] = None,
    debug: DebugOpt = False,
) -> None:
    """Plan every scenario of a sweep file; one row per scenario in results.parquet/.csv.

    A re-run with the same --out skips finished scenarios. Failed scenarios are rows with
    their status and message. With --store (or --name/--note) every scenario's plan is
    recorded in the plan store by the worker that made it (store_id in its row).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from planner.sweeps.run import run_sweep

    if workers is not None and workers < 1:
        err.print("error: --workers must be at least 1")
        raise typer.Exit(2)

    def action() -> None:
        from planner.checks import fleet_warnings
        from planner.sweeps.worker import case_fleet, load_case_path

        # the base case's warnings; run_sweep loads the same cached fleet (each scenario's
        # warnings are in its plan's summary)
        _print_warnings([w.render() for w in fleet_warnings(case_fleet(load_case_path(case)))])
        columns = (TextColumn("sweep"), BarColumn(),
                   TextColumn("{task.completed}/{task.total} done, {task.fields[running]} "
                              "running, {task.fields[failed]} failed, ETA"),
                   TimeRemainingColumn())
        with Progress(*columns, console=err) as bar:
            task = None

            def show(p) -> None:
                nonlocal task
                if task is None:  # skipped scenarios count as done, not towards the ETA
                    task = bar.add_task("sweep", total=p.total, completed=p.done,
                                        running=0, failed=p.failed)
                bar.update(task, completed=p.done, running=p.running, failed=p.failed)

            result = run_sweep(case, sweep_file, out_dir, workers=workers,
                               scheduler=scheduler, progress=show, store=store, name=name,
                               note=note)
        err.print(f"{len(result.results)} scenarios in {out_dir}/results.parquet "
                  f"({result.planned} planned now, {result.skipped} already done, "
                  f"{result.failed} failed) on {result.executor} in {result.seconds:.1f} s",
                  markup=False, soft_wrap=True)

    _run(debug, action)


@app.command("sweep-report")
def sweep_report(
    sweep_dir: Annotated[Path, typer.Argument(help="Folder written by `sweep --out`.")],
    debug: DebugOpt = False,
) -> None:
    """Summarise a sweep: cost and power quantiles, what moves the cost, common purchases."""
    from planner.sweeps.report import write_sweep_report

    if not (sweep_dir / "results.parquet").exists() and not (sweep_dir / "results.csv").exists():
        err.print(f"error: {sweep_dir} holds no sweep results; run `python -m planner sweep "
                  f"CASE SWEEP.yaml --out {sweep_dir}` first", markup=False, soft_wrap=True)
        raise typer.Exit(2)

    def action() -> None:
        files = write_sweep_report(sweep_dir)
        out.print(files["report"].read_text(encoding="utf-8"), markup=False, soft_wrap=True)
        err.print(f"report written to {sweep_dir}: {', '.join(p.name for p in files.values())}",
                  markup=False, soft_wrap=True)

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
    store: StoreOpt = None,
    note: Annotated[str | None, typer.Option(help="Record with this note (in --store).")] = None,
    record_name: Annotated[
        str | None,
        typer.Option("--name", help="Record under this name (in --store); default: the "
                     "scenario's name."),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Plan several scenarios and print side by side what changes.

    With --store (or --name/--note) each scenario's plan is recorded, named after its
    scenario or --name (the scenario column tells them apart).

    Each plan's status and gap are shown, and whether each difference of total cost is
    within the plans' gaps (then it may be solver slack).
    """
    from planner.compare import STATUS_TABLE, compare_plans
    from planner.pipeline import make_plan

    def action() -> None:
        fleet = _load(case)
        plans = {}
        # every name is resolved before the first solve, so a typo fails at once
        chosen_by_name = {n: None if n == "base" else _scenario(case, n) for n in scenario}
        for name in scenario:
            chosen = chosen_by_name[name]
            with err.status(f"planning {name}"):
                plans[name] = make_plan(
                    fleet, chosen, solver=solver, time_limit_s=time_limit, mip_gap=gap
                )
            _scenario_warnings(fleet, plans[name], chosen)
            if store is not None or record_name is not None or note is not None:
                from planner.store.commands import record_plan

                record_plan(err, store, fleet, plans[name], scenario=chosen,
                            name=record_name or name,
                            note=note, command="compare",
                            solver={"solver": solver, "time_limit_s": time_limit, "mip_gap": gap})
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
    time_limit: TimeOpt = None,
    gap: GapOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Explain a plan: savings versus baselines, binding constraints and their shadow prices.

    A baseline the verifier rejects is marked "infeasible (n violations)" and its saving is
    not comparable. Savings per bucket are in savings.csv with --out.
    """
    from planner.baselines import compare_to_baselines, savings_overview
    from planner.compare import cost_gap_usd
    from planner.describe import savings_table
    from planner.output import write_plan
    from planner.pipeline import make_plan
    from planner.scenarios import apply_scenario

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        with err.status("planning"):
            result = make_plan(
                fleet, chosen, solver=solver, time_limit_s=time_limit, mip_gap=gap, insight=True
            )
        planned = apply_scenario(fleet, chosen) if chosen else fleet
        with err.status("planning baselines"):
            savings = compare_to_baselines(planned, result)
        gap_usd = cost_gap_usd(result)
        binding = result.insight["binding"].head(top)
        out.print(f"Plan: {_plan_line(result.summary)}; TCO {result.total_cost_usd:,.0f} "
                  f"USD, verified {result.summary['verified']}", markup=False)
        out.print("\nSavings of the optimised plan versus baselines (total TCO over the horizon):")
        # sized to the terminal (COLUMNS), unlike `out`, so that it never wraps
        Console(highlight=False).print(savings_table(savings_overview(savings)))
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
    # Bounded here (exit 2): 1 point was an "unexpected ValueError" (exit 1), 100,000 points
    # 100,000 solves that never end.
    points: Annotated[
        int,
        typer.Option(
            min=2,
            max=MAX_FRONTIER_POINTS,
            help=f"Points on the frontier (2 to {MAX_FRONTIER_POINTS}; one solve each).",
        ),
    ] = 6,
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
        str | None,
        typer.Option(help="demand:<bucket>, throughput:<platform>, capex:<platform> "
                     "(multipliers) or power_cap:<region> (kW)."),
    ] = None,
    values: Annotated[
        str | None, typer.Option(help="Comma-separated values, e.g. 1,1.2,1.5.")
    ] = None,
    factor: Annotated[
        list[str] | None,
        typer.Option("--factor", help="Named estimated factor of factors.csv: re-derive the "
                     "case at its low and high values (repeat; 'all' for every factor)."),
    ] = None,
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

    if factor:
        _factor_sensitivity(case, factor, scenario, out_file, solver, time_limit, gap, debug)
        return
    if parameter is None or values is None:
        err.print("error: give --parameter and --values, or --factor NAME")
        raise typer.Exit(2)
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        err.print(f"error: --values must be comma-separated numbers, not '{values}'")
        raise typer.Exit(2) from None
    if not numbers:
        err.print("error: --values needs at least one number")
        raise typer.Exit(2)
    bad = [v for v in numbers if not (math.isfinite(v) and v >= 0)]
    if bad:
        # every kind is a multiplier or a cap in kW; said here, not as a scenarios.yaml key
        err.print(f"error: --values must be finite numbers of 0 or more (multipliers, or kW "
                  f"for power_cap), not {', '.join(f'{v:g}' for v in bad)}")
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


def _factor_sensitivity(case: Path, names: list[str], scenario: str | None,
                        out_file: Path | None, solver: str | None, time_limit: float | None,
                        gap: float | None, debug: bool) -> None:
    """Plan the case with each named factor at its low and high value; print the moves."""
    from planner.output import write_text_atomic
    from planner.scenarios import apply_scenario
    from planner.studies import factor_sensitivity

    def action() -> None:
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        planned = apply_scenario(fleet, chosen) if chosen else fleet
        known = list(planned.factors["factor_id"])
        wanted = known if "all" in names else names
        unknown = [n for n in wanted if n not in known]
        if unknown:
            err.print(f"error: unknown factor {', '.join(unknown)}; known: "
                      f"{', '.join(known) or 'none (the case has no factors.csv)'}",
                      markup=False)
            raise typer.Exit(2)
        with err.status(f"re-deriving the case for {len(wanted)} factor(s)"):
            table = factor_sensitivity(planned, wanted, solver=solver, time_limit_s=time_limit,
                                       mip_gap=gap)
        cols = ["factor_id", "end", "value", "base_value", "rows_scaled", "status", "gap",
                "total_cost_usd", "tco_change_pct", "servers_purchased",
                "served_share_cpu", "served_share_inference_asic",
                "served_share_accelerator_fabric", "purchases"]
        shown = table[[c for c in cols if c in table.columns]]
        _print_gap_table("Sensitivity to named factors (low and high ends):", shown)
        if out_file is not None:
            write_text_atomic(out_file, table.to_csv(index=False))

    _run(debug, action)


@app.command()
def synthetic(
    size: Annotated[str, typer.Argument(help="Size: XS, S, M, L, XL or XXL.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the new case.")],
    # numpy seeds are non-negative: -1 was an "unexpected ValueError" (exit 1)
    seed: Annotated[int, typer.Option(
        min=0, help="Random seed (0 or more); the same seed, the same case.")] = 0,
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
def profile(
    model: Annotated[list[str], typer.Option("--model", help="Workload to profile (repeat): "
                                             "rmc1, rmc2, rmc3, wnd, ncf, resnet50, ...")],
    platform: Annotated[str, typer.Option("--platform", help="Platform id the rows belong to "
                                          "(this machine as a server type).")],
    out_file: Annotated[Path, typer.Option("--out", help="CSV file of curve rows.")],
    bounds: Annotated[str, typer.Option(help="Latency bounds in ms, comma-separated.")] = (
        "10,25,50,100,200"),
    percentiles: Annotated[str, typer.Option(help="Percentiles, comma-separated.")] = "95,99",
    embedding_scale: Annotated[float | None, typer.Option(
        "--embedding-scale", help="Divide embedding rows by F (default: fit --budget-mb).")
    ] = None,
    budget_mb: Annotated[float, typer.Option(help="Memory for one model's tables.")] = 256.0,
    queries: Annotated[int, typer.Option(help="Queries per rate point.")] = 20_000,
    sizes: Annotated[str, typer.Option(help="Query sizes: lognormal, mlperf or fixed:N.")] = (
        "lognormal"),
    max_batch: Annotated[int, typer.Option(help="Most queries per batch (1: none).")] = 1,
    batch_timeout_ms: Annotated[float, typer.Option(help="Batching timeout.")] = 0.0,
    replicas_per_server: Annotated[int | None, typer.Option(
        help="One-thread replicas per server (default: this machine's cores).")] = None,
    repeats: Annotated[int, typer.Option(help="Timed runs per batch size.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of weights, inputs and arrivals.")] = 0,
    backend: Annotated[str, typer.Option(
        help="Inference runtime: onnx (ONNX Runtime, CPU) or torch (PyTorch, if installed).")
    ] = "onnx",
    device: Annotated[str, typer.Option(
        help="cpu, or cuda with --backend torch (one replica per GPU).")] = "cpu",
    debug: DebugOpt = False,
) -> None:
    """Measure latency-bounded throughput curves of workloads on this machine."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from planner.profiler import (
        ProfileSettings,
        QuerySizes,
        model_config,
        profile_models,
        write_curves,
    )

    try:
        settings = ProfileSettings(
            platform_id=platform, bounds_ms=tuple(float(b) for b in bounds.split(",")),
            percentiles=tuple(float(p) for p in percentiles.split(",")), queries=queries,
            sizes=QuerySizes(sizes), max_batch=max_batch, batch_timeout_ms=batch_timeout_ms,
            embedding_scale=embedding_scale, budget_mb=budget_mb,
            replicas_per_server=replicas_per_server, repeats=repeats, seed=seed,
            command="python -m planner profile " + " ".join(sys.argv[2:]),
            backend=backend, device=device)
        settings.check()
        for m in model:
            model_config(m)
    except (ValueError, FleetDataError) as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None

    def action() -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=False) as bar:
            tasks = {m: bar.add_task(m, total=1.0) for m in model}

            def step(what: str, done: float) -> None:
                task = tasks[what.split(":", 1)[0]]
                bar.update(task, completed=done, description=what)

            curves, notes = profile_models(model, settings, step)
        write_curves(curves, out_file)
        for line in notes:
            err.print(f"  {line}", markup=False, soft_wrap=True)
        err.print(f"{len(curves)} measured rows ({', '.join(model)} on {platform}) written to "
                  f"{out_file}", markup=False, soft_wrap=True)
        shown = curves.pivot_table(index=["model_id", "percentile"], columns="latency_ms",
                                   values="qps_per_server")
        _print_frame("qps per server by latency bound (ms):", shown)

    _run(debug, action)


@app.command()
def latency(
    case: CaseArg,
    plan_dir: Annotated[Path, typer.Argument(help="Folder of a plan written by `plan`.")],
    scenario: Annotated[str | None, typer.Option(help="Scenario the plan was made for.")] = None,
    service_fraction: Annotated[float, typer.Option(
        help="Mean service time of a request as a fraction of its SLO.")] = 0.25,
    service_cv: Annotated[float, typer.Option(
        help="Coefficient of variation of service times (0 deterministic, 1 exponential).")
    ] = 0.5,
    queries: Annotated[int, typer.Option(help="Queries per replication.")] = 2000,
    reps: Annotated[int, typer.Option(help="Replications per queue.")] = 5,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 0,
    debug: DebugOpt = False,
) -> None:
    """Simulate every cell of a plan at peak demand; report p95/p99 against each SLO."""
    from planner.latency import (
        ServiceModel,
        SimulationSettings,
        check_latency,
        read_allocation,
        write_latency,
    )
    from planner.scenarios import apply_scenario

    try:
        sim = SimulationSettings(queries=queries, reps=reps, seed=seed,
                                 service=ServiceModel(service_fraction, service_cv))
    except ValueError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None

    def action() -> None:
        allocation = read_allocation(plan_dir)
        fleet = _load(case)
        chosen = _scenario(case, scenario)
        if chosen is not None:
            fleet = apply_scenario(fleet, chosen)
        with err.status("simulating cells") as status:
            result = check_latency(fleet, allocation, sim,
                                   lambda what, _done: status.update(f"simulating {what}"))
        write_latency(result, plan_dir)
        s = result.summary
        if s["all_cells_meet_slo"]:
            err.print(f"[green]all {s['cells']} cells meet their SLO[/]", markup=True)
        else:
            err.print(f"[red]{s['cells_missing_slo']} of {s['cells']} cells miss their SLO[/] "
                      f"({', '.join(s['models_missing_slo'])})", markup=True)
            miss = result.cells[~result.cells["meets_slo"]]
            cols = ["model_id", "platform_id", "region_id", "quarter", "utilization", "slo_ms",
                    "latency_ms", "ci_low_ms", "ci_high_ms", "miss_pct", "max_utilization"]
            _print_frame("Cells that miss (latency at the SLO's percentile, ms):",
                         miss[cols].head(30).set_index(["model_id", "platform_id"]))
        err.print(f"{s['service_model']}; {s['simulation']}; {s['queues_simulated']} queues "
                  f"in {s['seconds']:.1f} s; written to {plan_dir / 'latency.csv'} and "
                  "summary.json", markup=False, soft_wrap=True)
        out.print(json.dumps({k: s[k] for k in ("all_cells_meet_slo", "cells",
                                                "cells_missing_slo")}), markup=False)

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


add_store_commands(app, _run, out, err)  # history, show, diff, export


def main() -> None:
    """Entry point of ``python -m planner``: never a traceback without ``--debug``.

    Ctrl-C anywhere prints one line and exits 130 (typer turns it into a silent exit 130
    outside :func:`_run`); an unexpected exception outside :func:`_run` ends as one line and
    exit 1.
    """
    global _interrupt_reported
    _interrupt_reported = False
    # planner/__init__.py quiets Ctrl-C during the imports; from here on it raises again.
    with contextlib.suppress(ValueError):  # not the main thread: nothing to restore there
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except SystemExit as exc:
        # click's usage errors already exit 2; keep any other code as is
        if exc.code == 130 and not _interrupt_reported:
            err.print(INTERRUPTED)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        err.print(INTERRUPTED)
        sys.exit(130)
    except Exception as exc:
        if "--debug" in sys.argv:
            raise
        err.print(_unexpected(exc), markup=False, soft_wrap=True)
        sys.exit(1)
