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
    level-<n>.host.json  rewritten by the child twice a second: how much its event loop lags
                     and how busy its CPU is (:class:`HostMeter`, :mod:`autotuner.bench.host_lag`)
    stop             written by the trial: the server exits

Nothing here imports genai-bench, so the trial and the tests can use this module.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
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


def host_path(folder: Path, n: int) -> Path:
    return folder / f"level-{n}.host.json"


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
                HostMeter(host_path(folder, n), records_path(folder, n)).start()
                os._exit(_child(run_level, argv, records_path(folder, n)))
            children[pid] = n
            write_atomic(pid_path(folder, n), str(pid))
            n += 1
            continue
        time.sleep(poll_s)
    for pid in children:
        _kill(pid)
    return 0


class HostMeter(threading.Thread):
    """Measures, in a level's process, how late a thread that sleeps ``TICK_S`` wakes up (under
    genai-bench's gevent patching a greenlet: the lag of the event loop the requests are read in)
    and the process's CPU time, and rewrites ``path`` with them every ``WRITE_S``: the trial reads
    the file once the level's result is there, and kills the process after.

    Only the time requests were in flight counts: from the first request sent (the first finished
    one in ``records``, less its latency) to the last one finished. The level's set-up (arguments,
    tokenizer, users) and its summary (statistics, the result file) delay no request. ``lag_p90_s``
    is the p90 over that time, not over the ticks: each tick weighs what it lasted, so one stall of
    a second in a three-second level (every request then in flight read a second late) counts for
    a third of the level, as it does in the level's latencies."""

    TICK_S = 0.02
    WRITE_S = 0.5

    def __init__(self, path: Path, records: Path):
        super().__init__(daemon=True, name="host-meter")
        self.path = path
        self.records = records

    def run(self) -> None:
        ticks: list[tuple[float, float, float]] = []  # (when it started, when it ended, lag)
        first: tuple[float, float] | None = None  # (when the first request was sent, CPU time then)
        last: tuple[float, float] | None = None  # (when the last request so far finished, CPU time then)
        size, written = 0, time.monotonic()
        while True:
            asked = time.monotonic()
            time.sleep(self.TICK_S)
            now = time.monotonic()
            ticks.append((asked, now, max(0.0, now - asked - self.TICK_S)))
            grown = self._records_size()
            if grown > size:
                size, last = grown, (now, _cpu_s())
                if first is None:
                    first = (now - self._first_latency(), last[1])
            if first is not None and last is not None and now - written >= self.WRITE_S:
                written = now
                counted = [(lag, end - start) for start, end, lag in ticks if end > first[0] and start < last[0]]
                write_atomic(self.path, json.dumps({"wall_s": last[0] - first[0], "cpu_s": last[1] - first[1],
                                                    "ticks": len(counted), "lag_p90_s": time_weighted_p90(counted)}))

    def _records_size(self) -> int:
        try:
            return self.records.stat().st_size
        except OSError:
            return 0

    def _first_latency(self) -> float:
        try:
            with open(self.records, encoding="utf-8") as f:
                return float(json.loads(f.readline()).get("e2e") or 0.0)
        except (OSError, ValueError, AttributeError):
            return 0.0


def time_weighted_p90(ticks: list[tuple[float, float]]) -> float:
    """The lag that 90% of the time saw no more of: (lag, duration) pairs, each weighing its duration.

    >>> time_weighted_p90([(0.001, 0.021)] * 100 + [(1.0, 1.02)])   # one 1 s stall in 3 s
    1.0
    >>> time_weighted_p90([(0.001, 0.021)] * 95 + [(0.005, 0.025)] * 5)
    0.001
    """
    total = sum(d for _, d in ticks)
    seen = 0.0
    for lag, duration in sorted(ticks):
        seen += duration
        if seen >= 0.9 * total:
            return lag
    return 0.0


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


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


__all__ = ["STOP", "HostMeter", "exit_path", "host_path", "time_weighted_p90", "pid_path", "records_path", "request_path", "serve", "submit"]
