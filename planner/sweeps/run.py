"""Run a sweep on a local process pool or a Dask cluster, resumably, with progress.

:func:`run_sweep` plans every scenario of a sweep file through one
:class:`concurrent.futures.Executor`: a :class:`~concurrent.futures.ProcessPoolExecutor` by
default, or a Dask cluster's executor (``scheduler="local"`` starts a ``LocalCluster`` of
processes; any other string is a scheduler address for ``dask.distributed.Client``). Nothing
else differs between them. Rows are written as they arrive and the results table is
consolidated every few seconds and at the end (see :mod:`planner.sweeps.store`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planner.errors import FleetDataError, Problem
from planner.sweeps.record import SweepRecording, absolute_store
from planner.sweeps.spec import SweepSpec, input_key, load_sweep, points
from planner.sweeps.store import consolidate, read_rows, write_meta, write_row
from planner.sweeps.worker import (
    case_fleet,
    failed_row,
    load_case_path,
    plan_point,
    scenario_fleet,
)

CONSOLIDATE_EVERY_S = 5.0
FAILED = ("infeasible", "invalid", "no_plan", "error")


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands: scenarios in total, done (of them failed), running, skipped."""

    total: int
    done: int
    running: int
    failed: int
    skipped: int
    elapsed_s: float


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its results table and what this run did."""

    results: pd.DataFrame
    out_dir: Path
    planned: int
    skipped: int
    failed: int
    seconds: float
    executor: str


def scenario_ids(n: int) -> list[str]:
    """Return the ids ``s0000``, ``s0001``, ... (wide enough for ``n``)."""
    width = max(4, len(str(max(n - 1, 0))))
    return [f"s{i:0{width}d}" for i in range(n)]


def validate_against_case(case_dir: str, spec: SweepSpec, inputs: list[dict]) -> None:
    """Check each swept path with its first value against the case (one error for all).

    Catches unknown keys or ids (``platform_changes.zoin.available``) before any work is
    sent to workers; values that are only invalid in some scenarios become ``invalid`` rows.
    """
    problems: list[Problem] = []
    for path in spec.parameters:
        try:
            scenario_fleet(case_dir, spec.base, {path: inputs[0][path]}, "check")
        except FleetDataError as exc:
            problems += [
                Problem(
                    f"sweep key '{path}'",
                    p.render().lstrip(", :"),
                    "use a path of the scenario vocabulary (README, 'Scenario "
                    "sweeps') with ids of this case",
                )
                for p in exc.problems
            ]
    if problems:
        raise FleetDataError(problems, header="The sweep does not fit the case")


# A LocalCluster shares the machine with its own scheduler and nannies: the workers' sampling
# profiler (every 10 ms it walks the running thread's stack, holding the GIL) and the 500 ms
# system monitor made scenarios 12-26 % slower in the worker than in a pool process on a quiet
# 2-core machine (bench/README.md, "LocalCluster against the process pool"). Only the cluster
# we start gets this; a user's own cluster keeps its configuration.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
}


@contextlib.contextmanager
def open_executor(workers: int, scheduler: str | None) -> Iterator[tuple[Executor, str, int]]:
    """Yield an executor, its description and its number of workers.

    Args:
        workers: Local processes (or LocalCluster workers).
        scheduler: None for a process pool, ``local`` for a Dask LocalCluster of processes,
            else the address of a running Dask scheduler.
    """
    if scheduler is None:
        # forkserver, not fork: the parent runs a progress thread, and forked locks can
        # deadlock; the server imports the planner once, so each worker starts in milliseconds
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["planner.sweeps.worker"])
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            yield pool, f"process pool ({workers} workers)", workers
        return
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        with (
            dask.config.set(LOCAL_CLUSTER_CONFIG),
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client.get_executor(pure=False), f"dask LocalCluster ({workers} workers)", workers
        return
    with Client(scheduler) as client:
        n = max(1, sum(client.nthreads().values()))
        yield client.get_executor(pure=False), f"dask cluster at {scheduler} ({n} threads)", n


def run_sweep(
    case_dir: str | Path,
    sweep: SweepSpec | str | Path,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
    sweep_folder: str | Path | None = None,
    lean: bool = True,
    store: str | None = None,
    name: str | None = None,
    note: str | None = None,
) -> SweepResult:
    """Plan every scenario of ``sweep`` on ``case_dir``; rows go to ``out_dir`` as they come.

    Scenarios already in ``out_dir`` with the same inputs and options are skipped (resume).
    A scenario that fails is a row with its status and message; the sweep goes on.

    Args:
        case_dir: The case folder.
        sweep: A sweep spec or the path of a sweep file.
        out_dir: Results folder (created).
        workers: Worker processes (default: the machine's cores).
        scheduler: None (process pool), ``local`` (Dask LocalCluster) or a scheduler address.
        progress: Called with a :class:`SweepProgress` whenever a scenario finishes.
        sweep_folder: Where relative paths of the sweep file point (empirical CSVs);
            default: the sweep file's folder, or the working directory for a spec.
        lean: Plan each scenario with ``make_plan(..., lean=True)`` (default; verified as
            always). False plans as ``planner plan`` does (greedy comparison every time);
            ``bench/sweep.py`` measures the two side by side.
        store: Record every planned scenario's verified plan in this plan store (a path,
            ``sqlite:///PATH`` or ``postgresql://...``), from the workers, with ``name`` and
            ``note``; each row gets its ``store_id``. Scenarios finished by an earlier run
            are not recorded again.
        name: The records' name (e.g. the sweep's); their scenario is the scenario id.
        note: The records' note.

    Raises:
        FleetDataError: When the case, the sweep file or a swept path is invalid.
    """
    start = time.perf_counter()
    if not isinstance(sweep, SweepSpec):
        sweep_folder = sweep_folder or Path(sweep).parent
        sweep = load_sweep(sweep)
    case = load_case_path(case_dir)
    case_fleet(case)  # a broken case fails here, once, with its own message
    inputs = points(sweep, sweep_folder or ".")
    validate_against_case(case, sweep, inputs)
    ids = scenario_ids(len(inputs))
    options = sweep.solver.model_dump()
    if not lean:  # only when off, so the resume keys of lean sweeps stay as they were
        options["lean"] = False
    keys = {i: input_key(x, sweep.base, options) for i, x in zip(ids, inputs, strict=True)}
    recording = None
    if store is not None or name is not None or note is not None:
        from planner.store.records import PlanStore

        url = absolute_store(store)
        PlanStore(url).close()  # a bad URL or a newer schema fails here, once, not per worker
        recording = SweepRecording(url, name, note)
    record = {} if recording is None else {"recording": recording}  # plan_point's keyword
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_meta(
        out,
        {
            "case": case,
            "base": sweep.base,
            "parameters": sweep.parameters,
            "options": options,
            "scenarios": len(ids),
        },
    )
    # rows of workers that died are re-planned: the scenario itself may be fine
    done = {
        i: r
        for i, r in read_rows(out).items()
        if i in keys and r.get("input_key") == keys[i] and not r.get("retry")
    }
    todo = [(i, x) for i, x in zip(ids, inputs, strict=True) if i not in done]
    failed = sum(r.get("status") in FAILED for r in done.values())
    skipped, planned = len(done), 0
    n_workers = workers or os.cpu_count() or 1

    def report(running: int) -> None:
        if progress is not None:
            progress(
                SweepProgress(
                    len(ids),
                    skipped + planned,
                    running,
                    failed,
                    skipped,
                    time.perf_counter() - start,
                )
            )

    report(0)
    described = "no executor (every scenario already done)"
    if todo:
        with open_executor(n_workers, scheduler) as (pool, described, n_workers):
            pending: dict[Future, tuple[str, dict]] = {
                pool.submit(plan_point, case, sweep.base, i, x, options, **record): (i, x)
                for i, x in todo
            }
            last = time.perf_counter()
            while pending:
                finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in finished:
                    i, x = pending.pop(fut)
                    try:
                        row = fut.result()
                    except Exception as exc:  # the worker died: a row, not a crashed sweep
                        row = failed_row(i, x, f"worker failed: {type(exc).__name__}: {exc}")
                    row["input_key"] = keys[i]
                    write_row(out, row)
                    planned += 1
                    failed += row.get("status") in FAILED
                if time.perf_counter() - last > CONSOLIDATE_EVERY_S:
                    consolidate(out, ids)
                    last = time.perf_counter()
                report(min(n_workers, len(pending)))
    results = consolidate(out, ids)
    return SweepResult(
        results, out, planned, skipped, failed, time.perf_counter() - start, described
    )
