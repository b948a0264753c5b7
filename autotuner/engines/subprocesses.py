"""Child processes that die with their parent and are torn down as one process group.

The engine server and genai-bench both run this way, so that neither outlives the trial that
started it, not even when the trial's worker is killed::

    proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=die_with_parent())
    try:
        ...
    finally:
        stop_process_group(proc, grace_s=10)

A grandchild that calls ``setsid()`` itself leaves the group; it is still stopped when it was
already running at teardown (it is tracked as a descendant), but not if it appears later.
``PR_SET_PDEATHSIG`` fires when the *thread* that started the child exits, so start children
from the thread that also waits for them (Ray Tune's function trainables do).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

import psutil

_PR_SET_PDEATHSIG = 1
# Loaded in the parent: between fork and exec the child should not dlopen anything.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
# The folder holding the ``autotuner`` package, so ``python -m autotuner.x`` children find it even
# when the package runs from a checkout rather than an installed distribution.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent dies (Linux only).

    >>> subprocess.Popen(["sleep", "60"], start_new_session=True,
    ...                  preexec_fn=die_with_parent())  # doctest: +SKIP
    """
    parent_pid = os.getpid()

    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        # The parent may have died between fork and prctl; then no signal would ever come.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def env_with_package_on_path(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with :data:`PACKAGE_ROOT` first on ``PYTHONPATH``.

    >>> env_with_package_on_path({"PYTHONPATH": "/x"})["PYTHONPATH"].endswith(":/x")
    True
    """
    merged = dict(env)
    parts = [str(PACKAGE_ROOT)] + [p for p in merged.get("PYTHONPATH", "").split(os.pathsep) if p]
    merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    return merged


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def stop_process_group(
    proc: subprocess.Popen, grace_s: float, *, gone_timeout_s: float = 10.0
) -> list[int]:
    """SIGTERM ``proc``'s whole group, SIGKILL it after ``grace_s``, wait until it is gone.

    ``proc`` must have been started with ``start_new_session=True`` (it leads its own group).
    Returns the pids still alive after ``gone_timeout_s`` (normally none: only processes stuck
    in the kernel survive SIGKILL).
    """
    pgid = proc.pid
    try:
        # Snapshot of descendants: one that moved to another group is still stopped.
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []

    def alive() -> list[psutil.Process]:
        proc.poll()  # reap the leader so it does not linger as a zombie
        tracked = [p for p in descendants if _is_running(p)]
        return list({p.pid: p for p in group_members(pgid) + tracked}.values())

    def send(sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        for p in descendants:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass

    send(signal.SIGTERM)
    if _wait_until_empty(alive, grace_s):
        return []
    send(signal.SIGKILL)
    _wait_until_empty(alive, gone_timeout_s)
    return [p.pid for p in alive()]


def _is_running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_until_empty(alive: Callable[[], list[psutil.Process]], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
