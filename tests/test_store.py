"""The plan store: records, history, diff, export + verify, migrations, concurrent writers.

Every behaviour runs against an embedded SQLite file and against a throwaway PostgreSQL server
(``postgres_server.py``; skipped locally without server binaries, never in CI).
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from cases import tiny_fleet, write_fleet
from postgres_server import postgres_server, postgres_url  # noqa: F401 (fixtures)
from store_workers import write_records
from typer.testing import CliRunner

from planner.checks import check_fleet
from planner.cli import app
from planner.pipeline import make_plan
from planner.store import PlanStore, StoreError, case_hash, diff_records
from planner.store import schema as store_schema
from planner.store.engine import create_store_engine
from planner.store.frames import to_parquet_bytes
from planner.verify import verify_plan


def _grown(fleet):
    """Return ``fleet`` with rank's Q1 demand at 1,500 qps (was 1,200): one more ASIC."""
    demand = fleet.demand.copy()
    demand.loc[(demand["model_id"] == "rank") & (demand["quarter"] == 1), "peak_qps"] = 1500.0
    grown = fleet.replace(demand=demand)
    check_fleet(grown)
    return grown


@pytest.fixture(scope="module")
def plans():
    """Two tiny cases and their plans: base (5+6 servers) and grown (one ASIC more)."""
    base = tiny_fleet()
    grown = _grown(base)
    return (base, make_plan(base)), (grown, make_plan(grown))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    """Return the URL of a new, empty store in each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'plans.db'}"
    return request.getfixturevalue("postgres_url")


def test_record_history_get_round_trip(store_url: str, plans) -> None:
    (base, base_plan), (grown, grown_plan) = plans
    with PlanStore(store_url) as store:
        first = store.record(base, base_plan, name="q1", note="first cut")
        second = store.record(grown, grown_plan, name="q1-grown")
        history = store.history()
        assert history["id"].tolist() == [first, second]
        assert history["case_hash"].tolist() == [case_hash(base), case_hash(grown)]
        assert history["total_cost_usd"].tolist() == [base_plan.total_cost_usd,
                                                      grown_plan.total_cost_usd]
        assert store.history(name="q1")["id"].tolist() == [first]
        assert store.history(case_hash=case_hash(grown)[:10])["id"].tolist() == [second]
        record = store.get(first)
        assert (record.name, record.note, record.command) == ("q1", "first cut", "plan")
        assert record.versions["pulp"] and record.solver["name"] == "highs"
        for name in base_plan.TABLES:
            pd.testing.assert_frame_equal(getattr(record.plan, name), getattr(base_plan, name),
                                          check_dtype=False, obj=name)
        # the stored case is the case: same hash, and the stored plan verifies against it
        fleet = store.planned_fleet(record)
        assert case_hash(fleet) == case_hash(base)
        assert verify_plan(fleet, record.plan).ok


def test_cli_plan_twice_history_diff_export_verify(store_url: str, tmp_path: Path) -> None:
    base = tiny_fleet()
    write_fleet(base, tmp_path / "base")
    write_fleet(_grown(base), tmp_path / "grown")
    runner = CliRunner()

    def cli(*args: object):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    cli("plan", tmp_path / "base", "--out", tmp_path / "p1", "--store", store_url,
        "--name", "base", "--note", "as of today")
    cli("plan", tmp_path / "grown", "--out", tmp_path / "p2", "--store", store_url,
        "--name", "grown")
    listed = cli("history", "--store", store_url)
    assert "base" in listed and "grown" in listed and "as of today" in listed
    assert "grown" not in cli("history", "--store", store_url, "--name", "base")
    # money whole, gaps as percentages, no "NaN" for a plan without a scenario or note
    with PlanStore(store_url) as store:
        first = store.history().iloc[0]
    row = next(line for line in listed.splitlines() if " base " in line)
    assert f"{first['total_cost_usd']:,.0f}" in row and f"{100 * first['gap']:.2f} %" in row
    assert "NaN" not in listed and "e+0" not in listed
    shown = cli("diff", "1", "2", "--store", store_url)
    assert "demand.csv" in shown  # the input that changed
    purchases = shown.split("Purchases by platform")[1].split("Cost (USD)")[0]
    assert "asic" in purchases and "cpu" not in purchases  # only the ASIC purchase changed
    cli("export", "2", "--out", tmp_path / "exported", "--store", store_url)
    cli("verify", tmp_path / "grown", tmp_path / "exported")
    exported = pd.read_csv(tmp_path / "exported" / "purchases.csv")
    written = pd.read_csv(tmp_path / "p2" / "purchases.csv")
    pd.testing.assert_frame_equal(exported, written)


def test_diff_lists_only_what_changed(tmp_path: Path, plans) -> None:
    (base, base_plan), (grown, grown_plan) = plans
    with PlanStore(tmp_path / "plans.db") as store:
        a = store.record(base, base_plan)
        b = store.record(grown, grown_plan)
        same = diff_records(store, a, a)
        changed = diff_records(store, a, b)
    assert all(same[k].empty for k in ("inputs", "servers", "purchases", "cost", "power"))
    assert changed["inputs"]["input"].tolist() == ["demand.csv"]
    buy = changed["purchases"]
    # one more 12,000 USD ASIC in east (rank's Q1 peak 1,500 / 250 qps = 6 servers, not 5)
    assert buy[["platform_id", "region_id", "a", "b"]].values.tolist() == [
        ["asic", "east", 5.0, 6.0]]
    assert changed["totals"].loc["total_cost_usd", "change"] == pytest.approx(12_000)


def test_store_made_at_first_revision_opens_in_newer_version(tmp_path: Path, plans) -> None:
    (base, base_plan), _ = plans
    path = tmp_path / "old.db"
    with PlanStore(path, revision="0001") as old:
        assert old.revision == "0001"
        engine = old.engine
        meta = sa.MetaData()
        meta.reflect(engine)
        assert "command" not in meta.tables["plans"].c  # the 0001 schema
        with engine.begin() as conn:  # what the first version wrote
            now = pd.Timestamp.now(tz="UTC").to_pydatetime()
            conn.execute(meta.tables["cases"].insert().values(
                case_hash="c0", name="old", settings=base.settings.model_dump(mode="json"),
                created_at=now))
            conn.execute(meta.tables["plans"].insert().values(
                id=1, case_hash="c0", name="from 0001", solver={}, versions={},
                summary={"total_cost_usd": 1.0}, created_at=now))
            conn.execute(meta.tables["plan_tables"].insert(), [
                {"plan_id": 1, "table_name": t, "data": to_parquet_bytes(f)}
                for t, f in base_plan.tables().items()])
    with PlanStore(path) as new:
        assert new.revision == "0002"
        record = new.get(1)
        assert (record.name, record.command) == ("from 0001", "plan")  # the new column's default
        assert new.history()["name"].tolist() == ["from 0001"]
        assert new.record(base, base_plan, command="compare") == 2


def test_schema_module_matches_the_migrations(tmp_path: Path) -> None:
    with PlanStore(tmp_path / "plans.db") as store:
        inspector = sa.inspect(store.engine)
        for table in store_schema.metadata.sorted_tables:
            migrated = {c["name"] for c in inspector.get_columns(table.name)}
            assert migrated == set(table.c.keys()), table.name


def test_store_from_a_newer_planner_is_refused(tmp_path: Path) -> None:
    PlanStore(tmp_path / "plans.db").close()
    engine = create_store_engine(tmp_path / "plans.db")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this planner"):
        PlanStore(tmp_path / "plans.db")
    result = CliRunner().invoke(app, ["history", "--store", str(tmp_path / "plans.db")])
    assert result.exit_code == 2
    assert "upgrade fleet planner" in result.output and "Traceback" not in result.output


def test_unknown_id_and_bad_url_are_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["show", "7", "--store", str(tmp_path / "plans.db")])
    assert result.exit_code == 2
    assert "no plan 7" in result.output and "history" in result.output
    result = runner.invoke(app, ["history", "--store", "mysql://x@y/z"])
    assert result.exit_code == 2
    assert "only SQLite and PostgreSQL" in result.output


def test_parallel_writers_lose_nothing(store_url: str, plans, monkeypatch) -> None:
    (base, base_plan), _ = plans
    writers, count = 4, 5
    # A fork server imports the store once and forks the writers from that fresh process:
    # no threads of this one (HiGHS, pyarrow) are forked, and no writer pays the imports.
    # The server is a new interpreter: it finds the modules through PYTHONPATH.
    tests = Path(__file__).parent
    path = os.pathsep.join([str(tests.parent), str(tests), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["store_workers"])
    start = ctx.Event()
    procs = [ctx.Process(target=write_records,
                         args=(store_url, base, base_plan, w, count, start))
             for w in range(writers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * writers
    with PlanStore(store_url) as store:
        history = store.history()
        assert len(history) == writers * count
        assert history["id"].is_unique
        pairs = set(zip(history["name"], history["note"], strict=True))
        assert pairs == {(f"writer{w}", str(i)) for w in range(writers) for i in range(count)}
        assert set(history["case_hash"]) == {case_hash(base)}  # one case, stored once
        with store.engine.connect() as conn:
            n_cases = conn.execute(sa.select(sa.func.count()).select_from(
                store_schema.cases)).scalar_one()
        assert n_cases == 1
        last = store.get(int(history["id"].iloc[-1]))
        pd.testing.assert_frame_equal(last.plan.allocation, base_plan.allocation,
                                      check_dtype=False)


def test_sweep_workers_record_every_plan(store_url: str, tmp_path: Path) -> None:
    from planner.sweeps import parse_sweep, run_sweep

    case = write_fleet(tiny_fleet(), tmp_path / "case")
    multipliers = [1.0, 1.5, 2.0, 2.2]
    spec = parse_sweep({"grid": {"demand_multiplier.bucket.ranking": multipliers},
                        "solver": {"mip_gap": 0.01}})
    result = run_sweep(case, spec, tmp_path / "sweep", workers=2, store=store_url,
                       name="s1", note="grid")
    rows = result.results
    assert (rows["status"].isin(["optimal", "feasible"])).all() and rows["store_id"].is_unique
    with PlanStore(store_url) as store:
        history = store.history(name="s1")
        assert sorted(history["id"]) == sorted(rows["store_id"].astype(int))  # none lost
        assert set(history["note"]) == {"grid"}
        by_id = rows.set_index(rows["store_id"].astype(int))
        for record_id in history["id"]:
            record = store.get(int(record_id))
            row = by_id.loc[int(record_id)]
            assert (record.command, record.scenario) == ("sweep", row["scenario_id"])
            assert record.plan.total_cost_usd == pytest.approx(row["total_cost_usd"])
            # the stored scenario is the sweep's: the plan verifies against it
            assert verify_plan(store.planned_fleet(record), record.plan).ok
    again = run_sweep(case, spec, tmp_path / "sweep", workers=2, store=store_url, name="s1")
    assert again.skipped == len(multipliers)  # resumed: nothing planned or recorded twice
    with PlanStore(store_url) as store:
        assert len(store.history(name="s1")) == len(multipliers)


def test_compare_records_each_scenario_with_name_and_note(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'plans.db'}"
    case = write_fleet(tiny_fleet(), tmp_path / "case",
                       scenarios={"grown": {"demand_multiplier": {"bucket": {"ranking": 1.25}}}})
    result = CliRunner().invoke(app, ["compare", str(case), "--scenario", "base", "--scenario",
                                      "grown", "--store", store_url, "--name", "q3", "--note",
                                      "both"])
    assert result.exit_code == 0, result.output
    with PlanStore(store_url) as store:
        compared = store.history(name="q3")
        assert list(compared["scenario"].fillna("base")) == ["base", "grown"]  # base: none
        assert set(compared["note"]) == {"both"} and set(compared["command"]) == {"compare"}
