"""A fork server that runs one benchmark level per request, in the process that did the imports.

genai-bench spends about 5 s importing its dependencies, and its CLI runs a fixed list of levels.
The load search decides each level from the last one, so a trial keeps ONE genai-bench process
(started while the engine starts up, :mod:`autotuner.bench.genai_bench_cli`) that imports once
and then forks a child per level: a level starts in milliseconds, whatever was decided before it.

Protocol, in a request folder the trial owns::

    level-<n>.json   written (atomically) by the trial: {"argv": [...]} the level's extra arguments
    level-<n>.pid    written by the server once the child for that level runs
    level-<n>.exit   written by the server when the child has ended: its exit code
    level-<n>.requests.jsonl  appended by the child: one line per finished request, as it
                     finishes (:mod:`autotuner.bench.fail_fast` reads it while the level runs)
    stop             written by the trial: the server exits

Nothing here imports genai-bench, so the trial and the tests can use this module.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from autotuner.engines.subprocesses import die_with_parent

STOP = "stop"
POLL_S = 0.02


def request_path(folder: Path, n: int) -> Path:
    return folder / f"level-{n}.json"


def pid_path(folder: Path, n: int) -> Path:
    return folder / f"level-{n}.pid"


def exit_path(folder: Path, n: int) -> Path:
    return folder / f"level-{n}.exit"


def records_path(folder: Path, n: int) -> Path:
    return folder / f"level-{n}.requests.jsonl"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def submit(folder: Path, n: int, argv: list[str]) -> None:
    """Ask the server for level ``n`` (1, 2, ... in order)."""
    write_atomic(request_path(folder, n), json.dumps({"argv": argv}))


def serve(folder: Path, run_level: Callable[[list[str], Path], int], poll_s: float = POLL_S) -> int:
    """Fork ``run_level(argv, records)`` for each request, in order, until ``stop`` appears;
    ``records``: the file where the child appends its finished requests.

    Children are not waited for before the next request is read: a finished level's process may
    still sleep in its clean-up while the next one runs (the trial kills it once it has read the
    result). Each child's exit code is written when it is reaped.
    """
    folder.mkdir(parents=True, exist_ok=True)
    children: dict[int, int] = {}  # pid -> level number
    n = 1
    while not (folder / STOP).exists():
        _reap(folder, children)
        request = request_path(folder, n)
        if request.exists():
            argv = json.loads(request.read_text())["argv"]
            follow_this_process = die_with_parent()  # a level must not outlive a killed trial
            pid = os.fork()
            if pid == 0:
                follow_this_process()
                os._exit(_child(run_level, argv, records_path(folder, n)))
            children[pid] = n
            write_atomic(pid_path(folder, n), str(pid))
            n += 1
            continue
        time.sleep(poll_s)
    for pid in children:
        _kill(pid)
    return 0


def _child(run_level: Callable[[list[str], Path], int], argv: list[str], records: Path) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        return int(run_level(argv, records) or 0)
    except SystemExit as done:  # click's standalone mode ends with sys.exit
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _reap(folder: Path, children: dict[int, int]) -> None:
    for pid, n in list(children.items()):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 0
        if done:
            code = os.waitstatus_to_exitcode(status)
            write_atomic(exit_path(folder, n), str(code))
            del children[pid]


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


__all__ = ["STOP", "exit_path", "pid_path", "records_path", "request_path", "serve", "submit"]
