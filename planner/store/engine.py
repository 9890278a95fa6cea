"""Opening a store: the URL, SQLite's concurrency settings, and migrations applied on open.

A store is a database URL. A plain path means an embedded SQLite file; ``postgresql://`` and
``postgresql+psycopg://`` mean a PostgreSQL server through psycopg 3. Opening a store brings its
schema to the newest Alembic revision inside one locked transaction, so a store written by an
older planner opens in a newer one, and two processes opening a new store at once do not both
create it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url

from planner.errors import PlannerError
from planner.store.location import DEFAULT_STORE

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 60_000  # a writer waits this long for another's transaction
_PG_LOCK_KEY = 170_017  # advisory lock held while migrating a PostgreSQL store


class StoreError(PlannerError):
    """The store cannot be opened or does not hold what was asked for."""

    exit_code = 2


def store_url(store: str | Path | None) -> sa.URL:
    """Return the SQLAlchemy URL of ``store``: a URL, a plain path (SQLite) or None (default).

    ``postgresql://`` is given the psycopg 3 driver (SQLAlchemy's default is psycopg2).
    """
    text = str(store) if store not in (None, "") else DEFAULT_STORE
    if "://" not in text:
        return make_url(f"sqlite:///{Path(text).expanduser().resolve()}")
    try:
        url = make_url(text)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"--store '{text}' is not a database URL or a path ({exc}). Fix: "
            "pass a file path, sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"--store '{text}': only SQLite and PostgreSQL stores are supported")
    return url


def create_store_engine(store: str | Path | None) -> Engine:
    """Return an engine for ``store`` (see :func:`store_url`) with safe concurrent writes."""
    url = store_url(store)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: Engine) -> None:
    """Make every SQLite transaction take the write lock up front, with WAL and a busy wait.

    pysqlite's own transaction handling starts transactions lazily and deferred, so two
    writers can both read, then fail to upgrade to a write lock ("database is locked") without
    waiting. ``BEGIN IMMEDIATE`` makes the second writer wait (busy timeout) instead; WAL lets
    readers go on while one writes (SQLAlchemy's pysqlite "serializable isolation" recipe).
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def script_directory() -> ScriptDirectory:
    """Return the store's Alembic revisions (shipped inside the package)."""
    return ScriptDirectory.from_config(_config())


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the store's schema to ``revision`` (default the newest); return the revision.

    Runs in one transaction holding the database's write lock (SQLite) or an advisory lock
    (PostgreSQL), so concurrent openers migrate once and never see a half-made schema.

    Raises:
        StoreError: The store was written by a newer planner (a revision unknown here).
    """
    config = _config()
    script = ScriptDirectory.from_config(config)
    target = script.get_current_head() if revision == "head" else revision
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = MigrationContext.configure(conn).get_current_revision()
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(
                f"the store {engine.url.render_as_string(hide_password=True)} is at schema "
                f"revision {current}, newer than this planner knows ({target}). Fix: upgrade "
                "fleet planner, or use another --store"
            )
        if current == target:
            return target

        def steps(rev, _context):
            return script._upgrade_revs(target, rev)

        with EnvironmentContext(config, script, fn=steps, destination_rev=target) as env:
            env.configure(connection=conn, target_metadata=None)
            with env.begin_transaction():
                env.run_migrations()
    return target


def current_revision(engine: Engine) -> str | None:
    """Return the store's schema revision (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
