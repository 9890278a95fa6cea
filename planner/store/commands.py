"""The store's commands (history, show, diff, export) and the helpers ``plan``/``compare`` use.

Registered on the CLI's typer app by :func:`add_store_commands`, so ``planner/cli.py`` keeps
one hook; they follow its conventions: data to stdout, messages to stderr, planner errors as
messages with exit codes through the CLI's ``_run``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from planner.store.location import DEFAULT_STORE

if TYPE_CHECKING:  # imported for annotations only: the CLI loads this module at start
    import pandas as pd

    from planner.fleet import Fleet
    from planner.results import Plan
    from planner.scenarios import Scenario

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help=f"Plan store: a file path or sqlite:///PATH, or postgresql://USER@HOST/DB "
        f"(default: {DEFAULT_STORE} in the working folder).",
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


def parse_bucket_costs(values: list[str] | None) -> dict[str, float]:
    """Return ``{bucket: USD}`` from ``BUCKET=USD`` strings (``--bucket-move-cost``).

    Raises:
        typer.BadParameter: A value is not ``BUCKET=NUMBER``.
    """
    out: dict[str, float] = {}
    for value in values or []:
        bucket, sep, number = value.partition("=")
        try:
            if not sep or not bucket.strip():
                raise ValueError
            out[bucket.strip()] = float(number)
        except ValueError:
            raise typer.BadParameter(
                f"'{value}' is not BUCKET=USD, e.g. ranking=500", param_hint="--bucket-move-cost"
            ) from None
    return out


def load_current(current: str, store: str | None) -> tuple[pd.DataFrame, str]:
    """Return the current allocation named by ``--current`` and a label saying where from.

    An existing folder is read as a plan folder; otherwise a whole number is a store id.
    """
    from planner.store.engine import StoreError
    from planner.store.planfiles import read_plan_folder
    from planner.store.records import PlanStore

    path = Path(current)
    if path.is_dir():
        return read_plan_folder(path).allocation, f"plan folder {path}"
    if not current.isdigit():
        raise StoreError(
            f"--current '{current}' is neither a plan folder nor a store id. Fix: pass the "
            "--out folder of an earlier plan or an id that `python -m planner history` lists"
        )
    with PlanStore(store) as opened:
        record = opened.get(int(current))
        return record.plan.allocation, f"stored plan {record.id} ({opened.url})"


def record_plan(
    err: Console,
    store: str | None,
    fleet: Fleet,
    plan: Plan,
    *,
    scenario: Scenario | None,
    name: str | None,
    note: str | None,
    command: str,
    solver: dict,
    current_plan: str | None = None,
    extra: dict[str, pd.DataFrame] | None = None,
) -> int:
    """Record one plan in the store and say so on stderr; return its id."""
    from planner.store.records import PlanStore

    with PlanStore(store) as opened:
        plan_id = opened.record(
            fleet,
            plan,
            scenario=scenario,
            name=name,
            note=note,
            command=command,
            solver=solver,
            current_plan=current_plan,
            extra=extra,
        )
        err.print(f"recorded as plan {plan_id} in {opened.url}", markup=False, soft_wrap=True)
    return plan_id


def _percent(gap: object) -> str:
    """Return a relative gap as a percentage, or n/a when unknown."""
    return "n/a" if not isinstance(gap, int | float) else f"{100 * gap:.2f} %"


def add_store_commands(app: typer.Typer, run: Callable, out: Console, err: Console) -> None:
    """Add ``history``, ``show``, ``diff`` and ``export`` to the CLI's ``app``."""

    def frame(title: str, table: pd.DataFrame) -> None:
        from planner.text_tables import format_frame

        out.print(f"\n{title}")
        if table.empty:
            out.print("  (none)")
        else:
            out.print(format_frame(table, context=title), markup=False)

    @app.command()
    def history(
        store: StoreOpt = None,
        case_hash: Annotated[
            str | None, typer.Option("--case-hash", help="Only this case (a hash prefix).")
        ] = None,
        name: Annotated[str | None, typer.Option(help="Only plans with this name.")] = None,
        debug: DebugOpt = False,
    ) -> None:
        """List the plans in the store (id, when, name, case hash, scenario, cost, note)."""
        from planner.store.records import PlanStore

        def action() -> None:
            with PlanStore(store) as opened:
                table = opened.history(case_hash=case_hash, name=name)
            if table.empty:
                err.print("no plans recorded" + (" that match" if case_hash or name else ""))
                return
            from planner.text_tables import format_frame

            shown = table.assign(
                created_at=table["created_at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S")),
                case_hash=table["case_hash"].str[:12],
            )
            out.print(format_frame(shown, index=False), markup=False)

        run(debug, action)

    @app.command()
    def show(
        plan_id: Annotated[int, typer.Argument(help="Plan id from `history`.")],
        store: StoreOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
        debug: DebugOpt = False,
    ) -> None:
        """Show one stored plan: where it came from, its summary and its tables."""
        from planner.store.records import PlanStore, to_json

        def action() -> None:
            with PlanStore(store) as opened:
                record = opened.get(plan_id)
            if as_json:
                out.print(to_json(record), markup=False, soft_wrap=True)
                return
            s = record.summary
            out.print(
                f"plan {record.id}: {record.name or '(no name)'}, recorded "
                f"{record.created_at:%Y-%m-%d %H:%M:%S} UTC by {record.command}\n"
                f"case {record.case_name} ({record.case_hash}), scenario "
                f"{record.scenario or '(none)'}\n"
                f"status {s.get('status')}, gap {_percent(s.get('gap'))}, TCO "
                f"{s.get('total_cost_usd', 0):,.0f} USD, servers purchased "
                f"{s.get('servers_purchased')}, peak power {s.get('peak_power_kw', 0):,.0f} kW\n"
                f"solver {record.solver}\nversions {record.versions}"
                + (f"\nnote: {record.note}" if record.note else "")
                + (f"\nkept close to {record.current_plan}" if record.current_plan else ""),
                markup=False,
                soft_wrap=True,
            )
            for title, table in {**record.plan.tables(), **record.extra}.items():
                frame(f"{title}:", table)

        run(debug, action)

    @app.command()
    def diff(
        first: Annotated[int, typer.Argument(help="Plan id (a).")],
        second: Annotated[int, typer.Argument(help="Plan id (b).")],
        store: StoreOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Show what changed from plan a to plan b: inputs, totals, servers, cost, power.

        Servers, purchases, cost, power and replicas are listed by platform, region and
        quarter, changed keys only.
        """
        from planner.store.diff import diff_records
        from planner.store.records import PlanStore

        def action() -> None:
            with PlanStore(store) as opened:
                tables = diff_records(opened, first, second)
            titles = {
                "inputs": "Inputs that changed:",
                "totals": "Totals (a, b, b - a):",
                "servers": "Servers in service by platform, region and quarter:",
                "purchases": "Purchases by platform, region and order quarter:",
                "cost": "Cost (USD) by platform, region and quarter:",
                "power": "Facility power (kW) by region and quarter:",
                "replicas": "Replicas by model, platform, region and quarter:",
            }
            for key, table in tables.items():
                frame(titles[key], table if key != "inputs" else table.set_index("input"))

        run(debug, action)

    @app.command()
    def export(
        plan_id: Annotated[int, typer.Argument(help="Plan id from `history`.")],
        out_dir: Annotated[Path, typer.Option("--out", help="Folder for the plan.")],
        store: StoreOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Write a stored plan as a plan folder that `verify` checks, as `plan` writes one.

        The folder holds the tables, summary.json and report.md.
        """
        from planner.store.records import PlanStore

        def action() -> None:
            with PlanStore(store) as opened:
                opened.export(plan_id, out_dir)
            err.print(f"plan {plan_id} written to {out_dir}", markup=False, soft_wrap=True)

        run(debug, action)


def stable_plan(
    fleet: Fleet,
    scenario: Scenario | None,
    current: str,
    store: str | None,
    move_cost: float | None,
    bucket_costs: dict[str, float],
    max_moves: float | None,
    opts: dict,
):
    """Return the migration-aware plan ``plan --current`` asks for."""
    from planner.migration import MigrationOptions, make_stable_plan

    allocation, label = load_current(current, store)
    # the command line overrides the case's settings.yaml (migration:), key by key
    case = fleet.settings.migration
    options = MigrationOptions(
        move_cost_usd=case.move_cost_usd if move_cost is None else move_cost,
        bucket_move_cost_usd={**case.bucket_move_cost_usd, **bucket_costs},
        max_moves_per_quarter=case.max_moves_per_quarter if max_moves is None else max_moves,
    )
    return make_stable_plan(fleet, allocation, options, scenario, current_label=label, **opts)
