"""Processes the tests start: each leads a session of its own, and is stopped as a group.

A server forks workers and a shell forks background jobs, so stopping the one process a test
started leaves its children running (a README tour that timed out left its server so). Here
every process starts with ``start_new_session=True``: it and all it forks share one process
group, whose id is its pid, and ``stop_group`` signals that whole group: SIGTERM, a wait with
a deadline for every member to exit, then SIGKILL.

Tests call ``stop_group`` in a ``finally`` (``run`` and ``tests.e2e.servers.running_server``
do), which runs also when the test fails or pytest-timeout fires (its signal method raises
inside the test). The groups not stopped yet are kept here, and ``tests/conftest.py`` ends
what is left of them when the session finishes (``stop_all``), the safety net for a finalizer
that never ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["alive", "members", "run", "start", "stop_all", "stop_group"]

GRACE_S = 15.0  # SIGTERM to SIGKILL: a server drains and flushes its logs well within this
KILL_WAIT_S = 10.0  # after SIGKILL: the kernel reaps at once, unless a process is stuck in I/O

Argv = Sequence[str | os.PathLike[str]]

# pgid -> the process that leads it, for every group started and not yet stopped
_live: dict[int, subprocess.Popen[Any]] = {}


def start(argv: Argv, **popen: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **popen)`` in a new session; stop it with ``stop_group``."""
    proc: subprocess.Popen[Any] = subprocess.Popen(argv, start_new_session=True, **popen)
    _live[proc.pid] = proc
    return proc


def run(
    argv: Argv,
    *,
    timeout: float,
    check: bool = False,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.PIPE,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` (text, output captured) whose group is stopped however it ends.

    Whatever the command left behind (a shell's background server) is stopped too. On the
    timeout the group is stopped and ``subprocess.TimeoutExpired`` carries the output so far.
    """
    proc = start(argv, stdout=stdout, stderr=stderr, text=True, **popen)
    with proc:  # its pipes are closed however this ends
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            stop_group(proc)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, timeout, out, err) from exc
        finally:
            stop_group(proc)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def members(pgid: int) -> list[int]:
    """The live processes (zombies aside) of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]  # after "pid (comm)"
        if int(group) == pgid and state != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (a zombie is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _command(proc: subprocess.Popen[Any]) -> str:
    args = proc.args
    return " ".join(map(str, args)) if isinstance(args, list | tuple) else str(args)


def _signal(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # every member has exited


def _emptied(proc: subprocess.Popen[Any], timeout: float) -> bool:
    """Wait up to ``timeout`` s for the group ``proc`` leads to have no live member."""
    deadline = time.monotonic() + timeout
    while True:
        proc.poll()  # reap the leader, so it leaves the group
        if proc.returncode is not None and not members(proc.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_group(proc: subprocess.Popen[Any], grace: float = GRACE_S) -> None:
    """End every process of the group ``proc`` leads: SIGTERM, ``grace`` s, then SIGKILL.

    Safe to call twice, and on a group that has already exited.
    """
    pgid = proc.pid
    if not _emptied(proc, 0):
        _signal(pgid, signal.SIGTERM)
        if not _emptied(proc, grace):
            _signal(pgid, signal.SIGKILL)
            if not _emptied(proc, KILL_WAIT_S):
                raise RuntimeError(f"process group {pgid} ({_command(proc)}) outlived SIGKILL")
    _live.pop(pgid, None)


def stop_all(grace: float = 5.0) -> list[str]:
    """Stop every group still running that no finalizer stopped; say which they were."""
    left = []
    for pgid, proc in list(_live.items()):
        if not _emptied(proc, 0):
            left.append(f"{pgid}: {_command(proc)}")
        stop_group(proc, grace)
    return left
