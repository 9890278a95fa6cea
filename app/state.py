"""Session state of the dashboard: widget keys, their defaults, and controls → scenario overrides.

Every what-if control maps onto one key of the scenario vocabulary of ``pl.Scenario``.
Overrides equal to the case's own value are left out, so the downloaded YAML holds only what
the user changed. The one thing here that plans is :class:`SolveJob`: it runs a ``pl.make_plan``
call in a worker thread, so that a Streamlit rerun (a button press during the solve) never
interrupts the solver; the page polls the job and shows its progress.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import pandas as pd
import yaml

import planner as pl

NO_PRESET = "(none: the case as it is)"
TIME_LIMIT_ENV = "FLEET_PLANNER_TIME_LIMIT"
DEFAULT_SCENARIO_NAME = "what_if"

# Widget keys (tests drive the app through these).
CASE_SOURCE = "case_source"
CASE_PICK = "case_pick"
UPLOAD = "upload"
PRESET = "preset"
SCENARIO_NAME = "scenario_name"
HORIZON = "horizon"
DR = "disaster_recovery"
OBJECTIVE = "objective"
SLOTS = "diurnal_slots"  # time of day: slots per UTC day (0: the daily peak only)
SLOT_CHOICES = (0, 1, 2, 3, 4, 6, 8, 12, 24)  # the divisors of 24 (settings.diurnal.slots)
TIME_LIMIT = "time_limit_s"
GAP = "mip_gap"
PLATFORM_CHANGES = "platform_changes"
SLO_CHANGES = "slo_changes"
EDIT_PLATFORMS = "edit_platforms"
EDIT_PROFILES = "edit_profiles"
POWER_CAPS = "power_caps"  # the region × quarter editor of power caps (kW)
CAP_SCALE = "cap_scale"  # one factor on every cap of every quarter
SOLVE = "solve"
CANCEL = "cancel"
SAVE = "save"
INSIGHT = "insight"
FRONTIER = "frontier"
COMPARE_PICK = "compare_pick"
EDITORS = (PLATFORM_CHANGES, SLO_CHANGES, EDIT_PLATFORMS, EDIT_PROFILES, POWER_CAPS)

# Keys holding app data rather than widget values.
ACTIVE_CASE = "_active_case"
ACTIVE_DATA = "_active_data"
DEFAULTS = "_control_defaults"  # the case's own control values, to tell user changes apart
EXTRAS = "_preset_extras"
PRESET_OVERLAY = "_preset_overlay"
CURRENT = "_current"
SAVED = "_saved"
BASE = "_base"  # the plan of the case as it is (the reference of the metric deltas)
FRONTIERS = "_frontiers"
JOB = "_job"  # the SolveJob running now (at most one per session)
PLANS = "_plans"  # successful outcomes by solve key; failures are never kept here
INSIGHTS = "_insights"  # insight re-plans by solve key (successful ones only)
CALLBACK_ERROR = "_callback_error"  # an error of a widget callback, shown by the next run

PLATFORM_CHANGE_COLUMNS = (
    "available",
    "throughput_multiplier",
    "capex_multiplier",
    "power_multiplier",
)
OBJECTIVES = ("tco", "power", "capex")


def bucket_key(bucket: str) -> str:
    """Return the widget key of a bucket's demand multiplier."""
    return f"dm_bucket__{bucket}"


def product_key(product: str) -> str:
    """Return the widget key of a product's demand multiplier."""
    return f"dm_product__{product}"


def region_key(region: str) -> str:
    """Return the widget key of a region's demand multiplier."""
    return f"dm_region__{region}"


def buckets(fleet: pl.Fleet) -> list[str]:
    """Return the buckets of the fleet's models, in first-seen order."""
    return list(dict.fromkeys(fleet.models["bucket"]))


def regions(fleet: pl.Fleet) -> list[str]:
    """Return the fleet's region ids."""
    return list(fleet.regions["region_id"])


def products(fleet: pl.Fleet) -> list[str]:
    """Return the fleet's product ids (empty when demand is given per model)."""
    return list(fleet.products["product_id"]) if len(fleet.products) else []


def base_caps(fleet: pl.Fleet) -> dict[str, float]:
    """Return the case's own power cap per region (kW), as written in regions.csv."""
    return {
        r: float(c)
        for r, c in zip(fleet.regions["region_id"], fleet.regions["power_cap_kw"], strict=True)
    }


def quarter_columns(fleet: pl.Fleet) -> list[str]:
    """Return the column names of the power-cap editor: one calendar label per quarter."""
    return [fleet.settings.quarter_label(q) for q in fleet.quarters]


def case_cap_schedule(fleet: pl.Fleet) -> dict[str, list[float]]:
    """Return the case's power cap per region and quarter (kW): regions.csv and its schedule."""
    caps = pl.power_caps(fleet)
    return {
        r: [float(v) for v in caps.loc[caps["region_id"] == r].sort_values("quarter")["cap_kw"]]
        for r in regions(fleet)
    }


def schedule_of(spec: float | Mapping[int, float], before: float, n: int) -> list[float]:
    """Return ``n`` quarters of caps from a scenario's ``power_cap_kw`` entry of one region.

    A number holds for every quarter; a ``{quarter: kW}`` schedule holds each cap from its
    quarter on, with ``before`` (the region's regions.csv cap) until its first quarter.
    """
    if not isinstance(spec, Mapping):
        return [float(spec)] * n
    out, cap = [], float(before)
    for q in range(n):
        cap = float(spec.get(q, cap))
        out.append(cap)
    return out


def cap_frame(fleet: pl.Fleet, preset: pl.Scenario | None = None) -> pd.DataFrame:
    """Return the editable power caps: one row per region, one column per quarter (kW).

    The values are the case's schedule, or a preset scenario's caps where it sets them.
    """
    schedule, before, n = case_cap_schedule(fleet), base_caps(fleet), len(fleet.quarters)
    rows = []
    for r in regions(fleet):
        spec = preset.power_cap_kw.get(r) if preset else None
        values = schedule[r] if spec is None else schedule_of(spec, before[r], n)
        rows.append({"region_id": r, **dict(zip(quarter_columns(fleet), values, strict=True))})
    return pd.DataFrame(rows, columns=["region_id", *quarter_columns(fleet)])


def cap_overrides(
    fleet: pl.Fleet, frame: pd.DataFrame | None, scale: float = 1.0
) -> dict[str, float | dict[int, float]]:
    """Turn the edited power caps (and a factor on all of them) into ``power_cap_kw``.

    Only regions whose caps differ from the case's in some quarter are written: one number
    when every quarter has the same cap, else a ``{quarter: kW}`` schedule of the quarters
    where the cap changes. Each quarter gets exactly the cap shown for it, so lowering one
    quarter never raises another (one number used to replace the whole schedule). A blank cell
    means the case's cap of that quarter.
    """
    schedule, before, columns = case_cap_schedule(fleet), base_caps(fleet), quarter_columns(fleet)
    shown = {} if frame is None else {row["region_id"]: row for row in frame.to_dict("records")}
    out: dict[str, float | dict[int, float]] = {}
    for r in regions(fleet):
        row = shown.get(r, {})
        values = []
        for q, col in enumerate(columns):
            v = row.get(col)
            values.append(float(scale) * (schedule[r][q] if v is None or pd.isna(v) else float(v)))
        if not any(_changed(v, c) for v, c in zip(values, schedule[r], strict=True)):
            continue
        if not any(_changed(v, values[0]) for v in values):
            out[r] = values[0]
            continue
        steps, cap = {}, before[r]
        for q, v in enumerate(values):
            if _changed(v, cap):
                steps[q] = cap = v
        out[r] = steps
    return out


def solver_time_limit(fleet: pl.Fleet) -> float:
    """Return the case's solver time limit, capped by ``$FLEET_PLANNER_TIME_LIMIT`` (seconds).

    An interactive dashboard (or a test) may want answers sooner than a batch run.
    """
    limit = float(fleet.settings.solver.time_limit_s)
    cap = os.environ.get(TIME_LIMIT_ENV)
    try:
        return min(limit, float(cap)) if cap else limit
    except ValueError:
        return limit


def control_defaults(fleet: pl.Fleet, preset: pl.Scenario | None = None) -> dict[str, Any]:
    """Return the value of every scalar control for ``fleet``, optionally under ``preset``."""
    dm = preset.demand_multiplier if preset else None
    s = fleet.settings
    values: dict[str, Any] = {
        SCENARIO_NAME: preset.name if preset else DEFAULT_SCENARIO_NAME,
        HORIZON: int(
            preset.horizon_quarters if preset and preset.horizon_quarters else s.horizon_quarters
        ),
        DR: bool(
            s.disaster_recovery.enabled
            if not preset or preset.disaster_recovery is None
            else preset.disaster_recovery
        ),
        OBJECTIVE: preset.objective if preset and preset.objective else s.objective,
        SLOTS: int(
            preset.diurnal_slots
            if preset and preset.diurnal_slots is not None
            else s.diurnal.slots
        ),
        TIME_LIMIT: solver_time_limit(fleet),
        GAP: float(s.solver.mip_gap),
        CAP_SCALE: 1.0,
    }
    for b in buckets(fleet):
        values[bucket_key(b)] = float(dm.bucket.get(b, 1.0)) if dm else 1.0
    for p in products(fleet):
        values[product_key(p)] = float(dm.product.get(p, 1.0)) if dm else 1.0
    for r in regions(fleet):
        values[region_key(r)] = float(dm.region.get(r, 1.0)) if dm else 1.0
    return values


def preset_extras(preset: pl.Scenario | None) -> dict[str, Any]:
    """Return the parts of a preset scenario that no control shows (kept and merged back)."""
    if preset is None:
        return {}
    body = yaml.safe_load(pl.scenario_to_yaml(preset))["scenarios"][preset.name] or {}
    extras: dict[str, Any] = {}
    for key in ("description", "new_platforms"):
        if key in body:
            extras[key] = body[key]
    model_dm = body.get("demand_multiplier", {}).get("model")
    if model_dm:
        extras["demand_multiplier"] = {"model": model_dm}
    hidden = {
        pid: {k: v for k, v in change.items() if k not in PLATFORM_CHANGE_COLUMNS}
        for pid, change in body.get("platform_changes", {}).items()
    }
    hidden = {pid: change for pid, change in hidden.items() if change}
    if hidden:
        extras["platform_changes"] = hidden
    return extras


def reset_controls(
    state: MutableMapping[str, Any], fleet: pl.Fleet, preset: pl.Scenario | None = None
) -> None:
    """Set every control to the case's values (or a preset's) and forget table edits."""
    for key in list(state.keys()):
        if str(key).startswith("dm_") or key in EDITORS:
            del state[key]
    state.update(control_defaults(fleet, preset))
    state[DEFAULTS] = control_defaults(fleet)
    state[EXTRAS] = preset_extras(preset)
    state[PRESET_OVERLAY] = preset


def follow_data(state: MutableMapping[str, Any], fleet: pl.Fleet) -> None:
    """Update the controls after the case's files changed on disk.

    Controls left at the case's values take the new values; changed ones keep the user's;
    controls of new ids appear.
    """
    old = state.get(DEFAULTS, {})
    new = control_defaults(fleet)
    for key, value in new.items():
        if key not in state or (key in old and state[key] == old[key]):
            state[key] = value
    state[DEFAULTS] = new


def platform_change_frame(fleet: pl.Fleet, preset: pl.Scenario | None = None) -> pd.DataFrame:
    """Return the editable platform-change table: one row per platform, neutral values."""
    rows = []
    for pid, cls in zip(
        fleet.platforms["platform_id"], fleet.platforms["platform_class"], strict=True
    ):
        change = preset.platform_changes.get(pid) if preset else None
        rows.append(
            {
                "platform_id": pid,
                "platform_class": cls,
                "available": change.available if change else True,
                "throughput_multiplier": change.throughput_multiplier if change else 1.0,
                "capex_multiplier": change.capex_multiplier if change else 1.0,
                "power_multiplier": change.power_multiplier if change else 1.0,
            }
        )
    return pd.DataFrame(rows)


def slo_frame(fleet: pl.Fleet, preset: pl.Scenario | None = None) -> pd.DataFrame:
    """Return the editable SLO table: one row per model; blank new SLO means unchanged."""
    rows = []
    for mid, bucket, slo in zip(
        fleet.models["model_id"],
        fleet.models["bucket"],
        fleet.models["latency_slo_ms"],
        strict=True,
    ):
        change = preset.slo_changes.get(mid) if preset else None
        rows.append(
            {
                "model_id": mid,
                "bucket": bucket,
                "latency_slo_ms": float(slo),
                "new_latency_slo_ms": change.latency_slo_ms if change else None,
                "throughput_multiplier": change.throughput_multiplier if change else 1.0,
            }
        )
    return pd.DataFrame(rows).astype({"new_latency_slo_ms": "float64"})


def _changed(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) > 1e-12


def build_overrides(
    fleet: pl.Fleet,
    values: Mapping[str, Any],
    platform_changes: pd.DataFrame | None = None,
    slo_changes: pd.DataFrame | None = None,
    extras: Mapping[str, Any] | None = None,
    power_caps: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Turn control values into a scenario body (the vocabulary of ``pl.Scenario``).

    Only values that differ from the case itself are written. ``power_caps`` is the
    region × quarter editor (:func:`cap_frame`), scaled by the ``CAP_SCALE`` control.
    """
    body: dict[str, Any] = copy.deepcopy(dict(extras or {}))
    dm = body.setdefault("demand_multiplier", {})
    for kind, names, key in (
        ("bucket", buckets(fleet), bucket_key),
        ("product", products(fleet), product_key),
        ("region", regions(fleet), region_key),
    ):
        factors = {
            n: float(values[key(n)])
            for n in names
            if key(n) in values and _changed(values[key(n)], 1.0)
        }
        if factors:
            dm[kind] = factors
    if not dm:
        body.pop("demand_multiplier")

    new_caps = cap_overrides(fleet, power_caps, float(values.get(CAP_SCALE, 1.0)))
    if new_caps:
        body["power_cap_kw"] = new_caps

    changes = body.setdefault("platform_changes", {})
    if platform_changes is not None:
        for row in platform_changes.to_dict("records"):
            change = {}
            if not bool(row["available"]):
                change["available"] = False
            for col in PLATFORM_CHANGE_COLUMNS[1:]:
                value = row.get(col)
                if value is not None and not pd.isna(value) and _changed(value, 1.0):
                    change[col] = float(value)
            if change:
                changes.setdefault(row["platform_id"], {}).update(change)
    if not changes:
        body.pop("platform_changes")

    if slo_changes is not None:
        slo = {}
        for row in slo_changes.to_dict("records"):
            new = row.get("new_latency_slo_ms")
            if new is None or pd.isna(new):
                continue
            tput = row.get("throughput_multiplier")
            slo[row["model_id"]] = {
                "latency_slo_ms": float(new),
                "throughput_multiplier": 1.0 if tput is None or pd.isna(tput) else float(tput),
            }
        if slo:
            body["slo_changes"] = slo

    s = fleet.settings
    if HORIZON in values and int(values[HORIZON]) != s.horizon_quarters:
        body["horizon_quarters"] = int(values[HORIZON])
    if DR in values and bool(values[DR]) != s.disaster_recovery.enabled:
        body["disaster_recovery"] = bool(values[DR])
    if OBJECTIVE in values and values[OBJECTIVE] != s.objective:
        body["objective"] = values[OBJECTIVE]
    if SLOTS in values and int(values[SLOTS]) != s.diurnal.slots:
        body["diurnal_slots"] = int(values[SLOTS])
    return body


def frame_digest(*frames: pd.DataFrame | None) -> str:
    """Return a short digest of table contents (cache keys for edited tables)."""
    h = hashlib.sha1()
    for frame in frames:
        h.update(b"-" if frame is None else frame.to_csv(index=False).encode())
    return h.hexdigest()[:16]


def bytes_digest(data: bytes) -> str:
    """Return a short digest of uploaded bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def merged_yaml(scenarios: list[pl.Scenario]) -> str:
    """Return one ``scenarios:`` YAML document holding every scenario given."""
    merged: dict[str, Any] = {}
    for scenario in scenarios:
        merged.update(yaml.safe_load(pl.scenario_to_yaml(scenario))["scenarios"])
    return yaml.safe_dump({"scenarios": merged}, sort_keys=False)


# --------------------------------------------------------------------------- solving
STOP_REASONS = {
    "gap": "proven within the gap",
    "time": "stopped by the time limit",
    "cancelled": "stopped early (Stop improving)",
    "exhausted": "nothing left to try",
}


def plan_outcome(make: Callable[[], pl.Plan]) -> dict[str, Any]:
    """Run ``make`` and return what came of it as a dict; never raises.

    ``kind`` is ``ok`` (with ``plan``), ``infeasible`` (``message``, ``explanation``),
    ``invalid`` (``header``, ``problems``) or ``error`` (``message``, and ``usage`` when the
    solve could not run as asked); ``seconds`` is the time.
    """
    started = time.perf_counter()
    try:
        outcome: dict[str, Any] = {"kind": "ok", "plan": make()}
    except pl.InfeasiblePlanError as exc:
        outcome = {"kind": "infeasible", "message": str(exc), "explanation": exc.explanation}
    except pl.FleetDataError as exc:
        outcome = {
            "kind": "invalid",
            "header": exc.header,
            "problems": [p.render() for p in exc.problems],
        }
    except pl.PlannerError as exc:
        # exit code 2 is a usage error (e.g. move costs with the power objective): the solve
        # could not run as asked, which is not "no plan found"
        outcome = {"kind": "error", "message": str(exc), "usage": exc.exit_code == 2}
    except Exception as exc:  # a bug must not leave the page waiting for a dead thread
        outcome = {"kind": "error", "message": f"{type(exc).__name__}: {exc}"}
    outcome["seconds"] = time.perf_counter() - started
    return outcome


class SolveJob:
    """One ``pl.make_plan`` call in a worker thread, with its progress and a stop flag.

    ``solve(progress, should_stop)`` must return a plan; the worker touches no Streamlit API,
    so reruns of the page (which interrupt the script at its next Streamlit call) leave it
    running. :meth:`cancel` makes ``should_stop`` return True: the planner ends improvement at
    its next stage and returns the best plan so far.
    """

    def __init__(
        self,
        key: str,
        solve: Callable[[Callable[[pl.Progress], None], Callable[[], bool]], pl.Plan],
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.key = key
        self.meta = dict(meta or {})
        self.started = time.perf_counter()
        self._solve = solve
        self._lock = threading.Lock()
        self._progress: list[pl.Progress] = []
        self._stop = threading.Event()
        self._done = threading.Event()
        self._outcome: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name=f"solve-{key[:24]}", daemon=True)

    def start(self) -> SolveJob:
        """Start the worker thread; return self."""
        self._thread.start()
        return self

    def _report(self, step: pl.Progress) -> None:
        with self._lock:
            self._progress.append(step)

    def _run(self) -> None:
        outcome = plan_outcome(lambda: self._solve(self._report, self._stop.is_set))
        outcome["progress"] = self.progress()
        with self._lock:
            self._outcome = outcome
        self._done.set()

    def cancel(self) -> None:
        """Ask the planner to stop improving (it returns the best plan so far)."""
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._stop.is_set()

    def done(self) -> bool:
        """Whether the worker has finished (the outcome is ready)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker at most ``timeout`` seconds; return whether it finished."""
        return self._done.wait(timeout)

    def elapsed(self) -> float:
        """Seconds since the job was created."""
        return time.perf_counter() - self.started

    def progress(self) -> list[pl.Progress]:
        """The progress reports so far (a copy)."""
        with self._lock:
            return list(self._progress)

    def outcome(self) -> dict[str, Any] | None:
        """The outcome (see :func:`plan_outcome`) with ``progress``; None while running."""
        with self._lock:
            return None if self._outcome is None else dict(self._outcome)


def gap_text(gap: object) -> str:
    """Format a relative gap: '0.37 %', or 'n/a' when unknown."""
    return f"{gap:.2%}".replace("%", " %") if isinstance(gap, int | float) else "n/a"


def status_line(summary: Mapping[str, Any]) -> str:
    """Say how good a plan is: 'optimal (gap 0.37 %)' or 'feasible, gap 1.20 % — not proven'."""
    status, gap = summary.get("status", "?"), summary.get("gap")
    if status == "optimal":
        return f"optimal (gap {gap_text(gap)})"
    if gap is None:
        return f"{status}, gap unknown — not proven"
    return f"{status}, gap {gap_text(gap)} — not proven"


def within_gaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool | None:
    """Whether the TCO difference of two plans (their summaries) lies within their gaps.

    A plan of cost c and relative gap g may cost up to g·c more than the best plan of its
    scenario, so a difference of at most g_a·c_a + g_b·c_b may be solver slack, not the
    scenario (the rule of ``pl.compare_plans``' differences table, which the Compare tab shows
    when the library has it). None when a gap is unknown or the objective is not tco.
    """
    slack = 0.0
    for s in (a, b):
        gap, cost = s.get("gap"), s.get("total_cost_usd")
        if (
            s.get("objective", "tco") != "tco"
            or not isinstance(gap, int | float)
            or not isinstance(cost, int | float)
        ):
            return None
        slack += max(0.0, gap) * abs(cost)
    diff = abs(a["total_cost_usd"] - b["total_cost_usd"])
    return diff <= slack + 1e-9 * max(abs(a["total_cost_usd"]), abs(b["total_cost_usd"]), 1.0)


def objective_unit(objective: str) -> str:
    """The unit the dashboard shows a planner objective in (its kUSD become USD)."""
    return "USD" if objective in ("tco", "capex") else "objective units"


def progress_frame(steps: list[Any], objective: str = "tco") -> pd.DataFrame:
    """Return a solve's progress as a table: stage, seconds, best plan, bound, gap.

    ``steps`` are ``pl.Progress`` reports or the dicts of ``plan.summary["stages"]``; the
    planner's kUSD are turned into USD for the tco and capex objectives.
    """
    scale = 1e3 if objective_unit(objective) == "USD" else 1.0
    rows = []
    for step in steps:
        get = step.get if isinstance(step, Mapping) else lambda k, s=step: getattr(s, k, None)
        objective_value, bound = get("objective"), get("bound")
        rows.append(
            {
                "stage": str(get("stage")),
                "seconds": float(get("seconds") or 0.0),
                "best plan": None if objective_value is None else objective_value * scale,
                "bound": None if bound is None else bound * scale,
                "gap": get("gap"),
            }
        )
    columns = ["stage", "seconds", "best plan", "bound", "gap"]
    return pd.DataFrame(rows, columns=columns).astype(
        {"seconds": "float64", "best plan": "float64", "bound": "float64", "gap": "float64"}
    )
