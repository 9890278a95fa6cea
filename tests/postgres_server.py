"""A throwaway PostgreSQL server for the store tests, from Debian's ``postgresql`` binaries.

``postgres_server`` (session) runs ``initdb`` in a temporary folder and starts the server on a
free port, as the unprivileged user ``nobody`` when the tests run as root (PostgreSQL refuses
to run as root), and stops it and removes the folder at the end. ``postgres_url`` (per test)
creates a fresh database on it and returns its SQLAlchemy URL.

Without server binaries the tests skip with the reason, except in CI (``CI=1`` or
``PLANNER_REQUIRE_POSTGRES=1``), where a missing server is a failure: CI must test PostgreSQL.
Import both fixtures into a test module (``from postgres_server import ...``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "planner"


def required() -> bool:
    """Return whether PostgreSQL tests must run (CI) instead of skipping."""
    return os.environ.get("CI") == "1" or os.environ.get("PLANNER_REQUIRE_POSTGRES") == "1"


def server_bin() -> Path | None:
    """Return the newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl, if any."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").exists()]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
               default=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """Return ``command`` run as ``nobody`` when we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "nobody", "--", *command]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """Start a throwaway PostgreSQL cluster; yield (host, port); stop it at the end."""
    bindir = server_bin()
    if bindir is None:
        reason = ("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install "
                  "Debian's postgresql package (scripts/install_test_deps.sh does, as root)")
        if required():
            pytest.fail(f"CI requires the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="planner-pg-"))  # not under pytest's 0700 folders
    data, sockets = root / "data", root / "run"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(data, "nobody")
        shutil.chown(sockets, "nobody")
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", USER,
                                        "-A", "trust", "--no-sync", "-E", "UTF8"]), **run)
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                                        "-l", str(root / "log"), "-w", "-t", "60", "start"]),
                       **run)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        message = f"could not start PostgreSQL from {bindir}: {exc}\n{getattr(exc, 'stderr', '')}"
        pytest.fail(f"{message}\n{log}")
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                        "-w", "stop"]), check=False, capture_output=True,
                       timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: tuple[str, int]) -> str:
    """Return the URL of a fresh, empty database on the throwaway server."""
    import psycopg

    host, port = postgres_server
    name = f"store_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user=USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://{USER}@{host}:{port}/{name}"
