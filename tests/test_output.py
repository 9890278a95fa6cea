"""Safe outputs: permissions from the umask, recovery after a killed writer, the folder lock.

Kills are real: a child process SIGKILLs itself at the chosen point of a write (inside the
staged folder, or between the swap's two renames), so nothing depends on timing. The lock is
held by a child process (or a thread) that reports when it holds it and releases it when
told, so a second writer is tested against a lock that is certainly held.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from cases import tiny_fleet, write_fleet
from typer.testing import CliRunner

from planner.cli import app
from planner.output import (
    OutputLockedError,
    lock_file,
    output_lock,
    recover_output,
    staged_folder,
    write_text_atomic,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def child(code: str, **kwargs) -> subprocess.Popen:
    """Start ``python -c code`` with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, text=True, **kwargs
    )


def write(out: Path, text: str) -> None:
    with staged_folder(out) as tmp:
        (tmp / "a.txt").write_text(text, encoding="utf-8")


def siblings(out: Path) -> set[str]:
    """Names next to ``out`` (its lock file included: a finished writer removes it)."""
    return {p.name for p in out.parent.iterdir()}


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


@pytest.mark.parametrize(
    ("mask", "folder", "file"),
    [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600), (0o002, 0o775, 0o664)],
    ids=["umask-022", "umask-077", "umask-002"],
)
def test_permissions_follow_the_umask(tmp_path, umask, mask, folder, file):
    umask(mask)
    out = tmp_path / "plan"
    write(out, "x")
    write_text_atomic(tmp_path / "one.csv", "a,b\n")
    assert stat.S_IMODE(out.stat().st_mode) == folder
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == file
    assert stat.S_IMODE((tmp_path / "one.csv").stat().st_mode) == file


def test_kill_during_the_write_leaves_debris_that_the_next_write_cleans(tmp_path):
    out = tmp_path / "plan"
    write(out, "first")
    proc = child(f"""
        import os, signal
        from pathlib import Path
        from planner.output import staged_folder
        with staged_folder(Path({str(out)!r})) as tmp:
            (tmp / "a.txt").write_text("half", encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert proc.wait(timeout=120) == -signal.SIGKILL
    debris = siblings(out) - {"plan", ".plan.lock"}  # the killed holder kept its lock file
    assert len(debris) == 1 and next(iter(debris)).startswith(".plan.tmp-")
    assert (out / "a.txt").read_text() == "first"  # the previous plan is untouched
    write(out, "second")
    assert siblings(out) == {"plan"}
    assert (out / "a.txt").read_text() == "second"


def test_kill_between_the_two_renames_is_recovered(tmp_path):
    out = tmp_path / "plan"
    write(out, "first")
    proc = child(f"""
        import os, signal
        from pathlib import Path
        import planner.output as output
        real, calls = os.replace, []
        def replace(src, dst):  # the second rename (new folder into place) never happens
            calls.append(dst)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
        output.os.replace = replace
        with output.staged_folder(Path({str(out)!r})) as tmp:
            (tmp / "a.txt").write_text("second", encoding="utf-8")
    """)
    assert proc.wait(timeout=120) == -signal.SIGKILL
    assert not out.exists()
    assert ".plan.old" in siblings(out)
    (tmp_path / ".plan.lock").unlink()  # left by the killed holder; recovery works without it
    done = recover_output(out)
    assert (out / "a.txt").read_text() == "first"  # the previous complete plan is back
    assert any("restored" in d for d in done)
    assert siblings(out) == {"plan"}  # the killed run's temporary folder is gone too
    write(out, "third")
    assert siblings(out) == {"plan"}
    assert (out / "a.txt").read_text() == "third"


def test_recovery_removes_only_what_a_writer_leaves(tmp_path):
    out = tmp_path / "plan"
    for name in (
        ".plan.tmp-0123abcd",
        ".plan.k3j4h5g6",
        ".plan.old",
        ".plan.backup",
        ".other.tmp-0123abcd",
    ):
        (tmp_path / name).mkdir()
    write(out, "new")
    # an older mkdtemp folder (8 characters) and ours go; a user's .plan.backup stays
    assert siblings(out) == {"plan", ".plan.backup", ".other.tmp-0123abcd"}


def hold_lock(out: Path) -> subprocess.Popen:
    """Start a child that holds ``out``'s lock until it reads a line; return once it holds.

    The child takes the lock the way every writer does (an exclusive flock on the lock file)
    with the standard library only, so it starts fast.
    """
    proc = child(
        f"""
        import fcntl, os, sys
        fd = os.open({str(lock_file(out))!r}, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        sys.stdin.readline()
    """,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def release(proc: subprocess.Popen) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(timeout=60) == 0


def test_a_second_writer_waits_a_bounded_time_then_fails(tmp_path):
    out = tmp_path / "plan"
    proc = hold_lock(out)
    try:
        with (
            pytest.raises(OutputLockedError, match="another run is writing") as exc,
            staged_folder(out, lock_timeout_s=0.2),
        ):
            pass
        assert exc.value.exit_code == 2
        assert not out.exists()
    finally:
        release(proc)
    write(out, "now")  # free again
    assert (out / "a.txt").read_text() == "now"


def test_plan_command_exits_2_while_another_run_holds_the_folder(tmp_path):
    case = write_fleet(tiny_fleet(), tmp_path / "tiny")
    out = tmp_path / "plan"
    proc = hold_lock(out)
    try:
        result = CliRunner().invoke(app, ["plan", str(case), "--out", str(out), "--wait", "0.2"])
        assert result.exit_code == 2, result.output
        assert "another run is writing" in result.output
        assert "Traceback" not in result.output
        assert not out.exists()
    finally:
        release(proc)
    result = CliRunner().invoke(app, ["plan", str(case), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "allocation.csv").exists()


def test_the_lock_is_reentrant_in_a_thread_and_excludes_other_threads(tmp_path):
    out = tmp_path / "plan"
    acquired = threading.Event()
    failed: list[Exception] = []

    def other(timeout: float) -> None:
        try:
            with output_lock(out, timeout):
                acquired.set()
        except OutputLockedError as exc:
            failed.append(exc)

    with output_lock(out, 1):
        write(out, "nested")  # plan holds the lock and writes under it: no self-deadlock
        t = threading.Thread(target=other, args=(0.1,))
        t.start()
        t.join()
        assert failed and not acquired.is_set()
        waiter = threading.Thread(target=other, args=(60,))
        waiter.start()
        assert not acquired.is_set()  # it cannot have the lock while this thread holds it
    waiter.join(timeout=60)
    assert acquired.is_set()  # it waited and got the lock once released
    assert (out / "a.txt").read_text() == "nested"
