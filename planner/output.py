"""Writing plans to disk atomically and safely, and the human-readable plan report.

A plan (or case) folder is written into a hidden temporary sibling (``.OUT.tmp-xxxxxxxx``) and
swapped into place, so no reader ever sees a half-written folder. Writers to one folder take
its lock (``.OUT.lock`` next to it while held), so two runs never interleave; under the lock, what a
killed run left behind is recovered first: a previous plan parked as ``.OUT.old`` is put back
when OUT is missing (a kill between the two renames of the swap), and leftover temporary
folders are removed (a kill during the write). Folders and files get the permissions of the
user's umask, like any other file the user creates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

try:
    import fcntl
except ImportError:  # Windows: no flock; output folders are not locked there
    fcntl = None  # type: ignore[assignment]

from planner.compare import bound_usd
from planner.errors import PlannerError
from planner.fleet import Fleet
from planner.results import Plan, published_tables

FORMATS = ("csv", "parquet", "json")
LOCK_TIMEOUT_S = 10.0  # how long a second writer of one folder waits before giving up
_TEMP_SUFFIX = re.compile(r"tmp-[0-9a-f]{8}|[a-z0-9_]{8}")  # ours; the second: older mkdtemp


class OutputLockedError(PlannerError):
    """Another run holds the lock of the output folder (a usage error: pick another one)."""

    exit_code = 2


def write_plan(
    plan: Plan,
    out_dir: str | Path,
    fleet: Fleet,
    formats: Iterable[str] = ("csv",),
    extra: dict[str, pd.DataFrame] | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> Path:
    """Write the plan's tables, ``summary.json`` and ``report.md`` into ``out_dir``.

    Everything is written into a temporary sibling folder first and then renamed into place,
    so a killed run never leaves a half-written plan; an existing ``out_dir`` is replaced.

    Raises:
        OutputLockedError: When another run holds ``out_dir``'s lock for ``lock_timeout_s``.
    """
    out = Path(out_dir)
    with staged_folder(out, lock_timeout_s=lock_timeout_s) as tmp:
        # labelled and rounded copies; the plan in memory stays exact for the verifier
        tables = published_tables(plan, fleet) | (extra or {})
        for name, frame in tables.items():
            for fmt in formats:
                _write_frame(frame, tmp / f"{name}.{fmt}", fmt)
        (tmp / "summary.json").write_text(
            json.dumps(_jsonable(plan.summary), indent=2) + "\n", encoding="utf-8"
        )
        (tmp / "report.md").write_text(plan_report(plan, fleet), encoding="utf-8")
    return out


def lock_file(out: str | Path) -> Path:
    """Return the lock file of output folder ``out``: ``.NAME.lock`` next to it."""
    out = Path(out).absolute()
    return out.with_name(f".{out.name}.lock")


@contextlib.contextmanager
def output_lock(out: str | Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the lock of output folder ``out`` (re-entrant within a thread).

    The lock is an exclusive ``flock`` on ``.NAME.lock`` next to the folder; the holder
    removes the file before letting go, so nothing is left beside the folder, and a waiter
    that locked a removed file tries again (see :func:`_acquire`). A killed holder's lock
    ends with its process. (Without ``fcntl``, on Windows, folders are not locked.)

    Args:
        out: The folder that will be written.
        timeout_s: Seconds to wait for another holder before giving up.

    Yields:
        The lock file.

    Raises:
        OutputLockedError: When another process or thread holds the lock for ``timeout_s``.
    """
    path = lock_file(out)
    held = _held.__dict__.setdefault("paths", {})
    if path in held or fcntl is None:  # this thread holds it already: nested writer
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, out, timeout_s)
    held[path] = fd
    try:
        yield path
    finally:
        del held[path]
        # Remove the file while still holding it: a waiter that then locks it sees that
        # it was removed and starts again on a new file, so two holders never coexist.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)  # closing the descriptor releases the lock


_held = threading.local()  # lock files this thread holds (the lock is re-entrant per thread)


def _acquire(path: Path, out: str | Path, timeout_s: float) -> int:
    """Return a descriptor holding ``path``'s exclusive lock, polling until ``timeout_s``."""
    deadline = time.monotonic() + max(0.0, timeout_s)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise OutputLockedError(
                    f"another run is writing {out} (it holds {path} and did not finish within "
                    f"{timeout_s:g} s). Fix: wait for it to finish, or pick another output "
                    "folder"
                ) from None
            time.sleep(0.05)
            continue
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            return fd
        os.close(fd)  # the previous holder removed this file meanwhile: lock the new one


def recover_output(out: str | Path) -> list[str]:
    """Repair what a killed writer of ``out`` left behind; call it holding ``out``'s lock.

    A previous folder parked as ``.NAME.old`` is renamed back when ``out`` is missing (the
    writer died between its two renames), else removed; temporary ``.NAME.tmp-*`` folders of
    a writer that died while writing are removed.

    Returns:
        What was done, one sentence each (empty when nothing was left behind).
    """
    out = Path(out)
    done = []
    old = out.with_name(f".{out.name}.old")
    if old.is_dir() and not out.exists():
        os.replace(old, out)
        done.append(f"restored {out} from {old.name} (a run was killed while replacing it)")
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)
        done.append(f"removed {old.name}")
    prefix = f".{out.name}."
    if out.parent.is_dir():
        for path in out.parent.iterdir():
            name = path.name
            if (name.startswith(prefix) and path.is_dir() and not path.is_symlink()
                    and _TEMP_SUFFIX.fullmatch(name[len(prefix):])):
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {name} (left by a killed run)")
    return done


@contextlib.contextmanager
def staged_folder(out: Path, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; on success it replaces ``out`` whole.

    The block runs holding ``out``'s lock, after :func:`recover_output`. A failure inside the
    block removes the temporary folder and leaves any previous ``out`` as it was, so no reader
    ever sees a half-written folder; a kill leaves debris that the next writer cleans.

    Raises:
        OutputLockedError: When another run holds ``out``'s lock for ``lock_timeout_s``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out, lock_timeout_s):
        recover_output(out)
        tmp = _new_folder(out)
        try:
            yield tmp
            _replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _new_folder(out: Path) -> Path:
    """Create an empty hidden sibling of ``out``; mode 0o777 minus the umask, like ``mkdir``.

    ``tempfile.mkdtemp`` would make it 0o700, and the folder keeps that mode once renamed.
    """
    while True:
        tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
        try:
            tmp.mkdir(mode=0o777)
            return tmp
        except FileExistsError:  # a name taken by chance: draw another
            continue


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``; the old folder is removed only after the new one is complete."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)  # put the previous complete plan back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "json":
        frame.to_json(path, orient="records", indent=1)
    else:
        raise ValueError(f"unknown format {fmt}; use {', '.join(FORMATS)}")


def _jsonable(data: object) -> object:
    if isinstance(data, dict):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_jsonable(v) for v in data]
    if hasattr(data, "item"):
        return data.item()
    return data


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (mode from the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
        try:
            # 0o666 minus the umask, like open(); mkstemp would make it 0o600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def plan_report(plan: Plan, fleet: Fleet) -> str:
    """Return a Markdown report of the plan: status, cost, what to buy, fleet and power."""
    s = plan.summary
    label = fleet.settings.quarter_label
    lines = [
        f"# Capacity plan: {s.get('case')}"
        + (f" (scenario {s['scenario']})" if s.get("scenario") else ""),
        "",
        f"- Status: **{s.get('status')}** ({s.get('solver')}, gap {_pct(s.get('gap'))}); "
        f"verified: {s.get('verified')}",
        *_proof_lines(s),
        f"- Objective: {s.get('objective')}; horizon {s.get('horizon_quarters')} quarters from "
        f"{fleet.settings.first_quarter}",
        f"- Total cost of ownership: {s.get('total_cost_usd', 0):,.0f} USD (capex "
        f"{s.get('capex_usd', 0):,.0f}, energy {s.get('energy_usd', 0):,.0f}, maintenance "
        f"{s.get('maintenance_usd', 0):,.0f})",
        f"- Servers to buy: {s.get('servers_purchased', 0):,}; peak facility power "
        f"{s.get('peak_power_kw', 0):,.1f} kW",
        f"- Model built in {s.get('build_seconds', 0):.2f} s, solved in "
        f"{s.get('solve_seconds', 0):.2f} s",
        # check warnings (planner.checks.fleet_warnings): planned, but maybe not as meant
        *(f"- **Warning**: {w}" for w in s.get("warnings") or []),
        "",
    ]
    lines += _stages_table(s)
    lines += ["## Purchases", ""]
    if plan.purchases.empty:
        lines.append("No purchases: the existing fleet serves the horizon.")
    else:
        buy = plan.purchases.groupby(
            ["platform_id", "region_id", "order_quarter", "arrival_quarter"], as_index=False
        )["servers"].sum()
        lines += ["| platform | region | order | in service | servers |", "|---|---|---|---|---|"]
        lines += [
            f"| {b.platform_id} | {b.region_id} | {label(b.order_quarter)} | "
            f"{label(b.arrival_quarter)} | {int(b.servers):,} |"
            for b in buy.itertuples(index=False)
        ]
    lines += ["", "## Servers in service by platform class and quarter", ""]
    by_class = plan.fleet.pivot_table(
        index="platform_class",
        columns="quarter",
        values="in_service_servers",
        aggfunc="sum",
        fill_value=0,
    )
    lines += _markdown_table(by_class.rename(columns=label))
    lines += ["", "## Servers by bucket and quarter", ""]
    by_bucket = plan.allocation.pivot_table(
        index="bucket", columns="quarter", values="servers", aggfunc="sum", fill_value=0
    )
    lines += _markdown_table(by_bucket.rename(columns=label))
    lines += ["", "## Facility power against caps (kW)", ""]
    power = plan.power.assign(q=plan.power["quarter"].map(label))
    lines += ["| region | quarter | power | cap | headroom |", "|---|---|---|---|---|"]
    lines += [
        f"| {p.region_id} | {p.q} | {p.power_kw:,.1f} | {p.cap_kw:,.1f} | {p.headroom_kw:,.1f} |"
        for p in power.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def _pct(gap: object) -> str:
    """Return a relative gap as a percentage, or n/a when the solver gave none."""
    if gap is None or (isinstance(gap, float) and gap != gap):  # None or NaN
        return "n/a"
    return f"{100 * float(gap):.3f} %"  # type: ignore[arg-type]


def _kusd(value: object) -> str:
    """Return an objective value or bound (kUSD, the model's units) in USD, or n/a."""
    return "n/a" if value is None else f"{1e3 * float(value):,.0f} USD"  # type: ignore[arg-type]


def _proof_lines(s: dict) -> list[str]:
    """Return the report's lines on how good the plan is: bound, first plan, why it stopped.

    A reader deciding on a plan needs to know how far from the best plan it may be; USD
    only for the tco objective, whose bound is a cost (other objectives' are not).
    """
    lines = []
    if s.get("objective", "tco") == "tco":
        bound = bound_usd(s, s.get("total_cost_usd"))
        line = f"- Best bound: {'n/a' if bound is None else f'{bound:,.0f} USD'}"
        if s.get("lp_bound") is not None:
            line += f" (LP relaxation {_kusd(s['lp_bound'])})"
        lines.append(line)
    elif s.get("best_bound") is not None:
        lines.append(f"- Best bound on the {s.get('objective')} objective: {s['best_bound']:,.4g}")
    if s.get("first_plan_seconds") is not None:
        first = s.get("first_plan_objective")
        lines.append(
            f"- First plan after {s['first_plan_seconds']:.2f} s"
            + (f", {_kusd(first)}" if first is not None and s.get("objective") == "tco" else "")
            + f", gap {_pct(s.get('first_plan_gap'))} against the best bound"
        )
    if s.get("stopped"):
        why = {"gap": "the gap target was reached", "time": "the time limit ran out",
               "cancelled": "it was cancelled", "exhausted": "every stage had run"}
        lines.append(f"- Stopped because {why.get(s['stopped'], s['stopped'])}")
    return lines


def _stages_table(s: dict) -> list[str]:
    """Return the anytime path's stages as a Markdown section (empty for CBC plans)."""
    stages = s.get("stages") or []
    if not stages:
        return []
    lines = ["## Solver stages", "", "| stage | seconds | objective | bound | gap |",
             "|---|---|---|---|---|"]
    for st in stages:
        objective = "–" if st.get("objective") is None else f"{st['objective']:,.3f}"
        bound = "–" if st.get("bound") is None else f"{st['bound']:,.3f}"
        lines.append(f"| {st.get('stage')} | {st.get('seconds', 0):.3f} | {objective} | "
                     f"{bound} | {_pct(st.get('gap'))} |")
    units = "kUSD" if s.get("objective", "tco") == "tco" else "the model's scaled units"
    return [*lines, "", f"Objective and bound in {units}.", ""]


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    cols = [str(c) for c in frame.columns]
    out = ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for idx, row in frame.iterrows():
        out.append(f"| {idx} | " + " | ".join(f"{v:,.0f}" for v in row.values) + " |")
    return out
