"""Run a clock-bounded solver call in a forked child that can be stopped at a hard deadline.

HiGHS checks its ``time_limit`` and its interrupt callbacks only at certain points; some of
its procedures can run for minutes between them (upstream: ERGO-Code/HiGHS issues 885 and
2226, both open). On the default case with six time-of-day slots a warm-started polish MIP
once ran more than three minutes past a 20 s limit with no callback firing, so a notebook
hung. A time limit that a user was promised must hold, so the stages bounded by the clock
(polish, root bound, proof) run in a child process:

* the child is ``os.fork()``-ed, so it shares the model's arrays copy-on-write and nothing is
  pickled on the way in; only the result is pickled back through a pipe;
* at the soft deadline (or when ``should_stop`` says so) the parent raises a flag in shared
  memory that the child's HiGHS callbacks read, so HiGHS returns its incumbent as usual;
* if the child has not answered ``grace_s`` later, it is killed and the call returns
  ``None``: the caller keeps the plan it already had.

Forking is used only on Linux with one solver thread: HiGHS keeps a global thread
scheduler whose worker threads a forked child would not have. Elsewhere the call runs
in-process, as before. ``os.fork`` rather than :mod:`multiprocessing` because Dask's
workers are daemon processes, which multiprocessing forbids to have children.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.05  # how often the parent checks the clock and should_stop while it waits


def can_fork(threads: int) -> bool:
    """Return whether a call with ``threads`` solver threads may run in a forked child."""
    return sys.platform.startswith("linux") and threads == 1 and hasattr(os, "fork")


class StopFlag:
    """One byte of memory shared with forked children: 1 asks the child's solver to stop."""

    def __init__(self) -> None:
        self._mem = mmap.mmap(-1, 1)  # anonymous and MAP_SHARED: a child sees our writes

    def raise_(self) -> None:
        """Ask the child to stop."""
        self._mem[0] = 1

    def __bool__(self) -> bool:
        return self._mem[0] == 1

    def close(self) -> None:
        """Release the shared byte."""
        self._mem.close()


def run_isolated(
    work: Callable[[StopFlag], T],
    *,
    soft_deadline: float,
    grace_s: float,
    should_stop: Callable[[], bool] | None = None,
) -> T | None:
    """Return ``work(flag)`` run in a forked child, or ``None`` if it had to be killed.

    ``soft_deadline`` is a ``time.perf_counter()`` instant: then (or once ``should_stop``
    returns true) the flag is raised, and ``work`` is expected to return soon with what it
    has. ``grace_s`` later the child is killed. An exception in the child is raised again
    here.
    """
    flag = StopFlag()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's stack
        status = 1
        try:
            os.close(read_fd)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
            try:
                payload = pickle.dumps(("ok", work(flag)), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # handed to the parent to raise
                payload = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks: list[bytes] = []
    killed = False
    try:
        kill_at = None
        while True:
            now = time.perf_counter()
            if kill_at is None and (now >= soft_deadline or (should_stop and should_stop())):
                flag.raise_()
                kill_at = now + grace_s
            if kill_at is not None and now >= kill_at:
                killed = True
                break
            ready, _, _ = select.select([read_fd], [], [], POLL_S)
            if ready:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break  # the child closed the pipe: its answer is complete
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        if killed or not chunks:
            _kill(pid)
        else:
            os.waitpid(pid, 0)
        flag.close()
    if killed or not chunks:
        return None
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise value
    return value


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
